"""Arousal episodes on an evenly sampled heart-rate series.

Rule (simple on purpose, so that a reader can check every episode by eye):

1. **Baseline** ``b(t)``: the median of the heart rate over a centred window of
   ``baseline_s`` seconds (NaN ignored; computed on a 1 Hz grid and linearly
   interpolated back). A centred median is barely moved by an episode shorter
   than half the window, so the episode stands out against it.
2. **Spread** ``sd``: one robust SD for the whole session,
   ``1.4826 x median(|hr - b - median(hr - b)|)`` (the MAD of the residual,
   scaled to match a Gaussian SD). One value, not a rolling one, because a
   rolling spread grows during the very episodes it should detect.
3. **Candidate**: samples with ``hr > b + k * sd``. Runs separated by less
   than ``merge_gap_s`` are merged; runs shorter than ``min_duration_s`` are
   dropped. NaN samples are never above threshold, so an episode never spans
   lost signal.
4. For each episode: **onset** (first sample above), **end** (last sample above
   plus one sample period), **peak** (time and value of the largest heart
   rate), **peak excess** (peak minus baseline at the peak), and **recovery**:
   the time from the peak until the heart rate first falls to
   ``b + recovery_k * sd`` or below (NaN if it never does before the record
   ends or the signal is lost).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["ArousalEpisodes", "detect_arousal", "rolling_baseline"]


@dataclass(frozen=True, eq=False)
class ArousalEpisodes:
    """Episodes found by :func:`detect_arousal` (arrays of shape (n,), times in s).

    Attributes
    ----------
    onset_s, end_s, peak_s : ndarray
        Times from the first sample of the heart-rate series (plus its ``t0``).
    duration_s : ndarray
        ``end_s - onset_s``.
    peak_bpm, baseline_bpm, peak_excess_bpm : ndarray
        Heart rate at the peak, baseline there, and their difference.
    recovery_s : ndarray
        Peak to back-to-baseline, NaN if it never returned within the record.
    baseline : ndarray
        The baseline series (bpm), same length as the input.
    robust_sd_bpm : float
        The session's robust SD of heart rate around the baseline.
    threshold : ndarray
        ``baseline + k * robust_sd_bpm``.
    """

    onset_s: np.ndarray
    end_s: np.ndarray
    peak_s: np.ndarray
    duration_s: np.ndarray
    peak_bpm: np.ndarray
    baseline_bpm: np.ndarray
    peak_excess_bpm: np.ndarray
    recovery_s: np.ndarray
    baseline: np.ndarray
    robust_sd_bpm: float
    threshold: np.ndarray

    def __len__(self) -> int:
        return int(self.onset_s.size)


def rolling_baseline(hr: np.ndarray, *, fs: float, window_s: float) -> np.ndarray:
    """Centred rolling median (NaN-aware) of ``hr`` over ``window_s`` seconds.

    Evaluated once per second (the baseline changes slowly) and linearly
    interpolated to every sample; NaN where the window holds no finite value.
    """
    n = hr.size
    if n == 0:
        return hr.copy()
    step = max(1, round(fs))  # one baseline value per second
    idx = np.arange(0, n, step)
    half = max(1, round(0.5 * window_s * fs))
    pad = np.concatenate([np.full(half, np.nan), hr, np.full(half, np.nan)])
    win = np.lib.stride_tricks.sliding_window_view(pad, 2 * half + 1)[idx]
    # thin each window too: a median of every 4th sample of a 120-s window is
    # plenty for a baseline and keeps this O(n) with a small constant
    thin = max(1, (2 * half + 1) // 256)
    win = win[:, ::thin]
    ok = np.isfinite(win).any(axis=1)
    coarse = np.full(idx.size, np.nan)
    if ok.any():
        coarse[ok] = np.nanmedian(win[ok], axis=1)
    good = np.isfinite(coarse)
    if good.sum() == 0:
        return np.full(n, np.nan)
    out = np.interp(np.arange(n), idx[good], coarse[good])
    # no baseline across a stretch whose whole window is lost signal (a long pause)
    known = np.interp(np.arange(n), idx, good.astype(float))
    out[known < 1.0 - 1e-9] = np.nan
    return out


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Half-open ``[start, stop)`` index runs where ``mask`` is True."""
    d = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return np.flatnonzero(d == 1), np.flatnonzero(d == -1)


