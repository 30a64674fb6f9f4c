"""Record the raw streams of a live session to disk, independent of its sinks.

``Session(record_to=folder)`` (or ``record_to=RawRecorder(folder, ...)``)
writes every chunk the session accepts, of every person and stream, exactly as
received (samples and their dtype, ``seq``, ``t0``/``fs`` or per-sample
timestamps, arrival order) plus the session's gap fills, in the layout of
:mod:`somacore.readers.raw`. Read it back with :func:`somacore.plugins.read`
on a ``<folder>/<person>/<driver>`` folder, or every driver at once with
:func:`somacore.readers.raw.read_session`; a
:class:`~somacore.drivers.ReplayDriver` of such a Recording replays the chunks
as recorded, so the session's results can be computed again.

Durability: chunks are kept in memory and handed, every ``flush_interval_s``
seconds of wall time (and at :meth:`RawRecorder.close`), to a writer thread
that writes them as a new part file per driver, atomically (temporary file,
fsync, rename); the session's thread only copies each chunk's samples and
appends them to a list. A crash loses at most the chunks of the last flush
interval and those still queued for writing; a part file is complete or
absent. If a write fails (disk full, folder removed), the session reports it
in ``Session.errors`` (at its next chunk) and goes on; the failed chunks are
kept and written with that driver's next part, so a temporary failure loses
nothing (memory grows while writes keep failing). If the writer falls behind
by ``max_queued`` flushes, the session waits for it (nothing is dropped).
"""

from __future__ import annotations

import json
import os
import queue
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from somacore.plugins.types import Chunk, StreamInfo
from somacore.readers._common import atomic_write, atomic_write_text
from somacore.readers.raw import FORMAT, MANIFEST, VERSION, driver_dir, part_name

__all__ = ["RawRecorder"]


class _Pending:
    """One stream's chunks since the last flush: samples copied into one growing
    array (no array object per chunk), per-chunk fields in a list of tuples."""

    __slots__ = ("buf", "gaps", "meta", "n", "ts")

    def __init__(self, shape: tuple[int, ...], cap: int = 0, dtype: Any = np.float64) -> None:
        self.buf = np.empty((max(cap, 64), *shape), dtype)
        self.n = 0
        self.meta: list[tuple] = []  # (order, seq, n, t0, fs, has timestamps)
        self.ts: list[np.ndarray] = []  # timestamps of the chunks that had them
        self.gaps: list[tuple] = []  # (index, samples, start, end, lost packets, seq)

    def add(self, x: np.ndarray) -> None:
        end = self.n + x.shape[0]
        if end > self.buf.shape[0] or x.dtype != self.buf.dtype:
            dtype = np.result_type(self.buf.dtype, x.dtype) if self.n else x.dtype
            new = np.empty((max(end, 2 * self.buf.shape[0]), *self.buf.shape[1:]), dtype)
            new[:self.n] = self.buf[:self.n]
            self.buf = new
        self.buf[self.n:end] = x
        self.n = end

    def merge(self, later: _Pending) -> _Pending:
        """This batch followed by ``later`` (a failed part retried with the next)."""
        out = _Pending(self.buf.shape[1:], 0)
        out.buf = np.concatenate([self.buf[:self.n], later.buf[:later.n]])
        out.n = out.buf.shape[0]
        out.meta, out.ts, out.gaps = (self.meta + later.meta, self.ts + later.ts,
                                      self.gaps + later.gaps)
        return out


