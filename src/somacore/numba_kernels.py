"""Njit-callable helpers for plugin authors, compiled with :func:`somacore.numba.jit`.

Loops that several metric plugins need, kept here once so that each plugin
does not carry its own copy. Like :mod:`somacore.numba`, they are plain Python
on float64 arrays that run unchanged without Numba (or with
``SOMACORE_DISABLE_NUMBA=1``), and can be called from a plugin's own jitted
functions. Importing this module compiles with Numba when it is enabled, so
``somacore`` itself never imports it.
"""

from __future__ import annotations

import numpy as np

from somacore.numba import jit

__all__ = ["moving_mean"]


@jit
def moving_mean(x: np.ndarray, w: int) -> np.ndarray:
    """Centred moving mean over ``w`` samples (``w`` odd), NaN-aware.

    Windows are truncated at the edges; the output is NaN where ``x`` is NaN.
    """
    n = x.size
    h = w // 2
    cs = np.zeros(n + 1)
    cn = np.zeros(n + 1)
    for i in range(n):
        v = x[i]
        if v == v:
            cs[i + 1] = cs[i] + v
            cn[i + 1] = cn[i] + 1.0
        else:
            cs[i + 1] = cs[i]
            cn[i + 1] = cn[i]
    out = np.empty(n)
    for i in range(n):
        if x[i] != x[i]:
            out[i] = np.nan
            continue
        a = max(0, i - h)
        b = min(n, i + h + 1)
        out[i] = (cs[b] - cs[a]) / (cn[b] - cn[a])
    return out
