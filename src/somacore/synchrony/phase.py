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

import math
from collections.abc import Iterator
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


def _band_weights(n: int, fs: float, lo: float, hi: float, taper_hz: float | None
                  ) -> tuple[int, np.ndarray]:
    """First bin ``k0`` and weights ``w`` (bins ``k0 .. k0 + w.size - 1``) of the band.

    The weights include the factor 2 of the one-sided spectrum and the
    raised-cosine edges; every bin outside is weighted 0.
    """
    # bin frequencies as numpy.fft.rfftfreq gives them (k * val), formed only around the
    # band (a few bins of margin for the roundings)
    val = 1.0 / (n * (1.0 / fs))
    ka = max(0, int(lo / val) - 2)
    kb = min(n // 2, int(hi / val) + 2)
    f = np.arange(ka, kb + 1) * val
    tw = 0.1 * (hi - lo) if taper_hz is None else seconds(taper_hz, "taper_hz", allow_zero=True)
    tw = min(tw, 0.5 * (hi - lo))
    w = ((f >= lo) & (f <= hi)).astype(float)
    if tw > 0:
        up = (f >= lo) & (f < lo + tw)
        w[up] = 0.5 - 0.5 * np.cos(np.pi * (f[up] - lo) / tw)
        dn = (f > hi - tw) & (f <= hi)
        w[dn] = 0.5 - 0.5 * np.cos(np.pi * (hi - f[dn]) / tw)
    nz = np.flatnonzero(w)
    if nz.size == 0:
        raise ValueError(
            f"the band ({lo:g}, {hi:g}) Hz holds no frequency of a {n}-sample record at "
            f"fs={fs:g} Hz (bin spacing {fs / n:.3g} Hz): use a longer record or a wider band."
        )
    return ka + int(nz[0]), 2.0 * w[nz[0]:nz[-1] + 1]


def _largest_prime_factor(m: int) -> int:
    p, big = 2, 1
    while p * p <= m:
        while m % p == 0:
            big, m = p, m // p
        p += 1
    return max(big, m)


def _split(n: int, nb: int) -> int:
    """A divisor ``m`` of ``n`` (``m >= nb``) for the band-limited transforms.

    The series is read as ``m`` rows of ``D = n / m`` interleaved samples; the
    transforms then cost about ``n log2(m)`` each instead of ``n log2(n)``
    and run on short columns that stay in cache, while the band's twiddles
    and bins cost ``nb * D``. Sizes with a prime factor above 7 are
    penalised (slower FFT), and so are columns longer than 1024 (16 kB of
    complex: numpy's strided transforms then leave the L1 cache, measured
    ~1.6x per point); ``m = n`` (one full-length transform) is always possible.
    """
    def cost(m: int) -> float:
        # the forward and the inverse FFT per person, plus the twiddles, the band bins
        # and the inverse's input rows (nb x D complex products: measured ~3x an FFT
        # point of both transforms together)
        fft = n * math.log2(max(m, 2)) * (1 if _largest_prime_factor(m) <= 7 else 4)
        fft *= 1.0 if m <= 1024 else 1.6
        return fft + 3.0 * nb * (n // m)

    best, best_cost = n, cost(n)
    d = 1
    while d * d <= n:
        if n % d == 0:
            for m in (d, n // d):
                if m >= max(nb, 2) and cost(m) < best_cost:
                    best, best_cost = m, cost(m)
        d += 1
    return best


def _roots(k0: int, nk: int, D: int, n: int, sign: int) -> np.ndarray:
    """``exp(sign * 2j pi ((k0 + j) r mod n) / n)`` for ``j < nk``, ``r < D``: (nk, D) complex.

    Built from two small tables (``j = L * jh + jl``): about ``(L + nk / L) * D``
    complex exponentials instead of ``nk * D``, one product each (a rounding
    or two); angles are reduced mod ``n`` in integers, so they stay exact.
    """
    L = max(1, math.isqrt(nk))
    nh = -(-nk // L)
    r = np.arange(D, dtype=np.int64)
    c = sign * 2j * np.pi / n
    lo = np.exp(c * (np.outer(k0 + np.arange(L, dtype=np.int64), r) % n))
    hi = np.exp(c * (np.outer(L * np.arange(nh, dtype=np.int64), r) % n))
    return (hi[:, None, :] * lo[None, :, :]).reshape(nh * L, D)[:nk]


def _band_bins(X: np.ndarray, finite: np.ndarray, k0: int, w: np.ndarray
               ) -> tuple[np.ndarray, int]:
    """The band's weighted DFT bins ``w[j] * F[k0 + j]`` of each row, and the split ``m``.

    ``F`` is the DFT of the row minus its mean over finite samples, gaps set
    to 0. With ``n = m * D`` and ``t = D * tau + r``:
    ``F[k] = sum_r exp(-2j pi k r / n) G_r[k mod m]``, ``G_r = DFT_m(x[r::D])``
    (``D`` real FFTs of length ``m``, a decimation-in-time step of the full
    transform with only the band's bins ever formed). One person at a time,
    in one reused buffer (it stays in the last-level cache).
    """
    from somacore._core._sync import BandBins

    P, n = X.shape
    nb = w.size
    m = _split(n, nb)
    D = n // m
    km = np.arange(k0, k0 + nb, dtype=np.int64) % m
    flip = (km > m // 2).view(np.uint8)  # above m/2: conjugates of mirrored bins (real rows)
    rows = np.where(flip, m - km, km)
    T = _roots(k0, nb, D, n, -1).view(np.float64).reshape(nb, D, 2)
    w = np.ascontiguousarray(w, dtype=np.float64)
    Zb = np.empty((P, nb), np.complex128)
    Zv = Zb.view(np.float64).reshape(P, 1, nb, 2)
    xc = np.empty(n)
    bins = BandBins()
    for p in range(P):
        ok = finite[p]
        if ok.all():
            np.subtract(X[p], X[p].mean(), out=xc)
        else:
            mean = X[p][ok].mean() if ok.any() else 0.0
            np.subtract(X[p], mean, out=xc)
            xc[~ok] = 0.0
        G = np.fft.rfft(xc.reshape(m, D), axis=0)  # (m//2 + 1, D), C-contiguous
        bins.run(G.view(np.float64).reshape(1, G.shape[0], D, 2), rows, flip, T, w, Zv[p])
    return Zb, m


def _baseband_people(Zb: np.ndarray, m: int, n: int) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(p, y)``: person ``p``'s band-limited signal shifted down by ``k0`` bins.

    From the band bins ``Zb`` (see :func:`_band_bins`), with ``D = n / m`` and
    ``t = D * tau + r``:
    ``y[t] = (1/n) sum_j Zb[j] exp(2j pi j r / n) exp(2j pi j tau / m)``,
    ``D`` inverse FFTs of length ``m >= Zb.shape[1]`` (over ``tau``, strided:
    numpy's FFT reads and writes the columns of an (m, D) array in blocks,
    which keeps the output in time order). ``y`` (n,) is ``D * y[p]``, one
    buffer reused for every person (one person's transform stays in the
    last-level cache), valid until the next person. ``y[t] = z[t] *
    exp(-2j pi k0 t / n)`` where ``z`` is the analytic signal whose spectrum is
    ``Zb`` at bins ``k0 + j`` and 0 elsewhere; phase differences between
    people, and moduli, do not see the common shift.
    """
    from somacore._core._sync import BasebandRows

    P, nb = Zb.shape
    D = n // m
    E = _roots(0, nb, D, n, 1)  # (nb, D)
    Ev = E.view(np.float64).reshape(nb, D, 2)
    Zv = Zb.view(np.float64).reshape(P, nb, 2)
    H = np.empty((m, D), np.complex128)
    rows = BasebandRows()
    for p in range(P):
        rows.run(Zv[p], Ev, H.view(np.float64).reshape(m, D, 2))
        np.fft.ifft(H, axis=0, out=H)
        yield p, H.reshape(n)


def _centred(X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows minus their mean over finite samples, gaps set to 0; (xc, finite, mean)."""
    finite = np.isfinite(X)
    if finite.all():
        mean = X.mean(axis=1, keepdims=True)
        return X - mean, finite, mean
    cnt = np.maximum(finite.sum(axis=1, keepdims=True), 1)
    mean = np.where(finite, X, 0.0).sum(axis=1, keepdims=True) / cnt
    return np.where(finite, X - mean, 0.0), finite, mean


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
    if band is not None:
        lo, hi = check_band(band, fs, allow_broadband=allow_broadband)
        finite = np.isfinite(X)
        k0, w = _band_weights(n, fs, lo, hi, taper_hz)
        Zb, m = _band_bins(X, finite, k0, w)
        D = n // m
        z = np.empty(X.shape, np.complex128)
        for p, y in _baseband_people(Zb, m, n):
            np.divide(y, D, out=z[p])
        z *= np.exp((2j * np.pi / n) * ((k0 * np.arange(n, dtype=np.int64)) % n))
    else:
        xc, finite, mean = _centred(X)
        # one-sided spectrum from a real FFT: Z[k] = h[k] F[k] for k <= n/2, 0 above
        nh = n // 2 + 1
        h = np.full(nh, 2.0)
        h[0] = 1.0
        if n % 2 == 0:
            h[-1] = 1.0
        Z = np.zeros((X.shape[0], n), np.complex128)
        Z[:, :nh] = np.fft.rfft(xc, axis=-1) * h
        z = np.fft.ifft(Z, axis=-1)
        z += mean  # exactly scipy.signal.hilbert(x)
    z[~finite] = np.nan
    return z[0] if one else z


def _unit_phasors(X: np.ndarray, fs: float, band: tuple[float, float],
                  taper_hz: float | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Planar unit phasors (re, im) of the band's analytic signal, up to a common rotation.

    The rotation ``exp(2j pi k0 t / n)`` shared by every person is left out:
    nothing computed from phase differences or from moduli of means sees it.
    Missing samples give 0. Returns ``(re, im, bad, k0)``.
    """
    from somacore._core._sync import UnitPhasors

    finite = np.isfinite(X)
    k0, w = _band_weights(X.shape[1], fs, band[0], band[1], taper_hz)
    n = X.shape[1]
    Zb, m = _band_bins(X, finite, k0, w)
    bad = ~finite
    badv = bad.view(np.uint8)
    re = np.empty(X.shape)
    im = np.empty(X.shape)
    unit = UnitPhasors()
    for p, y in _baseband_people(Zb, m, n):
        unit.run(y.view(np.float64).reshape(n, 2), badv[p], re[p], im[p])
    return re, im, bad, k0


@dataclass(frozen=True, eq=False)
class BandPhasors:
    """Unit phasors of the band-limited analytic signal of each person, computed once.

    Made by :func:`band_phasors`; pass it as ``x`` to :func:`phase_synchrony`
    and :func:`group_synchrony` to run several phase measures on one Hilbert
    transform (the transform is most of their cost).

    Attributes
    ----------
    fs : float
    band : tuple of float
    taper_hz : float or None
    n_people, n_samples : int
    """

    fs: float
    band: tuple[float, float]
    taper_hz: float | None
    _re: np.ndarray
    _im: np.ndarray
    _bad: np.ndarray
    _k0: int

    def __post_init__(self) -> None:
        for name in ("_re", "_im", "_bad"):
            getattr(self, name).flags.writeable = False

    @property
    def n_people(self) -> int:
        return self._re.shape[0]

    @property
    def n_samples(self) -> int:
        return self._re.shape[1]

    @property
    def phase(self) -> np.ndarray:
        """Instantaneous phase (rad, in (-pi, pi]) per person; NaN where the input was."""
        n = self.n_samples
        rot = np.exp((2j * np.pi / n) * ((self._k0 * np.arange(n, dtype=np.int64)) % n))
        return np.where(self._bad, np.nan, np.angle((self._re + 1j * self._im) * rot))

    def _check(self, fs: float, band: Any, taper_hz: float | None, what: str) -> None:
        if fs != self.fs:
            raise ValueError(f"{what}: fs={fs:g} Hz differs from the phasors' fs={self.fs:g} Hz.")
        if band is not None and tuple(float(b) for b in band) != self.band:
            raise ValueError(f"{what}: band={band!r} differs from the phasors' band "
                             f"{self.band!r}; leave band out or compute new phasors.")
        if taper_hz is not None and taper_hz != self.taper_hz:
            raise ValueError(f"{what}: taper_hz={taper_hz!r} differs from the phasors' "
                             f"{self.taper_hz!r}.")


def band_phasors(x: Any, *, fs: float, band: Any, taper_hz: float | None = None,
                 allow_broadband: bool = False) -> BandPhasors:
    """Hilbert phase in ``band`` of each row, kept for several phase measures.

    Parameters
    ----------
    x : array_like, shape (n_people, n_samples)
        Series on a common time base; NaN marks missing samples.
    fs : float
        Sampling rate in Hz (required, keyword-only).
    band : (lo, hi)
        Pass band in Hz (see :func:`check_band`).
    taper_hz, allow_broadband
        See :func:`analytic_signal`.

    Returns
    -------
    BandPhasors
    """
    fs = check_fs_sync(fs)
    X = as_people(x)
    lo, hi = check_band(band, fs, allow_broadband=allow_broadband)
    re, im, bad, k0 = _unit_phasors(X, fs, (lo, hi), taper_hz)
    return BandPhasors(fs=fs, band=(lo, hi), taper_hz=taper_hz, _re=re, _im=im, _bad=bad,
                       _k0=k0)


def _blocks(N: int, W: int, S: int) -> tuple[int, int, int, int]:
    """Block length ``g = gcd(W, S)``, blocks per window, per step, and windows."""
    g = math.gcd(W, S)
    nw = (N - W) // S + 1
    return g, W // g, S // g, nw


def _windows_from_blocks(blk: np.ndarray, B: int, adv: int, nw: int) -> np.ndarray:
    """Window sums from block sums (last axis): window k is blocks ``k*adv .. k*adv+B-1``."""
    cb = np.zeros((*blk.shape[:-1], blk.shape[-1] + 1), dtype=blk.dtype)
    np.cumsum(blk, axis=-1, out=cb[..., 1:])
    a = np.arange(nw) * adv
    return cb[..., a + B] - cb[..., a]


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


def phase_synchrony(x: Any, y: Any = None, *, fs: float, band: Any = None, window_s: float,
                    step_s: float, pairs: Any = "all", taper_hz: float | None = None,
                    allow_broadband: bool = False, return_phase: bool = False
                    ) -> PhaseSynchrony:
    """Hilbert phase and windowed phase-locking value for pairs of people.

    Parameters
    ----------
    x : array_like, shape (n_people, n_samples), or 1-D with ``y``, or BandPhasors
        Series on a common time base; NaN marks missing samples. Or the
        result of :func:`band_phasors` (then ``band`` may be left out).
    y : array_like, optional
        Second person when ``x`` is 1-D.
    fs : float
        Sampling rate in Hz (required, keyword-only).
    band : (lo, hi)
        Pass band in Hz; at most two octaves wide (see :func:`check_band`).
        Required unless ``x`` is a :class:`BandPhasors`.
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
    if isinstance(x, BandPhasors):
        if y is not None:
            raise ValueError("give the phasors of every person in one BandPhasors, not y.")
        x._check(fs, band, taper_hz, "phase_synchrony")
        ph = x
        lo, hi = ph.band
        P, N = ph.n_people, ph.n_samples
    else:
        X = as_people([np.asarray(x), np.asarray(y)], what="x, y") if y is not None \
            else as_people(x)
        if band is None:
            raise ValueError("band=(lo_hz, hi_hz) is required (the Hilbert phase is only "
                             "meaningful in a narrow band), or pass band_phasors(...) as x.")
        lo, hi = check_band(band, fs, allow_broadband=allow_broadband)
        P, N = X.shape
        ph = None
    W = to_samples(seconds(window_s, "window_s"), fs, "window_s", minimum=2)
    S = to_samples(seconds(step_s, "step_s"), fs, "step_s")
    if W / fs < 1.0 / lo:
        raise ValueError(
            f"window_s={window_s:g} s is shorter than one period of the band's lowest frequency "
            f"({1 / lo:.3g} s at {lo:g} Hz): a PLV needs several cycles per window."
        )
    if N < W:
        raise ValueError(f"the record ({N} samples) is shorter than one window ({W} samples).")
    pr = design_pairs(pairs, P)
    from somacore._core._sync import PairBlockSums

    if ph is None:
        re, im, bad, k0 = _unit_phasors(X, fs, (lo, hi), taper_hz)
        ph = BandPhasors(fs=fs, band=(lo, hi), taper_hz=taper_hz, _re=re, _im=im, _bad=bad,
                         _k0=k0)
    re, im, bad = ph._re, ph._im, ph._bad
    g, B, adv, nw = _blocks(N, W, S)
    nblk = (nw - 1) * adv + B
    blk = np.empty((pr.shape[0], nblk, 2))
    PairBlockSums().run(re, im, np.ascontiguousarray(pr, dtype=np.int64), g, blk)
    m = _windows_from_blocks(blk.view(np.complex128)[..., 0], B, adv, nw) / W
    if bad.any():
        nbad = bad[:, :nblk * g].reshape(P, nblk, g).sum(axis=-1)
        gap = _windows_from_blocks(nbad[pr[:, 0]] + nbad[pr[:, 1]], B, adv, nw) > 0
    else:  # no gap anywhere: skip counting them per block
        gap = np.zeros((pr.shape[0], nw), bool)
    plv = np.where(gap, np.nan, np.minimum(np.abs(m), 1.0))
    ang = np.where(gap, np.nan, np.angle(m))
    phase = ph.phase if return_phase else None
    return PhaseSynchrony(
        pairs=pr, plv=plv, mean_phase_diff=ang, window_start_s=np.arange(nw) * S / fs,
        band=(lo, hi), fs=fs, window_s=W / fs, step_s=S / fs, phase=phase,
    )
