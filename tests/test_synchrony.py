"""Windowed lagged cross-correlation: kernel vs the np.corrcoef reference, edge cases, stream."""

from __future__ import annotations

import numpy as np
import pytest

from somacore._reference import synchrony as ref
from somacore.stream.synchrony import SynchronyMonitor
from somacore.synchrony import (
    FLAG_CONST_I,
    FLAG_CONST_J,
    FLAG_GAP,
    FLAG_NO_PEAK,
    windowed_xcorr,
)
from somacore.synchrony.xcorr import _plan

TOL = 1e-9


def _walks(p: int, n: int, seed: int, offset: float = 70.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((p, n)).cumsum(axis=1) + offset


def _design(fs, window_s, step_s, max_lag_s):
    return round(window_s * fs), round(step_s * fs), round(max_lag_s * fs)


def _peaks_ref(r, M, span, mode):
    out = np.full(r.shape[:2], -1)
    for p in range(r.shape[0]):
        for k in range(r.shape[1]):
            out[p, k] = ref.peak_max(r[p, k], M) if mode == "max" else \
                ref.peak_boker(r[p, k], M, span)
    return out


@pytest.mark.parametrize(
    "fs,window_s,step_s,max_lag_s",
    [
        (10.0, 10.0, 1.0, 3.0),    # blocked plan: block = step
        (10.0, 10.0, 0.3, 2.0),    # blocked plan: block = gcd(100, 3) = 1
        (10.0, 7.3, 1.1, 0.5),     # per-window plan (gcd 1, large step)
        (4.0, 30.0, 1.0, 5.0),     # heart rate at 4 Hz, typical design
        (10.0, 5.0, 2.0, 0.0),     # lag 0 only
        (1.0, 45.0, 5.0, 10.0),    # lags in halves with an odd FFT length (5 + 10)
    ],
)
def test_matches_corrcoef_reference(fs, window_s, step_s, max_lag_s):
    x = _walks(3, 400, seed=int(fs * window_s))
    x[1, 4:] += 0.7 * x[0, :-4]  # person 1 follows person 0 by 4 samples
    W, S, M = _design(fs, window_s, step_s, max_lag_s)
    pairs = [(0, 1), (2, 1)]
    r_ref, starts = ref.xcorr_cube(x, W, S, M, pairs)
    for peak in ("max", "boker"):
        res = windowed_xcorr(x, fs=fs, window_s=window_s, step_s=step_s, max_lag_s=max_lag_s,
                             pairs=pairs, peak=peak, return_r=True)
        assert res.r.shape == r_ref.shape
        np.testing.assert_array_equal(np.isnan(res.r), np.isnan(r_ref))
        assert np.nanmax(np.abs(res.r - r_ref)) < TOL
        np.testing.assert_allclose(res.window_start_s, starts / fs, rtol=0, atol=1e-12)
        span = max(1, round(0.1 * M))
        want = _peaks_ref(r_ref, M, span, "max" if M == 0 else peak)
        got = np.where(np.isnan(res.peak_lag_s), -1 - M,
                       np.round(res.peak_lag_s * fs)).astype(int) + M
        np.testing.assert_array_equal(got, want)
        ok = want >= 0
        idx = np.where(ok, want, 0)
        pr = np.take_along_axis(r_ref, idx[..., None], axis=2)[..., 0]
        if ok.any():
            assert np.max(np.abs(res.peak_r[ok] - pr[ok])) < TOL
        assert np.all(np.isnan(res.peak_r[~ok]))
        # the default run keeps no cube and gives the same peaks
        res2 = windowed_xcorr(x, fs=fs, window_s=window_s, step_s=step_s, max_lag_s=max_lag_s,
                              pairs=pairs, peak=peak)
        assert res2.r is None
        np.testing.assert_array_equal(res2.peak_r, res.peak_r)


def test_half_lag_plan_with_odd_fft_length():
    # the packed inverse FFT of the two lag halves has no Nyquist bin at odd length
    p = _plan(400, 45, 5, 10, 3, 2)
    assert p.blocked and p.half and p.nfft % 2 == 1


def test_both_plans_agree():
    x = _walks(2, 1200, seed=3)
    W, S, M = 400, 20, 60
    blocked = _plan(1200, W, S, M, 2, 1)
    assert blocked.blocked
    res = windowed_xcorr(x, fs=20.0, window_s=W / 20, step_s=S / 20, max_lag_s=M / 20,
                         return_r=True)
    r_ref, _ = ref.xcorr_cube(x, W, S, M, [(0, 1)])
    assert np.nanmax(np.abs(res.r - r_ref)) < TOL


def test_large_offset_and_scale_precision():
    # heart rate around 70 bpm with a small variance: centring keeps 1e-9
    rng = np.random.default_rng(5)
    x = 1e4 + 1e-3 * rng.standard_normal((2, 400)).cumsum(axis=1)
    res = windowed_xcorr(x, fs=4.0, window_s=30, step_s=1, max_lag_s=5, return_r=True)
    r_ref, _ = ref.xcorr_cube(x, 120, 4, 20, [(0, 1)])
    assert np.nanmax(np.abs(res.r - r_ref)) < TOL


def test_positive_lag_means_j_follows_i():
    rng = np.random.default_rng(7)
    fs = 10.0
    base = np.convolve(rng.standard_normal(3000), np.ones(10) / 10, mode="same")
    d = 12  # samples
    x = np.vstack([base[d:], base[:-d]])  # x[1, t] = base[t] = x[0, t - d]: 1 follows 0
    res = windowed_xcorr(x, fs=fs, window_s=20, step_s=2, max_lag_s=3, peak="max")
    np.testing.assert_allclose(res.peak_lag_s, d / fs, atol=1e-12)
    assert np.all(res.peak_r > 0.999)
    s = res.summary()
    assert s.share_i_leads[0] == 1.0 and s.share_j_leads[0] == 0.0
    np.testing.assert_allclose(s.mean_abs_lag_s, d / fs)
    # swapping the people flips the sign
    res2 = windowed_xcorr(x[::-1], fs=fs, window_s=20, step_s=2, max_lag_s=3, peak="max")
    np.testing.assert_allclose(res2.peak_lag_s, -d / fs, atol=1e-12)
    assert res2.summary().share_j_leads[0] == 1.0


def test_summary_by_hand():
    x = _walks(3, 800, seed=11)
    res = windowed_xcorr(x, fs=5.0, window_s=20, step_s=2, max_lag_s=4)
    s = res.summary()
    for p in range(3):
        pr, pl = res.peak_r[p], res.peak_lag_s[p]
        ok = np.isfinite(pr)
        assert s.n_windows[p] == ok.sum()
        np.testing.assert_allclose(s.mean_peak_r[p], pr[ok].mean())
        np.testing.assert_allclose(s.mean_abs_lag_s[p], np.abs(pl[ok]).mean())
        np.testing.assert_allclose(s.share_i_leads[p], (pl[ok] > 0).mean())
        np.testing.assert_allclose(s.share_j_leads[p], (pl[ok] < 0).mean())
        if (pl[ok] > 0).any():
            np.testing.assert_allclose(s.strength_i_leads[p], pr[ok][pl[ok] > 0].mean())
    assert not res.peak_r.flags.writeable


def test_two_arrays_and_threads_equal():
    x = _walks(4, 900, seed=2)
    a = windowed_xcorr(x[0], x[1], fs=4.0, window_s=30, step_s=1, max_lag_s=5)
    b = windowed_xcorr(x[:2], fs=4.0, window_s=30, step_s=1, max_lag_s=5)
    np.testing.assert_array_equal(a.peak_r, b.peak_r)
    c = windowed_xcorr(x, fs=4.0, window_s=30, step_s=1, max_lag_s=5, n_threads=1)
    d = windowed_xcorr(x, fs=4.0, window_s=30, step_s=1, max_lag_s=5, n_threads=3)
    np.testing.assert_array_equal(c.peak_r, d.peak_r)
    np.testing.assert_array_equal(c.peak_lag_s, d.peak_lag_s)
    assert c.pairs.shape == (6, 2)


def test_constant_windows_are_nan_with_reason():
    x = _walks(2, 600, seed=4)
    x[0, 100:260] = 3.0       # person 0 flat for 160 samples (> window of 120)
    x[1, 400:540] = -1.0      # person 1 flat
    res = windowed_xcorr(x, fs=4.0, window_s=30, step_s=1, max_lag_s=5, return_r=True)
    r_ref, starts = ref.xcorr_cube(x, 120, 4, 20, [(0, 1)])
    np.testing.assert_array_equal(np.isnan(res.r), np.isnan(r_ref))
    assert np.nanmax(np.abs(res.r - r_ref)) < TOL
    ci = (starts >= 100) & (starts + 120 <= 260)
    assert ci.any()
    assert np.all(res.flags[0, ci] & FLAG_CONST_I)
    assert np.all(np.isnan(res.r[0, ci]))
    assert np.any(res.flags[0] & FLAG_CONST_J)
    assert np.all(np.isnan(res.peak_r[0, ci]))
    # elsewhere the values are real numbers, not fake zeros
    assert np.isfinite(res.peak_r[0, :5]).all() or (res.flags[0, :5] & FLAG_NO_PEAK).any()


def test_nan_gaps_are_nan_with_reason():
    x = _walks(2, 600, seed=6)
    x[1, 300:303] = np.nan
    res = windowed_xcorr(x, fs=4.0, window_s=30, step_s=1, max_lag_s=5, return_r=True)
    r_ref, starts = ref.xcorr_cube(x, 120, 4, 20, [(0, 1)])
    np.testing.assert_array_equal(np.isnan(res.r), np.isnan(r_ref))
    assert np.nanmax(np.abs(res.r - r_ref)) < TOL
    touched = (starts - 20 <= 302) & (starts + 120 + 20 > 300)
    assert np.all(res.flags[0, touched] & FLAG_GAP)
    assert not np.any(res.flags[0, ~touched] & FLAG_GAP)
    assert np.isfinite(res.r[0, ~touched]).all()


def test_no_peak_flag():
    # monotone r over lags: no interior local maximum
    t = np.arange(400, dtype=float)
    x = np.vstack([np.sin(t / 200), np.sin(t / 200)])
    res = windowed_xcorr(x, fs=1.0, window_s=40, step_s=10, max_lag_s=5, peak="boker")
    assert np.all(np.isfinite(res.peak_r) | (res.flags[0] & FLAG_NO_PEAK).astype(bool))


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(x=np.zeros((1, 100))), "at least 2"),
        (dict(x=[np.zeros(100), np.zeros(90)]), "unequal lengths"),
        (dict(max_lag_s=30.0), "not shorter than"),
        (dict(window_s=195.0, max_lag_s=5.0), "too short"),
        (dict(fs=None), "fs is required"),
        (dict(step_s=0.0), "positive"),
        (dict(pairs=[(0, 0)]), "two different"),
        (dict(pairs=[(0, 5)]), "outside"),
        (dict(peak="best"), "peak must be"),
        (dict(peak_span_s=5.0), "peak_span_s"),
        (dict(x=np.zeros((2, 10, 3))), "n_people, n_samples"),
        (dict(x=np.array([["a", "b"], ["c", "d"]])), "numeric"),
    ],
)
def test_bad_input_errors(kwargs, match):
    args = dict(x=_walks(2, 200, seed=1), fs=1.0, window_s=30.0, step_s=1.0, max_lag_s=5.0)
    args.update(kwargs)
    x = args.pop("x")
    with pytest.raises(ValueError, match=match):
        windowed_xcorr(x, **args)


