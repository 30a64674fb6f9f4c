"""Streaming: somacore.stream.BeatDetector fed in chunks, beside batch calls on the same input.

No reference library streams, so each group sets the stream beside somacore's own batch call
(the streaming overhead) and, at 1000 Hz, sleepecg's batch call.

- ``stream-1h-1000Hz-100ms``: 1 h at 1000 Hz in 100 ms chunks (36,000 ``update`` calls).
- ``stream-24h-360Hz-mmap-1s``: a memory-mapped 24 h int16 WFDB record (written to a temp
  dir) fed in 1 s chunks (86,400 calls). Its memory use is measured by speed_report.py.
"""

from __future__ import annotations

import numpy as np
import pytest

import _cases
from _data import ECG_FS, ECG_FS_HI

CHUNK_1000 = int(0.1 * ECG_FS_HI)  # 100 ms
CHUNK_360 = int(ECG_FS)  # 1 s


@pytest.mark.benchmark(group="stream-1h-1000Hz-100ms")
def test_stream_1h_1000(benchmark, ecg_1h_1000: np.ndarray) -> None:
    """BeatDetector.update over 100 ms chunks, then flush."""
    n = _cases.pedantic(benchmark, _cases.somacore_stream, ecg_1h_1000, ECG_FS_HI, CHUNK_1000,
                        rounds=5, warmup=1, hours=1, fs=ECG_FS_HI)
    assert n == _cases.somacore_batch(ecg_1h_1000, ECG_FS_HI), "stream and batch differ"


@pytest.mark.benchmark(group="stream-1h-1000Hz-100ms")
def test_batch_1h_1000(benchmark, ecg_1h_1000: np.ndarray) -> None:
    """somacore.detect_beats on the same input (what the stream costs on top)."""
    _cases.pedantic(benchmark, _cases.somacore_batch, ecg_1h_1000, ECG_FS_HI,
                    rounds=5, warmup=1, hours=1, fs=ECG_FS_HI)


@pytest.mark.benchmark(group="stream-1h-1000Hz-100ms")
def test_sleepecg_batch_1h_1000(benchmark, ecg_1h_1000: np.ndarray) -> None:
    """sleepecg.detect_heartbeats (C, batch only) on the same input."""
    _cases.pedantic(benchmark, _cases.sleepecg_ecg, ecg_1h_1000, ECG_FS_HI,
                    rounds=5, warmup=1, hours=1, fs=ECG_FS_HI)


@pytest.mark.benchmark(group="stream-24h-360Hz-mmap-1s")
def test_stream_24h_mmap(benchmark, ecg_24h_360_mmap: np.ndarray) -> None:
    """BeatDetector.update over 1 s chunks read from the memory-mapped int16 record."""
    _cases.pedantic(benchmark, _cases.somacore_stream, ecg_24h_360_mmap, ECG_FS, CHUNK_360,
                    rounds=2, warmup=0, hours=24, fs=ECG_FS)


@pytest.mark.benchmark(group="stream-24h-360Hz-mmap-1s")
def test_batch_24h_mmap(benchmark, ecg_24h_360_mmap: np.ndarray) -> None:
    """somacore.detect_beats reading the memory-mapped int16 record in place."""
    _cases.pedantic(benchmark, _cases.somacore_batch, ecg_24h_360_mmap, ECG_FS,
                    rounds=2, warmup=0, hours=24, fs=ECG_FS)
