"""Synthetic skin conductance with Bateman-shaped SCRs of known timing (test helper)."""

from __future__ import annotations

import numpy as np

TAU1, TAU2 = 0.75, 3.0  # rise / recovery time constants (s), Benedek & Kaernbach-like


def bateman(t: np.ndarray) -> np.ndarray:
    """Unit-peak Bateman function ``exp(-t/tau2) - exp(-t/tau1)``, zero for t < 0."""
    tt = np.clip(t, 0.0, None)
    g = np.linspace(0, 60, 600_001)
    peak = (np.exp(-g / TAU2) - np.exp(-g / TAU1)).max()
    return np.where(t >= 0, (np.exp(-tt / TAU2) - np.exp(-tt / TAU1)) / peak, 0.0)


def truth() -> tuple[float, float]:
    """Exact rise time and half-recovery time (s) of the unit Bateman response."""
    g = np.linspace(0, 60, 600_001)
    b = bateman(g)
    tp = float(g[np.argmax(b)])
    half = float(g[(g > tp) & (b <= 0.5)][0]) - tp
    return tp, half


def scr_signal(onsets, amps, *, fs=32.0, dur=120.0, level=5.0, drift=0.0, noise=0.002,
               seed=1):
    """(t, sc, baseline) with responses of amplitude ``amps`` starting at ``onsets``."""
    t = np.arange(round(dur * fs)) / fs
    base = level + drift * t
    sc = base.copy()
    for o, a in zip(onsets, amps, strict=True):
        sc += a * bateman(t - o)
    sc += noise * np.random.default_rng(seed).standard_normal(t.size)
    return t, sc, base
