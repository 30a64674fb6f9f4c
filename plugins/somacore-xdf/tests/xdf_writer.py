"""A minimal XDF 1.0 writer for the tests (pyxdf reads XDF but does not write it).

Follows the XDF specification (github.com/sccn/xdf/wiki/Specifications): the magic
``XDF:``, then chunks ``[NumLengthBytes: 1 byte, 1/4/8][Length: uint LE, bytes of tag +
content][Tag: uint16 LE][Content]``. Tags: 1 FileHeader (XML), 2 StreamHeader (uint32
stream id + XML), 3 Samples (stream id, varlen sample count, then per sample
``[TimeStampBytes 0|8][double timestamp][values LE]``; a string value is a varlen byte
count and UTF-8 bytes), 4 ClockOffset (stream id, double collection time, double offset:
add it to the stream's timestamps to get the recorder's), 5 Boundary (a fixed 16-byte
UUID), 6 StreamFooter (stream id + XML).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np

DTYPES = {"float32": "<f4", "double64": "<f8", "int8": "<i1", "int16": "<i2", "int32": "<i4",
          "int64": "<i8"}
#: the Boundary chunk's fixed UUID, from the specification
BOUNDARY = bytes.fromhex("43A546DCCBF5410FB30ED5467383CBE4")


def varlen(n: int) -> bytes:
    if n < 256:
        return bytes([1, n])
    if n < 2 ** 32:
        return bytes([4]) + struct.pack("<I", n)
    return bytes([8]) + struct.pack("<Q", n)


def chunk(tag: int, content: bytes) -> bytes:
    return varlen(len(content) + 2) + struct.pack("<H", tag) + content


@dataclass
class XStream:
    """One stream to write: header fields, samples (n, k), timestamps on its own clock."""

    sid: int
    name: str
    type: str
    srate: float
    fmt: str
    channels: list[tuple[str, str, str]]  # (label, type, unit); [] for no desc
    values: np.ndarray | list  # (n, k) numbers, or n lists of k strings
    stamps: np.ndarray  # (n,), NaN: omitted (deduced by the reader)
    offsets: list[tuple[float, float]] = field(default_factory=list)
    count: int | None = None  # channel_count if not len(channels)

    def header_xml(self) -> str:
        chans = "".join(
            f"<channel><label>{escape(lab)}</label><type>{escape(t)}</type>"
            f"<unit>{escape(u)}</unit></channel>" for lab, t, u in self.channels)
        desc = f"<desc><channels>{chans}</channels></desc>" if self.channels else "<desc/>"
        n = self.count if self.count is not None else len(self.channels)
        return (f'<?xml version="1.0"?><info><name>{escape(self.name)}</name>'
                f"<type>{escape(self.type)}</type><channel_count>{n}</channel_count>"
                f"<nominal_srate>{self.srate!r}</nominal_srate>"
                f"<channel_format>{self.fmt}</channel_format>"
                f"<source_id>src{self.sid}</source_id>{desc}</info>")

    def samples(self, a: int, b: int) -> bytes:
        out = [struct.pack("<I", self.sid), varlen(b - a)]
        for i in range(a, b):
            t = self.stamps[i]
            out.append(b"\x00" if np.isnan(t) else b"\x08" + struct.pack("<d", t))
            if self.fmt == "string":
                for v in self.values[i]:
                    raw = v.encode()
                    out.append(varlen(len(raw)) + raw)
            else:
                out.append(np.asarray(self.values[i], dtype=DTYPES[self.fmt]).tobytes())
        return b"".join(out)


def write_xdf(path: Path, streams: list[XStream], *, block: int = 100) -> Path:
    """Write ``streams`` as one XDF file: headers, interleaved sample chunks, clock
    offsets, a boundary chunk, footers."""
    parts = [b"XDF:", chunk(1, b'<?xml version="1.0"?><info><version>1.0</version></info>')]
    parts += [chunk(2, struct.pack("<I", s.sid) + s.header_xml().encode()) for s in streams]
    pos = {s.sid: 0 for s in streams}
    while any(pos[s.sid] < len(s.stamps) for s in streams):
        for s in streams:
            a = pos[s.sid]
            b = min(a + block, len(s.stamps))
            if b > a:
                parts.append(chunk(3, s.samples(a, b)))
                pos[s.sid] = b
    for s in streams:
        parts += [chunk(4, struct.pack("<Idd", s.sid, t, v)) for t, v in s.offsets]
    parts.append(chunk(5, BOUNDARY))
    for s in streams:
        n = len(s.stamps)
        footer = (f'<?xml version="1.0"?><info><first_timestamp>{s.stamps[0]!r}'
                  f"</first_timestamp><last_timestamp>{s.stamps[-1]!r}</last_timestamp>"
                  f"<sample_count>{n}</sample_count></info>") if n else "<info/>"
        parts.append(chunk(6, struct.pack("<I", s.sid) + footer.encode()))
    path.write_bytes(b"".join(parts))
    return path
