"""Built-in numpy-only readers, registered by :mod:`somacore.plugins.builtin`.

Use :func:`somacore.plugins.read` to read a file with whichever registered
reader (built-in or plugin) recognises it.
"""

from __future__ import annotations

from somacore.readers._common import FormatError
from somacore.readers.csv import CsvReader, CsvWriter
from somacore.readers.e4 import E4Reader
from somacore.readers.opensignals import OpenSignalsReader
from somacore.readers.raw import RawReader, read_session
from somacore.readers.wfdb import WfdbReader

__all__ = ["CsvReader", "CsvWriter", "E4Reader", "FormatError", "OpenSignalsReader",
           "RawReader", "WfdbReader", "read_session"]
