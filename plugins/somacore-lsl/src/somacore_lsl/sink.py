"""LslOutletSink: a live session's results as LSL streams, one per person.

Another program on the network (a feedback display, a recorder such as
LabRecorder) subscribes to ``<name>-<person>`` and receives, for every step of
the session, one sample holding the chosen metric outputs. LSL streams have a
fixed channel layout, so the people and outputs are declared up front and the
outlets exist from the start (a consumer can connect before the first result).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["LslOutletSink"]


class LslOutletSink:
    """Push every :class:`~somacore.stream.session.WindowResult` to an LSL outlet.

    Parameters
    ----------
    people : sequence of str
        The session's people; one outlet each, named ``f"{name}-{person}"``.
    outputs : sequence of str
        Result keys ``"<metric>.<output>"`` (e.g. ``"hr.hr_bpm"``), one channel
        each, in this order. A key missing from a result is sent as NaN.
    name : str
        Stream name prefix (LSL type ``"somacore"``).
    units : mapping of str to str, optional
        Unit per output key, written into the stream's channel metadata.
    step_s : float, optional
        The session's step, declared as the nominal rate ``1 / step_s``; by
        default the stream is declared irregular (rate 0).
    timestamps : {"session", "now"}
        ``"session"`` stamps each sample with the end of its step on the
        session clock (right when the session's drivers are LSL inlets on the
        LSL clock); ``"now"`` uses ``pylsl.local_clock()`` at the push.
    source_prefix : str, optional
        Prefix of each outlet's LSL source id (default: ``name``), so that
        consumers find the streams again after a restart.
    linger_s : float
        At :meth:`close`, keep the outlets open this long before closing them:
        LSL sends asynchronously, and an outlet closed at once can drop the last
        samples on their way to a consumer.

    Raises
    ------
    ValueError
        No people or outputs, duplicates, or an unknown ``timestamps`` mode.
    """

    def __init__(self, people: Sequence[str], outputs: Sequence[str], *,
                 name: str = "somacore", units: Mapping[str, str] | None = None,
                 step_s: float | None = None, timestamps: str = "session",
                 source_prefix: str | None = None, linger_s: float = 1.0) -> None:
        import pylsl

        people, outputs = list(people), list(outputs)
        if not people or not outputs:
            raise ValueError("LslOutletSink needs at least one person and one output key "
                             "(e.g. outputs=['hr.hr_bpm']).")
        for what, items in (("person", people), ("output", outputs)):
            dup = sorted({v for v in items if items.count(v) > 1})
            if dup:
                raise ValueError(f"{what} {dup[0]!r} is listed twice.")
        bad = [o for o in outputs if "." not in o]
        if bad:
            raise ValueError(f"output {bad[0]!r} is not a result key '<metric>.<output>' "
                             "(e.g. 'hr.hr_bpm').")
        if timestamps not in ("session", "now"):
            raise ValueError(f"timestamps must be 'session' or 'now', got {timestamps!r}.")
        if step_s is not None and not (isinstance(step_s, (int, float)) and step_s > 0):
            raise ValueError(f"step_s must be a positive number of seconds, got {step_s!r}.")
        if not (isinstance(linger_s, (int, float)) and linger_s >= 0):
            raise ValueError(f"linger_s must be >= 0 seconds, got {linger_s!r}.")
        self.linger_s = float(linger_s)
        self.name = f"lsl:{name}"
        self.outputs = outputs
        self.timestamps = timestamps
        self._clock = pylsl.local_clock
        rate = 1.0 / step_s if step_s else pylsl.IRREGULAR_RATE
        self._outlets: dict[str, Any] = {}
        for person in people:
            info = pylsl.StreamInfo(f"{name}-{person}", "somacore", len(outputs), rate,
                                    "double64", f"{source_prefix or name}-{person}")
            chans = info.desc().append_child("channels")
            for key in outputs:
                c = chans.append_child("channel")
                c.append_child_value("label", key)
                c.append_child_value("type", key.split(".", 1)[0])
                if units and key in units:
                    c.append_child_value("unit", units[key])
            info.desc().append_child_value("person", person)
            self._outlets[person] = pylsl.StreamOutlet(info)
        self.pushed = 0

    def __call__(self, result: Any) -> None:
        outlet = self._outlets.get(result.person)
        if outlet is None:
            raise KeyError(f"LslOutletSink has no outlet for person {result.person!r}; "
                           f"declared people: {sorted(self._outlets)}")
        row = [float(result.values.get(k, math.nan)) for k in self.outputs]
        ts = float(result.end) if self.timestamps == "session" else self._clock()
        outlet.push_sample(row, ts)
        self.pushed += 1

    def wait_for_consumers(self, timeout_s: float) -> bool:
        """Wait until every outlet has a consumer (True) or ``timeout_s`` passes (False)."""
        return all(o.wait_for_consumers(timeout_s) for o in self._outlets.values())

    def close(self) -> None:
        """Close the outlets after ``linger_s`` (consumers then see the streams end)."""
        if self._outlets and self.linger_s > 0 and any(
                o.have_consumers() for o in self._outlets.values()):
            time.sleep(self.linger_s)
        self._outlets.clear()

    def __repr__(self) -> str:
        return (f"LslOutletSink(people={sorted(self._outlets)}, outputs={self.outputs}, "
                f"timestamps={self.timestamps!r})")
