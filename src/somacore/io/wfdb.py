"""Numpy-only reader for PhysioNet WFDB records and MIT-format annotation files.

No SciPy and no ``wfdb`` package are needed at run time. Signal files are read
with :func:`numpy.fromfile` (or :class:`numpy.memmap`) and unpacked with
vectorised integer arithmetic; nothing is routed through Python lists.

Supported
---------
* Header (``.hea``) files of single-segment records, including comment lines
  anywhere, blank lines, CRLF line endings, ``fs/counter_freq(base_counter)``
  on the record line, and ``FMTxSPF:SKEW+OFFSET`` and ``GAIN(BASELINE)/UNITS``
  on signal lines.
* Signal formats 16, 61, 80, 160, 212, 24 and 32, any number of signals
  interleaved per file, several signal files per record, byte offsets (e.g. the
  ``.mat`` signal files of the PhysioNet/CinC 2015 challenge, declared as
  ``16+24``), skew and multiple samples per frame.
* MIT-format annotation files (``.atr`` and friends) with the SKIP, NUM, SUB,
  CHN and AUX pseudo-annotations, the ``## time resolution`` note and custom
  annotation-type definitions.

Integrity
---------
Every read is checked so that a damaged record fails loudly instead of giving
plausible but wrong numbers: missing files raise :class:`FileNotFoundError`, a
signal file shorter than the header declares raises :class:`ValueError` with the
expected and found sizes, and the per-signal checksums of the header (16-bit sum
of all stored samples of the signal) are verified.
"""

from __future__ import annotations

import errno
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path

import numpy as np

from somacore._arrays import readonly

__all__ = [
    "ANNOTATION_SYMBOLS",
    "BEAT_SYMBOLS",
    "Annotations",
    "WfdbRecord",
    "beat_annotations",
    "read_annotations",
    "read_wfdb",
]

PathType = str | PathLike[str]

#: Default ADC gain (adu per physical unit) when the header gives none or 0.
DEFAULT_GAIN = 200.0

#: Annotation symbols that count as beats for QRS-detector scoring (ANSI/AAMI EC57).
BEAT_SYMBOLS = frozenset("NLRBAaJSVrFejnE/fQ?")

#: Standard WFDB annotation codes (``anntyp``) and their mnemonic symbols.
ANNOTATION_SYMBOLS: dict[int, str] = {
    0: " ", 1: "N", 2: "L", 3: "R", 4: "a", 5: "V", 6: "F", 7: "J", 8: "A", 9: "S",
    10: "E", 11: "j", 12: "/", 13: "Q", 14: "~", 16: "|", 18: "s", 19: "T", 20: "*",
    21: "D", 22: '"', 23: "=", 24: "p", 25: "B", 26: "^", 27: "t", 28: "+", 29: "u",
    30: "?", 31: "!", 32: "[", 33: "]", 34: "e", 35: "n", 36: "@", 37: "x", 38: "f",
    39: "(", 40: ")", 41: "r",
}

# MIT annotation pseudo-codes
_SKIP, _NUM, _SUB, _CHN, _AUX = 59, 60, 61, 62, 63
_NOTE = 22


# ----------------------------------------------------------------------------------
# signal formats
# ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Format:
    bits: int  # storage bits per sample
    invalid: int  # digital value that marks a missing sample
    adc_res: int  # default ADC resolution
    dtype: type  # integer dtype of the decoded digital samples


_FORMATS: dict[str, _Format] = {
    "80": _Format(8, -(2**7), 8, np.int16),
    "16": _Format(16, -(2**15), 16, np.int16),
    "61": _Format(16, -(2**15), 16, np.int16),
    "160": _Format(16, -(2**15), 16, np.int16),
    "212": _Format(12, -(2**11), 12, np.int16),
    "24": _Format(24, -(2**23), 24, np.int32),
    "32": _Format(32, -(2**31), 32, np.int32),
}
_SUPPORTED = ", ".join(sorted(_FORMATS, key=int))


def _n_bytes(fmt: str, n_flat: int) -> int:
    """Bytes that hold ``n_flat`` samples stored in format ``fmt``."""
    return (n_flat * _FORMATS[fmt].bits + 7) // 8


def _n_whole_samples(fmt: str, n_bytes: int) -> int:
    """Complete samples contained in ``n_bytes`` bytes of format ``fmt``."""
    return (n_bytes * 8) // _FORMATS[fmt].bits


