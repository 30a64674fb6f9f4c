"""LslOutletSink: a session's results reach an LSL inlet in this process (loopback)."""

from __future__ import annotations

import math
import threading
import uuid

import numpy as np
import pylsl
import pytest
from pylsl.util import LostError
from somacore.data import example_ecg
from somacore.drivers import ReplayDriver
from somacore.plugins import PluginManager
from somacore.signals import Channel, Recording
from somacore.stream.session import Session

from somacore_lsl import LslOutletSink


def _inlet(name: str) -> pylsl.StreamInlet:
    (info,) = pylsl.resolve_byprop("name", name, 1, 5.0)
    # the replay pushes far faster than real time: room for every result; no
    # reconnecting once the session closes its outlets (a pull would wait for it)
    inlet = pylsl.StreamInlet(info, max_buflen=3600, recover=False)
    inlet.open_stream(5.0)
    return inlet


class Collector(threading.Thread):
    """Pulls every sample of an inlet until the stream ends (outlet closed)."""

    def __init__(self, inlet: pylsl.StreamInlet) -> None:
        super().__init__(daemon=True)
        self.inlet, self.rows, self.stamps = inlet, [], []
        self.done = threading.Event()

    def run(self) -> None:
        while True:
            try:
                chunk, stamps = self.inlet.pull_chunk(timeout=0.2)
            except LostError:  # the session closed its outlets
                return
            self.rows += chunk
            self.stamps += stamps
            if not stamps and self.done.is_set():
                return


def test_results_reach_an_lsl_inlet_with_their_values_and_times():
    e = example_ecg()
    n = int(120 * e.fs)
    prefix = f"somacore-test-sink-{uuid.uuid4().hex[:8]}"
    sink = LslOutletSink(["ada", "ben"], ["hr.hr_bpm", "nosuch.value"], name=prefix,
                         units={"hr.hr_bpm": "1/min"}, step_s=1.0)
    inlets = {p: _inlet(f"{prefix}-{p}") for p in ("ada", "ben")}
    assert sink.wait_for_consumers(5.0)
    pulls = {p: Collector(i) for p, i in inlets.items()}
    for c in pulls.values():
        c.start()
    # channel metadata: labels and units as declared
    desc = inlets["ada"].info(5.0).desc().child("channels").child("channel")
    assert desc.child_value("label") == "hr.hr_bpm" and desc.child_value("unit") == "1/min"
    s = Session(manager=PluginManager(env={}, entry_points=False).load(), step_s=1.0,
                window_s=10.0, metrics=["hr"], sinks=[sink])
    for k, p in enumerate(("ada", "ben")):
        x = np.ascontiguousarray(e.ecg_mv[k * n // 4: k * n // 4 + n])
        rec = Recording((Channel(x, e.fs, "ecg", "mV", name="ecg"),))
        s.add_driver(p, ReplayDriver(rec, chunk_s=0.1))
    s.run()  # closes the session, and with it the sink's outlets
    assert sink.pushed == len(s.results) > 200
    for p, c in pulls.items():
        c.done.set()
        c.join(10.0)
        assert not c.is_alive()
        got, ts = c.rows, c.stamps
        mine = [r for r in s.results if r.person == p]
        assert len(got) == len(mine)
        np.testing.assert_allclose(ts, [r.end for r in mine])
        hr = np.array([g[0] for g in got])
        want = np.array([r.values["hr.hr_bpm"] for r in mine])
        np.testing.assert_array_equal(np.isnan(hr), np.isnan(want))
        np.testing.assert_allclose(hr[~np.isnan(hr)], want[~np.isnan(want)])
        assert all(math.isnan(g[1]) for g in got)      # an absent output is NaN, not 0
        assert 50 < np.nanmedian(hr) < 110


def test_sink_errors_name_the_problem():
    with pytest.raises(ValueError, match="at least one person and one output"):
        LslOutletSink([], ["hr.hr_bpm"])
    with pytest.raises(ValueError, match=r"'<metric>\.<output>'"):
        LslOutletSink(["a"], ["hr_bpm"])
    with pytest.raises(ValueError, match="listed twice"):
        LslOutletSink(["a", "a"], ["hr.hr_bpm"])
    with pytest.raises(ValueError, match="timestamps"):
        LslOutletSink(["a"], ["hr.hr_bpm"], timestamps="wall")
    sink = LslOutletSink(["a"], ["hr.hr_bpm"], name=f"somacore-test-{uuid.uuid4().hex[:8]}")

    class R:
        person, end, values = "zed", 1.0, {}

    with pytest.raises(KeyError, match="no outlet for person 'zed'"):
        sink(R())
    sink.close()
