"""OpenSignals (PLUX / BITalino) text files.

Layout::

    # OpenSignals Text File Format
    # {"00:07:80:3B:46:61": {"sampling rate": 1000, "column": ["nSeq", "I1", "I2",
    #   "O1", "O2", "A1", "A2"], "label": ["A1", "A2"], "sensor": ["ECG", "RESP"],
    #   "resolution": [16, 16], "date": "2017-4-5", "time": "13:01:47.488", ...}}
    # EndOfHeader
    0	1	1	0	0	511	502
    ...

Columns of several devices follow each other in header order. Analog channels
become channels; kinds come from ``sensor`` (ECG, EDA, EMG, RESP/PZT/RIP, BVP/PPG,
ACC/XYZ) or, failing that, ``label``; channels of unknown sensors (``RAW``...) are
skipped and listed in ``Recording.meta["skipped"]``. Values are the raw ADC
counts (units ``"adc"``, resolution in ``meta``): the transfer functions are
device specific. The ``nSeq`` column (a counter modulo 16) is checked: lost
samples are counted in ``meta["seq_breaks"]``. ``t0`` is the header's date and
time as unix seconds (local time, as OpenSignals writes it), or 0.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path

import numpy as np

from somacore.readers._common import FormatError, head_text, load_table, require_file
from somacore.signals import Channel, Recording

__all__ = ["OpenSignalsReader"]

MAGIC = "# OpenSignals Text File Format"
_SENSOR_KIND = {"ECG": "ecg", "EKG": "ecg", "EDA": "eda", "GSR": "eda", "EMG": "emg",
                "RESP": "resp", "RESPIRATION": "resp", "PZT": "resp", "RIP": "resp",
                "BVP": "ppg", "PPG": "ppg", "SPO2": "ppg", "ACC": "acc", "XYZ": "acc"}


def _kind_of(sensor: str, label: str) -> str | None:
    for s in (sensor, label):
        key = re.sub(r"[^A-Z0-9]", "", str(s).upper())
        for prefix, kind in _SENSOR_KIND.items():
            if key.startswith(prefix):
                return kind
    return None


def _t0(dev: dict) -> float:
    try:
        d = datetime.strptime(f"{dev['date']} {dev['time']}", "%Y-%m-%d %H:%M:%S.%f")
    except (KeyError, ValueError, TypeError):
        return 0.0
    return d.timestamp()


class OpenSignalsReader:
    """Reader of OpenSignals text exports (``.txt``)."""

    name = "opensignals"
    extensions = (".txt",)

    def sniff(self, path: Path) -> bool:
        """True if the first line is the OpenSignals magic line."""
        p = Path(path)
        return p.is_file() and head_text(p, 256).lstrip("\ufeff").startswith(MAGIC)

    def read(self, path: Path) -> Recording:
        """Read the analog channels of every device in the file."""
        p = require_file(Path(path))
        lines = p.read_text(encoding="utf-8-sig", errors="replace").splitlines()
        if not lines or not lines[0].startswith(MAGIC):
            raise FormatError(p, f"first line is not {MAGIC!r}; not an OpenSignals text file")
        if len(lines) < 2 or not lines[1].startswith("#"):
            raise FormatError(p, "truncated: the JSON header line (line 2) is missing")
        try:
            header = json.loads(lines[1][1:].strip())
        except json.JSONDecodeError as exc:
            raise FormatError(p, f"line 2: the JSON header is malformed ({exc.msg} at column "
                              f"{exc.colno + 1}); the file may be truncated or edited") from None
        if not isinstance(header, dict) or not header or \
                not all(isinstance(v, dict) for v in header.values()):
            raise FormatError(p, "line 2: the JSON header must map device names to objects")
        body_start = 2
        while body_start < len(lines) and lines[body_start].startswith("#"):
            body_start += 1
        devices = list(header.items())
        ncols = 0
        for dev_name, dev in devices:
            cols = dev.get("column")
            if not isinstance(cols, list) or not cols:
                raise FormatError(p, f"device {dev_name!r}: header has no 'column' list")
            ncols += len(cols)
        data = load_table(p, lines[body_start:], delimiter=None, ncols=ncols,
                          first_line_no=body_start + 1)
        if data.shape[0] == 0:
            raise FormatError(p, "header but no samples")
        chans, skipped, seq_breaks, res = [], [], {}, {}
        c0 = 0
        for dev_name, dev in devices:
            cols = [str(c) for c in dev["column"]]
            try:
                fs = float(dev["sampling rate"])
            except (KeyError, TypeError, ValueError):
                raise FormatError(p, f"device {dev_name!r}: no valid 'sampling rate'") from None
            if not fs > 0:
                raise FormatError(p, f"device {dev_name!r}: sampling rate {fs!r} must be > 0")
            block = data[:, c0:c0 + len(cols)]
            c0 += len(cols)
            if "nSeq" in cols:
                seq = block[:, cols.index("nSeq")]
                step = np.mod(np.diff(seq), 16)
                seq_breaks[dev_name] = int(np.count_nonzero(step != 1))
            analog = [j for j, c in enumerate(cols) if re.fullmatch(r"A\d+", c)]
            labels = list(dev.get("label") or [])
            sensors = list(dev.get("sensor") or [])
            resolution = list(dev.get("resolution") or [])
            for k, j in enumerate(analog):
                label = labels[k] if k < len(labels) else cols[j]
                sensor = sensors[k] if k < len(sensors) else ""
                kind = _kind_of(sensor, label)
                name = f"{label}" if len(devices) == 1 else f"{dev_name}/{label}"
                if kind is None:
                    skipped.append(name)
                    continue
                if k < len(resolution):
                    res[name] = resolution[k]
                chans.append(Channel(np.ascontiguousarray(block[:, j]), fs, kind, "adc",
                                     t0=_t0(dev), name=name))
        if not chans:
            raise FormatError(p, f"no analog channel of a known sensor kind (skipped: {skipped})")
        return Recording(tuple(chans), source=str(p),
                         meta={"format": "opensignals", "skipped": skipped,
                               "seq_breaks": seq_breaks, "resolution": res,
                               "devices": [d for d, _ in devices]})
