"""The gap record that device drivers report (one type for every driver plugin)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DriverGap"]


@dataclass(frozen=True)
class DriverGap:
    """Samples a device driver lost between two chunks.

    ``[start, end)`` in seconds of the session clock, ``samples`` of them
    (what the driver filled with NaN, or the count implied by skipped packet
    numbers). Drivers keep these in their ``gaps`` list.
    """

    start: float
    end: float
    samples: int
