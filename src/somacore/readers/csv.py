"""The somacore CSV convention (``somacore-csv v1``): reader and writer.

Layout::

    # somacore-csv v1            <- optional marker line
    # fs=250                     <- sampling rate in Hz (optional if there is a time column)
    # t0=1700000000.0            <- optional start time in seconds (default: first time value, or 0)
    time_s,ecg_mV,resp_au,ppg.finger
    0.000,0.123,1.02,512
    0.004,0.131,1.03,515
    ...

- Lines starting with ``#`` are comments; ``# key=value`` comments set ``fs`` and
  ``t0`` (other keys are kept in ``Recording.meta``).
- The first other line is the header row. A time column is optional and is
  named ``time_s`` (or ``time``; seconds) or ``time_ms`` (milliseconds). Every
  other column is one channel named ``<kind>[.<label>][_<unit>]``: ``kind`` one
  of ecg, ppg, resp, eda, emg, rr, acc; ``label`` distinguishes channels of one
  kind (``ecg.II_mV``, ``acc.x_g``); ``unit`` is everything after the first
  underscore (default ``au``).
- Rows are evenly sampled. With a time column the rate comes from it (or must
  agree with ``# fs=``) and an irregular time column (a gap, a jump backwards,
  jitter beyond the printed resolution) is refused: write lost samples as empty
  fields or ``nan`` instead of dropping rows.
- Delimiter: comma (``;`` and tab are detected too).
"""

from __future__ import annotations

import io
import math
import re
from pathlib import Path

import numpy as np

from somacore.readers._common import FormatError, atomic_write_text, head_text, load_table
from somacore.signals import KINDS, Channel, Recording

__all__ = ["MARKER", "CsvReader", "CsvWriter"]

MARKER = "# somacore-csv v1"
_COL_RE = re.compile(r"^(?P<kind>[a-z]+)(?:\.(?P<label>[A-Za-z0-9-]+))?(?:_(?P<unit>.+))?$")
_TIME_COLS = {"time_s": 1.0, "time": 1.0, "time_ms": 1e-3}
_KV_RE = re.compile(r"^#\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(\S.*?)\s*$")


def _split_header(line: str) -> tuple[list[str], str]:
    for d in (",", ";", "\t"):
        if d in line:
            return [c.strip() for c in line.split(d)], d
    return [line.strip()], ","


def _parse_columns(cols: list[str]) -> list[tuple[str, str, str]] | None:
    """(kind or 'time', label, unit) per column, or None if not the convention."""
    out = []
    for c in cols:
        if c in _TIME_COLS:
            out.append(("time", c, "s"))
            continue
        m = _COL_RE.match(c)
        if m is None or m["kind"] not in KINDS:
            return None
        out.append((m["kind"], m["label"] or "", m["unit"] or "au"))
    return out