@pytest.mark.parametrize("chunks", ["random", "one"])
def test_stream_equals_batch(chunks):
    x = _walks(3, 1500, seed=9)
    x[2, 700:705] = np.nan
    kw = dict(fs=4.0, window_s=30, step_s=1, max_lag_s=5)
    b = windowed_xcorr(x, **kw)
    mon = SynchronyMonitor(3, **kw)
    rng = np.random.default_rng(0)
    got = []
    i = 0
    while i < x.shape[1]:
        n = x.shape[1] if chunks == "one" else int(rng.integers(1, 80))
        r = mon.update(x[:, i:i + n])
        i += n
        got.append(r)
    pr = np.concatenate([g.peak_r for g in got], axis=1)
    pl = np.concatenate([g.peak_lag_s for g in got], axis=1)
    fl = np.concatenate([g.flags for g in got], axis=1)
    ws = np.concatenate([g.window_start_s for g in got])
    np.testing.assert_allclose(ws, b.window_start_s, atol=1e-12)
    np.testing.assert_array_equal(np.isnan(pr), np.isnan(b.peak_r))
    assert np.nanmax(np.abs(pr - b.peak_r)) < TOL
    np.testing.assert_array_equal(pl, b.peak_lag_s)
    np.testing.assert_array_equal(fl, b.flags)
    assert mon.n_samples == x.shape[1]


