"""Helpers shared by the built-in readers."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import numpy as np


class FormatError(ValueError):
    """A file is corrupt, truncated or not in the format its reader expects.

    The message always starts with the file path.
    """

    def __init__(self, path: os.PathLike[str] | str, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


def head_text(path: Path, n: int = 4096) -> str:
    """First ``n`` bytes of a file as text ('' if unreadable or binary)."""
    try:
        with open(path, "rb") as f:
            raw = f.read(n)
    except OSError:
        return ""
    if b"\x00" in raw:
        return ""
    return raw.decode("utf-8", errors="replace")


def require_file(path: Path) -> Path:
    """Raise FileNotFoundError naming ``path`` unless it is a file."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    return path


def load_table(path: Path, text_lines: list[str], *, delimiter: str | None, ncols: int,
               first_line_no: int) -> np.ndarray:
    """Parse numeric rows into a float64 array of shape (n, ncols) with clear errors.

    Empty fields and ``nan`` become NaN. ``first_line_no`` is the 1-based file line
    number of ``text_lines[0]``, used in messages.
    """
    rows = [ln for ln in text_lines if ln.strip()]
    if not rows:
        return np.zeros((0, ncols))
    try:
        arr = np.loadtxt(rows, delimiter=delimiter, dtype=np.float64, ndmin=2)
    except ValueError:
        arr = None
    if arr is not None and arr.shape[1] == ncols:
        return arr
    # slow path: locate the problem (or accept empty fields as NaN)
    out = np.empty((len(rows), ncols))
    lineno = first_line_no - 1
    k = 0
    for ln in text_lines:
        lineno += 1
        if not ln.strip():
            continue
        fields = ln.split(delimiter) if delimiter else ln.split()
        if len(fields) != ncols:
            last = k == len(rows) - 1
            raise FormatError(path, f"line {lineno} has {len(fields)} field(s), expected "
                              f"{ncols}" + (" (the file looks truncated)" if last else ""))
        for j, f in enumerate(fields):
            f = f.strip()
            try:
                out[k, j] = float(f) if f else np.nan
            except ValueError:
                raise FormatError(path, f"line {lineno}, column {j + 1}: {f!r} is not a "
                                  "number") from None
        k += 1
    return out


def atomic_write(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """Write ``path`` atomically: ``write(f)`` fills a temporary file in the same
    folder, which is flushed to disk and then renamed over ``path``. On any error
    the temporary file is removed and ``path`` is untouched."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8, ``\\n`` line ends) to ``path`` atomically."""
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))
