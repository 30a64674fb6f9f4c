"""Contract checks, the metric on windows, the entry point and the Numba fallback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pytest
from emg_synth import emg_signal
from somacore.plugins import PluginManager
from somacore.plugins.types import StreamInfo, StreamWindow, Window
from somacore.testing import MetricContract, check_metric

from somacore_emg.metrics import EmgMetric


class TestEmgContract(MetricContract):
    def make_metric(self):
        return EmgMetric()


def _window(x: np.ndarray, fs: float, units: str) -> Window:
    info = StreamInfo("bitalino/emg", "emg", units, fs)
    data = np.array(x)
    data.flags.writeable = False
    return Window("cleo", 0.0, x.size / fs, {info.name: StreamWindow(
        info, data, np.arange(x.size) / fs)})


def test_metric_values_and_units():
    _, x = emg_signal()
    res = EmgMetric().compute(_window(x, 1000.0, "mV"))
    assert res["burst_count"] == 3.0
    assert res["burst_rate_per_min"] == pytest.approx(18.0)
    assert res["burst_time_frac"] == pytest.approx(2.0 / 10.0, abs=0.045)
    assert 0.2 < res["burst_peak_mean_mV"] < 0.4
    uv = EmgMetric().compute(_window(x * 1000.0, 1000.0, "uV"))
    for k in res:
        assert uv[k] == pytest.approx(res[k], rel=1e-9), k
    adc = EmgMetric().compute(_window(x, 1000.0, "adc"))
    assert adc["burst_count"] == 3.0 and np.isnan(adc["emg_rms_mV"])
    fixed = EmgMetric(baseline=(0.01, 0.002)).compute(_window(x, 1000.0, "mV"))
    assert fixed["burst_count"] == 3.0


def test_entry_point():
    m = PluginManager(env={"SOMACORE_PLUGINS": "emg"}).load()
    assert m.errors == []
    assert m.owner("metrics", "emg_tension") == "emg"
    check_metric(m.get_metric("emg_tension"))
    info = {i.name: i for i in m.list_plugins()}["emg"]
    assert (info.distribution, info.version) == ("somacore-emg", version("somacore-emg"))


SCRIPT = r"""
import json, sys
sys.path.insert(0, {here!r})
import numpy as np
from emg_synth import emg_signal
from somacore_emg import _kernels as K, detect_bursts
t, x = emg_signal()
x[4500:4600] = np.nan
b = detect_bursts(x, fs=1000.0)
print(json.dumps({{"jit": bool(K.hysteresis_runs.somacore_jit), "on": b.onset_idx.tolist(),
                  "off": b.offset_idx.tolist(),
                  "env": np.nan_to_num(b.envelope, nan=-1.0).tolist()}}))
"""


def _run(disable: bool) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "SOMACORE_DISABLE_NUMBA"}
    if disable:
        env["SOMACORE_DISABLE_NUMBA"] = "1"
    out = subprocess.run([sys.executable, "-c", SCRIPT.format(here=str(Path(__file__).parent))],
                         capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout)


def test_fallback_matches_numba():
    pytest.importorskip("numba")
    fast, slow = _run(False), _run(True)
    assert fast["jit"] is True and slow["jit"] is False
    assert fast["on"] == slow["on"] and fast["off"] == slow["off"] and len(fast["on"]) == 4
    np.testing.assert_allclose(fast["env"], slow["env"], rtol=0, atol=1e-12)
