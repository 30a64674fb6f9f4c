"""somacore-xdf: XDF recordings (Lab Streaming Layer, LabRecorder) as somacore Recordings."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from somacore_xdf.xdf import XdfReader, kind_of, scan_chunks

try:
    __version__ = version("somacore-xdf")
except PackageNotFoundError:  # pragma: no cover - source tree
    __version__ = "0+unknown"

__all__ = ["XdfReader", "__version__", "kind_of", "scan_chunks"]
