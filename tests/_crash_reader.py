"""A reader plugin whose ``read`` kills its own process (fault tests of ``somacore.batch``).

Installed in pool workers through the pool's ``initializer``, so a session whose
file ends in ``.crash`` takes its worker process down, every time it runs.
"""

from __future__ import annotations

import os
from pathlib import Path

from somacore.plugins import hookimpl

#: exit status of a worker killed by a ``.crash`` file
EXIT_STATUS = 70


class CrashReader:
    """Claims ``*.crash`` files; reading one ends the process without clean-up."""

    name = "crash-test"
    extensions = (".crash",)

    def sniff(self, path: Path) -> bool:
        return Path(path).suffix == ".crash"

    def read(self, path: Path):
        os._exit(EXIT_STATUS)


class _Plugin:
    @hookimpl
    def somacore_register_readers(self, register) -> None:
        register(CrashReader())


def install() -> None:
    """Register the crash reader in this process (a pool ``initializer``)."""
    from somacore.plugins import get_manager

    mgr = get_manager()
    if "crash-test" not in mgr.plugin_names():
        mgr.register(_Plugin(), "crash-test")
