"""somacore-edf: EDF/BDF reader and writers for somacore (built on ``edfio``)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from somacore_edf.edf import BdfWriter, EdfReader, EdfWriter, read_header

try:
    __version__ = version("somacore-edf")
except PackageNotFoundError:  # pragma: no cover - source tree
    __version__ = "0+unknown"

__all__ = ["BdfWriter", "EdfReader", "EdfWriter", "__version__", "read_header"]
