"""somacore-eda: skin conductance and arousal-episode metrics for somacore.

Public API (imported lazily, so ``import somacore_eda`` compiles nothing)::

    from somacore_eda import decompose, detect_scr, detect_episodes, eda_arousal, hr_arousal
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

try:
    __version__ = version("somacore-eda")
except PackageNotFoundError:  # pragma: no cover - source tree
    __version__ = "0+unknown"

_LAZY = {
    "decompose": "somacore_eda.scr", "detect_scr": "somacore_eda.scr",
    "Decomposition": "somacore_eda.scr", "SCRs": "somacore_eda.scr",
    "detect_episodes": "somacore_eda.arousal", "eda_arousal": "somacore_eda.arousal",
    "hr_arousal": "somacore_eda.arousal", "Episodes": "somacore_eda.arousal",
    "EdaMetric": "somacore_eda.metrics", "ArousalMetric": "somacore_eda.metrics",
    "HrArousalMetric": "somacore_eda.metrics",
}

__all__ = ["__version__", *sorted(_LAZY)]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'somacore_eda' has no attribute {name!r}")
