"""A live multi-person session: drivers in, beats and windowed metrics out.

:class:`Session` holds several people, each with one or more drivers (devices,
or their replay twins). Every chunk is checked (shape, dtype, stream name,
timestamps), placed on the session clock and fed to the stream's analysers:
the streaming :class:`~somacore.stream.BeatDetector` for ECG and PPG streams,
the streaming :class:`~somacore.stream.BreathSegmenter` for respiration
streams, and, once per step, the registered metrics over windows aligned on one clock
for every device. Results go to sinks (:mod:`somacore.sinks`).

Clock and windows
-----------------
Timestamps are seconds on one clock shared by all drivers (LSL time, unix time,
or the recording's clock for replays). Result ``k`` covers the step
``[origin + k * step_s, origin + (k + 1) * step_s)``; a metric sees the window
of its own ``window_s`` (or the session's ``window_s``) ending at the step's
end, so every person and device is cut at the same instants.

A person's step closes once each of their streams has delivered data past its
end (for ECG/PPG: past its end plus the beat detector's decision latency), or
has ended, failed or stalled. Data that arrive for an already closed step are
still analysed (beats) but counted in ``Session.stats["late_samples"]``.

Breaths
-------
A breath is decided only when the next inhalation is confirmed (a breath or
more after its end of inspiration), and not before the segmenter's learning
period (``BreathParams.learn_s``, 30 s) has passed. A respiration stream holds
its person's steps back until its breaths are decided, but for at most
``breath_wait_s`` seconds: a breath decided after its step was emitted (the
learning period, a long pause) is reported with the next result instead, and
counted in ``Session.stats["late_breaths"]``. Every breath is reported exactly
once, so the breaths of all results joined equal
:func:`~somacore.segment_breaths` on the whole stream (NaN where packets were
lost), whatever the chunking.

Lost data
---------
A jump in a chunk's sequence number, or a timestamp jump beyond
``gap_tolerance_s``, is a dropped packet: the missing span is filled with NaN
(the beat detector reports a gap there and no interval spans it; window data
hold NaN and ``missing`` says how much). Nothing is stitched silently.
Timestamps that go backwards (by more than ``gap_tolerance_s`` of jitter)
raise :class:`TimestampError` naming the person and stream.

Raw recording
-------------
``record_to=folder`` writes every accepted chunk, as received, with the gap
fills, to atomic part files (:mod:`somacore.stream.recorder`), apart from the
sinks: a failing sink does not stop it, a failing recorder does not stop the
session (both are reported in ``errors``). Replaying the folder
(:func:`somacore.readers.raw.read_session` and
:class:`~somacore.drivers.ReplayDriver`) gives the live results again.

Hooks
-----
``somacore_session_chunk`` fires once per accepted chunk and
``somacore_session_window`` once per result, never per sample.
"""

from __future__ import annotations

import asyncio
import bisect
import heapq
import itertools
import math
import queue
import threading
import time
import warnings
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from somacore.plugins.types import Chunk, StreamInfo, StreamWindow, Window

__all__ = [
    "ChunkError",
    "Gap",
    "Session",
    "SessionError",
    "SessionWarning",
    "TimestampError",
    "WindowResult",
]

#: Worst-case decision latency (s) of the streaming beat detector after its
#: learning period, measured on MIT-BIH (max 1.4 s with search-back), with margin.
BEAT_LATENCY_S = {"ecg": 2.5, "ppg": 3.0}
#: Learning period (s) of the beat detector at the start and after a gap.
BEAT_LEARN_S = 4.0
#: Default longest time (s) a respiration stream holds its person's steps back
#: waiting for breath decisions (see "Breaths" above). After the learning
#: period, the time from the data's end back to the first undecided breath was
#: 7-10 s (median) and 14-23 s (99th percentile) on MARSH 0005, 0018, 0048,
#: 0214 and 0256 (first 300 s, 0.1 s chunks).
BREATH_WAIT_S = 20.0


class SessionError(ValueError):
    """Invalid use of a session or invalid data from a driver."""


class TimestampError(SessionError):
    """A stream's timestamps went backwards (or a sequence number repeated)."""


class ChunkError(SessionError):
    """A chunk has the wrong shape, dtype, stream name or timestamps."""


class SessionWarning(UserWarning):
    """Something failed inside a session (sink, metric, hook, driver) and was reported."""


@dataclass(frozen=True)
class SessionProblem:
    """One reported failure: ``where`` (sink/metric/hook/driver name), message, exception."""

    where: str
    message: str
    error: BaseException | None = None

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass(frozen=True)
class Gap:
    """Lost data in one stream: ``[start, end)`` seconds filled with ``samples`` NaN.

    ``lost_packets`` is the number of sequence numbers skipped (0 when the gap
    was seen in the timestamps only). For irregular streams start == end (the
    time of the last event before the loss) and samples == 0.
    """

    person: str
    stream: str
    start: float
    end: float
    samples: int
    lost_packets: int


@dataclass(frozen=True, eq=False)
class WindowResult:
    """One person's results for one step.

    Attributes
    ----------
    person : str
    start, end : float
        The step ``[start, end)`` in seconds on the session clock.
    values : dict of str to float
        ``"<metric>.<output>"`` -> value (NaN if the metric failed or lacked signal).
    units : dict of str to str
        Same keys -> unit.
    windows : dict of str to float
        Metric name -> length of the window it was computed on (ending at ``end``).
    beats : dict of str to ndarray
        Stream key -> times (s) of the beats detected in ``[start, end)``.
    missing : dict of str to float
        Stream key -> fraction of ``[start, end)`` without samples.
    breaths : dict of str to ndarray
        Respiration stream key -> times (s) of the ends of inspiration of the
        breaths reported with this result: those in ``[start, end)``, plus any
        decided too late for the step they lie in (times before ``start``; see
        the module notes). Each breath is reported once.
    breath_rates : dict of str to ndarray
        Same keys, one value per breath: its rate ``60 / Ttot`` in breaths per
        minute (as :attr:`somacore.breath.Breaths.rate`).
    """

    person: str
    start: float
    end: float
    values: dict[str, float] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)
    windows: dict[str, float] = field(default_factory=dict)
    beats: dict[str, np.ndarray] = field(default_factory=dict)
    missing: dict[str, float] = field(default_factory=dict)
    breaths: dict[str, np.ndarray] = field(default_factory=dict)
    breath_rates: dict[str, np.ndarray] = field(default_factory=dict)

    def rows(self) -> list[tuple[str, float, float, str, str, float, str]]:
        """``(person, window_start, window_end, metric, output, value, unit)`` per value."""
        out = []
        for key, v in self.values.items():
            metric, output = key.split(".", 1)
            w = self.windows.get(metric, self.end - self.start)
            out.append((self.person, self.end - w, self.end, metric, output, v, self.units[key]))
        return out


