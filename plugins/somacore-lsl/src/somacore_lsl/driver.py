"""LSL inlet driver: one Lab Streaming Layer stream as somacore chunks.

Finding the stream
------------------
The stream is resolved on the network by ``stream`` (its LSL name), ``type``,
``source_id`` or a full LSL ``predicate`` (XPath 1.0 over the stream info),
waiting up to ``resolve_timeout_s``. None found: :class:`StreamNotFoundError`
listing the streams that are visible; several found: ``ValueError`` listing
them (give ``source_id=`` to pick one: somacore never picks a device at random;
after the first answer the driver listens 0.2 s more for a second one).

Channels
--------
The stream's ``<desc><channels>`` metadata (label, type, unit) decide the
somacore streams, with the stream's own ``nominal_srate`` as ``nominal_fs``;
see :mod:`somacore_lsl.metadata`. A stream declaring an irregular rate
(``nominal_srate`` 0) is refused unless its channels are ``rr`` (read as
irregular events with their timestamps) or ``fs=`` names the true rate.

Clock
-----
LSL timestamps are on the *source's* ``local_clock``. Each is converted to
this machine's LSL clock by adding ``StreamInlet.time_correction()``
(re-measured every ``correction_interval_s``; its last value is
:attr:`LslDriver.time_correction_s`), and with ``clock="unix"`` further to
unix time (the offset ``time.time() - local_clock()`` measured once when
reading starts). A chunk's ``t0`` is the converted timestamp of its first
sample, so the session follows the source's own clock (no drift between the
nominal rate and the device's crystal builds up); within a chunk, samples are
``1 / fs`` apart.

Lost samples
------------
Consecutive samples whose (source) timestamps are more than
``gap_factor / fs`` apart (default 1.5 sample periods) have lost samples
between them: ``round(step * fs) - 1`` of them (at least one). The chunk ends
there, the next chunk's ``seq`` skips one and its ``t0`` is the first sample
after the loss, so a :class:`~somacore.stream.session.Session` records a
NaN gap; the two sides are never joined. Every loss is kept in
:attr:`LslDriver.gaps`. The inlet's dejitter post-processing is *not*
used: it fits timestamps to the sample count and would smear a loss over the
following minutes. A source stamping each pushed chunk with a late push time
can show a false loss at a chunk boundary when its push jitter exceeds half a
sample period; raise ``gap_factor`` for such a source. A step backwards ends the
chunk too (no loss): the session then raises
:class:`~somacore.stream.session.TimestampError` unless it lies within its jitter
tolerance, so samples are never silently placed at the wrong time.

``pylsl`` is imported when a driver is created, not with the plugin.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from somacore.drivers import DriverGap, PollingDriver
from somacore.plugins.types import Chunk, StreamInfo

from somacore_lsl.metadata import LslLayout, layout_from_xml, parse_info_xml

__all__ = ["LslDriver", "LslGap", "StreamNotFoundError", "describe_streams"]

CLOCKS = ("lsl", "unix")
#: extra listening (s) for a second stream matching the query
AMBIGUITY_WAIT_S = 0.2


class StreamNotFoundError(LookupError):
    """No LSL stream matched the query within the resolve timeout."""


#: the gap record of every somacore driver (kept under this name for this plugin's users)
LslGap = DriverGap


def _pylsl() -> Any:
    try:
        import pylsl
    except ImportError:  # pragma: no cover - a dependency of this distribution
        raise ImportError("the lsl driver needs the pylsl package: pip install pylsl") from None
    except RuntimeError as exc:  # pragma: no cover - pylsl found no liblsl
        raise ImportError(f"pylsl cannot load liblsl: {exc}") from None
    return pylsl


def _quote(label: str, v: str) -> str:
    if "'" in v:
        raise ValueError(f"{label}={v!r} contains a single quote; pass predicate=... instead")
    return f"{label}='{v}'"


def describe_streams(wait_s: float = 1.0) -> list[str]:
    """One line per LSL stream visible on the network (name, type, rate, channels, source)."""
    pylsl = _pylsl()
    out = []
    for i in pylsl.resolve_streams(wait_time=wait_s):
        rate = "irregular" if i.nominal_srate() == 0 else f"{i.nominal_srate():g} Hz"
        out.append(f"{i.name()!r} (type {i.type()!r}, {rate}, {i.channel_count()} channels, "
                   f"source_id {i.source_id()!r} on {i.hostname()})")
    return sorted(out)


class LslDriver(PollingDriver):
    """Live chunks from one LSL stream (an outlet anywhere on the network).

    Parameters
    ----------
    stream : str, optional
        LSL stream name to resolve.
    type : str, optional
        LSL stream type to resolve (``"ECG"``...).
    source_id : str, optional
        LSL source id (the device's serial, usually): picks one of several
        streams with the same name.
    predicate : str, optional
        A full LSL resolve predicate (``"name='H10' and hostname='lab3'"``);
        replaces the three above.
    resolve_timeout_s : float
        Longest wait to find the stream and read its description.
    timeout_s : float or None
        No sample for this long while reading: ``chunks()`` raises
        ``ConnectionError`` (the source stopped or the network is down). The
        watchdog is :class:`~somacore.drivers.PollingDriver`'s; None turns it
        off.
    kinds : mapping, optional
        Channel label or index -> somacore kind (None skips it), overriding
        the stream's declared channel types.
    fs : float, optional
        Sampling rate of a stream that declares an irregular rate but samples
        regularly.
    clock : {"lsl", "unix"}
        Session clock: this machine's LSL clock, or unix time.
    gap_factor : float
        A timestamp step beyond ``gap_factor / fs`` is a loss (> 1).
    duration_s : float, optional
        End cleanly after this many seconds of samples (lost ones included).
    poll_s : float
        Pause between reads when nothing is waiting.
    max_chunk_s : float
        Longest chunk (seconds of samples) read at once.
    correction_interval_s : float
        How often to re-measure the clock offset to the source.
    name : str
        Driver name (stream keys in a session are ``"<name>/<stream>"``).
    inlet_factory : callable, optional
        ``factory(stream_info, **kw)`` returning an object with
        ``pylsl.StreamInlet``'s methods (default ``pylsl.StreamInlet``).

    Attributes
    ----------
    gaps : list of LslGap
        Every loss found in the timestamps.
    skipped : list of (label, type)
        LSL channels not read (kinds somacore does not analyse).
    time_correction_s : float
        Last measured offset from the source's clock to this machine's LSL clock.
    info_xml : str
        The stream's full LSL description.
    """

    #: what the no-data watchdog's message tells the user to check
    _silence_hint = "is the source still sending and the network up?"

    def __init__(self, stream: str | None = None, *, type: str | None = None,
                 source_id: str | None = None, predicate: str | None = None,
                 resolve_timeout_s: float = 5.0, timeout_s: float | None = 5.0,
                 kinds: Mapping[str | int, str | None] | None = None, fs: float | None = None,
                 clock: str = "lsl", gap_factor: float = 1.5, duration_s: float | None = None,
                 poll_s: float = 0.02, max_chunk_s: float = 0.5,
                 correction_interval_s: float = 5.0, name: str = "lsl",
                 inlet_factory: Callable[..., Any] | None = None) -> None:
        for label, v in (("resolve_timeout_s", resolve_timeout_s), ("poll_s", poll_s),
                         ("max_chunk_s", max_chunk_s),
                         ("correction_interval_s", correction_interval_s)):
            if isinstance(v, bool) or not (isinstance(v, (int, float)) and math.isfinite(v)
                                           and v > 0):
                raise ValueError(f"{label}={v!r} must be a positive number of seconds")
        super().__init__(timeout_s=timeout_s)  # the no-data watchdog (checks timeout_s)
        if duration_s is not None and not (isinstance(duration_s, (int, float))
                                           and duration_s > 0):
            raise ValueError(f"duration_s={duration_s!r} must be a positive number of seconds")
        if not (isinstance(gap_factor, (int, float)) and gap_factor > 1):
            raise ValueError(f"gap_factor={gap_factor!r} must be a number > 1 (sample periods)")
        if clock not in CLOCKS:
            raise ValueError(f"clock={clock!r}: use 'lsl' (this machine's LSL clock) or 'unix'")
        if predicate is None:
            parts = [_quote(k, v) for k, v in (("name", stream), ("type", type),
                                                ("source_id", source_id)) if v is not None]
            if not parts:
                raise ValueError("say which LSL stream to read: stream=<name>, type=<type>, "
                                 "source_id=<id> or predicate=<LSL predicate>")
            predicate = " and ".join(parts)
        self.predicate = predicate
        self.name = name
        self.clock = clock
        self.gap_factor = float(gap_factor)
        self.resolve_timeout_s = float(resolve_timeout_s)
        self.duration_s = duration_s
        self.poll_s = float(poll_s)
        self.correction_interval_s = float(correction_interval_s)
        self.gaps: list[LslGap] = []
        self.time_correction_s = 0.0
        self._opened = False
        self._seq = 0
        self._index = 0  # regular streams: samples delivered or lost so far
        self._last_ts: float | None = None  # source timestamp of the last sample
        self._first_t: float | None = None  # session time of the first sample
        self._offset = 0.0  # source clock -> session clock
        self._unix = 0.0
        self._tc_at = -math.inf

        pylsl = _pylsl()
        found = pylsl.resolve_bypred(predicate, 1, float(resolve_timeout_s))
        if not found:
            visible = describe_streams(0.5)
            raise StreamNotFoundError(
                f"no LSL stream matches {predicate!r} within {resolve_timeout_s:g} s; visible "
                f"streams: {'; '.join(visible) or 'none'} (is the source running and on this "
                "network?)")
        if len(found) == 1:
            # LSL returns as soon as `minimum` streams answered: listen a little longer
            # for a second match, so two devices with one name are never mixed up
            found = pylsl.resolve_bypred(predicate, 2, AMBIGUITY_WAIT_S) or found
        if len(found) > 1:
            listed = "; ".join(f"{i.name()!r} source_id {i.source_id()!r} on {i.hostname()}"
                               for i in found)
            raise ValueError(f"{len(found)} LSL streams match {predicate!r}: {listed}; pass "
                             "source_id=... to choose one")
        factory = inlet_factory or pylsl.StreamInlet
        self._inlet = factory(found[0], recover=True, processing_flags=0)
        try:
            full = self._inlet.info(timeout=float(resolve_timeout_s))
        except Exception as exc:
            raise ConnectionError(f"LSL stream matching {predicate!r} was found but its "
                                  f"description could not be read: {exc}") from exc
        self.info_xml = full.as_xml()
        meta = parse_info_xml(self.info_xml)
        self.stream_name = meta["name"]
        self.source_id = meta["source_id"]
        self.channel_count = meta["channel_count"]
        self.layout: LslLayout = layout_from_xml(self.info_xml, kinds=kinds, fs=fs)
        self.skipped = list(self.layout.skipped)
        self.fs = self.layout.fs
        rate = self.fs or 32.0  # an irregular (rr) stream: a bound on values per read
        self._max = max(1, math.ceil(float(max_chunk_s) * rate))

    def __repr__(self) -> str:
        return f"LslDriver({self.stream_name!r}, source_id={self.source_id!r})"

    def streams(self) -> list[StreamInfo]:
        """The somacore streams of this LSL stream (see :mod:`somacore_lsl.metadata`)."""
        return list(self.layout.infos)

    # ------------------------------------------------------------------ inlet
    def _open(self) -> None:
        if self._opened:
            return
        pylsl = _pylsl()
        try:
            self._inlet.open_stream(timeout=self.resolve_timeout_s)
        except Exception as exc:
            raise ConnectionError(f"LSL stream {self.stream_name!r} could not be opened: "
                                  f"{exc}") from exc
        self._opened = True
        if self.clock == "unix":
            self._unix = time.time() - pylsl.local_clock()
        self._correct(force=True)

    def _source_name(self) -> str:
        """The stream in the watchdog's message."""
        return f"LSL stream {self.stream_name!r}"

    def _correct(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._tc_at < self.correction_interval_s:
            return
        try:
            tc = float(self._inlet.time_correction(timeout=self.resolve_timeout_s))
        except Exception as exc:
            if not force:  # keep the last estimate; the next read tries again
                return
            raise ConnectionError(f"LSL stream {self.stream_name!r}: clock offset to the "
                                  f"source could not be measured: {exc}") from exc
        self._tc_at = now
        self.time_correction_s = tc
        self._offset = tc + self._unix

    def close(self) -> None:
        """Close the inlet (safe to call twice)."""
        super().close()
        inlet, self._inlet = getattr(self, "_inlet", None), None
        if inlet is None:
            return
        try:
            inlet.close_stream()
        except Exception:  # already closed, or the link is gone
            pass

    # ------------------------------------------------------------------ reading
    def _read(self) -> list[Chunk] | None:
        """One pull: its chunks ([] if nothing waited), None at the end."""
        inlet = self._inlet
        if inlet is None or self._ended:
            return None
        try:
            data, ts = inlet.pull_chunk(timeout=0.0, max_samples=self._max)
        except Exception as exc:
            if self._closed:
                return None
            raise ConnectionError(f"LSL stream {self.stream_name!r} failed: "
                                  f"{type(exc).__name__}: {exc}") from exc
        if ts is None or len(ts) == 0:
            return []  # nothing yet (the base class's watchdog times a silence)
        reset = getattr(inlet, "was_clock_reset", None)
        # the source restarted (another host, a reboot): its clock offset changed now
        self._correct(force=bool(reset()) if reset is not None else False)
        x = np.asarray(data, dtype=np.float64).reshape(len(ts), self.channel_count)
        return self._split(x, np.asarray(ts, dtype=np.float64))

    def _split(self, x: np.ndarray, ts: np.ndarray) -> list[Chunk]:
        fs = self.fs
        if fs is None:  # only irregular (rr) streams: no timestamp grid to check
            return self._emit(x, ts)
        prev = ts[0] if self._last_ts is None else self._last_ts
        steps = np.diff(ts, prepend=prev)
        lost_at = steps > self.gap_factor / fs
        # a step backwards also ends the chunk (with no loss), so the session sees the
        # timestamps go back and judges them against its jitter tolerance
        cuts = np.flatnonzero(lost_at | (steps < 0)).tolist()
        out: list[Chunk] = []
        a = 0
        for b in [*cuts, ts.size]:
            if b > a:
                out.extend(self._emit(x[a:b], ts[a:b]))
                if self._ended:
                    return out
            if b < ts.size and lost_at[b]:
                lost = max(1, int(np.rint(steps[b] * fs)) - 1)
                before = (ts[b - 1] if b > 0 else self._last_ts) + self._offset
                self.gaps.append(LslGap(before + 1.0 / fs, float(ts[b] + self._offset), lost))
                self._index += lost
                self._seq += 1  # skipped: the session sees the loss
            a = b
        return out

    def _emit(self, x: np.ndarray, ts: np.ndarray) -> list[Chunk]:
        n = ts.size
        t = ts + self._offset
        if self._first_t is None:
            self._first_t = float(t[0])
        if self.duration_s is not None:
            if self.fs is not None:
                room = math.ceil(self.duration_s * self.fs - 1e-9) - self._index
            else:
                room = int(np.searchsorted(t, self._first_t + self.duration_s, side="left"))
            if room < n:
                n = max(0, room)
                self._ended = True
            if n == 0:
                return []
        out = []
        for info, cols in zip(self.layout.infos, self.layout.columns, strict=True):
            v = x[:n, cols[0]].copy() if len(cols) == 1 else np.ascontiguousarray(x[:n][:, cols])
            if info.nominal_fs is None:
                out.append(Chunk(info.name, v, self._seq, timestamps=t[:n].copy()))
            else:
                out.append(Chunk(info.name, v, self._seq, t0=float(t[0]), fs=info.nominal_fs))
        self._seq += 1
        self._index += n
        self._last_ts = float(ts[n - 1])
        if self.duration_s is not None and self.fs is not None and \
                self._index >= math.ceil(self.duration_s * self.fs - 1e-9):
            self._ended = True  # exactly duration_s read: do not wait for more
        return out
