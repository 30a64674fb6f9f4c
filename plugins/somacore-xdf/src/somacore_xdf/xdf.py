"""XDF reader (the Lab Streaming Layer recording format, LabRecorder's ``.xdf``), on ``pyxdf``.

File structure
--------------
Before ``pyxdf`` parses anything, the chunk structure is walked (magic
``XDF:``, then chunks ``[NumLengthBytes][Length][Tag][Content]``, tags 1-6,
a FileHeader first, samples only of declared streams). ``pyxdf`` itself skips
damaged parts silently (it logs them); here a foreign, corrupt or truncated
file raises ``ValueError`` naming the file, the byte offset and the problem.
A file cut inside a chunk (a recorder that crashed, a copy still running) is
refused unless the reader is made with ``allow_truncated=True``, which reads
the complete chunks and says where the file was cut in ``meta["truncated_at"]``.

Clocks
------
Every LSL stream is stamped on its source's clock; the recorder stores
``ClockOffset`` chunks measuring each source clock against its own. Streams
are put on the recorder's clock, the file's common clock, with ``pyxdf``'s
clock synchronisation (a linear fit of the offsets, clock resets handled).
Each :class:`~somacore.signals.Channel`'s ``t0`` is its first sample on that
clock, so channels of different streams line up. Timestamps are *not*
dejittered (``pyxdf``'s dejittering would hide lost samples).

Channels and rates
------------------
Channel kinds come from the stream header's ``desc/channels/channel`` types
(else the stream type); the table, shared with the ``lsl`` driver, is
:data:`somacore.io.lsl_info.TYPE_KINDS` (ECG, PPG, RESP,
EDA, EMG, ACC, RR and synonyms). One Channel per XDF channel, named by its
label (``"<stream>/<label>"`` when two streams share a label); the channels
of kind ``acc`` of one stream form one multi-column Channel. Other channels
(EEG, markers...) are skipped and listed in ``meta["skipped"]`` with the reason;
string (marker) streams are kept in ``meta["markers"]`` as
``{stream: [(time, [values...]), ...]}``. A file with no usable channel raises
``ValueError`` listing what it holds.

- A regular stream (``nominal_srate`` > 0) gets ``fs`` = its nominal rate.
  Samples are placed on the ``t0 + i / fs`` grid; consecutive timestamps more
  than 1.5 sample periods apart have lost samples between them, which are
  filled with NaN (``round(step * fs) - 1`` of them) and listed in
  ``meta["gaps"]``, never joined. Between losses the nominal rate is
  trusted; how far the grid strays from the timestamps is
  ``meta["streams"][name]["max_clock_error_s"]`` (a ``UserWarning`` above 0.1 s:
  the device's true rate differs from its declared one).
- An irregular stream (``nominal_srate`` 0) of ``rr`` channels becomes
  irregular channels (``fs=None``, per-value ``times``). Irregular streams of
  waveform kinds are skipped (somacore needs a sampling rate for them), named
  in ``meta["skipped"]``.
"""

from __future__ import annotations

import gzip
import io
import math
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
from somacore.io.lsl_info import TYPE_KINDS, kind_of, parse_info_xml, unit_of
from somacore.signals import Channel, Recording

__all__ = ["TYPE_KINDS", "XdfReader", "kind_of", "scan_chunks"]

MAGIC = b"XDF:"
TAGS = {1: "FileHeader", 2: "StreamHeader", 3: "Samples", 4: "ClockOffset", 5: "Boundary",
        6: "StreamFooter"}
#: a timestamp step beyond this many sample periods has lost samples in it
GAP_FACTOR = 1.5
CLOCK_WARN_S = 0.1

def _open(path: Path) -> IO[bytes]:
    if path.suffix.lower() == ".xdfz" or path.suffixes[-2:] == [".xdf", ".gz"]:
        return gzip.open(path, "rb")
    return open(path, "rb")


@dataclass
class _Scan:
    headers: dict[int, str]  # stream id -> StreamHeader XML
    n_chunks: int
    complete_bytes: int  # bytes up to the end of the last complete chunk
    truncated_at: int | None  # offset of a chunk cut short, or None