def _decode(path: Path, fmt: str, offset: int, n_flat: int, mmap: bool) -> np.ndarray:
    """Read ``n_flat`` consecutive samples (all signals, flattened) from ``path``."""
    nbytes = _n_bytes(fmt, n_flat)
    if mmap:
        if n_flat == 0:
            return np.zeros(0, _FORMATS[fmt].dtype)
        if fmt in ("16", "32") and np.little_endian:
            dt = np.dtype("<i2" if fmt == "16" else "<i4")
            return np.memmap(path, dtype=dt, mode="r", offset=offset, shape=(n_flat,))
        raw = np.memmap(path, dtype=np.uint8, mode="r", offset=offset, shape=(nbytes,))
    else:
        if fmt == "16":
            return np.fromfile(path, dtype="<i2", count=n_flat, offset=offset).astype(
                np.int16, copy=False)
        if fmt == "32":
            return np.fromfile(path, dtype="<i4", count=n_flat, offset=offset).astype(
                np.int32, copy=False)
        raw = np.fromfile(path, dtype=np.uint8, count=nbytes, offset=offset)
    if fmt == "16":
        return raw.view("<i2").astype(np.int16)
    if fmt == "32":
        return raw.view("<i4").astype(np.int32)
    if fmt == "61":
        return raw.view(">i2").astype(np.int16)
    if fmt == "80":
        return (raw.astype(np.int16) - 128).astype(np.int16)
    if fmt == "160":
        return (raw.view("<u2").astype(np.int32) - 32768).astype(np.int16)
    if fmt == "24":
        b = raw.reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        return ((v ^ 0x800000) - 0x800000).astype(np.int32)
    if fmt == "212":
        # Two 12-bit samples in three bytes: byte0 = low 8 bits of s0, low nibble of
        # byte1 = high 4 bits of s0, high nibble of byte1 = high 4 bits of s1,
        # byte2 = low 8 bits of s1. Values are 12-bit two's complement.
        n_blocks = (n_flat + 1) // 2
        if raw.size < 3 * n_blocks:  # odd sample count: last block is 2 bytes long
            raw = np.concatenate([raw, np.zeros(3 * n_blocks - raw.size, np.uint8)])
        b = raw[: 3 * n_blocks].reshape(n_blocks, 3).astype(np.int16)
        out = np.empty(2 * n_blocks, np.int16)
        out[0::2] = b[:, 0] | ((b[:, 1] & 0x0F) << 8)
        out[1::2] = b[:, 2] | ((b[:, 1] & 0xF0) << 4)
        out ^= 0x800
        out -= 0x800
        return out[:n_flat]
    raise AssertionError(fmt)  # pragma: no cover - formats are checked at parse time


# ----------------------------------------------------------------------------------
# header
# ----------------------------------------------------------------------------------

_NUM_RE = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_FS_RE = re.compile(rf"^(?P<fs>{_NUM_RE})(?:/(?P<cf>{_NUM_RE})(?:\((?P<bc>{_NUM_RE})\))?)?$")
_FMT_RE = re.compile(r"^(?P<fmt>\d+)(?:x(?P<spf>\d+))?(?::(?P<skew>\d+))?(?:\+(?P<off>\d+))?$")
_GAIN_RE = re.compile(rf"^(?P<gain>{_NUM_RE})(?:\((?P<baseline>[-+]?\d+)\))?(?:/(?P<units>\S*))?$")
_INT_RE = re.compile(r"^[-+]?\d+$")


@dataclass(frozen=True)
class _Signal:
    file_name: str
    fmt: str
    spf: int
    skew: int
    offset: int
    gain: float
    baseline: int
    units: str
    adc_res: int
    adc_zero: int
    init_value: int
    checksum: int | None
    block_size: int
    description: str


@dataclass(frozen=True)
class _Header:
    path: Path
    name: str
    n_sig: int
    fs: float | None
    counter_freq: float | None
    base_counter: float | None
    n_samples: int | None
    base_time: str | None
    base_date: str | None
    signals: tuple[_Signal, ...]
    comments: tuple[str, ...]


def _header_path(path: PathType) -> Path:
    p = Path(path)
    if p.name.endswith(".hea"):
        return p
    return p.with_name(p.name + ".hea")


def _parse_header(hea: Path) -> _Header:
    if not hea.is_file():
        raise FileNotFoundError(
            errno.ENOENT,
            "WFDB header not found (pass the record path without extension, e.g. "
            "'data/mitdb/100', or the .hea file itself)",
            str(hea),
        )
    text = hea.read_bytes().decode("latin-1")

    def bad(lineno: int, what: str) -> ValueError:
        return ValueError(f"{hea}, line {lineno}: {what}. The header is malformed; compare it "
                          "with the WFDB header(5) specification.")

    comments: list[str] = []
    lines: list[tuple[int, str]] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        s = line.strip()
        if not s:
            continue
        if s.startswith("#"):
            comments.append(s[1:].strip())
            continue
        lines.append((lineno, s))
    if not lines:
        raise ValueError(f"{hea}: the header has no record line (file is empty or only "
                         "comments); it is not a WFDB header.")

    lineno, rec = lines[0]
    tok = rec.split()
    if len(tok) < 2:
        raise bad(lineno, f"record line {rec!r} needs at least a record name and a signal count")
    name = tok[0]
    if "/" in name:
        raise ValueError(
            f"{hea}: {name!r} is a multi-segment record, which read_wfdb does not support. "
            "Read its segment records (listed in the header) one by one.")
    if not tok[1].isdigit():
        raise bad(lineno, f"number of signals {tok[1]!r} is not a non-negative integer")
    n_sig = int(tok[1])
    fs = cf = bc = None
    n_samples = None
    base_time = base_date = None
    if len(tok) > 2:
        m = _FS_RE.match(tok[2])
        if m is None:
            raise bad(lineno, f"sampling frequency {tok[2]!r} is not of the form "
                              "FS[/COUNTER_FREQ[(BASE_COUNTER)]]")
        fs = float(m["fs"])
        cf = float(m["cf"]) if m["cf"] else None
        bc = float(m["bc"]) if m["bc"] else None
        if not fs > 0:
            raise bad(lineno, f"sampling frequency {fs!r} must be positive")
    if len(tok) > 3:
        if not tok[3].isdigit():
            raise bad(lineno, f"number of samples {tok[3]!r} is not a non-negative integer")
        n_samples = int(tok[3])
    if len(tok) > 4:
        base_time = tok[4]
    if len(tok) > 5:
        base_date = tok[5]

    sig_lines = lines[1:]
    if len(sig_lines) != n_sig:
        raise ValueError(
            f"{hea}: the record line declares {n_sig} signal(s) but the header has "
            f"{len(sig_lines)} signal line(s). The header is malformed or truncated.")
    signals = [_parse_signal_line(s, ln, hea) for ln, s in sig_lines]
    return _Header(hea, name, n_sig, fs, cf, bc, n_samples, base_time, base_date,
                   tuple(signals), tuple(comments))


