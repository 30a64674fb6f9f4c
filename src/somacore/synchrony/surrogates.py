"""Surrogate (pseudo-synchrony) tests.

A synchrony value means little on its own: two people breathing at 15/min
correlate at some lag by chance. The observed value is compared with a null
distribution from surrogates that keep each person's own dynamics but break
the timing between people:

* ``"circular_shift"``: every person except the first is rotated in time by
  an independent random offset of at least ``min_shift_s`` (default: a tenth
  of the record) and at most the record minus that (for an
  :class:`~somacore.synchrony.XcorrMeasure`, a whole number of window steps:
  see :func:`surrogate_test`);
* ``"segment_shuffle"``: every person except the first is cut into segments
  of ``segment_s`` seconds (default: a tenth of the record) whose order is
  shuffled independently (SUSY's segment shuffling);
* re-pairing across dyads (rMEA's ``shuffle``): :func:`pseudo_pairs`.

Statistics. ``p_value = (1 + #{null >= observed}) / (n + 1)`` (one-sided,
"greater"; ``alternative="two-sided"`` doubles the smaller tail, capped at
1). Effect size in the style of SUSY (Tschacher & Meier 2020): with Fisher's
``z = arctanh(r)`` (``fisher_z=True``, for correlation-like measures),
``effect = z_observed - mean(z_null)`` and the standardised
``effect_sd = effect / sd(z_null)``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from somacore._arrays import readonly
from somacore.synchrony._common import as_people, check_fs_sync, seconds
from somacore.synchrony.xcorr_shifts import XcorrMeasure

__all__ = ["SurrogateTest", "circular_shift", "pseudo_pairs", "segment_shuffle",
           "surrogate_test"]




@dataclass(frozen=True, eq=False)
class SurrogateTest:
    """Result of :func:`surrogate_test` / :func:`pseudo_pairs`.

    Attributes
    ----------
    observed : ndarray
        The measure on the real data (shape of the measure's output).
    null : ndarray, shape (n, ...)
        The measure on each surrogate.
    p_value : ndarray
        Permutation p-value per output element.
    effect : ndarray
        ``z(observed) - mean z(null)`` (Fisher z if ``fisher_z``, else raw units).
    effect_sd : ndarray
        ``effect / sd z(null)``.
    method : str
    fisher_z : bool
    """

    observed: np.ndarray
    null: np.ndarray
    p_value: np.ndarray
    effect: np.ndarray
    effect_sd: np.ndarray
    method: str
    fisher_z: bool

    def __post_init__(self) -> None:
        for name in ("observed", "null", "p_value", "effect", "effect_sd"):
            value = np.array(getattr(self, name), dtype=np.float64)
            object.__setattr__(self, name, readonly(value))


def _draw_shifts(rng: np.random.Generator, x: np.ndarray, min_shift: int) -> list[int]:
    n = x.shape[1]
    return [int(rng.integers(min_shift, n - min_shift + 1)) for _ in range(1, x.shape[0])]


def _apply_shifts(x: np.ndarray, shifts: list[int]) -> np.ndarray:
    out = x.copy()
    for i, k in enumerate(shifts, start=1):
        out[i] = np.roll(x[i], k)
    return out


def circular_shift(x: np.ndarray, rng: np.random.Generator, min_shift: int) -> np.ndarray:
    """Rotate every row but the first by an independent random offset."""
    return _apply_shifts(x, _draw_shifts(rng, x, min_shift))


def _draw_orders(rng: np.random.Generator, x: np.ndarray, seg: int) -> list[np.ndarray]:
    n_parts = -(-x.shape[1] // seg)
    return [rng.permutation(n_parts) for _ in range(1, x.shape[0])]


def _apply_orders(x: np.ndarray, seg: int, orders: list[np.ndarray]) -> np.ndarray:
    n = x.shape[1]
    bounds = [*list(range(0, n, seg)), n]
    out = x.copy()
    for i, order in enumerate(orders, start=1):
        parts = [x[i, a:b] for a, b in itertools.pairwise(bounds)]
        out[i] = np.concatenate([parts[o] for o in order])
    return out


def segment_shuffle(x: np.ndarray, rng: np.random.Generator, seg: int) -> np.ndarray:
    """Shuffle the order of ``seg``-sample segments of every row but the first.

    The last, shorter segment (if any) takes part in the shuffle too.
    """
    return _apply_orders(x, seg, _draw_orders(rng, x, seg))


def _stats(obs: np.ndarray, null: np.ndarray, alternative: str, fisher_z: bool):
    nn = null.shape[0]
    with np.errstate(invalid="ignore"):
        ge = (null >= obs).sum(axis=0)
        le = (null <= obs).sum(axis=0)
    p_hi = (1 + ge) / (nn + 1)
    if alternative == "greater":
        p = p_hi
    else:
        p = np.minimum(1.0, 2 * np.minimum(p_hi, (1 + le) / (nn + 1)))

    def tz(v):
        return np.arctanh(np.clip(v, -1 + 1e-12, 1 - 1e-12)) if fisher_z else v

    zn = tz(null)
    with np.errstate(invalid="ignore", divide="ignore"):
        eff = tz(obs) - np.nanmean(zn, axis=0)
        sd = np.nanstd(zn, axis=0, ddof=1) if nn > 1 else np.full_like(eff, np.nan)
        esd = eff / sd
    return p, eff, esd


def surrogate_test(
    x: Any,
    measure: Callable[[np.ndarray], Any],
    *,
    fs: float,
    method: Literal["circular_shift", "segment_shuffle"] = "circular_shift",
    n: int = 100,
    seed: int | None = None,
    min_shift_s: float | None = None,
    segment_s: float | None = None,
    alternative: Literal["greater", "two-sided"] = "greater",
    fisher_z: bool = True,
    n_jobs: int = 1,
) -> SurrogateTest:
    """Null distribution, p-value and SUSY-style effect size for a synchrony measure.

    Parameters
    ----------
    x : array_like, shape (n_people, n_samples)
        Series on one time base.
    measure : callable
        ``measure(x) -> float or array``, e.g.
        ``lambda v: windowed_xcorr(v, fs=4, window_s=30, step_s=1,
        max_lag_s=5).summary().mean_peak_r``, or the same as an
        :class:`~somacore.synchrony.XcorrMeasure`
        (``XcorrMeasure(fs=4, window_s=30, step_s=1, max_lag_s=5)``), which
        takes a fast path with ``method="circular_shift"``: each shift is a
        whole multiple of the measure's window step ``S`` (drawn uniformly
        among the multiples between ``min_shift_s`` and the record minus
        ``min_shift_s``), so a shifted series is cut into the same blocks as
        the original and its block spectra, computed once, serve every
        surrogate; a surrogate then costs its cross-spectra, inverse FFTs and
        Pearson rows only (benchmarks/synchrony_report.py has the figures).
        The result equals the measure of the explicitly rotated array with
        the same shifts (to rounding, ~1e-12). Restricting a random shift to
        the step grid changes nothing of substance: the shifts stay uniform
        over the allowed range, with ``(N - 2 min_shift) / S`` possible values
        (2,880 for 1 h at a 1 s step and the default minimum shift), far more
        than the surrogates drawn, and a finer shift would only move the
        windows by less than one step. The shared
        spectra take about ``n_people x N / g x (nfft / 2 + 1) x 16`` bytes
        (177 MB for 4 people x 1 h at 256 Hz with 30 s windows, 1 s step, ±5 s
        lags, plus 70 MB of window statistics); above 1 GiB, or for designs
        whose lag range is not a whole number of blocks, each surrogate is
        measured from scratch with the same quantised shifts.
    fs : float
        Sampling rate in Hz (required, keyword-only): shift and segment
        lengths are given in seconds.
    method : {"circular_shift", "segment_shuffle"}
    n : int
        Number of surrogates.
    seed : int, optional
        Seed of the random generator (reproducible nulls).
    min_shift_s : float, optional
        Smallest circular shift (default: a tenth of the record).
    segment_s : float, optional
        Segment length for shuffling (default: a tenth of the record).
    alternative : {"greater", "two-sided"}
    fisher_z : bool
        Express the effect in Fisher z units (for correlation-like measures).
    n_jobs : int
        Surrogates measured at once, in threads. somacore's measures release
        the GIL in their kernels and FFTs, so this scales with cores; a measure
        of your own must be thread-safe. On the fast path the threads share
        the one spectrum table. The surrogates themselves are drawn
        up front from ``seed``, so the result does not depend on ``n_jobs``.

    Returns
    -------
    SurrogateTest
    """
    fs = check_fs_sync(fs)
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, (int, np.integer)) or n_jobs < 1:
        raise ValueError(f"n_jobs must be a positive integer, got {n_jobs!r}.")
    X = as_people(x)
    N = X.shape[1]
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive number of surrogates, got {n!r}.")
    if alternative not in ("greater", "two-sided"):
        raise ValueError(f"alternative must be 'greater' or 'two-sided', got {alternative!r}.")
    rng = np.random.default_rng(seed)
    if method == "circular_shift":
        k = max(1, N // 10) if min_shift_s is None else \
            round(seconds(min_shift_s, "min_shift_s") * fs)
        if k < 1 or 2 * k > N:
            raise ValueError(f"min_shift_s gives {k} samples; it must be between 1 sample and "
                             f"half the record ({N // 2} samples).")

        def draw() -> Callable[[], np.ndarray]:
            shifts = _draw_shifts(rng, X, k)
            return lambda: _apply_shifts(X, shifts)
    elif method == "segment_shuffle":
        seg = max(1, N // 10) if segment_s is None else \
            round(seconds(segment_s, "segment_s") * fs)
        if seg < 1 or seg * 2 > N:
            raise ValueError(f"segment_s gives {seg} samples; at least two segments are needed "
                             f"(at most {N // 2} samples each).")

        def draw() -> Callable[[], np.ndarray]:
            orders = _draw_orders(rng, X, seg)
            return lambda: _apply_orders(X, seg, orders)
    else:
        raise ValueError(f"method must be 'circular_shift' or 'segment_shuffle', got {method!r}."
                         " For re-pairing across dyads use pseudo_pairs().")
    # the observed value is the first task (measured alongside the surrogates)
    if method == "circular_shift" and isinstance(measure, XcorrMeasure):
        draws, one = _xcorr_shifts(X, measure, k, int(n), rng, int(n_jobs))
    else:
        # draw every surrogate's offsets / orders first (in order), so the null does
        # not depend on how many threads measure them
        draws = [lambda: X] + [draw() for _ in range(int(n))]  # built when measured

        def one(build: Callable[[], np.ndarray]) -> np.ndarray:
            return np.asarray(measure(build()), dtype=np.float64)

    if n_jobs == 1:
        values = [one(d) for d in draws]
    else:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(min(int(n_jobs), len(draws))) as pool:
            values = list(pool.map(one, draws))
    obs = values[0]
    null = np.stack(values[1:])
    p, eff, esd = _stats(obs, null, alternative, fisher_z)
    return SurrogateTest(observed=obs, null=null, p_value=p, effect=eff, effect_sd=esd,
                         method=method, fisher_z=fisher_z)


def _xcorr_shifts(X: np.ndarray, measure: XcorrMeasure, min_shift: int, n: int,
                  rng: np.random.Generator, n_jobs: int):
    """Quantised shifts (zero first: the observed value) and the function measuring one.

    Shifts are whole multiples of the measure's step; the record's spectra are
    computed once (:class:`somacore.synchrony.xcorr_shifts._ShiftEngine`, built
    with ``n_jobs`` threads) when they fit the table budget, else each rotated
    array is measured from scratch.
    """
    from somacore.synchrony.xcorr_shifts import _TABLE_BYTES, _ShiftEngine

    P, N = X.shape
    q = measure.step_samples
    lo, hi = -(-min_shift // q), (N - min_shift) // q
    if hi < lo:
        raise ValueError(f"no circular shift is a whole number of window steps ({q} samples) "
                         f"between min_shift_s and the record minus it ({min_shift}..."
                         f"{N - min_shift} samples): lower min_shift_s or use a longer record.")
    draws = [[0] * P] + [[0] + [q * int(rng.integers(lo, hi + 1)) for _ in range(1, P)]
                         for _ in range(n)]
    size = _ShiftEngine.table_bytes(X, measure)
    if size is None or size > _TABLE_BYTES:
        def scratch(sh: list[int]) -> np.ndarray:
            return np.asarray(measure(_apply_shifts(X, sh[1:])), dtype=np.float64)

        return draws, scratch
    eng = _ShiftEngine(X, measure)
    eng.prepare(n_jobs)

    def shared(sh: list[int]) -> np.ndarray:
        return measure.reduce(eng.run(sh))

    return draws, shared


def pseudo_pairs(dyads: Sequence[Any], measure: Callable[[np.ndarray], Any], *,
                 alternative: Literal["greater", "two-sided"] = "greater",
                 fisher_z: bool = True) -> SurrogateTest:
    """Pseudo-synchrony by re-pairing people across dyads (rMEA's ``shuffle``).

    Parameters
    ----------
    dyads : sequence of array_like, each shape (2, n_samples_d)
        Real dyads (same sampling rate). Person 0 of dyad ``d`` is paired with
        person 1 of every other dyad ``e != d``, both cut to the shorter length.
    measure : callable
        ``measure(pair) -> float`` for an array of shape (2, n).

    Returns
    -------
    SurrogateTest
        ``observed`` is the mean of the measure over the real dyads, ``null``
        holds the measure of every re-paired couple (``n_dyads * (n_dyads - 1)``).
    """
    ds = [as_people(d, what="dyad") for d in dyads]
    if len(ds) < 2:
        raise ValueError("re-pairing needs at least two dyads.")
    if any(d.shape[0] != 2 for d in ds):
        raise ValueError("every dyad must have exactly two rows (two people).")
    real = np.array([np.asarray(measure(d), dtype=np.float64) for d in ds])
    null = []
    for a, da in enumerate(ds):
        for b, db in enumerate(ds):
            if a != b:
                m = min(da.shape[1], db.shape[1])
                null.append(np.asarray(measure(np.stack([da[0, :m], db[1, :m]])), np.float64))
    null = np.array(null)
    obs = np.nanmean(real, axis=0)
    p, eff, esd = _stats(obs, null, alternative, fisher_z)
    return SurrogateTest(observed=obs, null=null, p_value=p, effect=eff, effect_sd=esd,
                         method="pseudo_pairs", fisher_z=fisher_z)
