"""Live windowed cross-correlation for feedback during a session.

:class:`SynchronyMonitor` keeps the last ``window + 2 * max_lag`` seconds of
every person and, as chunks arrive, computes each window as soon as its last
lagged partner sample is in: window ``k`` (start ``k * step``) is complete
once ``k * step + window + max_lag`` seconds have been received. It uses the
same kernels and definitions as :func:`somacore.synchrony.windowed_xcorr`, so
the windows it reports are the batch windows, with the same peaks and flags;
r agrees with the batch result to rounding (~1e-12; each update centres its
own stretch of data rather than the whole record).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

import numpy as np

from somacore.synchrony._common import check_fs_sync, design_pairs, seconds, to_samples
from somacore.synchrony.xcorr import WindowedXcorr, _plan, _run

__all__ = ["SynchronyMonitor"]


class SynchronyMonitor:
    """Windowed lagged cross-correlation updated chunk by chunk.

    Parameters
    ----------
    n_people : int
        Number of people (rows of every chunk), at least 2.
    fs : float
        Common sampling rate in Hz (required, keyword-only).
    window_s, step_s, max_lag_s, pairs, peak, peak_span_s
        As in :func:`somacore.synchrony.windowed_xcorr`.

    Examples
    --------
    >>> mon = SynchronyMonitor(2, fs=4.0, window_s=30, step_s=1, max_lag_s=5)
    >>> for chunk in chunks:                      # doctest: +SKIP
    ...     new = mon.update(chunk)               # windows completed by this chunk
    ...     if len(new.window_start_s):
    ...         show(new.peak_r[:, -1], new.peak_lag_s[:, -1])
    """

    def __init__(self, n_people: int, *, fs: float, window_s: float, step_s: float,
                 max_lag_s: float, pairs: Any = "all",
                 peak: Literal["boker", "max"] = "boker", peak_span_s: float | None = None):
        if isinstance(n_people, bool) or not isinstance(n_people, (int, np.integer)) \
                or n_people < 2:
            raise ValueError(f"n_people must be an integer >= 2, got {n_people!r}.")
        self.fs = check_fs_sync(fs)
        self.n_people = int(n_people)
        self.W = to_samples(seconds(window_s, "window_s"), self.fs, "window_s", minimum=3)
        self.S = to_samples(seconds(step_s, "step_s"), self.fs, "step_s")
        self.M = round(seconds(max_lag_s, "max_lag_s", allow_zero=True) * self.fs)
        if self.M >= self.W:
            raise ValueError("max_lag_s must be shorter than window_s.")
        if peak not in ("boker", "max"):
            raise ValueError(f"peak must be 'boker' or 'max', got {peak!r}.")
        self.peak = peak
        self.span = max(1, round(0.1 * self.M)) if peak_span_s is None else \
            max(1, round(seconds(peak_span_s, "peak_span_s") * self.fs))
        self.pairs = design_pairs(pairs, self.n_people)
        self._people, local = np.unique(self.pairs, return_inverse=True)
        self._lpairs = np.ascontiguousarray(local.reshape(-1, 2).astype(np.int64))
        self._buf = np.zeros((self.n_people, 0))
        self._buf0 = 0                        # absolute index of self._buf[:, 0]
        self._n = 0                           # samples received
        self._next_k = -(-self.M // self.S)   # next window to report
        self.latest: WindowedXcorr | None = None

    @property
    def n_samples(self) -> int:
        """Samples received so far (per person)."""
        return self._n

    def _empty(self) -> WindowedXcorr:
        npair = self.pairs.shape[0]
        M = self.M
        return WindowedXcorr(
            pairs=self.pairs, peak_r=np.zeros((npair, 0)), peak_lag_s=np.zeros((npair, 0)),
            flags=np.zeros((npair, 0), np.uint8), window_start_s=np.zeros(0),
            lags_s=np.arange(-M, M + 1) / self.fs, fs=self.fs, window_s=self.W / self.fs,
            step_s=self.S / self.fs, max_lag_s=M / self.fs, peak=self.peak,
            peak_span_s=self.span / self.fs)

    def update(self, chunk: Any) -> WindowedXcorr:
        """Add samples and return the windows they complete (possibly none).

        Parameters
        ----------
        chunk : array_like, shape (n_people, n_new)
            The next samples of every person (NaN for missing ones).

        Returns
        -------
        WindowedXcorr
            Only the newly completed windows (``window_start_s`` on the
            session clock, 0 = first sample received).
        """
        c = np.asarray(chunk, dtype=np.float64)
        if c.ndim != 2 or c.shape[0] != self.n_people:
            raise ValueError(f"chunk must have shape ({self.n_people}, n_new), got {c.shape}.")
        self._buf = np.concatenate([self._buf, c], axis=1)
        self._n += c.shape[1]
        W, S, M = self.W, self.S, self.M
        k0 = self._next_k
        k1 = (self._n - W - M) // S        # last complete window
        if k1 < k0:
            return self._empty()
        a0 = k0 * S - M                    # absolute start of the needed stretch
        seg = self._buf[:, a0 - self._buf0:k1 * S + W + M - self._buf0]
        starts = M + np.arange(k1 - k0 + 1, dtype=np.int64) * S
        plan = _plan(seg.shape[1], W, S, M, self._people.size, self.pairs.shape[0],
                     starts=starts)
        res = _run(seg, plan, self.pairs, self._people, self._lpairs, self.peak, self.span,
                   False, 1, self.fs)
        res = dataclasses.replace(res, window_start_s=res.window_start_s + a0 / self.fs)
        self._next_k = k1 + 1
        keep = self._next_k * S - M
        self._buf = self._buf[:, keep - self._buf0:].copy()
        self._buf0 = keep
        self.latest = res
        return res