def _parse_signal_line(line: str, lineno: int, hea: Path) -> _Signal:
    def bad(what: str) -> ValueError:
        return ValueError(f"{hea}, line {lineno}: {what}. The header is malformed; compare it "
                          "with the WFDB header(5) specification.")

    tok = line.split(maxsplit=8)
    if len(tok) < 2:
        raise bad(f"signal line {line!r} needs at least a file name and a format")
    file_name = tok[0]
    m = _FMT_RE.match(tok[1])
    if m is None:
        raise bad(f"format field {tok[1]!r} is not of the form FMT[xSPF][:SKEW][+OFFSET]")
    fmt = m["fmt"]
    if fmt not in _FORMATS:
        raise ValueError(
            f"{hea}, line {lineno}: signal format {fmt} is not supported by this reader "
            f"(supported: {_SUPPORTED}). Convert the record with WFDB 'xform -f 16' "
            "or read it with the wfdb package.")
    spf = int(m["spf"]) if m["spf"] else 1
    if spf < 1:
        raise bad("samples per frame must be at least 1")
    skew = int(m["skew"]) if m["skew"] else 0
    offset = int(m["off"]) if m["off"] else 0

    gain, baseline, units = DEFAULT_GAIN, None, "mV"
    if len(tok) > 2:
        g = _GAIN_RE.match(tok[2])
        if g is None:
            raise bad(f"gain field {tok[2]!r} is not of the form GAIN[(BASELINE)][/UNITS]")
        gain = float(g["gain"])
        if gain == 0:
            gain = DEFAULT_GAIN
        if g["baseline"] is not None:
            baseline = int(g["baseline"])
        if g["units"]:
            units = g["units"]

    ints = []
    for i, label in ((3, "ADC resolution"), (4, "ADC zero"), (5, "initial value"),
                     (6, "checksum"), (7, "block size")):
        if len(tok) > i:
            if not _INT_RE.match(tok[i]):
                raise bad(f"{label} {tok[i]!r} is not an integer")
            ints.append(int(tok[i]))
        else:
            ints.append(None)
    adc_res, adc_zero, init_value, checksum, block_size = ints
    adc_zero = 0 if adc_zero is None else adc_zero
    return _Signal(
        file_name=file_name, fmt=fmt, spf=spf, skew=skew, offset=offset, gain=gain,
        baseline=adc_zero if baseline is None else baseline, units=units,
        adc_res=_FORMATS[fmt].adc_res if not adc_res else adc_res, adc_zero=adc_zero,
        init_value=adc_zero if init_value is None else init_value, checksum=checksum,
        block_size=block_size or 0, description=tok[8].strip() if len(tok) > 8 else "",
    )


# ----------------------------------------------------------------------------------
# record
# ----------------------------------------------------------------------------------