class _Anchors:
    """Chunk anchors of a regular stream: (absolute sample index, time) pairs in
    growable numpy arrays, so that mapping beats and breaths to times does not
    convert a Python list per call (it grows by one anchor per chunk)."""

    def __init__(self) -> None:
        self._i = np.empty(256, np.int64)
        self._t = np.empty(256)
        self._a = 0  # first live anchor
        self._n = 0  # one past the last

    def __len__(self) -> int:
        return self._n - self._a

    @property
    def i(self) -> np.ndarray:
        return self._i[self._a:self._n]

    @property
    def t(self) -> np.ndarray:
        return self._t[self._a:self._n]

    def append(self, i: int, t: float) -> None:
        if self._n == self._i.size:
            live = self._n - self._a
            cap = max(256, 2 * live)
            ni, nt = np.empty(cap, np.int64), np.empty(cap)
            ni[:live], nt[:live] = self._i[self._a:self._n], self._t[self._a:self._n]
            self._i, self._t, self._a, self._n = ni, nt, 0, live
        self._i[self._n] = i
        self._t[self._n] = t
        self._n += 1

    def drop_first(self, k: int) -> None:
        """Forget the first ``k`` live anchors."""
        self._a += min(k, len(self))


class _Buffer:
    """Samples addressed by absolute index, with cheap append and discard."""

    def __init__(self, channels: int) -> None:
        self._shape = () if channels == 1 else (channels,)
        self._a = np.empty((1024, *self._shape))
        self.start = 0  # absolute index of _a[0]
        self.n = 0  # absolute index one past the last sample

    def append(self, x: np.ndarray) -> None:
        used = self.n - self.start
        need = used + x.shape[0]
        if need > self._a.shape[0]:
            new = np.empty((max(need, 2 * self._a.shape[0]), *self._shape))
            new[:used] = self._a[:used]
            self._a = new
        self._a[used:need] = x
        self.n += x.shape[0]

    def fill_nan(self, k: int) -> None:
        self.append(np.full((k, *self._shape), np.nan))

    def discard_before(self, i: int) -> None:
        k = min(i, self.n) - self.start
        if k <= 0:
            return
        used = self.n - self.start
        if k > self._a.shape[0] // 2 or k == used:
            self._a[: used - k] = self._a[k:used]
            self.start += k

    def view(self, a: int, b: int) -> np.ndarray:
        """Samples ``[a, b)`` (absolute indices within the buffer), no copy."""
        return self._a[a - self.start:b - self.start]

    def copy_into(self, out: np.ndarray, i0: int) -> None:
        """Copy samples ``[i0, i0 + len(out))`` into ``out`` where available."""
        a = max(i0, self.start)
        b = min(i0 + out.shape[0], self.n)
        if b > a:
            out[a - i0:b - i0] = self._a[a - self.start:b - self.start]


