"""Hilbert phase and windowed phase-locking value (PLV).

The instantaneous phase of a series is the angle of its analytic signal. Here
the analytic signal is formed in one FFT: the series (mean removed, gaps set
to 0) is transformed, every frequency outside ``band`` is weighted by 0, the
band edges by a raised-cosine taper (``taper_hz`` wide, inside the band), the
positive frequencies by 2 and the negative ones by 0, and the result is
transformed back. With ``band=None`` no band limit is applied and the result
is the textbook analytic signal (identical to ``scipy.signal.hilbert``).

A phase is only meaningful for a narrow-band signal (Bedrosian's theorem), so
:func:`check_band` refuses a band wider than two octaves (``hi / lo > 4``)
unless ``allow_broadband=True``.

Windowed PLV of pair (i, j), window ``k`` (``x[:, k*S : k*S + W]``)::

    PLV = | mean_t exp(1j * (phi_i(t) - phi_j(t))) |

in [0, 1]; ``mean_phase_diff`` is the angle of that mean (> 0: phase of i
ahead of j). Windows containing a missing sample of either person are NaN.
The filter acts on the whole record, so a few periods of the band's lowest
frequency at each end and around gaps are less reliable.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from somacore._arrays import readonly_contiguous
from somacore.synchrony._common import (
    as_people,
    check_fs_sync,
    design_pairs,
    seconds,
    to_samples,
)

__all__ = ["PhaseSynchrony", "analytic_signal", "check_band", "phase_synchrony"]

#: widest accepted band, as hi / lo (two octaves)
MAX_BAND_RATIO = 4.0




def check_band(band: Any, fs: float, *, allow_broadband: bool = False) -> tuple[float, float]:
    """Check a pass band ``(lo, hi)`` in Hz for a Hilbert phase.

    Raises ``ValueError`` if the band is not ``0 < lo < hi < fs / 2`` or is
    wider than two octaves (``hi / lo > 4``) while ``allow_broadband`` is False.
    """
    try:
        lo, hi = (float(b) for b in band)
    except (TypeError, ValueError):
        raise ValueError(f"band must be (lo_hz, hi_hz), got {band!r}.") from None
    nyq = fs / 2
    if not (np.isfinite(lo) and np.isfinite(hi) and 0 < lo < hi < nyq):
        raise ValueError(f"band={band!r} Hz must satisfy 0 < lo < hi < fs/2 = {nyq:g} Hz.")
    if hi / lo > MAX_BAND_RATIO and not allow_broadband:
        raise ValueError(
            f"band=({lo:g}, {hi:g}) Hz is too wide for a Hilbert phase: hi/lo = {hi / lo:.3g} "
            f"> {MAX_BAND_RATIO:g} (two octaves). The instantaneous phase is only meaningful for "
            "a narrow-band signal; choose a narrower band around the rhythm of interest (e.g. "
            "0.15-0.4 Hz for breathing in heart rate) or pass allow_broadband=True if you accept "
            "a phase without a clear meaning."
        )
    return lo, hi


def analytic_signal(x: Any, *, fs: float, band: Any = None, taper_hz: float | None = None,
                    allow_broadband: bool = False) -> np.ndarray:
    """Band-limited analytic signal of each row, by FFT (see the module notes).

    Parameters
    ----------
    x : array_like, shape (n_people, n_samples) or (n_samples,)
    fs : float
        Sampling rate in Hz (required, keyword-only).
    band : (lo, hi) in Hz, optional
        Pass band; ``None`` for the plain analytic signal.
    taper_hz : float, optional
        Width of the raised-cosine edges inside the band (default 10 % of
        the band width). 0 gives a brick-wall filter.
    allow_broadband : bool
        Accept a band wider than two octaves.

    Returns
    -------
    ndarray of complex128, same shape as ``x``
        NaN where ``x`` is not finite.
    """
    fs = check_fs_sync(fs)
    arr = np.asarray(x, dtype=np.float64)
    one = arr.ndim == 1
    X = np.atleast_2d(arr)
    n = X.shape[1]
    finite = np.isfinite(X)
    cnt = np.maximum(finite.sum(axis=1, keepdims=True), 1)
    mean = np.where(finite, X, 0.0).sum(axis=1, keepdims=True) / cnt
    xc = np.where(finite, X - mean, 0.0)
    # one-sided spectrum from a real FFT: Z[k] = h[k] F[k] for k <= n/2, 0 above
    nh = n // 2 + 1
    Fh = np.fft.rfft(xc, axis=-1)
    h = np.full(nh, 2.0)
    h[0] = 1.0
    if n % 2 == 0:
        h[-1] = 1.0
    if band is not None:
        lo, hi = check_band(band, fs, allow_broadband=allow_broadband)
        f = np.fft.rfftfreq(n, 1.0 / fs)
        tw = 0.1 * (hi - lo) if taper_hz is None else seconds(taper_hz, "taper_hz",
                                                               allow_zero=True)
        tw = min(tw, 0.5 * (hi - lo))
        w = ((f >= lo) & (f <= hi)).astype(float)
        if tw > 0:
            up = (f >= lo) & (f < lo + tw)
            w[up] = 0.5 - 0.5 * np.cos(np.pi * (f[up] - lo) / tw)
            dn = (f > hi - tw) & (f <= hi)
            w[dn] = 0.5 - 0.5 * np.cos(np.pi * (hi - f[dn]) / tw)
        h = h * w
    Z = np.zeros((X.shape[0], n), np.complex128)
    Z[:, :nh] = Fh * h
    z = np.fft.ifft(Z, axis=-1)
    if band is None:
        z += mean  # exactly scipy.signal.hilbert(x)
    z[~finite] = np.nan
    return z[0] if one else z


def _window_means(v: np.ndarray, W: int, S: int) -> np.ndarray:
    """Mean of v[..., k*S : k*S + W] for every full window, by prefix sums."""
    n = v.shape[-1]
    nw = (n - W) // S + 1
    if W % S == 0:
        # sums of step-long blocks, then a short prefix sum over blocks
        B = W // S
        nb = nw - 1 + B
        blk = v[..., :nb * S].reshape((*v.shape[:-1], nb, S)).sum(axis=-1)
        cb = np.zeros((*v.shape[:-1], nb + 1), dtype=blk.dtype)
        np.cumsum(blk, axis=-1, out=cb[..., 1:])
        return (cb[..., B:B + nw] - cb[..., :nw]) / W
    c = np.zeros((*v.shape[:-1], n + 1), dtype=v.dtype)
    np.cumsum(v, axis=-1, out=c[..., 1:])
    a = np.arange(nw) * S
    return (c[..., a + W] - c[..., a]) / W


def _window_has(bad: np.ndarray, W: int, S: int) -> np.ndarray:
    return _window_means(bad.astype(np.float64), W, S) > 0


@dataclass(frozen=True, eq=False)
class PhaseSynchrony:
    """Result of :func:`phase_synchrony`.

    Attributes
    ----------
    pairs : ndarray of int64, shape (n_pairs, 2)
    plv : ndarray, shape (n_pairs, n_windows)
        Windowed phase-locking value in [0, 1] (NaN over gaps).
    mean_phase_diff : ndarray, shape (n_pairs, n_windows)
        Angle (rad) of the mean phase difference phi_i - phi_j per window.
    window_start_s : ndarray, shape (n_windows,)
    band : tuple of float
    fs, window_s, step_s : float
    phase : ndarray, shape (n_people, n_samples), or None
        Instantaneous phase (rad), if requested.
    """

    pairs: np.ndarray
    plv: np.ndarray
    mean_phase_diff: np.ndarray
    window_start_s: np.ndarray
    band: tuple[float, float]
    fs: float
    window_s: float
    step_s: float
    phase: np.ndarray | None = None

    def __post_init__(self) -> None:
        for name in ("pairs", "plv", "mean_phase_diff", "window_start_s"):
            object.__setattr__(self, name, readonly_contiguous(getattr(self, name)))
        if self.phase is not None:
            object.__setattr__(self, "phase", readonly_contiguous(self.phase))

    @property
    def mean_plv(self) -> np.ndarray:
        """Mean windowed PLV per pair (NaN windows skipped)."""
        ok = np.isfinite(self.plv)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(ok.any(1), np.nansum(self.plv, 1) / np.maximum(ok.sum(1), 1),
                            np.nan)


def phase_synchrony(x: Any, y: Any = None, *, fs: float, band: Any, window_s: float,
                    step_s: float, pairs: Any = "all", taper_hz: float | None = None,
                    allow_broadband: bool = False, return_phase: bool = False
                    ) -> PhaseSynchrony:
    """Hilbert phase and windowed phase-locking value for pairs of people.

    Parameters
    ----------
    x : array_like, shape (n_people, n_samples), or 1-D with ``y``
        Series on a common time base; NaN marks missing samples.
    y : array_like, optional
        Second person when ``x`` is 1-D.
    fs : float
        Sampling rate in Hz (required, keyword-only).
    band : (lo, hi)
        Pass band in Hz; at most two octaves wide (see :func:`check_band`).
    window_s, step_s : float
        PLV window and step in seconds; the window must hold at least one
        period of ``lo``.
    pairs : "all" or sequence of (i, j)
    taper_hz, allow_broadband
        See :func:`analytic_signal`.
    return_phase : bool
        Keep the instantaneous phases in the result.

    Returns
    -------
    PhaseSynchrony
    """
    fs = check_fs_sync(fs)
    X = as_people([np.asarray(x), np.asarray(y)], what="x, y") if y is not None else as_people(x)
    lo, hi = check_band(band, fs, allow_broadband=allow_broadband)
    W = to_samples(seconds(window_s, "window_s"), fs, "window_s", minimum=2)
    S = to_samples(seconds(step_s, "step_s"), fs, "step_s")
    if W / fs < 1.0 / lo:
        raise ValueError(
            f"window_s={window_s:g} s is shorter than one period of the band's lowest frequency "
            f"({1 / lo:.3g} s at {lo:g} Hz): a PLV needs several cycles per window."
        )
    N = X.shape[1]
    if N < W:
        raise ValueError(f"the record ({N} samples) is shorter than one window ({W} samples).")
    pr = design_pairs(pairs, X.shape[0])
    z = analytic_signal(X, fs=fs, band=(lo, hi), taper_hz=taper_hz,
                        allow_broadband=allow_broadband)
    bad = ~np.isfinite(X)
    u = np.where(bad, 0.0, z) / np.where(bad, 1.0, np.maximum(np.abs(z), 1e-300))
    d = u[pr[:, 0]] * np.conj(u[pr[:, 1]])
    m = _window_means(d, W, S)
    gap = _window_has(bad[pr[:, 0]] | bad[pr[:, 1]], W, S)
    plv = np.where(gap, np.nan, np.minimum(np.abs(m), 1.0))
    ang = np.where(gap, np.nan, np.angle(m))
    nw = m.shape[-1]
    return PhaseSynchrony(
        pairs=pr, plv=plv, mean_phase_diff=ang, window_start_s=np.arange(nw) * S / fs,
        band=(lo, hi), fs=fs, window_s=W / fs, step_s=S / fs,
        phase=np.where(bad, np.nan, np.angle(z)) if return_phase else None,
    )