class CsvReader:
    """Reader of ``somacore-csv v1`` files (see the module docs for the convention)."""

    name = "csv"
    extensions = (".csv", ".txt")

    def sniff(self, path: Path) -> bool:
        """True for a file with the marker line or a header row of the convention."""
        path = Path(path)
        if not path.is_file():
            return False
        text = head_text(path)
        for line in text.splitlines():
            s = line.strip()
            if not s:
                continue
            if s.startswith("#"):
                if s.lower().startswith(MARKER):
                    return True
                continue
            cols, _ = _split_header(s)
            return _parse_columns(cols) is not None
        return False

    def read(self, path: Path) -> Recording:
        """Read the file; FormatError (a ValueError) naming the file on any problem."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such file")
        try:
            text = path.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError as exc:
            raise FormatError(path, f"not a text file ({exc.reason} at byte {exc.start}); "
                              "is it really a somacore CSV?") from None
        lines = text.splitlines()
        meta: dict[str, str] = {}
        header_idx = None
        for i, line in enumerate(lines):
            s = line.strip()
            if not s:
                continue
            if s.startswith("#"):
                m = _KV_RE.match(s)
                if m:
                    meta[m[1].lower()] = m[2]
                continue
            header_idx = i
            break
        if header_idx is None:
            raise FormatError(path, "no header row (the file is empty or only comments)")
        cols, delim = _split_header(lines[header_idx])
        spec = _parse_columns(cols)
        if spec is None:
            bad = [c for c in cols if c not in _TIME_COLS and (
                (m := _COL_RE.match(c)) is None or m["kind"] not in KINDS)]
            raise FormatError(path, f"line {header_idx + 1}: column(s) {bad} do not follow "
                              "the somacore-csv convention '<kind>[.<label>][_<unit>]' with "
                              f"kind in {sorted(KINDS)} (or time_s/time_ms); is this a "
                              "somacore CSV?")
        time_cols = [j for j, s in enumerate(spec) if s[0] == "time"]
        if len(time_cols) > 1:
            raise FormatError(path, "more than one time column")
        if len(cols) != len(set(cols)):
            raise FormatError(path, f"duplicate column names in {cols}")
        data = load_table(path, lines[header_idx + 1:], delimiter=delim, ncols=len(cols),
                          first_line_no=header_idx + 2)
        if data.shape[0] == 0:
            raise FormatError(path, "header but no data rows")

        fs_meta = None
        if "fs" in meta:
            try:
                fs_meta = float(meta["fs"])
            except ValueError:
                raise FormatError(path, f"'# fs={meta['fs']}' is not a number") from None
            if not (math.isfinite(fs_meta) and fs_meta > 0):
                raise FormatError(path, f"'# fs={meta['fs']}' must be a positive rate in Hz")
        t0 = None
        if time_cols:
            j = time_cols[0]
            scale = _TIME_COLS[cols[j]]
            t = data[:, j] * scale
            fs = self._rate_from_time(path, t, lines, header_idx, delim, j, scale, fs_meta)
            t0 = float(t[0])
        elif fs_meta is None:
            raise FormatError(path, "no sampling rate: add a '# fs=<Hz>' comment line or a "
                              "time_s column")
        else:
            fs = fs_meta
        if "t0" in meta:
            try:
                t0 = float(meta["t0"])
            except ValueError:
                raise FormatError(path, f"'# t0={meta['t0']}' is not a number") from None
        chans = []
        for j, (kind, _label, unit) in enumerate(spec):
            if kind == "time":
                continue
            chans.append(Channel(np.ascontiguousarray(data[:, j]), fs, kind, unit,
                                 t0=t0 or 0.0, name=cols[j]))
        if not chans:
            raise FormatError(path, "no signal column (only a time column)")
        return Recording(tuple(chans), source=str(path), meta={"format": "somacore-csv", **meta})

    @staticmethod
    def _rate_from_time(path: Path, t: np.ndarray, lines: list[str], header_idx: int,
                        delim: str, j: int, scale: float, fs_meta: float | None) -> float:
        if not np.isfinite(t).all():
            k = int(np.flatnonzero(~np.isfinite(t))[0])
            raise FormatError(path, f"data row {k + 1}: the time column is empty or not finite")
        if t.size < 2:
            if fs_meta is None:
                raise FormatError(path, "a single row: cannot infer the sampling rate from the "
                                  "time column; add '# fs=<Hz>'")
            return fs_meta
        dt = np.diff(t)
        if (dt <= 0).any():
            k = int(np.flatnonzero(dt <= 0)[0])
            raise FormatError(path, f"the time column does not increase at data row {k + 2} "
                              f"({t[k]:.6g} s then {t[k + 1]:.6g} s)")
        # printed resolution of the time column, from the first data row
        dec = 0
        for ln in [ln for ln in lines[header_idx + 1:header_idx + 40] if ln.strip()]:
            field = ln.split(delim)[j].strip()
            if "e" in field.lower():
                dec = 15
                break
            if "." in field:
                dec = max(dec, len(field.split(".")[1]))
        res = 10.0 ** -dec * scale
        dur = float(t[-1] - t[0])
        fs = (t.size - 1) / dur
        if abs(fs - round(fs)) <= fs * (res / dur) + 1e-9 and round(fs) > 0:
            fs = float(round(fs))
        resid = t - (t[0] + np.arange(t.size) / fs)
        tol = max(0.25 / fs, 0.6 * res)
        worst = int(np.argmax(np.abs(resid)))
        if abs(resid[worst]) > tol:
            k = int(np.argmax(np.abs(dt - 1.0 / fs)))
            raise FormatError(path, f"irregular time column: the step before data row "
                              f"{k + 2} is {dt[k]:.6g} s while rows are {1 / fs:.6g} s apart "
                              "on average (a gap, a jump or jitter). somacore-csv needs evenly "
                              "sampled rows: write lost samples as empty fields or nan, or "
                              "resample first.")
        if fs_meta is not None:
            if abs(fs - fs_meta) > fs_meta * max(1e-3, res / dur):
                raise FormatError(path, f"'# fs={fs_meta:g}' disagrees with the time column "
                                  f"({fs:.6g} Hz)")
            fs = fs_meta
        return fs


class CsvWriter:
    """Writer of ``somacore-csv v1`` files (atomic replace).

    All channels must be regular with one rate, one start time and one length.
    Multi-column channels are written as ``<kind>.<name><i>_<unit>`` columns.
    """

    name = "csv"
    extensions = (".csv",)

    def write(self, recording: Recording, path: Path) -> None:
        """Write ``recording`` to ``path`` (ValueError if it cannot be represented)."""
        chans = list(recording.channels)
        if not chans:
            raise ValueError("cannot write a recording without channels")
        c0 = chans[0]
        for c in chans:
            if c.fs is None:
                raise ValueError(f"channel {c.name!r} is irregular (fs=None); somacore-csv "
                                 "holds evenly sampled channels only")
            if c.fs != c0.fs or len(c) != len(c0) or c.t0 != c0.t0:
                raise ValueError(f"channel {c.name!r} differs from {c0.name!r} in rate, start "
                                 "or length; somacore-csv needs one shared time base")
        names: list[str] = []
        cols: list[np.ndarray] = []
        for c in chans:
            base = c.name if _parse_columns([c.name]) and _COL_RE.match(c.name)["kind"] == c.kind \
                else None
            unit = re.sub(r"[,;\s]", "", c.units) or "au"
            data = c.data.reshape(len(c), -1)
            for k in range(data.shape[1]):
                if base and data.shape[1] == 1:
                    names.append(base)
                else:
                    label = re.sub(r"[^A-Za-z0-9-]", "", c.name) or "ch"
                    label += str(k) if data.shape[1] > 1 else ""
                    names.append(f"{c.kind}.{label}_{unit}")
                cols.append(data[:, k].astype(np.float64))
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate column names {names}; give channels distinct names")
        n = len(c0)
        t = c0.t0 + np.arange(n) / c0.fs
        table = np.column_stack([t, *cols]) if n else np.zeros((0, len(cols) + 1))
        header = [MARKER, f"# fs={c0.fs!r}", f"# t0={c0.t0!r}", ",".join(["time_s", *names])]
        buf = io.StringIO()
        buf.write("\n".join(header) + "\n")
        np.savetxt(buf, table, fmt="%.17g", delimiter=",")
        atomic_write_text(Path(path), buf.getvalue())
