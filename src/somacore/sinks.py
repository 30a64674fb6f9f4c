"""Where a :class:`~somacore.stream.session.Session` sends its results.

A sink is any callable ``sink(result)`` taking a
:class:`~somacore.stream.session.WindowResult`; it may have a ``close()``
method, called when the session closes. If a sink raises, the session reports
it (``Session.errors`` and a warning), keeps the undelivered results and
offers them again, in order, with the next result and at close: a failing
sink delays data, it does not lose it.

The file sinks (:class:`CsvSink`, :class:`ParquetSink`) write the same rows,
one per person, window and metric output:
``person, window_start_s, window_end_s, metric, output, value, unit``.
"""

from __future__ import annotations

import math
import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from somacore.readers._common import atomic_write, atomic_write_text

__all__ = ["CallbackSink", "CsvSink", "ListSink", "ParquetSink"]


class CallbackSink:
    """Call ``func(result)`` for every result (a named wrapper, for messages)."""

    def __init__(self, func: Callable[[Any], Any], *, name: str | None = None) -> None:
        if not callable(func):
            raise TypeError(f"CallbackSink needs a callable, got {func!r}")
        self.func = func
        self.name = name or getattr(func, "__name__", "callback")

    def __call__(self, result: Any) -> None:
        self.func(result)

    def __repr__(self) -> str:
        return f"CallbackSink({self.name!r})"


class ListSink(list):
    """Collect results in a list (handy in tests and notebooks)."""

    name = "list"

    def __call__(self, result: Any) -> None:
        self.append(result)


def _fmt(v: float) -> str:
    return "nan" if isinstance(v, float) and math.isnan(v) else repr(v)


class CsvSink:
    """Write metric results to a CSV file, one row per person, window and output.

    Columns: ``person, window_start_s, window_end_s, metric, output, value, unit``.
    The file is replaced atomically (a temporary file in the same folder, then
    :func:`os.replace`), so a reader never sees a half-written file; it is
    rewritten at most every ``flush_interval_s`` seconds of wall time and at
    :meth:`close`. Rows stay in memory; if a write fails the exception
    propagates (the session reports it) and the next flush writes everything.

    Parameters
    ----------
    path : path-like
        Target file; its folder must exist.
    flush_interval_s : float
        Minimum wall time between rewrites (0: rewrite on every result).
    """

    name = "csv"
    HEADER = "person,window_start_s,window_end_s,metric,output,value,unit"

    def __init__(self, path: str | os.PathLike[str], *, flush_interval_s: float = 1.0) -> None:
        self.path = Path(path)
        self.flush_interval_s = float(flush_interval_s)
        self._lines: list[str] = []
        self._last_flush = -math.inf
        self._dirty = False

    def __call__(self, result: Any) -> None:
        new = [f"{_csv(person)},{start!r},{end!r},{_csv(metric)},{_csv(output)},"
               f"{_fmt(value)},{_csv(unit)}"
               for person, start, end, metric, output, value, unit in result.rows()]
        if time.monotonic() - self._last_flush >= self.flush_interval_s:
            # transactional: the rows count as delivered only if the write succeeds, so
            # the session's retry of this result cannot duplicate them
            self._write([*self._lines, *new])
            self._lines.extend(new)
        else:
            self._lines.extend(new)
            self._dirty = True

    @property
    def rows_written(self) -> int:
        """Rows accepted so far (on disk after the next flush)."""
        return len(self._lines)

    def _write(self, lines: list[str]) -> None:
        atomic_write_text(self.path, "\n".join([self.HEADER, *lines]) + "\n")
        self._last_flush = time.monotonic()
        self._dirty = False

    def flush(self) -> None:
        """Rewrite the file with every row so far (atomic)."""
        if self._dirty or not self.path.exists():
            self._write(self._lines)

    def close(self) -> None:
        """Write the final file."""
        self.flush()

    def __repr__(self) -> str:
        return f"CsvSink({str(self.path)!r}, rows={len(self._lines)})"


def _csv(s: str) -> str:
    s = str(s)
    if any(c in s for c in ',"\n'):
        return '"' + s.replace('"', '""') + '"'
    return s


