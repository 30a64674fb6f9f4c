"""Contract checks (somacore.testing) and the plugin as installed through its entry point."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import version

import numpy as np
import pytest
from eda_synth import scr_signal
from somacore.plugins import PluginManager
from somacore.plugins.types import StreamInfo, StreamWindow, Window
from somacore.testing import MetricContract, check_metric

from somacore_eda.metrics import ArousalMetric, EdaMetric, HrArousalMetric


class TestEdaContract(MetricContract):
    def make_metric(self):
        return EdaMetric()


class TestEdaArousalContract(MetricContract):
    def make_metric(self):
        return ArousalMetric()


class TestHrArousalContract(MetricContract):
    def make_metric(self):
        return HrArousalMetric()


def _eda_window(x: np.ndarray, fs: float, start: float = 0.0) -> Window:
    info = StreamInfo("e4/eda", "eda", "uS", fs)
    data = np.array(x)
    data.flags.writeable = False
    t = start + np.arange(x.size) / fs
    return Window("ann", start, start + x.size / fs, {info.name: StreamWindow(info, data, t)})


def test_entry_point_registers_metrics():
    m = PluginManager(env={"SOMACORE_PLUGINS": "eda"}).load()
    assert m.errors == []
    for name in ("eda", "eda_arousal", "hr_arousal"):
        assert m.owner("metrics", name) == "eda"
        check_metric(m.get_metric(name))
    info = {i.name: i for i in m.list_plugins()}["eda"]
    assert info.distribution == "somacore-eda"
    assert info.version == version("somacore-eda")
    assert info.hooks == ("somacore_register_metrics",)


def test_cli_lists_the_plugin():
    out = subprocess.run([sys.executable, "-m", "somacore.cli", "plugins"], capture_output=True,
                         text=True, env={"SOMACORE_PLUGINS": "eda", "PATH": ""})
    assert out.returncode == 0, out.stderr
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith("eda "))
    assert "somacore-eda" in line and version("somacore-eda") in line


def test_plugin_import_does_not_load_numba():
    code = ("import sys, somacore_eda.plugin; "
            "print('numba' in sys.modules, 'somacore_eda._kernels' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.split() == ["False", "False"]


def test_eda_metric_counts_responses():
    _t, sc, _ = scr_signal([5.0, 25.0, 45.0], [0.3, 0.2, 0.1], fs=8.0, dur=60.0)
    res = EdaMetric().compute(_eda_window(sc, 8.0, start=100.0))
    assert res["scr_count"] == 3.0
    assert res["scr_rate_per_min"] == pytest.approx(3.0)
    assert res["scr_amp_mean_uS"] == pytest.approx(0.2, rel=0.08)
    assert 4.9 < res["scl_uS"] < 5.05
    assert 1.2 < res["scr_rise_mean_s"] < 1.8


def test_eda_metric_half_lost_is_nan():
    _t, sc, _ = scr_signal([5.0], [0.3], fs=8.0, dur=60.0)
    sc[: sc.size * 2 // 3] = np.nan
    res = EdaMetric().compute(_eda_window(sc, 8.0))
    assert all(np.isnan(v) for v in res.values())


def test_hr_arousal_metric_from_beats():
    # 300-s window, RR 0.857 s (70 bpm) with a 40-s episode at 100 bpm from t = 150 s
    rng = np.random.default_rng(2)
    beats, t = [], 0.3
    while t < 300.0:
        beats.append(t)
        t += (0.6 if 150.0 <= t < 190.0 else 60 / 70) + 0.01 * rng.standard_normal()
    beats = np.array(beats)
    iv = np.diff(beats, prepend=np.nan)
    info = StreamInfo("h10/ecg", "ecg", "mV", 130.0)
    sw = StreamWindow(info, np.zeros(39000), np.arange(39000) / 130.0, beats=beats,
                      intervals=iv)
    w = Window("bob", 0.0, 300.0, {info.name: sw})
    m = HrArousalMetric()
    hr = m.heart_rate(w)
    assert hr.size == 1200 and np.nanmax(hr) == pytest.approx(100.0, abs=5.0)
    res = m.compute(w)
    assert res["n_episodes"] == 1.0
    assert res["episode_time_s"] == pytest.approx(40.0, abs=1.5)
    assert res["max_excess_bpm"] == pytest.approx(30.0, abs=5.0)
