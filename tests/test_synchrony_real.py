"""Synchrony on real dyads, cross-checked against rMEA, NeuroKit2 and multiSyncPy semantics.

Data (outside the repository, ../shared/data/dyad): rMEA's 20 patient-therapist
motion-energy interviews (25 Hz) and two people's raw ECG from Movesense
sensors (200 Hz). Short excerpts keep the tests fast.
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

from somacore._reference import synchrony as ref
from somacore.synchrony import (
    align_series,
    analytic_signal,
    group_synchrony,
    pseudo_pairs,
    surrogate_test,
    windowed_xcorr,
)

DYAD = Path(__file__).resolve().parents[2] / "shared" / "data" / "dyad"
TOL = 1e-9


@lru_cache(maxsize=32)
def mea(name: str) -> np.ndarray:
    """(2, 15000) motion energy: row 0 patient, row 1 therapist, 25 Hz."""
    folder = "normal" if name.startswith("2") else "dropout"
    a = np.loadtxt(DYAD / "rmea_psychotherapy_mea" / folder / f"{name}.txt", skiprows=1)
    return np.ascontiguousarray(a.T)


def meaccf_py(s1, s2, lag_samp: int, win: int, inc: int) -> np.ndarray:
    """Transcription of rMEA 1.3 ``MEAccf.MEA`` (r2Z=FALSE, ABS=FALSE): windows x lags."""
    n_win = math.ceil((s1.size - win - lag_samp + 1) / inc)
    out = np.full((n_win, 2 * lag_samp + 1), np.nan)
    for w in range(n_win):
        a = w * inc
        xw, yw = s1[a:a + win + lag_samp], s2[a:a + win + lag_samp]
        for m, lag in enumerate(range(-lag_samp, lag_samp + 1)):
            L = abs(lag)
            xr, yr = slice(0, win), slice(L, win + L)
            if lag < 0:
                xr, yr = yr, xr
            x, y = xw[xr], yw[yr]
            if np.sum(x != y) < 2:
                continue
            out[w, m] = np.corrcoef(x, y)[0, 1]
    return out


def test_rmea_meaccf_semantics():
    """Our r cube, indexed the rMEA way, equals MEAccf's (lag > 0: therapist follows)."""
    fs, lag_s, win_s, inc_s = 25, 5, 30, 10
    for name in ("200_01", "105_01"):
        x = mea(name)[:, 3000:5250]  # 90 s excerpt
        M, W, inc = lag_s * fs, win_s * fs, inc_s * fs
        want = meaccf_py(x[0], x[1], M, W, inc)
        res = windowed_xcorr(x, fs=fs, window_s=win_s, step_s=1 / fs, max_lag_s=lag_s,
                             return_r=True, peak="max")
        starts = np.round(res.window_start_s * fs).astype(int)
        pos = {a: k for k, a in enumerate(starts)}
        compared = 0
        for w in range(want.shape[0]):
            a = w * inc
            if a < M:  # our first kept window starts at M (complete lag row)
                continue
            for m, lag in enumerate(range(-M, M + 1)):
                k = pos[a + max(0, -lag)]  # rMEA anchors a negative lag on person 2
                assert abs(res.r[0, k, m] - want[w, m]) < TOL
                compared += 1
        assert compared > 1000
        # with rMEA's own windows (step = inc) the lag >= 0 half is identical, as are
        # rMEA's lag_zero and s1_lead (mean over positive lags) summaries
        res10 = windowed_xcorr(x, fs=fs, window_s=win_s, step_s=inc_s, max_lag_s=lag_s,
                               return_r=True)
        for k, t in enumerate(res10.window_start_s):
            w = round(t * fs) // inc
            np.testing.assert_allclose(res10.r[0, k, M:], want[w, M:], rtol=0, atol=TOL)
            assert abs(res10.r[0, k, M + 1:].mean() - want[w, M + 1:].mean()) < TOL


def test_kernel_vs_corrcoef_on_real_mea():
    x = mea("201_01")[:, 6000:8000]  # 80 s, 25 Hz
    res = windowed_xcorr(x, fs=25.0, window_s=30, step_s=2, max_lag_s=5, return_r=True)
    r_ref, _ = ref.xcorr_cube(x, 750, 50, 125, [(0, 1)])
    np.testing.assert_array_equal(np.isnan(res.r), np.isnan(r_ref))
    assert np.nanmax(np.abs(res.r - r_ref)) < TOL


