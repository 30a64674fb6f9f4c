"""somacore: fast heartbeat, breath and synchrony analysis of physiological signals.

The public names below are loaded lazily on first use (PEP 562), so
``import somacore`` costs only this module: no compiled kernel, no plugin and
no optional dependency is imported until it is needed.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> module that defines it. No public function shares its name
# with a submodule: importing a submodule binds it on the package, which would
# otherwise shadow the function (``somacore.hrv`` must stay callable).
_LAZY = {
    "Beats": "somacore.beats",
    "detect_beats": "somacore.beats",
    "HRV": "somacore.hrv_metrics",
    "hrv": "somacore.hrv_metrics",
    "hrv_from_intervals": "somacore.hrv_metrics",
    "HeartRate": "somacore.hr_series",
    "heart_rate": "somacore.hr_series",
    "Breaths": "somacore.breath",
    "BreathParams": "somacore.breath",
    "segment_breaths": "somacore.breath",
    "breathing_rate": "somacore.breath",
    "breath_variability": "somacore.breath",
    "rsa": "somacore.breath",
    "WindowedXcorr": "somacore.synchrony",
    "windowed_xcorr": "somacore.synchrony",
    "concordance": "somacore.synchrony",
    "phase_synchrony": "somacore.synchrony",
    "group_synchrony": "somacore.synchrony",
    "surrogate_test": "somacore.synchrony",
    "pseudo_pairs": "somacore.synchrony",
    "align_series": "somacore.synchrony",
    "Recording": "somacore.signals",
    "Channel": "somacore.signals",
    "Session": "somacore.stream.session",
    "read": "somacore.plugins",
}
_SUBMODULES = {
    "artifacts", "beats", "breath", "data", "drivers", "eval", "hr_series", "hrv_metrics", "io",
    "numba", "plugins", "pulse", "readers", "signals", "sinks", "stream", "synchrony", "testing",
}

__all__ = [
    "HRV",
    "Beats",
    "BreathParams",
    "Breaths",
    "Channel",
    "HeartRate",
    "Recording",
    "Session",
    "WindowedXcorr",
    "__version__",
    "align_series",
    "breath_variability",
    "breathing_rate",
    "concordance",
    "detect_beats",
    "group_synchrony",
    "heart_rate",
    "hrv",
    "hrv_from_intervals",
    "phase_synchrony",
    "pseudo_pairs",
    "read",
    "rsa",
    "segment_breaths",
    "surrogate_test",
    "windowed_xcorr",
]

if TYPE_CHECKING:  # pragma: no cover
    from somacore.beats import Beats, detect_beats
    from somacore.breath import (
        BreathParams,
        Breaths,
        breath_variability,
        breathing_rate,
        rsa,
        segment_breaths,
    )
    from somacore.hr_series import HeartRate, heart_rate
    from somacore.hrv_metrics import HRV, hrv, hrv_from_intervals
    from somacore.plugins import read
    from somacore.signals import Channel, Recording
    from somacore.stream.session import Session
    from somacore.synchrony import (
        WindowedXcorr,
        align_series,
        concordance,
        group_synchrony,
        phase_synchrony,
        pseudo_pairs,
        surrogate_test,
        windowed_xcorr,
    )


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f"somacore.{name}")
    raise AttributeError(f"module 'somacore' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*__all__, *_SUBMODULES])
