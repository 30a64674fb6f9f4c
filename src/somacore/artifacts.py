"""Inter-beat interval artefact detection and correction (Lipponen & Tarvainen 2019).

The method classifies every interval from two robust, locally normalised
series and corrects each class in the way that restores the beat sequence:

* **dRR** - successive interval differences ``dRR[i] = RR[i] - RR[i-1]``,
  divided by ``Th1 = alpha * QD(|dRR|)``, the quartile deviation
  ``(Q3 - Q1) / 2`` of ``|dRR|`` over a centred 91-interval window.
* **mRR** - deviation from an 11-interval running median,
  ``mRR[i] = RR[i] - medRR[i]``, doubled where negative, divided by
  ``Th2 = alpha * QD(|mRR|)`` over the same 91-interval window.

Subspaces (paper, section 2): ``S11 = dRR[i]``;
``S12 = max(dRR[i-1], dRR[i+1])`` if ``dRR[i] > 0`` else ``min(...)``;
``S21 = dRR[i]``; ``S22 = min(dRR[i+1], dRR[i+2])`` if ``dRR[i] >= 0``
else ``max(...)``. With ``c1 = 0.13``, ``c2 = 0.17``:

* **ectopic** - ``S11 > 1 and S12 < -c1*S11 - c2`` or
  ``S11 < -1 and S12 > -c1*S11 + c2`` (the negative-positive-negative or
  positive-negative-positive dRR pattern of a premature beat and its
  compensatory pause). Detected at the middle interval ``i``; the misplaced
  beat is the one between intervals ``i-1`` and ``i`` and both are corrected.
* **long** - ``S21 > 1 and S22 < -1``, or ``|mRR| > 3`` with ``mRR > 0``;
  **missed** if in addition ``|RR[i]/2 - medRR[i]| < Th2[i]``.
* **short** - ``S21 < -1 and S22 > 1``, or ``|mRR| > 3`` with ``mRR < 0``;
  **extra** if in addition ``|RR[i] + RR[i+1] - medRR[i]| < Th2[i]``.

Correction: a missed beat is restored by splitting the interval into two
equal halves, an extra beat is removed by merging the interval with the next
one, and ectopic, long and short intervals are replaced by linear
interpolation (over the interval index) between the nearest intervals that are
not being interpolated themselves, within the same valid stretch. Merging and
splitting preserve the elapsed time exactly; interpolation does not.

Conventions and deliberate choices (where the paper leaves room):

* Index convention: interval ``i`` spans beat ``i`` to beat ``i + 1``, the
  convention of :attr:`somacore.beats.Beats.intervals`.
* NaN intervals (gaps) split the series into valid stretches that are
  processed independently; no window, difference or correction crosses a gap.
  Stretches with fewer than 3 intervals are left untouched.
* Windows are centred and truncated at the stretch ends (no padding);
  quantiles use linear interpolation (as ``numpy.quantile`` / pandas).
* ``dRR`` of the first interval of a stretch is undefined and set to 0 (no
  evidence), so the first interval can only be flagged through ``mRR``.
* Every interval whose ``|dRR| > 1`` or ``|mRR| > 3`` is examined (the entry
  conditions of the paper's decision diagram, evaluated for all intervals at
  once). This subsumes the paper's "also examine the next interval" step.
  Ectopic detections take precedence; an interval merged into an extra beat's
  correction is not classified again. Ectopic beats are only detected where
  both neighbouring dRR values exist (not at the first or last interval).
* Both thresholds have a floor, ``min_threshold_s`` (default 20 ms, about
  the quantisation step of a 50 Hz signal), so that a perfectly regular or
  coarsely quantised series (``QD = 0``) does not turn every sample-level
  jitter into an artefact or divide by zero. Set it to 0 for the bare
  algorithm (then a zero threshold flags nothing, as in NeuroKit2).
* One detection-correction pass (NeuroKit2 iterates until the count stops
  falling; the paper describes a single pass).

Reference: Lipponen, J. A., & Tarvainen, M. P. (2019). A robust algorithm for
heart rate variability time series artefact correction using novel beat
classification. Journal of Medical Engineering & Technology, 43(3), 173-181.
https://doi.org/10.1080/03091902.2019.1640306
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from somacore._arrays import readonly

__all__ = ["ARTIFACT_KINDS", "ArtifactReport", "correct_intervals", "detect_interval_artifacts"]

#: Artefact classes, in the order they are reported in :attr:`ArtifactReport.counts`.
ARTIFACT_KINDS = ("ectopic", "missed", "extra", "long", "short")

_QD_WINDOW = 91
_MEDIAN_WINDOW = 11
_MIN_STRETCH = 3




@dataclass(frozen=True, eq=False)
class ArtifactReport:
    """Artefacts found in an interval series and how the correction treats them.

    Interval ``i`` spans beat ``i`` to beat ``i + 1`` (the convention of
    :attr:`somacore.beats.Beats.intervals`).

    Attributes
    ----------
    n_intervals : int
        Length of the analysed interval series (including NaN entries).
    index : ndarray of int64, shape (k,)
        Interval index at which each artefact was detected, ascending. For an
        ectopic beat this is the interval *after* the misplaced beat (the
        middle of the dRR pattern); intervals ``index - 1`` and ``index`` are
        both corrected.
    kind : ndarray of str, shape (k,)
        Class of each artefact: ``"ectopic"``, ``"missed"``, ``"extra"``,
        ``"long"`` or ``"short"``.
    touched : ndarray of bool, shape (n_intervals,)
        Input intervals whose value the correction changes: ``index - 1`` and
        ``index`` for ectopic, ``index`` and ``index + 1`` (merged) for extra,
        ``index`` (split or interpolated) otherwise.
    source : ndarray of int64, shape (m,)
        For each interval of the corrected series, the input interval it comes
        from (both halves of a split interval point to it; a merged pair
        points to its first interval). ``m`` is the corrected length.
    s11, s12, s22, mrr : ndarray of float, shape (n_intervals,)
        Normalised subspace coordinates (``S11 = S21 = dRR / Th1``;
        ``mrr = mRR / Th2``), NaN at NaN intervals; for plots of the paper's
        decision planes.
    threshold1_s, threshold2_s : ndarray of float, shape (n_intervals,)
        ``Th1`` and ``Th2`` in seconds (after the floor).
    median_rr_s : ndarray of float, shape (n_intervals,)
        The 11-interval running median ``medRR`` in seconds.
    """

    n_intervals: int
    index: np.ndarray
    kind: np.ndarray
    touched: np.ndarray
    source: np.ndarray
    s11: np.ndarray
    s12: np.ndarray
    s22: np.ndarray
    mrr: np.ndarray
    threshold1_s: np.ndarray
    threshold2_s: np.ndarray
    median_rr_s: np.ndarray

    def __post_init__(self) -> None:
        for name in ("index", "kind", "touched", "source", "s11", "s12", "s22", "mrr",
                     "threshold1_s", "threshold2_s", "median_rr_s"):
            readonly(getattr(self, name))

    @property
    def n_artifacts(self) -> int:
        """Number of artefacts detected (an ectopic beat counts once)."""
        return int(self.index.size)

    @property
    def n_touched(self) -> int:
        """Number of input intervals whose value the correction changes."""
        return int(self.touched.sum())

    @property
    def counts(self) -> dict[str, int]:
        """Number of artefacts of each class, keys in :data:`ARTIFACT_KINDS` order."""
        return {k: int(np.count_nonzero(self.kind == k)) for k in ARTIFACT_KINDS}

    def indices(self, kind: str) -> np.ndarray:
        """Detection indices (see :attr:`index`) of one artefact class."""
        if kind not in ARTIFACT_KINDS:
            raise ValueError(f"kind must be one of {ARTIFACT_KINDS}, got {kind!r}")
        return self.index[self.kind == kind]

    @property
    def beat_index(self) -> np.ndarray:
        """The beat each artefact implicates, int64, aligned with :attr:`index`.

        ectopic: the misplaced beat (``index``); extra: the beat removed
        (``index + 1``); missed: the beat after which one is inserted
        (``index``); long / short: the beat that ends the interval
        (``index + 1``).
        """
        shift = np.isin(self.kind, ("extra", "long", "short")).astype(np.int64)
        return self.index + shift

    @property
    def labels(self) -> np.ndarray:
        """Per input interval: the artefact class detected there, or ``""``."""
        out = np.full(self.n_intervals, "", dtype="<U7")
        out[self.index] = self.kind
        return out

    def __repr__(self) -> str:
        c = ", ".join(f"{k}={v}" for k, v in self.counts.items())
        return f"ArtifactReport(n_intervals={self.n_intervals}, {c})"


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------

def _as_intervals(intervals_s: Any) -> np.ndarray:
    try:
        x = np.array(intervals_s, dtype=np.float64)  # copy: we never modify user data
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"intervals_s must be a 1-D array of inter-beat intervals in seconds: {exc}"
        ) from None
    if x.ndim != 1:
        raise ValueError(
            f"intervals_s must be 1-D (one interval series), got shape {x.shape}."
        )
    if np.any(np.isinf(x)):
        raise ValueError("intervals_s contains inf; mark lost intervals with NaN instead.")
    fin = x[np.isfinite(x)]
    if fin.size and fin.min() <= 0:
        raise ValueError(
            "intervals_s must be positive (seconds between successive beats); found a "
            "value <= 0. Check that the beats are sorted and unique, and use NaN for gaps."
        )
    if fin.size and np.median(fin) > 20.0:
        raise ValueError(
            f"intervals_s has median {np.median(fin):g}, implausible for seconds: pass "
            "intervals in seconds (divide milliseconds by 1000)."
        )
    return x


def _stretches(valid: np.ndarray) -> list[tuple[int, int]]:
    """Half-open index ranges of maximal runs of True."""
    v = np.concatenate(([False], valid, [False])).astype(np.int8)
    d = np.diff(v)
    starts = np.flatnonzero(d == 1)
    stops = np.flatnonzero(d == -1)
    return list(zip(starts.tolist(), stops.tolist(), strict=True))


def _rolling_quantiles(x: np.ndarray, window: int, qs: tuple[float, ...]) -> np.ndarray:
    """Centred running quantiles with windows truncated at the ends.

    Returns an array of shape (len(qs), n). Entry ``[k, i]`` is the ``qs[k]``
    quantile (linear interpolation) of ``x[max(0, i-h) : i+h+1]``, ``h = window // 2``.
    """
    n = x.size
    h = window // 2
    out = np.empty((len(qs), n))
    q = np.asarray(qs)
    if n > 2 * h:
        core = sliding_window_view(x, 2 * h + 1)  # rows centred on h .. n-h-1
        chunk = 8192
        for a in range(0, core.shape[0], chunk):
            out[:, h + a:h + a + min(chunk, core.shape[0] - a)] = np.quantile(
                core[a:a + chunk], q, axis=1)
        edges = list(range(h)) + list(range(n - h, n))
    else:
        edges = list(range(n))
    for i in edges:
        out[:, i] = np.quantile(x[max(0, i - h):i + h + 1], q)
    return out


def _threshold(v: np.ndarray, alpha: float, floor: float) -> np.ndarray:
    q1, q3 = _rolling_quantiles(np.abs(v), _QD_WINDOW, (0.25, 0.75))
    return np.maximum(alpha * (q3 - q1) / 2.0, floor)


def _safe_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    out = np.zeros_like(a)
    np.divide(a, b, out=out, where=b > 0)
    return out


def _classify_stretch(rr: np.ndarray, *, alpha: float, c1: float, c2: float,
                      floor: float) -> dict[str, Any]:
    """Classify one gap-free stretch. Returns subspaces and the artefact list."""
    n = rr.size
    drr = np.zeros(n)
    drr[1:] = np.diff(rr)
    th1 = _threshold(drr, alpha, floor)
    s11 = _safe_div(drr, th1)

    nan1 = np.array([np.nan])
    left = np.concatenate((nan1, s11[:-1]))
    right = np.concatenate((s11[1:], nan1))
    right2 = np.concatenate((s11[2:], nan1, nan1))
    with np.errstate(invalid="ignore"):
        s12 = np.where(s11 > 0, np.fmax(left, right), np.where(s11 < 0, np.fmin(left, right), 0.0))
        s22 = np.where(s11 >= 0, np.fmin(right, right2), np.fmax(right, right2))
    s12 = np.nan_to_num(s12, nan=0.0)
    s22 = np.nan_to_num(s22, nan=0.0)

    med = _rolling_quantiles(rr, _MEDIAN_WINDOW, (0.5,))[0]
    mrr_raw = rr - med
    mrr_raw = np.where(mrr_raw < 0, 2.0 * mrr_raw, mrr_raw)
    th2 = _threshold(mrr_raw, alpha, floor)
    mrr = _safe_div(mrr_raw, th2)

    # --- ectopic (vectorised; takes precedence) -----------------------------
    ect = ((s11 > 1) & (s12 < -c1 * s11 - c2)) | ((s11 < -1) & (s12 > -c1 * s11 + c2))
    ect[0] = False
    ect[-1] = False  # both neighbouring dRR values are needed
    consumed = ect.copy()
    consumed[:-1] |= ect[1:]  # interval i-1 of each ectopic beat

    # --- long / short / missed / extra ---------------------------------------
    eq3 = (s11 > 1) & (s22 < -1)
    eq5 = (s11 < -1) & (s22 > 1)
    eq4 = np.abs(mrr) > 3
    cand = ((np.abs(s11) > 1) | eq4) & (eq3 | eq4 | eq5)
    is_long = eq3 | (~eq5 & eq4 & (mrr_raw > 0))
    missed_ok = np.abs(rr / 2.0 - med) < th2
    nxt = np.concatenate((rr[1:], [np.nan]))
    with np.errstate(invalid="ignore"):
        extra_ok = np.abs(rr + nxt - med) < th2

    found: list[tuple[int, str]] = [(int(i), "ectopic") for i in np.flatnonzero(ect)]
    merged_into_prev = np.zeros(n, dtype=bool)
    for i in np.flatnonzero(cand & ~consumed).tolist():
        if consumed[i]:
            continue
        if is_long[i]:
            kind = "missed" if missed_ok[i] else "long"
        elif i + 1 < n and not consumed[i + 1] and extra_ok[i]:
            kind = "extra"
            consumed[i + 1] = True
            merged_into_prev[i + 1] = True
        else:
            kind = "short"
        consumed[i] = True
        found.append((i, kind))
    found.sort()
    return {"s11": s11, "s12": s12, "s22": s22, "mrr": mrr, "th1": th1, "th2": th2,
            "med": med, "found": found}


def _check_params(alpha: float, c1: float, c2: float, min_threshold_s: float) -> None:
    for name, v in (("alpha", alpha), ("c1", c1), ("c2", c2)):
        if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
            raise ValueError(f"{name} must be a positive number, got {v!r}")
    if not (isinstance(min_threshold_s, (int, float)) and math.isfinite(min_threshold_s)
            and 0 <= min_threshold_s < 1):
        raise ValueError(
            f"min_threshold_s must be in seconds, 0 <= min_threshold_s < 1, got {min_threshold_s!r}"
        )


def _plan(x: np.ndarray, *, alpha: float, c1: float, c2: float,
          min_threshold_s: float) -> tuple[ArtifactReport, np.ndarray, np.ndarray]:
    """Detect artefacts in ``x`` (seconds, NaN = gap); return the report plus the
    per-input correction actions used by :func:`_apply`."""
    n = x.size
    nanv = np.full(n, np.nan)
    s11, s12, s22, mrr = nanv.copy(), nanv.copy(), nanv.copy(), nanv.copy()
    th1, th2, med = nanv.copy(), nanv.copy(), nanv.copy()
    idx: list[int] = []
    kinds: list[str] = []
    for a, b in _stretches(np.isfinite(x)):
        if b - a < _MIN_STRETCH:
            continue
        r = _classify_stretch(x[a:b], alpha=alpha, c1=c1, c2=c2, floor=min_threshold_s)
        for arr, key in ((s11, "s11"), (s12, "s12"), (s22, "s22"), (mrr, "mrr"),
                         (th1, "th1"), (th2, "th2"), (med, "med")):
            arr[a:b] = r[key]
        for i, k in r["found"]:
            idx.append(a + i)
            kinds.append(k)
    index = np.asarray(idx, dtype=np.int64)
    kind = np.asarray(kinds, dtype="<U7")

    # per-input actions: 0 keep, 1 interpolate, 2 split, 3 merge-with-next, 4 merged away
    action = np.zeros(n, dtype=np.int8)
    for i, k in zip(idx, kinds, strict=True):
        if k == "ectopic":
            action[i - 1] = 1
            action[i] = 1
        elif k in ("long", "short"):
            action[i] = 1
        elif k == "missed":
            action[i] = 2
        else:  # extra
            action[i] = 3
            action[i + 1] = 4
    touched = action != 0
    counts = np.where(action == 2, 2, np.where(action == 4, 0, 1))
    source = np.repeat(np.arange(n, dtype=np.int64), counts)
    report = ArtifactReport(
        n_intervals=n, index=index, kind=kind, touched=touched, source=source,
        s11=s11, s12=s12, s22=s22, mrr=mrr, threshold1_s=th1, threshold2_s=th2,
        median_rr_s=med,
    )
    return report, action, counts


def _apply(x: np.ndarray, action: np.ndarray, counts: np.ndarray,
           end_times: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Build the corrected series (and the end time of each corrected interval)."""
    n = x.size
    nxt = np.concatenate((x[1:], [np.nan]))
    val = np.where(action == 3, x + nxt, np.where(action == 2, x / 2.0, x))
    out = np.repeat(val, counts)
    act = np.repeat(action, counts)
    interp = act == 1
    # interpolation within each valid stretch of the corrected series, over its index
    if interp.any():
        fin = np.isfinite(out)
        for a, b in _stretches(fin):
            seg_i = interp[a:b]
            if not seg_i.any():
                continue
            anchors = np.flatnonzero(~seg_i)
            if anchors.size == 0:
                continue  # nothing trustworthy to interpolate from: leave as is
            pos = np.arange(b - a)
            seg = out[a:b]
            seg[seg_i] = np.interp(pos[seg_i], anchors, seg[anchors])
    times = None
    if end_times is not None:
        nxt_t = np.concatenate((end_times[1:], [np.nan]))
        t = np.where(action == 3, nxt_t, end_times)
        times = np.repeat(t, counts)
        # the first half of a split interval ends half-way through it
        first_half = np.zeros(out.size, dtype=bool)
        starts = np.cumsum(counts) - counts
        first_half[starts[action == 2]] = True
        times[first_half] -= np.repeat(x / 2.0, counts)[first_half]
    assert out.size == counts.sum() and n == action.size
    return out, times


