"""Circular-shift surrogates of windowed_xcorr on shared spectra vs explicit rotation."""

from __future__ import annotations

import numpy as np
import pytest

from somacore.synchrony import XcorrMeasure, surrogate_test, windowed_xcorr
from somacore.synchrony import xcorr_shifts as shifts_mod
from somacore.synchrony.xcorr import _slid
from somacore.synchrony.xcorr_shifts import _ShiftEngine

TOL = 1e-9


def _data(p: int, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((p, n)).cumsum(axis=1) + 50.0
    x[1, 4:] += 0.8 * x[0, :-4]      # person 1 follows person 0
    x[1, 300:420] = 7.0              # a constant stretch longer than a window
    x[2 % p, 700:703] = np.nan       # a gap
    return x


def _rotated(x: np.ndarray, shifts) -> np.ndarray:
    return np.stack([np.roll(x[i], s) for i, s in enumerate(shifts)])


def _same(a, b) -> None:
    np.testing.assert_array_equal(np.isnan(a.peak_r), np.isnan(b.peak_r))
    if np.isfinite(a.peak_r).any():
        assert np.nanmax(np.abs(a.peak_r - b.peak_r)) < TOL
    np.testing.assert_array_equal(a.peak_lag_s, b.peak_lag_s)
    np.testing.assert_array_equal(a.flags, b.flags)
    np.testing.assert_array_equal(a.window_start_s, b.window_start_s)


@pytest.mark.parametrize("n", [1200, 1203])   # block length divides the record, or not
@pytest.mark.parametrize("peak", ["boker", "max"])
@pytest.mark.parametrize("design", [
    dict(window_s=30, step_s=1, max_lag_s=5),      # block = step = 4 samples, lags 5 blocks
    dict(window_s=30, step_s=3, max_lag_s=6),      # block = step = 12 samples, lags 2 blocks
    dict(window_s=25, step_s=1.5, max_lag_s=0),    # lag 0 only
])
def test_shared_spectra_equal_explicit_rotation(n, peak, design):
    x = _data(3, n, seed=n)
    m = XcorrMeasure(fs=4.0, peak=peak, **design)
    eng = _ShiftEngine(x, m)
    assert _slid(eng.d.plan)  # the fast path is what is tested here
    S = m.step_samples
    rng = np.random.default_rng(0)
    cases = [[0, 0, 0], [0, S, 2 * S], [0, (n // S - 1) * S, S]]
    cases += [[0, *(S * rng.integers(1, n // S, 2))] for _ in range(4)]
    for shifts in cases:
        got = eng.run(shifts)
        want = windowed_xcorr(_rotated(x, shifts), fs=4.0, peak=peak, **design)
        _same(got, want)


def test_shared_spectra_pairs_subset_and_rotated_first_person():
    # pairs given out of order, the first person of a pair rotated too
    x = _data(4, 1100, seed=3)
    m = XcorrMeasure(fs=4.0, window_s=30, step_s=1, max_lag_s=5, pairs=[(3, 1), (0, 2)])
    eng = _ShiftEngine(x, m)
    for shifts in ([0, 44, 0, 1000], [12, 0, 600, 4]):
        got = eng.run(shifts)
        want = windowed_xcorr(_rotated(x, shifts), fs=4.0, window_s=30, step_s=1,
                              max_lag_s=5, pairs=[(3, 1), (0, 2)])
        _same(got, want)
    with pytest.raises(ValueError, match="multiples"):
        eng.run([0, 3, 0, 0])


def _quantised_draws(seed: int, n: int, p: int, N: int, S: int, k: int) -> list[list[int]]:
    # the documented rule: every person but the first rotated by a whole number of
    # steps, uniform among the multiples of S in [k, N - k]
    rng = np.random.default_rng(seed)
    lo, hi = -(-k // S), (N - k) // S
    return [[0] + [S * int(rng.integers(lo, hi + 1)) for _ in range(1, p)] for _ in range(n)]


# windows undefined in every surrogate (the gap, the flat stretch) make the effect
# sizes' nanmean warn; they are not what this test checks
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_surrogate_test_fast_path_equals_measure_of_rotated_arrays(monkeypatch):
    x = _data(3, 1500, seed=7)
    m = XcorrMeasure(fs=4.0, window_s=30, step_s=2, max_lag_s=4, statistic="peak_r")
    assert _ShiftEngine.table_bytes(x, m) is not None  # the fast path is taken
    st = surrogate_test(x, m, fs=4.0, n=6, seed=5, min_shift_s=20)
    assert st.null.shape == (6, 3, m.xcorr(x).peak_r.shape[1])
    np.testing.assert_array_equal(np.isnan(st.observed), np.isnan(m(x)))
    assert np.nanmax(np.abs(st.observed - m(x))) < TOL
    draws = _quantised_draws(5, 6, 3, 1500, m.step_samples, 80)
    for k, shifts in enumerate(draws):
        want = m(_rotated(x, shifts))
        np.testing.assert_array_equal(np.isnan(st.null[k]), np.isnan(want))
        assert np.nanmax(np.abs(st.null[k] - want)) < TOL
    # threads share the table and measure the same surrogates
    st2 = surrogate_test(x, m, fs=4.0, n=6, seed=5, min_shift_s=20, n_jobs=2)
    np.testing.assert_array_equal(st2.null, st.null)
    # without room for the table every surrogate is measured from scratch: same null
    monkeypatch.setattr(shifts_mod, "_TABLE_BYTES", 0)
    st3 = surrogate_test(x, m, fs=4.0, n=6, seed=5, min_shift_s=20)
    np.testing.assert_array_equal(np.isnan(st3.null), np.isnan(st.null))
    assert np.nanmax(np.abs(st3.null - st.null)) < TOL


def test_design_without_fast_path_uses_the_same_quantised_shifts():
    # lags of 5 s are not a whole number of 8-sample blocks: measured from scratch
    x = _data(2, 900, seed=2)
    m = XcorrMeasure(fs=4.0, window_s=30, step_s=2, max_lag_s=5)
    assert _ShiftEngine.table_bytes(x, m) is None
    st = surrogate_test(x, m, fs=4.0, n=4, seed=1)
    draws = _quantised_draws(1, 4, 2, 900, 8, 90)
    want = np.array([m(_rotated(x, d)) for d in draws])
    np.testing.assert_array_equal(st.null, want)


def test_xcorr_measure_statistics_and_errors():
    x = _data(3, 800, seed=4)
    res = windowed_xcorr(x, fs=4.0, window_s=30, step_s=1, max_lag_s=5)
    m = XcorrMeasure(fs=4.0, window_s=30, step_s=1, max_lag_s=5)
    np.testing.assert_array_equal(m(x), res.summary().mean_peak_r)
    mz = XcorrMeasure(fs=4.0, window_s=30, step_s=1, max_lag_s=5, statistic="share_i_leads")
    np.testing.assert_array_equal(mz(x), res.summary().share_i_leads)
    mf = XcorrMeasure(fs=4.0, window_s=30, step_s=1, max_lag_s=5,
                      statistic=lambda r: np.nanmedian(r.peak_r, axis=1))
    np.testing.assert_array_equal(mf(x), np.nanmedian(res.peak_r, axis=1))
    with pytest.raises(ValueError, match="statistic"):
        XcorrMeasure(fs=4.0, window_s=30, step_s=1, max_lag_s=5, statistic="median")
    with pytest.raises(ValueError, match="fs"):
        XcorrMeasure(fs=None, window_s=30, step_s=1, max_lag_s=5)
    # no whole number of 120-sample steps between a 390-sample minimum shift and 800 - 390
    mb = XcorrMeasure(fs=4.0, window_s=60, step_s=30, max_lag_s=5)
    with pytest.raises(ValueError, match="whole number of window steps"):
        surrogate_test(x, mb, fs=4.0, n=2, min_shift_s=97.6)
