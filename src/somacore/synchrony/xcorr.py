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
``return_r=True``: it is produced in steps of a few windows, turned into peaks,
and dropped (memory O(pairs x windows) plus a fixed-size work area). ``Sxy`` at
all lags comes from FFT block spectra summed over the blocks of a window and
slid from window to window (see :mod:`somacore._core._xcorr`); each block's
spectrum is computed once, and when the lag range is a whole number ``q`` of
blocks it is split in two halves, so the forward FFTs have length ``g + M``
rather than ``g + 2M`` and one complex inverse FFT per window returns both
halves (real and imaginary part). Per step, every pair's spectral sums, inverse FFTs and
Pearson rows run back to back while they are in cache. Window sums come from
sliding sums; with ``peak="boker"`` and no cube, r is formed outward from lag 0
only as far as the peak search needs. Data are centred on each person's mean
before the FFT, so the products are small and the result agrees with
``np.corrcoef`` to ~1e-12. Threads take contiguous ranges of windows (starting
at multiples of 128 windows, where every sliding sum restarts), so the result
does not depend on ``n_threads``.

:class:`~somacore.synchrony.xcorr_shifts.XcorrMeasure` (in
:mod:`.xcorr_shifts`) packages the function as a measure for
:func:`somacore.synchrony.surrogate_test`, whose circular-shift surrogates
then share one table of block spectra.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
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

