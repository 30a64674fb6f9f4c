"""Loop kernels of the EMG plugin, compiled with :func:`somacore.numba.jit`.

Plain Python on float64 arrays, so they run unchanged without Numba or with
``SOMACORE_DISABLE_NUMBA=1``. They validate nothing (:mod:`somacore_emg.bursts`
does). NaN (lost signal) is never bridged.
"""

from __future__ import annotations

import numpy as np
from somacore.numba import jit
from somacore.numba_kernels import moving_mean

__all__ = ["highpass", "hysteresis_runs", "moving_mean"]


@jit
def hysteresis_runs(env: np.ndarray, on: float, off: float) -> tuple[np.ndarray, np.ndarray]:
    """Runs of ``env > off`` that contain at least one sample ``> on``.

    Returns half-open ``[start, stop)`` sample indices. NaN ends a run (and a
    run cut by NaN still counts if it crossed ``on``).
    """
    n = env.size
    starts = np.empty(n // 2 + 1, dtype=np.int64)
    stops = np.empty(n // 2 + 1, dtype=np.int64)
    k = 0
    start = -1
    hit = False
    for i in range(n + 1):
        v = env[i] if i < n else np.nan
        if v == v and v > off:
            if start < 0:
                start = i
                hit = False
            if v > on:
                hit = True
        elif start >= 0:
            if hit:
                starts[k] = start
                stops[k] = i
                k += 1
            start = -1
    return starts[:k], stops[:k]


@jit
def _biquad_pass(x: np.ndarray, y: np.ndarray, a: int, b: int, step: int, b0: float, b1: float,
                 b2: float, a1: float, a2: float) -> None:
    """One direction of a biquad over ``x[a:b]`` (backwards if ``step < 0``) into ``y``.

    The state starts as if the input had been at its first value forever (the
    steady state of a high-pass: zero output), so a DC offset causes no transient.
    """
    i = a if step > 0 else b - 1
    x1 = x[i]
    x2 = x[i]
    y1 = 0.0
    y2 = 0.0
    for _ in range(b - a):
        v = x[i]
        o = b0 * v + b1 * x1 + b2 * x2 - a1 * y1 - a2 * y2
        x2 = x1
        x1 = v
        y2 = y1
        y1 = o
        y[i] = o
        i += step


@jit
def highpass(x: np.ndarray, b0: float, b1: float, b2: float, a1: float, a2: float) -> np.ndarray:
    """Causal biquad over each NaN-free segment (restarted after lost samples); NaN stays NaN."""
    n = x.size
    out = np.full(n, np.nan)
    i = 0
    while i < n:
        if x[i] != x[i]:
            i += 1
            continue
        j = i
        while j < n and x[j] == x[j]:
            j += 1
        _biquad_pass(x, out, i, j, 1, b0, b1, b2, a1, a2)
        i = j
    return out
