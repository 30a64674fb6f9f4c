"""Windowed, lagged cross-correlation (WCC) with peak picking.

Definition (Boker et al. 2002; the form used by rMEA's ``MEAccf`` and by
Tschacher & Meier 2020). With ``W = round(window_s * fs)``,
``S = round(step_s * fs)`` and ``M = round(max_lag_s * fs)`` samples, window
``k`` of person ``i`` is ``x[i, k*S : k*S + W]``; at lag ``L`` (``-M..M``, every
sample) it is paired with ``x[j, k*S + L : k*S + L + W]`` and ``r`` is their
Pearson correlation. A positive lag therefore means **person j follows person
i** (i leads). Only windows whose lagged partner stays inside the record at
every lag are kept: ``k`` runs from ``ceil(M / S)`` to ``floor((N - W - M) / S)``,
so every kept window has a complete row of ``2M + 1`` lags and
``window_start_s = k * S / fs``.

Undefined values are NaN, never 0, and the reason is kept in ``flags``
(bit set per pair and window): :data:`FLAG_GAP` (a non-finite sample in the
window of i or in a lagged window of j), :data:`FLAG_CONST_I` (the window of i
is constant: r is undefined at every lag), :data:`FLAG_CONST_J` (a lagged window
of j is constant), :data:`FLAG_NO_PEAK` (``peak="boker"`` found no local
maximum). The peak of a window is only taken from a complete row (no NaN).

Peak picking. ``peak="boker"`` (default) follows the peak-picking idea of
Boker et al. (2002): the peak of a window is the local maximum of r over lags
that is *nearest to lag 0*, where a local maximum at lag ``L`` is larger than
its left neighbour, not smaller than its right neighbour and the largest value
within ``±peak_span_s`` of ``L`` (default: 10 % of ``max_lag_s``, at least one
sample); lags closer than the span to ``±max_lag_s`` cannot be peaks, since the
true maximum may lie beyond the searched range. ``peak="max"`` takes the largest
r over all lags (ties: nearest to lag 0). With ``max_lag_s=0`` the peak is the
lag-0 r under either rule.

Implementation. The ``(pair, window, lag)`` cube is never stored unless
``return_r=True``: it is produced chunk by chunk, turned into peaks, and
dropped (memory O(pairs x windows) plus a fixed-size work area). ``Sxy`` at all
lags comes from FFT block spectra summed over the blocks of a window and
slid from window to window (see :mod:`somacore._core._xcorr`); window sums come
from sliding sums. Data are centred on each person's mean before the FFT, so
the products are small and the result agrees with ``np.corrcoef`` to ~1e-12.
"""

from __future__ import annotations

import dataclasses
import math
import queue
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from somacore._arrays import readonly_contiguous
from somacore.synchrony._common import (
    as_people,
    check_fs_sync,
    design_pairs,
    seconds,
    to_samples,
)

__all__ = [
    "FLAG_CONST_I",
    "FLAG_CONST_J",
    "FLAG_GAP",
    "FLAG_NO_PEAK",
    "WindowedXcorr",
    "XcorrSummary",
    "windowed_xcorr",
]

#: a non-finite sample in the window of i or in a lagged window of j (r NaN there)
FLAG_GAP = 1
#: the window of person i is constant: r undefined at every lag
FLAG_CONST_I = 2
#: a lagged window of person j is constant: r undefined at those lags
FLAG_CONST_J = 4
#: ``peak="boker"``: the row is complete but has no local maximum
FLAG_NO_PEAK = 8

#: work-area budget per chunk (bytes) for spectra and the Sxy cube slice
_WORK_BYTES = 48 * 2**20
#: segment spectra are slid from block spectra when the lag range spans at most
#: this many blocks on each side (beyond it the twiddle table outgrows the gain)
_MAX_SLIDE_Q = 64




