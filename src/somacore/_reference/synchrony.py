"""Slow, obviously-correct synchrony measures: test oracles only.

Every function here loops in Python over windows and lags and calls
``np.corrcoef`` / plain numpy on each slice, following the definitions in the
docstrings of :mod:`somacore.synchrony` word for word.
"""

from __future__ import annotations

import math

import numpy as np


def xcorr_cube(x: np.ndarray, W: int, S: int, M: int, pairs) -> tuple[np.ndarray, np.ndarray]:
    """r[p, window, lag] by ``np.corrcoef`` per window and lag; returns (r, starts)."""
    N = x.shape[1]
    kmin = math.ceil(M / S)
    kmax = (N - W - M) // S
    starts = np.arange(kmin, kmax + 1) * S
    out = np.full((len(pairs), starts.size, 2 * M + 1), np.nan)
    for p, (i, j) in enumerate(pairs):
        for k, a in enumerate(starts):
            xi = x[i, a:a + W]
            if not np.all(np.isfinite(xi)) or np.all(xi == xi[0]):
                continue
            for m, L in enumerate(range(-M, M + 1)):
                yj = x[j, a + L:a + L + W]
                if not np.all(np.isfinite(yj)) or np.all(yj == yj[0]):
                    continue
                out[p, k, m] = np.corrcoef(xi, yj)[0, 1]
    return out, starts


def peak_max(row: np.ndarray, M: int) -> int:
    """Index of the largest r (ties: nearest lag 0); -1 if the row has NaN."""
    if np.any(np.isnan(row)):
        return -1
    cand = np.flatnonzero(row == row.max())
    return int(cand[np.argmin(np.abs(cand - M))])


def peak_boker(row: np.ndarray, M: int, span: int) -> int:
    """Local maximum nearest lag 0 (definition in somacore.synchrony.xcorr); -1 if none."""
    if np.any(np.isnan(row)):
        return -1
    nl = row.size
    peaks = []
    for m in range(max(span, 1), nl - max(span, 1)):
        if row[m] > row[m - 1] and row[m] >= row[m + 1] and \
                row[m] >= row[m - span:m + span + 1].max():
            peaks.append(m)
    if not peaks:
        return -1
    d = min(abs(m - M) for m in peaks)
    near = [m for m in peaks if abs(m - M) == d]
    return max(near, key=lambda m: (row[m], m))


def local_slopes(x: np.ndarray, W: int, S: int) -> np.ndarray:
    """Least-squares slope (per sample) of x[a:a+W] for a = 0, S, 2S, ..."""
    n = (x.size - W) // S + 1
    t = np.arange(W, dtype=float)
    return np.array([np.polyfit(t, x[k * S:k * S + W], 1)[0] for k in range(n)])


def analytic(x: np.ndarray) -> np.ndarray:
    """Analytic signal with the textbook one-sided spectrum (as scipy.signal.hilbert)."""
    n = x.size
    X = np.fft.fft(x)
    h = np.zeros(n)
    h[0] = 1
    if n % 2 == 0:
        h[n // 2] = 1
        h[1:n // 2] = 2
    else:
        h[1:(n + 1) // 2] = 2
    return np.fft.ifft(X * h)


def plv_windows(ph: np.ndarray, W: int, S: int, pairs) -> np.ndarray:
    """|mean exp(i (phi_i - phi_j))| per window, by a loop."""
    n = (ph.shape[1] - W) // S + 1
    out = np.empty((len(pairs), n))
    for p, (i, j) in enumerate(pairs):
        for k in range(n):
            d = ph[i, k * S:k * S + W] - ph[j, k * S:k * S + W]
            out[p, k] = abs(np.mean(np.exp(1j * d)))
    return out


def kuramoto_windows(ph: np.ndarray, W: int, S: int) -> np.ndarray:
    """Mean over each window of R(t) = |mean_i exp(i phi_i(t))|."""
    R = np.abs(np.mean(np.exp(1j * ph), axis=0))
    n = (ph.shape[1] - W) // S + 1
    return np.array([R[k * S:k * S + W].mean() for k in range(n)])


def cluster_phase(ph: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
    """Richardson et al. (2012) cluster phase: rho_group(t), its mean, rho_i."""
    q = np.angle(np.mean(np.exp(1j * ph), axis=0))
    phi = ph - q
    z = np.mean(np.exp(1j * phi), axis=1)
    rho_i = np.abs(z)
    rg = np.abs(np.mean(np.exp(1j * (phi - np.angle(z)[:, None])), axis=0))
    return rg, float(rg.mean()), rho_i


def band_analytic(x: np.ndarray, fs: float, lo: float, hi: float, taper: float) -> np.ndarray:
    """Band-limited analytic signal by one full-length FFT and a weighted one-sided spectrum.

    ``taper`` is the width (Hz) of the raised-cosine edges inside the band.
    """
    n = x.size
    X = np.fft.fft(x - x.mean())
    f = np.fft.fftfreq(n, 1.0 / fs)
    w = np.zeros(n)
    for k in range(n):
        if lo <= f[k] <= hi:
            w[k] = 2.0
            if taper > 0 and f[k] < lo + taper:
                w[k] *= 0.5 - 0.5 * np.cos(np.pi * (f[k] - lo) / taper)
            elif taper > 0 and f[k] > hi - taper:
                w[k] *= 0.5 - 0.5 * np.cos(np.pi * (hi - f[k]) / taper)
    return np.fft.ifft(X * w)
