"""Entry point ``emg`` of the ``somacore`` group: registers ``emg_tension``.

Importing this module is cheap (no Numba); kernels compile on first use.
"""

from __future__ import annotations

from typing import Any

from somacore.plugins import hookimpl

from somacore_emg.metrics import EmgMetric


@hookimpl
def somacore_register_metrics(register: Any) -> None:
    """Register ``emg_tension``."""
    register(EmgMetric())
