"""Loop kernels of the EDA plugin, compiled with :func:`somacore.numba.jit`.

Each kernel is plain Python on float64 arrays (no Python objects in loops), so
it runs unchanged when Numba is absent or ``SOMACORE_DISABLE_NUMBA=1``. The
kernels validate nothing: :mod:`somacore_eda.scr` checks inputs first.

NaN (lost signal) is never bridged: window statistics ignore NaN samples and
the output is NaN wherever the input is NaN; the SCR state machine restarts
after every NaN.
"""

from __future__ import annotations

import numpy as np
from somacore.numba import jit
from somacore.numba_kernels import moving_mean

__all__ = ["half_recovery", "moving_max", "moving_mean", "moving_min", "scr_detect"]


@jit
def moving_min(x: np.ndarray, w: int) -> np.ndarray:
    """Centred moving minimum over ``w`` samples (monotonic deque, O(n)), NaN-aware."""
    n = x.size
    h = w // 2
    out = np.empty(n)
    dq = np.empty(n, dtype=np.int64)
    head = 0
    tail = 0
    j = 0
    for i in range(n):
        hi = min(n - 1, i + h)
        while j <= hi:
            v = x[j]
            if v == v:
                while tail > head and x[dq[tail - 1]] >= v:
                    tail -= 1
                dq[tail] = j
                tail += 1
            j += 1
        lo = i - h
        while tail > head and dq[head] < lo:
            head += 1
        if x[i] != x[i] or tail == head:
            out[i] = np.nan
        else:
            out[i] = x[dq[head]]
    return out


@jit
def moving_max(x: np.ndarray, w: int) -> np.ndarray:
    """Centred moving maximum over ``w`` samples, NaN-aware."""
    return -moving_min(-x, w)


@jit
def scr_detect(s: np.ndarray, thr: float, fall: float, max_rise: int) -> tuple[
        np.ndarray, np.ndarray]:
    """Trough-to-peak SCR detection with hysteresis on a smoothed signal ``s``.

    A rise is confirmed once ``s`` exceeds the lowest value since the previous
    response by ``thr``; its peak is the highest sample before ``s`` falls
    ``fall`` below it. The onset is the first local minimum found walking back
    from the peak that lies at least ``thr`` below it, and no more than
    ``max_rise`` samples before it. Responses still rising when the signal
    ends (or reaches NaN) are not reported.

    Returns
    -------
    onsets, peaks : ndarray of int64
        Sample indices.
    """
    n = s.size
    onsets = np.empty(n // 2 + 1, dtype=np.int64)
    peaks = np.empty(n // 2 + 1, dtype=np.int64)
    k = 0
    trough = -1
    peak = -1
    rising = False
    for i in range(n):
        v = s[i]
        if v != v:
            trough = -1
            rising = False
            continue
        if not rising:
            if trough < 0 or v < s[trough]:
                trough = i
            elif v - s[trough] >= thr:
                rising = True
                peak = i
        elif v >= s[peak]:
            peak = i
        elif s[peak] - v >= fall:
            lo = max(trough, peak - max_rise)
            j = peak
            while j > lo and (s[j - 1] < s[j] or s[j] > s[peak] - thr):
                j -= 1
            if j == lo and peak - trough > max_rise:
                # no clean trough within max_rise: take the lowest sample there
                for m in range(lo, peak):
                    if s[m] < s[j]:
                        j = m
            if s[peak] - s[j] >= thr:
                onsets[k] = j
                peaks[k] = peak
                k += 1
            rising = False
            trough = i
    return onsets[:k], peaks[:k]


@jit
def half_recovery(s: np.ndarray, onsets: np.ndarray, peaks: np.ndarray) -> np.ndarray:
    """Samples (fractional) from each peak until ``s`` recovers half the amplitude.

    The search stops at the next response's onset and at lost signal (NaN
    result). The crossing is linearly interpolated between samples.
    """
    m = peaks.size
    out = np.full(m, np.nan)
    n = s.size
    for e in range(m):
        p = peaks[e]
        level = s[p] - 0.5 * (s[p] - s[onsets[e]])
        stop = onsets[e + 1] if e + 1 < m else n
        for i in range(p + 1, stop):
            v = s[i]
            if v != v:
                break
            if v <= level:
                prev = s[i - 1]
                frac = (prev - level) / (prev - v) if prev != v else 0.0
                out[e] = (i - 1 - p) + frac
                break
    return out
