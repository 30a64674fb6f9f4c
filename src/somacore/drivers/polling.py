"""A base class for drivers that poll a buffered source (a board's ring buffer, an inlet).

Most device libraries keep incoming samples in a buffer and hand over what has
arrived when asked (BrainFlow's ``get_board_data``, LSL's ``pull_chunk``). A
driver for such a library is a loop: read the buffer, yield its chunks, wait a
little, read again. :class:`PollingDriver` owns that loop, in its sync
(``chunks()``) and async (``achunks()``) forms, and its watchdog (a device that
sends nothing for ``timeout_s`` is an error), so a plugin author writes only
what is specific to the device.
"""

from __future__ import annotations

import asyncio
import math
import numbers
import time
from collections.abc import AsyncIterator, Iterator

from somacore.plugins.types import Chunk, StreamInfo

__all__ = ["PollingDriver"]


def _checked_timeout(timeout_s: object) -> float | None:
    """``timeout_s`` as float seconds (None: no watchdog); a clear error if it is neither."""
    if timeout_s is None:
        return None
    if isinstance(timeout_s, bool) or not isinstance(timeout_s, numbers.Real) \
            or not (math.isfinite(timeout_s) and timeout_s > 0):
        raise ValueError(f"timeout_s={timeout_s!r} must be a positive finite number of seconds "
                         "(how long a device may send nothing), or None for no watchdog")
    return float(timeout_s)


class PollingDriver:
    """Base class for a driver that reads a device's buffer at intervals.

    A subclass provides what is specific to its device; :meth:`chunks`,
    :meth:`achunks` and the no-data watchdog are written once here.
    Subclassing is optional: any object with the attributes of
    :class:`somacore.plugins.types.Driver` is a driver.

    Parameters
    ----------
    timeout_s : float or None, keyword-only
        The watchdog: when the reads have brought no chunk for this many
        seconds (since the last read that did, or since the loop started),
        the loop raises ``ConnectionError`` naming the device and closes the
        driver, as for a failed read. None (the default): no watchdog. A
        subclass passes its own ``timeout_s`` argument on with
        ``super().__init__(timeout_s=timeout_s)``, which checks it (a finite
        number > 0, or None); a subclass that does not call it has no
        watchdog unless it sets ``timeout_s`` (checked when the loop starts).

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
        them: the loop yields them and ends without waiting for more. A
        silent device needs no check here: ``[]`` for ``timeout_s`` seconds
        is the watchdog's.
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

    To override if the default does not fit
    ---------------------------------------
    _source_name() -> str
        The device in the watchdog's message (default ``"<class> '<name>'"``;
        e.g. ``"LSL stream 'H10'"``).
    _silence_hint : str
        What the watchdog's message tells the user to check (default ``"is
        the device on and streaming?"``).
    _timed_out() -> None
        Called when the watchdog fires. The default raises
        ``ConnectionError("<source> sent no data for <timeout_s> s ...")``;
        an override may instead set ``self._ended = True`` and return, to end
        the stream cleanly when silence means the source is done (a file
        played to its end).

    Attributes
    ----------
    poll_s : float
        The pause the default :meth:`_wait_s` uses (seconds; set it in
        ``__init__``).
    timeout_s : float or None
        The watchdog's limit (see Parameters).
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
    the event loop), and the wait between reads is the loop's. The watchdog
    looks at each read as it returns: after one with no chunks it measures
    the silence on the monotonic clock, from the last read with chunks or
    from the start of ``chunks()`` / ``achunks()`` (after ``_open``). A read
    that ended the stream (``_ended``) or found the driver closed never
    fires it.

    Examples
    --------
    A driver for a device whose library buffers samples and returns them
    with ``pop()`` (a numpy array, empty when nothing arrived, ``None`` once
    the device has disconnected)::

        from somacore.drivers import PollingDriver
        from somacore.plugins.types import Chunk, StreamInfo

        class MyDriver(PollingDriver):
            def __init__(self, address, *, fs=250.0, poll_s=0.05, timeout_s=5.0,
                         name="mydevice"):
                super().__init__(timeout_s=timeout_s)  # silent for 5 s: ConnectionError
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
    #: the watchdog's limit in seconds (None: no watchdog); see the class docstring
    timeout_s: float | None = None
    _silence_hint = "is the device on and streaming?"
    #: set by :meth:`close`; the loop stops once it is set
    _closed: bool = False
    #: set by ``_read`` with the source's last chunks; the loop stops after yielding them
    _ended: bool = False
    #: the watchdog's clock (monotonic seconds; tests give an instance a fake one)
    _clock = staticmethod(time.monotonic)
    #: ``_clock()`` at the last read with chunks (or at the start of the loop)
    _last_data_at: float = 0.0

    def __init__(self, *, timeout_s: float | None = None) -> None:
        self.timeout_s = _checked_timeout(timeout_s)

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

    # ------------------------------------------------------------------ watchdog
    def _source_name(self) -> str:
        """The device in the watchdog's message (to override for a better name)."""
        name = getattr(self, "name", None)
        return type(self).__name__ if name is None else f"{type(self).__name__} {name!r}"

    def _timed_out(self) -> None:
        """The watchdog fired: raise (to override to end cleanly instead, see the class)."""
        raise ConnectionError(f"{self._source_name()} sent no data for {self.timeout_s:g} s "
                              f"(timeout_s): {self._silence_hint}")

    # ------------------------------------------------------------------ the loop
    def _start(self) -> None:
        if self._closed:
            raise RuntimeError(f"{self!r} is closed; create a new driver")
        # checked here too: a subclass may set timeout_s without calling __init__
        self.timeout_s = _checked_timeout(self.timeout_s)
        self._open()
        self._last_data_at = self._clock()  # the silence is counted from the open stream

    def _next(self) -> list[Chunk] | None:
        """One read, or None when the loop is over; a failed read closes the driver."""
        if self._closed:
            return None
        try:
            got = self._read()
            if got is None or self.timeout_s is None:
                return got
            now = self._clock()
            if got:
                self._last_data_at = now
            elif not self._done() and now - self._last_data_at > self.timeout_s:
                self._timed_out()  # raises, or ends the stream cleanly
                return None
            return got
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