@dataclass(frozen=True, eq=False)
class XcorrSummary:
    """Per-pair summaries of a :class:`WindowedXcorr` (arrays of shape (n_pairs,)).

    Only windows with a defined peak count (``n_windows``). Lag sign: a
    positive peak lag means person ``i = pairs[p, 0]`` leads and ``j`` follows.

    Attributes
    ----------
    pairs : ndarray of int64, shape (n_pairs, 2)
    n_windows : ndarray of int64
        Windows with a defined peak.
    mean_peak_r : ndarray
        Mean peak r.
    mean_peak_z : ndarray
        Mean Fisher z (``arctanh``) of the peak r.
    mean_abs_lag_s : ndarray
        Mean absolute peak lag in seconds.
    share_i_leads, share_j_leads, share_zero_lag : ndarray
        Fraction of windows whose peak lag is > 0 (i leads), < 0 (j leads), = 0.
    strength_i_leads, strength_j_leads : ndarray
        Mean peak r over the windows in which i (resp. j) leads; NaN if none.
    """

    pairs: np.ndarray
    n_windows: np.ndarray
    mean_peak_r: np.ndarray
    mean_peak_z: np.ndarray
    mean_abs_lag_s: np.ndarray
    share_i_leads: np.ndarray
    share_j_leads: np.ndarray
    share_zero_lag: np.ndarray
    strength_i_leads: np.ndarray
    strength_j_leads: np.ndarray

    def __post_init__(self) -> None:
        for name in self.__dataclass_fields__:
            object.__setattr__(self, name, readonly_contiguous(np.asarray(getattr(self, name))))

    def to_pandas(self):  # pragma: no cover - optional dependency
        """One row per pair (requires pandas)."""
        import pandas as pd

        cols = {name: getattr(self, name) for name in self.__dataclass_fields__ if name != "pairs"}
        return pd.DataFrame({"i": self.pairs[:, 0], "j": self.pairs[:, 1], **cols})


def _nanmean(a: np.ndarray, axis: int = -1) -> np.ndarray:
    n = np.sum(np.isfinite(a), axis=axis)
    s = np.nansum(a, axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, s / np.maximum(n, 1), np.nan)


