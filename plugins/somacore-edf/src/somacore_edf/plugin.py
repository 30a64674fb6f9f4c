"""Entry point ``edf`` of the ``somacore`` group: the EDF/BDF reader and writers.

``edfio`` is imported only when a file is read or written.
"""

from __future__ import annotations

from typing import Any

from somacore.plugins import hookimpl

from somacore_edf.edf import BdfWriter, EdfReader, EdfWriter


@hookimpl
def somacore_register_readers(register: Any) -> None:
    """Register the ``edf`` reader (EDF and BDF)."""
    register(EdfReader())


@hookimpl
def somacore_register_writers(register: Any) -> None:
    """Register the ``edf`` (16-bit) and ``bdf`` (24-bit) writers."""
    register(EdfWriter())
    register(BdfWriter())
