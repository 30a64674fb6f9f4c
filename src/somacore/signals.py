"""Recorded signals: :class:`Channel` and :class:`Recording`.

A :class:`Recording` is what every reader returns (built-in or plugin) and what
the replay driver plays back. It holds channels of one or several kinds, each
with its own sampling rate, units and start time on a shared clock (seconds).

Regular channels have a sampling rate ``fs`` and sample ``i`` lies at
``t0 + i / fs``. Irregular channels (``fs is None``; e.g. the inter-beat
intervals of an Empatica ``IBI.csv``) carry the time of every value in
``times``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import numpy as np

__all__ = ["KINDS", "Channel", "Kind", "Recording", "check_kind"]

#: Channel kinds somacore understands.
Kind = Literal["ecg", "ppg", "resp", "eda", "emg", "rr", "acc"]
KINDS: frozenset[str] = frozenset(get_args(Kind))


def check_kind(kind: Any, *, what: str = "kind") -> str:
    """Return ``kind`` if it is a known channel kind, else raise a clear ValueError."""
    if kind not in KINDS:
        raise ValueError(f"{what} {kind!r} is not a known channel kind; use one of "
                         f"{', '.join(sorted(KINDS))}.")
    return kind


def _readonly(a: np.ndarray) -> np.ndarray:
    if a.flags.writeable:
        a.flags.writeable = False
    return a


@dataclass(frozen=True, eq=False)
class Channel:
    """One recorded channel.

    Attributes
    ----------
    data : ndarray, shape (n,) or (n, k)
        Samples in ``units`` (float64 unless the reader documents otherwise);
        NaN marks lost samples. Several columns for vector signals (``acc``).
    fs : float or None
        Sampling rate in Hz, or None for an irregular series (then ``times``
        is required).
    kind : {"ecg", "ppg", "resp", "eda", "emg", "rr", "acc"}
        What the channel measures.
    units : str
        Physical units of ``data`` (``"mV"``, ``"uS"``, ``"s"``, ``"g"``,
        ``"adc"`` for raw converter counts, ``"au"`` when unknown).
    t0 : float
        Time of the first sample in seconds on the recording's clock (unix time
        when the file gives it, else 0).
    name : str
        Label from the file (``"MLII"``, ``"BVP"``, ``"ecg_mV"``...).
    times : ndarray of float64, shape (n,), or None
        Irregular channels only: time of each value in seconds (same clock as t0).
    """

    data: np.ndarray
    fs: float | None
    kind: str
    units: str = "au"
    t0: float = 0.0
    name: str = ""
    times: np.ndarray | None = None

    def __post_init__(self) -> None:
        check_kind(self.kind, what=f"channel {self.name!r} kind")
        data = np.asarray(self.data)
        if data.ndim not in (1, 2):
            raise ValueError(f"channel {self.name!r}: data must have shape (n,) or (n, k), "
                             f"got {data.shape}")
        if data.dtype.kind not in "fiu":
            raise ValueError(f"channel {self.name!r}: data must be numeric, got {data.dtype}")
        object.__setattr__(self, "data", _readonly(data))
        if self.fs is None:
            if self.times is None:
                raise ValueError(f"channel {self.name!r}: an irregular channel (fs=None) needs "
                                 "times")
        else:
            fs = float(self.fs)
            if not (math.isfinite(fs) and fs > 0):
                raise ValueError(f"channel {self.name!r}: fs={self.fs!r} must be a positive "
                                 "number of Hz")
            object.__setattr__(self, "fs", fs)
        if self.times is not None:
            t = np.asarray(self.times, dtype=np.float64)
            if t.shape != (data.shape[0],):
                raise ValueError(f"channel {self.name!r}: times has shape {t.shape}, expected "
                                 f"({data.shape[0]},)")
            object.__setattr__(self, "times", _readonly(t))
        if not math.isfinite(float(self.t0)):
            raise ValueError(f"channel {self.name!r}: t0 must be finite")
        object.__setattr__(self, "t0", float(self.t0))

    def __len__(self) -> int:
        return int(self.data.shape[0])

    @property
    def n_channels(self) -> int:
        """Number of columns (1 for a 1-D channel)."""
        return 1 if self.data.ndim == 1 else int(self.data.shape[1])

    @property
    def duration(self) -> float:
        """Duration in seconds (span of ``times`` for irregular channels)."""
        if self.fs is None:
            return float(self.times[-1] - self.times[0]) if len(self) else 0.0
        return len(self) / self.fs

    def sample_times(self) -> np.ndarray:
        """Time in seconds of every sample (``t0 + i / fs``, or ``times``)."""
        if self.times is not None:
            return self.times
        return self.t0 + np.arange(len(self)) / self.fs

    def __repr__(self) -> str:
        rate = "irregular" if self.fs is None else f"{self.fs:g} Hz"
        return (f"Channel({self.name!r}, kind={self.kind!r}, n={len(self)}, {rate}, "
                f"units={self.units!r}, t0={self.t0:g})")


@dataclass(frozen=True, eq=False)
class Recording:
    """Channels read from one file or directory.

    Attributes
    ----------
    channels : tuple of Channel
        In file order. Index by position or by channel name.
    source : str
        Where it came from (a path), for messages.
    meta : mapping
        Reader-specific extras (device, skipped columns, header fields...).
    """

    channels: tuple[Channel, ...]
    source: str = ""
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        chans = tuple(self.channels)
        for c in chans:
            if not isinstance(c, Channel):
                raise TypeError(f"Recording channels must be Channel objects, got {type(c)!r}")
        object.__setattr__(self, "channels", chans)

    def __len__(self) -> int:
        return len(self.channels)

    def __iter__(self) -> Iterator[Channel]:
        return iter(self.channels)

    def __getitem__(self, key: int | str) -> Channel:
        if isinstance(key, str):
            for c in self.channels:
                if c.name == key:
                    return c
            raise KeyError(f"{self.source or 'recording'} has no channel {key!r}; channels: "
                           f"{', '.join(self.names) or 'none'}")
        return self.channels[key]

    @property
    def names(self) -> tuple[str, ...]:
        """Channel names in order."""
        return tuple(c.name for c in self.channels)

    def by_kind(self, kind: str) -> tuple[Channel, ...]:
        """All channels of ``kind``, in order."""
        check_kind(kind)
        return tuple(c for c in self.channels if c.kind == kind)

    def __repr__(self) -> str:
        inner = ", ".join(f"{c.name}:{c.kind}" for c in self.channels)
        return f"Recording({self.source!r}, [{inner}])"
