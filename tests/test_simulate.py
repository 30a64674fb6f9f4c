"""The coupled-physiology simulator: deterministic, and its ground truth is what it says."""

from __future__ import annotations

import numpy as np
import pytest

import somacore
from somacore.simulate import simulate_dyad, simulate_follower


def test_deterministic_with_seed():
    a1, b1 = simulate_dyad(duration_s=120, seed=7)
    a2, b2 = simulate_dyad(duration_s=120, seed=7)
    np.testing.assert_array_equal(b1.ecg_mv, b2.ecg_mv)
    np.testing.assert_array_equal(a1.resp, a2.resp)
    _, b3 = simulate_dyad(duration_s=120, seed=8)
    assert not np.array_equal(b1.ecg_mv, b3.ecg_mv)


def test_beats_and_breaths_are_detectable_and_match_ground_truth():
    a, b = simulate_dyad(duration_s=180, seed=1)
    beats = somacore.detect_beats(b.ecg_mv, fs=b.fs)
    assert len(beats) == b.beat_samples.size
    assert np.max(np.abs(beats.samples - b.beat_samples)) <= 0.02 * b.fs
    br = somacore.segment_breaths(a.resp, fs=a.resp_fs)
    # the first breath may be cut by the start
    assert abs(len(br) - a.breath_peaks.size) <= 1


def test_follower_tracks_leader_only_inside_episodes():
    fs = 4.0
    rng = np.random.default_rng(0)
    n = int(400 * fs)
    spec = np.fft.rfft(rng.normal(size=n))
    f = np.fft.rfftfreq(n, 1 / fs)
    spec[(f < 0.02) | (f > 0.4)] = 0
    lead = 70 + 3 * np.fft.irfft(spec, n) / np.fft.irfft(spec, n).std()
    sim = simulate_follower(lead, hr_fs=fs, duration_s=400, lag_s=2.0,
                            episodes_s=((100, 200),), coupling=0.95, arousal=(), seed=3)
    t = np.arange(n) / fs
    k = int(2.0 * fs)
    inside = (t[k:] > 110) & (t[k:] < 190)
    outside = (t[k:] > 230) & (t[k:] < 390)
    x, y = lead[:-k], sim.hr_bpm[k:]
    r_in = np.corrcoef(x[inside], y[inside])[0, 1]
    r_out = np.corrcoef(x[outside], y[outside])[0, 1]
    assert r_in > 0.85 and abs(r_out) < 0.3
    assert sim.lag_s == 2.0 and sim.episodes_s.tolist() == [[100.0, 200.0]]


def test_planted_arousal_and_validation():
    lead = np.full(1200, 70.0)
    sim = simulate_follower(lead, hr_fs=4.0, duration_s=300, arousal=((100, 20, 15),), seed=0)
    t = np.arange(sim.hr_bpm.size) / 4.0
    assert sim.hr_bpm[(t > 106) & (t < 120)].mean() - sim.hr_bpm[t < 90].mean() > 12
    with pytest.raises(ValueError, match="coupling"):
        simulate_follower(lead, hr_fs=4.0, duration_s=300, coupling=1.5)
    rec = sim.to_recording("B")
    assert "SIMULATED" in rec.source and {c.kind for c in rec} == {"ecg", "resp"}
