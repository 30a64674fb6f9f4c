"""Tests of the evenly sampled instantaneous heart-rate series.

The reference below is a per-output-sample loop written from the documented
definitions, using exact rational arithmetic for the output instants.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from somacore.beats import FLAG_AFTER_GAP, FLAG_SEARCHBACK, FLAG_UNCERTAIN, Beats
from somacore.hr_series import HeartRate, heart_rate

# (fs, fs_out) pairs with an integer number of input samples per output sample
RATE_PAIRS = [(360.0, 4.0), (250.0, 10.0), (100.0, 4.0), (500.0, 100.0), (128.0, 2.0),
              (360.0, 0.5), (256.0, 0.25)]


def make_beats(samples, fs, n_samples, quality=None, gaps=None, kind="ecg") -> Beats:
    samples = np.asarray(samples, np.int64)
    q = np.zeros(samples.size, np.uint8) if quality is None else np.asarray(quality, np.uint8)
    g = np.zeros((0, 2), np.int64) if gaps is None else np.asarray(gaps, np.int64)
    return Beats(samples=samples, fs=fs, kind=kind, quality=q, gaps=g, n_samples=n_samples)


def ref_heart_rate(b: Beats, fs_out: float, method: str, max_gap_s: float = 2.4) -> np.ndarray:
    """Slow reference: one output instant at a time, exact instants."""
    s = [int(v) for v in b.samples]
    q = [int(v) for v in b.quality]
    fs = Fraction(b.fs)
    n_iv = max(len(s) - 1, 0)
    hr, ok, mid = [], [], []
    for i in range(n_iv):
        iv = Fraction(s[i + 1] - s[i]) / fs
        rate = 60 / iv
        good = not (q[i + 1] & FLAG_AFTER_GAP)
        good = good and not (q[i] & FLAG_UNCERTAIN) and not (q[i + 1] & FLAG_UNCERTAIN)
        # the decimal bound the user means (2.4 s), not its binary float neighbour
        good = good and 25 <= rate <= 250 and iv <= Fraction(str(max_gap_s))
        for g0, g1 in b.gaps.tolist():
            if s[i] < g1 and g0 < s[i + 1]:
                good = False
        hr.append(rate)
        ok.append(good)
        mid.append(Fraction(s[i] + s[i + 1], 2))
    n_out = math.ceil(Fraction(b.n_samples) * Fraction(fs_out) / fs)
    out = np.full(n_out, np.nan)
    for j in range(n_out):
        u = Fraction(j) * fs / Fraction(fs_out)  # instant in input samples
        if any(g0 <= u < g1 for g0, g1 in b.gaps.tolist()):
            continue
        k = None
        for i in range(n_iv):
            if s[i] <= u < s[i + 1]:
                k = i
        if k is None or not ok[k]:
            continue
        if method == "step":
            out[j] = float(hr[k])
            continue
        if u < mid[k]:
            nb = k - 1
        else:
            nb = k + 1
        if 0 <= nb < n_iv and ok[nb]:
            w = (u - mid[k]) / (mid[nb] - mid[k])
            out[j] = float(hr[k] + w * (hr[nb] - hr[k]))
        else:
            out[j] = float(hr[k])
    return out


@st.composite
def beat_sets(draw, with_flags=True):
    fs, fs_out = draw(st.sampled_from(RATE_PAIRS))
    n = draw(st.integers(0, 40))
    # mostly plausible intervals, sometimes implausible ones
    ivs = draw(st.lists(st.one_of(
        st.integers(int(0.3 * fs), int(1.6 * fs)),
        st.integers(1, int(3.5 * fs))), min_size=n, max_size=n))
    start = draw(st.integers(0, int(3 * fs)))
    samples = start + np.concatenate(([0], np.cumsum(ivs))).astype(np.int64)
    if n == 0:
        samples = samples[:draw(st.integers(0, 1))]
    n_samples = int(samples[-1] if samples.size else 0) + draw(st.integers(1, int(3 * fs)))
    quality = np.zeros(samples.size, np.uint8)
    gaps = np.zeros((0, 2), np.int64)
    if with_flags and samples.size > 3:
        flags = draw(st.lists(st.sampled_from([0, 0, 0, FLAG_SEARCHBACK, FLAG_UNCERTAIN]),
                              min_size=samples.size, max_size=samples.size))
        quality[:] = flags
        if draw(st.booleans()):  # a gap between two beats; the later one follows it
            k = draw(st.integers(1, samples.size - 1))
            lo, hi = int(samples[k - 1]) + 1, int(samples[k])
            if hi > lo:
                gaps = np.array([[lo, hi]], np.int64)
                quality[k] |= FLAG_AFTER_GAP
    return make_beats(samples, fs, n_samples, quality, gaps), fs_out


@given(data=beat_sets(), method=st.sampled_from(["step", "linear"]))
@settings(max_examples=150, deadline=None)
def test_matches_slow_reference(data, method):
    b, fs_out = data
    got = heart_rate(b, fs_out=fs_out, method=method)
    ref = ref_heart_rate(b, fs_out, method)
    np.testing.assert_array_equal(np.isnan(got.values), np.isnan(ref))
    np.testing.assert_allclose(got.values, ref, rtol=1e-12, atol=1e-9)


@given(data=beat_sets())
@settings(max_examples=80, deadline=None)
def test_step_and_linear_share_the_nan_mask(data):
    b, fs_out = data
    a = heart_rate(b, fs_out=fs_out, method="step").values
    c = heart_rate(b, fs_out=fs_out, method="linear").values
    np.testing.assert_array_equal(np.isnan(a), np.isnan(c))


@given(rates=st.sampled_from(RATE_PAIRS), period_s=st.floats(0.25, 2.3),
       n=st.integers(2, 60), start=st.integers(0, 500), tail=st.integers(1, 700),
       method=st.sampled_from(["step", "linear"]))
@settings(max_examples=120, deadline=None)
def test_constant_rr_gives_constant_rate(rates, period_s, n, start, tail, method):
    fs, fs_out = rates
    p = max(round(period_s * fs), 1)
    rate = 60.0 * fs / p
    assume(25.0 <= rate <= 250.0)
    samples = start + p * np.arange(n + 1)
    b = make_beats(samples, fs, int(samples[-1]) + tail)
    hr = heart_rate(b, fs_out=fs_out, method=method)
    u = np.arange(len(hr)) * fs / fs_out
    inside = (u >= samples[0]) & (u < samples[-1])
    np.testing.assert_array_equal(np.isfinite(hr.values), inside)
    np.testing.assert_allclose(hr.values[inside], rate, rtol=1e-12)


@given(data=beat_sets(), k=st.integers(1, 30), method=st.sampled_from(["step", "linear"]))
@settings(max_examples=100, deadline=None)
def test_time_shift_of_beats_shifts_the_series(data, k, method):
    b, fs_out = data
    d = round(k * b.fs / fs_out)  # an integer number of output samples
    shifted = Beats(samples=b.samples + d, fs=b.fs, kind=b.kind, quality=b.quality,
                    gaps=b.gaps + d, n_samples=b.n_samples + d)
    a = heart_rate(b, fs_out=fs_out, method=method).values
    c = heart_rate(shifted, fs_out=fs_out, method=method).values
    assert c.size == a.size + k
    assert np.all(np.isnan(c[:k]))  # before the (shifted) first beat
    np.testing.assert_array_equal(c[k:], a)


def test_nan_inside_gap_and_across_it():
    fs = 250.0
    samples = np.array([100, 300, 500, 700, 2700, 2900, 3100, 3300])
    q = np.zeros(8, np.uint8)
    q[4] = FLAG_AFTER_GAP
    b = make_beats(samples, fs, 3500, quality=q, gaps=[[800, 2600]])
    for method in ("step", "linear"):
        hr = heart_rate(b, fs_out=10.0, method=method)
        u = np.arange(len(hr)) * fs / 10.0
        assert np.all(np.isnan(hr.values[(u >= 700) & (u < 2700)]))  # interval across the gap
        assert np.all(np.isnan(hr.values[(u >= 800) & (u < 2600)]))  # the gap itself
        ok = ((u >= 100) & (u < 700)) | ((u >= 2700) & (u < 3300))
        np.testing.assert_allclose(hr.values[ok], 75.0)
        assert np.all(np.isnan(hr.values[~ok]))


def test_gap_is_nan_even_without_after_gap_flag():
    # defensive: an interval overlapping a gap range is invalid whatever the flags say
    b = make_beats([100, 300, 500, 700], 250.0, 1000, gaps=[[520, 560]])
    hr = heart_rate(b, fs_out=50.0, method="step")
    u = np.arange(len(hr)) * 5.0
    assert np.all(np.isnan(hr.values[(u >= 500) & (u < 700)]))
    assert np.all(np.isfinite(hr.values[(u >= 100) & (u < 500)]))


def test_uncertain_beat_invalidates_both_adjacent_intervals():
    q = np.zeros(6, np.uint8)
    q[3] = FLAG_UNCERTAIN
    b = make_beats([0, 200, 400, 600, 800, 1000], 250.0, 1200, quality=q)
    hr = heart_rate(b, fs_out=25.0, method="step")
    u = np.arange(len(hr)) * 10.0
    assert np.all(np.isnan(hr.values[(u >= 400) & (u < 800)]))
    assert np.all(np.isfinite(hr.values[(u < 400) | ((u >= 800) & (u < 1000))]))


@pytest.mark.parametrize("iv_s, finite", [(0.239, False), (0.24, True), (2.4, True),
                                          (2.404, False)])
def test_plausibility_limits(iv_s, finite):
    fs = 1000.0
    p = round(iv_s * fs)
    b = make_beats([0, p, 2 * p], fs, 2 * p + 10)
    v = heart_rate(b, fs_out=100.0, method="step").values
    assert np.isfinite(v[0]) == finite


def test_max_gap_s_leaves_long_pauses_undefined():
    b = make_beats([0, 200, 400, 900, 1100], 250.0, 1200)  # a 2 s pause
    v = heart_rate(b, fs_out=10.0, method="linear", max_gap_s=1.5).values
    u = np.arange(v.size) * 25.0
    assert np.all(np.isnan(v[(u >= 400) & (u < 900)]))
    assert np.all(np.isfinite(v[(u < 400)]))
    v2 = heart_rate(b, fs_out=10.0, method="linear").values  # default bridges 2 s (30 bpm)
    assert np.all(np.isfinite(v2[(u >= 400) & (u < 900)]))


def test_linear_is_exact_at_midpoints_and_between():
    # intervals 0.8 s and 1.0 s at 100 Hz: 75 bpm at t = 0.4 s, 60 bpm at t = 1.3 s
    b = make_beats([0, 80, 180], 100.0, 200)
    v = heart_rate(b, fs_out=100.0, method="linear").values
    assert v[40] == pytest.approx(75.0)
    assert v[130] == pytest.approx(60.0)
    assert v[85] == pytest.approx(75.0 + (85 - 40) / 90 * (60.0 - 75.0))
    assert v[10] == pytest.approx(75.0) and v[150] == pytest.approx(60.0)  # held
    s = heart_rate(b, fs_out=100.0, method="step").values
    assert s[79] == pytest.approx(75.0) and s[80] == pytest.approx(60.0)


def test_series_layout_and_container():
    b = make_beats([36, 324, 612], 360.0, 1000, kind="ppg")
    hr = heart_rate(b, fs_out=4.0)
    assert isinstance(hr, HeartRate)
    assert len(hr) == math.ceil(1000 * 4 / 360) == 12
    np.testing.assert_array_equal(hr.times, np.arange(12) / 4.0)
    assert hr.t0 == 0.0 and hr.fs == 4.0 and hr.kind == "ppg" and hr.method == "linear"
    with pytest.raises(ValueError):
        hr.values[0] = 1.0
    assert "HeartRate" in repr(hr)


@pytest.mark.parametrize("n", [0, 1])
def test_fewer_than_two_beats_gives_all_nan(n):
    b = make_beats([100] * n, 100.0, 1000)
    hr = heart_rate(b, fs_out=2.0)
    assert len(hr) == 20 and np.all(np.isnan(hr.values))


@pytest.mark.parametrize("kwargs, match", [
    ({"fs_out": 0.05}, "outside"), ({"fs_out": 101.0}, "outside"),
    ({"fs_out": float("nan")}, "outside"), ({"fs_out": "4"}, "number"),
    ({"fs_out": True}, "number"),
    ({"fs_out": 4.0, "method": "cubic"}, "method"),
    ({"fs_out": 4.0, "max_gap_s": 0.0}, "max_gap_s"),
])
def test_invalid_options(kwargs, match):
    b = make_beats([0, 100, 200], 100.0, 300)
    with pytest.raises(ValueError, match=match):
        heart_rate(b, **kwargs)


def test_fs_out_is_keyword_only_and_required():
    b = make_beats([0, 100, 200], 100.0, 300)
    with pytest.raises(TypeError):
        heart_rate(b)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        heart_rate(b, 4.0)  # type: ignore[misc]


def test_invalid_beats():
    with pytest.raises(TypeError, match="Beats"):
        heart_rate(np.array([1, 2, 3]), fs_out=4.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="n_samples"):
        heart_rate(make_beats([0, 100], 100.0, 0), fs_out=4.0)
    with pytest.raises(ValueError, match="n_samples"):
        heart_rate(make_beats([0, 100], 100.0, 100), fs_out=4.0)
    with pytest.raises(ValueError, match="increasing"):
        heart_rate(make_beats([0, 100, 100], 100.0, 300), fs_out=4.0)
