"""Windowed metrics registered by the plugin: ``eda``, ``eda_arousal``, ``hr_arousal``.

Each ``compute`` copies what it needs from the window (never writes into it)
and returns NaN for every output when fewer than half of the window's samples
are valid (lost signal is not guessed).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from types import MappingProxyType
from typing import Any, ClassVar

import numpy as np
from somacore.plugins.types import Window

__all__ = ["ArousalMetric", "EdaMetric", "HrArousalMetric"]

_NAN = float("nan")


def _mean(a: np.ndarray) -> float:
    a = a[np.isfinite(a)]
    return float(a.mean()) if a.size else _NAN


def _eda_series(window: Window) -> tuple[np.ndarray, float] | None:
    s = window.kind("eda")
    fs = s.fs
    x = np.array(s.data, dtype=np.float64)  # a copy: the window's arrays are read-only
    if x.ndim == 2:
        x = x[:, 0]
    if fs is None or x.size == 0 or np.isfinite(x).mean() < 0.5:
        return None
    return x, float(fs)


class EdaMetric:
    """Skin conductance level and responses over a window.

    Outputs: ``scl_uS`` (mean tonic level), ``scr_count``, ``scr_rate_per_min``,
    ``scr_amp_mean_uS``, ``scr_rise_mean_s``, ``scr_half_recovery_mean_s``
    (means over the responses whose peak lies in the window; NaN without any).

    Parameters
    ----------
    window_s : float
        Window length (default 60 s).
    min_amplitude : float
        SCR amplitude criterion in µS (default 0.05; see :mod:`somacore_eda.scr`).
    """

    name = "eda"
    inputs = ("eda",)
    outputs: ClassVar[MappingProxyType[str, str]] = MappingProxyType({
        "scl_uS": "uS", "scr_count": "count", "scr_rate_per_min": "1/min",
        "scr_amp_mean_uS": "uS", "scr_rise_mean_s": "s", "scr_half_recovery_mean_s": "s"})

    def __init__(self, *, window_s: float = 60.0, min_amplitude: float = 0.05) -> None:
        self.window_s = float(window_s)
        self.min_amplitude = float(min_amplitude)

    @property
    def kernel(self) -> Callable[..., Any]:
        """The SCR detection kernel (``somacore.numba.jit``), imported on first use."""
        from somacore_eda._kernels import scr_detect

        return scr_detect

    def compute(self, window: Window) -> dict[str, float]:
        """SCL and SCR statistics of one window."""
        from somacore_eda.scr import decompose, detect_scr

        got = _eda_series(window)
        if got is None:
            return dict.fromkeys(self.outputs, _NAN)
        x, fs = got
        dec = decompose(x, fs=fs)
        scr = detect_scr(x, fs=fs, min_amplitude=self.min_amplitude)
        minutes = np.isfinite(x).sum() / fs / 60.0
        n = len(scr)
        return {"scl_uS": _mean(dec.tonic), "scr_count": float(n),
                "scr_rate_per_min": n / minutes if minutes > 0 else _NAN,
                "scr_amp_mean_uS": _mean(scr.amplitude_uS),
                "scr_rise_mean_s": _mean(scr.rise_time_s),
                "scr_half_recovery_mean_s": _mean(scr.half_recovery_s)}

    def __repr__(self) -> str:
        return f"EdaMetric(window_s={self.window_s:g}, min_amplitude={self.min_amplitude:g})"


def _summary(ep: Any, unit_key: str) -> dict[str, float]:
    n = len(ep)
    return {"n_episodes": float(n),
            "episode_time_s": float(ep.duration_s.sum()) if n else 0.0,
            f"max_excess_{unit_key}": float(ep.peak_excess.max()) if n else _NAN,
            "mean_recovery_s": _mean(ep.recovery_s) if n else _NAN}


class ArousalMetric:
    """Arousal episodes on skin conductance over a window (:func:`~somacore_eda.eda_arousal`).

    Outputs: ``n_episodes``, ``episode_time_s`` (total duration), ``max_excess_uS``
    (largest peak excess over baseline), ``mean_recovery_s`` (mean peak-to-baseline time).
    """

    name = "eda_arousal"
    inputs = ("eda",)
    outputs: ClassVar[MappingProxyType[str, str]] = MappingProxyType({
        "n_episodes": "count", "episode_time_s": "s", "max_excess_uS": "uS",
        "mean_recovery_s": "s"})

    def __init__(self, *, window_s: float = 300.0) -> None:
        self.window_s = float(window_s)

    def compute(self, window: Window) -> dict[str, float]:
        """Episode summary of one window."""
        from somacore_eda.arousal import eda_arousal

        got = _eda_series(window)
        if got is None:
            return dict.fromkeys(self.outputs, _NAN)
        x, fs = got
        return _summary(eda_arousal(x, fs=fs), "uS")


class HrArousalMetric:
    """Arousal episodes on heart rate (from the ECG beats of the window).

    Heart rate is rebuilt on a 4 Hz grid from the window's RR intervals (each
    valid interval's rate holds from its first beat to its second; NaN over
    invalid intervals and outside beats), then :func:`~somacore_eda.hr_arousal`
    (the ``somacore analyze`` rule) is applied. Outputs as
    :class:`ArousalMetric`, with ``max_excess_bpm``.
    """

    name = "hr_arousal"
    inputs = ("ecg",)
    outputs: ClassVar[MappingProxyType[str, str]] = MappingProxyType({
        "n_episodes": "count", "episode_time_s": "s", "max_excess_bpm": "bpm",
        "mean_recovery_s": "s"})
    fs_hr = 4.0

    def __init__(self, *, window_s: float = 300.0) -> None:
        self.window_s = float(window_s)

    def heart_rate(self, window: Window) -> np.ndarray:
        """The 4 Hz heart-rate series (bpm) of the window's ECG beats."""
        s = window.kind("ecg")
        n = max(0, math.floor((window.end - window.start) * self.fs_hr))
        t = window.start + np.arange(n) / self.fs_hr
        hr = np.full(n, np.nan)
        if s.beats is None or s.intervals is None or s.beats.size < 2:
            return hr
        beats = np.array(s.beats, dtype=np.float64)
        iv = np.array(s.intervals, dtype=np.float64)
        # the interval ending at the first beat after t covers t if it starts at or before t
        j = np.searchsorted(beats, t, side="right")
        inside = j < beats.size
        jj = np.where(inside, j, 0)
        d = iv[jj]
        ok = inside & np.isfinite(d) & (d > 0) & (t >= beats[jj] - d)
        hr[ok] = 60.0 / d[ok]
        return hr

    def compute(self, window: Window) -> dict[str, float]:
        """Episode summary of one window."""
        from somacore_eda.arousal import hr_arousal

        hr = self.heart_rate(window)
        if hr.size == 0 or np.isfinite(hr).mean() < 0.5:
            return dict.fromkeys(self.outputs, _NAN)
        return _summary(hr_arousal(hr, fs=self.fs_hr), "bpm")
