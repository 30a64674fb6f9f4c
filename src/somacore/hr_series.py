"""Evenly sampled instantaneous heart rate from detected beats.

Timing convention (the series feeds the synchrony engine, so it is exact):

* Time zero is the first sample given to the beat detector, the same origin
  as :attr:`somacore.beats.Beats.times`. A beat at sample ``s`` is at
  ``s / beats.fs`` seconds.
* Output sample ``j`` is the instantaneous heart rate *at* time
  ``t_j = t0 + j / fs_out`` with ``t0 = 0``: a point value, not an average
  over ``[t_j, t_j + 1/fs_out)``, and no low-pass filter is applied (at low
  ``fs_out`` a step series is therefore point-sampled, not smoothed).
* The series covers the whole recording: ``ceil(n_samples * fs_out / fs)``
  samples, every ``t_j < n_samples / fs``.
* Comparisons between output times and beats are done in input-sample units
  (``j * fs / fs_out``), so a beat exactly on an output instant is handled
  exactly, and shifting all beats by ``d`` samples shifts the series by
  ``d * fs_out / fs`` samples whenever that is a whole number.

Values. Interval ``i`` spans beat ``i`` (sample ``s_i``) to beat ``i + 1``
and has rate ``HR_i = 60 * fs / (s_{i+1} - s_i)`` bpm.

* ``method="step"``: on ``[s_i, s_{i+1})`` the value is ``HR_i``, the rate of
  the interval that ends at the next beat (assigned to the whole interval it
  describes; offline, i.e. not causal).
* ``method="linear"``: ``HR_i`` is placed at the interval midpoint
  ``m_i = (s_i + s_{i+1}) / 2`` and the value is linearly interpolated
  between the midpoints of adjacent valid intervals (so a steady change in
  rate is reproduced without the half-interval lag of placing rates at beat
  times). Between a beat and the midpoint of a valid interval whose
  neighbour on that side is invalid or absent, the value is held at
  ``HR_i``. Both methods are therefore defined on exactly the same set of
  instants: the union of ``[s_i, s_{i+1})`` over valid intervals.

NaN is returned before the first beat, from the last beat on, inside every
gap (``beats.gaps``) and over every invalid interval. An interval is invalid
when it follows a gap (:data:`~somacore.beats.FLAG_AFTER_GAP`) or overlaps
one, when either of its beats is flagged
:data:`~somacore.beats.FLAG_UNCERTAIN`, when it is longer than ``max_gap_s``,
or when its rate is physiologically implausible: below
:data:`HR_MIN_BPM` = 25 bpm (interval > 2.4 s) or above :data:`HR_MAX_BPM`
= 250 bpm (interval < 0.24 s); such intervals are almost always missed or
extra detections. No artefact correction is applied here; see
:func:`somacore.artifacts.correct_intervals` and :func:`somacore.hrv_metrics.hrv`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from somacore.beats import FLAG_AFTER_GAP, FLAG_UNCERTAIN, Beats

__all__ = ["FS_OUT_MAX", "FS_OUT_MIN", "HR_MAX_BPM", "HR_MIN_BPM", "HeartRate", "heart_rate"]

#: Physiological plausibility limits (bpm) for one inter-beat interval.
HR_MIN_BPM = 25.0
HR_MAX_BPM = 250.0
#: Accepted output rates (Hz) of :func:`heart_rate`.
FS_OUT_MIN = 0.1
FS_OUT_MAX = 100.0


@dataclass(frozen=True, eq=False)
class HeartRate:
    """Evenly sampled instantaneous heart (or pulse) rate.

    Attributes
    ----------
    values : ndarray of float64, shape (n,)
        Rate in beats per minute at ``times``; NaN where undefined.
    fs : float
        Sampling rate of ``values`` in Hz.
    t0 : float
        Time of ``values[0]`` in seconds from the first sample of the
        recording (always 0.0 for :func:`heart_rate`).
    kind : {"ecg", "ppg"}
        Signal the beats came from (heart rate from RR, pulse rate from PP).
    method : {"linear", "step"}
        How values between beats were formed (see :mod:`somacore.hr_series`).
    """

    values: np.ndarray
    fs: float
    t0: float
    kind: str
    method: str

    def __post_init__(self) -> None:
        v = np.ascontiguousarray(self.values, dtype=np.float64)
        v.flags.writeable = False
        object.__setattr__(self, "values", v)

    def __len__(self) -> int:
        return int(self.values.size)

    def __repr__(self) -> str:
        valid = np.isfinite(self.values)
        frac = float(valid.mean()) if self.values.size else 0.0
        return (f"HeartRate(kind={self.kind!r}, method={self.method!r}, n={len(self)}, "
                f"fs={self.fs:g} Hz, valid={100 * frac:.1f}%)")

    @property
    def times(self) -> np.ndarray:
        """Time of each value in seconds from the first sample of the recording."""
        return self.t0 + np.arange(self.values.size) / self.fs


def _merged_gaps(gaps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted, non-overlapping gap starts and stops (half-open, samples)."""
    if gaps.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    g = gaps[np.argsort(gaps[:, 0], kind="stable")]
    starts, stops = [int(g[0, 0])], [int(g[0, 1])]
    for a, b in g[1:].tolist():
        if a <= stops[-1]:
            stops[-1] = max(stops[-1], b)
        else:
            starts.append(a)
            stops.append(b)
    return np.asarray(starts, np.int64), np.asarray(stops, np.int64)


