"""Streaming (live) counterparts of the batch API.

Each class wraps the same compiled kernel as its batch function, so feeding a
recording chunk by chunk gives exactly the batch result. Names are loaded on
first use, so importing this package loads no kernel.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_LAZY = {
    "BeatDetector": "somacore.stream.beats",
    "BreathSegmenter": "somacore.stream.breath",
    "Session": "somacore.stream.session",
    "SynchronyMonitor": "somacore.stream.synchrony",
}

__all__ = ["BeatDetector", "BreathSegmenter", "Session", "SynchronyMonitor"]

if TYPE_CHECKING:  # pragma: no cover
    from somacore.stream.beats import BeatDetector
    from somacore.stream.breath import BreathSegmenter
    from somacore.stream.session import Session
    from somacore.stream.synchrony import SynchronyMonitor


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'somacore.stream' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
