"""WFDB records as a :class:`~somacore.signals.Recording` (wraps :func:`somacore.io.read_wfdb`).

Signal names are mapped to kinds (case-insensitive, ignoring spaces):

- ecg: ``MLII``, ``ML2``, ``V1``-``V6``, ``I``, ``II``, ``III``, ``aVR``, ``aVL``,
  ``aVF``, ``ECG``, ``ECG1``, ``ECG2``..., anything starting with ``ECG``/``EKG``
- ppg: ``PLETH``, ``PPG``, ``BVP``
- resp: ``RESP``, ``RESPIRATION``, anything starting with ``RESP``
- eda: ``EDA``, ``GSR``; emg: anything starting with ``EMG``

Other signals (blood pressure, EEG...) are skipped and listed in
``Recording.meta["skipped"]``; a record with no known signal is refused.
"""

from __future__ import annotations

import re
from pathlib import Path

from somacore.readers._common import FormatError, head_text
from somacore.signals import Channel, Recording

__all__ = ["WfdbReader", "wfdb_kind"]

_ECG = {"MLII", "ML2", "MLI", "MLIII", "I", "II", "III", "AVR", "AVL", "AVF", "ECG", "EKG",
        *(f"V{i}" for i in range(1, 7))}
_PPG = {"PLETH", "PPG", "BVP", "PLETHYSMOGRAM"}


def wfdb_kind(name: str) -> str | None:
    """Kind of a WFDB signal from its description, or None if unknown."""
    s = re.sub(r"[\s_\-]", "", name).upper()
    if (s in _ECG or s.startswith(("ECG", "EKG")) or re.fullmatch(r"(M?L)?V[1-6]", s)
            or re.fullmatch(r"M?CL[1-6]|C[MC]5", s)):     # modified chest leads (MIMIC)
        return "ecg"
    if s in _PPG or s.startswith("PLETH"):
        return "ppg"
    if s.startswith("RESP"):
        return "resp"
    if s in ("EDA", "GSR") or s.startswith("EDA"):
        return "eda"
    if s.startswith("EMG"):
        return "emg"
    return None


def _header_of(path: Path) -> Path | None:
    """The ``.hea`` file of a record given as ``rec``, ``rec.hea`` or ``rec.dat``."""
    p = Path(path)
    cands = [Path(str(p) + ".hea")]
    if p.suffix.lower() in (".hea", ".dat"):
        cands.insert(0, p.with_suffix(".hea"))
    return next((c for c in cands if c.is_file()), None)


def _record_path(path: Path) -> Path:
    hea = _header_of(path)
    if hea is not None:
        return hea.with_suffix("")
    p = Path(path)
    return p.with_suffix("") if p.suffix.lower() in (".hea", ".dat") else p


class WfdbReader:
    """Reader of PhysioNet WFDB records (``.hea`` + signal files), numpy only."""

    name = "wfdb"
    extensions = (".hea", ".dat")

    def sniff(self, path: Path) -> bool:
        """True if ``path`` (record, ``.hea`` or ``.dat``) has a WFDB header next to it."""
        hea = _header_of(Path(path))
        if hea is None:
            return False
        for line in head_text(hea).splitlines():
            s = line.strip()
            if not s or s.startswith("#"):
                continue
            tok = s.split()
            return len(tok) >= 2 and tok[1].isdigit()
        return False

    def read(self, path: Path) -> Recording:
        """Read the record's known signals into channels (physical units)."""
        from somacore.io.wfdb import read_wfdb

        rec_path = _record_path(Path(path))
        try:
            rec = read_wfdb(rec_path)
        except FileNotFoundError:
            raise
        except ValueError as exc:
            msg = str(exc)
            if str(rec_path) in msg:
                raise FormatError(rec_path, msg.split(": ", 1)[-1]) from exc
            raise FormatError(rec_path, msg) from exc
        chans, skipped = [], []
        used: dict[str, int] = {}
        for j, name in enumerate(rec.sig_names):
            kind = wfdb_kind(name)
            if kind is None:
                skipped.append(name)
                continue
            label = name or f"sig{j}"
            used[label] = used.get(label, 0) + 1
            if used[label] > 1:
                label = f"{label}#{used[label]}"
            data, fs = rec.signals[:, j], rec.fs
            spf = int(rec.samps_per_frame[j])
            if spf > 1:
                # stored at spf x the frame rate (MIMIC's 500 Hz ECG in 125 Hz
                # frames): keep every sample rather than the frame averages
                full = read_wfdb(rec_path, channels=[j], smooth_frames=False)
                data, fs = full.signals[:, 0], full.fs
            chans.append(Channel(data, fs, kind, rec.units[j] or "au", t0=0.0, name=label))
        if not chans:
            raise FormatError(rec_path, f"no signal of a known kind among {list(rec.sig_names)} "
                              "(ECG leads, PLETH, RESP, EDA, EMG); read it with "
                              "somacore.io.read_wfdb instead")
        return Recording(tuple(chans), source=str(rec_path),
                         meta={"format": "wfdb", "record": rec.name, "skipped": skipped,
                               "comments": rec.comments})
