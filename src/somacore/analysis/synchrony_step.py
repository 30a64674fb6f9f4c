"""The one place where the session analysis calls the synchrony engine.

:func:`pair_xcorr` runs :func:`somacore.synchrony.windowed_xcorr` on two
series on one time base and a circular-shift surrogate test
(:func:`somacore.synchrony.surrogate_test`) that yields a per-pair threshold
on the window peak r. Keeping the calls here means a change in the synchrony
API is adjusted in one file.

When the compiled cross-correlation kernel is not available in this build
(``somacore._core._xcorr`` missing), a vectorised numpy implementation of the
same definition (see :mod:`somacore.synchrony.xcorr`: Pearson r per window and
lag, windows kept only where every lag stays inside the record, Boker or max
peak picking) is used instead, and the result says so (``engine``).

Threshold. Each surrogate rotates the second person's series by a random
offset of at least ``min_shift_s`` (and at most the record minus that), which
keeps both people's own dynamics and breaks their timing. The window peak r of
all surrogates are pooled; the threshold is their ``quantile`` (0.95 by
default). A window whose peak r exceeds it is *significant*. The session-level
p-value compares the observed mean peak r with the surrogates' means.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["PairSync", "pair_xcorr"]


@dataclass(frozen=True, eq=False)
class PairSync:
    """Windowed lagged cross-correlation of one pair and its surrogate threshold.

    Attributes
    ----------
    window_start_s : ndarray, shape (n_windows,)
        Window starts in seconds from the start of the common time base.
    peak_r, peak_lag_s : ndarray, shape (n_windows,)
        Peak r and its lag; positive lag: the second person follows the first.
    flags : ndarray of uint8
        Why a window is undefined (synchrony ``FLAG_*`` bits).
    r : ndarray, shape (n_windows, n_lags)
        The full r(window, lag) matrix (for the heat map).
    lags_s : ndarray, shape (n_lags,)
    threshold : float
        Surrogate threshold on the peak r (NaN without surrogates).
    p_value : float
        Surrogate p-value of the mean peak r (NaN without surrogates).
    null_mean_peak_r : float
        Mean over surrogates of their mean peak r.
    window_s, step_s, max_lag_s : float
        The design actually used (whole samples).
    engine : str
        ``"somacore.synchrony"`` or ``"numpy-fallback"``.
    """

    window_start_s: np.ndarray
    peak_r: np.ndarray
    peak_lag_s: np.ndarray
    flags: np.ndarray
    r: np.ndarray
    lags_s: np.ndarray
    threshold: float
    p_value: float
    null_mean_peak_r: float
    window_s: float
    step_s: float
    max_lag_s: float
    engine: str

    @property
    def significant(self) -> np.ndarray:
        """Windows whose peak r exceeds the surrogate threshold."""
        with np.errstate(invalid="ignore"):
            return np.isfinite(self.peak_r) & (self.peak_r > self.threshold)


# ------------------------------------------------------------------ numpy fallback
def _np_xcorr(X: np.ndarray, *, fs: float, window_s: float, step_s: float, max_lag_s: float,
              peak: str, return_r: bool):
    """Same definition as ``windowed_xcorr`` for one pair (rows 0 and 1 of ``X``)."""
    x, y = X[0], X[1]
    N = x.size
    W, S, M = round(window_s * fs), max(1, round(step_s * fs)), round(max_lag_s * fs)
    if W < 3 or M >= W:
        raise ValueError(f"window_s={window_s:g} s / max_lag_s={max_lag_s:g} s give {W} / {M} "
                         "samples: need at least 3 samples per window and lags below it.")
    kmin, kmax = -(-M // S), (N - W - M) // S
    if kmax < kmin:
        raise ValueError(f"the record ({N / fs:.1f} s) is too short for one window of "
                         f"{window_s:g} s with lags of ±{max_lag_s:g} s: at least "
                         f"{(W + 2 * M) / fs:.1f} s are needed. Shorten synchrony.window_s "
                         "or synchrony.max_lag_s.")
    starts = np.arange(kmin, kmax + 1) * S
    xw = np.lib.stride_tricks.sliding_window_view(x, W)[starts]       # (nw, W)
    lags = np.arange(-M, M + 1)
    r = np.full((starts.size, lags.size), np.nan)
    xm = xw - xw.mean(axis=1, keepdims=True)
    xs = np.sqrt((xm * xm).sum(axis=1))
    yv = np.lib.stride_tricks.sliding_window_view(y, W)
    for li, L in enumerate(lags.tolist()):
        yw = yv[starts + L]
        ym = yw - yw.mean(axis=1, keepdims=True)
        ys = np.sqrt((ym * ym).sum(axis=1))
        with np.errstate(invalid="ignore", divide="ignore"):
            r[:, li] = (xm * ym).sum(axis=1) / (xs * ys)
    r[~np.isfinite(r)] = np.nan
    flags = np.where(np.isnan(r).any(axis=1), 1, 0).astype(np.uint8)
    complete = ~np.isnan(r).any(axis=1)
    pk = np.full(starts.size, -1)
    if complete.any():
        rc = r[complete]
        if peak == "max" or M == 0:
            best = rc.max(axis=1, keepdims=True)
            cand = np.where(rc == best, np.abs(lags - 0)[None, :], np.iinfo(np.int64).max)
            pk[complete] = np.argmin(cand, axis=1)
        else:
            span = max(1, round(0.1 * M))
            nl = lags.size
            pad = np.pad(rc, ((0, 0), (span, span)), constant_values=-np.inf)
            locmax = np.lib.stride_tricks.sliding_window_view(pad, 2 * span + 1, axis=1).max(-1)
            ok = np.zeros_like(rc, dtype=bool)
            m = np.arange(span, nl - span)
            ok[:, m] = ((rc[:, m] > rc[:, m - 1]) & (rc[:, m] >= rc[:, m + 1])
                        & (rc[:, m] >= locmax[:, m]))
            dist = np.where(ok, np.abs(np.arange(nl) - M)[None, :], nl + 1)
            dmin = dist.min(axis=1)
            # ties in distance: the larger r (then the positive lag), as the reference does
            score = np.where(dist == dmin[:, None], rc + 1e-12 * np.arange(nl), -np.inf)
            choice = np.argmax(score, axis=1)
            choice[dmin > nl] = -1
            pk[complete] = choice
            flags[complete & (pk < 0)] |= 8
    has = pk >= 0
    peak_r = np.full(starts.size, np.nan)
    peak_lag = np.full(starts.size, np.nan)
    peak_r[has] = r[has, pk[has]]
    peak_lag[has] = lags[pk[has]] / fs
    return (starts / fs, peak_r, peak_lag, flags, r if return_r else None, lags / fs,
            W / fs, S / fs, M / fs)


def _xcorr(X: np.ndarray, *, fs: float, window_s: float, step_s: float, max_lag_s: float,
           peak: str, return_r: bool, engine: list[str]):
    """windowed_xcorr for one pair, falling back to numpy when the kernel is missing."""
    if engine[0] == "somacore.synchrony":
        try:
            from somacore.synchrony import windowed_xcorr

            res = windowed_xcorr(X, fs=fs, window_s=window_s, step_s=step_s,
                                 max_lag_s=max_lag_s, peak=peak, return_r=return_r)
            return (res.window_start_s, res.peak_r[0], res.peak_lag_s[0], res.flags[0],
                    None if res.r is None else res.r[0], res.lags_s, res.window_s,
                    res.step_s, res.max_lag_s)
        except ImportError:
            # the compiled _xcorr kernel is not part of this build yet
            engine[0] = "numpy-fallback"
    return _np_xcorr(X, fs=fs, window_s=window_s, step_s=step_s, max_lag_s=max_lag_s,
                     peak=peak, return_r=return_r)


def pair_xcorr(a: np.ndarray, b: np.ndarray, *, fs: float, window_s: float, step_s: float,
               max_lag_s: float, peak: str = "boker", n_surrogates: int = 100,
               quantile: float = 0.95, min_shift_s: float = 30.0, seed: int = 0) -> PairSync:
    """Windowed lagged cross-correlation of ``a`` and ``b`` plus a surrogate threshold.

    Parameters
    ----------
    a, b : ndarray, shape (n,)
        Two series on one time base at ``fs`` Hz (NaN where undefined).
    fs : float
        Sampling rate in Hz.
    window_s, step_s, max_lag_s, peak
        As in :func:`somacore.synchrony.windowed_xcorr`.
    n_surrogates : int
        Circular-shift surrogates (0: no threshold).
    quantile : float
        Quantile of the pooled surrogate window peak r used as the threshold.
    min_shift_s : float
        Smallest circular shift; reduced to a tenth of the record when the
        record is too short for it.
    seed : int
        Random seed (reproducible thresholds).

    Returns
    -------
    PairSync
    """
    X = np.ascontiguousarray(np.stack([a, b]), dtype=np.float64)
    engine = ["somacore.synchrony"]
    kw = dict(fs=fs, window_s=window_s, step_s=step_s, max_lag_s=max_lag_s, peak=peak)
    st, pr, pl, fl, r, lags, w, s, m = _xcorr(X, return_r=True, engine=engine, **kw)
    thr = p = null_mean = math.nan
    if n_surrogates > 0:
        from somacore.synchrony import surrogate_test

        N = X.shape[1]
        shift = min(min_shift_s, 0.5 * N / fs - 1.0 / fs)
        shift = max(shift, 1.0 / fs)

        def plain(v: np.ndarray) -> np.ndarray:
            return _xcorr(v, return_r=False, engine=engine, **kw)[1]

        measure: Any = plain
        k, q = round(shift * fs), round(s * fs)
        if engine[0] == "somacore.synchrony" and N - 2 * k >= q:
            # shifts on the window-step grid: the record's spectra are computed once
            # for all surrogates (surrogate_test's fast path; same null distribution,
            # up to the step quantisation of the random shifts)
            from somacore.synchrony import XcorrMeasure

            measure = XcorrMeasure(statistic="peak_r", **kw)

        with warnings.catch_warnings():
            # windows undefined in every surrogate (gaps) make numpy warn about empty
            # means inside surrogate_test's effect sizes, which are not used here
            warnings.simplefilter("ignore", RuntimeWarning)
            test = surrogate_test(X, measure, fs=fs, method="circular_shift",
                                  n=int(n_surrogates), seed=int(seed), min_shift_s=shift,
                                  fisher_z=True)
        null = np.asarray(test.null).reshape(int(n_surrogates), -1)  # (surrogate, window)
        pooled = null[np.isfinite(null)]
        if pooled.size:
            thr = float(np.quantile(pooled, quantile))
        with np.errstate(invalid="ignore"):
            obs_mean = float(np.nanmean(pr)) if np.isfinite(pr).any() else math.nan
            fin = np.isfinite(null)
            means = np.where(fin.any(axis=1),
                             np.nansum(np.where(fin, null, 0), axis=1)
                             / np.maximum(fin.sum(axis=1), 1), np.nan)
        means = means[np.isfinite(means)]
        if means.size and math.isfinite(obs_mean):
            p = float((1 + np.sum(means >= obs_mean)) / (means.size + 1))
            null_mean = float(means.mean())
    return PairSync(window_start_s=np.asarray(st, float), peak_r=np.asarray(pr, float),
                    peak_lag_s=np.asarray(pl, float), flags=np.asarray(fl, np.uint8),
                    r=np.asarray(r, float), lags_s=np.asarray(lags, float), threshold=thr,
                    p_value=p, null_mean_peak_r=null_mean, window_s=float(w), step_s=float(s),
                    max_lag_s=float(m), engine=engine[0])
