"""A base class for drivers that poll a buffered source (a board's ring buffer, an inlet).

Most device libraries keep incoming samples in a buffer and hand over what has
arrived when asked (BrainFlow's ``get_board_data``, LSL's ``pull_chunk``). A
driver for such a library is a loop: read the buffer, yield its chunks, wait a
little, read again. :class:`PollingDriver` owns that loop, in its sync
(``chunks()``) and async (``achunks()``) forms, so a plugin author writes only
what is specific to the device.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

from somacore.plugins.types import Chunk, StreamInfo

__all__ = ["PollingDriver"]


class PollingDriver:
    """Base class for a driver that reads a device's buffer at intervals.

    A subclass provides what is specific to its device; :meth:`chunks` and
    :meth:`achunks` are written once here. Subclassing is optional: any object
    with the attributes of :class:`somacore.plugins.types.Driver` is a driver.

    To provide
    ----------
    name : str
        Driver name (an attribute; stream keys in a session are
        ``"<name>/<stream>"``).
    streams() -> list of StreamInfo
        The streams the driver yields chunks of.
    _open() -> None
        Connect and start the device. Called once at the start of
        :meth:`chunks` / :meth:`achunks`; calling it again on an open driver
        must do nothing. If it raises, it must release what it acquired
        itself (the driver is not closed, so the user may try again).
    _read() -> list of Chunk or None
        One non-blocking read of the buffer: the chunks it held, in order
        (``[]`` if nothing has arrived yet), or ``None`` when the source is
        done (a played file, a clean disconnect). Raise (``ConnectionError``,
        naming the device) when it failed: the loop then calls :meth:`close`
        and lets the exception propagate. If the last chunks of the source
        are in this read, set ``self._ended = True`` as well as returning
        them: the loop yields them and ends without waiting for more.
    _wait_s(got) -> float
        Seconds to wait after a read that returned ``got`` (a list, maybe
        empty) before the next read. The default waits ``poll_s`` only when
        the read was empty, so a backlog is drained at full speed; override
        it for a device that must be polled at a steady pace (e.g. return
        ``self.poll_s`` always). The sync loop sleeps only for a positive
        wait; the async loop always awaits ``asyncio.sleep(wait)``, so even a
        zero wait lets the event loop's other tasks run.
    close() -> None
        Release the device; safe to call twice, from another thread, and
        after a failure. An override must call ``super().close()`` (which
        sets ``self._closed``) before releasing the device.

    Attributes
    ----------
    poll_s : float
        The pause the default :meth:`_wait_s` uses (seconds; set it in
        ``__init__``).
    blocking : bool
        True: the loop waits on the device, so a session reads it from a
        helper thread.

    Notes
    -----
    The loop ends when ``_read`` returns ``None``, when ``_ended`` was set, or
    when :meth:`close` was called (from the consumer, or from another thread
    while the loop waits): the chunks of the read in hand are still yielded,
    no read follows. ``chunks()`` on a closed driver raises ``RuntimeError``.
    ``_read`` must not block: both loops call it directly (the async one on
    the event loop), and the wait between reads is the loop's.

    Examples
    --------
    A driver for a device whose library buffers samples and returns them
    with ``pop()`` (a numpy array, empty when nothing arrived, ``None`` once
    the device has disconnected)::

        from somacore.drivers import PollingDriver
        from somacore.plugins.types import Chunk, StreamInfo

        class MyDriver(PollingDriver):
            def __init__(self, address, *, fs=250.0, poll_s=0.05, name="mydevice"):
                self.address, self.fs, self.poll_s, self.name = address, fs, poll_s, name
                self._dev = None
                self._seq = 0
                self._n = 0  # samples yielded so far

            def streams(self):
                return [StreamInfo("ecg", "ecg", "mV", self.fs)]

            def _open(self):
                if self._dev is None:
                    self._dev = mylib.connect(self.address)

            def _read(self):
                dev = self._dev
                if dev is None:
                    return None
                x = dev.pop()
                if x is None:  # disconnected cleanly
                    return None
                if len(x) == 0:
                    return []
                chunk = Chunk("ecg", x, self._seq, t0=self._n / self.fs, fs=self.fs)
                self._seq += 1
                self._n += len(x)
                return [chunk]

            def close(self):
                super().close()
                dev, self._dev = self._dev, None
                if dev is not None:
                    dev.disconnect()

    Check it with :func:`somacore.testing.check_driver`.
    """

    blocking = True
    poll_s: float = 0.05
    #: set by :meth:`close`; the loop stops once it is set
    _closed: bool = False
    #: set by ``_read`` with the source's last chunks; the loop stops after yielding them
    _ended: bool = False

    # ------------------------------------------------------------------ to provide
    def streams(self) -> list[StreamInfo]:
        """The streams this driver yields (to override)."""
        raise NotImplementedError(f"{type(self).__name__} must define streams()")

    def _open(self) -> None:
        """Connect and start the device (to override; a second call does nothing)."""
        raise NotImplementedError(f"{type(self).__name__} must define _open()")

    def _read(self) -> list[Chunk] | None:
        """One non-blocking read: its chunks (``[]`` if none yet), ``None`` at the end."""
        raise NotImplementedError(f"{type(self).__name__} must define _read()")

    def _wait_s(self, got: list[Chunk]) -> float:
        """Seconds to wait after a read that returned ``got``: ``poll_s`` if it was empty."""
        return 0.0 if got else self.poll_s

    def close(self) -> None:
        """Stop reading (overrides call this first, then release the device)."""
        self._closed = True

    # ------------------------------------------------------------------ the loop
    def _start(self) -> None:
        if self._closed:
            raise RuntimeError(f"{self!r} is closed; create a new driver")
        self._open()

    def _next(self) -> list[Chunk] | None:
        """One read, or None when the loop is over; a failed read closes the driver."""
        if self._closed:
            return None
        try:
            return self._read()
        except BaseException:
            self.close()  # release the device before the error reaches the caller
            raise

    def _done(self) -> bool:
        return self._ended or self._closed

    def chunks(self) -> Iterator[Chunk]:
        """Read the device until its end, :meth:`close` or a failure."""
        self._start()
        while True:
            got = self._next()
            if got is None:
                return
            yield from got
            if self._done():
                return
            wait = self._wait_s(got)
            if wait > 0:
                time.sleep(wait)

    async def achunks(self) -> AsyncIterator[Chunk]:
        """Async twin of :meth:`chunks` (reads never block; waits are awaited)."""
        self._start()
        while True:
            got = self._next()
            if got is None:
                return
            for c in got:
                yield c
            if self._done():
                return
            await asyncio.sleep(self._wait_s(got))