@dataclass(frozen=True, eq=False)
class WindowedXcorr:
    """Result of :func:`windowed_xcorr`.

    Attributes
    ----------
    pairs : ndarray of int64, shape (n_pairs, 2)
        Person indices ``(i, j)``; a positive lag means j follows i.
    peak_r : ndarray, shape (n_pairs, n_windows)
        Peak Pearson r per window (NaN where undefined; see ``flags``).
    peak_lag_s : ndarray, shape (n_pairs, n_windows)
        Lag of the peak in seconds (NaN where no peak).
    flags : ndarray of uint8, shape (n_pairs, n_windows)
        Why values are undefined: :data:`FLAG_GAP`, :data:`FLAG_CONST_I`,
        :data:`FLAG_CONST_J`, :data:`FLAG_NO_PEAK`.
    window_start_s : ndarray, shape (n_windows,)
        Start of each kept window (``k * S / fs``).
    lags_s : ndarray, shape (2M + 1,)
        The lags in seconds, ``-M..M`` samples.
    fs, window_s, step_s, max_lag_s : float
        Sampling rate and the window design actually used (whole samples).
    peak : str
        Peak-picking rule ("boker" or "max"); ``peak_span_s`` its span.
    r : ndarray, shape (n_pairs, n_windows, 2M + 1), or None
        The full r cube, only if requested with ``return_r=True``.
    """

    pairs: np.ndarray
    peak_r: np.ndarray
    peak_lag_s: np.ndarray
    flags: np.ndarray
    window_start_s: np.ndarray
    lags_s: np.ndarray
    fs: float
    window_s: float
    step_s: float
    max_lag_s: float
    peak: str
    peak_span_s: float
    r: np.ndarray | None = None

    def __post_init__(self) -> None:
        for name in ("pairs", "peak_r", "peak_lag_s", "flags", "window_start_s", "lags_s"):
            object.__setattr__(self, name, readonly_contiguous(getattr(self, name)))
        if self.r is not None:
            object.__setattr__(self, "r", readonly_contiguous(self.r))

    def __repr__(self) -> str:
        return (f"WindowedXcorr(pairs={len(self.pairs)}, windows={self.peak_r.shape[1]}, "
                f"lags={self.lags_s.size}, window={self.window_s:g} s, step={self.step_s:g} s, "
                f"max_lag={self.max_lag_s:g} s, peak={self.peak!r})")

    @property
    def window_center_s(self) -> np.ndarray:
        """Centre of each kept window in seconds."""
        return self.window_start_s + 0.5 * self.window_s

    def summary(self) -> XcorrSummary:
        """Per-pair means, lead/lag shares and strengths (see :class:`XcorrSummary`)."""
        pr, pl = self.peak_r, self.peak_lag_s
        ok = np.isfinite(pr) & np.isfinite(pl)
        n = ok.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            z = np.arctanh(np.clip(pr, -1 + 1e-15, 1 - 1e-15))
            ilead = ok & (pl > 0)
            jlead = ok & (pl < 0)
            zero = ok & (pl == 0)
            nn = np.maximum(n, 1)
            nanif = np.where(n > 0, 1.0, np.nan)
            return XcorrSummary(
                pairs=self.pairs,
                n_windows=n.astype(np.int64),
                mean_peak_r=_nanmean(np.where(ok, pr, np.nan)),
                mean_peak_z=_nanmean(np.where(ok, z, np.nan)),
                mean_abs_lag_s=_nanmean(np.where(ok, np.abs(pl), np.nan)),
                share_i_leads=ilead.sum(axis=1) / nn * nanif,
                share_j_leads=jlead.sum(axis=1) / nn * nanif,
                share_zero_lag=zero.sum(axis=1) / nn * nanif,
                strength_i_leads=_nanmean(np.where(ilead, pr, np.nan)),
                strength_j_leads=_nanmean(np.where(jlead, pr, np.nan)),
            )

    def to_pandas(self):  # pragma: no cover - optional dependency
        """One row per (pair, window) (requires pandas)."""
        import pandas as pd

        npair, nw = self.peak_r.shape
        return pd.DataFrame({
            "i": np.repeat(self.pairs[:, 0], nw), "j": np.repeat(self.pairs[:, 1], nw),
            "window_start_s": np.tile(self.window_start_s, npair),
            "peak_r": self.peak_r.ravel(), "peak_lag_s": self.peak_lag_s.ravel(),
            "flags": self.flags.ravel(),
        })


def _fast_len(n: int) -> int:
    """Smallest 2^a 3^b 5^c >= n (FFT-friendly length)."""
    best = 1 << max(0, (n - 1).bit_length())
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            m = p35
            while m < n:
                m *= 2
            best = min(best, m)
            p35 *= 3
        p5 *= 5
    return best


@dataclass(frozen=True)
class _Plan:
    N: int
    W: int
    S: int
    M: int
    starts: np.ndarray
    g: int        # block length
    B: int        # blocks per window
    adv: int      # blocks per step
    nfft: int
    blocked: bool


