"""EDF / BDF (and EDF+C / BDF+C) reader and writers built on ``edfio``.

Reading
-------
- Accepts EDF (16-bit, version ``"0"``) and BDF (24-bit, ``0xFF "BIOSEMI"``),
  plain or EDF+C/BDF+C. EDF+D/BDF+D (discontinuous records) is refused with a
  clear error: its records are not back to back in time.
- The fixed header is checked before ``edfio`` sees the file: a file shorter
  than its header, or holding fewer data bytes than the header announces
  (a truncated or still-being-written file), raises ``ValueError`` naming the
  file, the bytes expected and the bytes found (``edfio`` itself would
  silently drop the incomplete records).
- Each ordinary signal becomes a :class:`~somacore.signals.Channel` at its own
  rate. The kind comes from the transducer field written by
  :class:`EdfWriter` (``somacore:<kind> ...``), else from the label
  (``ECG``/``EKG`` -> ecg, ``EDA``/``GSR``/``EDR`` -> eda, ``EMG`` -> emg,
  ``RESP``/``THOR``/``ABD``/``FLOW`` -> resp, ``PPG``/``PLETH``/``BVP`` -> ppg,
  ``ACC`` -> acc). Signals of other kinds (EEG, EOG, SpO2...) are skipped and
  listed in ``Recording.meta["skipped"]``; a file with none of ours raises
  ``ValueError`` listing the labels.
- ``t0``: the start date/time (with EDF+ sub-second offset) as a UTC unix time,
  except that a start in 1985 (the first year EDF can express) is read as a
  *relative* clock: ``t0`` = seconds since 1985-01-01 00:00:00. An anonymised
  start date (``Startdate X``) gives ``t0 = 0``.

Writing
-------
- :class:`EdfWriter` (16-bit, ``.edf``) and :class:`BdfWriter` (24-bit,
  ``.bdf``); atomic (temporary file in the target folder, then
  :func:`os.replace`).
- Every channel must be regular (``fs`` set) and all must share ``t0``; an
  irregular channel (e.g. ``rr`` intervals) raises ``ValueError``: EDF has no
  place for per-sample times.
- Samples are quantised to the file's resolution: the physical range is the
  channel's finite min/max (written in the 8-character header fields, rounded
  outwards), so a sample is reproduced to within half a digital step,
  ``(max - min) / 65534`` for EDF and ``/ 16777214`` for BDF.
- Lost samples (NaN) are written as the lowest digital value (-32768 /
  -8388608), which is reserved for them; the transducer field says so
  (``nan=dmin``) and the reader turns them back into NaN (only for files
  marked that way).
- Signals are padded to whole data records (record duration from the rates:
  1 s for integer rates) and the true length is kept in the transducer field
  (``n=<samples>``), so a round trip gives the same lengths. Multi-column
  channels (``acc``) are written as one signal per column (``col=<i>/<k>``) and
  regrouped on reading.
- A unix ``t0`` is written as its UTC date and time (microseconds via an
  EDF+C time-keeping signal); a relative ``t0`` (before 1985) as 1985-01-01
  plus ``t0`` (see above).
- Labels are the channel names cut to 16 characters; units are ASCII
  (``µ`` becomes ``u``) cut to 8 characters.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import re
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from somacore.signals import KINDS, Channel, Recording

__all__ = ["BdfWriter", "EdfReader", "EdfWriter", "read_header"]

_EDF_MAGIC = b"0       "
_BDF_MAGIC = b"\xffBIOSEMI"
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_REL_EPOCH = dt.datetime(1985, 1, 1, tzinfo=dt.UTC)
_REL_LIMIT = (_REL_EPOCH - _EPOCH).total_seconds()  # 473385600
_MAX_DATE = dt.datetime(2084, 12, 31, 23, 59, 59, tzinfo=dt.UTC)

_LABEL_KINDS = (
    ("ecg", ("ECG", "EKG")),
    ("eda", ("EDA", "GSR", "EDR", "SCL", "SKIN COND")),
    ("emg", ("EMG",)),
    ("ppg", ("PPG", "PLETH", "BVP")),
    ("resp", ("RESP", "THOR", "ABD", "FLOW", "BREATH")),
    ("acc", ("ACC",)),
)
_TRANSDUCER_RE = re.compile(r"^somacore:(?P<kind>[a-z]+)(?P<rest>.*)$")


def _error(path: Path, problem: str) -> ValueError:
    return ValueError(f"{path}: {problem}")


def read_header(path: Path) -> dict[str, Any]:
    """Parse and check the fixed EDF/BDF header of ``path``.

    Returns
    -------
    dict
        ``format`` ("EDF"/"BDF"), ``reserved``, ``n_records``, ``record_s``,
        ``n_signals``, ``labels``, ``samples_per_record``, ``header_bytes``,
        ``bytes_per_sample``.

    Raises
    ------
    FileNotFoundError
        If ``path`` is not a file.
    ValueError
        Naming the file, for a foreign, corrupt or truncated file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(256)
        if len(head) < 256:
            raise _error(path, f"not an EDF/BDF file or truncated: {len(head)} bytes, the fixed "
                         "header alone is 256 bytes")
        magic = head[:8]
        if magic not in (_EDF_MAGIC, _BDF_MAGIC):
            raise _error(path, f"not an EDF/BDF file (version field {magic!r})")
        fmt = "EDF" if magic == _EDF_MAGIC else "BDF"
        try:
            header_bytes = int(head[184:192].decode("ascii").strip())
            reserved = head[192:236].decode("ascii", "replace").strip()
            n_records = int(head[236:244].decode("ascii").strip())
            record_s = float(head[244:252].decode("ascii").strip())
            ns = int(head[252:256].decode("ascii").strip())
        except ValueError:
            raise _error(path, "corrupt header: a numeric field of the fixed header is not a "
                         "number") from None
        if ns < 1 or header_bytes != 256 * (ns + 1):
            raise _error(path, f"corrupt header: {ns} signals but {header_bytes} header bytes "
                         f"(expected {256 * (ns + 1)})")
        rest = f.read(256 * ns)
    if len(rest) < 256 * ns:
        raise _error(path, f"truncated: the header announces {header_bytes} bytes but the file "
                     f"has only {size}")

    def field(offset: int, width: int) -> list[str]:
        base = offset * ns
        return [rest[base + i * width: base + (i + 1) * width].decode("ascii", "replace")
                .strip() for i in range(ns)]

    labels = field(0, 16)
    try:
        spr = [int(v) for v in field(16 + 80 + 8 + 8 + 8 + 8 + 8 + 80, 8)]
    except ValueError:
        raise _error(path, "corrupt header: samples-per-record field is not a number") from None
    bps = 2 if fmt == "EDF" else 3
    rec_bytes = sum(spr) * bps
    data = size - header_bytes
    if n_records < 0:  # -1: unknown (recording in progress)
        n_records = data // rec_bytes if rec_bytes else 0
    expected = n_records * rec_bytes
    if data < expected:
        raise _error(path, f"truncated: the header announces {n_records} data records "
                     f"({expected} bytes) but the file holds {max(data, 0)} bytes of data "
                     f"({max(data, 0) // rec_bytes if rec_bytes else 0} complete records)")
    return {"format": fmt, "reserved": reserved, "n_records": n_records, "record_s": record_s,
            "n_signals": ns, "labels": labels, "samples_per_record": spr,
            "header_bytes": header_bytes, "bytes_per_sample": bps}


