"""Where a :class:`~somacore.stream.session.Session` sends its results.

A sink is any callable ``sink(result)`` taking a
:class:`~somacore.stream.session.WindowResult`; it may have a ``close()``
method, called when the session closes. If a sink raises, the session reports
it (``Session.errors`` and a warning), keeps the undelivered results and
offers them again, in order, with the next result and at close: a failing
sink delays data, it does not lose it.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from somacore.readers._common import atomic_write_text

__all__ = ["CallbackSink", "CsvSink", "ListSink"]


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
