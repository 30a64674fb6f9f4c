"""Entry point ``brainflow`` of the ``somacore`` group: registers the ``brainflow`` driver.

Nothing heavy is imported here; ``brainflow`` (and its native library) only
when a driver is created.
"""

from __future__ import annotations

from typing import Any

from somacore.plugins import hookimpl


@hookimpl
def somacore_register_drivers(register: Any) -> None:
    """Register ``brainflow`` (options: ``board_id``, ``params``, ``kinds``, ...)."""
    from somacore_brainflow.driver import BrainFlowDriver

    register("brainflow", BrainFlowDriver,
             description="BrainFlow boards (synthetic -1, playback -3, OpenBCI, ...): "
                         "ECG/EXG, PPG, EDA, accelerometer")
