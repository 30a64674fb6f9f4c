"""Streaming (live) counterparts of the batch API.

Each class wraps the same compiled kernel as its batch function, so feeding a
recording chunk by chunk gives exactly the batch result.
"""

from __future__ import annotations

from somacore.stream.beats import BeatDetector

__all__ = ["BeatDetector"]