class _Log:
    """One person's driver: pending chunks (session thread) and part state (writer)."""

    def __init__(self, folder: Path, person: str, driver: str, infos: list[StreamInfo],
                 index: int) -> None:
        self.folder = folder
        self.person = person
        self.driver = driver
        self.infos = infos
        self.index = index
        self.stream_index = {f"{driver}/{i.name}": j for j, i in enumerate(infos)}
        self.shapes = [() if i.channels == 1 else (i.channels,) for i in infos]
        self.order = 0  # arrival order of the next chunk
        self.streams = [_Pending(sh) for sh in self.shapes]
        self.pending = 0  # chunks + gaps not yet handed to the writer
        # writer side (the writer thread, or close() once it is idle)
        self.part = 0
        self.manifest_written = False
        self.carry: list[_Pending] | None = None  # a batch whose write failed

    def take(self) -> list[_Pending]:
        """Hand the pending chunks and gaps over (to the writer)."""
        batch = self.streams
        # the next interval most likely holds as many samples as this one
        self.streams = [_Pending(sh, p.n, p.buf.dtype)
                        for sh, p in zip(self.shapes, batch, strict=True)]
        self.pending = 0
        return batch

    def manifest(self) -> str:
        streams = [{"name": i.name, "kind": i.kind, "units": i.units,
                    "nominal_fs": i.nominal_fs, "channels": i.channels} for i in self.infos]
        return json.dumps({"format": FORMAT, "version": VERSION, "person": self.person,
                           "driver": self.driver, "index": self.index, "streams": streams},
                          indent=1) + "\n"

    def write_manifest(self) -> None:
        d = driver_dir(self.folder, self.person, self.driver)
        d.mkdir(parents=True, exist_ok=True)
        atomic_write_text(d / MANIFEST, self.manifest())
        self.manifest_written = True

    @staticmethod
    def arrays(batch: list[_Pending]) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for j, p in enumerate(batch):
            if not p.meta and not p.gaps:
                continue
            out[f"s{j}_samples"] = p.buf[:p.n]
            out[f"s{j}_chunks"] = np.array([(*m[:3], m[5]) for m in p.meta],
                                           dtype=np.int64).reshape(-1, 4)
            # None (no t0 / no fs given) becomes NaN
            out[f"s{j}_t0"] = np.array([m[3] for m in p.meta], dtype=np.float64)
            out[f"s{j}_fs"] = np.array([m[4] for m in p.meta], dtype=np.float64)
            out[f"s{j}_ts"] = np.concatenate(p.ts) if p.ts else np.zeros(0)
            out[f"s{j}_gaps"] = np.array(p.gaps, dtype=np.float64).reshape(-1, 6)
        return out

    def write(self, batch: list[_Pending] | None) -> bool:
        """Write ``batch`` (after any failed one) as the next part: all or nothing.

        Returns True if a part was written. On failure the chunks are kept for
        the next attempt and the exception propagates.
        """
        if self.carry is not None:
            batch = self.carry if batch is None else [
                a.merge(b) for a, b in zip(self.carry, batch, strict=True)]
        if batch is None or not any(p.meta or p.gaps for p in batch):
            return False
        self.carry = batch
        if not self.manifest_written:
            self.write_manifest()
        arrays = self.arrays(batch)
        d = driver_dir(self.folder, self.person, self.driver)
        atomic_write(d / part_name(self.part), lambda f: np.savez(f, **arrays))
        self.part += 1
        self.carry = None
        return True


