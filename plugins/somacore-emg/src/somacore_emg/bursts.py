"""Muscle tension from surface EMG: RMS envelope and burst detection.

Method:

1. **High-pass**: a causal 2nd-order Butterworth high-pass at ``highpass_hz``
   (default 20 Hz, the corner De Luca et al. 2010, *J. Biomech.* 43:1573,
   recommend for surface EMG; cited from memory) removes DC offset, electrode
   drift and most movement artefact. Each stretch between lost samples is
   filtered on its own, starting in the steady state of its first value (no
   offset transient). Causal on purpose: a zero-phase (forward-backward) or
   moving-mean detrend leaks a burst's energy *before* its onset, and with a
   burst 40x above rest that leak alone crosses the threshold tens of ms
   early; a causal filter only rings after the burst (offsets read up to
   ~40 ms late for large bursts). Mains (50/60 Hz) filtering is the device's job.
2. **RMS envelope**: square root of the centred moving mean of the squared
   signal over ``window_s`` (default **0.1 s**; 50–250 ms windows are usual for
   surface EMG: shorter follows onsets more closely, longer is smoother). The
   moving window spreads an abrupt onset by ``window_s / 2``, so onsets read up to
   that much early and offsets that much late.
3. **Baseline**: mean ``mu`` and SD ``sd`` of the envelope over a rest period:
   the ``baseline`` interval given by the caller (seconds from the first
   sample), or by default the quietest ``baseline_s`` (1 s) stretch of the
   record (lowest mean envelope). The default assumes the record contains at
   least ``baseline_s`` of rest.
4. **Bursts** (double threshold with hysteresis, after the classic
   "mean + k SD" rule of Hodges & Bui 1996, cited from memory): a burst is a
   run of envelope samples above ``mu + k_off * sd`` (default k_off = 1.5) that
   reaches the on-threshold ``max(mu + k_on * sd, min_ratio * mu)`` (default
   k_on = 3, min_ratio = 1.5). The ratio floor is needed because the RMS
   envelope of rest noise over a 0.1-s window fluctuates so little (its SD is
   ~5 % of its mean) that ``mu + 3 sd`` sits inside the noise's own excursions
   over a long record (a 10-s synthetic rest record gave several false 50–90 ms
   "bursts" without it); a burst must at least raise the RMS level by half
   (+3.5 dB). Likewise the off-threshold is ``max(mu + k_off * sd,
   (1 + (min_ratio - 1) / 2) * mu)`` (1.25 mu by default), capped at the
   on-threshold, so a burst ends when its RMS is back near rest rather than
   at the first noise dip. Bursts separated by less than
   ``min_gap_s`` (0.05 s) are merged, bursts shorter than ``min_burst_s``
   (0.05 s) dropped. Onset = first sample of the run, offset = end of the run
   (exclusive). Amplitudes: peak and mean envelope in the burst (signal units,
   RMS), and the peak above ``mu``.

Lost samples (NaN) are never bridged: a burst ends at lost signal.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from somacore_emg import _kernels as K

__all__ = ["Bursts", "detect_bursts", "rms_envelope"]


def _check(x: np.ndarray, fs: float) -> tuple[np.ndarray, float]:
    a = np.ascontiguousarray(x, dtype=np.float64)
    if a.ndim != 1:
        raise ValueError(f"EMG must be 1-D, got shape {a.shape}")
    if isinstance(fs, bool) or not isinstance(fs, (int, float, np.integer, np.floating)) \
            or not math.isfinite(float(fs)) or float(fs) <= 0:
        raise ValueError(f"fs={fs!r} must be a positive sampling rate in Hz")
    return a, float(fs)


def _odd(n: float) -> int:
    return max(1, round(n)) | 1


def _highpass_coefs(fs: float, fc: float) -> tuple[float, float, float, float, float]:
    # RBJ audio-EQ cookbook high-pass (bilinear transform), Q = 1/sqrt(2): Butterworth
    w0 = 2.0 * math.pi * fc / fs
    alpha = math.sin(w0) / (2.0 * math.sqrt(0.5))
    c = math.cos(w0)
    a0 = 1.0 + alpha
    return ((1 + c) / 2 / a0, -(1 + c) / a0, (1 + c) / 2 / a0, -2 * c / a0, (1 - alpha) / a0)


def rms_envelope(emg: np.ndarray, *, fs: float, window_s: float = 0.1,
                 highpass_hz: float = 20.0) -> np.ndarray:
    """RMS envelope of EMG (offset removed), same length as the input.

    Parameters
    ----------
    emg : ndarray, shape (n,)
        EMG samples (any units; NaN where lost).
    fs : float
        Sampling rate in Hz.
    window_s : float
        RMS window in seconds (centred).
    highpass_hz : float
        High-pass corner in Hz (below ``fs / 2``); 0 disables it (then only the
        mean is removed).

    Returns
    -------
    ndarray
        Envelope in the input's units (NaN where the input is NaN).
    """
    x, fs = _check(emg, fs)
    if not window_s > 0:
        raise ValueError(f"window_s={window_s!r} must be positive seconds")
    if not 0 <= highpass_hz < fs / 2:
        raise ValueError(f"highpass_hz={highpass_hz!r} must be in [0, fs/2) = [0, {fs / 2:g})")
    if highpass_hz > 0:
        y = K.highpass(x, *_highpass_coefs(fs, highpass_hz))
    else:
        y = x - np.nanmean(x) if np.isfinite(x).any() else x
    return np.sqrt(K.moving_mean(y * y, _odd(window_s * fs)))


@dataclass(frozen=True, eq=False)
class Bursts:
    """Bursts found by :func:`detect_bursts` (arrays of shape (m,)).

    Attributes
    ----------
    onset_s, offset_s, duration_s : ndarray
        Burst timing in seconds (offset exclusive).
    onset_idx, offset_idx : ndarray of int64
        The same as sample indices (half-open).
    peak_rms, mean_rms, peak_above_baseline : ndarray
        Envelope amplitudes in the input's units.
    envelope : ndarray
        The RMS envelope.
    baseline_mean, baseline_sd : float
        Rest level of the envelope and its SD.
    on_threshold, off_threshold : float
        The two thresholds.
    """

    onset_s: np.ndarray
    offset_s: np.ndarray
    duration_s: np.ndarray
    onset_idx: np.ndarray
    offset_idx: np.ndarray
    peak_rms: np.ndarray
    mean_rms: np.ndarray
    peak_above_baseline: np.ndarray
    envelope: np.ndarray
    baseline_mean: float
    baseline_sd: float
    on_threshold: float
    off_threshold: float

    def __len__(self) -> int:
        return int(self.onset_s.size)


def _quietest(env: np.ndarray, w: int) -> np.ndarray | None:
    """Indices of the ``w``-sample stretch with the lowest mean envelope (all finite)."""
    n = env.size
    if n < w:
        return None
    fin = np.isfinite(env)
    c = np.concatenate([[0.0], np.cumsum(np.where(fin, env, 0.0))])
    cn = np.concatenate([[0], np.cumsum(fin)])
    sums = c[w:] - c[:-w]
    full = (cn[w:] - cn[:-w]) == w
    if not full.any():
        return None
    i = int(np.argmin(np.where(full, sums, np.inf)))
    return np.arange(i, i + w)


def detect_bursts(emg: np.ndarray, *, fs: float, t0: float = 0.0, window_s: float = 0.1,
                  highpass_hz: float = 20.0, k_on: float = 3.0, k_off: float = 1.5,
                  baseline: tuple[float, float] | None = None, baseline_s: float = 1.0,
                  rest_level: tuple[float, float] | None = None, min_ratio: float = 1.5,
                  min_burst_s: float = 0.05, min_gap_s: float = 0.05) -> Bursts:
    """Detect EMG bursts (method in the module docs).

    Parameters
    ----------
    emg : ndarray, shape (n,)
        EMG samples; NaN where lost.
    fs : float
        Sampling rate in Hz.
    t0 : float
        Time of ``emg[0]`` in seconds (added to reported times).
    window_s, highpass_hz : float
        Envelope parameters (see :func:`rms_envelope`).
    k_on, k_off : float
        Thresholds in baseline SDs above the baseline mean (``k_on >= k_off``).
    baseline : (float, float), optional
        Rest interval ``(start, end)`` in seconds from the first sample.
    baseline_s : float
        Length of the automatically chosen quietest stretch.
    rest_level : (float, float), optional
        Known ``(mean, sd)`` of the rest envelope (e.g. from a calibration
        recording), in the input's units; overrides ``baseline``/``baseline_s``.
    min_ratio : float
        Floor of the on-threshold as a multiple of the rest mean (1 disables it).
    min_burst_s, min_gap_s : float
        Shortest burst kept and shortest gap not merged, in seconds.

    Returns
    -------
    Bursts
    """
    x, fs = _check(emg, fs)
    if not k_on >= k_off >= 0:
        raise ValueError(f"need k_on >= k_off >= 0, got k_on={k_on}, k_off={k_off}")
    env = rms_envelope(x, fs=fs, window_s=window_s, highpass_hz=highpass_hz)
    if rest_level is not None:
        mu, sd = (float(v) for v in rest_level)
        seg = np.array([mu - sd, mu + sd])  # mean mu, SD sd
    elif baseline is not None:
        a, b = (max(0, round(v * fs)) for v in baseline)
        if not b > a:
            raise ValueError(f"baseline={baseline!r} must be (start, end) seconds with end > "
                             "start")
        seg = env[a:min(b, env.size)]
        seg = seg[np.isfinite(seg)]
    else:
        idx = _quietest(env, max(2, round(baseline_s * fs)))
        seg = env[idx] if idx is not None else np.zeros(0)
    empty_i = np.zeros(0, dtype=np.int64)
    empty = np.zeros(0)
    if seg.size < 2:
        nan = math.nan
        return Bursts(empty, empty, empty, empty_i, empty_i, empty, empty, empty, env, nan,
                      nan, nan, nan)
    mu, sd = float(seg.mean()), float(seg.std())
    on = max(mu + k_on * sd, min_ratio * mu)
    off = min(max(mu + k_off * sd, (1.0 + 0.5 * (min_ratio - 1.0)) * mu), on)
    starts, stops = K.hysteresis_runs(env, on, off)
    gap = round(min_gap_s * fs)
    if starts.size > 1:
        # merge only across gaps of finite signal (never across lost samples)
        fin = np.concatenate([[0], np.cumsum(~np.isfinite(env))])
        close = (starts[1:] - stops[:-1] < gap) & (fin[starts[1:]] == fin[stops[:-1]])
        keep = np.concatenate([[True], ~close])
        starts = starts[keep]
        stops = np.concatenate([stops[np.flatnonzero(keep)[1:] - 1], [stops[-1]]])
    long = (stops - starts) >= round(min_burst_s * fs)
    starts, stops = starts[long], stops[long]
    peak = np.array([np.nanmax(env[a:b]) for a, b in zip(starts, stops, strict=True)])
    mean = np.array([np.nanmean(env[a:b]) for a, b in zip(starts, stops, strict=True)])
    peak = peak if peak.size else empty
    mean = mean if mean.size else empty
    return Bursts(onset_s=t0 + starts / fs, offset_s=t0 + stops / fs,
                  duration_s=(stops - starts) / fs, onset_idx=starts, offset_idx=stops,
                  peak_rms=peak, mean_rms=mean, peak_above_baseline=peak - mu, envelope=env,
                  baseline_mean=mu, baseline_sd=sd, on_threshold=on, off_threshold=off)
