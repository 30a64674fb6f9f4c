"""Arousal episodes: same rule as ``somacore analyze`` on heart rate, extended to EDA."""

from __future__ import annotations

import numpy as np
import pytest
from eda_synth import scr_signal
from somacore.analysis.arousal import detect_arousal

from somacore_eda import detect_episodes, eda_arousal, hr_arousal


def _hr(seed: int = 0) -> np.ndarray:
    fs = 4.0
    t = np.arange(0, 900, 1 / fs)
    rng = np.random.default_rng(seed)
    hr = 70 + 1.5 * rng.standard_normal(t.size)
    for onset, dur, amp in ((200, 40, 20), (500, 25, 12), (700, 4, 25)):  # last: too short
        m = (t >= onset) & (t < onset + dur)
        hr[m] += amp
    hr[(t > 800) & (t < 803)] = np.nan
    return hr


def test_hr_matches_the_cli_rule():
    hr = _hr()
    ref = detect_arousal(hr, fs=4.0, t0=12.0)
    got = hr_arousal(hr, fs=4.0, t0=12.0)
    assert len(ref) == len(got) == 2
    for a, b in (("onset_s", "onset_s"), ("end_s", "end_s"), ("peak_s", "peak_s"),
                 ("peak_bpm", "peak_value"), ("baseline_bpm", "baseline_value"),
                 ("recovery_s", "recovery_s"), ("duration_s", "duration_s")):
        np.testing.assert_array_equal(getattr(ref, a), getattr(got, b), err_msg=a)
    np.testing.assert_allclose(got.onset_s, [212.0, 512.0], atol=0.5)
    np.testing.assert_allclose(got.duration_s, [40.0, 25.0], atol=1.0)
    assert got.robust_sd == ref.robust_sd_bpm


def test_eda_episode_onset_peak_duration_recovery():
    # a 30-s burst of responses on a steady level: one episode
    onsets = [300.0, 306.0, 312.0, 318.0, 324.0]
    _t, sc, _ = scr_signal(onsets, [0.4] * 5, fs=8.0, dur=600.0, noise=0.003)
    ep = eda_arousal(sc, fs=8.0)
    assert len(ep) == 1
    assert 300.0 <= ep.onset_s[0] < 302.0
    assert 324.0 < ep.peak_s[0] < 328.0
    assert 25.0 < ep.duration_s[0] < 40.0
    assert 0.3 < ep.peak_excess[0] < 0.8
    # back to baseline once the last response has decayed (tau2 = 3 s)
    assert 3.0 < ep.recovery_s[0] < 20.0
    # the same with the SCR criterion disabled finds it too (the floor does not hide it)
    assert len(detect_episodes(sc, fs=8.0, min_duration_s=5.0)) >= 1


def test_eda_noise_floor():
    # slow sensor/thermal wander of ~0.01 uS (AR(1), 5-s correlation) without responses:
    # k * sd alone (sd ~ 0.01 uS) flags wander as episodes; the 0.05 uS floor does not
    rng = np.random.default_rng(3)
    a = np.exp(-1 / (8 * 5.0))
    e = rng.standard_normal(8 * 900)
    w = np.empty_like(e)
    w[0] = e[0]
    for i in range(1, e.size):
        w[i] = a * w[i - 1] + np.sqrt(1 - a * a) * e[i]
    sc = 4.0 + 0.01 * w
    assert len(eda_arousal(sc, fs=8.0)) == 0
    assert len(eda_arousal(sc, fs=8.0, min_excess=0.0)) > 0


def test_all_lost_gives_no_episode():
    ep = eda_arousal(np.full(4000, np.nan), fs=8.0)
    assert len(ep) == 0 and np.isnan(ep.robust_sd)


def test_bad_input():
    with pytest.raises(ValueError, match="1-D"):
        detect_episodes(np.ones((3, 3)), fs=4.0)
    with pytest.raises(ValueError, match="fs="):
        detect_episodes(np.ones(30), fs=0.0)