class RawRecorder:
    """Write every chunk a session accepts to a folder of atomic part files.

    Usually created by ``Session(record_to=folder)``; pass
    ``record_to=RawRecorder(folder, flush_interval_s=...)`` to tune it. See the
    module notes for durability and :mod:`somacore.readers.raw` for the layout.

    Parameters
    ----------
    folder : path-like
        Output folder, created if missing (its parent must exist). It must not
        already hold a recording: each session records to a new folder.
    flush_interval_s : float
        Wall time between part writes (0: one part per chunk, for tests).
        Bounds what a crash can lose.
    max_pending_samples : int
        Also flush as soon as this many samples wait in memory (bounds memory
        and part size when data arrive faster than real time).
    max_queued : int
        Flushes (per driver) that may wait for the writer thread before the
        session waits for it.
    """

    name = "raw-recorder"

    def __init__(self, folder: str | os.PathLike[str], *, flush_interval_s: float = 1.0,
                 max_pending_samples: int = 2_000_000, max_queued: int = 64) -> None:
        if not (isinstance(flush_interval_s, (int, float)) and flush_interval_s >= 0):
            raise ValueError(f"flush_interval_s={flush_interval_s!r} must be >= 0 seconds")
        for label, v in (("max_pending_samples", max_pending_samples),
                         ("max_queued", max_queued)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{label}={v!r} must be a positive integer")
        self.folder = Path(folder)
        if self.folder.exists() and not self.folder.is_dir():
            raise NotADirectoryError(f"record_to={str(self.folder)!r} is a file; the raw "
                                     "recorder writes a folder: give a new folder path")
        if self.folder.is_dir() and any(self.folder.glob(f"*/*/{MANIFEST}")):
            raise FileExistsError(f"{self.folder} already holds a raw recording; record each "
                                  "session to a new folder")
        self.folder.mkdir(exist_ok=True)
        self.flush_interval_s = float(flush_interval_s)
        self.max_pending_samples = max_pending_samples
        # (person, stream key) -> (its driver's log, stream index)
        self._where: dict[tuple[str, str], tuple[_Log, int]] = {}
        self._drivers: list[_Log] = []
        self._pending_samples = 0
        self._last_flush = time.monotonic()
        self._queue: queue.Queue = queue.Queue(maxsize=max_queued)
        self._thread: threading.Thread | None = None
        self._errors: list[Exception] = []  # write failures not yet reported
        self.chunks_recorded = 0
        #: parts written so far (the session warns again after a recovery)
        self.flushes_ok = 0

    @property
    def healthy(self) -> bool:
        """False while some chunks failed to be written (they are kept for a retry)."""
        return not self._errors and all(log.carry is None for log in self._drivers)

    def add_driver(self, person: str, driver: str, infos: list[StreamInfo]) -> None:
        """Declare a person's driver and its streams; writes its ``raw.json`` now."""
        log = _Log(self.folder, person, driver, list(infos), len(self._drivers))
        self._drivers.append(log)
        for key, j in log.stream_index.items():
            self._where[(person, key)] = (log, j)
        log.write_manifest()  # (if this fails, the writer tries again before each part)

    def chunk(self, person: str, key: str, chunk: Chunk) -> None:
        """Keep an accepted chunk of stream ``key`` (``driver/stream``); flush when due.

        Called once per chunk: it only copies the samples into the stream's
        pending array (the driver may reuse its buffer) and notes the chunk's
        fields; conversions and writes happen in the writer thread. Raises a
        write failure of the writer thread, once.
        """
        log, j = self._where[(person, key)]
        p = log.streams[j]
        x = chunk.samples
        if not isinstance(x, np.ndarray):
            x = np.asarray(x)
        p.add(x)  # a copy: the driver may reuse its buffer
        ts = chunk.timestamps
        if ts is not None:
            p.ts.append(ts.copy())
        p.meta.append((log.order, chunk.seq, x.shape[0], chunk.t0, chunk.fs, ts is not None))
        log.order += 1
        log.pending += 1
        self.chunks_recorded += 1
        self._pending_samples += x.shape[0]
        if self._pending_samples >= self.max_pending_samples or (
                time.monotonic() - self._last_flush >= self.flush_interval_s):
            self._submit()
        if self._errors:
            self._raise_errors()

    def gap(self, person: str, key: str, *, index: int, samples: int, start: float, end: float,
            lost_packets: int, seq: int) -> None:
        """Note a gap the session filled (written with the next part)."""
        log, j = self._where[(person, key)]
        log.streams[j].gaps.append((index, samples, start, end, lost_packets, seq))
        log.pending += 1

    def _submit(self) -> None:
        """Hand every driver's pending chunks to the writer thread."""
        self._last_flush = time.monotonic()
        self._pending_samples = 0
        for log in self._drivers:
            if log.pending:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._writer, daemon=True,
                                                    name="somacore-raw-recorder")
                    self._thread.start()
                self._queue.put((log, log.take()))  # waits if the writer is far behind

    def _writer(self) -> None:
        while True:
            job = self._queue.get()
            try:
                if job is None:
                    return
                log, batch = job
                try:
                    self.flushes_ok += log.write(batch)
                except Exception as exc:
                    self._errors.append(exc)
            finally:
                self._queue.task_done()

    def _raise_errors(self) -> None:
        errs = self._errors[:]
        del self._errors[:len(errs)]
        if errs:
            exc = errs[0]
            if len(errs) > 1:
                exc.add_note(f"and {len(errs) - 1} more failed part write(s)")
            raise exc

    def flush(self) -> None:
        """Write every pending chunk now and wait until written.

        Raises the first write failure (the failed chunks are kept for the next flush).
        """
        self._submit()
        self._queue.join()
        self._raise_errors()

    def close(self) -> None:
        """Write what is pending (retrying failed parts once) and stop the writer thread."""
        self._submit()
        self._queue.join()
        for log in self._drivers:  # the writer is idle: retry what failed
            if log.carry is not None or not log.manifest_written:
                try:
                    if not log.manifest_written:
                        log.write_manifest()
                    self.flushes_ok += log.write(None)
                except Exception as exc:
                    self._errors.append(exc)
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None
        self._raise_errors()

    def __repr__(self) -> str:
        return (f"RawRecorder({str(self.folder)!r}, drivers={len(self._drivers)}, "
                f"chunks={self.chunks_recorded})")


def make_recorder(record_to: Any) -> RawRecorder | None:
    """``Session(record_to=...)``: None, a RawRecorder, or a folder path."""
    if record_to is None or isinstance(record_to, RawRecorder):
        return record_to
    if isinstance(record_to, (str, os.PathLike)):
        return RawRecorder(record_to)
    raise TypeError(f"record_to={record_to!r}: give a folder path or a RawRecorder")
