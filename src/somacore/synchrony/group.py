"""Group synchrony: Kuramoto order parameter and cluster-phase rho.

For the phases ``phi_i(t)`` of ``n`` people (Hilbert phase in ``band``, see
:mod:`somacore.synchrony.phase`, or phases given directly with
``phases=True``):

* Kuramoto order parameter ``R(t) = |mean_i exp(1j * phi_i(t))|`` in [0, 1];
  windowed: the mean of ``R(t)`` over each window.
* Cluster phase (Richardson, Garcia, Frank, Gergor & Marsh 2012): cluster
  phase ``q(t) = arg mean_i exp(1j * phi_i(t))`` (0 where that mean is 0, as
  ``numpy.angle`` gives); each person's mean phase
  relative to the group ``phibar_i = arg mean_t exp(1j * (phi_i - q))`` and
  their synchrony with the group ``rho_i = |mean_t exp(1j * (phi_i - q))|``;
  group synchrony ``rho_group(t) = |mean_i exp(1j * (phi_i - q - phibar_i))|``
  and its time mean ``rho_group``. These match multiSyncPy's ``rho``.
  Windowed: ``rho_window[k]`` is ``rho_group`` recomputed on window ``k`` alone
  (``phibar_i`` from that window), as multiSyncPy's
  ``apply_windowed(data, rho, ...)`` does. Its cost is O(windows x window x
  people) by definition: the window's rotations ``-phibar_i`` differ per
  person and sit inside a modulus over people that is then averaged over
  time, so it has no sliding-sum form (only the window means of the relative
  phasors, which give ``phibar_i``, slide).

Cluster-phase rho is defined for 3 or more people (with 2 it reduces to a
phase-locking value); Kuramoto R for 2 or more. Samples where any person's
phase is missing are left out of R(t) (NaN) and windows that contain one are
NaN.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from somacore._arrays import readonly_contiguous
from somacore.synchrony._common import as_people, check_fs_sync, seconds, to_samples
from somacore.synchrony.phase import (
    BandPhasors,
    _blocks,
    _unit_phasors,
    _windows_from_blocks,
    check_band,
)

__all__ = ["GroupSynchrony", "group_synchrony"]

MAX_PEOPLE = 64




@dataclass(frozen=True, eq=False)
class GroupSynchrony:
    """Result of :func:`group_synchrony`.

    Attributes
    ----------
    R : ndarray, shape (n_samples,)
        Kuramoto order parameter R(t) (NaN where a phase is missing).
    R_window : ndarray, shape (n_windows,)
        Mean of R(t) per window.
    rho_group_t : ndarray, shape (n_samples,) or None
        Cluster-phase group synchrony per sample (3+ people, no gaps).
    rho_group : float
        Time mean of ``rho_group_t`` (NaN if not defined).
    rho_i : ndarray, shape (n_people,) or None
        Each person's synchrony with the cluster.
    phibar_i : ndarray, shape (n_people,) or None
        Each person's mean phase relative to the cluster (rad).
    rho_window : ndarray, shape (n_windows,) or None
        ``rho_group`` recomputed in each window.
    window_start_s : ndarray, shape (n_windows,)
    fs, window_s, step_s : float
    band : tuple of float or None
        Pass band of the Hilbert phase (None when phases were given).
    """

    R: np.ndarray
    R_window: np.ndarray
    rho_group_t: np.ndarray | None
    rho_group: float
    rho_i: np.ndarray | None
    phibar_i: np.ndarray | None
    rho_window: np.ndarray | None
    window_start_s: np.ndarray
    fs: float
    window_s: float
    step_s: float
    band: tuple[float, float] | None

    def __post_init__(self) -> None:
        for name in ("R", "R_window", "rho_group_t", "rho_i", "phibar_i", "rho_window",
                     "window_start_s"):
            v = getattr(self, name)
            if v is not None:
                object.__setattr__(self, name, readonly_contiguous(v))


def group_synchrony(x: Any, *, fs: float, window_s: float, step_s: float, band: Any = None,
                    phases: bool = False, taper_hz: float | None = None,
                    allow_broadband: bool = False) -> GroupSynchrony:
    """Kuramoto order parameter (windowed) and cluster-phase rho for a group.

    Parameters
    ----------
    x : array_like, shape (n_people, n_samples), or BandPhasors
        Series on one time base (``band`` required), or phases in radians
        (``phases=True``), or the result of
        :func:`somacore.synchrony.band_phasors` (shared with
        :func:`somacore.synchrony.phase_synchrony`). NaN marks missing samples.
    fs : float
        Sampling rate in Hz (required, keyword-only).
    window_s, step_s : float
        Window and step in seconds for ``R_window`` and ``rho_window``.
    band : (lo, hi), optional
        Pass band in Hz of the Hilbert phase (required unless ``phases``).
    phases : bool
        ``x`` already holds phases (rad).
    taper_hz, allow_broadband
        See :func:`somacore.synchrony.analytic_signal`.

    Returns
    -------
    GroupSynchrony
    """
    fs = check_fs_sync(fs)
    if isinstance(x, BandPhasors):
        if phases:
            raise ValueError("x is already BandPhasors: leave phases=False.")
        x._check(fs, band, taper_hz, "group_synchrony")
        P, N = x.n_people, x.n_samples
    else:
        X = as_people(x)
        P, N = X.shape
    if P > MAX_PEOPLE:
        raise ValueError(f"at most {MAX_PEOPLE} people per group, got {P}.")
    W = to_samples(seconds(window_s, "window_s"), fs, "window_s", minimum=2)
    S = to_samples(seconds(step_s, "step_s"), fs, "step_s")
    if N < W:
        raise ValueError(f"the record ({N} samples) is shorter than one window ({W} samples).")
    from somacore._core._sync import ClusterPhaseWindows, KuramotoField

    if isinstance(x, BandPhasors):
        re, im, bad, bnd = x._re, x._im, x._bad, x.band
    elif phases:
        if band is not None:
            raise ValueError("give either band (to compute phases) or phases=True, not both.")
        bad = ~np.isfinite(X)
        ph = np.where(bad, 0.0, X)
        re = np.where(bad, 0.0, np.cos(ph))
        im = np.where(bad, 0.0, np.sin(ph))
        bnd = None
    else:
        if band is None:
            raise ValueError("band=(lo_hz, hi_hz) is required to compute Hilbert phases "
                             "(or pass phases=True with phases in radians).")
        bnd = check_band(band, fs, allow_broadband=allow_broadband)
        # a rotation common to everybody is left out of the phasors: R and rho do not see it
        re, im, bad, _ = _unit_phasors(X, fs, bnd, taper_hz)
    anybad = np.ascontiguousarray(bad.any(axis=0))
    g, B, adv, nw = _blocks(N, W, S)
    nblk = (nw - 1) * adv + B
    # one pass over the phasors: R(t), and block sums (blocks of g samples covering the
    # record) of R, of the phasors relative to the cluster phase, and of the gaps
    nall = -(-N // g)
    R = np.empty(N)
    rblk = np.empty(nall)
    zblk = np.empty((P, nall, 2))
    badblk = np.empty(nall)
    KuramotoField().run(re, im, anybad.view(np.uint8), g, R, rblk, zblk, badblk)
    zc = zblk.view(np.complex128)[..., 0]
    gapw = _windows_from_blocks(badblk[:nblk], B, adv, nw) > 0
    R_window = np.where(gapw, np.nan, _windows_from_blocks(rblk[:nblk], B, adv, nw) / W)
    starts = np.arange(nw, dtype=np.int64) * S
    rho_t = rho_i = phibar = rho_w = None
    rho_group = float("nan")
    if P >= 3:
        zw = _windows_from_blocks(zc[:, :nblk], B, adv, nw).T / W  # (windows, people)
        rho_w = np.empty(nw)
        z = None
        if not anybad.any():
            # the record's cluster phase rho too, in the same pass over the phasors
            z = zc.sum(axis=1) / N
            rho_i = np.abs(z)
            phibar = np.angle(z)
            rho_t = np.empty(N)
        rho_group = float(ClusterPhaseWindows().run(
            re, im, np.ascontiguousarray(zw.real), np.ascontiguousarray(zw.imag), starts, W,
            rho_w, None if z is None else np.array([z.real, z.imag]), rho_t))
        rho_w[gapw] = np.nan
    return GroupSynchrony(
        R=R, R_window=R_window, rho_group_t=rho_t, rho_group=rho_group, rho_i=rho_i,
        phibar_i=phibar, rho_window=rho_w, window_start_s=starts / fs, fs=fs,
        window_s=W / fs, step_s=S / fs, band=bnd,
    )
