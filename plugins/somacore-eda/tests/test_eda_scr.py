"""SCR detection and tonic/phasic decomposition on synthetic Bateman responses."""

from __future__ import annotations

import numpy as np
import pytest
from eda_synth import scr_signal, truth

from somacore_eda import decompose, detect_scr

ONSETS = [10.0, 40.0, 70.0, 95.0]
AMPS = [0.3, 0.6, 0.15, 0.02]  # the last one is below the 0.05 uS criterion


@pytest.fixture(scope="module")
def sig():
    return scr_signal(ONSETS, AMPS, drift=0.002)


def test_scr_timing_and_amplitude(sig):
    _t, sc, _ = sig
    rise, half = truth()
    r = detect_scr(sc, fs=32.0)
    assert len(r) == 3  # the 0.02 uS response is below the default criterion
    np.testing.assert_allclose(r.onset_s, ONSETS[:3], atol=0.3)
    np.testing.assert_allclose(r.peak_s, np.array(ONSETS[:3]) + rise, atol=0.15)
    np.testing.assert_allclose(r.amplitude_uS, AMPS[:3], rtol=0.06)
    np.testing.assert_allclose(r.rise_time_s, rise, atol=0.35)
    np.testing.assert_allclose(r.half_recovery_s, half, atol=0.45)
    assert np.array_equal(r.onset_s, r.onset_idx / 32.0)


def test_threshold_is_a_parameter(sig):
    _, sc, _ = sig
    r = detect_scr(sc, fs=32.0, min_amplitude=0.01)
    assert len(r) == 4
    assert abs(r.onset_s[3] - 95.0) < 0.5 and abs(r.amplitude_uS[3] - 0.02) < 0.005


def test_t0_shifts_times(sig):
    _, sc, _ = sig
    a = detect_scr(sc, fs=32.0)
    b = detect_scr(sc, fs=32.0, t0=1000.0)
    np.testing.assert_allclose(b.peak_s - a.peak_s, 1000.0)


def test_low_rate_device():
    # an Empatica-like 4 Hz signal with 0.01 uS resolution
    _t, sc, _ = scr_signal([20.0, 60.0], [0.4, 0.2], fs=4.0, dur=100.0, noise=0.0)
    sc = np.round(sc, 2)
    r = detect_scr(sc, fs=4.0)
    assert len(r) == 2
    np.testing.assert_allclose(r.onset_s, [20.0, 60.0], atol=0.6)
    np.testing.assert_allclose(r.amplitude_uS, [0.4, 0.2], atol=0.03)


def test_flat_and_noise_only_give_no_scr():
    assert len(detect_scr(np.full(2000, 3.0), fs=32.0)) == 0
    noise = 3.0 + 0.003 * np.random.default_rng(5).standard_normal(4000)
    assert len(detect_scr(noise, fs=32.0)) == 0
    assert len(detect_scr(np.zeros(0), fs=32.0)) == 0


def test_lost_signal_is_not_bridged(sig):
    _, sc, _ = sig
    x = sc.copy()
    x[round(40.5 * 32):round(41.0 * 32)] = np.nan  # during the second response's rise
    r = detect_scr(x, fs=32.0)
    assert not np.any(np.abs(r.onset_s - 40.0) < 0.5)
    assert np.any(np.abs(r.onset_s - 10.0) < 0.5) and np.any(np.abs(r.onset_s - 70.0) < 0.5)


def test_half_recovery_nan_when_record_ends_first():
    _, sc, _ = scr_signal([10.0], [0.5], dur=12.5, noise=0.0)
    r = detect_scr(sc, fs=32.0)
    assert len(r) == 1 and np.isnan(r.half_recovery_s[0])


def test_decomposition(sig):
    t, sc, base = sig
    d = decompose(sc, fs=32.0)
    far = np.ones(t.size, bool)
    for o in ONSETS:
        far &= ~((t > o - 2) & (t < o + 25))
    assert np.abs(d.tonic - base)[far].max() < 0.03
    # the tonic level ignores the responses; the phasic part carries them
    near = (t > 40) & (t < 45)
    assert np.abs(d.tonic - base)[near].max() < 0.05
    assert abs(np.nanmax(d.phasic[near]) - 0.6) < 0.06
    assert np.nanmin(d.phasic) > -0.03
    np.testing.assert_allclose(d.smoothed, d.tonic + d.phasic)


def test_ramp_is_all_tonic():
    t = np.arange(0, 200, 1 / 8)
    sc = 2.0 + 0.01 * t
    d = decompose(sc, fs=8.0)
    inner = (t > 30) & (t < 170)
    assert np.abs(d.phasic[inner]).max() < 1e-9


@pytest.mark.parametrize("bad", [0, -4.0, float("nan"), True])
def test_bad_fs(bad):
    with pytest.raises(ValueError, match="fs="):
        detect_scr(np.ones(10), fs=bad)


def test_2d_input_refused():
    with pytest.raises(ValueError, match="1-D"):
        decompose(np.ones((10, 2)), fs=4.0)
