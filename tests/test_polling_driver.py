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


def test_import_somacore_does_not_load_the_drivers():
    code = ("import sys, somacore; "
            "print([m for m in ('somacore.drivers', 'asyncio') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"
