"""Synthetic surface EMG with bursts at known times (test helper)."""

from __future__ import annotations

import numpy as np

BURSTS = [(2.0, 2.5, 0.2), (4.0, 5.2, 0.4), (7.0, 7.3, 0.15)]  # (onset s, offset s, RMS mV)


def emg_signal(bursts=BURSTS, *, fs=1000.0, dur=10.0, rest=0.01, offset=0.5, drift=0.05,
               seed=0):
    """(t, emg) in mV: rest noise of RMS ``rest``, bursts of Gaussian noise with the given RMS,
    a DC ``offset`` and a slow ``drift`` (mV/s)."""
    rng = np.random.default_rng(seed)
    t = np.arange(round(dur * fs)) / fs
    sd = np.full(t.size, rest)
    for a, b, rms in bursts:
        sd[(t >= a) & (t < b)] = rms
    return t, offset + drift * t + sd * rng.standard_normal(t.size)
