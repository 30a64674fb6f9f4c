"""ECG R-peak detection: somacore beside sleepecg (C backend) and NeuroKit2, same input per group.

Groups: ``ecg-1h-360Hz``, ``ecg-24h-360Hz``, ``ecg-1h-1000Hz``, ``ecg-24h-1000Hz``.
NeuroKit2 runs on the 1 h inputs only (on 24 h it would take minutes per round).
Heavy cases run few rounds so the whole benchmark suite stays within a few minutes.
"""

from __future__ import annotations

import numpy as np
import pytest

import _cases
from _data import ECG_FS, ECG_FS_HI

# (rounds, warmup rounds) per case; a fresh kernel is built inside every call
FAST = (15, 1)
SLOW = (3, 1)


@pytest.mark.benchmark(group="ecg-1h-360Hz")
def test_somacore_1h_360(benchmark, ecg_1h_360: np.ndarray) -> None:
    """somacore.detect_beats on 1 h at 360 Hz."""
    r, w = FAST
    _cases.pedantic(benchmark, _cases.somacore_batch, ecg_1h_360, ECG_FS,
                    rounds=r, warmup=w, hours=1, fs=ECG_FS)


@pytest.mark.benchmark(group="ecg-1h-360Hz")
def test_sleepecg_1h_360(benchmark, ecg_1h_360: np.ndarray) -> None:
    """sleepecg.detect_heartbeats (C) on 1 h at 360 Hz."""
    r, w = FAST
    _cases.pedantic(benchmark, _cases.sleepecg_ecg, ecg_1h_360, ECG_FS,
                    rounds=r, warmup=w, hours=1, fs=ECG_FS)


@pytest.mark.benchmark(group="ecg-1h-360Hz")
def test_neurokit_1h_360(benchmark, ecg_1h_360: np.ndarray) -> None:
    """neurokit2.ecg_peaks on 1 h at 360 Hz."""
    r, w = SLOW
    _cases.pedantic(benchmark, _cases.neurokit_ecg, ecg_1h_360, ECG_FS,
                    rounds=r, warmup=w, hours=1, fs=ECG_FS)


@pytest.mark.benchmark(group="ecg-24h-360Hz")
def test_somacore_24h_360(benchmark, ecg_24h_360: np.ndarray) -> None:
    """somacore.detect_beats on 24 h at 360 Hz (compare median_s_per_hour with 1 h)."""
    _cases.pedantic(benchmark, _cases.somacore_batch, ecg_24h_360, ECG_FS,
                    rounds=3, warmup=0, hours=24, fs=ECG_FS)


@pytest.mark.benchmark(group="ecg-24h-360Hz")
def test_sleepecg_24h_360(benchmark, ecg_24h_360: np.ndarray) -> None:
    """sleepecg.detect_heartbeats (C) on 24 h at 360 Hz (about 10 s a round)."""
    _cases.pedantic(benchmark, _cases.sleepecg_ecg, ecg_24h_360, ECG_FS,
                    rounds=2, warmup=0, hours=24, fs=ECG_FS)


@pytest.mark.benchmark(group="ecg-1h-1000Hz")
def test_somacore_1h_1000(benchmark, ecg_1h_1000: np.ndarray) -> None:
    """somacore.detect_beats on 1 h at 1000 Hz."""
    _cases.pedantic(benchmark, _cases.somacore_batch, ecg_1h_1000, ECG_FS_HI,
                    rounds=10, warmup=1, hours=1, fs=ECG_FS_HI)


@pytest.mark.benchmark(group="ecg-1h-1000Hz")
def test_sleepecg_1h_1000(benchmark, ecg_1h_1000: np.ndarray) -> None:
    """sleepecg.detect_heartbeats (C) on 1 h at 1000 Hz."""
    _cases.pedantic(benchmark, _cases.sleepecg_ecg, ecg_1h_1000, ECG_FS_HI,
                    rounds=10, warmup=1, hours=1, fs=ECG_FS_HI)


@pytest.mark.benchmark(group="ecg-1h-1000Hz")
def test_neurokit_1h_1000(benchmark, ecg_1h_1000: np.ndarray) -> None:
    """neurokit2.ecg_peaks on 1 h at 1000 Hz."""
    r, w = SLOW
    _cases.pedantic(benchmark, _cases.neurokit_ecg, ecg_1h_1000, ECG_FS_HI,
                    rounds=r, warmup=w, hours=1, fs=ECG_FS_HI)


@pytest.mark.benchmark(group="ecg-24h-1000Hz")
def test_somacore_24h_1000(benchmark, ecg_24h_1000: np.ndarray) -> None:
    """somacore.detect_beats on 24 h at 1000 Hz (691 MB of float64)."""
    _cases.pedantic(benchmark, _cases.somacore_batch, ecg_24h_1000, ECG_FS_HI,
                    rounds=2, warmup=0, hours=24, fs=ECG_FS_HI)


@pytest.mark.benchmark(group="ecg-24h-1000Hz")
def test_sleepecg_24h_1000(benchmark, ecg_24h_1000: np.ndarray) -> None:
    """sleepecg.detect_heartbeats (C) on 24 h at 1000 Hz (about 15 s, one round)."""
    _cases.pedantic(benchmark, _cases.sleepecg_ecg, ecg_24h_1000, ECG_FS_HI,
                    rounds=1, warmup=0, hours=24, fs=ECG_FS_HI)
