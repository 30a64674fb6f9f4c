"""Built-in drivers: :class:`ReplayDriver`, the replay twin of every device driver."""

from __future__ import annotations

from somacore.drivers.replay import ReplayDriver, chunks_from_recording

__all__ = ["ReplayDriver", "chunks_from_recording"]
