"""somacore-brainflow: BrainFlow boards as live somacore drivers."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from somacore_brainflow.driver import BrainFlowDriver, streams_for_board

try:
    __version__ = version("somacore-brainflow")
except PackageNotFoundError:  # pragma: no cover - source tree
    __version__ = "0+unknown"

__all__ = ["BrainFlowDriver", "__version__", "streams_for_board"]
