"""Fixtures of the pytest-benchmark suites: real ECG and PPG, tiled to 1 h and 24 h.

Inputs are built once per session (see ``_data.py`` for what is tiled and how) and shared by
every benchmark of a group, so somacore and each reference library see the same array.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import _cases
import _data


@pytest.fixture(scope="session")
def ecg_1h_360() -> np.ndarray:
    """1 h of MIT-BIH ECG at 360 Hz (float64 mV)."""
    return _data.ecg(1, _data.ECG_FS)


@pytest.fixture(scope="session")
def ecg_24h_360() -> np.ndarray:
    """24 h of MIT-BIH ECG at 360 Hz (float64 mV, 249 MB)."""
    return _data.ecg(24, _data.ECG_FS)


@pytest.fixture(scope="session")
def ecg_1h_1000() -> np.ndarray:
    """1 h of MIT-BIH ECG resampled to 1000 Hz (float64 mV)."""
    return _data.ecg(1, _data.ECG_FS_HI)


@pytest.fixture(scope="session")
def ecg_24h_1000() -> np.ndarray:
    """24 h of MIT-BIH ECG resampled to 1000 Hz (float64 mV, 691 MB)."""
    return _data.ecg(24, _data.ECG_FS_HI)


@pytest.fixture(scope="session")
def ppg_1h_300() -> np.ndarray:
    """1 h of CapnoBase PPG at 300 Hz (float64)."""
    return _data.ppg(1)


@pytest.fixture(scope="session")
def ppg_1h_300_physiokit(ppg_1h_300: np.ndarray) -> np.ndarray:
    """The PPG band-passed 0.5-8 Hz by ``physiokit.ppg.clean``, as ``find_peaks`` expects."""
    return _cases.physiokit_clean(ppg_1h_300, _data.PPG_FS)


@pytest.fixture(scope="session")
def ppg_1h_300_neurokit(ppg_1h_300: np.ndarray) -> np.ndarray:
    """The PPG cleaned by ``nk.ppg_clean``, as ``nk.ppg_findpeaks`` expects."""
    return _cases.neurokit_clean(ppg_1h_300, _data.PPG_FS)


@pytest.fixture(scope="session")
def ecg_24h_360_mmap(tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    """24 h of int16 ECG written as a WFDB format-16 record and read back memory-mapped."""
    from somacore.io import read_wfdb

    d: Path = tmp_path_factory.mktemp("mmap24h")
    rec = _data.write_wfdb16(d, "ecg24h", _data.ecg_int16(24), _data.ECG_FS)
    r = read_wfdb(rec, channels=[0], physical=False, mmap=True, verify_checksums=False)
    return r.signals[:, 0]


@pytest.fixture(scope="session")
def require_somacore_ppg() -> None:
    """Skip (with the reason shown by ``-ra``) if the installed somacore has no PPG kernel."""
    reason = _cases.somacore_has_ppg()
    if reason:
        pytest.skip(reason)
