"""Built-in drivers: :class:`ReplayDriver`, the replay twin of every device driver;
:class:`DriverGap`, the gap record every driver reports."""

from __future__ import annotations

from somacore.drivers.gaps import DriverGap
from somacore.drivers.replay import ReplayDriver, chunks_from_recording

__all__ = ["DriverGap", "ReplayDriver", "chunks_from_recording"]