# ---------------------------------------------------------------------------
# public API
# ---------------------------------------------------------------------------

def detect_interval_artifacts(intervals_s: Any, *, alpha: float = 5.2, c1: float = 0.13,
                              c2: float = 0.17, min_threshold_s: float = 0.02) -> ArtifactReport:
    """Classify inter-beat interval artefacts after Lipponen & Tarvainen (2019).

    Parameters
    ----------
    intervals_s : array_like of float, shape (n,)
        Inter-beat intervals (RR or PP) in seconds; NaN marks an interval that
        is unknown (e.g. spans a signal gap). Interval ``i`` spans beat ``i``
        to beat ``i + 1``, as in :attr:`somacore.beats.Beats.intervals`.
    alpha : float
        Threshold multiplier of the quartile deviation (paper: 5.2).
    c1, c2 : float
        Slope and offset of the ectopic decision boundary (paper: 0.13, 0.17).
    min_threshold_s : float
        Floor of both thresholds in seconds (default 0.02); see the module
        notes. 0 gives the bare algorithm.

    Returns
    -------
    ArtifactReport
        What was found where, and how :func:`correct_intervals` treats it.

    Notes
    -----
    See the module docstring for the decision rules and every choice made
    where the paper leaves room. Runs in O(n * 91) with numpy.
    """
    _check_params(alpha, c1, c2, min_threshold_s)
    x = _as_intervals(intervals_s)
    return _plan(x, alpha=alpha, c1=c1, c2=c2, min_threshold_s=min_threshold_s)[0]


