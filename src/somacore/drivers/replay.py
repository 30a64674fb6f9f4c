"""Replay a recording as live chunks: the replay twin of every driver.

:class:`ReplayDriver` plays a :class:`~somacore.signals.Recording` (or any file a
registered reader opens) as :class:`~somacore.plugins.types.Chunk` objects with
the recorded timestamps, either as fast as possible (``speed=None``) or paced
against the wall clock (``speed=1.0`` real time, ``2.0`` twice as fast). For
tests it can simulate a lossy transport: dropped packets (the chunk is not
delivered; its sequence number is skipped), timestamp jitter, a stall (the
iterator blocks) and a disconnect (the iterator raises ``ConnectionError``).
All randomness comes from ``seed``, so a replay is reproducible.

A raw session recording (:mod:`somacore.readers.raw`, written by
``Session(record_to=...)``) is replayed chunk for chunk as it was received:
same samples, sequence numbers (so recorded packet losses are lost again),
timestamps and order.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import os
import threading
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path

import numpy as np

from somacore.plugins.types import Chunk, StreamInfo
from somacore.signals import Channel, Recording

__all__ = ["ReplayDriver", "chunks_from_recording"]

#: Chunk length (s) when a recording holds no recorded chunks: a typical BLE/LSL packet.
DEFAULT_CHUNK_S = 0.1


def _stream_name(c: Channel, j: int) -> str:
    return c.name or f"{c.kind}{j}"


def chunks_from_recording(recording: Recording, *, chunk_s: float | None = 0.1,
                          streams: Sequence[str] | None = None) -> list[Chunk]:
    """Cut a recording into chunks of about ``chunk_s`` seconds, ordered by time.

    Regular channels give ``t0``/``fs`` chunks; irregular ones (``fs=None``)
    give chunks with per-value ``timestamps`` covering the same time spans.
    ``chunk_s=None``: the chunks recorded in a raw session recording
    (``recording.meta["chunks"]``), in arrival order; 0.1 s for other recordings.
    """
    if chunk_s is None:
        recorded = recording.meta.get("chunks")
        if recorded is not None:
            return [c for c in recorded if streams is None or c.stream in streams]
        chunk_s = DEFAULT_CHUNK_S
    if not chunk_s > 0:
        raise ValueError(f"chunk_s={chunk_s!r} must be positive")
    heap: list[tuple[float, int, int, Chunk]] = []
    order = 0
    for j, c in enumerate(recording.channels):
        name = _stream_name(c, j)
        if streams is not None and name not in streams:
            continue
        if c.fs is not None:
            n = max(1, round(chunk_s * c.fs))
            for seq, i in enumerate(range(0, len(c), n)):
                ch = Chunk(name, c.data[i:i + n], seq, t0=c.t0 + i / c.fs, fs=c.fs)
                heapq.heappush(heap, (ch.t0, order, seq, ch))
                order += 1
        elif len(c):
            t = c.times
            edges = np.arange(t[0], t[-1] + chunk_s, chunk_s)
            idx = np.searchsorted(t, edges, side="left")
            idx = np.unique(np.concatenate([idx, [len(c)]]))
            seq = 0
            for a, b in itertools.pairwise(idx):
                if b > a:
                    ch = Chunk(name, c.data[a:b], seq, timestamps=t[a:b])
                    heapq.heappush(heap, (ch.t0, order, seq, ch))
                    order += 1
                    seq += 1
    return [h[3] for h in sorted(heap, key=lambda h: (h[0], h[1]))]


class ReplayDriver:
    """Play a recording (or a file) as chunks at its recorded timestamps.

    Parameters
    ----------
    source : Recording or path
        What to play; a path is read with the registered reader that opens it.
    chunk_s : float or None
        Chunk length in seconds. Default: the recorded chunks of a raw session
        recording (see the module notes), else 0.1 s (a typical BLE/LSL packet).
    speed : float or None
        None: as fast as possible. ``1.0``: real time (a chunk is delivered when
        the wall clock reaches its last sample); ``k``: k times real time.
    streams : sequence of str, optional
        Channel names to play (default all).
    name : str, optional
        Driver name for messages (default: the recorded driver's name for a raw
        session recording, else ``"replay"``).
    drop : float or sequence of int
        Probability of dropping each chunk, or the exact chunk indices (in play
        order) to drop. Dropped chunks leave a gap in ``seq`` and in time.
    jitter_s : float
        Standard deviation of Gaussian noise added to each chunk's ``t0``
        (clipped to +-3 sd), as host-side timestamps have.
    stall_after : int or None
        Block (like a silent device) after delivering this many chunks, until
        :meth:`close` is called.
    disconnect_after : int or None
        Raise ``ConnectionError`` after delivering this many chunks.
    time_offset : float
        Added to every timestamp (e.g. to put two recordings on one clock).
    seed : int
        Seed of the drop and jitter randomness.
    """

    def __init__(self, source: Recording | str | os.PathLike[str], *,
                 chunk_s: float | None = None, speed: float | None = None,
                 streams: Sequence[str] | None = None, name: str | None = None,
                 drop: float | Sequence[int] = 0.0,
                 jitter_s: float = 0.0, stall_after: int | None = None,
                 disconnect_after: int | None = None, time_offset: float = 0.0,
                 seed: int = 0) -> None:
        if not isinstance(source, Recording):
            from somacore.plugins import read

            source = read(Path(source))
        if speed is not None and not speed > 0:
            raise ValueError(f"speed={speed!r} must be positive (or None: as fast as possible)")
        if jitter_s < 0:
            raise ValueError(f"jitter_s={jitter_s!r} must be >= 0")
        self.recording = source
        if name is None:
            name = str(source.meta.get("driver") or "replay")
        self.name = name
        if chunk_s is None and source.meta.get("chunks") is None:
            chunk_s = DEFAULT_CHUNK_S
        self.chunk_s = None if chunk_s is None else float(chunk_s)
        self.speed = speed
        self.time_offset = float(time_offset)
        self.stall_after = stall_after
        self.disconnect_after = disconnect_after
        self._names = None if streams is None else list(streams)
        self._infos = []
        for j, c in enumerate(source.channels):
            n = _stream_name(c, j)
            if self._names is None or n in self._names:
                self._infos.append(StreamInfo(n, c.kind, c.units, c.fs, c.n_channels))
        if self._names is not None:
            missing = set(self._names) - {i.name for i in self._infos}
            if missing:
                raise KeyError(f"replay {name!r}: no channel(s) {sorted(missing)} in "
                               f"{source.source or 'the recording'}; channels: "
                               f"{[_stream_name(c, j) for j, c in enumerate(source.channels)]}")
        self._chunks = chunks_from_recording(source, chunk_s=self.chunk_s, streams=self._names)
        rng = np.random.default_rng(seed)
        if isinstance(drop, (int, float)) and not isinstance(drop, bool):
            if not 0 <= drop < 1:
                raise ValueError(f"drop={drop!r} must be a probability in [0, 1)")
            self._drop = set(np.flatnonzero(rng.random(len(self._chunks)) < drop).tolist())
        else:
            self._drop = {int(i) for i in drop}
        self._jitter = (np.clip(rng.standard_normal(len(self._chunks)), -3, 3) * jitter_s
                        if jitter_s else None)
        self._closed = threading.Event()
        self.delivered = 0

    @property
    def blocking(self) -> bool:
        """False when ``chunks()`` never waits (no pacing, no simulated stall).

        A :class:`~somacore.stream.session.Session` then reads the driver in its
        own thread instead of handing chunks over from a helper thread.
        """
        return self.speed is not None or self.stall_after is not None

    def streams(self) -> list[StreamInfo]:
        """One stream per played channel (named after the channel)."""
        return list(self._infos)

    def __len__(self) -> int:
        return len(self._chunks)

    def _prepared(self, k: int, ch: Chunk) -> Chunk:
        shift = self.time_offset + (float(self._jitter[k]) if self._jitter is not None else 0.0)
        if shift == 0.0:
            return ch
        if ch.timestamps is not None:
            return Chunk(ch.stream, ch.samples, ch.seq, timestamps=ch.timestamps + shift)
        return Chunk(ch.stream, ch.samples, ch.seq, t0=ch.t0 + shift, fs=ch.fs)

    def _plan(self) -> Iterator[tuple[float, Chunk]]:
        """(due time in recording seconds, chunk) for each chunk to deliver."""
        end = self._start_rec()
        for k, ch in enumerate(self._chunks):
            if k in self._drop:
                continue
            if ch.t0 is not None:  # (a recorded empty chunk may have no time)
                end = ch.t0 + (ch.n / ch.fs if ch.fs else 0.0)
            yield end, self._prepared(k, ch)

    def _start_rec(self) -> float:
        return next((c.t0 for c in self._chunks if c.t0 is not None), 0.0)

    def _check(self) -> None:
        if self.disconnect_after is not None and self.delivered >= self.disconnect_after:
            raise ConnectionError(f"replay {self.name!r}: simulated disconnect after "
                                  f"{self.delivered} chunks")

    def chunks(self) -> Iterator[Chunk]:
        """Yield the chunks in time order (blocking to pace them when ``speed`` is set)."""
        start_wall = time.perf_counter()
        start_rec = self._start_rec()
        for due, ch in self._plan():
            if self._closed.is_set():
                return
            if self.stall_after is not None and self.delivered >= self.stall_after:
                self._closed.wait()
                return
            self._check()
            if self.speed is not None:
                wait = (due - start_rec) / self.speed - (time.perf_counter() - start_wall)
                if wait > 0 and self._closed.wait(wait):
                    return
            self.delivered += 1
            yield ch

    async def achunks(self) -> AsyncIterator[Chunk]:
        """Async twin of :meth:`chunks` (pacing with :func:`asyncio.sleep`)."""
        loop = asyncio.get_running_loop()
        start_wall = loop.time()
        start_rec = self._start_rec()
        for due, ch in self._plan():
            if self._closed.is_set():
                return
            if self.stall_after is not None and self.delivered >= self.stall_after:
                while not self._closed.is_set():
                    await asyncio.sleep(0.01)
                return
            self._check()
            if self.speed is not None:
                wait = (due - start_rec) / self.speed - (loop.time() - start_wall)
                if wait > 0:
                    await asyncio.sleep(wait)
            else:
                await asyncio.sleep(0)
            self.delivered += 1
            yield ch

    def close(self) -> None:
        """Stop playing (wakes a stalled or paced iterator). Safe to call twice."""
        self._closed.set()

    def __repr__(self) -> str:
        return (f"ReplayDriver({self.name!r}, streams={[i.name for i in self._infos]}, "
                f"chunks={len(self._chunks)}, speed={self.speed})")
