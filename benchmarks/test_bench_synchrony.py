"""Synchrony engine: pytest-benchmark suites, somacore beside the plain-numpy reference.

- ``sync-wcc-4p-1h-256Hz``: the standard workload (4 people x 1 h at 256 Hz, window 30 s,
  step 1 s, lags ±5 s at every sample = 2,561 lags, all 6 pairs); somacore with 1 and 2
  threads, and a good plain-numpy batched-FFT implementation on a 6-min slice (x10 for the
  full hour; the per-window cost is constant, so the extrapolation is linear).
- ``sync-phase-group-4p-1h``: Hilbert phase + windowed PLV, Kuramoto R and cluster rho.
- ``sync-wcc-16p-6min``: 16 people (120 pairs) beside 4 people (6 pairs) on the same slice.

``python benchmarks/synchrony_report.py`` writes the goal-by-goal table (with memory, the
surrogates, rMEA-style and NeuroKit2 paths) to ``results/synchrony.md``.
"""

from __future__ import annotations

import numpy as np
import pytest

from synchrony_report import STD, numpy_batched_fft, people

PAIRS = [(i, j) for i in range(4) for j in range(i + 1, 4)]


@pytest.fixture(scope="module")
def group_1h() -> np.ndarray:
    return people(4, 1.0, 256.0)


@pytest.fixture(scope="module")
def group16_6min() -> np.ndarray:
    return people(16, 0.1, 256.0, seed=1)


@pytest.mark.benchmark(group="sync-wcc-4p-1h-256Hz")
@pytest.mark.parametrize("threads", [1, 2])
def test_wcc_standard(benchmark, group_1h: np.ndarray, threads: int) -> None:
    from somacore.synchrony import windowed_xcorr

    res = benchmark.pedantic(windowed_xcorr, args=(group_1h,),
                             kwargs=dict(**STD, n_threads=threads), rounds=3, warmup_rounds=1)
    assert res.peak_r.shape == (6, 3561)


@pytest.mark.benchmark(group="sync-wcc-4p-1h-256Hz")
def test_numpy_fft_reference_slice(benchmark, group_1h: np.ndarray) -> None:
    """Plain numpy on a 6-min slice (multiply by 10 for the hour)."""
    from somacore.synchrony import windowed_xcorr

    xs = group_1h[:, :92160]
    pr, _ = benchmark.pedantic(numpy_batched_fft, args=(xs,), kwargs=dict(**STD, pairs=PAIRS),
                               rounds=2, warmup_rounds=0)
    ours = windowed_xcorr(xs, **STD, peak="max")
    assert np.max(np.abs(pr - ours.peak_r)) < 1e-9


@pytest.mark.benchmark(group="sync-phase-group-4p-1h")
def test_phase_plv(benchmark, group_1h: np.ndarray) -> None:
    from somacore.synchrony import phase_synchrony

    benchmark.pedantic(phase_synchrony, args=(group_1h,),
                       kwargs=dict(fs=256.0, band=(0.05, 0.15), window_s=30, step_s=1),
                       rounds=3, warmup_rounds=1)


@pytest.mark.benchmark(group="sync-phase-group-4p-1h")
def test_group_kuramoto_rho(benchmark, group_1h: np.ndarray) -> None:
    from somacore.synchrony import group_synchrony

    benchmark.pedantic(group_synchrony, args=(group_1h,),
                       kwargs=dict(fs=256.0, band=(0.05, 0.15), window_s=30, step_s=1),
                       rounds=3, warmup_rounds=1)


@pytest.mark.benchmark(group="sync-wcc-16p-6min")
@pytest.mark.parametrize("n_people", [4, 16])
def test_wcc_pairs_scaling(benchmark, group16_6min: np.ndarray, n_people: int) -> None:
    from somacore.synchrony import windowed_xcorr

    res = benchmark.pedantic(windowed_xcorr, args=(group16_6min[:n_people],), kwargs=STD,
                             rounds=2, warmup_rounds=1)
    assert res.peak_r.shape[0] == n_people * (n_people - 1) // 2
