"""Photoplethysmogram (PPG) pulse detection: parameters and kernel factory.

The detector is a causal, streaming variant of Elgendi et al. (2013): two
event-related moving averages of the band-passed, clipped and squared PPG
mark "blocks of interest", one per pulse; the systolic peak is then placed on
the maximum of the raw signal near the block, and the pulse onset (foot) on
the last minimum of the raw signal before the peak. The compiled kernel
(:mod:`somacore._core._ppg`) holds all state; :func:`somacore.beats.detect_beats`
with ``kind="ppg"`` and :class:`somacore.stream.BeatDetector` both build it with
:func:`ppg_kernel`. A pulse is reported about ``flat_s + 0.2 s`` (1.2 s with the
defaults) after it occurred: the kernel's fixed look-ahead.

Unusable signal is handled as follows (see :class:`PpgParams` for the
thresholds):

- **gaps** (``Beats.gaps``; no beat inside, no interval across, the first beat
  after one has ``FLAG_AFTER_GAP``): non-finite samples; flat lines (at least
  ``flat_s`` within a tolerance of about 1 % of the pulse height); saturation
  (at least ``clip_gap_s`` at the highest value seen so far);
- **FLAG_UNCERTAIN**: the beats just before and just after a motion artefact
  (a block of interest more than ``artefact_ratio`` times the running typical
  amplitude, or wider than ``max_block_s``; no beat is reported for the
  artefact itself), and a beat whose peak lies on a short saturated run (at
  least ``clip_s`` at the highest value seen so far: its true maximum was cut
  off);
- blocks and pulses far smaller than typical (``small_ratio``) are not beats:
  noise, dicrotic waves, baseline steps. A weak pulse riding on the falling
  edge of a large one (e.g. after a premature beat) can be missed this way.

Reference: M. Elgendi, I. Norton, M. Brearley, D. Abbott, D. Schuurmans,
"Systolic peak detection in acceleration photoplethysmograms measured from
emergency responders in tropical conditions", PLoS ONE 8(10):e76585, 2013.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

__all__ = ["PpgParams", "ppg_kernel"]


@dataclass(frozen=True)
class PpgParams:
    """Parameters of the PPG pulse detector, in seconds and Hz (converted per ``fs``).

    The defaults follow Elgendi et al. (2013) where the paper gives a value.
    The others were fixed on PhysioNet record a103l (PPG and ECG on one clock)
    and on the arterial pressure of MIMIC record 037/00181, at their own rate
    and time-stretched to heart rates down to about 55 bpm. They were not tuned
    on the CapnoBase evaluation set.

    Attributes
    ----------
    band_hz : tuple of float
        Causal Butterworth band-pass (order 2 high-pass, order 2 low-pass),
        0.5-8 Hz as in the paper. The upper edge is capped at 0.45 x fs. A
        higher low edge finds weak pulses on a falling baseline better but
        turns dicrotic waves into beats at slow heart rates.
    peak_window_s : float
        MA_peak window, about one systolic peak wide (paper: 111 ms).
    beat_window_s : float
        MA_beat window, about one beat (paper: 667 ms). Must exceed
        ``peak_window_s``.
    offset : float
        Offset of the block threshold as a fraction of the mean of the
        clipped, squared signal (paper's beta = 0.02).
    offset_memory_s : float
        Memory of that running mean (the paper uses the whole record; here a
        cumulative mean that turns exponential after this long). Each sample
        enters it capped at 4 x the squared typical block amplitude, so that an
        artefact cannot lift the threshold over the pulses after it.
    peak_lag_hz : float
        The band-passed systolic maximum lags the raw one by about the
        band-pass's phase delay at the upstroke's harmonics: the raw peak is
        searched around the band-passed maximum moved back by the phase delay
        at this frequency (26 ms for the default band; measured lag on the
        development records 24-28 ms).
    search_half_s : float
        Half width of that raw-signal search window.
    climb_s : tuple of float
        If the raw maximum sits on an edge of the search window, the search
        follows the rising raw signal further, at most this far (before,
        after) from the band-passed maximum.
    min_distance_s : float
        Two peaks closer than this are one pulse (0.3 s: up to 200 bpm); the
        larger block is kept.
    onset_window_s : float
        The onset (foot) is the last minimum of the raw signal at most this
        long before the peak, after the previous beat's peak and not across a
        gap (the "minimum before the peak" definition, not the
        intersecting-tangent or second-derivative foot).
    max_block_s : float
        A block of interest wider than this is an artefact, not a pulse.
    flat_s : float
        A run at least this long that stays within ``flat_tolerance`` of its
        first value is a flat line: a gap. Some monitors' PPG has a flat
        diastole, so this is longer than the flat part of a pulse at 40 bpm.
    clip_s : float
        A run at least this long at the highest value seen so far is
        clipping: a beat whose peak lies on it gets FLAG_UNCERTAIN.
    clip_gap_s : float
        Such a run at least this long is saturation: a gap.
    flat_tolerance : float
        Tolerance of those runs, as a fraction of the typical block amplitude
        of the band-passed signal (about 1 % of the pulse's height). Until
        three blocks have been seen only exactly equal samples form a run.
    artefact_ratio : float
        A block whose band-passed amplitude exceeds this many times the
        running typical amplitude (median of the last 8 blocks) is a motion
        artefact: no beat, and its neighbours get FLAG_UNCERTAIN.
    small_ratio : float
        A block smaller than this fraction of the typical amplitude, or a pulse
        whose raw height (peak minus onset) is smaller than this fraction of
        the median of the last 8 heights, is not a beat.
    hold_s : float
        A beat is held back at most about this long, waiting for the
        min-distance decision and for a following artefact that would flag it.
    """

    band_hz: tuple[float, float] = (0.5, 8.0)
    peak_window_s: float = 0.111
    beat_window_s: float = 0.667
    offset: float = 0.02
    offset_memory_s: float = 30.0
    peak_lag_hz: float = 5.0
    search_half_s: float = 0.09
    climb_s: tuple[float, float] = (0.3, 0.2)
    min_distance_s: float = 0.3
    onset_window_s: float = 0.5
    max_block_s: float = 1.0
    flat_s: float = 1.0
    clip_s: float = 0.1
    clip_gap_s: float = 0.25
    flat_tolerance: float = 0.02
    artefact_ratio: float = 3.0
    small_ratio: float = 0.2
    hold_s: float = 2.0

    def __post_init__(self) -> None:
        from somacore._validate import check_params, is_number

        check_params(self, band="band_hz",
                     positive=("peak_window_s", "beat_window_s", "offset_memory_s",
                               "peak_lag_hz", "search_half_s", "min_distance_s",
                               "onset_window_s", "max_block_s", "flat_s", "clip_s",
                               "clip_gap_s", "artefact_ratio", "hold_s"),
                     nonnegative=("offset", "flat_tolerance", "small_ratio"))
        try:
            before, after = self.climb_s
        except (TypeError, ValueError):
            before = after = -1.0
        if not all(is_number(v) and v >= 0 for v in (before, after)):
            raise ValueError(f"PpgParams.climb_s must be two durations >= 0 (before, after), "
                             f"got {self.climb_s!r}.")
        if self.beat_window_s <= self.peak_window_s:
            raise ValueError(f"PpgParams.beat_window_s ({self.beat_window_s}) must exceed "
                             f"peak_window_s ({self.peak_window_s}).")


def _phase_delay(sos: np.ndarray, f: float, fs: float) -> float:
    """Phase delay in seconds of a section cascade at ``f`` Hz (positive = lag)."""
    from somacore._design import sos_response

    h = sos_response(sos, np.array([f]), fs=fs)[0]
    return float(-np.angle(h) / (2.0 * np.pi * f))


def ppg_kernel(fs: float, params: PpgParams | None = None):
    """Create the compiled PPG pulse-detector kernel for one channel.

    Parameters
    ----------
    fs : float
        Sampling rate in Hz (50-10,000 Hz; validated by the caller).
    params : PpgParams, optional
        Detector parameters; ``PpgParams()`` if omitted.

    Returns
    -------
    somacore._core._ppg.PpgKernel
        ``process(chunk)`` and ``flush()`` return ``(peaks, quality, gaps,
        onsets)``: int64 peak samples, uint8 quality flags, int64 (k, 2) gap
        ranges ``[start, stop)`` and int64 onset samples (-1 where none).
    """
    from somacore._core import kernel_module

    PpgKernel = kernel_module("_ppg").PpgKernel
    p = params if params is not None else PpgParams()
    if not isinstance(p, PpgParams):
        raise TypeError(f"params must be a PpgParams, got {type(p).__name__}.")
    if not 0 < p.peak_window_s < p.beat_window_s:
        raise ValueError("PpgParams: need 0 < peak_window_s < beat_window_s.")
    try:
        args = _ppg_kernel_args(fs, p)
    except TypeError:  # unhashable parameters (e.g. a list for band_hz): no cache
        args = _ppg_kernel_args.__wrapped__(fs, p)
    return PpgKernel(*args)


@lru_cache(maxsize=32)
def _ppg_kernel_args(fs: float, p: PpgParams) -> tuple:
    """The kernel's constructor arguments for ``fs`` and ``p`` (cached: the filter
    design costs ~0.1 ms, about 1% of a 1 h batch call; the section array is
    private to this cache and only read by the kernels)."""
    from somacore._design import bandpass_sections

    lo, hi = p.band_hz
    hi = min(hi, 0.45 * fs)
    sos = np.ascontiguousarray(bandpass_sections(lo, hi, fs=fs, order=2))
    lag = _phase_delay(sos, min(p.peak_lag_hz, hi), fs)

    def n(sec: float) -> int:
        return max(1, round(sec * fs))

    return (
        sos, n(p.peak_window_s), n(p.beat_window_s), p.offset, n(p.offset_memory_s),
        round(lag * fs), n(p.search_half_s), n(p.climb_s[0]), n(p.climb_s[1]),
        n(p.min_distance_s), n(p.onset_window_s), n(p.max_block_s), n(p.flat_s),
        n(p.clip_s), n(p.clip_gap_s), p.flat_tolerance, p.artefact_ratio, p.small_ratio,
        n(p.hold_s),
    )