class _Stream:
    """Per-stream state: clock mapping, gap filling, sample buffer and beats."""

    def __init__(self, person: str, key: str, info: StreamInfo, *, gap_tol: float,
                 beat_latency: float | None, breath: Mapping[str, Any] | None = None,
                 breath_wait: float = BREATH_WAIT_S) -> None:
        self.person = person
        self.key = key
        self.where = f"person {person!r}, stream {key!r}"  # for error messages
        self.info = info
        self.fs = info.nominal_fs
        self.regular = self.fs is not None
        self.gap_tol = gap_tol
        self.started = False
        self.finished = False
        self.last_seq: int | None = None
        self.last_t0 = -math.inf
        self.t_next = -math.inf  # time just after the last sample (regular streams)
        self.anchors = _Anchors()  # absolute sample index of each chunk start, its time
        self.buf = _Buffer(info.channels) if self.regular else None
        self.ev_t: list[np.ndarray] = []  # irregular streams: event times and values
        self.ev_v: list[np.ndarray] = []
        self.ev_until = -math.inf
        self.n_gaps = 0
        self.lost_samples = 0
        self.gap_start = -math.inf  # last inserted gap, for the detector's re-learning
        self.gap_end = -math.inf
        self.t_first = math.nan
        self.detector = None
        self.latency = 0.0
        self.beat_t: list[float] = []  # decided beats not yet handed to a closed step
        self.beat_iv: list[float] = []
        self._last_beat_t = math.nan
        if info.kind in ("ecg", "ppg") and self.regular:
            from somacore.stream.beats import BeatDetector

            self.detector = BeatDetector(fs=self.fs, kind=info.kind)
            self.latency = BEAT_LATENCY_S[info.kind] if beat_latency is None else beat_latency
        self.segmenter = None
        self.breath_wait = breath_wait
        self.br_from_i = 0  # no breath still to be decided has its onset before this index
        self.br_from_t = -math.inf  # its time (set at the first sample, then per decision)
        self.br_t: list[float] = []  # decided breaths kept for windows: peak time, interval
        self.br_iv: list[float] = []
        self.br_new: list[tuple[float, float]] = []  # (peak time, rate) not yet reported
        self._last_br_t = math.nan
        self._last_br_end = -1  # exhale end (index) of the last decided breath
        if info.kind == "resp" and self.regular and breath is not None:
            from somacore.breath import FS_MAX, FS_MIN
            from somacore.stream.breath import BreathSegmenter

            if not FS_MIN <= self.fs <= FS_MAX:
                raise SessionError(
                    f"{self.where}: respiration stream at {self.fs:g} Hz is outside the breath "
                    f"segmenter's {FS_MIN:g}-{FS_MAX:g} Hz; resample it, or pass "
                    "breaths=False to the Session to skip breath segmentation")
            try:
                self.segmenter = BreathSegmenter(fs=self.fs, **breath)
            except TypeError as exc:
                raise SessionError(f"Session(breaths=...) must hold BreathSegmenter keyword "
                                   f"arguments (sensor, polarity, params): {exc}") from None

    # ---------------------------------------------------------------- clock
    def time_of(self, idx: np.ndarray) -> np.ndarray:
        """Times of absolute sample indices (through the chunk anchors)."""
        ai, at = self.anchors.i, self.anchors.t
        k = np.searchsorted(ai, idx, side="right") - 1
        k = np.clip(k, 0, len(ai) - 1)
        return at[k] + (idx - ai[k]) / self.fs

    def index_at(self, t: float) -> int:
        """Absolute index of the first sample at or after time ``t``."""
        at = self.anchors.t
        k = max(int(np.searchsorted(at, t, side="right")) - 1, 0)
        return int(self.anchors.i[k]) + math.ceil((t - float(at[k])) * self.fs - 1e-9)

    def decided_until(self) -> float:
        """Time up to which this stream's data and beats are final."""
        if self.finished:
            return math.inf
        if not self.started:
            return -math.inf
        if not self.regular:
            return self.ev_until
        end = self.t_next
        if self.segmenter is not None:
            # breaths still undecided start at or after br_from_t; wait at most breath_wait
            return min(end, max(self.br_from_t, end - self.breath_wait))
        if self.detector is None:
            return end
        decided = end - self.latency
        if end - self.t_first < BEAT_LEARN_S + self.latency:
            decided = min(decided, self.t_first)
        if end - self.gap_end < BEAT_LEARN_S + self.latency:
            decided = min(decided, self.gap_start)
        return decided

    # ---------------------------------------------------------------- input
    def accept(self, chunk: Chunk, session: Session) -> None:
        """Validate and place one chunk (raises ChunkError / TimestampError)."""
        info = self.info
        where = self.where
        x = chunk.samples
        if not isinstance(x, np.ndarray):
            try:
                x = np.asarray(x)
            except (TypeError, ValueError) as exc:
                raise ChunkError(f"{where}: chunk samples are not an array: {exc}") from None
        if x.dtype.kind not in "fiu":
            raise ChunkError(f"{where}: chunk samples must be numeric (float or int), got "
                             f"dtype {x.dtype}")
        want = "(n,)" if info.channels == 1 else f"(n, {info.channels})"
        if (info.channels == 1 and x.ndim != 1) or (
                info.channels > 1 and (x.ndim != 2 or x.shape[1] != info.channels)):
            raise ChunkError(f"{where}: chunk samples have shape {x.shape}, expected {want} "
                             f"for a {info.channels}-channel stream")
        n = x.shape[0]
        seq = chunk.seq
        if isinstance(seq, bool) or not isinstance(seq, (int, np.integer)):
            raise ChunkError(f"{where}: chunk seq must be an int, got {seq!r}")
        seq = int(seq)
        ts = chunk.timestamps
        if ts is not None:
            if ts.shape != (n,):
                raise ChunkError(f"{where}: chunk has {n} samples but timestamps of shape "
                                 f"{ts.shape}")
            if n and not np.isfinite(ts).all():
                raise ChunkError(f"{where}: chunk timestamps contain NaN or inf")
            if n > 1 and (np.diff(ts) < 0).any():
                k = int(np.flatnonzero(np.diff(ts) < 0)[0])
                raise TimestampError(f"{where}: timestamps go backwards inside chunk seq {seq} "
                                     f"({ts[k]:.6f} s then {ts[k + 1]:.6f} s)")
        t0 = chunk.t0
        if t0 is None or not math.isfinite(t0):
            if n == 0:
                return
            raise ChunkError(f"{where}: chunk t0 must be a finite time in seconds, got {t0!r}")
        if chunk.fs is not None and self.regular and not math.isclose(chunk.fs, self.fs,
                                                                      rel_tol=1e-6):
            raise ChunkError(f"{where}: chunk fs={chunk.fs!r} Hz differs from the stream's "
                             f"nominal_fs={self.fs!r} Hz")
        if self.last_seq is not None and seq <= self.last_seq:
            raise TimestampError(f"{where}: sequence number went backwards or repeated "
                                 f"({self.last_seq} then {seq}); drivers must number chunks "
                                 "+1 per chunk of a stream")
        seq_gap = 0 if self.last_seq is None else seq - self.last_seq - 1
        if n == 0:
            # an empty chunk is a heartbeat: "nothing until t0" (irregular streams)
            if not self.regular and t0 >= self.ev_until:
                self.ev_until = t0
                if not self.started:
                    self.started = True
                    self.t_first = t0
            self.last_seq = seq
            return
        if self.regular:
            self._accept_regular(x, ts, float(t0), seq, seq_gap, where, session)
        else:
            self._accept_events(x, ts, float(t0), seq, seq_gap, where, session)
        self.last_seq = seq

    def _accept_regular(self, x: np.ndarray, ts: np.ndarray | None, t0: float, seq: int,
                        seq_gap: int, where: str, session: Session) -> None:
        fs = self.fs
        # split at timestamp jumps inside the chunk
        if ts is not None and x.shape[0] > 1:
            jumps = np.flatnonzero(np.diff(ts) > 1.0 / fs + self.gap_tol) + 1
            if jumps.size:
                bounds = [0, *jumps.tolist(), x.shape[0]]
                for k, (a, b) in enumerate(itertools.pairwise(bounds)):
                    self._accept_regular(x[a:b], ts[a:b], float(ts[a]), seq,
                                         seq_gap if k == 0 else 0, where, session)
                return
        if not self.started:
            self.started = True
            self.t_first = t0
            self.t_next = t0
            self.br_from_t = t0
            self.anchors.append(0, t0)
        else:
            dt = t0 - self.t_next
            if t0 <= self.last_t0 or dt < -self.gap_tol:
                raise TimestampError(
                    f"{where}: timestamps go backwards: chunk seq {seq} starts at {t0:.6f} s, "
                    f"{-dt:.6f} s before the end of the previous chunk ({self.t_next:.6f} s); "
                    f"jitter up to gap_tolerance_s={self.gap_tol:g} s is accepted")
            fill = 0
            if dt > self.gap_tol or seq_gap > 0:
                fill = max(round(dt * fs), 1 if seq_gap > 0 else 0)
            if fill > 0:
                self.buf.fill_nan(fill)
                if self.detector is not None:
                    self._detect(np.full(fill, np.nan))
                if self.segmenter is not None:
                    self._segment(np.full(fill, np.nan))
                self.n_gaps += 1
                self.lost_samples += fill
                self.gap_start = self.t_next
                self.gap_end = t0
                session._note_gap(self, fill, seq_gap, seq)
            self.anchors.append(self.buf.n, t0)
        self.buf.append(x)
        if self.detector is not None:
            self._detect(x if x.ndim == 1 else x[:, 0])
        if self.segmenter is not None:
            self._segment(x if x.ndim == 1 else x[:, 0])
        self.last_t0 = t0
        self.t_next = t0 + x.shape[0] / fs

    def _detect(self, x: np.ndarray) -> None:
        self._add_beats(self.detector.update(x))

    def _add_beats(self, beats: Any) -> None:
        if len(beats) == 0:
            return
        t = self.time_of(beats.samples)
        # interval ending at each beat, NaN after a gap (as Beats.intervals)
        prev = np.concatenate([[self._last_beat_t], t[:-1]])
        iv = t - prev
        from somacore.beats import FLAG_AFTER_GAP

        iv[(beats.quality & FLAG_AFTER_GAP) != 0] = np.nan
        self._last_beat_t = float(t[-1])
        self.beat_t.extend(t.tolist())
        self.beat_iv.extend(iv.tolist())

    def _segment(self, x: np.ndarray) -> None:
        self._add_breaths(self.segmenter.update(x))

    def _add_breaths(self, br: Any) -> None:
        if len(br) == 0:
            return
        from somacore.breath import FLAG_TRUNC_END, FLAG_TRUNC_ONSET

        t = self.time_of(br.peaks)
        # interval from the previous end of inspiration, NaN across lost signal: the
        # breaths do not tile there (this onset is not the previous exhale end), or one
        # is flagged truncated. The tiling test does not rely on the flags alone: a
        # breath starting right at a gap's end can come unflagged from the kernel.
        prev = np.concatenate([[self._last_br_t], t[:-1]])
        iv = t - prev
        prev_end = np.concatenate([[self._last_br_end], br.ends[:-1]])
        broken = br.onsets != prev_end
        broken |= (br.quality & FLAG_TRUNC_ONSET) != 0
        broken[1:] |= (br.quality[:-1] & FLAG_TRUNC_END) != 0
        iv[broken] = np.nan
        self._last_br_t = float(t[-1])
        self._last_br_end = int(br.ends[-1])
        self.br_t.extend(t.tolist())
        self.br_iv.extend(iv.tolist())
        self.br_new.extend(zip(t.tolist(), br.rate.tolist(), strict=True))
        # breaths tile the signal: every later breath starts at or after this end
        self.br_from_i = int(br.ends[-1])
        self.br_from_t = float(self.time_of(np.array([self.br_from_i]))[0])

    def take_breaths(self, end: float) -> tuple[np.ndarray, np.ndarray]:
        """Hand out the decided, not yet reported breaths before ``end``: (times, rates)."""
        k = bisect.bisect_left(self.br_new, (end, -math.inf))
        got, self.br_new = self.br_new[:k], self.br_new[k:]
        if not got:
            return np.zeros(0), np.zeros(0)
        a = np.asarray(got, dtype=np.float64)
        return a[:, 0], a[:, 1]

    def _accept_events(self, x: np.ndarray, ts: np.ndarray | None, t0: float, seq: int,
                       seq_gap: int, where: str, session: Session) -> None:
        if ts is None:
            if x.shape[0] != 1:
                raise ChunkError(f"{where}: an irregular stream's chunk needs per-value "
                                 "timestamps (or exactly one value with t0)")
            ts = np.array([t0])
        if ts[0] < self.ev_until:
            raise TimestampError(f"{where}: timestamps go backwards: chunk seq {seq} starts at "
                                 f"{ts[0]:.6f} s, before the previous event ({self.ev_until:.6f}"
                                 " s)")
        if seq_gap > 0:
            self.n_gaps += 1
            session._note_gap(self, 0, seq_gap, seq)
        if not self.started:
            self.started = True
            self.t_first = float(ts[0])
        self.ev_t.append(np.asarray(ts, dtype=np.float64))
        self.ev_v.append(np.asarray(x, dtype=np.float64))
        self.ev_until = float(ts[-1])

    def finish(self) -> None:
        """End of stream: flush the detector; the stream no longer holds windows back."""
        if self.finished:
            return
        if self.detector is not None and self.started:
            self._add_beats(self.detector.flush())
        if self.segmenter is not None and self.started:
            self._add_breaths(self.segmenter.flush())
        self.finished = True

    # ---------------------------------------------------------------- output
    def end_time(self) -> float:
        if not self.started:
            return -math.inf
        return self.t_next if self.regular else self.ev_until

    def window(self, a: float, b: float) -> StreamWindow:
        """This stream's data in ``[a, b)``."""
        if not self.regular:
            t = np.concatenate(self.ev_t) if self.ev_t else np.zeros(0)
            v = np.concatenate(self.ev_v) if self.ev_v else np.zeros(0)
            m = (t >= a) & (t < b)
            return StreamWindow(self.info, v[m], t[m], missing=0.0)
        n = max(1, round((b - a) * self.fs))
        data = np.full((n, *(() if self.info.channels == 1 else (self.info.channels,))), np.nan)
        if self.started:
            self.buf.copy_into(data, self.index_at(a))
        lost = np.isnan(data) if data.ndim == 1 else np.isnan(data).all(axis=1)
        missing = float(lost.mean())
        beats = intervals = breaths = None
        if self.detector is not None:
            bt = np.asarray(self.beat_t)
            m = (bt >= a) & (bt < b)
            beats = bt[m]
            intervals = np.asarray(self.beat_iv)[m]
        elif self.segmenter is not None:
            bt = np.asarray(self.br_t)
            m = (bt >= a) & (bt < b)
            breaths = bt[m]
            intervals = np.asarray(self.br_iv)[m]
        return StreamWindow(self.info, data, a + np.arange(n) / self.fs, beats=beats,
                            intervals=intervals, missing=missing, breaths=breaths)

    def beats_in(self, a: float, b: float) -> np.ndarray:
        bt = np.asarray(self.beat_t)
        return bt[(bt >= a) & (bt < b)] if bt.size else np.zeros(0)

    def missing_in(self, a: float, b: float) -> float:
        """Fraction of ``[a, b)`` without samples (NaN or not recorded)."""
        if not self.regular:
            return 0.0
        n = max(1, round((b - a) * self.fs))
        if not self.started:
            return 1.0
        i0 = self.index_at(a)
        lo, hi = max(i0, self.buf.start), min(i0 + n, self.buf.n)
        if hi <= lo:
            return 1.0
        part = self.buf.view(lo, hi)
        lost = np.isnan(part) if part.ndim == 1 else np.isnan(part).all(axis=1)
        return float((n - (hi - lo) + int(np.count_nonzero(lost))) / n)

    def discard_before(self, t: float) -> None:
        """Drop data older than ``t`` (no open window needs it)."""
        if self.regular and self.started:
            self.buf.discard_before(self.index_at(t) - 1)
            # keep the anchors that date breaths still to be decided
            t_anchor = t if self.segmenter is None else min(t, self.br_from_t)
            k = int(np.searchsorted(self.anchors.t, t_anchor, side="right")) - 1
            if k > 0:
                self.anchors.drop_first(k)
        elif self.ev_t:
            t_all = np.concatenate(self.ev_t)
            v_all = np.concatenate(self.ev_v)
            keep = t_all >= t
            self.ev_t, self.ev_v = [t_all[keep]], [v_all[keep]]
        k = bisect.bisect_left(self.beat_t, t)
        if k:
            del self.beat_t[:k], self.beat_iv[:k]
        k = bisect.bisect_left(self.br_t, t)
        if k:
            del self.br_t[:k], self.br_iv[:k]