#: windows per pipeline step: one pair's summed spectra and Sxy rows of a step
#: (32 x 23 KB at the standard design) stay in cache from the sliding sums through
#: the inverse FFT to the Pearson rows
_STEP_WIN = 32
#: the sliding spectral sums restart from a direct sum at every multiple of this many
#: windows (bounded rounding drift); thread ranges start at such multiples, so the
#: result does not depend on the number of threads
_REFRESH_WIN = 128
#: partner segment spectra are summed directly at every multiple of this many blocks
_SEG_REFRESH = 32
#: rows per forward FFT call (cache-sized batches are faster than one large call)
_FFT_ROWS = 32
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
    half: bool = False  # lag range in two halves, one FFT length g + M each (see _Spectra)


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
        if M > 0 and M % g == 0 and M // g <= _MAX_SLIDE_Q:
            # partner segments slid from block spectra, the lags in two halves: the
            # forward FFTs (one per block) have length g + M instead of g + 2M
            return _Plan(N, W, S, M, starts, g, W // g, adv, _fast_len(g + M), True, True)
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


def _prepare(Xu: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centred data (0 at non-finite samples), gap mask and change mask of every row."""
    finite = np.isfinite(Xu)
    if finite.all():  # the common case: no gaps, two passes fewer
        bad = np.zeros(Xu.shape, np.uint8)
        xc = Xu - Xu.mean(axis=1, keepdims=True)
    else:
        bad = (~finite).view(np.uint8)
        with np.errstate(invalid="ignore"):
            cnt = finite.sum(axis=1)
            tot = np.where(finite, Xu, 0.0).sum(axis=1)
            mean = np.where(cnt > 0, tot / np.maximum(cnt, 1), 0.0)
            xc = np.where(finite, Xu - mean[:, None], 0.0)
    # chg[t] = 1 where sample t + 1 differs from sample t (NaN counts as a change)
    chg = np.zeros(Xu.shape, dtype=np.uint8)
    with np.errstate(invalid="ignore"):
        np.not_equal(Xu[:, 1:], Xu[:, :-1], out=chg[:, :-1].view(bool))
    return np.ascontiguousarray(xc), np.ascontiguousarray(bad), chg


class _Prep:
    """The time-domain part of one run: centred data, masks, lag-0 window sums.

    ``sums``: the window sums ``(sx, sxx, nbx, ncx)`` when already known (the
    surrogate engine reads them from its circular statistics).
    """

    def __init__(self, xc: np.ndarray, bad: np.ndarray, chg: np.ndarray, plan: _Plan,
                 first: list[int], sums: tuple | None = None):
        from somacore._core._xcorr import WindowSums

        self.xc, self.bad, self.chg = xc, bad, chg
        if sums is not None:
            self.sx, self.sxx, self.nbx, self.ncx = sums
            return
        P = xc.shape[0]
        nw = plan.starts.size
        self.sx = np.zeros((P, nw))
        self.sxx = np.zeros((P, nw))
        self.nbx = np.zeros((P, nw), np.int64)
        self.ncx = np.zeros((P, nw), np.int64)
        s0 = np.ascontiguousarray(plan.starts)
        ws = WindowSums()
        for p in first:
            ws.compute(xc[p], bad[p], chg[p], s0, plan.W, self.sx[p], self.sxx[p],
                       self.nbx[p], self.ncx[p])


def _buf(cache: dict | None, key: Any, shape: tuple, dtype: Any = np.float64,
         zero: bool = False) -> np.ndarray:
    """A work array, taken from ``cache`` when one of that shape is there.

    Fresh memory is slow to touch the first time (page faults and zeroing); a
    caller running many times (the surrogate engine, one cache per thread)
    keeps its work arrays. ``zero``: allocated zero-filled (callers only ever
    write the parts they read, e.g. the data columns of an FFT pad).
    """
    a = None if cache is None else cache.get(key)
    if a is None or a.shape != shape:
        a = np.zeros(shape, dtype) if zero else np.empty(shape, dtype)
        if cache is not None:
            cache[key] = a
    return a


def _slid(plan: _Plan) -> bool:
    """Partner segment spectra slid from block spectra (``M = q g``, q small)?"""
    return plan.blocked and plan.M % plan.g == 0 and plan.M // plan.g <= _MAX_SLIDE_Q


class _Table:
    """Block spectra of every person, computed once and read for any circular shift.

    Row ``m`` of person ``p`` is the spectrum of ``xc[p, m g : m g + g]``
    (zero-padded to ``nfft``); when ``g`` does not divide ``N``, rows
    ``nA + m`` hold the blocks aligned to the end of the record,
    ``xc[p, N - (m + 1) g : N - m g]``. A series rotated by a multiple ``s`` of
    ``g`` is cut into blocks of exactly these two kinds (before the rotation
    point its blocks come from the end of the record, after it from the
    start), so its block spectra are rows of this table (see :meth:`rows`).
    """

    def __init__(self, xc: np.ndarray, plan: _Plan, people: list[int]):
        g, nfft = plan.g, plan.nfft
        P, N = xc.shape
        self.N, self.g = N, g
        self.nA = N // g
        self.tail = N % g != 0
        n = self.nA * (2 if self.tail else 1)
        nf = nfft // 2 + 1
        self.E = np.zeros((P, n, 2 * nf))
        pad = np.zeros((min(_FFT_ROWS, self.nA), nfft))
        for p in people:
            for m0 in range(0, self.nA, _FFT_ROWS):
                m1 = min(self.nA, m0 + _FFT_ROWS)
                pad[:m1 - m0, :g] = _segments(xc[p:p + 1], m0 * g, g, m1 - m0, g)[0]
                np.fft.rfft(pad[:m1 - m0], axis=-1,
                            out=self.E[p, m0:m1].view(np.complex128))
                if self.tail:  # end-aligned blocks m0..m1-1, i.e. positions descending
                    pad[:m1 - m0, :g] = _segments(xc[p:p + 1], N - m1 * g, g, m1 - m0,
                                                  g)[0][::-1]
                    np.fft.rfft(pad[:m1 - m0], axis=-1,
                                out=self.E[p, self.nA + m0:self.nA + m1].view(np.complex128))
        self.Et = self.E.reshape(P * n, 2 * nf)
        self.n = n

    def rows(self, p: int, shift: int, pos: np.ndarray) -> np.ndarray:
        """Table rows (into ``Et``) of the blocks at ``pos`` of person p rotated by ``shift``."""
        a = pos - shift
        after = a >= 0
        if self.tail:
            r = np.where(after, a // self.g, self.nA + (-a) // self.g - 1)
        else:
            r = np.where(after, a, a + self.N) // self.g
        return p * self.n + r


class _Spectra:
    """Block spectra X_b (people first in a pair) and partner spectra Y_b (second).

    Local block ``b`` of a range of windows starting at window ``wa`` is the
    ``b``-th block from the start of window ``wa``; window ``wa + t`` sums
    blocks ``t adv .. t adv + B - 1``. Spectra are produced in order
    (:meth:`produce`) into rings that hold the blocks of one pipeline step plus
    one window, so every FFT is done once. Two kinds:

    * slid (``M = q g``): the spectra ``E_e`` of consecutive ``g``-blocks
      starting ``M`` before the range, by FFT into a ring, or read from a
      shared :class:`_Table` for circularly shifted series; ``X_b = E_{b+q}``
      and ``Y_b`` slid from ``E_b .. E_{b+2q}``, or, with the lags in halves
      (``plan.half``), from ``E_b .. E_{b+q}`` (lags ``-M..0``; ``Y_{b+q}``
      serves lags ``0..M``) (:class:`somacore._core._xcorr.SegmentSpectra`);
    * direct: one FFT per block (``X_b``) and per partner segment (``Y_b``).
    """

    def __init__(self, xc: np.ndarray, plan: _Plan, first: list[int], second: list[int],
                 wa: int, table: _Table | None = None, shifts: list[int] | None = None,
                 cache: dict | None = None, step: int = _STEP_WIN):
        from somacore._core._xcorr import SegmentSpectra

        self.xc, self.plan, self.first, self.second = xc, plan, first, second
        self.wa = wa
        P = xc.shape[0]
        nf2 = 2 * (plan.nfft // 2 + 1)
        self.slid = _slid(plan)
        self.q = plan.M // plan.g if self.slid else 0
        self.table, self.shifts = table, shifts
        C = step  # windows per pipeline step (fewer for a short run, e.g. a live update)
        # with the lags in halves, Y_b covers the M samples before block b and the
        # block (q + 1 blocks); the right half of block b is Y_{b+q}
        self.yext = self.q if plan.half else 0
        self.RY = C * plan.adv + plan.B + self.yext
        self.cache = cache
        self.Y = _buf(cache, "Y", (P, self.RY, nf2))
        self.Yt = self.Y.reshape(-1, nf2)
        self.b_done = 0
        self.e_done = 0
        if self.slid:
            K = self.q + 1 if plan.half else 2 * self.q + 1
            self.seg_k1 = K - 1
            self.seg = SegmentSpectra(K, plan.g, plan.nfft)
            # first sample of extension block 0
            self.P0 = int(plan.starts[wa]) - plan.M
            if table is None:
                self.RE = C * plan.adv + plan.B + 2 * self.q
                self.E = _buf(cache, "E", (P, self.RE, nf2))
                self.Xt = self.Et = self.E.reshape(-1, nf2)
            else:
                self.Xt = self.Et = table.Et
        else:
            self.X = _buf(cache, "X", (P, self.RY, nf2))
            self.Xt = self.X.reshape(-1, nf2)

    def _pad(self, length: int) -> np.ndarray:
        # zero-padded FFT input: only the first `length` columns are ever written; no
        # more rows than a ring holds (a live update needs one or two)
        rows = min(_FFT_ROWS, self.RY)
        return _buf(self.cache, ("pad", length), (rows, self.plan.nfft), zero=True)

    # -- rows of block spectra -------------------------------------------------------
    def _erows(self, p: int, e: np.ndarray) -> np.ndarray:
        if self.table is not None:
            return self.table.rows(p, self.shifts[p], self.P0 + e * self.plan.g)
        return p * self.RE + e % self.RE

    def xrows(self, p: int, b: np.ndarray) -> np.ndarray:
        if self.slid:
            return self._erows(p, b + self.q)
        return p * self.RY + b % self.RY

    def yrows(self, p: int, b: np.ndarray) -> np.ndarray:
        return p * self.RY + b % self.RY

    def _block_pos(self, b0: int, b1: int) -> tuple[int, int]:
        """First sample and spacing of local blocks b0..b1 (direct source)."""
        pl = self.plan
        if pl.blocked:
            return int(pl.starts[self.wa]) + b0 * pl.g, pl.g
        return int(pl.starts[self.wa + b0]), pl.S

    def _fft_rows(self, p: int, first: int, spacing: int, count: int, length: int,
                  ring: np.ndarray, r0: int) -> None:
        """FFT of ``count`` segments into consecutive ring rows from ``r0`` (wrapping)."""
        R = ring.shape[1]
        done = 0
        while done < count:
            r = (r0 + done) % R
            pad = self._pad(length)
            n = min(count - done, R - r, pad.shape[0])
            a = first + done * spacing
            if spacing == length:  # consecutive blocks: a plain reshape
                pad[:n, :length] = self.xc[p, a:a + n * length].reshape(n, length)
            else:
                pad[:n, :length] = _segments(self.xc[p:p + 1], a, spacing, n, length)[0]
            np.fft.rfft(pad[:n], axis=-1, out=ring[p, r:r + n].view(np.complex128))
            done += n

    def produce(self, b_hi: int) -> None:
        """Make X and Y of local blocks ``< b_hi`` available."""
        pl = self.plan
        b0 = self.b_done
        if b_hi <= b0:
            return
        if self.slid:
            q = self.q
            e_hi = b_hi + 2 * q
            if self.table is None and e_hi > self.e_done:
                need = sorted(set(self.first) | set(self.second))
                n = e_hi - self.e_done
                for p in need:
                    self._fft_rows(p, self.P0 + self.e_done * pl.g, pl.g, n, pl.g, self.E,
                                   self.e_done % self.RE)
                self.e_done = e_hi
            # partner segment spectra Y of blocks b0 .. b_hi (+ q for the right halves)
            y0, y1 = b0 + (self.yext if b0 else 0), b_hi + self.yext
            e = np.arange(y0 - 1, y1 + self.seg_k1, dtype=np.int64)
            b = np.arange(y0 - 1, y1, dtype=np.int64)
            for p in self.second:
                er = self._erows(p, e)
                orow = self.yrows(p, b)
                if y0 == 0:
                    er[0] = -1
                    orow[0] = -1
                self.seg.run_rows(self.Et, er, self.Yt, orow, self.wa * pl.adv + y0,
                                  _SEG_REFRESH)
        else:
            first, spacing = self._block_pos(b0, b_hi)
            lx = pl.g
            for p in self.first:
                self._fft_rows(p, first, spacing, b_hi - b0, lx, self.X, b0 % self.RY)
            for p in self.second:
                self._fft_rows(p, first - pl.M, spacing, b_hi - b0, lx + 2 * pl.M, self.Y,
                               b0 % self.RY)
        self.b_done = b_hi


def _ranges(nw: int, n: int) -> list[tuple[int, int]]:
    """Split windows 0..nw into at most n ranges starting at multiples of _REFRESH_WIN."""
    cuts = sorted({min(nw, round(nw * k / n / _REFRESH_WIN) * _REFRESH_WIN)
                   for k in range(n + 1)} | {0, nw})
    return [(a, b) for a, b in itertools.pairwise(cuts) if b > a]


class _Out:
    """Result arrays of one run (all pairs, all windows)."""

    def __init__(self, npair: int, nw: int, nl: int, return_r: bool):
        self.peak_r = np.empty((npair, nw))
        self.peak_lag = np.empty((npair, nw))
        self.flags = np.zeros((npair, nw), np.uint8)
        self.cube = np.empty((npair, nw, nl)) if return_r else None


def _run_range(prep: _Prep, plan: _Plan, lpairs: np.ndarray, rows, out: _Out,
               wa: int, wb: int, table: _Table | None = None,
               shifts: list[int] | None = None, cache: dict | None = None,
               lagsrc: Any = None) -> None:
    """Windows ``wa..wb`` of every pair, in steps of _STEP_WIN windows.

    Per step: the new block spectra of every person (once), then per pair the
    sliding spectral sums, one inverse FFT per window and the Pearson rows with
    their peaks; the pair's rows of a step stay in cache between the three.
    ``lagsrc``: None (the partners' per-position sums are computed per step), or
    an object whose ``arrays`` hold them for the whole record and whose
    ``origin(j, s0)`` gives partner ``j``'s row and the ``t0`` that reads a step
    starting at ``s0`` (the surrogate engine's rotated partners).
    """
    from somacore._core._xcorr import slide_pair, slide_pair_packed

    if cache is None:
        cache = {}  # work arrays of this range
    M, nl, adv, B = plan.M, 2 * plan.M + 1, plan.adv, plan.B
    P = prep.xc.shape[0]
    first = sorted(set(lpairs[:, 0].tolist()))
    second = sorted(set(lpairs[:, 1].tolist()))
    C = min(_STEP_WIN, wb - wa)
    spec = _Spectra(prep.xc, plan, first, second, wa, table, shifts, cache, C)
    nf2 = 2 * (plan.nfft // 2 + 1)
    # with the lags in halves (plan.half), each window has two spectral sums, packed
    # into one full complex spectrum: one complex inverse FFT gives the left half's
    # correlation (lags -M..0) as real part and the right half's (0..M) as imaginary
    half = plan.half
    width = 2 * plan.nfft if half else nf2
    acc = _buf(cache, "acc", (C, width))
    cbuf = _buf(cache, "cbuf", (C, width if half else plan.nfft))
    state = _buf(cache, "state", (lpairs.shape[0], width))
    starts = np.ascontiguousarray(plan.starts)
    sec = np.array(second, dtype=np.int64)
    for w0 in range(wa, wb, C):
        w1 = min(wb, w0 + C)
        nwc = w1 - w0
        t0, tl = w0 - wa, w1 - wa  # local window indices
        spec.produce((tl - 1) * adv + B)
        # blocks of the step's windows and of the window before (leaving blocks)
        blk = np.arange((t0 - 1) * adv, (tl - 1) * adv + B, dtype=np.int64)
        if t0 == 0:
            blk[:adv] = 0  # not read: the first window of a range is summed directly
        xr = {p: spec.xrows(p, blk) for p in first}
        yr = {p: spec.yrows(p, blk) for p in second}
        if half:
            yr2 = {p: spec.yrows(p, blk + spec.yext) for p in second}
        s0 = int(starts[w0]) - M
        L = int(starts[w1 - 1] - starts[w0]) + nl
        if lagsrc is None:
            # per-position partner sums (by step length: the last step may be shorter)
            ys, iy = _buf(cache, ("ys", L), (P, L)), _buf(cache, ("iy", L), (P, L))
            code = _buf(cache, ("code", L), (P, L), np.uint8)
            nz = _buf(cache, ("nz", L), (P, L + 1), np.int64)
            rows.lagged(prep.xc, prep.bad, prep.chg, sec, s0, ys, iy, code, nz)
            lag_arrays = (ys, iy, code, nz)
            t0j = {j: (j, s0) for j in second}
        else:  # the same sums, read in place from precomputed ones
            lag_arrays = lagsrc.arrays
            t0j = {j: lagsrc.origin(j, s0) for j in second}
        a_c = acc[:nwc]
        c_c = cbuf[:nwc]
        for p in range(lpairs.shape[0]):
            i, j = int(lpairs[p, 0]), int(lpairs[p, 1])
            if half:
                slide_pair_packed(spec.Xt, xr[i], spec.Yt, yr[j], yr2[j], B, adv, w0,
                                  _REFRESH_WIN, plan.nfft, state[p], t0 > 0, a_c)
                np.fft.ifft(a_c.view(np.complex128), axis=-1, out=c_c.view(np.complex128))
            else:
                slide_pair(spec.Xt, xr[i], spec.Yt, yr[j], B, adv, w0, _REFRESH_WIN,
                           state[p], t0 > 0, a_c)
                np.fft.irfft(a_c.view(np.complex128), n=plan.nfft, axis=-1, out=c_c)
            jr, tj = t0j[j]  # partner's row in the per-position sums, and their origin
            rows.run_pair(c_c, i, jr, starts, tj, prep.sx, prep.sxx, prep.nbx, prep.ncx,
                          *lag_arrays, out.peak_r[p],
                          out.peak_lag[p], out.flags[p], w0,
                          None if out.cube is None else out.cube[p], half)


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
    if isinstance(n_threads, bool) or not isinstance(n_threads, (int, np.integer)) \
            or n_threads < 1:
        raise ValueError(f"n_threads must be a positive integer, got {n_threads!r}.")
    d = _design(X, fs, window_s, step_s, max_lag_s, pairs, peak, peak_span_s)
    res = _run(X, d.plan, d.pairs, d.people, d.lpairs, d.peak_rule, d.span, return_r,
               int(n_threads), fs)
    return res if d.plan.M > 0 else dataclasses.replace(res, peak=peak)


@dataclass(frozen=True)
class _Design:
    plan: _Plan
    pairs: np.ndarray    # (n_pairs, 2) person indices
    people: np.ndarray   # the people in any pair, sorted
    lpairs: np.ndarray   # pairs as indices into people
    peak_rule: str       # "max" when M == 0
    span: int


def _design(X: np.ndarray, fs: float, window_s: float, step_s: float, max_lag_s: float,
            pairs: Any, peak: str, peak_span_s: float | None) -> _Design:
    """Check the parameters of windowed_xcorr and design the windows in samples."""
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
    pr = design_pairs(pairs, P)
    people, local = np.unique(pr, return_inverse=True)
    lpairs = np.ascontiguousarray(local.reshape(-1, 2).astype(np.int64))
    plan = _plan(N, W, S, M, people.size, pr.shape[0])
    return _Design(plan, pr, people, lpairs, "max" if M == 0 else peak, span)


def _run(X, plan: _Plan, pr, people, lpairs, peak, span, return_r, n_threads, fs):
    Xu = X[people] if people.size != X.shape[0] or np.any(people != np.arange(
        X.shape[0])) else X
    first = sorted(set(lpairs[:, 0].tolist()))
    prep = _Prep(*_prepare(Xu), plan, first)
    out = _Out(pr.shape[0], plan.starts.size, 2 * plan.M + 1, return_r)
    _run_all(prep, plan, lpairs, peak, span, out, n_threads)
    return _result(pr, plan, out, peak, span, fs)


def _run_all(prep: _Prep, plan: _Plan, lpairs: np.ndarray, peak: str, span: int, out: _Out,
             n_threads: int, table: _Table | None = None,
             shifts: list[int] | None = None, cache: dict | None = None,
             lagsrc: Any = None) -> None:
    """All windows, split into ranges run in threads (the kernels release the GIL).

    ``cache``: work arrays kept between calls (one thread only).
    """
    from somacore._core._xcorr import PearsonRows

    rows = PearsonRows(plan.W, plan.M, 1 if peak == "boker" else 0, span)
    ranges = _ranges(plan.starts.size, n_threads)
    if len(ranges) == 1:
        _run_range(prep, plan, lpairs, rows, out, *ranges[0], table, shifts, cache, lagsrc)
        return
    with ThreadPoolExecutor(len(ranges)) as pool:
        futs = [pool.submit(_run_range, prep, plan, lpairs, rows, out, a, b, table, shifts,
                            None, lagsrc) for a, b in ranges]
        for f in futs:
            f.result()


def _result(pr, plan: _Plan, out: _Out, peak: str, span: int, fs: float) -> WindowedXcorr:
    M = plan.M
    return WindowedXcorr(
        pairs=pr, peak_r=out.peak_r, peak_lag_s=out.peak_lag / fs, flags=out.flags,
        window_start_s=plan.starts / fs, lags_s=np.arange(-M, M + 1) / fs, fs=fs,
        window_s=plan.W / fs, step_s=plan.S / fs, max_lag_s=M / fs, peak=peak,
        peak_span_s=span / fs, r=out.cube,
    )


# ------------------------------------------------------------------ surrogate fast path
