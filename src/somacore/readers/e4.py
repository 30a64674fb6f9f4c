"""Empatica E4 export CSVs (``BVP.csv``, ``EDA.csv``, ``IBI.csv``, ``ACC.csv``).

Layout of the E4 "export" files (one file per signal, no header row):

- ``BVP.csv``, ``EDA.csv``, ``ACC.csv`` (and ``HR.csv``, ``TEMP.csv``): row 1 is the
  start time (unix seconds, UTC), row 2 the sampling rate in Hz, then one sample
  per row. ``ACC.csv`` has three columns (x, y, z) in 1/64 g.
- ``IBI.csv``: row 1 is ``<start time>, IBI``; then ``<seconds since start>, <interval s>``.

Kinds and units: ``BVP`` -> ppg (``au``), ``EDA`` -> eda (``uS``), ``ACC`` -> acc
(converted to ``g``, 3 columns), ``IBI`` -> rr (``s``, irregular: ``Channel.times``
are the unix times of the beats ending each interval). ``HR.csv`` and
``TEMP.csv`` hold no supported kind: reading one alone is refused; in a folder
they are skipped and listed in ``Recording.meta["skipped"]``.

Pass one file, or the folder of an unzipped export to get every signal in one
:class:`~somacore.signals.Recording` (channels share the unix-time clock).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from somacore.readers._common import FormatError, head_text, load_table, require_file
from somacore.signals import Channel, Recording

__all__ = ["E4Reader"]

#: file stem -> (kind, units, columns)
_FILES = {"BVP": ("ppg", "au", 1), "EDA": ("eda", "uS", 1), "ACC": ("acc", "g", 3),
          "IBI": ("rr", "s", 2)}
_UNSUPPORTED = {"HR", "TEMP", "TAGS"}
_MIN_UNIX = 1e8  # 1973: anything smaller is not a unix start time


def _first_fields(path: Path) -> list[str]:
    for line in head_text(path, 512).splitlines():
        if line.strip():
            return [f.strip() for f in line.split(",")]
    return []


class E4Reader:
    """Reader of Empatica E4 export files or folders."""

    name = "e4"
    extensions = (".csv",)

    def sniff(self, path: Path) -> bool:
        """True for an E4 export file (by name and first row) or a folder holding them."""
        p = Path(path)
        if p.is_dir():
            return any(self.sniff(p / f"{stem}.csv") for stem in _FILES)
        stem = p.stem.upper()
        if p.suffix.lower() != ".csv" or stem not in _FILES or not p.is_file():
            return False
        fields = _first_fields(p)
        try:
            return bool(fields) and float(fields[0]) > _MIN_UNIX
        except ValueError:
            return False

    def read(self, path: Path) -> Recording:
        """Read one export file, or every supported file of an export folder."""
        p = Path(path)
        if p.is_dir():
            chans, skipped = [], []
            for f in sorted(p.iterdir()):
                stem = f.stem.upper()
                if f.suffix.lower() != ".csv":
                    continue
                if stem in _FILES:
                    chans.append(self._read_file(f))
                elif stem in _UNSUPPORTED:
                    skipped.append(f.name)
            if not chans:
                raise FormatError(p, "folder holds no E4 export file (BVP.csv, EDA.csv, "
                                  "IBI.csv, ACC.csv)")
            return Recording(tuple(chans), source=str(p),
                             meta={"format": "e4", "skipped": skipped})
        return Recording((self._read_file(p),), source=str(p), meta={"format": "e4"})

    def _read_file(self, p: Path) -> Channel:
        require_file(p)
        stem = p.stem.upper()
        if stem in _UNSUPPORTED:
            raise FormatError(p, f"E4 {stem}.csv holds no supported signal kind (ecg, ppg, "
                              "resp, eda, emg, rr, acc)")
        if stem not in _FILES:
            raise FormatError(p, "not an E4 export file name (expected BVP.csv, EDA.csv, "
                              "IBI.csv or ACC.csv)")
        kind, units, ncols = _FILES[stem]
        lines = p.read_text(encoding="utf-8", errors="replace").splitlines()
        rows = [(i, ln) for i, ln in enumerate(lines, 1) if ln.strip()]
        if not rows:
            raise FormatError(p, "empty file")
        head = [f.strip() for f in rows[0][1].split(",")]
        try:
            t0 = float(head[0])
        except ValueError:
            raise FormatError(p, f"line 1 should be the start time in unix seconds, got "
                              f"{rows[0][1]!r}; is this an E4 export file?") from None
        if not t0 > _MIN_UNIX:
            raise FormatError(p, f"line 1: start time {t0!r} is not a unix time in seconds")
        if kind == "rr":
            if len(head) < 2 or head[1].upper() != "IBI":
                raise FormatError(p, f"line 1 should be '<start time>, IBI', got "
                                  f"{rows[0][1]!r}")
            body = rows[1:]
            data = load_table(p, [ln for _, ln in body], delimiter=",", ncols=2,
                              first_line_no=body[0][0] if body else 2)
            if data.size and ((np.diff(data[:, 0]) <= 0).any() or (data[:, 1] <= 0).any()):
                raise FormatError(p, "IBI times must increase and intervals be positive")
            return Channel(data[:, 1].copy(), None, "rr", units, t0=t0, name=stem,
                           times=t0 + data[:, 0])
        if len(rows) < 2:
            raise FormatError(p, "truncated: the sampling-rate line (line 2) is missing")
        try:
            fs = float(rows[1][1].split(",")[0])
        except ValueError:
            raise FormatError(p, f"line 2 should be the sampling rate in Hz, got "
                              f"{rows[1][1]!r}") from None
        if not (np.isfinite(fs) and fs > 0):
            raise FormatError(p, f"line 2: sampling rate {fs!r} must be positive")
        body = rows[2:]
        data = load_table(p, [ln for _, ln in body], delimiter=",", ncols=ncols,
                          first_line_no=body[0][0] if body else 3)
        if ncols == 1:
            data = data[:, 0].copy()
        if kind == "acc":
            data = data / 64.0
        return Channel(data, fs, kind, units, t0=t0, name=stem)
