"""Types a plugin implements or receives: streams, chunks, drivers, readers, writers, metrics.

Everything here is plain data or a :class:`typing.Protocol`: a plugin never has to
subclass anything from somacore, it only has to provide the attributes and
methods below (``somacore.testing`` checks that it does).
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from somacore.signals import KINDS, Recording, check_kind

__all__ = [
    "KINDS",
    "Chunk",
    "Driver",
    "Metric",
    "Reader",
    "StreamInfo",
    "StreamWindow",
    "Window",
    "Writer",
]


@dataclass(frozen=True)
class StreamInfo:
    """Description of one stream a driver produces.

    Attributes
    ----------
    name : str
        Unique within the driver (``"ecg"``, ``"polar-h10/ecg"``...). Chunks name it.
    kind : {"ecg", "ppg", "resp", "eda", "emg", "rr", "acc"}
        What the stream measures.
    units : str
        Units of the samples (``"mV"``, ``"uS"``, ``"s"`` for rr, ``"adc"``...).
    nominal_fs : float or None
        Nominal sampling rate in Hz; None for event streams whose values come at
        irregular times (``rr``). Chunks of a regular stream may still carry
        per-sample timestamps.
    channels : int
        Columns per sample (1: samples have shape (n,); k > 1: shape (n, k)).
    """

    name: str
    kind: str
    units: str
    nominal_fs: float | None
    channels: int = 1

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"StreamInfo.name must be a non-empty string, got {self.name!r}")
        check_kind(self.kind, what=f"stream {self.name!r} kind")
        if self.nominal_fs is not None:
            fs = self.nominal_fs
            if isinstance(fs, bool) or not isinstance(fs, (int, float, np.integer, np.floating)) \
                    or not math.isfinite(float(fs)) or float(fs) <= 0:
                raise ValueError(f"stream {self.name!r}: nominal_fs={fs!r} must be a positive "
                                 "number of Hz, or None for an irregular stream")
            object.__setattr__(self, "nominal_fs", float(fs))
        if isinstance(self.channels, bool) or not isinstance(self.channels, int) \
                or self.channels < 1:
            raise ValueError(f"stream {self.name!r}: channels={self.channels!r} must be an "
                             "integer >= 1")


@dataclass(frozen=True, eq=False)
class Chunk:
    """A block of samples of one stream, as a driver yields it.

    Give either ``timestamps`` (one per sample, seconds) or ``t0`` (time of the
    first sample, seconds) with ``fs``; the stream's ``nominal_fs`` is used when
    ``fs`` is omitted.

    Attributes
    ----------
    stream : str
        Name of the :class:`StreamInfo` the samples belong to.
    samples : ndarray, shape (n,) or (n, channels)
        Numeric samples in the stream's units.
    seq : int
        Packet sequence number, +1 per chunk of this stream. A jump means lost
        packets (the session inserts a NaN gap; it never stitches across).
    t0 : float or None
        Time of the first sample in seconds on the driver's clock.
    fs : float or None
        Sampling rate of this chunk, defaults to the stream's ``nominal_fs``.
    timestamps : ndarray of float64, shape (n,), or None
        Per-sample times in seconds (overrides t0).
    """

    stream: str
    samples: np.ndarray
    seq: int
    t0: float | None = None
    fs: float | None = None
    timestamps: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.timestamps is None and self.t0 is None:
            raise ValueError(f"chunk of stream {self.stream!r}: give t0 (and fs) or timestamps")
        if self.timestamps is not None:
            ts = np.asarray(self.timestamps, dtype=np.float64)
            object.__setattr__(self, "timestamps", ts)
            if self.t0 is None and ts.size:
                object.__setattr__(self, "t0", float(ts[0]))

    @property
    def n(self) -> int:
        """Number of samples (rows)."""
        x = self.samples
        if isinstance(x, np.ndarray):
            return x.shape[0] if x.ndim else 0
        return int(np.shape(x)[0]) if np.ndim(x) else 0

    def times(self, fs: float | None = None) -> np.ndarray:
        """Per-sample times in seconds (from ``timestamps`` or ``t0 + i / fs``)."""
        if self.timestamps is not None:
            return self.timestamps
        rate = self.fs or fs
        if not rate:
            raise ValueError(f"chunk of stream {self.stream!r} has t0 but no fs; give fs or "
                             "timestamps")
        return self.t0 + np.arange(self.n) / rate


@dataclass(frozen=True, eq=False)
class StreamWindow:
    """One stream's part of an analysis window.

    Attributes
    ----------
    info : StreamInfo
        The stream.
    data : ndarray, shape (m,) or (m, channels)
        Samples with times in ``[start, end)``: exactly ``round(window_s * fs)``
        rows for a regular stream, NaN where samples were lost or not yet
        recorded. For an irregular stream, the values inside the window.
    times : ndarray, shape (m,)
        Time of each row in seconds (session clock).
    beats : ndarray of float64 or None
        For ``ecg``/``ppg`` streams, the times (s) of the heartbeats detected in
        the window; None for other kinds.
    intervals : ndarray of float64 or None
        One per beat: the inter-beat interval (s) ending at that beat (RR for
        ECG, PP for PPG), NaN when it spans lost signal or is the first beat.
        For ``resp`` streams, one per breath: the time (s) from the previous
        end of inspiration, NaN when it spans lost signal or is the first.
    missing : float
        Fraction of the window without samples (0 = complete, 1 = nothing).
    breaths : ndarray of float64 or None
        For ``resp`` streams, the times (s) of the ends of inspiration of the
        breaths decided so far in the window (a breath is decided a breath or
        more later, so the last one may still be missing); None for other kinds.
    """

    info: StreamInfo
    data: np.ndarray
    times: np.ndarray
    beats: np.ndarray | None = None
    intervals: np.ndarray | None = None
    missing: float = 0.0
    breaths: np.ndarray | None = None

    @property
    def fs(self) -> float | None:
        """Nominal sampling rate of the stream."""
        return self.info.nominal_fs


@dataclass(frozen=True, eq=False)
class Window:
    """What :meth:`Metric.compute` receives: one person's streams over one window.

    Attributes
    ----------
    person : str
        Whose streams these are.
    start, end : float
        Window bounds in seconds on the session clock (half-open ``[start, end)``).
    streams : mapping of str to StreamWindow
        Keyed by stream name (``"<driver>/<stream>"`` in a session).
    """

    person: str
    start: float
    end: float
    streams: Mapping[str, StreamWindow] = field(default_factory=dict)

    def kind(self, kind: str) -> StreamWindow:
        """The first stream of ``kind`` (KeyError if the person has none)."""
        for s in self.streams.values():
            if s.info.kind == kind:
                return s
        raise KeyError(f"person {self.person!r} has no {kind} stream in this window")

    def kinds(self) -> set[str]:
        """Kinds of the streams present."""
        return {s.info.kind for s in self.streams.values()}


@runtime_checkable
class Driver(Protocol):
    """A source of live chunks (a device transport, or its replay twin).

    ``streams()`` is called once before iteration. ``chunks()`` yields
    :class:`Chunk` objects (of any of the streams, in the order they arrive)
    and returns when the device disconnects cleanly; it raises (e.g.
    ``ConnectionError``) on a broken connection. ``achunks()`` is the same for
    asyncio transports (BLE). ``close()`` releases the device; it must be safe
    to call twice and after a failure.

    Optional attribute ``blocking`` (default True): False declares that
    ``chunks()`` never waits (a replay as fast as possible), so a session may
    read it without a helper thread.
    """

    name: str

    def streams(self) -> list[StreamInfo]: ...

    def chunks(self) -> Iterator[Chunk]: ...

    def achunks(self) -> AsyncIterator[Chunk]: ...

    def close(self) -> None: ...


@runtime_checkable
class Reader(Protocol):
    """Reads a file format into a :class:`~somacore.signals.Recording`.

    Attributes
    ----------
    name : str
        Short unique name (``"csv"``, ``"wfdb"``, ``"e4"``...).
    extensions : tuple of str
        Lower-case suffixes with the dot (``(".csv",)``); used to pick
        candidates before ``sniff``.

    ``sniff(path)`` looks at the file cheaply (name, first bytes) and returns
    True if this reader can read it; it must not raise for foreign files.
    ``read(path)`` returns a Recording, or raises ``ValueError`` (malformed,
    truncated, not this format) / ``FileNotFoundError`` whose message names the
    file and the problem.
    """

    name: str
    extensions: tuple[str, ...]

    def sniff(self, path: Path) -> bool: ...

    def read(self, path: Path) -> Recording: ...


@runtime_checkable
class Writer(Protocol):
    """Writes a :class:`~somacore.signals.Recording` to a file format.

    ``write(recording, path)`` must write atomically (the target is either
    the old file or the complete new one) and raise ``ValueError`` for
    recordings it cannot represent.
    """

    name: str
    extensions: tuple[str, ...]

    def write(self, recording: Recording, path: Path) -> None: ...


@runtime_checkable
class Metric(Protocol):
    """A per-person metric computed over sliding windows.

    Attributes
    ----------
    name : str
        Unique metric name (``"hr"``, ``"scl"``...).
    inputs : tuple of str
        Channel kinds it needs; it is computed for every person who has all of them,
        and its window holds the streams of these kinds only.
    window_s : float
        Window length in seconds it wants (the session uses its own window when
        this is shorter than the session's; see :class:`somacore.stream.session.Session`).
    outputs : mapping of str to str
        Output name -> unit, e.g. ``{"hr_bpm": "bpm"}``. ``compute`` returns
        exactly these keys.
    kernel : callable or None
        Optional Numba-compiled (``somacore.numba.jit``) function ``compute`` uses.

    ``compute(window)`` receives a :class:`Window` and returns a dict of floats
    keyed by ``outputs`` (NaN when the window has too little signal). It is
    called once per window, never per sample.
    """

    name: str
    inputs: tuple[str, ...]
    window_s: float
    outputs: Mapping[str, str]

    def compute(self, window: Window) -> dict[str, float]: ...


#: Signature of the ``register`` callback plugins receive.
Register = Callable[..., None]


def describe(obj: Any) -> str:
    """Short description of a registered object for messages."""
    name = getattr(obj, "name", None)
    return f"{type(obj).__name__}({name!r})" if name else repr(obj)