def test_neurokit2_signal_synchrony():
    nk = pytest.importorskip("neurokit2")
    x = mea("202_01")[:, 1000:2000].astype(float)
    w = 50
    nk_corr = nk.signal_synchrony(x[0], x[1], method="correlation", window_size=w)
    ours = windowed_xcorr(x, fs=25.0, window_s=w / 25, step_s=1 / 25, max_lag_s=0.0,
                          return_r=True).r[0, :, 0]
    # NeuroKit: rolling (right-aligned) corr shifted back by w/2; edges filled with a mean
    mid = nk_corr[w - 1 - w // 2: w - 1 - w // 2 + ours.size]
    assert ours.size == x.shape[1] - w + 1
    ok = np.isfinite(ours)  # NeuroKit fills undefined (constant) windows with the mean
    assert ok.mean() > 0.9
    assert np.max(np.abs(mid[ok] - ours[ok])) < 1e-8
    nk_h = nk.signal_synchrony(x[0], x[1], method="hilbert")
    ph = np.angle(analytic_signal(x, fs=25.0))
    assert np.max(np.abs(nk_h - (1 - np.sin(np.abs(ph[0] - ph[1]) / 2)))) < TOL


def test_multisyncpy_rho_and_kuramoto():
    msp = pytest.importorskip("multiSyncPy.synchrony_metrics")
    # four real motion-energy series (patients of four interviews) as a "group"
    x = np.vstack([mea(n)[0, 3000:4500] for n in ("200_01", "201_01", "202_01", "203_01")])
    g = group_synchrony(x, fs=25.0, window_s=20, step_s=5, band=(0.2, 0.6))
    ph = np.angle(analytic_signal(x, fs=25.0, band=(0.2, 0.6)))
    rho_t, rho = msp.rho(ph)
    assert np.max(np.abs(g.rho_group_t - rho_t)) < TOL
    assert abs(g.rho_group - rho) < TOL
    win = msp.apply_windowed(ph, lambda d: msp.rho(d)[1], 500, 125)
    assert np.max(np.abs(g.rho_window - win)) < TOL
    np.testing.assert_allclose(g.R, np.abs(np.exp(1j * ph).mean(axis=0)), rtol=0, atol=TOL)


def test_pseudo_synchrony_across_rmea_dyads():
    dyads = [mea(n)[:, :3000] for n in ("200_01", "201_01", "202_01", "203_01")]

    def measure(v):
        return windowed_xcorr(v, fs=25.0, window_s=30, step_s=10, max_lag_s=5,
                              peak="max").summary().mean_peak_r[0]

    st = pseudo_pairs(dyads, measure)
    assert st.null.shape == (12,)
    assert 0 < st.p_value <= 1 and np.isfinite(st.effect)


def _ecg(sensor: str):
    path = DYAD / "movesense_dyad_ecg" / sensor / "ECG-2025_01_25-16_42_59.csv"
    a = np.loadtxt(path, delimiter=",", skiprows=2)
    t, v = a[:, 0], a[:, 1]
    # longest stretch without a timestamp jump (the recording pause splits the file)
    cut = np.flatnonzero(np.diff(t) > 0.05) + 1
    bounds = np.r_[0, cut, t.size]
    k = int(np.argmax(np.diff(bounds)))
    s = slice(bounds[k], bounds[k + 1])
    return t[s], v[s]


def test_movesense_end_to_end():
    """Raw ECG of two people -> beats -> heart rate -> aligned -> WCC -> surrogate test."""
    from somacore import detect_beats, heart_rate

    series, stamps = [], []
    for sensor in ("234130000540", "234130000594"):
        t, v = _ecg(sensor)
        beats = detect_beats(v.astype(np.float64), fs=200.0, kind="ecg")
        rr = np.diff(beats.samples) / 200.0
        # plausible resting rhythm (the sensors' own RR streams: medians 680 / 552 ms
        # over the whole session, README)
        assert 0.45 < np.median(rr) < 0.9
        assert np.mean((rr > 0.3) & (rr < 1.5)) > 0.95
        hr = heart_rate(beats, fs_out=4.0)
        series.append(hr.values)
        stamps.append(t[0] + np.arange(hr.values.size) / 4.0)
    al = align_series(series, fs=4.0, timestamps=stamps)
    assert al.values.shape[1] > 4 * 200  # > 200 s in common
    res = windowed_xcorr(al.values, fs=4.0, window_s=30, step_s=1, max_lag_s=5)
    assert res.peak_r.shape[0] == 1 and res.peak_r.shape[1] > 100
    assert np.isfinite(res.peak_r).mean() > 0.5
    # the engine on real heart rate equals the corrcoef reference
    v = np.array(al.values)
    cut = v[:, :480]
    full = windowed_xcorr(cut, fs=4.0, window_s=30, step_s=1, max_lag_s=5, return_r=True)
    r_ref, _ = ref.xcorr_cube(cut, 120, 4, 20, [(0, 1)])
    np.testing.assert_array_equal(np.isnan(full.r), np.isnan(r_ref))
    assert np.nanmax(np.abs(full.r - r_ref)) < TOL

    def measure(x):
        return windowed_xcorr(x, fs=4.0, window_s=30, step_s=1,
                              max_lag_s=5).summary().mean_peak_r

    st = surrogate_test(v, measure, fs=4.0, n=19, seed=0)
    assert st.null.shape == (19, 1)
    assert 1 / 20 <= st.p_value[0] <= 1 and np.isfinite(st.effect[0])