def scan_chunks(path: str | Path, *, allow_truncated: bool = False) -> _Scan:
    """Walk the chunk structure of an XDF file, checking it; return the stream headers.

    Raises
    ------
    FileNotFoundError
        If ``path`` is not a file.
    ValueError
        Naming the file and the byte offset: not XDF, a bad chunk length or tag,
        samples of an undeclared stream, a missing FileHeader, a chunk cut short
        (unless ``allow_truncated``).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    headers: dict[int, str] = {}
    n = 0
    try:
        with _open(path) as f:
            magic = f.read(4)
            if magic != MAGIC:
                what = "empty" if not magic else f"starts with {magic!r}"
                raise ValueError(f"{path}: not an XDF file ({what}, expected b'XDF:')")
            pos = 4
            while True:
                start = pos
                b = f.read(1)
                if not b:
                    break
                nlb = b[0]
                if nlb not in (1, 4, 8):
                    raise ValueError(f"{path}: corrupt XDF file: chunk {n} at byte {start} has "
                                     f"a length field of {nlb} bytes (1, 4 or 8 expected)")
                raw = f.read(nlb + 2)
                if len(raw) < nlb + 2:
                    return _cut(path, start, n, headers, allow_truncated, "its header")
                length = int.from_bytes(raw[:nlb], "little")
                tag = int.from_bytes(raw[nlb:], "little")
                if length < 2 or tag not in TAGS:
                    raise ValueError(f"{path}: corrupt XDF file: chunk {n} at byte {start} has "
                                     f"tag {tag} and length {length} (tags 1-6, length >= 2)")
                if n == 0 and tag != 1:
                    raise ValueError(f"{path}: corrupt XDF file: the first chunk is a "
                                     f"{TAGS[tag]}, not the FileHeader")
                body = length - 2
                if tag in (2, 3, 4, 6):
                    if body < 4:
                        raise ValueError(f"{path}: corrupt XDF file: {TAGS[tag]} chunk at byte "
                                         f"{start} is too short to hold a stream id")
                    want = body if tag == 2 else 4
                    content = f.read(want)
                    if len(content) < want:
                        return _cut(path, start, n, headers, allow_truncated,
                                    f"its {TAGS[tag]} content")
                    sid = struct.unpack("<I", content[:4])[0]
                    if tag == 2:
                        headers[sid] = content[4:].decode("utf-8", "replace")
                    elif sid not in headers:
                        raise ValueError(f"{path}: corrupt XDF file: {TAGS[tag]} chunk at byte "
                                         f"{start} belongs to stream {sid}, which has no "
                                         "StreamHeader before it")
                    rest = body - len(content)
                else:
                    rest = body
                if rest:
                    got = _skip(f, rest)
                    if got < rest:
                        return _cut(path, start, n, headers, allow_truncated,
                                    f"{length} bytes announced")
                pos = start + 1 + nlb + length
                n += 1
    except (OSError, EOFError, gzip.BadGzipFile) as exc:  # unreadable, or a broken .xdfz
        raise ValueError(f"{path}: cannot read as XDF: {type(exc).__name__}: {exc}") from None
    if n == 0:
        raise ValueError(f"{path}: XDF file holds no chunk after its magic bytes")
    return _Scan(headers, n, pos, None)


def _skip(f: IO[bytes], k: int) -> int:
    """Skip ``k`` bytes; return how many were there."""
    done = 0
    while done < k:
        block = f.read(min(k - done, 1 << 20))
        if not block:
            break
        done += len(block)
    return done


def _cut(path: Path, start: int, n: int, headers: dict[int, str], allow: bool,
         what: str) -> _Scan:
    if not allow:
        raise ValueError(f"{path}: truncated XDF file: chunk {n} at byte {start} is cut short "
                         f"({what} missing); the file ends inside it. Read the complete "
                         "chunks with XdfReader(allow_truncated=True)")
    return _Scan(headers, n, start, start)


def _header_meta(xml: str, path: Path, sid: int) -> dict[str, Any]:
    try:
        info = parse_info_xml(xml)
    except ValueError as exc:
        raise ValueError(f"{path}: stream {sid}'s header: {exc}") from None
    srate, count = info["nominal_srate"], info["channel_count"]
    if not math.isfinite(srate) or srate < 0:
        raise ValueError(f"{path}: stream {sid}'s header has no valid nominal_srate ({srate!r})")
    chans = [(c.label, c.type, c.unit) for c in info["channels"][:count]]
    chans += [(f"ch{i}", "", "") for i in range(len(chans), count)]
    return {"name": info["name"] or f"stream{sid}", "type": info["type"], "srate": srate,
            "format": info["channel_format"], "channels": chans}


class XdfReader:
    """Reads XDF recordings (``.xdf``, gzip-compressed ``.xdfz``) into a Recording.

    Parameters
    ----------
    allow_truncated : bool
        Read the complete chunks of a file cut short instead of refusing it.
    """

    name = "xdf"
    extensions = (".xdf", ".xdfz")

    def __init__(self, *, allow_truncated: bool = False) -> None:
        self.allow_truncated = bool(allow_truncated)

    def sniff(self, path: Path) -> bool:
        """True if ``path`` is a file starting with the XDF magic bytes ``XDF:``."""
        try:
            p = Path(path)
            if not p.is_file():
                return False
            with _open(p) as f:
                return f.read(4) == MAGIC
        except Exception:  # never raise for a foreign file (a bad .xdfz gzip, a pipe...)
            return False

    def read(self, path: Path) -> Recording:
        """Read every usable stream of the file (see the module notes)."""
        path = Path(path)
        scan = scan_chunks(path, allow_truncated=self.allow_truncated)
        if not scan.headers:
            raise ValueError(f"{path}: XDF file declares no stream (no StreamHeader chunk)")
        metas = {sid: _header_meta(xml, path, sid) for sid, xml in scan.headers.items()}
        import logging

        import pyxdf

        source: Any = path
        if scan.truncated_at is not None:
            with _open(path) as f:
                source = io.BytesIO(f.read(scan.complete_bytes))
        log = logging.getLogger("pyxdf.pyxdf")
        level = log.level
        log.setLevel(logging.ERROR)  # its per-file INFO lines are not ours to print
        try:
            streams, _ = pyxdf.load_xdf(source, synchronize_clocks=True,
                                        handle_clock_resets=True, dejitter_timestamps=False)
        except Exception as exc:
            raise ValueError(f"{path}: pyxdf could not read this XDF file: "
                             f"{type(exc).__name__}: {exc}") from exc
        finally:
            log.setLevel(level)
        return self._build(path, streams, metas, scan)

    def _build(self, path: Path, streams: list[dict], metas: dict[int, dict],
               scan: _Scan) -> Recording:
        pending: list[tuple[str, dict]] = []  # (label, channel kwargs) before naming
        skipped: list[tuple[str, str, str]] = []
        markers: dict[str, list] = {}
        gaps: list[dict[str, Any]] = []
        info: dict[str, dict[str, Any]] = {}
        for st in streams:
            sid = int(st["info"]["stream_id"])
            m = metas.get(sid)
            if m is None:  # pragma: no cover - pyxdf and the scan saw the same headers
                continue
            sname = m["name"]
            ts = np.asarray(st["time_stamps"], dtype=np.float64)
            if m["format"] == "string":
                markers[sname] = [(float(t), list(v)) for t, v in
                                  zip(ts, st["time_series"], strict=True)]
                continue
            x = np.asarray(st["time_series"], dtype=np.float64).reshape(ts.size, -1)
            kinds = []
            for label, ctype, unit in m["channels"]:
                kind = kind_of(ctype) or (kind_of(m["type"]) if not ctype else None)
                kinds.append((label, kind, unit_of(unit), ctype or m["type"]))
            for label, kind, _, t in kinds:
                if kind is None:
                    skipped.append((sname, label, f"type {t or 'none'!r} is not analysed"))
            use = [(j, k) for j, k in enumerate(kinds) if k[1] is not None]
            if not use:
                continue
            if ts.size == 0:
                skipped.extend((sname, k[0], "the stream holds no sample") for _, k in use)
                continue
            fs = m["srate"] if m["srate"] > 0 else None
            if fs is None:
                for j, (label, kind, unit, _) in use:
                    if kind != "rr":
                        skipped.append((sname, label, f"irregular rate (nominal_srate 0): "
                                        f"somacore needs a sampling rate for {kind}"))
                        continue
                    pending.append((label, {"data": x[:, j].copy(), "fs": None, "kind": "rr",
                                            "units": unit, "t0": float(ts[0]),
                                            "times": ts.copy(), "stream": sname}))
                info[sname] = {"stream_id": sid, "nominal_srate": 0.0, "samples": int(ts.size)}
                continue
            grid, idx, err, lost = _place(ts, fs)
            info[sname] = {"stream_id": sid, "nominal_srate": fs, "samples": int(ts.size),
                           "lost_samples": int(lost), "max_clock_error_s": err}
            if err > CLOCK_WARN_S:
                eff = (ts.size - 1) / (ts[-1] - ts[0]) if ts[-1] > ts[0] else float("nan")
                warnings.warn(f"{path}: stream {sname!r}: samples stray up to {err:.3f} s from "
                              f"the {fs:g} Hz grid (effective rate {eff:.4f} Hz): its device's "
                              "true rate differs from the declared one", UserWarning,
                              stacklevel=3)
            for a, b in _gap_pairs(idx):
                gaps.append({"stream": sname, "start": float(ts[0] + (a + 1) / fs),
                             "end": float(ts[0] + b / fs), "samples": int(b - a - 1)})
            acc = [j for j, k in use if k[1] == "acc"]
            for j, (label, kind, unit, _) in use:
                if kind == "acc":
                    continue
                data = np.full(grid, np.nan)
                data[idx] = x[:, j]
                pending.append((label, {"data": data, "fs": fs, "kind": kind, "units": unit,
                                        "t0": float(ts[0]), "stream": sname}))
            if acc:
                data = np.full((grid, len(acc)), np.nan)
                data[idx] = x[:, acc]
                pending.append((f"{sname} acc", {"data": data, "fs": fs, "kind": "acc",
                                                  "units": kinds[acc[0]][2], "t0": float(ts[0]),
                                                  "stream": sname}))
        if not pending:
            held = "; ".join(_describe(m) for m in metas.values())
            why = "; ".join(f"{s}/{lab}: {r}" for s, lab, r in skipped) or "no channels"
            raise ValueError(f"{path}: no usable channel in this XDF file (streams: {held}; "
                             f"{why}). somacore reads ECG, PPG, RESP, EDA, EMG, ACC and RR "
                             "channels, typed in the stream header")
        counts: dict[str, int] = {}
        for label, _ in pending:
            counts[label] = counts.get(label, 0) + 1
        chans = []
        for label, kw in pending:
            sname = kw.pop("stream")
            name = label if counts[label] == 1 else f"{sname}/{label}"
            chans.append(Channel(name=name, **kw))
        meta: dict[str, Any] = {"format": "XDF", "streams": info, "skipped": skipped,
                                "markers": markers, "gaps": gaps, "chunks": scan.n_chunks}
        if scan.truncated_at is not None:
            meta["truncated_at"] = scan.truncated_at
        return Recording(tuple(chans), source=str(path), meta=meta)


def _describe(m: dict) -> str:
    rate = "irregular" if m["srate"] == 0 else f"{m['srate']:g} Hz"
    return f"{m['name']!r} ({m['type'] or 'no type'}, {rate}, {m['format']})"


def _place(ts: np.ndarray, fs: float) -> tuple[int, np.ndarray, float, int]:
    """Grid positions of samples stamped ``ts``: (grid length, index per sample,
    largest distance of a sample from its grid time (s), samples lost)."""
    step = np.diff(ts)
    # a normal step advances one sample; a step beyond GAP_FACTOR periods has losses in it
    adv = np.where(step > GAP_FACTOR / fs, np.maximum(np.rint(step * fs), 2), 1).astype(np.int64)
    idx = np.concatenate([[0], np.cumsum(adv)])
    err = float(np.abs(ts - (ts[0] + idx / fs)).max())
    return int(idx[-1]) + 1, idx, err, int((adv - 1).sum())


def _gap_pairs(idx: np.ndarray) -> list[tuple[int, int]]:
    """(index before, index after) of each loss."""
    j = np.flatnonzero(np.diff(idx) > 1)
    return [(int(idx[k]), int(idx[k + 1])) for k in j]
