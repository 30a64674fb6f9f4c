"""Raw session recordings: every chunk a live session accepted, as received.

:class:`~somacore.stream.recorder.RawRecorder` writes them; :class:`RawReader`
(registered as the ``raw`` reader) reads one person's driver back as a
:class:`~somacore.signals.Recording`, and :func:`read_session` reads every
driver of a recorded session. A
:class:`~somacore.drivers.ReplayDriver` given such a Recording replays the
recorded chunks themselves (same samples, sequence numbers, timestamps and
arrival order), so a session fed the replay computes the live results again.

Layout
------
::

    <folder>/                        one recorded session
        <person>/<driver>/           one folder per person and driver (names
                                     percent-encoded, see urllib.parse.quote)
            raw.json                 {"format": "somacore-raw", "version": 1,
                                      "person", "driver", "index",
                                      "streams": [{"name", "kind", "units",
                                                   "nominal_fs", "channels"}]}
            part-000000.npz          chunks accepted during one flush interval
            part-000001.npz ...

Each part is written atomically (temporary file in the folder, fsync, rename)
and never rewritten, so a crash loses at most the chunks not yet flushed and
never leaves a half-written part. A part holds, for each stream ``j`` (index in
``raw.json``) that received chunks during the interval, numpy arrays:

- ``s{j}_samples``: the chunks' samples concatenated, dtype as received;
- ``s{j}_chunks``: int64 ``(m, 4)``: arrival order within the driver, ``seq``,
  number of samples, 1 if the chunk carried per-sample timestamps;
- ``s{j}_t0``, ``s{j}_fs``: float64 ``(m,)``, the chunk's ``t0`` and ``fs``
  (NaN when the driver gave none);
- ``s{j}_ts``: the per-sample timestamps of the chunks that had them, concatenated;
- ``s{j}_gaps``: float64 ``(g, 6)``, the session's gap fills noted while these
  chunks were accepted: sample index where the NaN fill starts in the stream
  (-1 for irregular streams), samples filled, start and end time (s),
  lost packets, ``seq`` of the chunk that revealed the gap.

In the Recording, a regular stream is one channel holding the received samples
with the session's NaN fills at the gaps (so ``len(channel)`` and sample
indices match the live session's), ``t0`` of the first chunk; an irregular
stream is a channel with per-value ``times``. ``meta["chunks"]`` holds the
recorded chunks (:class:`RecordedChunks`) and ``meta["gaps"]`` the gap fills.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote

import numpy as np

from somacore.plugins.types import Chunk
from somacore.readers._common import FormatError
from somacore.signals import Channel, Recording

__all__ = ["MANIFEST", "RawReader", "RecordedChunks", "RecordedGap", "read_session"]

FORMAT = "somacore-raw"
VERSION = 1
MANIFEST = "raw.json"
PART = re.compile(r"^part-(\d{6,})\.npz$")


def part_name(k: int) -> str:
    """File name of part ``k``."""
    return f"part-{k:06d}.npz"


def driver_dir(folder: Path, person: str, driver: str) -> Path:
    """Folder of one person's driver inside a recording folder."""
    return Path(folder) / quote(person, safe="") / quote(driver, safe="")


@dataclass(frozen=True)
class RecordedGap:
    """A gap the live session filled: in stream ``stream``, ``samples`` NaN from
    sample ``index`` (-1 for irregular streams), over ``[start, end)`` seconds,
    ``lost_packets`` sequence numbers skipped, seen at the chunk numbered ``seq``."""

    stream: str
    index: int
    samples: int
    start: float
    end: float
    lost_packets: int
    seq: int


class RecordedChunks:
    """The chunks of one recorded driver, in arrival order (iterable, sized).

    Chunks are built on iteration from the concatenated arrays (views, no copy).
    """

    def __init__(self, parts: list[tuple[str, np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                                         np.ndarray]]) -> None:
        # per (stream, part): name, samples, table (order, seq, n, has_ts), t0, fs, ts
        self._parts = parts
        self._n = sum(p[2].shape[0] for p in parts)

    def __len__(self) -> int:
        return self._n

    def __iter__(self) -> Iterator[Chunk]:
        items: list[tuple[int, Chunk]] = []
        for name, samples, table, t0, fs, ts in self._parts:
            a = b = 0  # sample and timestamp offsets
            for (order, seq, n, has_ts), t, f in zip(table.tolist(), t0.tolist(), fs.tolist(),
                                                     strict=True):
                x = samples[a:a + n]
                a += n
                if has_ts:
                    items.append((order, Chunk(name, x, seq, timestamps=ts[b:b + n])))
                    b += n
                else:
                    items.append((order, Chunk(name, x, seq, t0=t, fs=None if f != f else f)))
        items.sort(key=lambda it: it[0])
        return (c for _, c in items)


def _load_manifest(folder: Path) -> dict:
    path = folder / MANIFEST
    try:
        man = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such file (not a raw recording folder; give the "
                                "<recording>/<person>/<driver> folder)") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise FormatError(path, f"not valid JSON: {exc}") from None
    if not isinstance(man, dict) or man.get("format") != FORMAT:
        raise FormatError(path, f"not a {FORMAT} manifest")
    if man.get("version") != VERSION:
        raise FormatError(path, f"{FORMAT} version {man.get('version')!r}; this somacore reads "
                          f"version {VERSION}: upgrade somacore")
    return man


def _parts(folder: Path) -> list[Path]:
    found = sorted((int(m.group(1)), f) for f in folder.iterdir() if (m := PART.match(f.name)))
    return [f for _, f in found]


