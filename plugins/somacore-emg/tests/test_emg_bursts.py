"""RMS envelope and burst detection on synthetic EMG with known bursts."""

from __future__ import annotations

import numpy as np
import pytest
from emg_synth import BURSTS, emg_signal

from somacore_emg import detect_bursts, rms_envelope


def test_envelope_levels():
    t, x = emg_signal()
    env = rms_envelope(x, fs=1000.0)
    assert env.shape == x.shape
    rest = (t > 0.5) & (t < 1.5)
    assert env[rest].mean() == pytest.approx(0.01, rel=0.1)  # offset and drift removed
    for a, b, rms in BURSTS:
        inner = (t > a + 0.1) & (t < b - 0.1)
        assert np.median(env[inner]) == pytest.approx(rms, rel=0.1)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_bursts_timing_and_amplitude(seed):
    _, x = emg_signal(seed=seed)
    b = detect_bursts(x, fs=1000.0)
    assert len(b) == 3
    on = [a for a, _, _ in BURSTS]
    off = [e for _, e, _ in BURSTS]
    # the 0.1-s RMS window spreads an abrupt onset by up to 0.05 s (early onsets, late
    # offsets); the causal high-pass rings a few tens of ms after the burst
    np.testing.assert_allclose(b.onset_s, on, atol=0.06)
    np.testing.assert_allclose(b.offset_s, off, atol=0.1)
    assert np.all(b.onset_s <= np.array(on) + 0.01)
    assert np.all(b.offset_s >= np.array(off) - 0.01)
    rms = np.array([r for *_, r in BURSTS])
    # the mean includes the envelope's ramps at both ends; the peak is a noisy maximum
    assert np.all((b.mean_rms > 0.75 * rms) & (b.mean_rms < rms))
    assert np.all((b.peak_rms > rms) & (b.peak_rms < 1.3 * rms))
    assert b.baseline_mean == pytest.approx(0.01, rel=0.15)
    assert b.on_threshold > b.off_threshold > b.baseline_mean
    np.testing.assert_allclose(b.duration_s, b.offset_s - b.onset_s)


def test_hysteresis_keeps_a_burst_whole():
    # a burst whose level dips between the two thresholds stays one burst
    rng = np.random.default_rng(4)
    fs = 1000.0
    t = np.arange(0, 6, 1 / fs)
    sd = np.full(t.size, 0.01)
    sd[(t >= 2) & (t < 4)] = 0.1
    sd[(t >= 2.9) & (t < 3.1)] = 0.016  # between the two thresholds below
    x = sd * rng.standard_normal(t.size)
    b = detect_bursts(x, fs=fs, k_on=10.0, k_off=2.0, rest_level=(0.01, 0.001))
    env = b.envelope
    dip = (t > 2.97) & (t < 3.03)
    assert np.all(env[dip] < b.on_threshold) and np.all(env[dip] > b.off_threshold)
    assert len(b) == 1
    assert abs(b.onset_s[0] - 2.0) < 0.06 and abs(b.offset_s[0] - 4.0) < 0.1
    # without hysteresis (k_off == k_on) the dip splits it
    assert len(detect_bursts(x, fs=fs, k_on=10.0, k_off=10.0, rest_level=(0.01, 0.001))) == 2


def test_baseline_interval_and_rest_level():
    _, x = emg_signal()
    auto = detect_bursts(x, fs=1000.0)
    given = detect_bursts(x, fs=1000.0, baseline=(0.2, 1.8))
    np.testing.assert_allclose(given.onset_s, auto.onset_s, atol=0.02)
    fixed = detect_bursts(x, fs=1000.0, rest_level=(0.01, 0.002))
    assert fixed.baseline_mean == 0.01 and fixed.baseline_sd == pytest.approx(0.002)
    assert len(fixed) == 3
    # a rest level far above the bursts finds nothing
    assert len(detect_bursts(x, fs=1000.0, rest_level=(1.0, 0.1))) == 0


@pytest.mark.parametrize("seed", range(6))
def test_rest_only_has_no_bursts(seed):
    _, x = emg_signal(bursts=[], seed=seed)
    assert len(detect_bursts(x, fs=1000.0)) == 0


def test_ratio_floor_is_what_rejects_noise():
    # without the floor, mu + 3 sd of the quietest stretch lies inside the rest noise
    false = [len(detect_bursts(emg_signal(bursts=[], seed=s)[1], fs=1000.0, min_ratio=1.0))
             for s in range(6)]
    assert sum(false) > 0


def test_lost_signal_ends_a_burst():
    t, x = emg_signal()
    x = x.copy()
    x[(t >= 4.5) & (t < 4.6)] = np.nan
    b = detect_bursts(x, fs=1000.0)
    assert len(b) == 4  # the long burst is split at the gap, never bridged
    assert np.all(np.isnan(b.envelope[(t >= 4.5) & (t < 4.6)]))


def test_short_record_without_baseline():
    b = detect_bursts(np.zeros(100), fs=1000.0)
    assert len(b) == 0 and np.isnan(b.baseline_mean)


@pytest.mark.parametrize("kw", [{"k_on": 1.0, "k_off": 2.0}, {"baseline": (2.0, 1.0)}])
def test_bad_options(kw):
    with pytest.raises(ValueError):
        detect_bursts(np.ones(3000), fs=1000.0, **kw)


def test_bad_fs():
    with pytest.raises(ValueError, match="fs="):
        rms_envelope(np.ones(10), fs=-1)