def _interval_validity(beats: Beats) -> tuple[np.ndarray, np.ndarray]:
    """Intervals in seconds (n-1,) and whether each is usable as data.

    An interval is unusable if it follows a gap (``FLAG_AFTER_GAP``), overlaps
    a gap range, or either of its beats is ``FLAG_UNCERTAIN``. Plausibility is
    not judged here.
    """
    s = beats.samples
    if s.size < 2:
        return np.zeros(0), np.zeros(0, dtype=bool)
    iv = np.diff(s) / beats.fs
    q = beats.quality
    ok = (q[1:] & FLAG_AFTER_GAP) == 0
    unc = (q & FLAG_UNCERTAIN) != 0
    ok &= ~(unc[:-1] | unc[1:])
    g0, g1 = _merged_gaps(beats.gaps)
    if g0.size:
        # first gap ending after the interval start; overlap if it starts before the end
        k = np.searchsorted(g1, s[:-1], side="right")
        has = k < g0.size
        overlap = np.zeros(iv.size, dtype=bool)
        overlap[has] = g0[k[has]] < s[1:][has]
        ok &= ~overlap
    return iv, ok


def _check_beats(beats: Any) -> Beats:
    if not isinstance(beats, Beats):
        raise TypeError(
            f"beats must be a somacore.beats.Beats (from detect_beats), got "
            f"{type(beats).__name__}. For a plain list of beat times, build "
            "Beats(samples=..., fs=..., kind='ecg', quality=np.zeros(n, np.uint8), "
            "n_samples=...)."
        )
    return beats


