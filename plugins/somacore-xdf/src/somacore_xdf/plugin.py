"""Entry point ``xdf`` of the ``somacore`` group: the XDF reader.

``pyxdf`` is imported only when a file is read.
"""

from __future__ import annotations

from typing import Any

from somacore.plugins import hookimpl

from somacore_xdf.xdf import XdfReader


@hookimpl
def somacore_register_readers(register: Any) -> None:
    """Register the ``xdf`` reader (``.xdf``, ``.xdfz``)."""
    register(XdfReader())
