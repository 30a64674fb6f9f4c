"""Skin conductance: tonic/phasic decomposition and skin conductance responses (SCRs).

Method (chosen to be robust, fast and checkable by eye rather than model-based;
cvxEDA or Ledalab's deconvolution are heavier and need tuning):

1. **Smoothing**: a centred moving mean over ``smooth_s`` (default 0.25 s) removes
   sensor noise (at 4 Hz, Empatica E4, it is one sample: no smoothing). The
   moving mean spreads the kink of a response onset by ``smooth_s / 2``, so
   onsets can read up to that much early (rise times that much long).
2. **Tonic level (SCL)**: the *smoothed lower envelope* of the smoothed signal:
   a morphological opening (moving minimum, then moving maximum, both
   ``tonic_s`` wide, default 20 s), followed by a ``tonic_s``-wide moving mean.
   The opening removes every excursion narrower than ``tonic_s`` (SCRs last
   roughly 3–15 s) while following a slow ramp exactly; it never rises above
   the signal, so the phasic part is (close to) non-negative. Responses longer
   than ``tonic_s`` are partly counted as tonic.
3. **Phasic part**: smoothed signal minus tonic level.
4. **SCRs** (trough-to-peak scoring as described in Boucsein 2012, *Electrodermal
   Activity*, 2nd ed.; reference cited from memory): a response is a rise of the
   smoothed signal of at least ``min_amplitude`` (default **0.05 µS**; minimum
   amplitudes of 0.01–0.05 µS are customary in the literature; 0.05 µS suits wrist
   devices with coarse resolution, use 0.01–0.02 µS for lab amplifiers).
   Hysteresis: a peak is confirmed when the signal falls ``min_amplitude / 2``
   below it, so noise does not split a response.
   The **onset** is the local minimum before the rise (at most ``max_rise_s``,
   default 5 s, before the peak), the **peak** the maximum, the **amplitude**
   ``sc(peak) - sc(onset)``, the **rise time** ``t_peak - t_onset`` and the
   **half-recovery time** the time from the peak until the signal is back down
   by half the amplitude (NaN if the next response starts first, signal is lost
   or the recording ends). Responses overlapping within the hysteresis are
   merged into one whose peak is the higher.

Times are seconds from the first sample plus ``t0``. Lost samples are NaN and
are never bridged (a response spanning lost signal is not reported).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from somacore_eda import _kernels as K

__all__ = ["Decomposition", "SCRs", "decompose", "detect_scr"]


def _check(sc: np.ndarray, fs: float) -> tuple[np.ndarray, float]:
    x = np.ascontiguousarray(sc, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"skin conductance must be 1-D, got shape {x.shape}")
    if isinstance(fs, bool) or not isinstance(fs, (int, float, np.integer, np.floating)) \
            or not math.isfinite(float(fs)) or float(fs) <= 0:
        raise ValueError(f"fs={fs!r} must be a positive sampling rate in Hz")
    return x, float(fs)


def _odd(n: float) -> int:
    return max(1, round(n)) | 1


@dataclass(frozen=True, eq=False)
class Decomposition:
    """Result of :func:`decompose` (arrays of the input's length, µS).

    Attributes
    ----------
    smoothed : ndarray
        Skin conductance after the ``smooth_s`` moving mean.
    tonic : ndarray
        Tonic level (smoothed lower envelope).
    phasic : ndarray
        ``smoothed - tonic``.
    fs : float
        Sampling rate in Hz.
    """

    smoothed: np.ndarray
    tonic: np.ndarray
    phasic: np.ndarray
    fs: float


def decompose(sc: np.ndarray, *, fs: float, smooth_s: float = 0.25,
              tonic_s: float = 20.0) -> Decomposition:
    """Split skin conductance into tonic and phasic parts (method in the module docs).

    Parameters
    ----------
    sc : ndarray, shape (n,)
        Skin conductance in µS; NaN where lost.
    fs : float
        Sampling rate in Hz (keyword-only, no default).
    smooth_s : float
        Width of the smoothing moving mean in seconds.
    tonic_s : float
        Width of the lower-envelope opening and of its moving mean, in seconds.

    Returns
    -------
    Decomposition
    """
    x, fs = _check(sc, fs)
    if not (smooth_s > 0 and tonic_s > 0):
        raise ValueError("smooth_s and tonic_s must be positive seconds")
    s = K.moving_mean(x, _odd(smooth_s * fs))
    w = _odd(tonic_s * fs)
    env = K.moving_max(K.moving_min(s, w), w)
    tonic = K.moving_mean(env, w)
    return Decomposition(smoothed=s, tonic=tonic, phasic=s - tonic, fs=fs)


@dataclass(frozen=True, eq=False)
class SCRs:
    """Skin conductance responses found by :func:`detect_scr` (arrays of shape (m,)).

    Attributes
    ----------
    onset_s, peak_s : ndarray
        Onset (trough) and peak times in seconds.
    onset_idx, peak_idx : ndarray of int64
        The same as sample indices.
    amplitude_uS : ndarray
        Peak minus onset value of the smoothed signal.
    rise_time_s : ndarray
        ``peak_s - onset_s``.
    half_recovery_s : ndarray
        Peak to 50 % recovery, NaN when not observed.
    """

    onset_s: np.ndarray
    peak_s: np.ndarray
    onset_idx: np.ndarray
    peak_idx: np.ndarray
    amplitude_uS: np.ndarray
    rise_time_s: np.ndarray
    half_recovery_s: np.ndarray

    def __len__(self) -> int:
        return int(self.onset_s.size)


def detect_scr(sc: np.ndarray, *, fs: float, t0: float = 0.0, min_amplitude: float = 0.05,
               smooth_s: float = 0.25, max_rise_s: float = 5.0) -> SCRs:
    """Detect skin conductance responses (trough-to-peak; see the module docs).

    Parameters
    ----------
    sc : ndarray, shape (n,)
        Skin conductance in µS; NaN where lost.
    fs : float
        Sampling rate in Hz.
    t0 : float
        Time of ``sc[0]`` in seconds.
    min_amplitude : float
        Minimum trough-to-peak amplitude in µS (default 0.05).
    smooth_s : float
        Width of the smoothing moving mean in seconds.
    max_rise_s : float
        Longest onset-to-peak time in seconds.

    Returns
    -------
    SCRs
    """
    x, fs = _check(sc, fs)
    if not (min_amplitude > 0 and max_rise_s > 0 and smooth_s > 0):
        raise ValueError("min_amplitude, max_rise_s and smooth_s must be positive")
    s = K.moving_mean(x, _odd(smooth_s * fs))
    on, pk = K.scr_detect(s, float(min_amplitude), 0.5 * float(min_amplitude),
                          max(1, round(max_rise_s * fs)))
    hr = K.half_recovery(s, on, pk)
    return SCRs(onset_s=t0 + on / fs, peak_s=t0 + pk / fs, onset_idx=on, peak_idx=pk,
                amplitude_uS=s[pk] - s[on], rise_time_s=(pk - on) / fs,
                half_recovery_s=hr / fs)
