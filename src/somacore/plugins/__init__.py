"""somacore's plugin system (pluggy, project and entry-point group ``"somacore"``).

Write a plugin with :data:`hookimpl` and the specs in
:mod:`somacore.plugins.hookspecs`; check it with :mod:`somacore.testing`.
Nothing is loaded until first use (:func:`get_manager`).
"""

from __future__ import annotations

from typing import Any

from somacore.plugins.hookspecs import PROJECT, hookimpl
from somacore.plugins.manager import (
    DriverEntry,
    PluginError,
    PluginInfo,
    PluginManager,
    PluginWarning,
    format_plugins_table,
    get_manager,
    print_plugins,
    reset_manager,
)

__all__ = [
    "PROJECT",
    "DriverEntry",
    "PluginError",
    "PluginInfo",
    "PluginManager",
    "PluginWarning",
    "format_plugins_table",
    "get_manager",
    "hookimpl",
    "list_plugins",
    "open_reader",
    "print_plugins",
    "read",
    "reset_manager",
]


def open_reader(path: Any) -> Any:
    """The registered reader that opens ``path`` (see :meth:`PluginManager.open_reader`)."""
    return get_manager().open_reader(path)


def read(path: Any, *, reader: str | None = None) -> Any:
    """Read a file with the reader that recognises it (or the one named) into a Recording."""
    return get_manager().read(path, reader=reader)


def list_plugins() -> list[PluginInfo]:
    """Loaded plugins with their distribution and version."""
    return get_manager().list_plugins()
