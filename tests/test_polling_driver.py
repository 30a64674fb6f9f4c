"""PollingDriver: the read loop shared by drivers that poll a device's buffer.

The device is a script of reads (chunks, ``[]`` for "nothing yet", ``None`` for
the end, an exception for a failure). Waits are counted by replacing
``time.sleep`` / ``asyncio.sleep``, never timed.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys

import numpy as np
import pytest

from somacore.drivers import PollingDriver, polling
from somacore.plugins.types import Chunk, Driver, StreamInfo
from somacore.testing import check_driver

FS = 100.0
POLL = 0.25


def _chunks(n: int) -> list[Chunk]:
    """n consecutive 10-sample chunks (seq 0.., back to back in time)."""
    return [Chunk("ecg", np.full(10, float(k)), k, t0=10 * k / FS, fs=FS) for k in range(n)]


C = _chunks(5)
#: empty reads between data, a two-chunk read, then the end
SCRIPT = [[C[0], C[1]], [], [C[2]], [], [], [C[3], C[4]], None]
FLAT = [C[0], C[1], C[2], C[3], C[4]]


class End(list):
    """A read holding the source's last chunks (the driver sets ``_ended``)."""


class Scripted(PollingDriver):
    """A device whose reads come from a script; counts opens, reads and releases."""

    def __init__(self, reads, *, poll_s: float = POLL, name: str = "scripted") -> None:
        self._reads = list(reads)
        self.poll_s = poll_s
        self.name = name
        self.opened = self.n_read = self.released = 0

    def __repr__(self) -> str:
        return f"Scripted({self.name!r})"

    def streams(self) -> list[StreamInfo]:
        return [StreamInfo("ecg", "ecg", "mV", FS)]

    def _open(self) -> None:
        self.opened += 1

    def _read(self) -> list[Chunk] | None:
        self.n_read += 1
        item = self._reads.pop(0)
        if isinstance(item, BaseException):
            raise item
        if isinstance(item, End):
            self._ended = True
        return None if item is None else list(item)

    def close(self) -> None:
        super().close()
        self.released += 1


class Steady(Scripted):
    """The other common rule: wait after every read (BrainFlow's)."""

    def _wait_s(self, got: list[Chunk]) -> float:
        return self.poll_s


@pytest.fixture
def waits(monkeypatch):
    """Every wait the loops ask for, in order: ("sync", s) or ("async", s)."""
    seen: list[tuple[str, float]] = []
    real_async_sleep = asyncio.sleep

    def sleep(s: float) -> None:
        seen.append(("sync", s))

    async def asleep(s: float) -> None:
        seen.append(("async", s))
        await real_async_sleep(0)

    monkeypatch.setattr(polling.time, "sleep", sleep)
    monkeypatch.setattr(polling.asyncio, "sleep", asleep)
    return seen


def _slist(drv: PollingDriver) -> list[Chunk]:
    return list(drv.chunks())


def _alist(drv: PollingDriver) -> list[Chunk]:
    async def main() -> list[Chunk]:
        return [c async for c in drv.achunks()]

    return asyncio.run(main())


