"""PPG pulse detection on 1 h at 300 Hz: somacore beside physiokit and NeuroKit2 (one group).

somacore starts from the raw PPG. physiokit's ``find_peaks`` and NeuroKit2's ``ppg_findpeaks``
are documented to expect a cleaned signal, which is prepared once outside the timer (see
``_cases.py``); ``test_physiokit_pipeline_1h`` also times physiokit's own ``clean``.
"""

from __future__ import annotations

import numpy as np
import pytest

import _cases
from _data import PPG_FS

GROUP = "ppg-1h-300Hz"


@pytest.mark.benchmark(group=GROUP)
def test_somacore_ppg_1h(benchmark, require_somacore_ppg: None, ppg_1h_300: np.ndarray) -> None:
    """somacore.detect_beats(kind="ppg") on the raw PPG."""
    _cases.pedantic(benchmark, _cases.somacore_batch, ppg_1h_300, PPG_FS, kind="ppg",
                    rounds=15, warmup=1, hours=1, fs=PPG_FS)


@pytest.mark.benchmark(group=GROUP)
def test_physiokit_1h(benchmark, ppg_1h_300_physiokit: np.ndarray) -> None:
    """physiokit.ppg.find_peaks(data, sample_rate=300) on the 0.5-8 Hz band-passed PPG."""
    _cases.pedantic(benchmark, _cases.physiokit_ppg, ppg_1h_300_physiokit, PPG_FS,
                    rounds=10, warmup=1, hours=1, fs=PPG_FS)


@pytest.mark.benchmark(group=GROUP)
def test_physiokit_pipeline_1h(benchmark, ppg_1h_300: np.ndarray) -> None:
    """physiokit.ppg.clean (0.5-8 Hz) + find_peaks, from the raw PPG."""
    _cases.pedantic(benchmark, _cases.physiokit_ppg_pipeline, ppg_1h_300, PPG_FS,
                    rounds=10, warmup=1, hours=1, fs=PPG_FS)


@pytest.mark.benchmark(group=GROUP)
def test_neurokit_1h(benchmark, ppg_1h_300_neurokit: np.ndarray) -> None:
    """neurokit2.ppg_findpeaks (elgendi) on the nk.ppg_clean output."""
    _cases.pedantic(benchmark, _cases.neurokit_ppg, ppg_1h_300_neurokit, PPG_FS,
                    rounds=3, warmup=1, hours=1, fs=PPG_FS)
