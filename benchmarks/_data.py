"""Benchmark inputs built from the real recordings in ``../shared/data`` (no synthetic signals).

Shared by the pytest-benchmark suites (through ``conftest.py``) and by ``speed_report.py``.

- ECG at 360 Hz: channel 0 of the MIT-BIH Arrhythmia records 100..208 present in
  ``shared/data/ecg/mitdb`` (100, 101, 102, 118, 203, 207, 208: 3.5 h in all), in physical units
  (mV, float64), concatenated in record order and tiled to the wanted length.
- ECG at 1000 Hz: the same concatenation resampled with :func:`numpy.interp` (linear), then
  tiled, so 360 Hz and 1000 Hz inputs hold the same beats.
- PPG at 300 Hz: the CapnoBase "pleth" signals (8 min each, sorted by file name), only as many
  files as needed, concatenated and tiled.

Tiling (:func:`numpy.resize`) repeats the concatenation; each join is a step in baseline and
rhythm like a lead change, which every detector sees identically.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

#: Shared real-data folder beside the repository: <repo>/../shared/data
DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
MITDB = DATA / "ecg" / "mitdb"
CAPNOBASE = DATA / "ppg" / "capnobase"

ECG_FS = 360.0
ECG_FS_HI = 1000.0
PPG_FS = 300.0


def _require(path: Path) -> Path:
    if not path.is_dir():
        raise FileNotFoundError(
            f"benchmark data folder {path} not found: the shared data must sit beside the "
            "repository (../shared/data)")
    return path


def mitdb_records() -> list[str]:
    """Names of the MIT-BIH records 100..208 available locally, in numeric order."""
    names = [p.stem for p in _require(MITDB).glob("*.hea")]
    recs = sorted((n for n in names if n.isdigit() and 100 <= int(n) <= 208), key=int)
    if not recs:
        raise FileNotFoundError(f"no MIT-BIH records 100..208 in {MITDB}")
    return recs


@lru_cache(maxsize=2)
def mitdb_concat(physical: bool = True) -> np.ndarray:
    """Channel 0 of every record, concatenated: float64 mV, or the int16 ADC values."""
    from somacore.io import read_wfdb

    parts = []
    for rec in mitdb_records():
        r = read_wfdb(MITDB / rec, channels=[0], physical=physical)
        if r.fs != ECG_FS:
            raise ValueError(f"MIT-BIH record {rec} is at {r.fs} Hz, expected {ECG_FS}")
        parts.append(np.asarray(r.signals[:, 0]))
    x = np.concatenate(parts)
    if physical and not np.isfinite(x).all():
        raise ValueError("MIT-BIH channel 0 holds invalid samples; references need finite input")
    x.flags.writeable = False
    return x


@lru_cache(maxsize=1)
def mitdb_concat_1000() -> np.ndarray:
    """The 360 Hz concatenation resampled to 1000 Hz with linear interpolation."""
    x = mitdb_concat(True)
    t_in = np.arange(x.size) / ECG_FS
    n_out = int(x.size / ECG_FS * ECG_FS_HI)
    out = np.interp(np.arange(n_out) / ECG_FS_HI, t_in, x)
    out.flags.writeable = False
    return out


def tile(x: np.ndarray, n: int) -> np.ndarray:
    """A new C-contiguous, writeable array of length ``n`` repeating ``x``."""
    return np.ascontiguousarray(np.resize(x, n))


def ecg(hours: float, fs: float = ECG_FS) -> np.ndarray:
    """``hours`` of tiled MIT-BIH ECG (float64 mV) at 360 Hz or 1000 Hz."""
    if fs == ECG_FS:
        src = mitdb_concat(True)
    elif fs == ECG_FS_HI:
        src = mitdb_concat_1000()
    else:
        raise ValueError(f"ECG benchmarks use {ECG_FS:g} or {ECG_FS_HI:g} Hz, got {fs}")
    return tile(src, round(hours * 3600 * fs))


def ecg_int16(hours: float) -> np.ndarray:
    """``hours`` of tiled MIT-BIH ECG as the int16 ADC values at 360 Hz (gain 200, zero 1024)."""
    return tile(mitdb_concat(False).astype(np.int16), round(hours * 3600 * ECG_FS))


def read_capnobase(path: Path) -> tuple[float, np.ndarray]:
    """Sampling rate and PPG signal of one CapnoBase CSV (format: shared/data/ppg/README.md)."""
    with open(path, newline="") as f:  # CRLF line endings
        lines = f.read().splitlines()
    if len(lines) < 11 or lines[3] != "PPG_fs" or lines[9] != "PPG Signal":
        raise ValueError(f"{path}: not a CapnoBase CSV in the documented 11-line format")
    return float(lines[4]), np.array(lines[10].split(","), dtype=np.float64)


@lru_cache(maxsize=4)
def _capnobase_concat(n_samples: int) -> np.ndarray:
    files = sorted(_require(CAPNOBASE).glob("capnobase_*.csv"))
    parts: list[np.ndarray] = []
    total = 0
    for f in files:
        fs, sig = read_capnobase(f)
        if fs != PPG_FS:
            raise ValueError(f"{f}: PPG at {fs} Hz, expected {PPG_FS}")
        parts.append(sig)
        total += sig.size
        if total >= n_samples:
            break
    if not parts:
        raise FileNotFoundError(f"no CapnoBase CSV files in {CAPNOBASE}")
    x = np.concatenate(parts)
    x.flags.writeable = False
    return x


def ppg(hours: float) -> np.ndarray:
    """``hours`` of tiled CapnoBase PPG (float64, arbitrary units) at 300 Hz."""
    n = round(hours * 3600 * PPG_FS)
    return tile(_capnobase_concat(min(n, 42 * 144_001)), n)


def write_wfdb16(directory: Path, name: str, x: np.ndarray, fs: float) -> Path:
    """Write int16 samples as a one-signal WFDB format-16 record; return the record path."""
    x = np.ascontiguousarray(x, dtype="<i2")
    (directory / f"{name}.dat").write_bytes(x.tobytes())
    checksum = int(x.sum(dtype=np.int64)) % 65536
    checksum = checksum - 65536 if checksum >= 32768 else checksum
    (directory / f"{name}.hea").write_text(
        f"{name} 1 {fs:g} {x.size}\n"
        f"{name}.dat 16 200(1024)/mV 11 1024 {int(x[0])} {checksum} 0 ECG\n")
    return directory / name


MARSH = DATA / "resp" / "marsh"
RESP_FS = 250.0
RESP_FS_HI = 1000.0


@lru_cache(maxsize=2)
def _marsh_concat(fs: float) -> np.ndarray:
    """Every MARSH impedance pneumogram (250 Hz) concatenated; at 1000 Hz by np.interp."""
    from scipy.io import loadmat

    recs = sorted(p for p in _require(MARSH).iterdir() if (p / "IP.mat").is_file())
    x = np.concatenate([loadmat(r / "IP.mat")["IP"].ravel().astype(np.float64) for r in recs])
    if fs != RESP_FS:
        t = np.arange(x.size) / RESP_FS
        x = np.interp(np.arange(int(x.size * fs / RESP_FS)) / fs, t, x)
    x.flags.writeable = False
    return x


def resp(hours: float, fs: float = RESP_FS) -> np.ndarray:
    """``hours`` of tiled MARSH impedance pneumography (float64) at 250 Hz or 1000 Hz."""
    if fs not in (RESP_FS, RESP_FS_HI):
        raise ValueError(f"breath benchmarks use {RESP_FS:g} or {RESP_FS_HI:g} Hz, got {fs}")
    return tile(_marsh_concat(fs), round(hours * 3600 * fs))