def detect_arousal(hr: np.ndarray, *, fs: float, t0: float = 0.0, baseline_s: float = 120.0,
                   k: float = 2.0, min_duration_s: float = 10.0, merge_gap_s: float = 2.0,
                   recovery_k: float = 0.5, min_excess: float = 0.0) -> ArousalEpisodes:
    """Find heart-rate arousal episodes (rule in :mod:`somacore.analysis.arousal`).

    Parameters
    ----------
    hr : ndarray, shape (n,)
        Heart rate in bpm sampled evenly at ``fs`` Hz; NaN where undefined.
    fs : float
        Sampling rate of ``hr`` in Hz.
    t0 : float
        Time of ``hr[0]`` in seconds (added to every reported time).
    baseline_s, k, min_duration_s, merge_gap_s, recovery_k : float
        See the module docs.
    min_excess : float
        Floor on the threshold's distance above the baseline, in the series'
        units (0 for heart rate). The same rule serves other slow arousal
        series (skin conductance in the ``somacore-eda`` plugin), where the
        signal can sit so still that ``k`` robust SDs is within sensor noise.

    Returns
    -------
    ArousalEpisodes
    """
    hr = np.asarray(hr, dtype=np.float64)
    if hr.ndim != 1:
        raise ValueError(f"the series must be 1-D (one value per sample), got shape {hr.shape}")
    if not (isinstance(fs, (int, float)) and math.isfinite(fs) and fs > 0):
        raise ValueError(f"fs={fs!r} must be the series' positive sampling rate in Hz")
    base = rolling_baseline(hr, fs=fs, window_s=baseline_s)
    resid = hr - base
    fin = np.isfinite(resid)
    if fin.sum() >= 3:
        r = resid[fin]
        sd = 1.4826 * float(np.median(np.abs(r - np.median(r))))
    else:
        sd = math.nan
    empty = np.zeros(0)
    if not math.isfinite(sd) or (sd <= 0 and min_excess <= 0):
        return ArousalEpisodes(empty, empty, empty, empty, empty, empty, empty, empty, base,
                               sd, base + k * (sd if math.isfinite(sd) else np.nan))
    thr = base + max(k * sd, min_excess)
    with np.errstate(invalid="ignore"):
        above = fin & (hr > thr)
    starts, stops = _runs(above)
    # merge runs separated by short dips below threshold
    gap = round(merge_gap_s * fs)
    if starts.size > 1:
        keep = np.concatenate([[True], starts[1:] - stops[:-1] > gap])
        starts = starts[keep]
        stops = np.concatenate([stops[np.flatnonzero(keep)[1:] - 1], [stops[-1]]])
    long = (stops - starts) >= round(min_duration_s * fs)
    starts, stops = starts[long], stops[long]
    rec_thr = base + recovery_k * sd
    out = {name: np.zeros(starts.size) for name in
           ("onset_s", "end_s", "peak_s", "peak_bpm", "baseline_bpm", "recovery_s")}
    for e, (a, b) in enumerate(zip(starts.tolist(), stops.tolist(), strict=True)):
        seg = np.where(np.isfinite(hr[a:b]), hr[a:b], -np.inf)
        p = a + int(np.argmax(seg))
        out["onset_s"][e] = t0 + a / fs
        out["end_s"][e] = t0 + b / fs
        out["peak_s"][e] = t0 + p / fs
        out["peak_bpm"][e] = hr[p]
        out["baseline_bpm"][e] = base[p]
        after = hr[p:]
        with np.errstate(invalid="ignore"):
            back = after <= rec_thr[p:]
        lost = ~np.isfinite(after)
        hit = np.flatnonzero(back | lost)
        # lost signal before the return means the recovery time is unknown
        out["recovery_s"][e] = hit[0] / fs if hit.size and back[hit[0]] else math.nan
    return ArousalEpisodes(
        onset_s=out["onset_s"], end_s=out["end_s"], peak_s=out["peak_s"],
        duration_s=out["end_s"] - out["onset_s"], peak_bpm=out["peak_bpm"],
        baseline_bpm=out["baseline_bpm"], peak_excess_bpm=out["peak_bpm"] - out["baseline_bpm"],
        recovery_s=out["recovery_s"], baseline=base, robust_sd_bpm=sd, threshold=thr)
