"""Heartbeat detection from ECG (R peaks) and PPG (pulse peaks): the batch API.

Both detectors are stateful compiled kernels (:mod:`somacore._core._ecg`,
:mod:`somacore._core._ppg`). The batch function below feeds the whole signal
to a fresh kernel and flushes it; :class:`somacore.stream.BeatDetector` feeds
the same kernel chunk by chunk. Because every decision the kernel makes
depends only on the samples seen so far (plus a fixed look-ahead it buffers
itself), the two give identical beats for any chunking.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

import numpy as np

from somacore._arrays import readonly

__all__ = ["FLAG_AFTER_GAP", "FLAG_SEARCHBACK", "FLAG_UNCERTAIN", "Beats", "detect_beats"]

BeatKind = Literal["ecg", "ppg"]

#: Quality flag bits (``Beats.quality``).
#: The beat was recovered by search-back with a lowered threshold after an
#: unusually long interval: real, but weaker than its neighbours.
FLAG_SEARCHBACK = 1
#: First beat after the start of the record or after a gap: the interval
#: ending at this beat is undefined.
FLAG_AFTER_GAP = 2
#: The beat lies in or next to a stretch the detector judged unreliable
#: (PPG: motion or low perfusion). Interval analyses should treat it as missing.
FLAG_UNCERTAIN = 4




@dataclass(frozen=True, eq=False)
class Beats:
    """Detected heartbeats of one channel.

    Attributes
    ----------
    samples : ndarray of int64, shape (n,)
        Sample index of each beat: the R peak (ECG) or the systolic pulse
        peak (PPG), counted from the first sample given to the detector.
    fs : float
        Sampling rate in Hz of the signal the beats were detected in.
    kind : {"ecg", "ppg"}
        Signal the beats come from. Intervals are called RR for ECG and PP for
        PPG and are never mixed.
    quality : ndarray of uint8, shape (n,)
        Bit flags per beat: :data:`FLAG_SEARCHBACK`, :data:`FLAG_AFTER_GAP`,
        :data:`FLAG_UNCERTAIN`. Zero means a clean detection.
    gaps : ndarray of int64, shape (k, 2)
        Half-open sample ranges ``[start, stop)`` with no usable signal
        (non-finite samples, flat or clipped stretches). No beat is reported
        inside a gap and no interval spans one.
    n_samples : int
        Number of samples analysed.
    onsets : ndarray of int64, shape (n,), or None
        PPG only: pulse onset (foot) before each peak, -1 where none was found.
    """

    samples: np.ndarray
    fs: float
    kind: BeatKind
    quality: np.ndarray
    gaps: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.int64))
    n_samples: int = 0
    onsets: np.ndarray | None = None

    def __post_init__(self) -> None:
        s = np.ascontiguousarray(self.samples, dtype=np.int64)
        q = np.ascontiguousarray(self.quality, dtype=np.uint8)
        g = np.ascontiguousarray(self.gaps, dtype=np.int64).reshape(-1, 2)
        if q.shape != s.shape:
            raise ValueError("quality must have one flag per beat")
        object.__setattr__(self, "samples", readonly(s))
        object.__setattr__(self, "quality", readonly(q))
        object.__setattr__(self, "gaps", readonly(g))
        if self.onsets is not None:
            o = np.ascontiguousarray(self.onsets, dtype=np.int64)
            if o.shape != s.shape:
                raise ValueError("onsets must have one entry per beat")
            object.__setattr__(self, "onsets", readonly(o))

    def __len__(self) -> int:
        return int(self.samples.size)

    def __repr__(self) -> str:
        dur = self.n_samples / self.fs if self.fs else 0.0
        return (f"Beats(kind={self.kind!r}, n={len(self)}, fs={self.fs:g} Hz, "
                f"duration={dur:.1f} s, gaps={len(self.gaps)})")

    @property
    def times(self) -> np.ndarray:
        """Beat times in seconds from the first sample."""
        return self.samples / self.fs

    @property
    def interval_name(self) -> str:
        """``"RR"`` for ECG beats, ``"PP"`` for pulse beats."""
        return "RR" if self.kind == "ecg" else "PP"

    @property
    def intervals(self) -> np.ndarray:
        """Inter-beat intervals in seconds, shape (n-1,).

        Entry ``i`` is the interval ending at beat ``i + 1``. It is NaN where
        that beat follows a gap (:data:`FLAG_AFTER_GAP`), so an interval never
        spans lost signal.
        """
        if len(self) < 2:
            return np.zeros(0)
        iv = np.diff(self.samples) / self.fs
        iv[(self.quality[1:] & FLAG_AFTER_GAP) != 0] = np.nan
        return iv

    def to_pandas(self):  # pragma: no cover - optional dependency
        """One row per beat (requires pandas)."""
        import pandas as pd

        iv = np.concatenate([[np.nan], self.intervals])
        cols = {"sample": self.samples, "time_s": self.times,
                f"{self.interval_name.lower()}_interval_s": iv, "quality": self.quality}
        if self.onsets is not None:
            cols["onset_sample"] = self.onsets
        return pd.DataFrame(cols)


# --------------------------------------------------------------------------- ECG
@dataclass(frozen=True)
class EcgParams:
    """Parameters of the ECG detector, in seconds and Hz (converted per ``fs``).

    The defaults were chosen on the annotated records in ``../shared/data/ecg``
    (MIT-BIH Arrhythmia, Noise Stress Test, record 105 at 250 Hz); there is no
    held-out ECG set there, so the figures in ``benchmarks/results`` are
    measured on the same records (see the closing note of the heartbeat issue).

    ``rhythm_lag_s`` (0 disables) holds each detected beat that long and keeps
    only the best-scoring subsequence under a rhythm model (see
    :mod:`somacore._core._ecg`, step 7): it removes electrode-motion artefacts
    squeezed between real beats; beats are then reported that much later by
    :class:`~somacore.stream.BeatDetector`.

    The rhythm check is noise-aware (see :mod:`somacore._core._ecg`, step 8):
    the noise estimate is the fraction of the last two seconds in which the
    feature exceeds ``activity_level`` times the QRS level. From
    ``noise_freeze`` on, intervals stop updating the rhythm statistics; from
    ``noise_low`` to ``noise_high`` the interval weight grows by up to
    ``noise_boost`` (``noise_freeze=inf, noise_boost=0`` switches this off).
    With ``burst_alternatives`` the second largest peak of a pre-blanking burst
    is offered to the rhythm check beside the largest one (step 9 there), so
    that a noise peak next to a QRS does not displace it. These were set on
    MIT-BIH 105 at 250 Hz and Noise Stress Test 118e00 with the MIT-BIH
    records checked for regressions.

    The detection stage runs at a decimated rate ``fs / D`` with
    ``D = max(1, floor(fs / 100))``: the filters and derivative see every
    sample, the moving-window integral is evaluated once per block of ``D``
    samples, and the peak, threshold and rhythm logic works on blocks. The
    time parameters are therefore rounded to blocks (``window_s``,
    ``pre_blank_s``, ``peak_timeout_s``, ``refractory_s``, ``twave_s``,
    ``learn_s``, ``rhythm_lag_s``) or to samples (``shift_sep_s``,
    ``locate_s``, ``settle_s``, ``flat_s``); beat positions are full-rate
    samples (the R peak is searched on the raw signal at full rate).
    """

    band_hz: tuple[float, float] = (5.0, 15.0)
    window_s: float = 0.15
    pre_blank_s: float = 0.25
    peak_timeout_s: float = 0.07
    refractory_s: float = 0.25
    twave_s: float = 0.36
    learn_s: float = 4.0
    shift_sep_s: float = 0.15
    locate_s: float = 0.05
    settle_s: float = 0.1
    flat_s: float = 0.15
    rhythm_lag_s: float = 1.5
    rhythm_weight: float = 0.07
    amplitude_weight: float = 0.5
    rhythm_spread_min: float = 0.05
    threshold: float = 0.45
    searchback_rr: float = 1.5
    twave_slope_ratio: float = 0.5
    searchback_ratio: float = 0.5
    relearn_s: float = 8.0
    activity_level: float = 0.25
    noise_freeze: float = 0.5
    noise_low: float = 0.4
    noise_high: float = 0.65
    noise_boost: float = 0.5
    burst_alternatives: bool = True

    def __post_init__(self) -> None:
        from somacore._validate import check_params

        check_params(self, band="band_hz",
                     positive=("window_s", "pre_blank_s", "peak_timeout_s", "refractory_s",
                               "twave_s", "learn_s", "shift_sep_s", "locate_s", "settle_s",
                               "flat_s", "threshold", "searchback_rr", "relearn_s",
                               "activity_level"),
                     nonnegative=("rhythm_lag_s", "rhythm_weight", "amplitude_weight",
                                  "rhythm_spread_min", "twave_slope_ratio",
                                  "searchback_ratio", "noise_low", "noise_high",
                                  "noise_boost"))
        f = self.noise_freeze
        if not (isinstance(f, (int, float)) and f > 0):  # inf turns the freeze off
            raise ValueError(f"EcgParams.noise_freeze must be > 0 (inf turns it off), got {f!r}.")
        if self.noise_low > self.noise_high:
            raise ValueError(f"EcgParams: noise_low ({self.noise_low}) must not exceed "
                             f"noise_high ({self.noise_high}).")


def _ecg_kernel(fs: float, params: EcgParams, decimation: int | None = None):
    from somacore._core import kernel_module

    EcgKernel = kernel_module("_ecg").EcgKernel
    try:
        args = _ecg_kernel_args(fs, params, decimation)
    except TypeError:  # unhashable parameters (e.g. a list for band_hz): no cache
        args = _ecg_kernel_args.__wrapped__(fs, params, decimation)
    return EcgKernel(*args)


@lru_cache(maxsize=32)
def _ecg_kernel_args(fs: float, params: EcgParams, decimation: int | None):
    """The kernel's constructor arguments for ``fs`` and ``params`` (cached: the
    filter design and group delay cost ~0.1 ms, about 1% of a 1 h batch call;
    the section array is private to this cache and only read by the kernels)."""
    from somacore._design import bandpass_sections, group_delay

    lo, hi = params.band_hz
    hi = min(hi, 0.45 * fs)
    sos = np.ascontiguousarray(bandpass_sections(lo, hi, fs=fs, order=2))
    gd = group_delay(sos, 0.5 * (lo + hi), fs=fs)
    # The detection stage runs once per block of D samples, at fs / D >= 100 Hz
    # (360 Hz -> 3, 250 Hz -> 2, 1000 Hz -> 10, below 200 Hz -> 1); the
    # feature is still computed from every sample (see somacore._core._ecg).
    # ``decimation`` overrides D (testing; 1 is the undecimated detector).
    dec = max(1, int(fs // 100.0)) if decimation is None else int(decimation)
    fsb = fs / dec

    def n(sec: float) -> int:          # samples
        return max(1, round(sec * fs))

    def nb(sec: float) -> int:         # blocks
        return max(1, round(sec * fsb))

    w = nb(params.window_s)
    return (
        fs, sos, dec, w, nb(params.pre_blank_s), nb(params.peak_timeout_s),
        nb(params.refractory_s), nb(params.twave_s), nb(params.learn_s),
        w * dec, n(params.shift_sep_s), n(params.locate_s), round(gd),
        n(params.settle_s), max(4, n(params.flat_s)),
        round(params.rhythm_lag_s * fsb), params.rhythm_weight, params.amplitude_weight,
        params.rhythm_spread_min, params.threshold, params.searchback_rr,
        params.twave_slope_ratio, params.searchback_ratio,
        round(params.relearn_s * fsb) if params.relearn_s > 0 else 0,
        params.activity_level, params.noise_freeze, params.noise_low, params.noise_high,
        params.noise_boost, bool(params.burst_alternatives),
    )


def detect_beats(x, *, fs: float, kind: BeatKind = "ecg", params=None) -> Beats:
    """Detect heartbeats in one ECG or PPG channel.

    Parameters
    ----------
    x : array_like, shape (n,)
        One channel. float64, float32, int16 and int32 arrays (including
        memory-mapped ones) are read in place. Non-finite samples (NaN, inf)
        mark lost signal: they are reported as gaps, never bridged.
    fs : float
        Sampling rate in Hz (required, keyword-only; 50-10,000 Hz).
    kind : {"ecg", "ppg"}
        ``"ecg"`` finds R peaks; ``"ppg"`` finds systolic pulse peaks and
        pulse onsets in a photoplethysmogram.
    params : EcgParams or PpgParams, optional
        Detector parameters; the defaults suit adult and paediatric recordings.

    Returns
    -------
    Beats
        Beat sample indices, times, quality flags, gaps and intervals.

    Examples
    --------
    >>> beats = detect_beats(ecg, fs=360.0)          # doctest: +SKIP
    >>> beats.intervals.mean()                       # doctest: +SKIP
    """
    from somacore._validate import as_1d_signal, check_fs

    fs = check_fs(fs, lo=50.0, hi=10_000.0, what=f"{kind.upper()} signal")
    arr = as_1d_signal(x, what=f"{kind.upper()} signal")
    kernel = make_kernel(kind, fs=fs, params=params)
    return _assemble(kind, fs, arr.shape[0], [kernel.process(arr), kernel.flush()])


def make_kernel(kind: BeatKind, *, fs: float, params=None):
    """Create the compiled kernel for ``kind`` (shared by batch and streaming)."""
    if kind == "ecg":
        return _ecg_kernel(fs, params if params is not None else EcgParams())
    if kind == "ppg":
        from somacore.pulse import ppg_kernel

        return ppg_kernel(fs, params)
    raise ValueError(f"kind must be 'ecg' or 'ppg', got {kind!r}.")


def _assemble(kind, fs, n_samples, parts) -> Beats:
    """Build a :class:`Beats` from kernel outputs (trusted: int64/uint8 arrays)."""
    if len(parts) == 1:
        s, q, g = parts[0][0], parts[0][1], parts[0][2]
        onsets = parts[0][3] if kind == "ppg" else None
    else:
        s = np.concatenate([p[0] for p in parts])
        q = np.concatenate([p[1] for p in parts])
        g = np.concatenate([p[2] for p in parts])
        onsets = np.concatenate([p[3] for p in parts]) if kind == "ppg" else None
    # The kernel's arrays are fresh, contiguous and of the right dtype, so the
    # checks of Beats.__post_init__ are skipped: a live detector builds one
    # result per chunk, and this keeps that cost to a few microseconds.
    s.flags.writeable = False
    q.flags.writeable = False
    g.flags.writeable = False
    if onsets is not None:
        onsets.flags.writeable = False
    out = object.__new__(Beats)
    out.__dict__.update(samples=s, fs=fs, kind=kind, quality=q, gaps=g,
                        n_samples=int(n_samples), onsets=onsets)
    return out
