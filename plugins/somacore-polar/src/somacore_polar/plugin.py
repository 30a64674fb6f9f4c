"""Entry point ``polar`` of the ``somacore`` group: registers the ``polar-h10`` driver.

Nothing heavy is imported here; ``bleak`` only when a driver connects.
"""

from __future__ import annotations

from typing import Any

from somacore.plugins import hookimpl


@hookimpl
def somacore_register_drivers(register: Any) -> None:
    """Register ``polar-h10`` (options: ``address``, ``ecg``, ``duration_s``, ...)."""
    from somacore_polar.driver import PolarH10Driver

    register("polar-h10", PolarH10Driver,
             description="Polar H10 chest strap over BLE: RR intervals and 130 Hz ECG")