def _plan(N: int, W: int, S: int, M: int, n_people: int, n_pairs: int,
          starts: np.ndarray | None = None) -> _Plan:
    if starts is None:
        kmin = -(-M // S)
        kmax = (N - W - M) // S
        if kmax < kmin:
            need = (W + 2 * M)
            raise ValueError(
                f"the record ({N} samples) is too short for one window of {W} samples with "
                f"lags of ±{M} samples: at least {need} samples are needed. Shorten window_s "
                "or max_lag_s, or pass a longer record."
            )
        starts = np.arange(kmin, kmax + 1, dtype=np.int64) * S
    g = math.gcd(W, S)
    n_blk = _fast_len(g + 2 * M)
    n_win = _fast_len(W + 2 * M)

    def cost(n: int) -> float:
        return n * math.log2(n)

    adv = S // g
    nw = starts.size
    # forward FFTs of every block (2 per person) + one inverse FFT per pair and window
    c_blk = (2 * n_people * ((nw - 1) * adv + W // g) + nw * n_pairs) * cost(n_blk)
    c_win = nw * (2 * n_people + n_pairs) * cost(n_win)
    if c_blk <= c_win:
        return _Plan(N, W, S, M, starts, g, W // g, adv, n_blk, True)
    return _Plan(N, W, S, M, starts, W, 1, 1, n_win, False)


def _segments(xc: np.ndarray, first: int, spacing: int, count: int, length: int) -> np.ndarray:
    """View (P, count, length) of rows of ``xc`` at ``first + b * spacing``."""
    P, N = xc.shape
    assert first >= 0 and first + (count - 1) * spacing + length <= N
    base = xc[:, first:]
    return np.lib.stride_tricks.as_strided(
        base, shape=(P, count, length),
        strides=(xc.strides[0], spacing * xc.strides[1], xc.strides[1]), writeable=False)


class _Engine:
    """Everything prepared once per call: centred data, masks, window sums."""

    def __init__(self, X: np.ndarray, plan: _Plan, people: np.ndarray, lpairs: np.ndarray):
        from somacore._core._xcorr import WindowSums

        self.plan = plan
        self.first = set(np.unique(lpairs[:, 0]).tolist())
        self.second = set(np.unique(lpairs[:, 1]).tolist())
        Xu = X[people] if people.size != X.shape[0] or np.any(people != np.arange(
            X.shape[0])) else X
        finite = np.isfinite(Xu)
        if finite.all():  # the common case: no gaps, two passes fewer
            self.bad = np.zeros(Xu.shape, np.uint8)
            self.xc = Xu - Xu.mean(axis=1, keepdims=True)
        else:
            self.bad = (~finite).view(np.uint8)
            with np.errstate(invalid="ignore"):
                cnt = finite.sum(axis=1)
                tot = np.where(finite, Xu, 0.0).sum(axis=1)
                mean = np.where(cnt > 0, tot / np.maximum(cnt, 1), 0.0)
                self.xc = np.where(finite, Xu - mean[:, None], 0.0)
        # chg[t] = 1 where sample t + 1 differs from sample t (NaN counts as a change)
        chg = np.zeros(Xu.shape, dtype=np.uint8)
        with np.errstate(invalid="ignore"):
            np.not_equal(Xu[:, 1:], Xu[:, :-1], out=chg[:, :-1].view(bool))
        self.chg = chg
        P = Xu.shape[0]
        nw = plan.starts.size
        ws = WindowSums()
        self.sx = np.zeros((P, nw))
        self.sxx = np.zeros((P, nw))
        self.nbx = np.zeros((P, nw), np.int64)
        self.ncx = np.zeros((P, nw), np.int64)
        s0 = np.ascontiguousarray(plan.starts)
        for p in sorted(self.first):
            ws.compute(self.xc[p], self.bad[p], self.chg[p], s0, plan.W, self.sx[p], self.sxx[p],
                       self.nbx[p], self.ncx[p])

    def _slid_spectra(self, w0: int, w1: int, bufs: dict,
                      pool: ThreadPoolExecutor | None) -> tuple[np.ndarray, np.ndarray, int]:
        """Block spectra by FFT; the partner's segment spectra slid from them.

        With ``M = q * g`` the lag segment of block ``b`` is the ``2q + 1``
        blocks around it, so its spectrum is a phase-weighted sum of block
        spectra, slid from block to block
        (:class:`somacore._core._xcorr.SegmentSpectra`) instead of one more FFT
        of ``g + 2M`` samples per block and person.
        """
        from somacore._core._xcorr import SegmentSpectra

        pl = self.plan
        q = pl.M // pl.g
        first = int(pl.starts[0]) + w0 * pl.adv * pl.g
        nb = (w1 - 1 - w0) * pl.adv + pl.B
        ne = nb + 2 * q
        es = _segments(self.xc, first - pl.M, pl.g, ne, pl.g)
        nf = pl.nfft // 2 + 1
        P = self.xc.shape[0]
        if "E" not in bufs or bufs["E"].shape[1] != ne:
            bufs["E"] = np.empty((P, ne, nf), np.complex128)
            bufs["Y"] = np.empty((P, nb, nf), np.complex128)
            # only the first g columns are ever written: the zero padding stays
            bufs["pad"] = np.zeros((P, ne, pl.nfft))
        E, Yf, pad = bufs["E"], bufs["Y"], bufs["pad"]
        seg = SegmentSpectra()

        def one(p: int) -> None:
            if p in self.first or p in self.second:
                pad[p, :, :pl.g] = es[p]
                np.fft.rfft(pad[p], axis=-1, out=E[p])
            if p in self.second:
                seg.run(E[p].view(np.float64), q, pl.g, pl.nfft, Yf[p].view(np.float64))

        if pool is None:
            for p in range(P):
                one(p)
        else:
            list(pool.map(one, range(P)))
        # the blocks of the chunk's windows are blocks q .. q + nb - 1 of the extension
        return E.view(np.float64), Yf.view(np.float64), q

    def spectra(self, w0: int, w1: int, bufs: dict,
                pool: ThreadPoolExecutor | None = None) -> tuple[np.ndarray, np.ndarray, int]:
        """Forward spectra of the blocks of windows ``w0..w1`` (reusing buffers).

        Returns ``(X, Y, xoff)``: window blocks are rows ``xoff ..`` of ``X``.
        """
        pl = self.plan
        if pl.blocked and pl.M % pl.g == 0 and pl.M // pl.g <= _MAX_SLIDE_Q:
            return self._slid_spectra(w0, w1, bufs, pool)
        if pl.blocked:
            first = int(pl.starts[0]) + w0 * pl.adv * pl.g
            nb = (w1 - 1 - w0) * pl.adv + pl.B
            xs = _segments(self.xc, first, pl.g, nb, pl.g)
            ys = _segments(self.xc, first - pl.M, pl.g, nb, pl.g + 2 * pl.M)
        else:
            first = int(pl.starts[w0])
            nb = w1 - w0
            xs = _segments(self.xc, first, pl.S, nb, pl.W)
            ys = _segments(self.xc, first - pl.M, pl.S, nb, pl.W + 2 * pl.M)
        nf = pl.nfft // 2 + 1
        P = self.xc.shape[0]
        if "X" not in bufs or bufs["X"].shape[1] != nb:
            bufs["X"] = np.empty((P, nb, nf), np.complex128)
            bufs["Y"] = np.empty((P, nb, nf), np.complex128)
            bufs["pad"] = np.zeros((P, nb, pl.nfft))
        Xf, Yf, pad = bufs["X"], bufs["Y"], bufs["pad"]
        # copy into a zero-padded contiguous work array (faster than FFT of strided views);
        # only people who appear first in a pair need block spectra, only people who
        # appear second need segment spectra (with pairs="all", 3 of 4 each)
        lx, ly = xs.shape[2], ys.shape[2]

        def one(p: int) -> None:
            if p in self.first:
                pad[p, :, :lx] = xs[p]
                pad[p, :, lx:] = 0.0
                np.fft.rfft(pad[p], axis=-1, out=Xf[p])
            if p in self.second:
                pad[p, :, :ly] = ys[p]
                pad[p, :, ly:] = 0.0
                np.fft.rfft(pad[p], axis=-1, out=Yf[p])

        if pool is None:
            for p in range(P):
                one(p)
        else:  # numpy's FFT releases the GIL: people in parallel
            list(pool.map(one, range(P)))
        return Xf.view(np.float64), Yf.view(np.float64), 0


def windowed_xcorr(
    x: Any,
    y: Any = None,
    *,
    fs: float,
    window_s: float,
    step_s: float,
    max_lag_s: float,
    pairs: Any = "all",
    peak: Literal["boker", "max"] = "boker",
    peak_span_s: float | None = None,
    return_r: bool = False,
    n_threads: int = 1,
) -> WindowedXcorr:
    """Windowed lagged Pearson cross-correlation at full sample resolution.

    Parameters
    ----------
    x : array_like, shape (n_people, n_samples), or 1-D with ``y``
        One row per person on a common time base (see
        :func:`somacore.synchrony.align_series`). NaN marks missing samples.
    y : array_like, shape (n_samples,), optional
        Second person's series when ``x`` is 1-D (then the pair is (x, y)).
    fs : float
        Sampling rate in Hz (required, keyword-only).
    window_s, step_s : float
        Window length and step in seconds (rounded to whole samples).
    max_lag_s : float
        Lags ``-max_lag_s..max_lag_s`` at every sample. Must be shorter than
        the window.
    pairs : "all" or sequence of (i, j)
        Pairs of person indices; ``"all"`` is every ``i < j``.
    peak : {"boker", "max"}
        Peak-picking rule (see :mod:`somacore.synchrony.xcorr`).
    peak_span_s : float, optional
        Span of the local-maximum test for ``peak="boker"`` (default 10 % of
        ``max_lag_s``, at least one sample).
    return_r : bool
        Also return the full (pair, window, lag) r cube (memory
        ``8 * n_pairs * n_windows * (2M + 1)`` bytes). Default False.
    n_threads : int
        Threads over groups of pairs (the kernels release the GIL).

    Returns
    -------
    WindowedXcorr
        Peaks per pair and window, flags, window times; ``.summary()`` gives
        the per-pair means and lead/lag shares.

    Raises
    ------
    ValueError
        Fewer than two people, unequal lengths, a lag not shorter than the
        window, a record shorter than one window plus both lag ranges, or a
        bad parameter; each message names the fix.
    """
    fs = check_fs_sync(fs)
    if y is not None:
        X = as_people([np.asarray(x), np.asarray(y)], what="x, y")
    else:
        X = as_people(x)
    P, N = X.shape
    window_s = seconds(window_s, "window_s")
    step_s = seconds(step_s, "step_s")
    max_lag_s = seconds(max_lag_s, "max_lag_s", allow_zero=True)
    W = to_samples(window_s, fs, "window_s", minimum=3)
    S = to_samples(step_s, fs, "step_s")
    M = round(max_lag_s * fs)
    if M >= W:
        raise ValueError(
            f"max_lag_s={max_lag_s:g} s ({M} samples) is not shorter than window_s="
            f"{window_s:g} s ({W} samples): at such lags the windows no longer overlap in "
            "time. Use a lag range well below the window (e.g. window 30 s, lags ±5 s)."
        )
    if peak not in ("boker", "max"):
        raise ValueError(f"peak must be 'boker' or 'max', got {peak!r}.")
    if peak_span_s is None:
        span = max(1, round(0.1 * M))
    else:
        span = max(1, round(seconds(peak_span_s, "peak_span_s") * fs))
        if M > 0 and span >= M:
            raise ValueError(f"peak_span_s={peak_span_s:g} s must be shorter than max_lag_s="
                             f"{max_lag_s:g} s, or no lag could qualify as a peak.")
    if isinstance(n_threads, bool) or not isinstance(n_threads, (int, np.integer)) \
            or n_threads < 1:
        raise ValueError(f"n_threads must be a positive integer, got {n_threads!r}.")
    pr = design_pairs(pairs, P)
    people, local = np.unique(pr, return_inverse=True)
    lpairs = np.ascontiguousarray(local.reshape(-1, 2).astype(np.int64))
    npair = pr.shape[0]
    plan = _plan(N, W, S, M, people.size, npair)
    res = _run(X, plan, pr, people, lpairs, "max" if M == 0 else peak, span, return_r,
               int(n_threads), fs)
    return res if M > 0 else dataclasses.replace(res, peak=peak)


def _run(X, plan: _Plan, pr, people, lpairs, peak, span, return_r, n_threads, fs):
    from somacore._core._xcorr import BlockSpectraSlider, PearsonRows

    M, nl = plan.M, 2 * plan.M + 1
    nw = plan.starts.size
    npair = pr.shape[0]
    eng = _Engine(X, plan, people, lpairs)
    nf2 = 2 * (plan.nfft // 2 + 1)
    # pairs go in groups of at most 8; each worker (thread) owns one set of group buffers,
    # so the work area does not grow with the number of pairs
    pg = min(8, -(-npair // n_threads))
    n_work = min(n_threads, -(-npair // pg))
    # chunk length in windows: spectra of all people + Sxy of the groups in flight fit
    per_win = 8 * (2 * people.size * (nf2 * plan.adv + plan.S) + n_work * pg * (nf2 + plan.nfft))
    cw = int(max(8, min(nw, _WORK_BYTES // max(per_win, 1))))
    peak_r = np.empty((npair, nw))
    peak_lag = np.empty((npair, nw))
    flags = np.zeros((npair, nw), np.uint8)
    cube = np.empty((npair, nw, nl)) if return_r else None
    rows = PearsonRows(plan.W, M, 1 if peak == "boker" else 0, span)
    groups = [np.arange(a, min(a + pg, npair)) for a in range(0, npair, pg)]
    slider = BlockSpectraSlider()
    free: queue.SimpleQueue = queue.SimpleQueue()
    for _ in range(n_work):
        free.put((np.empty((pg, cw, nf2)), np.empty((pg, cw, plan.nfft))))

    def do_group(gi: int, Xf, Yf, xoff: int, w0: int, w1: int, lag0: list,
                 lagd: tuple) -> None:
        g = groups[gi]
        gp = np.ascontiguousarray(lpairs[g])
        nwc = w1 - w0
        bufs_w = free.get()
        try:
            acc, cbuf = bufs_w
            if nwc == cw and g.size == pg:
                acc_c, cbuf_c = acc, cbuf
            else:  # the last, shorter chunk or group
                acc_c = np.empty((g.size, nwc, nf2))
                cbuf_c = np.empty((g.size, nwc, plan.nfft))
            slider.run(Xf, Yf, gp, plan.B, plan.adv, acc_c, xoff)
            np.fft.irfft(acc_c.view(np.complex128), n=plan.nfft, axis=-1, out=cbuf_c)
            rows.run(cbuf_c, gp, lagd[3], lagd[4], lag0[0], lag0[1], lag0[2], lag0[3],
                     lagd[0], lagd[1], lagd[2],
                     peak_r[g[0]:g[-1] + 1], peak_lag[g[0]:g[-1] + 1],
                     flags[g[0]:g[-1] + 1], w0, None if cube is None else cube[g[0]:g[-1] + 1])
        finally:
            free.put(bufs_w)

    second = np.array(sorted(eng.second), dtype=np.int64)
    pool = ThreadPoolExecutor(n_work) if n_work > 1 else None
    bufs: dict = {}
    try:
        for w0 in range(0, nw, cw):
            w1 = min(nw, w0 + cw)
            Xf, Yf, xoff = eng.spectra(w0, w1, bufs, pool)
            sl = slice(w0, w1)
            lag0 = [np.ascontiguousarray(a[:, sl]) for a in (eng.sx, eng.sxx, eng.nbx, eng.ncx)]
            # window sums of the partner at every start sample the chunk's lags reach
            st = np.ascontiguousarray(plan.starts[sl])
            t0 = int(st[0]) - M
            L = int(st[-1] - st[0]) + nl
            if "ys" not in bufs or bufs["ys"].shape[1] != L:
                bufs["ys"] = np.empty((people.size, L))
                bufs["iy"] = np.empty((people.size, L))
                bufs["yc"] = np.zeros((people.size, L), np.uint8)
            lagd = (bufs["ys"], bufs["iy"], bufs["yc"], st, t0)
            rows.lagged(eng.xc, eng.bad, eng.chg, second, t0, *lagd[:3])
            if pool is None:
                for gi in range(len(groups)):
                    do_group(gi, Xf, Yf, xoff, w0, w1, lag0, lagd)
            else:
                futs = [pool.submit(do_group, gi, Xf, Yf, xoff, w0, w1, lag0, lagd)
                        for gi in range(len(groups))]
                for f in futs:
                    f.result()
    finally:
        if pool is not None:
            pool.shutdown()
    return WindowedXcorr(
        pairs=pr, peak_r=peak_r, peak_lag_s=peak_lag / fs, flags=flags,
        window_start_s=plan.starts / fs, lags_s=np.arange(-M, M + 1) / fs, fs=fs,
        window_s=plan.W / fs, step_s=plan.S / fs, max_lag_s=M / fs, peak=peak,
        peak_span_s=span / fs, r=cube,
    )
