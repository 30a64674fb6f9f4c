"""somacore-emg: muscle tension (RMS envelope, bursts) for somacore.

Public API (imported lazily, so ``import somacore_emg`` compiles nothing)::

    from somacore_emg import rms_envelope, detect_bursts
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

try:
    __version__ = version("somacore-emg")
except PackageNotFoundError:  # pragma: no cover - source tree
    __version__ = "0+unknown"

_LAZY = {"rms_envelope": "somacore_emg.bursts", "detect_bursts": "somacore_emg.bursts",
         "Bursts": "somacore_emg.bursts", "EmgMetric": "somacore_emg.metrics"}

__all__ = ["__version__", *sorted(_LAZY)]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'somacore_emg' has no attribute {name!r}")