def _kind_from_label(label: str) -> str | None:
    up = label.upper()
    for kind, keys in _LABEL_KINDS:
        if any(k in up for k in keys):
            return kind
    return None


def _parse_transducer(text: str) -> dict[str, str] | None:
    m = _TRANSDUCER_RE.match(text.strip())
    if m is None or m["kind"] not in KINDS:
        return None
    out = {"kind": m["kind"]}
    for tok in m["rest"].split():
        k, _, v = tok.partition("=")
        out[k] = v
    return out


class EdfReader:
    """Reader of EDF and BDF files (see the module docs)."""

    name = "edf"
    extensions = (".edf", ".bdf", ".rec")

    def sniff(self, path: Path) -> bool:
        """True if the file starts with a valid EDF/BDF fixed header (never raises)."""
        try:
            p = Path(path)
            if not p.is_file():
                return False
            with open(p, "rb") as f:
                head = f.read(256)
            if len(head) < 256 or head[:8] not in (_EDF_MAGIC, _BDF_MAGIC):
                return False
            ns = int(head[252:256].decode("ascii").strip())
            return ns >= 1 and int(head[184:192].decode("ascii").strip()) == 256 * (ns + 1)
        except (OSError, ValueError, UnicodeDecodeError):
            return False

    def read(self, path: Path) -> Recording:
        """Read ``path`` into a Recording (ValueError naming the file on any problem)."""
        import edfio

        path = Path(path)
        hdr = read_header(path)
        if hdr["reserved"].upper().startswith(("EDF+D", "BDF+D")):
            raise _error(path, f"{hdr['reserved'][:5]} (discontinuous records) is not supported;"
                         " convert it to continuous EDF+C first")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                f = (edfio.read_edf(path, lazy_load_data=False) if hdr["format"] == "EDF"
                     else edfio.read_bdf(path))
        except Exception as exc:
            raise _error(path, f"edfio could not read it: {type(exc).__name__}: {exc}") from exc
        t0 = self._t0(f)
        chans: list[Channel] = []
        skipped: list[str] = []
        pending: list[tuple[dict[str, str], Any]] = []

        def flush() -> None:
            if not pending:
                return
            info, first = pending[0]
            cols = [self._data(s, i) for i, s in pending]
            name = first.label.rsplit(":", 1)[0] if len(pending) > 1 else first.label
            chans.append(Channel(np.column_stack(cols) if len(cols) > 1 else cols[0],
                                 first.sampling_frequency, info["kind"],
                                 first.physical_dimension or "au", t0=t0, name=name))
            pending.clear()

        for s in f.signals:
            info = _parse_transducer(s.transducer_type)
            if info is None:
                kind = _kind_from_label(s.label)
                if kind is None:
                    skipped.append(s.label)
                    continue
                info = {"kind": kind}
            col = info.get("col", "")
            if pending and (not col or col.startswith("0/")):
                flush()
            pending.append((info, s))
            if not col:
                flush()
        flush()
        if not chans:
            raise _error(path, f"no ecg/ppg/resp/eda/emg/acc signal among {hdr['labels']} "
                         "(kinds are read from somacore transducer fields or from the labels)")
        return Recording(tuple(chans), source=str(path),
                         meta={"format": hdr["format"], "reserved": hdr["reserved"],
                               "skipped": skipped, "record_s": hdr["record_s"]})

    @staticmethod
    def _data(sig: Any, info: dict[str, str]) -> np.ndarray:
        x = np.asarray(sig.data, dtype=np.float64)
        if info.get("nan") == "dmin":
            x = x.copy()
            x[np.asarray(sig.digital) == sig.digital_min] = np.nan
        n = info.get("n")
        if n is not None and n.isdigit() and int(n) <= x.size:
            x = x[: int(n)]
        return x

    @staticmethod
    def _t0(f: Any) -> float:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                start = f.startdatetime.replace(tzinfo=dt.UTC)
        except Exception:  # anonymised or malformed date
            return 0.0
        if start.year == 1985:
            return (start - _REL_EPOCH).total_seconds()
        return (start - _EPOCH).total_seconds()