@dataclass(frozen=True, eq=False)
class WfdbRecord:
    """Signals and metadata of one WFDB record.

    Attributes
    ----------
    name : str
        Record name from the header.
    fs : float
        Sampling rate in Hz of the rows of :attr:`signals` (the frame rate, times
        the samples per frame when expanded frames were requested).
    signals : ndarray, shape (n_samples, n_sig)
        Physical values as float64 (``(digital - baseline) / gain``, NaN for
        invalid samples) or, with ``physical=False``, the digital ADC values as
        int16 (formats 80, 16, 61, 160, 212) or int32 (formats 24, 32). Read-only.
    sig_names : tuple of str
        Signal descriptions from the header (may repeat, e.g. ``("ECG", "ECG")``).
    units : tuple of str
        Physical units per signal (``"mV"`` when the header gives none).
    gains : ndarray of float64, shape (n_sig,)
        ADC gain in adu per physical unit (a header gain of 0 means 200).
    baselines : ndarray of int64, shape (n_sig,)
        Digital value of physical zero (the ADC zero unless given explicitly).
    n_samples : int
        Number of rows of :attr:`signals`.
    comments : tuple of str
        Header comment lines, without the leading ``#``.
    formats : tuple of str
        WFDB storage format per signal.
    samps_per_frame : tuple of int
        Samples per frame per signal as stored in the file.
    invalid_values : ndarray of int64, shape (n_sig,)
        Digital value marking a missing sample, per signal (its format's minimum).
    physical : bool
        Whether :attr:`signals` holds physical (True) or digital (False) values.
    counter_freq, base_time, base_date
        Optional record-line fields, None when absent.
    """

    name: str
    fs: float
    signals: np.ndarray
    sig_names: tuple[str, ...]
    units: tuple[str, ...]
    gains: np.ndarray
    baselines: np.ndarray
    n_samples: int
    comments: tuple[str, ...] = ()
    formats: tuple[str, ...] = ()
    samps_per_frame: tuple[int, ...] = ()
    invalid_values: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    physical: bool = True
    counter_freq: float | None = None
    base_time: str | None = None
    base_date: str | None = None

    @property
    def n_sig(self) -> int:
        """Number of signals (columns of :attr:`signals`)."""
        return int(self.signals.shape[1])

    def channel(self, key: int | str) -> np.ndarray:
        """One signal as a 1-D (read-only) view of :attr:`signals`.

        Parameters
        ----------
        key : int or str
            Column index, or signal name (must be unique in the record).
        """
        return self.signals[:, _resolve_channel(key, self.sig_names, where=f"record {self.name}")]

    def __repr__(self) -> str:
        kind = "physical" if self.physical else "digital"
        return (f"WfdbRecord(name={self.name!r}, fs={self.fs:g} Hz, n_samples={self.n_samples}, "
                f"signals={list(self.sig_names)}, {kind})")


def _resolve_channel(key: int | str, names: Sequence[str], *, where: str) -> int:
    if isinstance(key, str):
        hits = [i for i, n in enumerate(names) if n == key]
        if not hits:
            raise ValueError(f"{where} has no signal named {key!r}; available: {list(names)}.")
        if len(hits) > 1:
            raise ValueError(f"signal name {key!r} is ambiguous in {where} (columns {hits}); "
                             "select the channel by index instead.")
        return hits[0]
    if isinstance(key, (bool, np.bool_)) or not isinstance(key, (int, np.integer)):
        raise ValueError(f"a channel must be an int index or a str name, got {key!r}.")
    if not 0 <= int(key) < len(names):
        raise ValueError(f"channel index {key} is out of range for {where}, which has "
                         f"{len(names)} signal(s) {list(names)}.")
    return int(key)


