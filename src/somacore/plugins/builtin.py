"""somacore's built-in plugin: registered through the same hooks as third parties.

Registers the numpy-only readers (csv, wfdb, e4, opensignals, raw session
recordings), the csv writer,
the ``replay`` driver and the rate metrics (``hr`` from ECG, ``pulse_rate``
from PPG, ``breath_rate`` from respiration). Loaded first by
:class:`~somacore.plugins.PluginManager`, so its names take precedence.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from somacore.plugins.hookspecs import hookimpl
from somacore.plugins.types import Window

__all__ = ["RateMetric"]


class RateMetric:
    """Mean heart, pulse or breathing rate over a window, from the detected events.

    Parameters
    ----------
    name : str
        Metric name.
    kind : {"ecg", "ppg", "resp"}
        Input stream kind. ECG gives heart rate from RR intervals, PPG pulse
        rate from PP intervals (they are kept apart), respiration the
        breathing rate from the intervals between ends of inspiration.
    window_s : float
        Window length it is designed for.

    Notes
    -----
    Only intervals whose two events both lie in the window and that do not span
    lost signal count; the rate is ``60 / mean(interval)``, NaN with fewer than
    two valid intervals.
    """

    def __init__(self, name: str, kind: str, *, window_s: float = 10.0) -> None:
        self.name = name
        self.kind = kind
        self.inputs = (kind,)
        self.window_s = float(window_s)
        if kind not in ("ecg", "ppg", "resp"):
            raise ValueError(f"RateMetric kind={kind!r}: use 'ecg', 'ppg' or 'resp'")
        self._out, unit = {"ecg": ("hr_bpm", "bpm"), "ppg": ("pr_bpm", "bpm"),
                           "resp": ("br_per_min", "1/min")}[kind]
        self._count = "n_breaths" if kind == "resp" else "n_beats"
        self.outputs = {self._out: unit, self._count: "count"}

    def compute(self, window: Window) -> dict[str, float]:
        """Mean rate and event (beat or breath) count in the window."""
        s = window.kind(self.kind)
        iv = s.intervals if s.intervals is not None else np.zeros(0)
        iv = iv[1:] if iv.size else iv  # the first interval starts before the window
        iv = iv[np.isfinite(iv)]
        rate = 60.0 / float(iv.mean()) if iv.size >= 2 else float("nan")
        events = s.breaths if self.kind == "resp" else s.beats
        n = 0 if events is None else int(events.size)
        return {self._out: rate, self._count: float(n)}

    def __repr__(self) -> str:
        return f"RateMetric({self.name!r}, kind={self.kind!r})"


@hookimpl
def somacore_register_readers(register: Any) -> None:
    from somacore.readers import CsvReader, E4Reader, OpenSignalsReader, RawReader, WfdbReader

    register(CsvReader())
    register(WfdbReader())
    register(E4Reader())
    register(OpenSignalsReader())
    register(RawReader())


@hookimpl
def somacore_register_writers(register: Any) -> None:
    from somacore.readers import CsvWriter

    register(CsvWriter())


@hookimpl
def somacore_register_drivers(register: Any) -> None:
    from somacore.drivers.replay import ReplayDriver

    register("replay", ReplayDriver,
             description="plays a recording or file as chunks at recorded timestamps")


@hookimpl
def somacore_register_metrics(register: Any) -> None:
    register(RateMetric("hr", "ecg"))
    register(RateMetric("pulse_rate", "ppg"))
    # breaths are 5-10x sparser than beats: a longer window for a usable mean
    register(RateMetric("breath_rate", "resp", window_s=30.0))


@hookimpl(trylast=True)
def somacore_open_reader(path: Path) -> Any:
    """Folders: an Empatica E4 export folder is opened by the e4 reader."""
    from somacore.readers import E4Reader

    p = Path(path)
    if p.is_dir():
        r = E4Reader()
        if r.sniff(p):
            return r
    return None