def correct_intervals(intervals_s: Any, *, alpha: float = 5.2, c1: float = 0.13,
                      c2: float = 0.17,
                      min_threshold_s: float = 0.02) -> tuple[np.ndarray, ArtifactReport]:
    """Detect and correct interval artefacts (Lipponen & Tarvainen 2019).

    Parameters
    ----------
    intervals_s : array_like of float, shape (n,)
        Inter-beat intervals in seconds; NaN for unknown intervals (gaps),
        which are kept as NaN in the output and never bridged.
    alpha, c1, c2, min_threshold_s
        As in :func:`detect_interval_artifacts`.

    Returns
    -------
    corrected : ndarray of float, shape (m,)
        Corrected intervals in seconds. ``m = n + (#missed) - (#extra)``:
        a missed beat splits an interval into two equal halves, an extra beat
        merges an interval with the next one. Ectopic, long and short
        intervals are replaced by linear interpolation over the interval
        index. ``report.source[j]`` is the input interval that corrected
        interval ``j`` comes from.
    report : ArtifactReport
        The detections and which input intervals were touched.

    Examples
    --------
    >>> import numpy as np
    >>> rr = np.full(60, 0.8); rr[30] = 1.6          # one missed beat
    >>> fixed, rep = correct_intervals(rr)
    >>> rep.counts["missed"], fixed.size, float(fixed[30])
    (1, 61, 0.8)
    """
    _check_params(alpha, c1, c2, min_threshold_s)
    x = _as_intervals(intervals_s)
    report, action, counts = _plan(x, alpha=alpha, c1=c1, c2=c2,
                                   min_threshold_s=min_threshold_s)
    corrected, _ = _apply(x, action, counts)
    return corrected, report


def _correct_with_times(x: np.ndarray, end_times: np.ndarray, *, alpha: float = 5.2,
                        c1: float = 0.13, c2: float = 0.17, min_threshold_s: float = 0.02
                        ) -> tuple[np.ndarray, np.ndarray, ArtifactReport]:
    """Like :func:`correct_intervals` for validated input, also returning the end
    time of each corrected interval (original beat times; the midpoint for the
    first half of a split interval; the later beat for a merged pair)."""
    report, action, counts = _plan(x, alpha=alpha, c1=c1, c2=c2,
                                   min_threshold_s=min_threshold_s)
    corrected, times = _apply(x, action, counts, end_times)
    assert times is not None
    return corrected, times, report