def read_wfdb(
    path: PathType,
    *,
    channels: Sequence[int | str] | int | str | None = None,
    physical: bool = True,
    mmap: bool = False,
    fs: float | None = None,
    smooth_frames: bool = True,
    verify_checksums: bool = True,
) -> WfdbRecord:
    """Read a single-segment WFDB record (header plus signal files).

    Parameters
    ----------
    path : str or path-like
        Record path without extension (``"data/mitdb/100"``), or the ``.hea`` file.
        Signal files are looked up next to the header.
    channels : sequence of int or str, int, str, optional
        Signals to read, by index or name, in the order wanted. Default: all.
        Signal files holding none of them are not opened.
    physical : bool, default True
        Return physical values as float64 (NaN where the sample is invalid) instead
        of the digital ADC values.
    mmap : bool, default False
        Memory-map the signal files instead of reading them. With
        ``physical=False``, format 16 or 32 files and channels that form a
        contiguous run of one file's signals (one sample per frame, no skew),
        :attr:`WfdbRecord.signals` is a read-only view on the map (no copy).
        Combine with ``verify_checksums=False`` to avoid touching the data at all.
    fs : float, optional
        Sampling rate in Hz, required only if the header lacks one (WFDB would then
        silently assume 250 Hz; this reader refuses to guess). If both are given
        they must agree.
    smooth_frames : bool, default True
        For signals stored with several samples per frame: True averages each
        frame's samples (integer average truncated toward zero, as the WFDB
        library's ``getvec`` and ``wfdb.rdrecord`` do; a frame containing an invalid
        sample is invalid). False returns every stored sample; this requires all
        selected channels to have the same samples per frame ``k``, and the record
        is then returned at ``k * fs`` Hz.
    verify_checksums : bool, default True
        Check the per-signal checksums given in the header.

    Returns
    -------
    WfdbRecord

    Raises
    ------
    FileNotFoundError
        If the header or a needed signal file does not exist.
    ValueError
        If the header is malformed, lacks a sampling rate (and ``fs`` is not given),
        uses an unsupported format, a signal file is shorter than the header
        declares, or a checksum does not match (corrupt or truncated data).

    Notes
    -----
    A skewed signal (``FMT:SKEW``) is aligned as WFDB does: its sample ``i`` is the
    stored sample of frame ``i + skew``; samples past the end of the file are
    invalid (NaN). Checksums cover the stored samples of the first ``n_samples``
    frames, as written by WFDB.
    """
    hdr = _parse_header(_header_path(path))
    rec_fs = _record_fs(hdr, fs)
    n_sig = hdr.n_sig
    names = tuple(s.description for s in hdr.signals)
    if channels is None:
        sel = list(range(n_sig))
    else:
        if isinstance(channels, (str, int, np.integer)):
            channels = [channels]
        sel = [_resolve_channel(c, names, where=f"record {hdr.name} ({hdr.path})")
               for c in channels]

    spfs = {hdr.signals[i].spf for i in sel}
    if not smooth_frames and len(spfs) > 1:
        detail = ", ".join(f"{names[i] or i}: {hdr.signals[i].spf}" for i in sel)
        raise ValueError(
            f"smooth_frames=False needs channels with equal samples per frame, but "
            f"record {hdr.name} has {detail}. Read them separately with channels=[...], "
            "or pass smooth_frames=True to average them to the frame rate.")
    expand = 1 if smooth_frames or not sel else next(iter(spfs))

    # group signals by file, keeping header order within a file
    files: dict[str, list[int]] = {}
    for i, s in enumerate(hdr.signals):
        files.setdefault(s.file_name, []).append(i)

    n_samples = hdr.n_samples
    columns: dict[int, np.ndarray] = {}
    view: np.ndarray | None = None
    one_file = len({hdr.signals[i].file_name for i in sel}) == 1
    for fname, members in files.items():
        wanted = [i for i in members if i in sel]
        if not wanted:
            continue
        frames, n_samples = _read_file(hdr, fname, members, n_samples, mmap)
        col0 = np.cumsum([0] + [hdr.signals[i].spf for i in members])
        if verify_checksums:
            _verify_checksums(hdr, fname, members, frames[:n_samples], col0, set(wanted))
        # zero-copy path: the selected channels are a contiguous run of plain columns
        if mmap and not physical and one_file and isinstance(frames, np.memmap):
            pos = [members.index(i) for i in sel]
            if (all(hdr.signals[i].spf == 1 and hdr.signals[i].skew == 0 for i in sel)
                    and pos == list(range(pos[0], pos[0] + len(pos)))):
                c0 = int(col0[pos[0]])
                view = frames[:n_samples, c0:c0 + len(pos)]
                break
        for i in wanted:
            p = members.index(i)
            columns[i] = _extract(hdr.signals[i], frames, int(col0[p]), n_samples, expand)

    if n_samples is None:  # no channel selected and no length in the header
        n_samples = 0
    sig = [hdr.signals[i] for i in sel]
    out_dtype = np.int32 if any(_FORMATS[s.fmt].dtype is np.int32 for s in sig) else np.int16
    n_rows = n_samples * expand
    if view is not None:
        digital = view
    else:
        digital = np.empty((n_rows, len(sel)), dtype=out_dtype)
        for k, i in enumerate(sel):
            digital[:, k] = columns[i]
    gains = np.array([s.gain for s in sig], dtype=np.float64)
    baselines = np.array([s.baseline for s in sig], dtype=np.int64)
    invalid = np.array([_FORMATS[s.fmt].invalid for s in sig], dtype=np.int64)
    if physical:
        signals = digital.astype(np.float64)
        np.subtract(signals, baselines, out=signals)
        np.divide(signals, gains, out=signals)
        signals[digital == invalid] = np.nan
    else:
        signals = digital
    return WfdbRecord(
        name=hdr.name,
        fs=rec_fs * expand,
        signals=readonly(signals),
        sig_names=tuple(s.description for s in sig),
        units=tuple(s.units for s in sig),
        gains=readonly(gains),
        baselines=readonly(baselines),
        n_samples=n_rows,
        comments=hdr.comments,
        formats=tuple(s.fmt for s in sig),
        samps_per_frame=tuple(s.spf for s in sig),
        invalid_values=readonly(invalid),
        physical=physical,
        counter_freq=hdr.counter_freq,
        base_time=hdr.base_time,
        base_date=hdr.base_date,
    )


def _record_fs(hdr: _Header, fs: float | None) -> float:
    if fs is not None:
        if isinstance(fs, bool) or not isinstance(fs, (int, float, np.integer, np.floating)):
            raise ValueError(f"fs must be a number in Hz, got {fs!r}.")
        fs = float(fs)
        if not np.isfinite(fs) or fs <= 0:
            raise ValueError(f"fs must be a positive sampling rate in Hz, got {fs!r}.")
    if hdr.fs is None:
        if fs is None:
            raise ValueError(
                f"{hdr.path}: the header lacks a sampling rate (the record line is only "
                f"'{hdr.name} {hdr.n_sig}'). WFDB would silently assume 250 Hz; pass the "
                "true rate explicitly, e.g. read_wfdb(path, fs=360.0).")
        return fs
    if fs is not None and fs != hdr.fs:
        raise ValueError(
            f"fs={fs:g} Hz was passed but the header {hdr.path} says {hdr.fs:g} Hz. Omit fs "
            "to use the header's rate (fs is only needed when the header has none).")
    return hdr.fs


