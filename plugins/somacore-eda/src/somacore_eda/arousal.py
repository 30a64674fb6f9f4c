"""Arousal episodes on heart rate *or* skin conductance.

This generalises the rule of :mod:`somacore.analysis.arousal` (the ``somacore
analyze`` heart-rate arousal rule) to any evenly sampled arousal-related series;
with ``min_excess=0`` it is the same rule and gives the same episodes
(a test checks this against :func:`somacore.analysis.arousal.detect_arousal`):

1. **Baseline** ``b(t)``: centred rolling median over ``baseline_s``
   (:func:`somacore.analysis.arousal.rolling_baseline`, reused as is).
2. **Spread** ``sd``: one robust SD per series, ``1.4826 x MAD`` of ``x - b``.
3. **Candidate** samples: ``x > b + max(k * sd, min_excess)``; runs closer than
   ``merge_gap_s`` are merged, runs shorter than ``min_duration_s`` dropped.
   ``min_excess`` is the only addition: skin conductance often sits almost
   flat between responses, so its robust SD can be tiny and ``k * sd`` would
   flag sensor noise; a floor in physical units (default 0.05 µS for skin
   conductance, the SCR amplitude criterion of :mod:`somacore_eda.scr`) keeps
   episodes physiological. For heart rate the floor is 0 (the CLI's rule).
4. Per episode: **onset**, **end**, **peak** (time, value), **duration**,
   **peak excess** over baseline and **recovery** (time from the peak back to
   ``b + recovery_k * sd``, the "time back to baseline"; NaN if it does not
   return before the series ends or the signal is lost).

Presets: :func:`hr_arousal` (heart rate in bpm, exactly the CLI's defaults)
and :func:`eda_arousal` (skin conductance in µS: ``min_duration_s=5``,
``min_excess=0.05``, since SCR-driven episodes are shorter than heart-rate ones).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from somacore.analysis.arousal import rolling_baseline

__all__ = ["Episodes", "detect_episodes", "eda_arousal", "hr_arousal"]


@dataclass(frozen=True, eq=False)
class Episodes:
    """Arousal episodes (arrays of shape (m,); times in s, values in the series' units).

    Attributes
    ----------
    onset_s, end_s, peak_s, duration_s : ndarray
        Episode timing.
    peak_value, baseline_value, peak_excess : ndarray
        Series value at the peak, baseline there, and their difference.
    recovery_s : ndarray
        Peak to back-to-baseline (NaN if not observed).
    baseline : ndarray
        Baseline series, same length as the input.
    robust_sd : float
        Robust SD of the series around its baseline.
    threshold : ndarray
        ``baseline + max(k * robust_sd, min_excess)``.
    """

    onset_s: np.ndarray
    end_s: np.ndarray
    peak_s: np.ndarray
    duration_s: np.ndarray
    peak_value: np.ndarray
    baseline_value: np.ndarray
    peak_excess: np.ndarray
    recovery_s: np.ndarray
    baseline: np.ndarray
    robust_sd: float
    threshold: np.ndarray

    def __len__(self) -> int:
        return int(self.onset_s.size)


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    d = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return np.flatnonzero(d == 1), np.flatnonzero(d == -1)


def detect_episodes(x: np.ndarray, *, fs: float, t0: float = 0.0, baseline_s: float = 120.0,
                    k: float = 2.0, min_duration_s: float = 10.0, merge_gap_s: float = 2.0,
                    recovery_k: float = 0.5, min_excess: float = 0.0) -> Episodes:
    """Find arousal episodes in an evenly sampled series (rule in the module docs).

    Parameters
    ----------
    x : ndarray, shape (n,)
        Heart rate (bpm) or skin conductance (µS) sampled at ``fs``; NaN where lost.
    fs : float
        Sampling rate of ``x`` in Hz.
    t0 : float
        Time of ``x[0]`` in seconds.
    baseline_s, k, min_duration_s, merge_gap_s, recovery_k : float
        As in :func:`somacore.analysis.arousal.detect_arousal`.
    min_excess : float
        Floor of the threshold above baseline, in the series' units.

    Returns
    -------
    Episodes
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"series must be 1-D, got shape {x.shape}")
    if not (math.isfinite(fs) and fs > 0):
        raise ValueError(f"fs={fs!r} must be a positive sampling rate in Hz")
    base = rolling_baseline(x, fs=fs, window_s=baseline_s)
    resid = x - base
    fin = np.isfinite(resid)
    if fin.sum() >= 3:
        r = resid[fin]
        sd = 1.4826 * float(np.median(np.abs(r - np.median(r))))
    else:
        sd = math.nan
    empty = np.zeros(0)
    if not math.isfinite(sd) or (sd <= 0 and min_excess <= 0):
        thr = base + k * (sd if math.isfinite(sd) else np.nan)
        return Episodes(empty, empty, empty, empty, empty, empty, empty, empty, base, sd, thr)
    thr = base + max(k * sd, min_excess)
    with np.errstate(invalid="ignore"):
        above = fin & (x > thr)
    starts, stops = _runs(above)
    gap = round(merge_gap_s * fs)
    if starts.size > 1:
        keep = np.concatenate([[True], starts[1:] - stops[:-1] > gap])
        starts = starts[keep]
        stops = np.concatenate([stops[np.flatnonzero(keep)[1:] - 1], [stops[-1]]])
    long = (stops - starts) >= round(min_duration_s * fs)
    starts, stops = starts[long], stops[long]
    rec_thr = base + recovery_k * sd
    m = starts.size
    onset, end, peak_t = np.zeros(m), np.zeros(m), np.zeros(m)
    peak_v, base_v, rec = np.zeros(m), np.zeros(m), np.zeros(m)
    for e, (a, b) in enumerate(zip(starts.tolist(), stops.tolist(), strict=True)):
        seg = np.where(np.isfinite(x[a:b]), x[a:b], -np.inf)
        p = a + int(np.argmax(seg))
        onset[e], end[e], peak_t[e] = t0 + a / fs, t0 + b / fs, t0 + p / fs
        peak_v[e], base_v[e] = x[p], base[p]
        after = x[p:]
        with np.errstate(invalid="ignore"):
            back = after <= rec_thr[p:]
        hit = np.flatnonzero(back | ~np.isfinite(after))
        rec[e] = hit[0] / fs if hit.size and back[hit[0]] else math.nan
    return Episodes(onset_s=onset, end_s=end, peak_s=peak_t, duration_s=end - onset,
                    peak_value=peak_v, baseline_value=base_v, peak_excess=peak_v - base_v,
                    recovery_s=rec, baseline=base, robust_sd=sd, threshold=thr)


def hr_arousal(hr: np.ndarray, *, fs: float, t0: float = 0.0, **options: float) -> Episodes:
    """Arousal episodes on heart rate (bpm): the ``somacore analyze`` rule and defaults."""
    return detect_episodes(hr, fs=fs, t0=t0, **options)


def eda_arousal(sc: np.ndarray, *, fs: float, t0: float = 0.0, **options: float) -> Episodes:
    """Arousal episodes on skin conductance (µS).

    Defaults: ``baseline_s=120``, ``k=2``, ``min_duration_s=5``, ``merge_gap_s=2``,
    ``recovery_k=0.5``, ``min_excess=0.05`` (µS); override any of them by keyword.
    """
    opts: dict[str, float] = {"min_duration_s": 5.0, "min_excess": 0.05, **options}
    return detect_episodes(sc, fs=fs, t0=t0, **opts)
