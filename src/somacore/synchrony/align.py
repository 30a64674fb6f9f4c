"""Put people recorded on different devices on one time base.

Each person's series comes with its own clock: explicit sample timestamps
(e.g. Unix seconds from a sensor), or a start time ``t0`` and a sampling rate
``fs_in`` (a :class:`~somacore.heart_rate.HeartRate` carries both). A known
clock offset per device (``offsets_s``, added to that person's times) corrects
devices whose clocks disagree. The output grid starts at the latest start,
ends at the earliest end (the span all people cover) and is sampled at ``fs``;
values are linearly interpolated between the two neighbouring input samples.
An output sample is NaN when either neighbour is NaN or when the neighbours
are more than ``max_gap_s`` apart (a recording pause is never bridged).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from somacore.synchrony._common import check_fs_sync, seconds

__all__ = ["Aligned", "align_series"]


@dataclass(frozen=True, eq=False)
class Aligned:
    """People on one time base.

    Attributes
    ----------
    values : ndarray, shape (n_people, n_samples)
        Resampled series (NaN where undefined); ready for the synchrony measures.
    fs : float
        Common sampling rate in Hz.
    t0 : float
        Time of ``values[:, 0]`` on the common clock (the inputs' unit,
        e.g. Unix seconds).
    """

    values: np.ndarray
    fs: float
    t0: float

    def __post_init__(self) -> None:
        v = np.ascontiguousarray(self.values, dtype=np.float64)
        v.flags.writeable = False
        object.__setattr__(self, "values", v)

    @property
    def times(self) -> np.ndarray:
        """Time of each column on the common clock."""
        return self.t0 + np.arange(self.values.shape[1]) / self.fs


def _times_of(k: int, s: Any, timestamps, fs_in, t0) -> tuple[np.ndarray, np.ndarray]:
    if hasattr(s, "values") and hasattr(s, "fs") and not isinstance(s, np.ndarray):
        v = np.asarray(s.values, dtype=np.float64)
        return v, float(getattr(s, "t0", 0.0)) + np.arange(v.size) / float(s.fs)
    v = np.asarray(s, dtype=np.float64)
    if v.ndim != 1:
        raise ValueError(f"series {k}: each person's series must be 1-D, got shape {v.shape}.")
    if timestamps is not None and timestamps[k] is not None:
        ts = np.asarray(timestamps[k], dtype=np.float64)
        if ts.shape != v.shape:
            raise ValueError(
                f"series {k}: {v.size} values but {ts.size} timestamps; give one timestamp "
                "per sample."
            )
        if ts.size > 1 and not np.all(np.diff(ts) > 0):
            raise ValueError(f"series {k}: timestamps must be strictly increasing (sort the "
                             "samples and drop duplicates first).")
        return v, ts
    if fs_in is None or fs_in[k] is None:
        raise ValueError(
            f"series {k}: no timing. Give timestamps[{k}] (one per sample) or fs_in[{k}] "
            "(its sampling rate in Hz, with t0) so it can be put on the common time base."
        )
    f = check_fs_sync(fs_in[k])
    start = 0.0 if t0 is None or t0[k] is None else float(t0[k])
    return v, start + np.arange(v.size) / f


def align_series(series: Sequence[Any], *, fs: float, timestamps: Sequence[Any] | None = None,
                 fs_in: Sequence[float | None] | None = None,
                 t0: Sequence[float | None] | None = None,
                 offsets_s: Sequence[float] | None = None,
                 max_gap_s: float | None = None) -> Aligned:
    """Resample several people's series onto one common time base.

    Parameters
    ----------
    series : sequence
        One entry per person: a 1-D array, or an object with ``values``,
        ``fs`` and ``t0`` (e.g. :class:`~somacore.heart_rate.HeartRate`).
    fs : float
        Output sampling rate in Hz (required, keyword-only).
    timestamps : sequence of array_like or None, optional
        Per person, the time of every sample (any clock in seconds).
    fs_in, t0 : sequence, optional
        Per person without timestamps: sampling rate and start time.
    offsets_s : sequence of float, optional
        Per person, seconds added to its times (clock correction).
    max_gap_s : float, optional
        Longest spacing between input samples that is interpolated across;
        default: 1.5 times the person's median sample spacing.

    Returns
    -------
    Aligned

    Raises
    ------
    ValueError
        Fewer than two people, missing timing, mismatched value/timestamp
        lengths, unsorted timestamps, or no time span common to all people.
    """
    fs = check_fs_sync(fs)
    if len(series) < 2:
        raise ValueError("align_series needs at least two people's series.")
    for name, seq in (("timestamps", timestamps), ("fs_in", fs_in), ("t0", t0),
                      ("offsets_s", offsets_s)):
        if seq is not None and len(seq) != len(series):
            raise ValueError(f"{name} has {len(seq)} entries for {len(series)} series; give "
                             "one per person (None where not applicable).")
    gap = None if max_gap_s is None else seconds(max_gap_s, "max_gap_s")
    vals, times = [], []
    for k, s in enumerate(series):
        v, ts = _times_of(k, s, timestamps, fs_in, t0)
        if v.size < 2:
            raise ValueError(f"series {k} has fewer than two samples.")
        if offsets_s is not None:
            ts = ts + float(offsets_s[k])
        vals.append(v)
        times.append(ts)
    start = max(ts[0] for ts in times)
    end = min(ts[-1] for ts in times)
    if not end > start:
        spans = ", ".join(f"{ts[0]:.3f}-{ts[-1]:.3f}" for ts in times)
        raise ValueError(f"the series do not overlap in time (spans {spans}); check the clocks "
                         "and offsets_s.")
    n = math.floor((end - start) * fs + 1e-9) + 1
    grid = start + np.arange(n) / fs
    out = np.empty((len(vals), n))
    for k, (v, ts) in enumerate(zip(vals, times, strict=True)):
        lim = gap if gap is not None else 1.5 * float(np.median(np.diff(ts)))
        i = np.clip(np.searchsorted(ts, grid, side="right") - 1, 0, ts.size - 2)
        t_a, t_b = ts[i], ts[i + 1]
        v_a, v_b = v[i], v[i + 1]
        w = (grid - t_a) / (t_b - t_a)
        res = v_a + w * (v_b - v_a)
        exact = grid == t_a
        res = np.where(exact, v_a, res)
        bad = ~exact & ((t_b - t_a > lim + 1e-12) | ~np.isfinite(v_a) | ~np.isfinite(v_b))
        res[bad | (exact & ~np.isfinite(v_a))] = np.nan
        out[k] = res
    return Aligned(values=out, fs=fs, t0=float(start))