def _read_file(hdr: _Header, fname: str, members: list[int], n_samples: int | None,
               mmap: bool) -> tuple[np.ndarray, int]:
    """Decode one signal file into frames of shape (n_frames_read, samples per frame)."""
    first = hdr.signals[members[0]]
    fmt, offset = first.fmt, first.offset
    for i in members[1:]:
        s = hdr.signals[i]
        if s.fmt != fmt or s.offset != offset:
            raise ValueError(
                f"{hdr.path}: signals in file {fname} disagree on format/byte offset "
                f"({fmt}+{offset} vs {s.fmt}+{s.offset}); WFDB requires one format per file.")
    if fname in ("-", "~") or fname.startswith("~"):
        raise ValueError(f"{hdr.path}: signal file {fname!r} (standard input or a null "
                         "signal) cannot be read from disk.")
    path = hdr.path.parent / fname
    if not path.is_file():
        raise FileNotFoundError(
            errno.ENOENT, f"WFDB signal file listed in {hdr.path} not found", str(path))
    tspf = sum(hdr.signals[i].spf for i in members)
    max_skew = max(hdr.signals[i].skew for i in members)
    size = path.stat().st_size
    avail_frames = _n_whole_samples(fmt, max(size - offset, 0)) // tspf
    if n_samples is None:  # length not in the header: whatever the file holds
        n_samples = avail_frames
    else:
        need = offset + _n_bytes(fmt, n_samples * tspf)
        if size < need:
            raise ValueError(
                f"{path}: signal file is truncated: header {hdr.path.name} declares "
                f"{n_samples} frames x {tspf} samples in format {fmt} = {need} bytes "
                f"(including a {offset}-byte offset), but the file has {size} bytes "
                f"({avail_frames} complete frames). Re-download or re-copy the record.")
    # frames past n_samples are only used to fill in skewed signals
    n_read = min(avail_frames, n_samples + max_skew)
    flat = _decode(path, fmt, offset, n_read * tspf, mmap)
    return flat.reshape(n_read, tspf), n_samples


def _verify_checksums(hdr: _Header, fname: str, members: list[int], frames: np.ndarray,
                      col0: np.ndarray, wanted: set[int]) -> None:
    for p, i in enumerate(members):
        s = hdr.signals[i]
        if s.checksum is None or i not in wanted:
            continue
        block = frames[:, col0[p]:col0[p + 1]]
        total = int(np.sum(block, dtype=np.int64))
        if (total - s.checksum) % 65536 != 0:
            found = total % 65536
            found = found - 65536 if found >= 32768 else found
            raise ValueError(
                f"{hdr.path.parent / fname}: checksum mismatch for signal {i} "
                f"({s.description or 'unnamed'}): header says {s.checksum}, the data sum "
                f"to {found} (mod 2**16). The signal file is corrupt or truncated, or does "
                f"not belong to this header; re-download the record.")


def _extract(s: _Signal, frames: np.ndarray, c0: int, n_samples: int,
             expand: int) -> np.ndarray:
    """One signal, skew-aligned, smoothed or expanded, as a 1-D digital array."""
    k = s.spf
    inv = _FORMATS[s.fmt].invalid
    block = frames[s.skew: s.skew + n_samples, c0:c0 + k]
    short = n_samples - block.shape[0]
    if expand > 1 or k == 1:
        out = np.empty((n_samples, k), dtype=frames.dtype)
        out[: block.shape[0]] = block
        out[block.shape[0]:] = inv
        return out.reshape(-1)
    # average the k samples of each frame, truncating toward zero like WFDB's getvec
    tot = block.sum(axis=1, dtype=np.int64)
    avg = np.abs(tot) // k * np.sign(tot)
    avg[(block == inv).any(axis=1)] = inv
    if short:
        avg = np.concatenate([avg, np.full(short, inv, np.int64)])
    return avg.astype(frames.dtype)


# ----------------------------------------------------------------------------------
# annotations
# ----------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Annotations:
    """Annotations of one record, from a MIT-format annotation file.

    Attributes
    ----------
    sample : ndarray of int64, shape (n,)
        Absolute sample index of each annotation.
    symbol : ndarray of str, shape (n,)
        Mnemonic of each annotation code (``"N"``, ``"V"``, ``"+"`` ...); undefined
        codes are shown as ``"[code]"``.
    subtype, chan, num : ndarray of int64, shape (n,)
        WFDB ``subtyp``, ``chan`` and ``num`` fields (``chan`` and ``num`` carry over
        from the previous annotation when not given, as in WFDB).
    aux_note : ndarray of str, shape (n,)
        Auxiliary text (e.g. rhythm ``"(AFIB"``), ``""`` when absent; trailing NUL
        bytes stored by some writers are removed.
    fs : float or None
        Sampling rate from the file's ``## time resolution`` note, else from the
        record header next to it, else None.
    code : ndarray of int64, shape (n,)
        Numeric annotation code (``anntyp``).
    """

    sample: np.ndarray
    symbol: np.ndarray
    subtype: np.ndarray
    chan: np.ndarray
    num: np.ndarray
    aux_note: np.ndarray
    fs: float | None
    code: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    def __len__(self) -> int:
        return int(self.sample.size)

    def __repr__(self) -> str:
        fs = "None" if self.fs is None else f"{self.fs:g} Hz"
        return f"Annotations(n={len(self)}, fs={fs})"


