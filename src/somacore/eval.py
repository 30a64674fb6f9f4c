"""Scoring of detected beats and breaths against reference annotations.

:func:`compare_beats` implements the beat-by-beat comparison of ANSI/AAMI EC57
(as in WFDB ``bxb``): every reference beat is matched to at most one detection
and vice versa, within a tolerance window (150 ms by default). Pairs are formed
greedily, closest first, which for events on a line is what a human scorer does
and is fully deterministic:

1. all (detection, reference) pairs with ``|detected - reference| <= tolerance``
   are candidates (the boundary is inclusive; the tolerance in samples,
   ``tolerance_s * fs``, is enlarged by a relative 1e-9 plus 1e-9 samples so
   that e.g. 0.15 s at 360 Hz is exactly 54 samples despite binary rounding);
2. candidates are sorted by distance, ties broken by the earlier reference beat,
   then by the earlier detection;
3. candidates are accepted in that order if neither member is already matched.

:func:`compare_events` is the same matcher under a generic name (breaths,
pulses), and :func:`windowed_rate_error` compares event rates over windows.

Metrics are defined as ``Se = TP / (TP + FN)``, ``PPV = TP / (TP + FP)`` and
``F1 = 2 TP / (2 TP + FP + FN)``; each is NaN when its denominator is 0 (e.g. Se
of a record without reference beats), never silently 0 or 1.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from somacore._arrays import readonly
from somacore._validate import check_fs

__all__ = [
    "BeatScore",
    "EventScore",
    "compare_beats",
    "compare_events",
    "pool",
    "windowed_rate_error",
]

# Relative slack on the tolerance so that e.g. 0.15 s at 360 Hz is exactly 54
# samples despite 0.15 not being representable in binary floating point.
_TOL_SLACK = 1e-9


def _ratio(num: int, den: int) -> float:
    return num / den if den else math.nan




@dataclass(frozen=True, eq=False)
class BeatScore:
    """Result of a one-to-one event comparison.

    Attributes
    ----------
    tp, fp, fn : int
        Matched detections, unmatched detections, unmatched reference events
        (events inside ``exclude`` ranges are not counted at all).
    se, ppv, f1 : float
        Sensitivity ``TP/(TP+FN)``, positive predictive value ``TP/(TP+FP)`` and
        F1 ``2TP/(2TP+FP+FN)``; NaN when the denominator is 0.
    matched_detected, matched_reference : ndarray of int64, shape (tp,)
        Indices into the ``detected`` and ``reference`` arrays as passed in
        (before exclusion) of each matched pair, ordered by reference index.
        Empty for pooled scores.
    timing_error_s : ndarray of float64, shape (tp,)
        ``(detected - reference) / fs`` of each matched pair, in seconds
        (positive = detection late). Pooled scores concatenate them.
    fs : float
        Sampling rate used (NaN for pooled scores mixing rates).
    tolerance_s : float
        Matching tolerance in seconds (NaN for pooled scores mixing tolerances).
    """

    tp: int
    fp: int
    fn: int
    se: float
    ppv: float
    f1: float
    matched_detected: np.ndarray
    matched_reference: np.ndarray
    timing_error_s: np.ndarray
    fs: float = math.nan
    tolerance_s: float = math.nan

    @classmethod
    def from_counts(cls, tp: int, fp: int, fn: int, **kw: Any) -> BeatScore:
        """Build a score from counts, computing Se, PPV and F1."""
        empty_i = np.zeros(0, np.int64)
        kw.setdefault("matched_detected", empty_i)
        kw.setdefault("matched_reference", empty_i)
        kw.setdefault("timing_error_s", np.zeros(0))
        for k in ("matched_detected", "matched_reference", "timing_error_s"):
            kw[k] = readonly(np.array(kw[k]))
        return cls(tp=int(tp), fp=int(fp), fn=int(fn), se=_ratio(tp, tp + fn),
                   ppv=_ratio(tp, tp + fp), f1=_ratio(2 * tp, 2 * tp + fp + fn), **kw)

    @classmethod
    def pool(cls, scores: Iterable[BeatScore]) -> BeatScore:
        """Gross (pooled) score of several records, as EC57 reports it.

        Counts are summed and Se/PPV/F1 recomputed from the sums (not averaged);
        timing errors are concatenated. Matched-index arrays are empty because
        they refer to different records.
        """
        scores = list(scores)
        for s in scores:
            if not isinstance(s, BeatScore):
                raise ValueError(f"pool() takes BeatScore objects, got {type(s).__name__}.")
        fss = {s.fs for s in scores}
        tols = {s.tolerance_s for s in scores}
        return cls.from_counts(
            sum(s.tp for s in scores), sum(s.fp for s in scores), sum(s.fn for s in scores),
            timing_error_s=np.concatenate([s.timing_error_s for s in scores] or [np.zeros(0)]),
            fs=fss.pop() if len(fss) == 1 else math.nan,
            tolerance_s=tols.pop() if len(tols) == 1 else math.nan,
        )

    @property
    def n_detected(self) -> int:
        """Detections considered (outside excluded ranges): ``tp + fp``."""
        return self.tp + self.fp

    @property
    def n_reference(self) -> int:
        """Reference events considered (outside excluded ranges): ``tp + fn``."""
        return self.tp + self.fn

    @property
    def median_abs_error_s(self) -> float:
        """Median of ``|timing_error_s|`` in seconds; NaN without matches."""
        e = self.timing_error_s
        return float(np.median(np.abs(e))) if e.size else math.nan

    @property
    def mean_error_s(self) -> float:
        """Mean signed timing error (bias) in seconds; NaN without matches."""
        e = self.timing_error_s
        return float(np.mean(e)) if e.size else math.nan

    def __repr__(self) -> str:
        return (f"BeatScore(tp={self.tp}, fp={self.fp}, fn={self.fn}, se={self.se:.4f}, "
                f"ppv={self.ppv:.4f}, f1={self.f1:.4f}, "
                f"median_abs_error_s={self.median_abs_error_s:.4f})")


#: Same result type, generic name for breaths and other events.
EventScore = BeatScore

#: Module-level alias of :meth:`BeatScore.pool`.
pool = BeatScore.pool


# ----------------------------------------------------------------------------------
# input handling
# ----------------------------------------------------------------------------------


def _as_events(x: Any, what: str, fs: float) -> np.ndarray:
    """1-D sorted sample array (int64 or float64) from an array or a ``Beats``."""
    if hasattr(x, "samples"):
        other_fs = getattr(x, "fs", None)
        if other_fs is not None and not math.isclose(float(other_fs), fs, rel_tol=1e-9):
            raise ValueError(
                f"{what} were detected at fs={float(other_fs):g} Hz but fs={fs:g} Hz was passed; "
                "score against reference annotations of the same rate (resample the "
                "sample indices, e.g. np.round(samples * new_fs / old_fs)).")
        x = x.samples
    try:
        arr = np.asarray(x)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} must be a 1-D array of sample indices: {exc}") from None
    if arr.ndim != 1:
        raise ValueError(f"{what} must be a 1-D array of sample indices, got shape {arr.shape}; "
                         "pass e.g. beats.samples or np.ravel(...).")
    if arr.size == 0:
        return np.zeros(0, np.int64)
    if arr.dtype.kind in "iu":
        arr = arr.astype(np.int64, copy=False)
    elif arr.dtype.kind == "f":
        arr = arr.astype(np.float64, copy=False)
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{what} contains NaN or inf; remove missing events first.")
    else:
        raise ValueError(f"{what} must hold numeric sample indices, got dtype {arr.dtype}.")
    bad = np.flatnonzero(np.diff(arr) < 0)
    if bad.size:
        i = int(bad[0])
        raise ValueError(
            f"{what} must be sorted ascending, but element {i + 1} ({arr[i + 1]}) comes after "
            f"{arr[i]}. Sort them first (np.sort) if the order carries no meaning.")
    return arr


def _as_ranges(exclude: Any) -> np.ndarray:
    if exclude is None:
        return np.zeros((0, 2), np.int64)
    r = np.asarray(exclude)
    if r.size == 0:
        return np.zeros((0, 2), np.int64)
    if r.ndim != 2 or r.shape[1] != 2 or r.dtype.kind not in "iuf":
        raise ValueError(f"exclude must be a (k, 2) array of [start, stop) sample ranges, got "
                         f"shape {r.shape} dtype {r.dtype}.")
    if np.any(r[:, 1] < r[:, 0]):
        raise ValueError("exclude ranges must have start <= stop (half-open [start, stop)).")
    return r


def _outside(x: np.ndarray, ranges: np.ndarray) -> np.ndarray:
    """Mask of ``x`` not inside any half-open range (ranges may overlap)."""
    if ranges.shape[0] == 0 or x.size == 0:
        return np.ones(x.shape, bool)
    order = np.argsort(ranges[:, 0], kind="stable")
    starts = ranges[order, 0]
    stops = np.maximum.accumulate(ranges[order, 1])
    i = np.searchsorted(starts, x, side="right") - 1
    inside = (i >= 0) & (x < stops[np.maximum(i, 0)])
    return ~inside


def _check_tolerance(tolerance_s: Any) -> float:
    if isinstance(tolerance_s, bool) or not isinstance(
            tolerance_s, (int, float, np.integer, np.floating)):
        raise ValueError(f"tolerance_s must be a number of seconds, got {tolerance_s!r}.")
    t = float(tolerance_s)
    if not math.isfinite(t) or t < 0:
        raise ValueError(f"tolerance_s must be a finite, non-negative number of seconds, got "
                         f"{t!r} (ANSI/AAMI EC57 uses 0.15 s for beats).")
    return t


# ----------------------------------------------------------------------------------
# matcher
# ----------------------------------------------------------------------------------


def _match(det: np.ndarray, ref: np.ndarray, tol: float) -> tuple[np.ndarray, np.ndarray]:
    """Greedy closest-first one-to-one matching of two sorted arrays.

    Returns index arrays ``(i_det, i_ref)`` ordered by ``i_ref``. Only candidate
    pairs (within ``tol``) are built, via ``searchsorted``: O((n + m) log(n + m)
    + K log K) for K candidates, K ~ n for physiological event rates.
    """
    n, m = det.size, ref.size
    empty = np.zeros(0, np.int64)
    if n == 0 or m == 0:
        return empty, empty
    exact = det.dtype.kind == "i" and ref.dtype.kind == "i"
    t: float | int = tol * (1 + _TOL_SLACK) + _TOL_SLACK
    if exact:
        t = math.floor(t)
        lo = np.searchsorted(ref, det - t, side="left")
        hi = np.searchsorted(ref, det + t, side="right")
    else:  # widen the search, then apply the exact criterion |d - r| <= t below
        wide = t * (1 + 1e-6) + 1e-6
        lo = np.searchsorted(ref, det - wide, side="left")
        hi = np.searchsorted(ref, det + wide, side="right")
    cnt = hi - lo
    k = int(cnt.sum())
    if k == 0:
        return empty, empty
    di = np.repeat(np.arange(n, dtype=np.int64), cnt)
    first = np.cumsum(cnt) - cnt
    ri = lo[di] + (np.arange(k, dtype=np.int64) - first[di])
    dist = np.abs(det[di] - ref[ri])
    if not exact:
        ok = dist <= t
        di, ri, dist = di[ok], ri[ok], dist[ok]
    # pairs whose two members have no other candidate are matched whatever the order
    alone = (np.bincount(di, minlength=n)[di] == 1) & (np.bincount(ri, minlength=m)[ri] == 1)
    md, mr = [di[alone]], [ri[alone]]
    cd, cr = di[~alone], ri[~alone]
    if cd.size:
        order = np.lexsort((cd, cr, dist[~alone]))  # distance, then reference, then detection
        used_d, used_r = bytearray(n), bytearray(m)
        acc_d: list[int] = []
        acc_r: list[int] = []
        for a, b in zip(cd[order].tolist(), cr[order].tolist(), strict=True):
            if not used_d[a] and not used_r[b]:
                used_d[a] = used_r[b] = 1
                acc_d.append(a)
                acc_r.append(b)
        md.append(np.array(acc_d, np.int64))
        mr.append(np.array(acc_r, np.int64))
    i_det, i_ref = np.concatenate(md), np.concatenate(mr)
    o = np.argsort(i_ref, kind="stable")
    return i_det[o], i_ref[o]


def _compare(detected: Any, reference: Any, *, fs: Any, tolerance_s: Any, exclude: Any,
             what: str) -> BeatScore:
    fs = check_fs(fs, what=f"signal the {what} were annotated in")
    tol_s = _check_tolerance(tolerance_s)
    det = _as_events(detected, f"detected {what}", fs)
    ref = _as_events(reference, f"reference {what}", fs)
    if (det.dtype.kind == "f") != (ref.dtype.kind == "f"):
        det, ref = det.astype(np.float64), ref.astype(np.float64)
    ranges = _as_ranges(exclude)
    keep_d = np.flatnonzero(_outside(det, ranges))
    keep_r = np.flatnonzero(_outside(ref, ranges))
    d, r = det[keep_d], ref[keep_r]
    i_d, i_r = _match(d, r, tol_s * fs)
    tp = int(i_d.size)
    return BeatScore.from_counts(
        tp, d.size - tp, r.size - tp,
        matched_detected=keep_d[i_d], matched_reference=keep_r[i_r],
        timing_error_s=(d[i_d] - r[i_r]) / fs, fs=fs, tolerance_s=tol_s,
    )


def compare_beats(detected: Any, reference: Any, *, fs: float, tolerance_s: float = 0.15,
                  exclude: Any = None) -> BeatScore:
    """Beat-by-beat comparison of detected beats with reference annotations.

    Parameters
    ----------
    detected : array_like of int or float, or object with ``.samples``
        Sample indices of the detected beats, sorted ascending (e.g. a
        :class:`somacore.beats.Beats`; its ``fs`` must equal ``fs``).
    reference : array_like of int or float, or object with ``.samples``
        Sample indices of the reference beats, sorted ascending (e.g. from
        :func:`somacore.io.beat_annotations`).
    fs : float
        Sampling rate in Hz of both sample scales (keyword-only, required).
    tolerance_s : float, default 0.15
        Maximum ``|detected - reference|`` in seconds for a match (inclusive);
        150 ms as in ANSI/AAMI EC57.
    exclude : array_like, shape (k, 2), optional
        Half-open sample ranges ``[start, stop)`` in which reference beats and
        detections are both ignored (e.g. ventricular flutter episodes, the second
        output of :func:`somacore.io.beat_annotations`). Ranges may overlap.

    Returns
    -------
    BeatScore
        Counts, Se/PPV/F1 (NaN when undefined), matched index pairs and timing
        errors.

    Raises
    ------
    ValueError
        If ``fs`` or ``tolerance_s`` is invalid (negative, non-finite), an input is
        not 1-D numeric, not sorted ascending, or contains NaN.

    Notes
    -----
    Matching is one-to-one and greedy closest-first with a deterministic tie rule
    (distance, then earlier reference, then earlier detection); see the module
    docstring. Duplicated samples are allowed and treated as distinct events.
    """
    return _compare(detected, reference, fs=fs, tolerance_s=tolerance_s, exclude=exclude,
                    what="beats")


def compare_events(detected: Any, reference: Any, *, fs: float, tolerance_s: float,
                   exclude: Any = None) -> BeatScore:
    """One-to-one comparison of any detected events (breaths, pulses) with a reference.

    Same matcher and result as :func:`compare_beats`, without a beat-specific
    default tolerance: choose ``tolerance_s`` for the event type (e.g. a fraction
    of the shortest expected breath interval).
    """
    return _compare(detected, reference, fs=fs, tolerance_s=tolerance_s, exclude=exclude,
                    what="events")


# ----------------------------------------------------------------------------------
# rates
# ----------------------------------------------------------------------------------


def _window_rates(ev: np.ndarray, a: np.ndarray, b: np.ndarray, fs: float) -> np.ndarray:
    i0 = np.searchsorted(ev, a, side="left")
    i1 = np.searchsorted(ev, b, side="left")
    cnt = i1 - i0
    ok = cnt >= 2
    rate = np.full(a.shape, np.nan)
    if np.any(ok):
        span = (ev[i1[ok] - 1] - ev[i0[ok]]).astype(np.float64) / fs
        with np.errstate(divide="ignore", invalid="ignore"):
            r = 60.0 * (cnt[ok] - 1) / span
        r[~(span > 0)] = np.nan
        rate[ok] = r
    return rate


def windowed_rate_error(detected: Any, reference: Any, *, fs: float, window_s: float = 32.0,
                        step_s: float | None = None, duration_s: float | None = None) -> float:
    """Mean absolute difference of event rates (events/min) over sliding windows.

    Definition of the rate in a window ``[t, t + window_s)``: with ``e_0 < ... < e_c``
    the events inside it, the ``c`` intervals lying fully inside the window give
    ``rate = 60 * c / (e_c - e_0)`` (in seconds), i.e. 60 over their mean
    interval. With fewer than two events in the window (or all at the same
    instant) the rate is NaN. Intervals that straddle a window edge are not used,
    so no partial interval biases the rate.

    Parameters
    ----------
    detected, reference : array_like or object with ``.samples``
        Event sample indices, sorted ascending.
    fs : float
        Sampling rate in Hz of the sample indices (keyword-only, required).
    window_s : float, default 32.0
        Window length in seconds.
    step_s : float, optional
        Window start spacing in seconds; default ``window_s`` (no overlap).
    duration_s : float, optional
        Record duration in seconds; windows start at 0 and only full windows
        ending at or before ``duration_s`` are used. Default: the time of the last
        event of either input.

    Returns
    -------
    float
        Mean of ``|rate_detected - rate_reference|`` over windows where both rates
        are finite; NaN if there is no such window.

    Notes
    -----
    A window in which the detector found fewer than two events is skipped, not
    penalised, so this measures rate accuracy where the detector produced output;
    report its coverage (or Se from :func:`compare_events`) alongside.
    """
    fs = check_fs(fs, what="signal the events were annotated in")
    det = _as_events(detected, "detected events", fs)
    ref = _as_events(reference, "reference events", fs)
    for name, v in (("window_s", window_s), ("step_s", step_s), ("duration_s", duration_s)):
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) \
                or not math.isfinite(float(v)) or float(v) <= 0:
            raise ValueError(f"{name} must be a positive number of seconds, got {v!r}.")
    window_s = float(window_s)
    step = window_s if step_s is None else float(step_s)
    if duration_s is None:
        last = max([float(x[-1]) for x in (det, ref) if x.size] or [0.0])
        duration = last / fs
    else:
        duration = float(duration_s)
    if duration + 1e-9 < window_s:
        return math.nan
    n_win = math.floor((duration - window_s) / step + 1e-9) + 1
    starts = np.arange(n_win) * step
    a, b = starts * fs, (starts + window_s) * fs
    rd = _window_rates(det, a, b, fs)
    rr = _window_rates(ref, a, b, fs)
    both = np.isfinite(rd) & np.isfinite(rr)
    if not np.any(both):
        return math.nan
    return float(np.mean(np.abs(rd[both] - rr[both])))