class ParquetSink:
    """Append metric results to a folder of Parquet part files, crash-safe.

    The rows are those of :class:`CsvSink` (same columns, same values;
    ``value`` is float64, NaN kept). The folder holds ``part-000000.parquet``,
    ``part-000001.parquet``... Each flush rewrites the current part with every
    row it holds so far, atomically (a hidden temporary file in the folder,
    fsync, then :func:`os.replace`); a part that holds ``part_rows`` rows or
    more after a flush is left as it is and the next rows start a new part. So after a crash the
    folder holds every row flushed before it, in complete files, and at most
    ``flush_interval_s`` of results are lost; rewrites cost at most
    ``part_rows`` rows. A new sink on a folder with parts appends after them.

    Read the rows back with :meth:`read` (or ``pyarrow.parquet.read_table(folder)``,
    which skips the hidden temporary files; row order is then not guaranteed).
    Needs pyarrow (``pip install pyarrow``), imported when the sink is created.

    Parameters
    ----------
    folder : path-like
        Output folder (created if missing; its parent must exist).
    flush_interval_s : float
        Minimum wall time between writes (0: write on every result).
    part_rows : int
        Rows after which a part is closed and a new one started (a part may
        exceed it by the rows of one flush). Each flush rewrites the current
        part: about 8 ms per flush at 1,000 rows, 29 ms at 10,000 (with fsync,
        on the development machine); 4 people x 4 outputs every second fill
        the default 2,000 rows in about 2 minutes.
    """

    name = "parquet"
    COLUMNS = ("person", "window_start_s", "window_end_s", "metric", "output", "value", "unit")
    _PART = re.compile(r"^part-(\d{6,})\.parquet$")

    def __init__(self, folder: str | os.PathLike[str], *, flush_interval_s: float = 1.0,
                 part_rows: int = 2_000) -> None:
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError as exc:
            raise ImportError("ParquetSink needs pyarrow: pip install pyarrow (or "
                              "pip install 'somacore[report]'), or use CsvSink") from exc
        if isinstance(part_rows, bool) or not isinstance(part_rows, int) or part_rows < 1:
            raise ValueError(f"part_rows={part_rows!r} must be a positive integer")
        self._pa, self._pq = pa, pq
        self._schema = pa.schema([
            ("person", pa.string()), ("window_start_s", pa.float64()),
            ("window_end_s", pa.float64()), ("metric", pa.string()), ("output", pa.string()),
            ("value", pa.float64()), ("unit", pa.string())])
        self.folder = Path(folder)
        if self.folder.exists() and not self.folder.is_dir():
            raise NotADirectoryError(f"ParquetSink writes a folder of part files; {self.folder} "
                                     "is a file: give a folder path")
        self.folder.mkdir(exist_ok=True)
        self.flush_interval_s = float(flush_interval_s)
        self.part_rows = part_rows
        done = [int(m.group(1)) for f in self.folder.iterdir() if (m := self._PART.match(f.name))]
        self._part = max(done) + 1 if done else 0  # index of the part being filled
        self._first_part = self._part
        self._rows: list[tuple] = []  # rows of the current part (written or pending)
        self._on_disk = 0  # how many of them the current part file holds
        self._total = 0  # rows accepted in earlier (full) parts
        self._last_flush = -math.inf

    def __call__(self, result: Any) -> None:
        new = [tuple(r) for r in result.rows()]
        if time.monotonic() - self._last_flush >= self.flush_interval_s:
            # transactional, as CsvSink: if the write fails, the session offers this
            # result again, so its rows must not have been kept
            self._write([*self._rows, *new])
        else:
            self._rows.extend(new)

    @property
    def rows_written(self) -> int:
        """Rows accepted so far (on disk after the next flush)."""
        return self._total + len(self._rows)

    def _path(self, k: int) -> Path:
        return self.folder / f"part-{k:06d}.parquet"

    def _write(self, rows: list[tuple]) -> None:
        # one file write per flush, so a failure leaves the state as it was (no row is
        # both on disk and offered again); a part may exceed part_rows by one flush
        self._write_part(self._part, rows)
        self._last_flush = time.monotonic()
        if len(rows) >= self.part_rows:  # full: the next rows start a new part
            self._total += len(rows)
            self._part += 1
            self._rows, self._on_disk = [], 0
        else:
            self._rows, self._on_disk = rows, len(rows)

    def _write_part(self, k: int, rows: list[tuple]) -> None:
        pa = self._pa
        cols = list(zip(*rows, strict=True)) if rows else [()] * len(self.COLUMNS)
        table = pa.Table.from_arrays(
            [pa.array(list(c), type=f.type) for c, f in zip(cols, self._schema, strict=True)],
            schema=self._schema)
        atomic_write(self._path(k), lambda f: self._pq.write_table(table, f))

    def flush(self) -> None:
        """Write every accepted row now (atomic per part file)."""
        if self._on_disk < len(self._rows) or (self._part == self._first_part
                                                and not self._path(self._part).exists()):
            self._write(self._rows)

    def close(self) -> None:
        """Write the final rows."""
        self.flush()

    @classmethod
    def read(cls, folder: str | os.PathLike[str]):
        """All rows of a sink folder as one ``pyarrow.Table``, in the order written."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        folder = Path(folder)
        parts = sorted((int(m.group(1)), f) for f in folder.iterdir()
                       if (m := cls._PART.match(f.name)))
        if not parts:
            raise FileNotFoundError(f"{folder}: no part-NNNNNN.parquet files (not a "
                                    "ParquetSink folder, or nothing was flushed yet)")
        return pa.concat_tables([pq.read_table(f) for _, f in parts])

    def __repr__(self) -> str:
        return f"ParquetSink({str(self.folder)!r}, rows={self.rows_written})"
