"""Loading helpers for the real annotated records in ../shared/data (tests only)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@lru_cache(maxsize=32)
def ecg_record(db: str, rec: str, seconds: float | None = None):
    """Channel 0 of a WFDB ECG record (digital int16), fs, reference beats, flutter ranges."""
    from somacore.io import beat_annotations, read_annotations, read_wfdb

    path = DATA / "ecg" / db / rec
    r = read_wfdb(path, channels=[0], physical=False)
    x = np.ascontiguousarray(r.signals[:, 0]).astype(np.int16)
    beats, excl = beat_annotations(read_annotations(path, "atr"))
    if seconds is not None:
        n = int(seconds * r.fs)
        x = x[:n]
        beats = beats[beats < n]
    x.flags.writeable = False
    return x, float(r.fs), beats, excl


def write_csv(path: Path, columns: dict, fs: float, t0: float = 0.0) -> Path:
    """A somacore CSV written by hand (no time column), independent of the library's writer."""
    names = list(columns)
    with open(path, "w") as fh:
        fh.write(f"# somacore-csv v1\n# fs={fs!r}\n# t0={t0!r}\n{','.join(names)}\n")
        np.savetxt(fh, np.column_stack([columns[n] for n in names]), fmt="%.17g", delimiter=",")
    return Path(path)