class RawReader:
    """Reader of one driver folder of a raw session recording (see the module notes)."""

    name = "raw"
    extensions = ()

    def sniff(self, path: Path) -> bool:
        """True for a folder holding a ``raw.json`` of this format."""
        p = Path(path)
        try:
            return p.is_dir() and (p / MANIFEST).is_file() and FORMAT in (
                p / MANIFEST).read_text(encoding="utf-8", errors="replace")[:4096]
        except OSError:
            return False

    def read(self, path: Path) -> Recording:
        """Every recorded chunk of the driver, as a Recording (one channel per stream)."""
        folder = Path(path)
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder}: not a folder (a raw recording is a folder "
                                    "<recording>/<person>/<driver>)")
        man = _load_manifest(folder)
        streams = man.get("streams")
        if not isinstance(streams, list) or not streams:
            raise FormatError(folder / MANIFEST, "lists no streams")
        names = [s["name"] for s in streams]
        pieces: dict[int, list] = {j: [] for j in range(len(streams))}
        gaps: list[RecordedGap] = []
        for f in _parts(folder):
            try:
                with np.load(f, allow_pickle=False) as z:
                    arrays = {k: z[k] for k in z.files}
            except Exception as exc:
                raise FormatError(f, f"unreadable raw part ({type(exc).__name__}: {exc}); "
                                  "parts are written atomically, so the file was altered or "
                                  "the disk is damaged: move it away to read the rest") from None
            for j in range(len(streams)):
                if f"s{j}_chunks" not in arrays:
                    continue
                try:
                    table = arrays[f"s{j}_chunks"].astype(np.int64).reshape(-1, 4)
                    item = (arrays[f"s{j}_samples"], table, arrays[f"s{j}_t0"],
                            arrays[f"s{j}_fs"], arrays[f"s{j}_ts"])
                    g = arrays[f"s{j}_gaps"].reshape(-1, 6)
                except (KeyError, ValueError) as exc:
                    raise FormatError(f, f"stream {names[j]!r}: incomplete arrays "
                                      f"({exc})") from None
                if item[0].shape[0] != int(table[:, 2].sum()) or (
                        item[4].shape[0] != int(table[table[:, 3] == 1, 2].sum())):
                    raise FormatError(f, f"stream {names[j]!r}: sample count does not match "
                                      "the chunk table")
                pieces[j].append(item)
                gaps.extend(RecordedGap(names[j], int(r[0]), int(r[1]), float(r[2]),
                                        float(r[3]), int(r[4]), int(r[5])) for r in g.tolist())
        chans = []
        chunk_parts = []
        for j, s in enumerate(streams):
            ps = pieces[j]
            chunk_parts.extend((names[j], *p) for p in ps)
            chans.append(_channel(s, ps, [g for g in gaps if g.stream == names[j]]))
        meta = {"format": FORMAT, "person": man.get("person"), "driver": man.get("driver"),
                "chunks": RecordedChunks(chunk_parts), "gaps": gaps,
                "parts": len(_parts(folder))}
        return Recording(tuple(chans), source=str(folder), meta=meta)


def _channel(s: dict, pieces: list, gaps: list[RecordedGap]) -> Channel:
    """One stream's channel: received samples, with the session's NaN fills (regular)."""
    width = int(s.get("channels", 1))
    shape = () if width == 1 else (width,)
    fs = s.get("nominal_fs")
    samples = (np.concatenate([p[0] for p in pieces]) if pieces
               else np.zeros((0, *shape)))
    t0s = np.concatenate([p[2] for p in pieces]) if pieces else np.zeros(0)
    ns = np.concatenate([p[1][:, 2] for p in pieces]) if pieces else np.zeros(0, np.int64)
    valid = t0s[(ns > 0) & np.isfinite(t0s)]
    t0 = float(valid[0]) if valid.size else 0.0
    kw = {"kind": s["kind"], "units": s.get("units", "au"), "name": s["name"]}
    if fs is None:
        times = []
        for _, table, t, _, ts in pieces:
            b = 0
            for (_, _, n, has_ts), tt in zip(table.tolist(), t.tolist(), strict=True):
                if has_ts:
                    times.append(ts[b:b + n])
                    b += n
                elif n:
                    times.append(np.full(n, tt))
        tt = np.concatenate(times) if times else np.zeros(0)
        return Channel(samples.astype(np.float64), None, t0=t0, times=tt, **kw)
    fill = [(g.index, g.samples) for g in gaps if g.samples > 0 and g.index >= 0]
    total = samples.shape[0] + sum(k for _, k in fill)
    data = np.full((total, *shape), np.nan)
    keep = np.ones(total, dtype=bool)
    for i, k in fill:
        keep[i:i + k] = False
    if int(keep.sum()) != samples.shape[0]:  # pragma: no cover - guarded by the writer
        raise FormatError(s["name"], "gap fills overlap the recorded samples")
    data[keep] = samples
    return Channel(data, float(fs), t0=t0, **kw)


def read_session(folder: str | os.PathLike[str]) -> dict[tuple[str, str], Recording]:
    """Every driver of a recorded session: ``{(person, driver): Recording}``.

    In the order the drivers were added to the session. Replay them with::

        for (person, driver), rec in read_session(folder).items():
            session.add_driver(person, ReplayDriver(rec), name=driver)
    """
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such folder (a raw session recording)")
    found = []
    for m in sorted(root.glob(f"*/*/{MANIFEST}")):
        d = m.parent
        man = _load_manifest(d)
        person = man.get("person", unquote(d.parent.name))
        driver = man.get("driver", unquote(d.name))
        found.append((man.get("index", 0), person, driver, d))
    if not found:
        raise FileNotFoundError(f"{root}: holds no <person>/<driver>/{MANIFEST} (not a raw "
                                "session recording, or nothing was recorded)")
    reader = RawReader()
    return {(p, d): reader.read(path) for _, p, d, path in sorted(found, key=lambda f: f[0])}
