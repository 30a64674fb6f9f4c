"""somacore-lsl: Lab Streaming Layer (LSL) streams as live somacore drivers, and a
session's results as LSL streams (:class:`LslOutletSink`)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from somacore_lsl.driver import LslDriver, LslGap, StreamNotFoundError, describe_streams
from somacore_lsl.metadata import kind_of, layout_from_xml
from somacore_lsl.sink import LslOutletSink

try:
    __version__ = version("somacore-lsl")
except PackageNotFoundError:  # pragma: no cover - source tree
    __version__ = "0+unknown"

__all__ = ["LslDriver", "LslGap", "LslOutletSink", "StreamNotFoundError", "__version__",
           "describe_streams", "kind_of", "layout_from_xml"]
