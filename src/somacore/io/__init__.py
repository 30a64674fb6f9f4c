"""Readers for physiological-signal file formats (numpy only).

:func:`read_wfdb` and :func:`read_annotations` read PhysioNet WFDB records and
MIT-format annotation files without the ``wfdb`` package.
"""

from __future__ import annotations

from somacore.io.wfdb import (
    BEAT_SYMBOLS,
    Annotations,
    WfdbRecord,
    beat_annotations,
    read_annotations,
    read_wfdb,
)

__all__ = [
    "BEAT_SYMBOLS",
    "Annotations",
    "WfdbRecord",
    "beat_annotations",
    "read_annotations",
    "read_wfdb",
]
