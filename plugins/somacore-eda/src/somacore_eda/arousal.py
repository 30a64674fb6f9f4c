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

from dataclasses import dataclass

import numpy as np
from somacore.analysis.arousal import detect_arousal

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


def detect_episodes(x: np.ndarray, *, fs: float, t0: float = 0.0, baseline_s: float = 120.0,
                    k: float = 2.0, min_duration_s: float = 10.0, merge_gap_s: float = 2.0,
                    recovery_k: float = 0.5, min_excess: float = 0.0) -> Episodes:
    """Arousal episodes on any evenly sampled series (the rule of the module docs).

    The rule itself is somacore's (:func:`somacore.analysis.arousal.detect_arousal`,
    which ``somacore analyze`` runs on heart rate); this wrapper only gives the
    result unit-neutral names.

    Parameters
    ----------
    x : ndarray, shape (n,)
        The series (bpm, µS, ...), NaN where undefined.
    fs : float
        Its sampling rate in Hz.
    t0 : float
        Time of ``x[0]`` in seconds.
    baseline_s, k, min_duration_s, merge_gap_s, recovery_k : float
        See the module docs.
    min_excess : float
        Floor on the threshold's distance above the baseline, in the series' units.

    Returns
    -------
    Episodes
    """
    e = detect_arousal(x, fs=fs, t0=t0, baseline_s=baseline_s, k=k,
                       min_duration_s=min_duration_s, merge_gap_s=merge_gap_s,
                       recovery_k=recovery_k, min_excess=min_excess)
    return Episodes(onset_s=e.onset_s, end_s=e.end_s, peak_s=e.peak_s, duration_s=e.duration_s,
                    peak_value=e.peak_bpm, baseline_value=e.baseline_bpm,
                    peak_excess=e.peak_excess_bpm, recovery_s=e.recovery_s,
                    baseline=e.baseline, robust_sd=e.robust_sd_bpm, threshold=e.threshold)


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
