"""Input checks and small helpers shared by the synchrony measures."""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np

from somacore._validate import check_fs

__all__ = ["as_people", "check_fs_sync", "design_pairs", "seconds", "to_samples"]

#: Sampling rates accepted for synchrony input (evenly sampled series such as
#: heart rate at 1-10 Hz, motion energy at 25 Hz, raw signals up to 10 kHz).
FS_MIN_SYNC = 0.01


def check_fs_sync(fs: Any) -> float:
    """``check_fs`` with the wider lower bound suited to derived series (e.g. 4 Hz HR)."""
    return check_fs(fs, lo=FS_MIN_SYNC, what="synchrony input series")


def as_people(x: Any, *, min_people: int = 2, what: str = "x") -> np.ndarray:
    """Return ``x`` as a float64 array of shape (n_people, n_samples).

    ``x`` is either a 2-D array (one row per person, all on one time base) or
    a sequence of 1-D arrays of equal length. Unequal lengths are refused:
    put the people on one time base first with
    :func:`somacore.synchrony.align_series`.
    """
    if isinstance(x, np.ndarray):
        arr = x
    elif isinstance(x, (list, tuple)):
        rows = [np.asarray(r) for r in x]
        if any(r.ndim != 1 for r in rows):
            raise ValueError(f"{what}: each person's series must be 1-D; got shapes "
                             f"{[r.shape for r in rows]}.")
        lengths = sorted({r.shape[0] for r in rows})
        if len(lengths) > 1:
            raise ValueError(
                f"{what}: the people's series have unequal lengths {[r.shape[0] for r in rows]}."
                " Synchrony needs one common time base: use somacore.synchrony.align_series "
                "(timestamps, offsets, resampling) first, or trim them to the same span."
            )
        arr = np.stack(rows) if rows else np.zeros((0, 0))
    else:
        try:
            arr = np.asarray(x)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{what} must be a numeric array of shape (n_people, n_samples): "
                             f"{exc}") from None
    if arr.ndim != 2:
        raise ValueError(f"{what} must have shape (n_people, n_samples) (one row per person), "
                         f"got an array of shape {arr.shape}.")
    if arr.dtype.kind not in "fiu":
        raise ValueError(f"{what} must be numeric (float or integer), got dtype {arr.dtype}.")
    if arr.shape[0] < min_people:
        raise ValueError(
            f"{what} has {arr.shape[0]} person(s); this measure compares people and needs at "
            f"least {min_people}. Pass one row per person, shape (n_people, n_samples)."
        )
    return np.ascontiguousarray(arr, dtype=np.float64)


def seconds(value: Any, name: str, *, positive: bool = True, allow_zero: bool = False) -> float:
    """Check a duration in seconds."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name} must be a number of seconds, got {value!r}.")
    v = float(value)
    if not math.isfinite(v) or (positive and (v < 0 or (v == 0 and not allow_zero))):
        raise ValueError(f"{name} must be a {'non-negative' if allow_zero else 'positive'} "
                         f"finite number of seconds, got {value!r}.")
    return v


def to_samples(value_s: float, fs: float, name: str, *, minimum: int = 1) -> int:
    """Seconds to a whole number of samples (rounded), at least ``minimum``."""
    n = round(value_s * fs)
    if n < minimum:
        raise ValueError(
            f"{name}={value_s:g} s is {value_s * fs:.3g} samples at fs={fs:g} Hz; at least "
            f"{minimum} sample(s) are needed."
        )
    return int(n)


def design_pairs(pairs: Any, n_people: int) -> np.ndarray:
    """``"all"`` or a sequence of ``(i, j)`` person indices -> int64 array (n_pairs, 2)."""
    if isinstance(pairs, str):
        if pairs != "all":
            raise ValueError(f"pairs must be 'all' or a list of (i, j) index pairs, got {pairs!r}.")
        p = np.array(list(itertools.combinations(range(n_people), 2)), dtype=np.int64)
        return p.reshape(-1, 2)
    try:
        p = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    except (TypeError, ValueError):
        raise ValueError(f"pairs must be 'all' or a list of (i, j) index pairs, got {pairs!r}.") \
            from None
    if p.shape[0] == 0:
        raise ValueError("pairs is empty: give at least one (i, j) pair.")
    if np.any(p < 0) or np.any(p >= n_people):
        raise ValueError(f"pairs refer to people outside 0..{n_people - 1}: {p.tolist()}.")
    if np.any(p[:, 0] == p[:, 1]):
        raise ValueError("a pair must join two different people; got (i, i).")
    return np.ascontiguousarray(p)
