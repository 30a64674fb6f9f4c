"""Filter design for the compiled kernels (numpy only, no SciPy at run time).

Butterworth sections are built from the bilinear-transform formulas of
R. Bristow-Johnson's "Audio EQ cookbook", which for a 2nd-order section with
Q = 1/sqrt(2) give exactly the Butterworth response with pre-warped cut-off.
Higher even orders are cascades of sections with the Butterworth Q values.
"""

from __future__ import annotations

import numpy as np


def _butter_qs(order: int) -> list[float]:
    if order < 2 or order % 2:
        raise ValueError("only even Butterworth orders >= 2 are supported")
    n = order
    return [1.0 / (2.0 * np.sin((2 * k + 1) * np.pi / (2 * n))) for k in range(n // 2)]


def _section(kind: str, f0: float, fs: float, q: float) -> list[float]:
    w0 = 2.0 * np.pi * f0 / fs
    c, s = np.cos(w0), np.sin(w0)
    alpha = s / (2.0 * q)
    a0 = 1.0 + alpha
    if kind == "low":
        b = [(1 - c) / 2, 1 - c, (1 - c) / 2]
    elif kind == "high":
        b = [(1 + c) / 2, -(1 + c), (1 + c) / 2]
    else:  # pragma: no cover - internal misuse
        raise ValueError(kind)
    return [b[0] / a0, b[1] / a0, b[2] / a0, -2 * c / a0, (1 - alpha) / a0]


def butter_sections(kind: str, f0: float, *, fs: float, order: int = 2) -> np.ndarray:
    """Butterworth low- or high-pass as second-order sections.

    Returns an array of shape (order/2, 5) with rows ``b0, b1, b2, a1, a2``
    (``a0`` normalised to 1), the layout the kernels' ``Biquad`` struct takes.
    """
    if not 0 < f0 < fs / 2:
        raise ValueError(f"cut-off {f0} Hz must lie between 0 and fs/2 = {fs / 2} Hz")
    return np.array([_section(kind, f0, fs, q) for q in _butter_qs(order)], dtype=np.float64)


def bandpass_sections(lo: float, hi: float, *, fs: float, order: int = 2) -> np.ndarray:
    """High-pass at ``lo`` cascaded with low-pass at ``hi`` (each of ``order``)."""
    return np.vstack([butter_sections("high", lo, fs=fs, order=order),
                      butter_sections("low", hi, fs=fs, order=order)])


def sos_response(sos: np.ndarray, freqs: np.ndarray, *, fs: float) -> np.ndarray:
    """Complex frequency response of a section cascade at ``freqs`` (Hz)."""
    z = np.exp(-1j * 2 * np.pi * np.asarray(freqs, float) / fs)
    h = np.ones_like(z)
    for b0, b1, b2, a1, a2 in sos:
        h *= (b0 + b1 * z + b2 * z * z) / (1 + a1 * z + a2 * z * z)
    return h


def group_delay(sos: np.ndarray, f: float, *, fs: float) -> float:
    """Group delay in samples of a section cascade at frequency ``f`` (Hz)."""
    # a small step relative to f (not to fs), so the estimate stays local
    # at high sampling rates
    df = 1e-3 * max(f, 1e-3)
    ph = np.unwrap(np.angle(sos_response(sos, np.array([f - df, f + df]), fs=fs)))
    return float(-(ph[1] - ph[0]) / (2 * np.pi * 2 * df / fs))


def sosfilt_reference(sos: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Slow, obviously-correct cascade filter (difference equations), for tests."""
    y = np.asarray(x, dtype=np.float64).copy()
    for b0, b1, b2, a1, a2 in sos:
        out = np.zeros_like(y)
        x1 = x2 = y1 = y2 = 0.0
        for i, xi in enumerate(y):
            yi = b0 * xi + b1 * x1 + b2 * x2 - a1 * y1 - a2 * y2
            out[i] = yi
            x2, x1, y2, y1 = x1, xi, y1, yi
        y = out
    return y