@dataclass
class _DriverSlot:
    person: str
    name: str
    driver: Any
    streams: dict[str, _Stream]
    done: bool = False


class _Person:
    def __init__(self, name: str) -> None:
        self.name = name
        self.drivers: dict[str, _DriverSlot] = {}
        self.next_end: float | None = None  # end of the next step to close
        self.closed_until = -math.inf  # end of the last step emitted
        # the stream that held the person's watermark back at the last check, and its
        # value then: every stream's watermark only grows with its own data, so while
        # that stream gets none, data of the others cannot close a step
        self.gate: _Stream | None = None
        self.gate_val = -math.inf

    def streams(self) -> list[_Stream]:
        return [s for d in self.drivers.values() for s in d.streams.values()]


class Session:
    """Several people, each with one or more drivers, analysed on one clock.

    Parameters
    ----------
    step_s : float
        Time between results (seconds); results cover ``[k, k + 1) * step_s``
        (plus ``origin``).
    window_s : float, optional
        Window length for every metric; default: each metric's own ``window_s``.
    metrics : sequence of str or Metric, optional
        Metrics to compute (names are looked up in the plugin registry). Default:
        every registered metric. A metric is computed for a person who has all
        its input kinds.
    sinks : sequence of callables
        Receive every :class:`WindowResult` (see :mod:`somacore.sinks`).
    origin : float
        Time (s) the step grid is anchored at.
    gap_tolerance_s : float
        Timestamp jitter accepted between consecutive chunks; a forward jump
        beyond it is a gap, a backward one an error.
    stall_timeout_s : float
        :meth:`run`: a driver silent for this long (wall time) is reported as
        stalled, closed and dropped.
    breaths : bool or mapping
        Segment breaths in every regular ``resp`` stream (True: with the
        :class:`~somacore.stream.BreathSegmenter` defaults, ``sensor="belt"``,
        ``polarity="normal"``; a mapping: its keyword arguments, e.g.
        ``{"sensor": "impedance"}``; False: no breath segmentation).
    breath_wait_s : float
        Longest time a respiration stream holds its person's steps back for
        breath decisions; breaths decided later are reported late (see the
        module notes).
    on_driver_error : {"raise", "drop"}
        :meth:`run`: what to do when a driver's data are invalid (timestamps
        backwards, bad chunks): re-raise, or report it and drop the driver.
        Disconnects and stalls are always reported and dropped.
    manager : PluginManager, optional
        Plugin manager (default: the process-wide one) for metric names and hooks.
    hooks : bool
        Fire the session hooks of plugins.
    keep_results : bool
        Keep every result in :attr:`results`.
    record_to : path-like or RawRecorder, optional
        Record the raw streams: every accepted chunk of every person and stream,
        as received, with the gap fills, in atomic part files under this
        folder (a new folder per session; see
        :class:`~somacore.stream.recorder.RawRecorder`). Independent of the
        sinks: a failing sink does not stop it, and a recorder failure is
        reported in :attr:`errors` without stopping the session. Replay it with
        :func:`somacore.readers.raw.read_session` and
        :class:`~somacore.drivers.ReplayDriver`.

    Attributes
    ----------
    results : list of WindowResult
    errors : list of SessionProblem
        Everything reported (sinks, metrics, hooks, drivers).
    gaps : list of Gap
        Every dropped-packet gap, as filled with NaN.
    recorder : RawRecorder or None
        The raw recorder (``record_to``).
    stats : dict
        Counters: chunks, samples, gaps, lost_samples, late_samples, seq_gaps,
        breaths, late_breaths.
    """

    def __init__(self, *, step_s: float = 1.0, window_s: float | None = None,
                 metrics: Sequence[Any] | None = None, sinks: Iterable[Callable] = (),
                 origin: float = 0.0, gap_tolerance_s: float = 0.05,
                 stall_timeout_s: float = 5.0, breaths: bool | Mapping[str, Any] = True,
                 breath_wait_s: float = BREATH_WAIT_S, on_driver_error: str = "raise",
                 beat_latency_s: float | None = None, manager: Any = None, hooks: bool = True,
                 keep_results: bool = True, record_to: Any = None) -> None:
        for label, v in (("step_s", step_s), ("gap_tolerance_s", gap_tolerance_s),
                         ("stall_timeout_s", stall_timeout_s), ("breath_wait_s", breath_wait_s)):
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise ValueError(f"{label}={v!r} must be a positive number of seconds")
        if window_s is not None and not window_s > 0:
            raise ValueError(f"window_s={window_s!r} must be positive")
        if isinstance(breaths, bool):
            self._breath = {} if breaths else None
        elif isinstance(breaths, Mapping):
            self._breath = dict(breaths)
        else:
            raise ValueError(f"breaths={breaths!r}: use True, False or a mapping of "
                             "BreathSegmenter keyword arguments")
        self.breath_wait_s = float(breath_wait_s)
        if on_driver_error not in ("raise", "drop"):
            raise ValueError(f"on_driver_error={on_driver_error!r}: use 'raise' or 'drop'")
        self.step_s = float(step_s)
        self.window_s = None if window_s is None else float(window_s)
        self.origin = float(origin)
        self.gap_tolerance_s = float(gap_tolerance_s)
        self.stall_timeout_s = float(stall_timeout_s)
        self.on_driver_error = on_driver_error
        self.beat_latency_s = beat_latency_s
        self.keep_results = keep_results
        self._manager = manager
        self._metric_spec = metrics
        self._metrics: list[Any] | None = None
        self.sinks: list[Callable] = list(sinks)
        self._backlog: dict[int, list[WindowResult]] = {}
        self._sink_failing: set[int] = set()
        self.people: dict[str, _Person] = {}
        self.results: list[WindowResult] = []
        self.errors: list[SessionProblem] = []
        self.gaps: list[Gap] = []
        self.stats = {"chunks": 0, "samples": 0, "gaps": 0, "lost_samples": 0, "seq_gaps": 0,
                      "late_samples": 0, "breaths": 0, "late_breaths": 0}
        self._hooks_on = hooks
        self._chunk_hooks: list[tuple[str, Any]] | None = None
        self._window_hooks: list[tuple[str, Any]] | None = None
        self._closed = False
        self._metric_fail: dict[str, int] = {}
        from somacore.stream.recorder import make_recorder

        self.recorder = make_recorder(record_to)
        self._recorder_warned_at = -1  # recorder.flushes_ok at the last warning

    # ------------------------------------------------------------------ setup
    def _mgr(self) -> Any:
        if self._manager is None:
            from somacore.plugins import get_manager

            self._manager = get_manager()
        return self._manager

    @property
    def metrics(self) -> list[Any]:
        """The metrics computed (resolved from names on first use)."""
        if self._metrics is None:
            spec = self._metric_spec
            if spec is None:
                self._metrics = list(self._mgr().metrics.values())
            else:
                self._metrics = [self._mgr().get_metric(m) if isinstance(m, str) else m
                                 for m in spec]
            names = [m.name for m in self._metrics]
            if len(set(names)) != len(names):
                raise SessionError(f"duplicate metric names {names}")
        return self._metrics

    def add_driver(self, person: str, driver: Any, *, name: str | None = None) -> str:
        """Attach ``driver`` to ``person`` (created on first use); return the driver's name.

        Stream keys are ``"<driver name>/<stream name>"``.
        """
        if self._closed:
            raise SessionError("session is closed")
        if not isinstance(person, str) or not person:
            raise SessionError(f"person must be a non-empty string, got {person!r}")
        p = self.people.setdefault(person, _Person(person))
        name = name or getattr(driver, "name", None) or f"driver{len(p.drivers)}"
        if name in p.drivers:
            raise SessionError(f"person {person!r} already has a driver named {name!r}; pass "
                               "name=... to add another")
        infos = driver.streams()
        streams: dict[str, _Stream] = {}
        for info in infos:
            if not isinstance(info, StreamInfo):
                raise SessionError(f"driver {name!r} of {person!r}: streams() must return "
                                   f"StreamInfo objects, got {type(info).__name__}")
            if info.name in streams:
                raise SessionError(f"driver {name!r} of {person!r}: duplicate stream "
                                   f"{info.name!r}")
            streams[info.name] = _Stream(person, f"{name}/{info.name}", info,
                                         gap_tol=self.gap_tolerance_s,
                                         beat_latency=self.beat_latency_s,
                                         breath=self._breath, breath_wait=self.breath_wait_s)
        if not streams:
            raise SessionError(f"driver {name!r} of {person!r} declares no stream")
        p.drivers[name] = _DriverSlot(person, name, driver, streams)
        if self.recorder is not None:
            self._record(self.recorder.add_driver, person, name, infos)
        return name

    def _slot(self, person: str, driver: str | None) -> _DriverSlot:
        p = self.people.get(person)
        if p is None:
            raise SessionError(f"unknown person {person!r}; people: {sorted(self.people)}")
        if driver is None:
            if len(p.drivers) != 1:
                raise SessionError(f"person {person!r} has {len(p.drivers)} drivers; name one "
                                   f"with driver=... ({sorted(p.drivers)})")
            return next(iter(p.drivers.values()))
        if driver not in p.drivers:
            raise SessionError(f"person {person!r} has no driver {driver!r} "
                               f"({sorted(p.drivers)})")
        return p.drivers[driver]

    # ------------------------------------------------------------------ input
    def push(self, person: str, chunk: Chunk, *, driver: str | None = None) -> list[WindowResult]:
        """Feed one chunk of ``person``'s ``driver``; return the results it completed.

        Raises
        ------
        ChunkError
            Wrong shape, dtype, unknown stream name, missing timestamps.
        TimestampError
            Timestamps going backwards or a repeated sequence number.
        """
        if self._closed:
            raise SessionError("session is closed")
        slot = self._slot(person, driver)
        if not isinstance(chunk, Chunk):
            raise ChunkError(f"driver {slot.name!r} of {person!r} yielded "
                             f"{type(chunk).__name__}, expected a somacore Chunk")
        st = slot.streams.get(chunk.stream)
        if st is None:
            raise ChunkError(f"driver {slot.name!r} of {person!r}: chunk names unknown stream "
                             f"{chunk.stream!r}; declared streams: {sorted(slot.streams)}")
        if st.finished:
            raise SessionError(f"stream {st.key!r} of {person!r} has ended")
        p = self.people[person]
        before_end = st.end_time() if st.started else chunk.t0 or 0.0
        st.accept(chunk, self)
        if self.recorder is not None:
            try:
                self.recorder.chunk(person, st.key, chunk)
            except Exception as exc:
                self._recorder_failed("chunk", exc)
        n = chunk.n
        self.stats["chunks"] += 1
        self.stats["samples"] += n
        if n and p.closed_until > -math.inf and min(before_end, chunk.t0) < p.closed_until:
            # (part of) this chunk belongs to steps already emitted
            self.stats["late_samples"] += n
        if self._chunk_hooks != []:
            self._fire_chunk(person, st.info, chunk)
        if p.next_end is not None and (st.decided_until() < p.next_end or (
                p.gate is not None and p.gate is not st and p.gate_val < p.next_end)):
            return []  # the person's watermark is a minimum: it cannot have moved past
        return self._close_ready(p)

    def end_driver(self, person: str, driver: str | None = None) -> list[WindowResult]:
        """Mark ``person``'s driver as finished (disconnected); return results completed."""
        slot = self._slot(person, driver)
        slot.done = True
        for st in slot.streams.values():
            st.finish()
        self.people[person].gate = None
        return self._close_ready(self.people[person])

    # ------------------------------------------------------------------ windows
    def _max_w(self) -> float:
        ws = [self.window_s or m.window_s for m in self.metrics] or [self.step_s]
        return max(max(ws), self.step_s)

    def _close_ready(self, p: _Person, *, final: bool = False) -> list[WindowResult]:
        streams = p.streams()
        started = [s for s in streams if s.started]
        if not started:
            return []
        if p.next_end is None:
            t_first = min(s.t_first for s in started)
            k = math.floor((t_first - self.origin) / self.step_s) + 1
            p.next_end = self.origin + k * self.step_s
        gate = min(streams, key=_Stream.decided_until)
        decided = gate.decided_until()
        p.gate, p.gate_val = gate, decided
        if final or decided == math.inf:
            decided = max(s.end_time() for s in started)
            final = True
        out = []
        while p.next_end <= decided + (self.step_s - 1e-9 if final else 0.0) or (
                final and any(s.br_new for s in streams)):  # no breath left unreported
            out.append(self._emit(p, p.next_end))
            p.closed_until = p.next_end
            p.next_end += self.step_s
            keep_from = p.next_end - self._max_w() - self.step_s
            for s in streams:
                s.discard_before(keep_from)
        return out

    def _emit(self, p: _Person, end: float) -> WindowResult:
        start = end - self.step_s
        streams = [s for s in p.streams()]
        kinds = {s.info.kind for s in streams}
        values: dict[str, float] = {}
        units: dict[str, str] = {}
        wins: dict[str, float] = {}
        cache: dict[tuple[float, frozenset[str]], Window] = {}
        for m in self.metrics:
            need = frozenset(m.inputs)
            if not need <= kinds:
                continue
            w = self.window_s or float(m.window_s)
            wins[m.name] = w
            # only the streams of the kinds the metric declared: a 30 s breathing-rate
            # window must not copy 30 s of 1000 Hz ECG
            win = cache.get((w, need))
            if win is None:
                win = cache[(w, need)] = Window(
                    p.name, end - w, end,
                    {s.key: s.window(end - w, end) for s in streams if s.info.kind in need})
            res = self._compute(m, win)
            for out, unit in m.outputs.items():
                key = f"{m.name}.{out}"
                values[key] = res.get(out, math.nan)
                units[key] = unit
        beats = {s.key: s.beats_in(start, end) for s in streams if s.detector is not None}
        missing = {s.key: s.missing_in(start, end) for s in streams}
        breaths: dict[str, np.ndarray] = {}
        rates: dict[str, np.ndarray] = {}
        for s in streams:
            if s.segmenter is not None:
                breaths[s.key], rates[s.key] = s.take_breaths(end)
                self.stats["breaths"] += breaths[s.key].size
                self.stats["late_breaths"] += int(np.count_nonzero(breaths[s.key] < start))
        result = WindowResult(p.name, start, end, values, units, wins, beats, missing,
                              breaths, rates)
        if self.keep_results:
            self.results.append(result)
        self._fire_window(result)
        self._deliver(result)
        return result

    def _compute(self, m: Any, win: Window) -> dict[str, float]:
        try:
            res = m.compute(win)
            if not isinstance(res, Mapping):
                raise TypeError(f"compute() returned {type(res).__name__}, expected a dict")
            extra = set(res) - set(m.outputs)
            absent = set(m.outputs) - set(res)
            if extra or absent:
                raise KeyError(f"compute() returned keys {sorted(res)}, declared outputs "
                               f"{sorted(m.outputs)}")
            return {k: float(v) for k, v in res.items()}
        except Exception as exc:
            n = self._metric_fail.get(m.name, 0)
            self._metric_fail[m.name] = n + 1
            self._problem(f"metric {m.name!r}", f"failed for {win.person!r} at window ending "
                          f"{win.end:g} s: {type(exc).__name__}: {exc}; outputs set to NaN",
                          exc, warn=n == 0)
            return {}

    # ------------------------------------------------------------------ hooks & sinks
    def _problem(self, where: str, message: str, exc: BaseException | None = None, *,
                 warn: bool = True) -> None:
        self.errors.append(SessionProblem(where, message, exc))
        if warn:
            warnings.warn(f"{where}: {message}", SessionWarning, stacklevel=4)

    def _note_gap(self, st: _Stream, fill: int, seq_gap: int, seq: int) -> None:
        start = st.gap_start if st.regular else st.ev_until
        end = st.gap_end if st.regular else start
        self.gaps.append(Gap(st.person, st.key, start, end, fill, max(seq_gap, 0)))
        self.stats["gaps"] += 1
        self.stats["lost_samples"] += fill
        self.stats["seq_gaps"] += max(seq_gap, 0)
        if self.recorder is not None:
            self._record(self.recorder.gap, st.person, st.key,
                         index=st.buf.n - fill if st.regular else -1, samples=fill,
                         start=start, end=end, lost_packets=max(seq_gap, 0),
                         seq=seq)

    def _record(self, call: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Call the raw recorder; report a failure, never raise."""
        try:
            call(*args, **kwargs)
        except Exception as exc:
            self._recorder_failed(call.__name__, exc)

    def _recorder_failed(self, what: str, exc: Exception) -> None:
        # warn at the first failure, and again only after the recorder recovered
        ok = self.recorder.flushes_ok
        self._problem(f"recorder {str(self.recorder.folder)!r}",
                      f"{what}() raised {type(exc).__name__}: {exc}; unwritten chunks are "
                      "kept and written with the next flush", exc,
                      warn=self._recorder_warned_at != ok)
        self._recorder_warned_at = ok

    def _hooks(self, name: str) -> list[tuple[str, Any]]:
        if not self._hooks_on:
            return []
        return list(self._mgr().hook_callers(name))

    def _fire_chunk(self, person: str, info: StreamInfo, chunk: Chunk) -> None:
        hooks = self._chunk_hooks
        if hooks is None:
            hooks = self._chunk_hooks = self._hooks("somacore_session_chunk")
        for k in range(len(hooks) - 1, -1, -1):
            plugin, call = hooks[k]
            try:
                call(person=person, stream=info, chunk=chunk)
            except Exception as exc:
                del hooks[k]
                self._problem(f"plugin {plugin!r}", f"somacore_session_chunk raised "
                              f"{type(exc).__name__}: {exc}; disabled for this session", exc)

    def _fire_window(self, result: WindowResult) -> None:
        hooks = self._window_hooks
        if hooks is None:
            hooks = self._window_hooks = self._hooks("somacore_session_window")
        for k in range(len(hooks) - 1, -1, -1):
            plugin, call = hooks[k]
            try:
                call(result=result)
            except Exception as exc:
                del hooks[k]
                self._problem(f"plugin {plugin!r}", f"somacore_session_window raised "
                              f"{type(exc).__name__}: {exc}; disabled for this session", exc)

    def _deliver(self, result: WindowResult | None) -> None:
        for sink in self.sinks:
            sid = id(sink)
            pending = self._backlog.setdefault(sid, [])
            if result is not None:
                pending.append(result)
            while pending:
                try:
                    sink(pending[0])
                except Exception as exc:
                    first = sid not in self._sink_failing
                    self._sink_failing.add(sid)
                    self._problem(f"sink {getattr(sink, 'name', repr(sink))!r}",
                                  f"raised {type(exc).__name__}: {exc}; {len(pending)} "
                                  "result(s) kept for retry", exc, warn=first)
                    break
                pending.pop(0)
                self._sink_failing.discard(sid)

    @property
    def undelivered(self) -> dict[str, list[WindowResult]]:
        """Results some sink has not accepted yet (by sink name)."""
        out = {}
        for sink in self.sinks:
            pend = self._backlog.get(id(sink))
            if pend:
                out[getattr(sink, "name", repr(sink))] = list(pend)
        return out

    # ------------------------------------------------------------------ end
    def close(self) -> list[WindowResult]:
        """Finish every stream, emit the remaining results, retry and close the sinks."""
        if self._closed:
            return []
        out = []
        for p in self.people.values():
            for d in p.drivers.values():
                for st in d.streams.values():
                    st.finish()
            out.extend(self._close_ready(p, final=True))
        self._closed = True
        self._deliver(None)
        if self.recorder is not None:
            self._record(self.recorder.close)
        for sink in self.sinks:
            close = getattr(sink, "close", None)
            if callable(close):
                try:
                    close()
                except Exception as exc:
                    self._problem(f"sink {getattr(sink, 'name', repr(sink))!r}",
                                  f"close() raised {type(exc).__name__}: {exc}", exc)
        return out

    # ------------------------------------------------------------------ driving
    def _live_slots(self) -> list[_DriverSlot]:
        slots = [d for p in self.people.values() for d in p.drivers.values() if not d.done]
        if not slots:
            raise SessionError("no drivers: add_driver() first")
        return slots

    def _merge(self, slots: list[_DriverSlot], out: list[WindowResult],
               duration_s: float | None) -> Generator[tuple[int, float], Any, None]:
        """The k-way merge shared by :meth:`run` and :meth:`arun`.

        Yields ``(driver index, timeout)`` requests and receives the driver's next
        item (``("chunk", c)``, ``("end", None)``, ``("error", exc)``) or None if
        none came within the timeout (a stall).
        """
        # one head chunk per driver, in a heap ordered by (start time, driver index);
        # only the driver whose head was just used needs asking for its next item
        heads: list[tuple[float, int, Chunk]] = []
        active = set(range(len(slots)))
        need = sorted(active)
        last_seen = dict.fromkeys(active, time.monotonic())
        t_end = None if duration_s is None else time.monotonic() + duration_s
        while active:
            if t_end is not None and time.monotonic() >= t_end:
                return
            asking, need = need, []
            for k in asking:
                if k not in active:
                    continue
                slot = slots[k]
                wait = self.stall_timeout_s - (time.monotonic() - last_seen[k])
                got = yield k, max(wait, 0.0)
                if got is None:
                    self._problem(f"driver {slot.name!r}", f"of {slot.person!r} stalled: "
                                  f"no data for {self.stall_timeout_s:g} s; dropped")
                    self._drop(slot)
                    active.discard(k)
                    out.extend(self._close_ready(self.people[slot.person]))
                    continue
                last_seen[k] = time.monotonic()
                kind, item = got
                if kind == "chunk":
                    heapq.heappush(heads, (_t0(item), k, item))
                    continue
                if kind == "error":
                    self._problem(f"driver {slot.name!r}", f"of {slot.person!r} failed "
                                  f"({type(item).__name__}: {item}); its streams end here",
                                  item)
                active.discard(k)
                out.extend(self.end_driver(slot.person, slot.name))
            if not heads:
                continue
            _, k, chunk = heapq.heappop(heads)
            need.append(k)
            slot = slots[k]
            try:
                out.extend(self.push(slot.person, chunk, driver=slot.name))
            except SessionError as exc:
                if self.on_driver_error == "raise":
                    raise
                self._problem(f"driver {slot.name!r}", f"of {slot.person!r} sent invalid "
                              f"data ({exc}); dropped", exc)
                self._drop(slot)
                active.discard(k)

    def run(self, *, duration_s: float | None = None) -> list[WindowResult]:
        """Read every driver until all have ended (or ``duration_s`` of wall time).

        Each driver's ``chunks()`` runs in its own thread (except drivers whose
        ``blocking`` attribute is False, e.g. a replay as fast as possible,
        which are read directly); chunks are processed in this thread in
        timestamp order across drivers (a k-way merge), so a replay gives the
        same results however the threads are scheduled. A driver that raises
        (disconnect) or is silent for ``stall_timeout_s`` is reported in
        :attr:`errors`, closed, and its streams end; the others go on. Then
        :meth:`close` is called and every result is returned.
        """
        slots = self._live_slots()
        stop = threading.Event()
        queues: dict[int, Any] = {}
        threads = []
        for k, slot in enumerate(slots):
            if getattr(slot.driver, "blocking", True):
                q: Any = queue.Queue(maxsize=64)
                t = threading.Thread(target=_pump, args=(slot.driver, q, stop),
                                     name=f"somacore-{slot.person}-{slot.name}", daemon=True)
                threads.append(t)
                t.start()
            else:  # never blocks (fast replay): read it here, no thread hand-off
                q = _Direct(slot.driver)
            queues[k] = q
        out: list[WindowResult] = []
        merge = self._merge(slots, out, duration_s)
        try:
            req = next(merge)
            while True:
                k, timeout = req
                try:
                    got = queues[k].get(timeout=timeout)
                except queue.Empty:
                    got = None
                req = merge.send(got)
        except StopIteration:
            pass
        finally:
            merge.close()
            stop.set()
            for slot in slots:
                _safe_close(slot.driver, self)
            for t in threads:
                t.join(timeout=0.5)
        out.extend(self.close())
        return out

    async def arun(self, *, duration_s: float | None = None) -> list[WindowResult]:
        """Async twin of :meth:`run`: reads every driver's ``achunks()`` in a task.

        Same merge, stall and failure handling as :meth:`run`; processing
        happens in the event loop (per chunk, cheap), so it suits asyncio
        transports such as BLE.
        """
        slots = self._live_slots()
        queues = [asyncio.Queue(maxsize=64) for _ in slots]
        tasks = [asyncio.create_task(_apump(slot.driver, q), name=f"somacore-{slot.name}")
                 for slot, q in zip(slots, queues, strict=True)]
        out: list[WindowResult] = []
        merge = self._merge(slots, out, duration_s)
        try:
            req = next(merge)
            while True:
                k, timeout = req
                try:
                    got = queues[k].get_nowait()
                except asyncio.QueueEmpty:
                    try:
                        got = await asyncio.wait_for(queues[k].get(), timeout)
                    except TimeoutError:
                        got = None
                req = merge.send(got)
        except StopIteration:
            pass
        finally:
            merge.close()
            for slot in slots:
                _safe_close(slot.driver, self)
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        out.extend(self.close())
        return out

    def _drop(self, slot: _DriverSlot) -> None:
        _safe_close(slot.driver, self)
        slot.done = True
        for st in slot.streams.values():
            st.finish()
        self.people[slot.person].gate = None  # a finished stream no longer gates


def _t0(chunk: Chunk) -> float:
    t = chunk.t0
    return -math.inf if t is None else t


def _safe_close(driver: Any, session: Session) -> None:
    try:
        driver.close()
    except Exception as exc:
        session._problem(f"driver {getattr(driver, 'name', driver)!r}",
                         f"close() raised {type(exc).__name__}: {exc}", exc)


class _Direct:
    """Queue-like access to a non-blocking driver's iterator (no thread)."""

    def __init__(self, driver: Any) -> None:
        self._it = iter(driver.chunks())

    def get(self, timeout: float | None = None) -> tuple[str, Any]:
        try:
            return ("chunk", next(self._it))
        except StopIteration:
            return ("end", None)
        except Exception as exc:
            return ("error", exc)


async def _apump(driver: Any, q: asyncio.Queue) -> None:
    """Task body: move a driver's async chunks into its queue."""
    try:
        async for chunk in driver.achunks():
            await q.put(("chunk", chunk))
        await q.put(("end", None))
    except Exception as exc:  # reported by the session
        await q.put(("error", exc))


def _pump(driver: Any, q: queue.Queue, stop: threading.Event) -> None:
    """Thread body: move a driver's chunks into its queue (bounded, stoppable)."""

    def put(item: tuple[str, Any]) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    try:
        for chunk in driver.chunks():
            if not put(("chunk", chunk)):
                return
        put(("end", None))
    except Exception as exc:
        put(("error", exc))