def test_stream_bad_chunk():
    mon = SynchronyMonitor(2, fs=4.0, window_s=30, step_s=1, max_lag_s=5)
    with pytest.raises(ValueError, match="shape"):
        mon.update(np.zeros((3, 10)))
    assert mon.update(np.zeros((2, 10))).peak_r.shape == (1, 0)


@pytest.mark.parametrize("K, g", [(1, 8), (7, 10), (11, 256), (6, 256)])
def test_segment_spectra_slide_equals_fft_of_each_segment(K, g):
    # the partner's lag-segment spectra (K blocks) slid from block spectra (with a
    # direct sum every `refresh` blocks) equal one FFT per segment, over many blocks
    from somacore._core._xcorr import SegmentSpectra

    from somacore.synchrony.xcorr import _fast_len

    rng = np.random.default_rng(K * 1000 + g)
    nb = 150
    x = rng.standard_normal((nb + K - 1) * g) * 50.0
    nfft = _fast_len(g * K)
    blocks = x.reshape(nb + K - 1, g)
    E = np.fft.rfft(blocks, n=nfft, axis=-1)
    segs = np.lib.stride_tricks.sliding_window_view(x, g * K)[::g][:nb]
    want = np.fft.rfft(segs, n=nfft, axis=-1)
    out = np.empty((nb, nfft // 2 + 1), np.complex128)
    SegmentSpectra(K, g, nfft).run(E.view(np.float64), out.view(np.float64), 32)
    assert np.max(np.abs(out - want)) < 1e-9 * np.max(np.abs(want))


def test_lazy_peak_search_equals_full_row():
    # without return_r the Boker peak is searched while r is formed outward from
    # lag 0 in slices; the peaks must be those of the full rows (reference picker),
    # for rows whose peak lies near lag 0, far out on either side, or nowhere
    M = 1200
    span = max(1, round(0.1 * M))
    far = []
    for smooth, c in ((1, 0.5), (25, 0.5), (200, 0.5), (400, 5.0)):
        rng = np.random.default_rng(smooth)
        n = 6000
        k = np.ones(smooth) / smooth
        x = np.vstack([np.convolve(rng.standard_normal(n + 2000), k, "valid")[:n + 1000]
                       for _ in range(4)])
        x[1, 700:] += c * x[0, :-700]     # person 1 follows 0 by 700 samples
        x[2, :-900] += c * x[0, 900:]     # person 2 leads 0 by 900 samples
        x[3, 1600:] += c * x[0, :-1600]   # person 3 follows 0 beyond the lag range
        t = np.arange(n + 1000) / 2000.0
        # two slow sines 1.5 rad apart: r is monotone over the lags, no peak at all
        x = np.vstack([x, np.sin(t), np.sin(t - 1.5)])[:, 1000:]
        kw = dict(fs=100.0, window_s=20, step_s=1.3, max_lag_s=12)
        full = windowed_xcorr(x, **kw, return_r=True)
        lazy = windowed_xcorr(x, **kw)
        want = _peaks_ref(full.r, M, span, "boker")
        got = np.where(np.isnan(lazy.peak_lag_s), -1 - M,
                       np.round(lazy.peak_lag_s * 100.0)).astype(int) + M
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(lazy.peak_r, full.peak_r)
        np.testing.assert_array_equal(lazy.flags, full.flags)
        far += [*(want[want >= 0] - M), 0 if (want >= 0).all() else None]
    # the rows had peaks beyond the first slice on both sides, and rows without one
    lags = [v for v in far if v is not None]
    assert max(lags) > 256 + span and min(lags) < -(256 + span)
    assert None in far
