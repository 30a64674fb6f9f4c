"""Slope concordance: Marci's concordance index and local-slope sign concordance.

Both start from local slopes: the least-squares slope (units per second) of
each person's series over successive windows of ``slope_window_s`` seconds,
advanced by ``slope_step_s``.

* **Marci concordance index** (Marci, Ham, Moran & Orr 2007, skin
  conductance; also used for heart rate): slopes over successive,
  non-overlapping 5-s windows; Pearson r between the two people's slopes over
  a running window of ``corr_n_slopes`` consecutive slopes (3, i.e. 15 s),
  moved one slope at a time; the index is
  ``CI = ln(sum of positive r / |sum of negative r|)``: > 0 when the slopes
  mostly move together. Windows where either slope series is constant have
  no r and are skipped; if no r is negative (or none positive) the index is
  +inf (-inf), and NaN if there is no r at all.
* **Local-slope concordance** (in the spirit of the local-slope analyses of
  Tschacher & Meier 2020): the share of slope windows in which both people
  move in the same direction minus the share in which they move in opposite
  directions, ``(n_same - n_opposite) / n``, in [-1, 1]. A slope whose
  magnitude is at most ``flat_slope`` counts as flat; windows in which either
  person is flat are left out of ``n``.

The defaults (5-s slopes, 15-s = 3-slope running correlation windows) follow
Marci et al. (2007); how far the running window advances is not fixed by
every description of the method (here one slope, i.e. 5 s; overlapping 1-s
slope steps are ``slope_step_s=1`` with ``corr_n_slopes=11`` for 15 s). All
are parameters, so published variants are a keyword away. Windows containing
a missing sample give no slope.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from somacore._arrays import readonly_contiguous
from somacore.synchrony._common import (
    as_people,
    check_fs_sync,
    design_pairs,
    seconds,
    to_samples,
)

__all__ = ["Concordance", "concordance", "local_slopes"]




def local_slopes(x: Any, *, fs: float, window_s: float, step_s: float) -> np.ndarray:
    """Least-squares slope (units per second) of each row over sliding windows.

    Window ``k`` is ``x[..., k*S : k*S + W]``; windows with a missing sample
    give NaN. Returns shape (n_rows, n_windows).
    """
    fs = check_fs_sync(fs)
    X = np.atleast_2d(np.asarray(x, dtype=np.float64))
    W = to_samples(seconds(window_s, "window_s"), fs, "slope window", minimum=2)
    S = to_samples(seconds(step_s, "step_s"), fs, "slope step")
    n = X.shape[1]
    if n < W:
        raise ValueError(f"the record ({n} samples) is shorter than one slope window ({W}).")
    nw = (n - W) // S + 1
    view = np.lib.stride_tricks.sliding_window_view(X, W, axis=-1)[:, ::S][:, :nw]
    t = np.arange(W, dtype=np.float64)
    tc = t - t.mean()
    # slope = sum (t - tbar) x / sum (t - tbar)^2, exact for windows of any mean
    sl = view @ tc / (tc @ tc) * fs
    return sl


def _pearson_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    am = a - a.mean(axis=-1, keepdims=True)
    bm = b - b.mean(axis=-1, keepdims=True)
    num = (am * bm).sum(axis=-1)
    den = np.sqrt((am * am).sum(axis=-1) * (bm * bm).sum(axis=-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
    return np.clip(r, -1.0, 1.0)


@dataclass(frozen=True, eq=False)
class Concordance:
    """Result of :func:`concordance`.

    Attributes
    ----------
    pairs : ndarray of int64, shape (n_pairs, 2)
    index : ndarray, shape (n_pairs,)
        Marci concordance index ``ln(sum r+ / |sum r-|)``.
    r : ndarray, shape (n_pairs, n_corr_windows)
        Running slope correlations (NaN where undefined).
    slopes : ndarray, shape (n_people, n_slopes)
        Local slopes (units per second).
    slope_time_s : ndarray, shape (n_slopes,)
        Start of each slope window.
    local_slope_concordance : ndarray, shape (n_pairs,)
        ``(n_same - n_opposite) / n`` over slope windows (see module notes).
    n_slope_windows : ndarray of int64, shape (n_pairs,)
        Windows counted in the local-slope concordance.
    """

    pairs: np.ndarray
    index: np.ndarray
    r: np.ndarray
    slopes: np.ndarray
    slope_time_s: np.ndarray
    local_slope_concordance: np.ndarray
    n_slope_windows: np.ndarray

    def __post_init__(self) -> None:
        for name in self.__dataclass_fields__:
            object.__setattr__(self, name, readonly_contiguous(np.asarray(getattr(self, name))))


def concordance(x: Any, y: Any = None, *, fs: float, slope_window_s: float = 5.0,
                slope_step_s: float | None = None, corr_n_slopes: int = 3,
                flat_slope: float = 0.0, pairs: Any = "all") -> Concordance:
    """Marci's slope concordance index and local-slope sign concordance.

    Parameters
    ----------
    x : array_like, shape (n_people, n_samples), or 1-D with ``y``
        Series on one time base (skin conductance, heart rate, ...).
    y : array_like, optional
        Second person when ``x`` is 1-D.
    fs : float
        Sampling rate in Hz (required, keyword-only).
    slope_window_s : float
        Slope window, 5 s as in Marci et al. (2007).
    slope_step_s : float, optional
        Step between slope windows; default: the slope window (successive,
        non-overlapping windows).
    corr_n_slopes : int
        Consecutive slopes per running correlation (3 = 15 s with the
        defaults), at least 3.
    flat_slope : float
        Slopes with ``|slope| <= flat_slope`` (units per second) count as flat
        in the local-slope concordance.
    pairs : "all" or sequence of (i, j)

    Returns
    -------
    Concordance
    """
    fs = check_fs_sync(fs)
    X = as_people([np.asarray(x), np.asarray(y)], what="x, y") if y is not None else as_people(x)
    slope_window_s = seconds(slope_window_s, "slope_window_s")
    step = slope_window_s if slope_step_s is None else seconds(slope_step_s, "slope_step_s")
    if isinstance(corr_n_slopes, bool) or not isinstance(corr_n_slopes, (int, np.integer)) \
            or corr_n_slopes < 3:
        raise ValueError(f"corr_n_slopes must be an integer >= 3, got {corr_n_slopes!r}.")
    flat = seconds(flat_slope, "flat_slope", allow_zero=True)
    pr = design_pairs(pairs, X.shape[0])
    sl = local_slopes(X, fs=fs, window_s=slope_window_s, step_s=step)
    ns = sl.shape[1]
    S = to_samples(step, fs, "slope step")
    if ns < corr_n_slopes:
        raise ValueError(f"only {ns} slope windows; corr_n_slopes={corr_n_slopes} needs more. "
                         "Pass a longer record or shorter slope windows.")
    v = np.lib.stride_tricks.sliding_window_view(sl, corr_n_slopes, axis=-1)
    r = _pearson_rows(v[pr[:, 0]], v[pr[:, 1]])  # NaN propagates from missing slopes
    pos = np.nansum(np.where(r > 0, r, 0.0), axis=1)
    neg = -np.nansum(np.where(r < 0, r, 0.0), axis=1)
    anyr = np.isfinite(r).any(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        index = np.where(anyr, np.log(pos) - np.log(neg), np.nan)
    a, b = sl[pr[:, 0]], sl[pr[:, 1]]
    ok = np.isfinite(a) & np.isfinite(b) & (np.abs(a) > flat) & (np.abs(b) > flat)
    same = (ok & (np.sign(a) == np.sign(b))).sum(axis=1)
    n = ok.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        lsc = np.where(n > 0, (2 * same - n) / np.maximum(n, 1), np.nan)
    return Concordance(pairs=pr, index=index, r=r, slopes=sl,
                       slope_time_s=np.arange(ns) * S / fs, local_slope_concordance=lsc,
                       n_slope_windows=n.astype(np.int64))