_DEF_RE = re.compile(r"^(\d+)\s+(\S+)\s*(.*)$")
_FS_NOTE_RE = re.compile(r"^## time resolution:\s*([0-9.eE+-]+)")


def read_annotations(path: PathType, extension: str = "atr") -> Annotations:
    """Read a MIT-format WFDB annotation file.

    Parameters
    ----------
    path : str or path-like
        Record path without extension (``"data/mitdb/100"``); a ``.hea`` or
        ``.<extension>`` suffix is accepted and stripped.
    extension : str, default "atr"
        Annotator name, i.e. the file extension (``"atr"``, ``"qrs"``, ...).

    Returns
    -------
    Annotations

    Notes
    -----
    Each 16-bit little-endian word holds a 6-bit code and a 10-bit field. Codes 1-58
    (and 0 with a non-zero field) start an annotation, the field being the sample
    increment since the previous one; SKIP (59) adds a 32-bit increment, NUM (60),
    SUB (61), CHN (62) and AUX (63) set fields of the preceding annotation; the word
    0 ends the file. Code-0 annotations (placeholders) and the definition notes at
    sample 0 (``## time resolution``, annotation-type definitions) are consumed,
    not returned. The words are decoded with vectorised numpy; only SKIP and AUX
    words, whose payload must be stepped over, are visited one by one.
    """
    p = Path(path)
    for suffix in (".hea", f".{extension}"):
        if p.name.endswith(suffix):
            p = p.with_name(p.name[: -len(suffix)])
            break
    f = p.with_name(f"{p.name}.{extension}")
    if not f.is_file():
        raise FileNotFoundError(errno.ENOENT, "WFDB annotation file not found", str(f))
    raw = np.fromfile(f, dtype=np.uint8)
    if raw.size % 2:
        raw = raw[:-1]
    words = raw.view("<u2").astype(np.int64)
    n = words.size
    code = words >> 10
    data = words & 0x3FF

    # step over SKIP/AUX payloads (they can contain any bit pattern)
    payload = np.zeros(n, dtype=bool)
    skip_inc: dict[int, int] = {}
    aux_at: dict[int, str] = {}
    covered = 0
    for j in np.flatnonzero((code == _SKIP) | (code == _AUX)).tolist():
        if j < covered:
            continue
        if code[j] == _SKIP:
            end = j + 3
            if end > n:
                break  # reported below as a missing end-of-file marker
            hi, lo = int(words[j + 1]), int(words[j + 2])
            v = (hi << 16) | lo
            skip_inc[j] = v - (1 << 32) if v >= (1 << 31) else v
        else:
            length = int(data[j] & 0xFF)
            end = j + 1 + (length + 1) // 2
            if end > n:
                break
            aux_at[j] = raw[2 * (j + 1): 2 * (j + 1) + length].tobytes().decode("latin-1")
        payload[j + 1: end] = True
        covered = end
    eof_hits = np.flatnonzero((words == 0) & ~payload)
    if eof_hits.size == 0:
        raise ValueError(f"{f}: the annotation file has no end-of-file marker; it is "
                         "truncated or not a MIT-format annotation file.")
    eof = int(eof_hits[0])
    live = ~payload[:eof]
    code, data, words = code[:eof], data[:eof], words[:eof]
    is_ann = live & (code < _SKIP)
    ann_idx = np.flatnonzero(is_ann)
    inc = np.where(is_ann, data, 0)
    for j, v in skip_inc.items():
        if j < eof:
            inc[j] += v
    sample = np.cumsum(inc)[ann_idx]
    n_ann = ann_idx.size
    owner = np.cumsum(is_ann) - 1  # annotation each modifier word belongs to
    mod = live & (code > _SKIP)
    if np.any(mod & (owner < 0)):
        raise ValueError(f"{f}: a NUM/SUB/CHN/AUX word precedes the first annotation; "
                         "the file is not a valid MIT-format annotation file.")

    def low_byte(c: int, signed: bool) -> tuple[np.ndarray, np.ndarray]:
        m = live & (code == c)
        v = data[m] & 0xFF
        if signed:
            v = np.where(v >= 128, v - 256, v)
        return owner[m], v

    subtype = np.zeros(n_ann, np.int64)
    o, v = low_byte(_SUB, True)
    subtype[o] = v
    chan = _carry_forward(n_ann, *low_byte(_CHN, False))
    num = _carry_forward(n_ann, *low_byte(_NUM, True))
    aux = [""] * n_ann
    for j, text in aux_at.items():
        if j < eof:
            aux[int(owner[j])] = text.rstrip("\x00")
    ann_code = code[ann_idx]

    # definition notes at sample 0: time resolution and custom annotation types
    table = [ANNOTATION_SYMBOLS.get(c, f"[{c}]") for c in range(64)]
    fs: float | None = None
    drop = ann_code == 0
    in_defs = False
    for k in np.flatnonzero((sample == 0) & (ann_code == _NOTE)).tolist():
        text = aux[k]
        if in_defs:
            drop[k] = True
            if text == "## end of definitions":
                in_defs = False
            elif (m := _DEF_RE.match(text)) and 0 < int(m[1]) < _SKIP:
                table[int(m[1])] = m[2]
            continue
        if text == "## annotation type definitions":
            in_defs = drop[k] = True
        elif (m := _FS_NOTE_RE.match(text)) is not None:
            fs = float(m[1])
            drop[k] = True
        elif text.startswith("## "):
            drop[k] = True
    keep = ~drop
    symbols = np.array(table, dtype=str)[ann_code]
    if fs is None:
        try:
            fs = _parse_header(p.with_name(p.name + ".hea")).fs
        except (OSError, ValueError):
            fs = None
    return Annotations(
        sample=readonly(sample[keep]),
        symbol=readonly(symbols[keep]),
        subtype=readonly(subtype[keep]),
        chan=readonly(chan[keep]),
        num=readonly(num[keep]),
        aux_note=readonly(np.array(aux, dtype=str)[keep] if n_ann else np.zeros(0, dtype=str)),
        fs=fs,
        code=readonly(ann_code[keep]),
    )