def heart_rate(beats: Beats, *, fs_out: float, method: Literal["linear", "step"] = "linear",
               max_gap_s: float = 60.0 / HR_MIN_BPM) -> HeartRate:
    """Instantaneous heart rate (bpm) sampled evenly at ``fs_out`` Hz.

    Parameters
    ----------
    beats : Beats
        Detected beats; ``beats.n_samples`` must be the length of the analysed
        signal, since the output covers the whole recording.
    fs_out : float
        Output sampling rate in Hz, 0.1 to 100 (keyword-only, required: there
        is no sensible default for a series that is aligned with others).
    method : {"linear", "step"}
        ``"step"``: the rate of the interval that ends at the next beat;
        ``"linear"`` (default): linear interpolation between interval
        midpoints. See :mod:`somacore.hr_series` for the exact definitions.
    max_gap_s : float
        Longest inter-beat interval that is bridged, in seconds. Longer
        intervals give NaN. The default, 2.4 s, is the 25 bpm plausibility
        limit, which applies whatever this value is; pass a smaller value to
        leave shorter pauses undefined.

    Returns
    -------
    HeartRate
        ``values[j]`` is the rate at ``times[j] = j / fs_out`` seconds from the
        first sample of the recording.

    Notes
    -----
    Timing convention, NaN rules and plausibility limits (25-250 bpm) are
    documented in :mod:`somacore.hr_series`. With fewer than two beats the
    series is all NaN (no rate is defined), not an error, so that a lost
    channel still yields a series of the right length.
    """
    beats = _check_beats(beats)
    if isinstance(fs_out, bool) or not isinstance(fs_out, (int, float, np.integer, np.floating)):
        raise ValueError(f"fs_out must be a number in Hz, got {type(fs_out).__name__} {fs_out!r}.")
    fs_out = float(fs_out)
    if not math.isfinite(fs_out) or not (FS_OUT_MIN <= fs_out <= FS_OUT_MAX):
        raise ValueError(
            f"fs_out={fs_out!r} Hz is outside {FS_OUT_MIN:g}-{FS_OUT_MAX:g} Hz. Heart rate "
            "changes at most once per beat; 4 Hz is typical for HRV and synchrony work."
        )
    if method not in ("linear", "step"):
        raise ValueError(f"method must be 'linear' or 'step', got {method!r}.")
    if isinstance(max_gap_s, bool) or not isinstance(max_gap_s, (int, float, np.integer,
                                                                 np.floating)):
        raise ValueError(f"max_gap_s must be a number of seconds, got {max_gap_s!r}.")
    max_gap_s = float(max_gap_s)
    if not (math.isfinite(max_gap_s) and max_gap_s > 0):
        raise ValueError(f"max_gap_s must be a positive number of seconds, got {max_gap_s!r}.")
    fs = float(beats.fs)
    n_samples = int(beats.n_samples)
    s = beats.samples
    if n_samples <= 0:
        raise ValueError(
            "beats.n_samples is 0: the heart-rate series covers the whole recording, so "
            "build Beats with n_samples=len(signal)."
        )
    if s.size and (s[0] < 0 or s[-1] >= n_samples):
        raise ValueError(
            f"beat samples must lie in 0..n_samples-1 = {n_samples - 1}; got "
            f"{int(s[0])}..{int(s[-1])}. Check n_samples."
        )
    if s.size > 1 and np.any(np.diff(s) <= 0):
        raise ValueError("beat samples must be strictly increasing; sort and de-duplicate them.")

    n_out = max(math.ceil(n_samples * fs_out / fs - 1e-9), 1)
    # output instants in input-sample units (j * fs is exact for integer rates)
    u = np.arange(n_out, dtype=np.float64) * fs / fs_out
    values = np.full(n_out, np.nan)
    if s.size < 2:
        return HeartRate(values=values, fs=fs_out, t0=0.0, kind=beats.kind, method=method)

    iv_s, ok = _interval_validity(beats)
    hr = 60.0 / iv_s
    ok &= (hr >= HR_MIN_BPM) & (hr <= HR_MAX_BPM) & (iv_s <= max_gap_s)

    sf = s.astype(np.float64)
    i = np.searchsorted(sf, u, side="right") - 1  # interval containing u: s_i <= u < s_{i+1}
    inside = (i >= 0) & (i < s.size - 1)
    ii = np.where(inside, i, 0)
    use = inside & ok[ii]
    if method == "step":
        values[use] = hr[ii[use]]
    else:
        mid = (sf[:-1] + sf[1:]) / 2.0
        n_iv = hr.size
        okp = np.concatenate((ok, [False]))
        okm = np.concatenate(([False], ok))  # okm[k] = ok[k-1]
        uu, k = u[use], ii[use]
        before = uu < mid[k]
        # neighbour interval on the relevant side, if it is valid
        nb = np.where(before, k - 1, k + 1)
        nb_ok = np.where(before, okm[k], okp[k + 1])
        nbc = np.clip(nb, 0, n_iv - 1)
        m0, m1 = mid[k], mid[nbc]
        h0, h1 = hr[k], hr[nbc]
        with np.errstate(invalid="ignore", divide="ignore"):  # unused where not nb_ok
            w = (uu - m0) / (m1 - m0)
            v = np.where(nb_ok, h0 + w * (h1 - h0), h0)
        values[use] = v
    g0, g1 = _merged_gaps(beats.gaps)
    lo = np.searchsorted(u, g0, side="left")  # u is sorted: gap [a, b) -> values[lo:hi]
    hi = np.searchsorted(u, g1, side="left")
    for a, b in zip(lo.tolist(), hi.tolist(), strict=True):
        values[a:b] = np.nan
    return HeartRate(values=values, fs=fs_out, t0=0.0, kind=beats.kind, method=method)
