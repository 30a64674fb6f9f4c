"""Circular shifts of one record through the windowed cross-correlation engine.

:class:`XcorrMeasure` is :func:`~somacore.synchrony.windowed_xcorr` reduced to
numbers, as a measure for :func:`somacore.synchrony.surrogate_test`. With
``method="circular_shift"`` the test rotates people by whole multiples of the
window step; a rotated series is then cut into the same blocks as the
original, so :class:`_ShiftEngine` computes the record's block spectra and its
circular window statistics (:class:`_Circular`) once and each surrogate costs
only its cross-spectra, inverse FFTs and Pearson rows.
"""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from somacore.synchrony._common import check_fs_sync, seconds, to_samples
from somacore.synchrony.xcorr import (
    _STEP_WIN,
    WindowedXcorr,
    XcorrSummary,
    _design,
    _Out,
    _Plan,
    _Prep,
    _prepare,
    _result,
    _run_all,
    _slid,
    _Table,
    windowed_xcorr,
)

__all__ = ["XcorrMeasure"]

#: largest shared spectrum table (bytes) for circular-shift surrogates of an
#: :class:`XcorrMeasure`; beyond it every surrogate is measured from scratch
#: (same result, slower). 4 people x 1 h at 256 Hz (30 s windows, 1 s step,
#: ±5 s lags) need 177 MB, plus 70 MB of circular window statistics.
_TABLE_BYTES = 1 << 30

_SUMMARY_FIELDS = tuple(f.name for f in dataclasses.fields(XcorrSummary) if f.name != "pairs")


@dataclass(frozen=True)
class XcorrMeasure:
    """:func:`windowed_xcorr` reduced to numbers, as a measure for surrogate tests.

    Calling it on an array ``x`` of shape (n_people, n_samples) runs
    ``windowed_xcorr(x, fs=fs, window_s=..., ...)`` and returns ``statistic``:
    the name of a field of :class:`XcorrSummary` (e.g. ``"mean_peak_r"``, one
    value per pair), ``"peak_r"`` (every window of every pair), or a function
    of the :class:`WindowedXcorr`. Passed to
    :func:`somacore.synchrony.surrogate_test` with
    ``method="circular_shift"`` it takes a fast path that computes the
    record's spectra once for all surrogates (see there).

    Parameters
    ----------
    fs, window_s, step_s, max_lag_s, pairs, peak, peak_span_s
        As in :func:`windowed_xcorr`.
    statistic : str or callable
        What the measure returns (default ``"mean_peak_r"``).
    """

    fs: float
    window_s: float
    step_s: float
    max_lag_s: float
    pairs: Any = "all"
    peak: Literal["boker", "max"] = "boker"
    peak_span_s: float | None = None
    statistic: Any = "mean_peak_r"

    def __post_init__(self) -> None:
        object.__setattr__(self, "fs", check_fs_sync(self.fs))
        st = self.statistic
        if not callable(st) and st not in (*_SUMMARY_FIELDS, "peak_r"):
            raise ValueError(f"statistic must be 'peak_r', a field of XcorrSummary "
                             f"({', '.join(_SUMMARY_FIELDS)}) or a function of the "
                             f"WindowedXcorr, got {st!r}.")

    @property
    def step_samples(self) -> int:
        """The window step in samples (the quantum of fast-path circular shifts)."""
        return to_samples(seconds(self.step_s, "step_s"), self.fs, "step_s")

    def xcorr(self, x: Any) -> WindowedXcorr:
        """The full :class:`WindowedXcorr` of ``x``."""
        return windowed_xcorr(x, fs=self.fs, window_s=self.window_s, step_s=self.step_s,
                              max_lag_s=self.max_lag_s, pairs=self.pairs, peak=self.peak,
                              peak_span_s=self.peak_span_s)

    def reduce(self, res: WindowedXcorr) -> np.ndarray:
        """``statistic`` of a result."""
        st = self.statistic
        if callable(st):
            return np.asarray(st(res), dtype=np.float64)
        if st == "peak_r":
            return np.asarray(res.peak_r, dtype=np.float64)
        return np.asarray(getattr(res.summary(), st), dtype=np.float64)

    def __call__(self, x: Any) -> np.ndarray:
        return self.reduce(self.xcorr(x))