def _fmt8(v: float, up: bool) -> float:
    """The value of an 8-character header field nearest ``v`` on the outer side."""
    for d in range(7, -1, -1):
        q = 10.0 ** d
        r = (math.ceil(v * q - 1e-9) if up else math.floor(v * q + 1e-9)) / q
        s = f"{r:.{d}f}"
        if len(s) <= 8:
            return float(s)
    raise ValueError(f"value {v:g} does not fit an 8-character EDF header field; rescale the "
                     "channel's units")


def _ascii(text: str, width: int) -> str:
    text = text.replace("µ", "u").replace("μ", "u")
    return text.encode("ascii", "replace").decode("ascii")[:width]


class EdfWriter:
    """Writer of 16-bit EDF files (see the module docs)."""

    name = "edf"
    extensions = (".edf",)
    _bdf = False

    def write(self, recording: Recording, path: Path) -> None:
        """Write ``recording`` to ``path`` atomically (ValueError if not representable)."""
        import edfio

        path = Path(path)
        chans = list(recording.channels)
        if not chans:
            raise ValueError("cannot write a recording without channels")
        for c in chans:
            if c.fs is None:
                raise ValueError(f"channel {c.name!r} ({c.kind}) is irregular (fs=None); EDF "
                                 "stores evenly sampled signals only")
            if c.t0 != chans[0].t0:
                raise ValueError(f"channel {c.name!r} starts at t0={c.t0} but "
                                 f"{chans[0].name!r} at {chans[0].t0}; EDF has one start time")
        cls = edfio.BdfSignal if self._bdf else edfio.EdfSignal
        dmin, dmax = (-8388608, 8388607) if self._bdf else (-32768, 32767)
        dtype = np.int32 if self._bdf else np.int16
        fracs = [_rate_fraction(c.fs) for c in chans]
        record_s = float(math.lcm(*(d for _, d in fracs)))
        n_records = max(1, *(math.ceil(len(c) / round(c.fs * record_s)) for c in chans))
        signals = []
        labels: set[str] = set()
        for c in chans:
            per_record = round(c.fs * record_s)
            data = c.data.reshape(len(c), -1).astype(np.float64)
            k = data.shape[1]
            for j in range(k):
                x = data[:, j]
                label = _ascii(c.name or c.kind, 16 if k == 1 else 16 - len(f":{j}"))
                label = label + (f":{j}" if k > 1 else "")
                if label in labels:
                    raise ValueError(f"two signals would be labelled {label!r} (labels are cut "
                                     "to 16 characters); give channels distinct names")
                labels.add(label)
                pad = np.full(n_records * per_record - x.size, dmin, dtype=dtype)
                tr = f"somacore:{c.kind} n={x.size} nan=dmin" + (f" col={j}/{k}" if k > 1
                                                                   else "")
                prange = self._range(x, dmin, dmax)
                for _ in range(2):
                    # edfio re-rounds the physical range to its 8-character fields (and may
                    # land one unit off); quantise again with what it will write
                    sig = cls.from_digital(
                        np.concatenate([self._digital(x, prange, dmin, dmax, dtype), pad]),
                        c.fs, label=label, transducer_type=tr,
                        physical_dimension=_ascii(c.units, 8), physical_range=prange,
                        digital_range=(dmin, dmax))
                    written = (float(sig.physical_min), float(sig.physical_max))
                    if written == prange:
                        break
                    prange = written
                signals.append(sig)
        start = self._start(chans[0].t0)
        kw: dict[str, Any] = {"data_record_duration": record_s,
                              "starttime": start.time().replace(tzinfo=None),
                              "recording": edfio.Recording(startdate=start.date())}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # edfio announces EDF+C for sub-second starts
            f = (edfio.Bdf if self._bdf else edfio.Edf)(signals, **kw)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp",
                                   dir=path.parent or ".")
        os.close(fd)
        try:
            f.write(Path(tmp))
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @staticmethod
    def _range(x: np.ndarray, dmin: int, dmax: int) -> tuple[float, float]:
        """Physical range for ``x``: its finite min/max, one digital step lower (for NaN)."""
        fin = np.isfinite(x)
        lo, hi = (float(x[fin].min()), float(x[fin].max())) if fin.any() else (0.0, 1.0)
        if hi - lo < 1e-12 * max(1.0, abs(lo)):
            lo, hi = lo - 1.0, hi + 1.0
        step = (hi - lo) / (dmax - dmin - 1)  # dmin is reserved for NaN
        return _fmt8(lo - step, up=False), _fmt8(hi, up=True)

    @staticmethod
    def _digital(x: np.ndarray, prange: tuple[float, float], dmin: int, dmax: int,
                 dtype: type) -> np.ndarray:
        pmin, pmax = prange
        gain = (pmax - pmin) / (dmax - dmin)
        fin = np.isfinite(x)
        d = np.full(x.size, dmin, dtype=np.float64)
        d[fin] = np.clip(np.round((x[fin] - pmin) / gain + dmin), dmin + 1, dmax)
        return d.astype(dtype)

    @staticmethod
    def _start(t0: float) -> dt.datetime:
        if 0 <= t0 < _REL_LIMIT:
            when = _REL_EPOCH + dt.timedelta(seconds=t0)
            if when.year != 1985:
                raise ValueError(f"relative t0={t0} s exceeds one year; EDF cannot hold it")
            return when
        when = _EPOCH + dt.timedelta(seconds=t0)
        if not (dt.datetime(1986, 1, 1, tzinfo=dt.UTC) <= when <= _MAX_DATE):
            raise ValueError(f"t0={t0} ({when:%Y-%m-%d}) is outside the dates EDF can hold "
                             "(1986-2084 for absolute times)")
        return when


class BdfWriter(EdfWriter):
    """Writer of 24-bit BDF files (same conventions as :class:`EdfWriter`)."""

    name = "bdf"
    extensions = (".bdf",)
    _bdf = True


def _rate_fraction(fs: float) -> tuple[int, int]:
    """``fs`` as a fraction ``(numerator, denominator)`` with a small denominator."""
    from fractions import Fraction

    fr = Fraction(fs).limit_denominator(1000)
    if abs(float(fr) - fs) > 1e-9 * fs:
        raise ValueError(f"sampling rate {fs!r} Hz is not a simple fraction; EDF needs a whole "
                         "number of samples per data record")
    return fr.numerator, fr.denominator
