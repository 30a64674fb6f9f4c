"""Built-in drivers: :class:`ReplayDriver`, the replay twin of every device driver;
:class:`DriverGap`, the gap record every driver reports; :class:`PollingDriver`, the
base class of drivers that poll a device's buffer (it writes their read loop)."""

from __future__ import annotations

from somacore.drivers.gaps import DriverGap
from somacore.drivers.polling import PollingDriver
from somacore.drivers.replay import ReplayDriver, chunks_from_recording

__all__ = ["DriverGap", "PollingDriver", "ReplayDriver", "chunks_from_recording"]