def _same(a: list[Chunk], b: list[Chunk]) -> bool:
    return len(a) == len(b) and all(x is y for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("cls", [Scripted, Steady])
def test_sync_and_async_give_the_same_chunks(cls, waits):
    sync, asyn = cls(SCRIPT), cls(SCRIPT)
    got, agot = list(sync.chunks()), _alist(asyn)
    assert _same(got, FLAT) and _same(agot, FLAT)
    assert sync.opened == asyn.opened == 1
    assert sync.n_read == asyn.n_read == len(SCRIPT)
    assert isinstance(sync, Driver)


def test_default_rule_waits_poll_s_only_after_an_empty_read(waits):
    list(Scripted(SCRIPT).chunks())
    # 7 reads: data, empty, data, empty, empty, data, end -> a wait after each empty one
    assert waits == [("sync", POLL)] * 3
    waits.clear()
    _alist(Scripted(SCRIPT))
    # async: a zero wait after data still hands the event loop to other tasks
    assert waits == [("async", w) for w in (0.0, POLL, 0.0, POLL, POLL, 0.0)]


def test_overridden_rule_waits_after_every_read(waits):
    list(Steady(SCRIPT).chunks())
    assert waits == [("sync", POLL)] * 6  # after each read but the final None
    waits.clear()
    _alist(Steady(SCRIPT))
    assert waits == [("async", POLL)] * 6


def test_a_zero_wait_never_calls_time_sleep(waits):
    class Eager(Scripted):
        def _wait_s(self, got):
            return 0.0

    assert _same(list(Eager(SCRIPT).chunks()), FLAT)
    assert waits == []


@pytest.mark.parametrize("read", [_slist, _alist], ids=["sync", "async"])
def test_ended_source_stops_without_another_read_or_wait(read, waits):
    drv = Steady([[C[0]], End([C[1], C[2]]), [C[3]]])
    assert _same(read(drv), C[:3])
    assert drv.n_read == 2
    assert [w for _, w in waits] == [POLL]  # after the first read only
    assert drv.released == 0  # a clean end leaves closing to the owner


@pytest.mark.parametrize("read", [_slist, _alist], ids=["sync", "async"])
def test_read_returning_none_ends_the_loop(read, waits):
    drv = Scripted([[C[0]], [], None, [C[1]]])
    assert _same(read(drv), [C[0]])
    assert drv.n_read == 3
    assert drv.released == 0


def test_close_mid_stream_ends_the_loop(waits):
    drv = Steady(SCRIPT)
    it = drv.chunks()
    assert next(it) is C[0]
    drv.close()
    # the read in hand is still delivered (nothing received is lost); no wait, no read
    assert _same(list(it), [C[1]])
    assert drv.n_read == 1 and waits == []


def test_close_mid_stream_ends_the_async_loop(waits):
    drv = Steady(SCRIPT)

    async def main() -> list[Chunk]:
        out = []
        async for c in drv.achunks():
            out.append(c)
            drv.close()
        return out

    assert _same(asyncio.run(main()), [C[0], C[1]])
    assert drv.n_read == 1 and waits == []


@pytest.mark.parametrize("read", [_slist, _alist], ids=["sync", "async"])
def test_close_during_a_wait_ends_the_loop_before_the_next_read(read, monkeypatch):
    drv = Scripted(SCRIPT)
    real_async_sleep = asyncio.sleep

    def closing_sleep(s):  # as another thread closing the driver while the loop waits
        drv.close()

    async def closing_asleep(s):
        drv.close()
        await real_async_sleep(0)

    monkeypatch.setattr(polling.time, "sleep", closing_sleep)
    monkeypatch.setattr(polling.asyncio, "sleep", closing_asleep)
    got = read(drv)
    # sync waits only after the empty second read; async waits (0 s) after the first
    assert _same(got, [C[0], C[1]])
    assert drv.n_read == (2 if read is _slist else 1)


@pytest.mark.parametrize("read", [_slist, _alist], ids=["sync", "async"])
def test_read_error_propagates_with_the_driver_closed(read, waits):
    drv = Scripted([[C[0]], [], ConnectionError("device 'scripted' went away")])
    got: list[Chunk] = []

    def consume():
        if read is _slist:
            got.extend(drv.chunks())
        else:
            async def main():
                async for c in drv.achunks():
                    got.append(c)
            asyncio.run(main())

    with pytest.raises(ConnectionError, match="device 'scripted' went away"):
        consume()
    assert _same(got, [C[0]])  # chunks read before the failure were delivered
    assert drv.released == 1
    with pytest.raises(RuntimeError, match=r"Scripted\('scripted'\) is closed; create a new"):
        read(drv)
    assert drv.opened == 1


def test_closed_driver_refuses_to_start_and_open_failure_does_not_close():
    drv = Scripted(SCRIPT)
    drv.close()
    with pytest.raises(RuntimeError, match="is closed; create a new driver"):
        list(drv.chunks())
    assert drv.opened == 0

    class NoDevice(Scripted):
        def _open(self):
            self.opened += 1
            raise ConnectionError("no device at 'x'")

    drv = NoDevice(SCRIPT)
    with pytest.raises(ConnectionError, match="no device"):
        list(drv.chunks())
    assert drv.released == 0 and drv.n_read == 0  # _open cleans up after itself


def test_a_subclass_missing_read_is_named():
    class Half(PollingDriver):
        name = "half"

        def _open(self):
            pass

    with pytest.raises(NotImplementedError, match=r"Half must define _read\(\)"):
        list(Half().chunks())


def test_scripted_driver_passes_the_driver_contract(monkeypatch):
    monkeypatch.setattr(polling.time, "sleep", lambda s: None)
    check_driver(lambda: Scripted(SCRIPT, poll_s=0.001))


# ---------------------------------------------------------------------- the watchdog
class Watched(Scripted):
    """A scripted device on a fake clock: each read is ``(time of the read, result)``.

    ``_open`` happens at ``opened_at``; the watchdog's clock reads the time of
    the last event, so silences are exact and nothing sleeps.
    """

    def __init__(self, timed_reads, *, timeout_s=1.0, opened_at: float = 0.0,
                 name: str = "dev") -> None:
        PollingDriver.__init__(self, timeout_s=timeout_s)
        super().__init__([r for _, r in timed_reads], name=name)
        self._times = [t for t, _ in timed_reads]
        self.opened_at = opened_at
        self.now = -100.0  # the driver is made long before it is opened
        self._clock = lambda: self.now

    def _open(self) -> None:
        super()._open()
        self.now = self.opened_at

    def _read(self) -> list[Chunk] | None:
        self.now = self._times[self.n_read]
        return super()._read()


def _consume(read, drv: PollingDriver, got: list[Chunk]) -> None:
    """Read ``drv`` to its end with ``read``'s loop, keeping the chunks it yields."""
    if read is _slist:
        got.extend(drv.chunks())
        return

    async def main() -> None:
        async for c in drv.achunks():
            got.append(c)

    asyncio.run(main())


@pytest.mark.parametrize("read", [_slist, _alist], ids=["sync", "async"])
def test_watchdog_fires_after_timeout_s_of_empty_reads_and_closes(read, waits):
    # data at 0.5 s, then silence: 1.0 s of it is still allowed, 1.1 s is not
    drv = Watched([(0.5, [C[0]]), (1.0, []), (1.5, []), (1.6, []), (9.0, [C[1]])],
                  timeout_s=1.0)
    got: list[Chunk] = []
    with pytest.raises(ConnectionError, match=r"^Watched 'dev' sent no data for 1 s "
                       r"\(timeout_s\): is the device on and streaming\?$"):
        _consume(read, drv, got)
    assert _same(got, [C[0]])
    assert drv.n_read == 4  # no read after the one that fired
    assert drv.released == 1  # closed, as after a failed read
    with pytest.raises(RuntimeError, match="is closed; create a new driver"):
        read(drv)


@pytest.mark.parametrize("read", [_slist, _alist], ids=["sync", "async"])
def test_watchdog_counts_from_the_last_read_with_chunks(read, waits):
    # 2.9 s of reads with only 0.9 s of silence at a time: never fires
    drv = Watched([(0.9, []), (1.0, [C[0]]), (1.9, []), (2.0, [C[1], C[2]]), (2.9, []),
                   (2.95, [C[3]]), (3.9, []), (3.95, None)], timeout_s=1.0)
    assert _same(read(drv), C[:4])
    assert drv.n_read == 8 and drv.released == 0


@pytest.mark.parametrize("read", [_slist, _alist], ids=["sync", "async"])
def test_watchdog_clock_starts_when_the_stream_opens(read, waits):
    # made at -100 s, opened at 5 s: 0.5 s of silence at the first read, 1.2 s at the second
    drv = Watched([(5.5, []), (6.2, []), (7.0, [C[0]])], timeout_s=1.0, opened_at=5.0)
    got: list[Chunk] = []
    with pytest.raises(ConnectionError, match="sent no data for 1 s"):
        _consume(read, drv, got)
    assert got == [] and drv.n_read == 2


@pytest.mark.parametrize("read", [_slist, _alist], ids=["sync", "async"])
def test_no_watchdog_without_timeout_s(read, waits):
    silent = [(float(t), []) for t in range(1, 1000)] + [(1000.0, [C[0]]), (1001.0, None)]
    assert _same(read(Watched(silent, timeout_s=None)), [C[0]])
    # a subclass that never calls PollingDriver.__init__ has no watchdog either
    assert Scripted(SCRIPT).timeout_s is None


@pytest.mark.parametrize("read", [_slist, _alist], ids=["sync", "async"])
def test_a_read_that_ends_the_stream_does_not_fire_the_watchdog(read, waits):
    drv = Watched([(0.5, []), (5.0, End([]))], timeout_s=1.0)
    assert read(drv) == []
    assert drv.released == 0  # a clean end


@pytest.mark.parametrize("bad", [0, 0.0, -1.0, float("nan"), float("inf"), True, "5", [5]])
def test_invalid_timeout_s_is_refused_by_name(bad):
    with pytest.raises(ValueError, match=r"timeout_s=.* must be a positive finite number of "
                       r"seconds .*, or None for no watchdog"):
        Watched([], timeout_s=bad)


def test_invalid_timeout_s_class_attribute_is_refused_before_opening():
    class Careless(Scripted):
        timeout_s = -2.0  # set without PollingDriver.__init__'s check

    drv = Careless(SCRIPT)
    with pytest.raises(ValueError, match=r"timeout_s=-2\.0 must be a positive finite"):
        list(drv.chunks())
    assert drv.opened == 0 and drv.n_read == 0


def test_numpy_and_int_timeouts_are_seconds():
    assert Watched([], timeout_s=np.float32(0.5)).timeout_s == 0.5
    assert Watched([], timeout_s=np.int64(2)).timeout_s == 2.0
    assert type(Watched([], timeout_s=3).timeout_s) is float


@pytest.mark.parametrize("read", [_slist, _alist], ids=["sync", "async"])
def test_watchdog_message_names_the_source_and_what_to_check(read, waits):
    class Inlet(Watched):
        _silence_hint = "is the source still sending and the network up?"

        def _source_name(self):
            return f"inlet stream {self.name!r}"

    drv = Inlet([(0.0, [C[0]]), (2.5, [])], timeout_s=2.0, name="H10")
    with pytest.raises(ConnectionError, match=r"^inlet stream 'H10' sent no data for 2 s "
                       r"\(timeout_s\): is the source still sending and the network up\?$"):
        _consume(read, drv, [])


@pytest.mark.parametrize("read", [_slist, _alist], ids=["sync", "async"])
def test_timed_out_override_can_end_the_stream_cleanly(read, waits):
    class Played(Watched):  # silence after data means the file is done
        def _timed_out(self):
            self._ended = True

    drv = Played([(0.1, [C[0]]), (0.5, [C[1]]), (1.0, []), (1.6, []), (9.0, [C[2]])])
    assert _same(read(drv), C[:2])
    assert drv.n_read == 4 and drv.released == 0


def test_watchdog_runs_on_the_monotonic_clock_by_default():
    # the one test on real time: 20 ms of silence, polled every 2 ms
    drv = Scripted([[]] * 10_000, poll_s=0.002)
    PollingDriver.__init__(drv, timeout_s=0.02)
    with pytest.raises(ConnectionError, match=r"sent no data for 0\.02 s"):
        list(drv.chunks())
    assert 5 <= drv.n_read < 10_000 and drv.released == 1


def test_import_somacore_does_not_load_the_drivers():
    code = ("import sys, somacore; "
            "print([m for m in ('somacore.drivers', 'asyncio') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"
