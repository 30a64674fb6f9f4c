"""Entry point ``eda`` of the ``somacore`` group: registers the plugin's metrics.

Importing this module is cheap (no Numba); kernels compile on first use.
"""

from __future__ import annotations

from typing import Any

from somacore.plugins import hookimpl

from somacore_eda.metrics import ArousalMetric, EdaMetric, HrArousalMetric


@hookimpl
def somacore_register_metrics(register: Any) -> None:
    """Register ``eda``, ``eda_arousal`` and ``hr_arousal``."""
    register(EdaMetric())
    register(ArousalMetric())
    register(HrArousalMetric())
