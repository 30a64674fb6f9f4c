"""Small array helpers shared by the result types."""

from __future__ import annotations

import numpy as np


def readonly(a: np.ndarray) -> np.ndarray:
    """Mark ``a`` read-only in place (no copy) and return it.

    Every result object in somacore is frozen, arrays included, so that a
    result handed to several consumers (a report, a live sink, a table) cannot
    be changed by one of them behind the others' backs.
    """
    if a.flags.writeable:
        a.flags.writeable = False
    return a


def readonly_contiguous(a, dtype=None) -> np.ndarray:
    """C-contiguous (copying only if needed), read-only version of ``a``."""
    return readonly(np.ascontiguousarray(a, dtype=dtype))
