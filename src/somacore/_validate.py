"""Input validation shared by every public entry point.

Kernels in :mod:`somacore._core` validate nothing (they are called in hot loops);
this module is the single place where user input is checked, so that every
public function fails the same way, with a message that names the problem and
the fix.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

FS_MIN = 1.0
FS_MAX = 10_000.0

#: dtypes the compiled kernels read directly, without a conversion copy.
KERNEL_DTYPES = (np.dtype(np.float64), np.dtype(np.float32), np.dtype(np.int16),
                 np.dtype(np.int32))


def check_fs(fs: Any, *, lo: float = FS_MIN, hi: float = FS_MAX, what: str = "signal") -> float:
    """Return ``fs`` as a float after checking it is a usable sampling rate.

    Parameters
    ----------
    fs : float
        Sampling rate in Hz, as given by the user.
    lo, hi : float
        Accepted range (inclusive) for this kind of signal.
    what : str
        Name of the signal, used in the error message.
    """
    if fs is None:
        raise ValueError(
            f"fs is required: pass the sampling rate of the {what} in Hz, e.g. fs=360.0 "
            "(somacore never assumes a default rate, because a wrong rate silently "
            "gives wrong timing)."
        )
    if isinstance(fs, bool) or not isinstance(fs, (int, float, np.integer, np.floating)):
        raise ValueError(f"fs must be a number in Hz, got {type(fs).__name__} {fs!r}.")
    fs = float(fs)
    if not math.isfinite(fs) or not (lo <= fs <= hi):
        raise ValueError(
            f"fs={fs!r} Hz is outside the supported range {lo:g}-{hi:g} Hz for a {what}. "
            "Check the unit (Hz, not kHz or ms) and the recording's header; resample "
            "the signal if it really was sampled outside this range."
        )
    return fs


def as_1d_signal(x: Any, *, what: str = "signal") -> np.ndarray:
    """Return ``x`` as a 1-D numeric array, copying only when unavoidable.

    float64, float32, int16 and int32 arrays (including memory-mapped and
    strided views) are passed through unchanged; other real dtypes are
    converted to float64. Non-finite samples (NaN, inf) are allowed: the kernels
    treat them as gaps and report them, so no extra pass over the data is made here.
    """
    if isinstance(x, np.ndarray):
        arr = x
    else:
        try:
            arr = np.asarray(x)
        except (TypeError, ValueError) as exc:  # ragged lists and the like
            raise ValueError(f"{what} must be a 1-D numeric array: {exc}") from None
    if arr.ndim == 2 and 1 in arr.shape:
        raise ValueError(
            f"{what} has shape {arr.shape}: pass one channel as a 1-D array, "
            f"e.g. x.ravel() or x[:, 0]."
        )
    if arr.ndim != 1:
        raise ValueError(
            f"{what} must be 1-D (one channel), got an array of shape {arr.shape}. "
            "Select one channel, e.g. x[:, 0] for the first column."
        )
    if arr.dtype.kind not in "fiub":
        raise ValueError(
            f"{what} must be numeric, got dtype {arr.dtype}. Convert it first, "
            "e.g. np.asarray(x, dtype=float)."
        )
    if arr.dtype.kind == "b":
        raise ValueError(f"{what} is boolean; a physiological signal must be numeric samples.")
    if arr.dtype not in KERNEL_DTYPES or not arr.dtype.isnative:
        arr = arr.astype(np.float64)
    return arr


def is_number(v: Any) -> bool:
    """A finite real number (int or float, numpy scalars too; not a bool)."""
    return (isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
            and math.isfinite(v))


def check_params(params: Any, *, positive: tuple[str, ...] = (),
                 nonnegative: tuple[str, ...] = (), band: str | None = None) -> None:
    """Check a detector's parameter dataclass: named fields are finite numbers.

    Parameters
    ----------
    params : dataclass instance
        ``EcgParams``, ``PpgParams``, ``BreathParams``...
    positive : tuple of str
        Fields that must be finite and > 0.
    nonnegative : tuple of str
        Fields that must be finite and >= 0 (0 usually turns a rule off).
    band : str, optional
        A field holding a ``(low, high)`` pass band in Hz, ``0 < low < high``.

    Raises
    ------
    ValueError
        Naming the class, the field, the value given and what it must be.
    """
    cls = type(params).__name__
    number = is_number
    for name in positive:
        v = getattr(params, name)
        if not (number(v) and v > 0):
            raise ValueError(f"{cls}.{name} must be a positive number, got {v!r}.")
    for name in nonnegative:
        v = getattr(params, name)
        if not (number(v) and v >= 0):
            raise ValueError(f"{cls}.{name} must be a number >= 0 (0 turns it off), got {v!r}.")
    if band is not None:
        b = getattr(params, band)
        try:
            lo, hi = b
        except (TypeError, ValueError):
            lo = hi = None
        if not (number(lo) and number(hi) and 0 < lo < hi):
            raise ValueError(f"{cls}.{band} must be a (low, high) pass band in Hz with "
                             f"0 < low < high, got {b!r}.")
