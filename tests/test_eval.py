"""Tests of beat/event scoring (somacore.eval)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from somacore.beats import Beats
from somacore.eval import (
    _TOL_SLACK,
    BeatScore,
    compare_beats,
    compare_events,
    pool,
    windowed_rate_error,
)

# ----------------------------------------------------------------------------------
# slow, obviously-correct references
# ----------------------------------------------------------------------------------


def brute_match(det, ref, tol):
    """Repeatedly take the globally closest unmatched pair within ``tol``.

    Tie rule (the documented one): smaller distance, then smaller reference
    index, then smaller detection index.
    """
    free_d, free_r = set(range(len(det))), set(range(len(ref)))
    pairs = []
    while True:
        best = None
        for i in free_d:
            for j in free_r:
                dist = abs(det[i] - ref[j])
                if dist <= tol and (best is None or (dist, j, i) < best):
                    best = (dist, j, i)
        if best is None:
            break
        _, j, i = best
        pairs.append((i, j))
        free_d.discard(i)
        free_r.discard(j)
    return sorted(pairs, key=lambda p: p[1])


def brute_rate(ev, a, b, fs):
    inside = [e for e in ev if a <= e < b]
    if len(inside) < 2:
        return math.nan
    ivs = [(inside[k + 1] - inside[k]) / fs for k in range(len(inside) - 1)]
    return 60 * len(ivs) / sum(ivs) if sum(ivs) > 0 else math.nan


sorted_ints = st.lists(st.integers(0, 60), max_size=25).map(sorted)


# ----------------------------------------------------------------------------------
# matcher against the reference
# ----------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(det=sorted_ints, ref=sorted_ints, tol=st.integers(0, 12))
def test_matcher_equals_brute_force(det, ref, tol):
    s = compare_beats(np.array(det, np.int64), np.array(ref, np.int64), fs=1.0, tolerance_s=tol)
    pairs = brute_match(det, ref, tol)
    got = list(zip(s.matched_detected.tolist(), s.matched_reference.tolist(), strict=True))
    assert got == pairs
    assert s.tp == len(pairs) and s.fp == len(det) - s.tp and s.fn == len(ref) - s.tp
    np.testing.assert_array_equal(
        s.timing_error_s, [det[i] - ref[j] for i, j in pairs])


@settings(max_examples=100, deadline=None)
@given(det=st.lists(st.integers(0, 3000), max_size=40).map(sorted),
       ref=st.lists(st.integers(0, 3000), max_size=40).map(sorted))
def test_matcher_equals_brute_force_at_360hz(det, ref):
    # 0.15 s at 360 Hz is exactly 54 samples despite floating point
    s = compare_beats(det, ref, fs=360, tolerance_s=0.15)
    got = list(zip(s.matched_detected.tolist(), s.matched_reference.tolist(), strict=True))
    assert got == brute_match(det, ref, 54)


@settings(max_examples=60, deadline=None)
@given(det=st.lists(st.floats(0, 50, allow_nan=False), max_size=20).map(sorted),
       ref=st.lists(st.integers(0, 50), max_size=20).map(sorted),
       tol=st.integers(0, 8))
def test_matcher_float_detections(det, ref, tol):
    s = compare_events(det, ref, fs=1, tolerance_s=tol)
    got = list(zip(s.matched_detected.tolist(), s.matched_reference.tolist(), strict=True))
    assert got == brute_match(det, ref, tol * (1 + _TOL_SLACK) + _TOL_SLACK)


@settings(max_examples=100, deadline=None)
@given(det=sorted_ints, ref=sorted_ints, tol=st.integers(0, 6),
       lo=st.integers(0, 60), width=st.integers(0, 30))
def test_exclusion_equals_filter_then_match(det, ref, tol, lo, width):
    ex = np.array([[lo, lo + width], [lo + width // 2, lo + width + 3]])  # overlapping
    s = compare_beats(det, ref, fs=1, tolerance_s=tol, exclude=ex)

    def out(x):
        return not any(a <= x < b for a, b in ex)

    kd = [i for i, x in enumerate(det) if out(x)]
    kr = [j for j, x in enumerate(ref) if out(x)]
    pairs = brute_match([det[i] for i in kd], [ref[j] for j in kr], tol)
    assert list(zip(s.matched_detected.tolist(), s.matched_reference.tolist(),
                    strict=True)) == [(kd[i], kr[j]) for i, j in pairs]
    assert s.n_detected == len(kd) and s.n_reference == len(kr)


def test_greedy_closest_first_not_left_to_right():
    # left-to-right would pair 0<->10 and leave 18 unmatched; closest-first pairs 18<->10
    s = compare_beats([0, 18], [10], fs=1, tolerance_s=10)
    assert s.matched_detected.tolist() == [1] and s.matched_reference.tolist() == [0]
    # ties: equal distance -> the earlier reference beat is served first
    s = compare_beats([10], [5, 15], fs=1, tolerance_s=5)
    assert s.matched_reference.tolist() == [0]
    # ... and for the same reference, the earlier detection
    s = compare_beats([5, 15], [10], fs=1, tolerance_s=5)
    assert s.matched_detected.tolist() == [0]


# ----------------------------------------------------------------------------------
# edge cases and metrics
# ----------------------------------------------------------------------------------


def test_empty_inputs():
    s = compare_beats([], [10, 20], fs=360)
    assert (s.tp, s.fp, s.fn) == (0, 0, 2)
    assert s.se == 0.0 and math.isnan(s.ppv) and s.f1 == 0.0
    assert math.isnan(s.median_abs_error_s)
    s = compare_beats([10, 20], np.array([], dtype=np.int64), fs=360)
    assert (s.tp, s.fp, s.fn) == (0, 2, 0)
    assert math.isnan(s.se) and s.ppv == 0.0 and s.f1 == 0.0
    s = compare_beats([], [], fs=360)
    assert (s.tp, s.fp, s.fn) == (0, 0, 0)
    assert math.isnan(s.se) and math.isnan(s.ppv) and math.isnan(s.f1)
    assert s.matched_detected.dtype == np.int64 and s.matched_detected.size == 0


def test_tolerance_boundary_is_inclusive():
    assert compare_beats([1054], [1000], fs=360, tolerance_s=0.15).tp == 1  # 54 = 0.15 s
    assert compare_beats([946], [1000], fs=360, tolerance_s=0.15).tp == 1
    assert compare_beats([1055], [1000], fs=360, tolerance_s=0.15).tp == 0
    assert compare_beats([1000.0 + 0.15 * 250], [1000], fs=250, tolerance_s=0.15).tp == 1
    assert compare_beats([5], [5], fs=1, tolerance_s=0).tp == 1
    assert compare_beats([5], [6], fs=1, tolerance_s=0).tp == 0


def test_counts_metrics_and_timing():
    ref = np.array([100, 400, 700, 1000])
    det = np.array([103, 396, 760, 900, 1001])
    s = compare_beats(det, ref, fs=100, tolerance_s=0.1)
    assert (s.tp, s.fp, s.fn) == (3, 2, 1)
    assert s.se == pytest.approx(3 / 4) and s.ppv == pytest.approx(3 / 5)
    assert s.f1 == pytest.approx(6 / 9)
    assert s.matched_reference.tolist() == [0, 1, 3]
    assert s.matched_detected.tolist() == [0, 1, 4]
    np.testing.assert_allclose(s.timing_error_s, [0.03, -0.04, 0.01])
    assert s.median_abs_error_s == pytest.approx(0.03)
    assert s.mean_error_s == pytest.approx(0.0)
    assert s.fs == 100.0 and s.tolerance_s == 0.1
    assert not s.matched_detected.flags.writeable
    assert "se=0.7500" in repr(s)


def test_exclusion_indices_refer_to_original_arrays():
    ref = [100, 200, 300, 400]
    det = [101, 150, 210, 305, 399]
    s = compare_beats(det, ref, fs=1000, tolerance_s=0.02, exclude=[[140, 250]])
    assert s.matched_detected.tolist() == [0, 3, 4]
    assert s.matched_reference.tolist() == [0, 2, 3]
    assert (s.tp, s.fp, s.fn) == (3, 0, 0)


def test_pool():
    a = compare_beats([10, 20, 90], [10, 20, 30], fs=1, tolerance_s=1)
    b = compare_beats([5], [7, 50], fs=1, tolerance_s=2)
    p = BeatScore.pool([a, b])
    assert (p.tp, p.fp, p.fn) == (3, 1, 2)
    assert p.se == pytest.approx(3 / 5) and p.ppv == pytest.approx(3 / 4)
    assert p.f1 == pytest.approx(6 / 9)
    np.testing.assert_allclose(p.timing_error_s, [0, 0, -2])
    assert p.matched_detected.size == 0 and p.fs == 1.0 and math.isnan(p.tolerance_s)
    assert pool([a, b]).tp == 3  # module-level alias
    e = pool([])
    assert (e.tp, e.fp, e.fn) == (0, 0, 0) and math.isnan(e.f1)
    with pytest.raises(ValueError, match="BeatScore"):
        pool([a, (1, 2, 3)])


def test_beats_object_input():
    beats = Beats(samples=np.array([100, 460]), fs=360.0, kind="ecg",
                  quality=np.zeros(2, np.uint8))
    s = compare_beats(beats, [101, 459], fs=360)
    assert s.tp == 2
    with pytest.raises(ValueError, match=r"detected at fs=360 Hz but fs=250 Hz"):
        compare_beats(beats, [101], fs=250)


def test_compare_events_shares_matcher():
    rng = np.random.default_rng(3)
    ref = np.sort(rng.integers(0, 100_000, 300))
    det = np.sort(ref + rng.integers(-40, 40, ref.size))
    a = compare_events(det, ref, fs=25, tolerance_s=1.0)
    b = compare_beats(det, ref, fs=25, tolerance_s=1.0)
    assert (a.tp, a.fp, a.fn) == (b.tp, b.fp, b.fn)
    np.testing.assert_array_equal(a.matched_detected, b.matched_detected)


def test_large_input_is_fast_and_sane():
    rng = np.random.default_rng(0)
    ref = np.cumsum(rng.integers(200, 400, 100_000))
    det = np.sort(np.concatenate([ref[::2] + rng.integers(-20, 21, ref[::2].size),
                                  rng.integers(0, ref[-1], 5_000)]))
    s = compare_beats(det, ref, fs=360)
    assert s.fn <= ref.size // 2 + 5_000 and s.tp >= ref.size // 2 - 1


# ----------------------------------------------------------------------------------
# validation
# ----------------------------------------------------------------------------------


def test_validation_errors():
    with pytest.raises(TypeError, match="fs"):
        compare_beats([1], [1])  # fs is keyword-only and required
    with pytest.raises(ValueError, match="fs is required"):
        compare_beats([1], [1], fs=None)
    with pytest.raises(ValueError, match="non-negative"):
        compare_beats([1], [1], fs=360, tolerance_s=-0.1)
    with pytest.raises(ValueError, match="non-negative"):
        compare_events([1], [1], fs=360, tolerance_s=float("nan"))
    with pytest.raises(ValueError, match=r"detected beats must be a 1-D array"):
        compare_beats(np.zeros((3, 2)), [1], fs=360)
    with pytest.raises(ValueError, match=r"reference beats must be a 1-D array"):
        compare_beats([1], 5, fs=360)
    with pytest.raises(ValueError, match=r"detected beats must be sorted ascending.*np\.sort"):
        compare_beats([5, 3, 9], [1], fs=360)
    with pytest.raises(ValueError, match=r"reference events must be sorted"):
        compare_events([1], [9, 3], fs=360, tolerance_s=1)
    with pytest.raises(ValueError, match="NaN"):
        compare_beats([1.0, np.nan], [1], fs=360)
    with pytest.raises(ValueError, match="numeric"):
        compare_beats(["a"], [1], fs=360)
    with pytest.raises(ValueError, match=r"\(k, 2\)"):
        compare_beats([1], [1], fs=360, exclude=[1, 2, 3])
    with pytest.raises(ValueError, match="start <= stop"):
        compare_beats([1], [1], fs=360, exclude=[[5, 2]])


# ----------------------------------------------------------------------------------
# windowed rates
# ----------------------------------------------------------------------------------


def test_windowed_rate_error_constant_rates():
    fs = 100.0
    ref = np.arange(0, 320 * fs, fs).astype(np.int64)  # 60 /min
    det = np.arange(0, 320 * fs, fs / 2).astype(np.int64)  # 120 /min
    assert windowed_rate_error(det, ref, fs=fs, duration_s=320) == pytest.approx(60.0)
    assert windowed_rate_error(ref, ref, fs=fs) == 0.0
    assert windowed_rate_error(det, ref, fs=fs, window_s=10, step_s=5) == pytest.approx(60.0)


def test_windowed_rate_uses_only_intervals_inside_the_window():
    # window [0, 32): events 0, 10, 31 -> 2 intervals over 31 s; the 31->40 interval
    # straddles the edge and is not used
    ref = np.array([0, 10, 31, 40])
    det = np.array([0, 16, 31])
    err = windowed_rate_error(det, ref, fs=1, window_s=32, duration_s=32)
    assert err == pytest.approx(abs(60 * 2 / 31 - 60 * 2 / 31))
    det2 = np.array([0, 31])
    err = windowed_rate_error(det2, ref, fs=1, window_s=32, duration_s=32)
    assert err == pytest.approx(abs(60 * 1 / 31 - 60 * 2 / 31))
    # fewer than two events -> NaN rate -> window skipped -> no window left
    assert math.isnan(windowed_rate_error([5], ref, fs=1, window_s=32, duration_s=32))
    assert math.isnan(windowed_rate_error([], [], fs=1, window_s=32))


@settings(max_examples=100, deadline=None)
@given(det=st.lists(st.integers(0, 400), max_size=40).map(sorted),
       ref=st.lists(st.integers(0, 400), max_size=40).map(sorted),
       window=st.integers(5, 100), step=st.integers(1, 60))
def test_windowed_rate_equals_brute_force(det, ref, window, step):
    fs = 2.0
    got = windowed_rate_error(det, ref, fs=fs, window_s=window, step_s=step, duration_s=200)
    errs = []
    t = 0.0
    while t + window <= 200:
        rd = brute_rate(det, t * fs, (t + window) * fs, fs)
        rr = brute_rate(ref, t * fs, (t + window) * fs, fs)
        if math.isfinite(rd) and math.isfinite(rr):
            errs.append(abs(rd - rr))
        t += step
    if errs:
        assert got == pytest.approx(sum(errs) / len(errs), rel=1e-12)
    else:
        assert math.isnan(got)


def test_windowed_rate_validation():
    with pytest.raises(ValueError, match="window_s must be a positive"):
        windowed_rate_error([1, 2], [1, 2], fs=1, window_s=0)
    with pytest.raises(ValueError, match="step_s must be a positive"):
        windowed_rate_error([1, 2], [1, 2], fs=1, step_s=-1)
    with pytest.raises(ValueError, match="sorted ascending"):
        windowed_rate_error([2, 1], [1, 2], fs=1)