class _Circular:
    """Window statistics of every person's record read as a circle, computed once.

    A window of a series rotated by ``s`` is the circular window of the record
    starting ``s`` samples earlier (the rotation joins the last sample to the
    first, which counts as a change when the two differ). So the partner sums
    at every start position (``ys``, ``iy``, ``code`` as
    :meth:`somacore._core._xcorr.PearsonRows.lagged` gives them) and the lag-0
    window sums of the people first in a pair, at the two block grids a rotated
    window can start on (``m g`` and ``N - m g``), serve every rotation.
    """

    def __init__(self, xc: np.ndarray, bad: np.ndarray, chg: np.ndarray, Xu: np.ndarray,
                 plan: _Plan, first: list[int], second: list[int]):
        from somacore._core._xcorr import PearsonRows, WindowSums

        P, N = xc.shape
        W, g = plan.W, plan.g
        self.N, self.g = N, g
        chg_c = chg.copy()
        with np.errstate(invalid="ignore"):
            chg_c[:, N - 1] = Xu[:, 0] != Xu[:, N - 1]

        def ext(a: np.ndarray) -> np.ndarray:  # the circle, unrolled one window further
            return np.ascontiguousarray(np.concatenate([a, a[:, :W]], axis=1))

        xe, be, ce = ext(xc), ext(bad), ext(chg_c)
        # per-position sums of the partners only (row r of these arrays: person second[r])
        ns = len(second)
        self.row = {p: r for r, p in enumerate(second)}
        ys = np.zeros((ns, N))
        iy = np.zeros((ns, N))
        code = np.zeros((ns, N), np.uint8)
        nz = np.zeros((ns, N + 1), np.int64)
        sel = np.array(second, np.int64)
        PearsonRows(W, plan.M, 0, 1).lagged(
            np.ascontiguousarray(xe[sel]), np.ascontiguousarray(be[sel]),
            np.ascontiguousarray(ce[sel]), np.arange(ns, dtype=np.int64), 0, ys, iy, code, nz)
        # unrolled one pipeline step further, so that the positions a step of any
        # rotation reads are one contiguous slice (no copies, no wrap); ``nz`` is the
        # running count of unusable positions over the unrolled circle (run_pair only
        # compares two of its entries)
        ext_len = (_STEP_WIN - 1) * plan.S + 2 * plan.M + 1
        ring = np.arange(N + ext_len) % N  # (a record shorter than a step wraps again)
        self.ys, self.iy, self.code = (np.take(a, ring, axis=1) for a in (ys, iy, code))
        del ys, iy, code, nz
        self.nz = np.zeros((ns, N + ext_len + 1), np.int64)
        np.cumsum(self.code != 0, axis=1, out=self.nz[:, 1:])
        self.nA = N // g
        grids = (np.arange(self.nA, dtype=np.int64) * g,                  # m g
                 N - np.arange(self.nA, 0, -1, dtype=np.int64) * g)       # N - m g
        ws = WindowSums()
        self.sums = []
        for pos in grids:
            sx, sxx = np.zeros((P, pos.size)), np.zeros((P, pos.size))
            nbx, ncx = np.zeros((P, pos.size), np.int64), np.zeros((P, pos.size), np.int64)
            for p in first:
                ws.compute(xe[p], be[p], ce[p], pos, W, sx[p], sxx[p], nbx[p], ncx[p])
            self.sums.append((sx, sxx, nbx, ncx))

    def window_sums(self, shifts: list[int], starts: np.ndarray, first: list[int]):
        """Lag-0 window sums of the rotated people at the window starts."""
        P = len(shifts)
        out = (np.zeros((P, starts.size)), np.zeros((P, starts.size)),
               np.zeros((P, starts.size), np.int64), np.zeros((P, starts.size), np.int64))
        for p in first:
            src = starts - shifts[p]
            after = src >= 0
            ia = np.where(after, src, 0) // self.g
            ib = np.where(after, 0, self.nA + src // self.g)
            for k in range(4):
                out[k][p] = np.where(after, self.sums[0][k][p, ia], self.sums[1][k][p, ib])
        return out

    def partner(self, shifts: list[int]) -> _Partners:
        """The rotated people's per-position sums, as ``_run_range`` reads them."""
        return _Partners(self, shifts)


class _Partners:
    """Per-position partner sums of rotated people, read in place from :class:`_Circular`.

    ``arrays`` stand for the ``ys, iy, code, nz`` of
    :meth:`somacore._core._xcorr.PearsonRows.lagged`; :meth:`origin` gives the
    row and ``t0`` to pass to ``run_pair`` for partner ``p`` at a step starting at ``s0``
    (position ``s0`` of the rotated series is position ``(s0 - shift) mod N`` of
    the unrolled circle).
    """

    def __init__(self, circ: _Circular, shifts: list[int]):
        self.arrays = (circ.ys, circ.iy, circ.code, circ.nz)
        self.N = circ.N
        self.shifts = shifts
        self.row = circ.row

    def origin(self, p: int, s0: int) -> tuple[int, int]:
        """Row of partner ``p`` in ``arrays`` and the ``t0`` that reads it at ``s0``."""
        return self.row[p], s0 - (s0 - self.shifts[p]) % self.N


class _ShiftEngine:
    """windowed_xcorr of circular shifts of one record, from spectra computed once.

    Rotating person p by ``s`` samples (a multiple of the block length ``g``)
    cuts the rotated series into blocks that are blocks of the original series
    (:class:`_Table`), so the forward FFTs are done once for all shifts; each
    shift then costs its spectral sums, inverse FFTs and Pearson rows (and an
    O(n) pass for its time-domain sums). ``run(shifts)`` equals
    ``windowed_xcorr`` on the explicitly rotated array up to rounding (the
    rotated array is centred with the original's mean).
    """

    def __init__(self, X: np.ndarray, measure: XcorrMeasure):
        m = measure
        self.measure = m
        self.X = X
        self.d = _design(X, m.fs, m.window_s, m.step_s, m.max_lag_s, m.pairs, m.peak,
                         m.peak_span_s)
        d = self.d
        self.first = sorted(set(d.lpairs[:, 0].tolist()))
        self.xc, self.bad, self.chg = _prepare(X[d.people])
        self.table: _Table | None = None
        self._local = threading.local()  # work arrays of each thread, kept between runs
        self._lock = threading.Lock()

    @staticmethod
    def table_bytes(X: np.ndarray, measure: XcorrMeasure) -> int | None:
        """Size of the shared table, or None when the design has no fast path."""
        m = measure
        d = _design(X, m.fs, m.window_s, m.step_s, m.max_lag_s, m.pairs, m.peak,
                    m.peak_span_s)
        pl = d.plan
        if not _slid(pl) or pl.S % pl.g:
            return None
        rows = (X.shape[1] // pl.g) * (1 if X.shape[1] % pl.g == 0 else 2)
        return d.people.size * rows * (pl.nfft // 2 + 1) * 16

    def _cache(self) -> dict:
        c = getattr(self._local, "cache", None)
        if c is None:
            c = self._local.cache = {}
        return c

    def prepare(self, n_threads: int = 1) -> None:
        """Build the shared statistics and spectrum table (once; the first run does it).

        With ``n_threads > 1`` the two are built at the same time (their kernels
        and FFTs release the GIL).
        """
        d, pl = self.d, self.d.plan
        with self._lock:
            if self.table is not None:
                return
            second = sorted(set(d.lpairs[:, 1].tolist()))

            def circ() -> _Circular:
                return _Circular(self.xc, self.bad, self.chg, self.X[d.people], pl,
                                 self.first, second)

            def table() -> _Table:
                return _Table(self.xc, pl, list(range(d.people.size)))

            if n_threads > 1:
                from concurrent.futures import ThreadPoolExecutor

                with ThreadPoolExecutor(2) as pool:
                    fc, ft = pool.submit(circ), pool.submit(table)
                    self.circ, self.table = fc.result(), ft.result()
            else:
                self.circ, self.table = circ(), table()

    def run(self, shifts: Any) -> WindowedXcorr:
        """Result for people rotated by ``shifts`` samples (one per person in x)."""
        d = self.d
        pl = d.plan
        sh = [int(v) for v in np.asarray(shifts)[d.people]]
        if any(s % pl.g or not 0 <= s < pl.N for s in sh):
            raise ValueError(f"shifts must be multiples of {pl.g} samples in [0, {pl.N}).")
        self.prepare()
        cache = self._cache()
        sums = self.circ.window_sums(sh, pl.starts, self.first)
        prep = _Prep(self.xc, self.bad, self.chg, pl, self.first, sums)
        out = _Out(d.pairs.shape[0], pl.starts.size, 2 * pl.M + 1, False)
        _run_all(prep, pl, d.lpairs, d.peak_rule, d.span, out, 1, self.table, sh, cache,
                 self.circ.partner(sh))
        res = _result(d.pairs, pl, out, d.peak_rule, d.span, self.measure.fs)
        return res if pl.M > 0 else dataclasses.replace(res, peak=self.measure.peak)