def _carry_forward(n: int, owner: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Per-annotation value that persists until changed (WFDB ``chan``/``num``)."""
    out = np.zeros(n, np.int64)
    if owner.size == 0 or n == 0:
        return out
    setv = np.zeros(n, np.int64)
    has = np.zeros(n, bool)
    setv[owner] = values
    has[owner] = True
    last = np.maximum.accumulate(np.where(has, np.arange(n), -1))
    ok = last >= 0
    out[ok] = setv[last[ok]]
    return out


def beat_annotations(ann: Annotations, *, exclude_flutter: bool = True
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Reference beats for QRS-detector scoring, and ventricular flutter episodes.

    Parameters
    ----------
    ann : Annotations
        Reference annotations (e.g. ``read_annotations(path, "atr")``).
    exclude_flutter : bool, default True
        Drop beats inside ventricular flutter/fibrillation episodes and return the
        episodes, so that a scorer ignores detections there too (as ANSI/AAMI EC57
        and WFDB ``bxb`` do). If False, all beats are returned and the episode array
        is empty.

    Returns
    -------
    beats : ndarray of int64, shape (n,)
        Samples of the annotations whose symbol is in :data:`BEAT_SYMBOLS`
        (``N L R B A a J S V r F e j n E / f Q ?``). Flutter waves (``!``), rhythm
        (``+``), noise (``~``), artefact (``|``) and other non-beat annotations are
        never beats.
    excluded_ranges : ndarray of int64, shape (k, 2)
        Half-open sample ranges ``[start, stop)`` of the flutter episodes: from the
        ``[`` annotation to the ``]`` annotation inclusive (``stop`` = sample of
        ``]`` + 1). An episode still open at the end of the file extends to
        ``2**63 - 1``; a ``]`` before any ``[`` closes an episode that began at
        sample 0; a repeated ``[`` inside an open episode is ignored. Pass this as
        ``exclude=`` to :func:`somacore.eval.compare_beats`.

    Examples
    --------
    >>> ann = read_annotations("mitdb/207")                      # doctest: +SKIP
    >>> beats, vf = beat_annotations(ann)                        # doctest: +SKIP
    >>> compare_beats(det, beats, fs=360, exclude=vf)            # doctest: +SKIP
    """
    is_beat = np.isin(ann.symbol, sorted(BEAT_SYMBOLS))
    beats = np.asarray(ann.sample[is_beat], dtype=np.int64)
    if not exclude_flutter:
        return beats, np.zeros((0, 2), np.int64)
    ranges: list[tuple[int, int]] = []
    start: int | None = None
    seen_bracket = False
    for k in np.flatnonzero(np.isin(ann.symbol, ["[", "]"])).tolist():
        s, sym = int(ann.sample[k]), str(ann.symbol[k])
        if sym == "[":
            if start is None:
                start = s
        elif start is not None:
            ranges.append((start, s + 1))
            start = None
        elif not seen_bracket:
            ranges.append((0, s + 1))
        seen_bracket = True
    if start is not None:
        ranges.append((start, np.iinfo(np.int64).max))
    rng = np.array(ranges, dtype=np.int64).reshape(-1, 2)
    if rng.size:
        i = np.searchsorted(rng[:, 0], beats, side="right") - 1
        inside = (i >= 0) & (beats < rng[np.maximum(i, 0), 1])
        beats = beats[~inside]
    return beats, rng
