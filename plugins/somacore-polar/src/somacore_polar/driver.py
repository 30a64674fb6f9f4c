"""Polar H10 transport driver (BLE through ``bleak``, or any client with its interface).

The driver subscribes to the Heart Rate Measurement characteristic (RR
intervals) and, optionally, to the PMD data characteristic after writing the
ECG start command; it turns notifications into :class:`~somacore.plugins.types.Chunk`
objects with the pure decoders of :mod:`somacore_polar.decode`.

Streams: ``rr`` (kind ``rr``, seconds, irregular) and ``ecg`` (kind ``ecg``,
µV, 130 Hz). The sensor's own heart-rate value is not a stream (somacore has
no ``hr`` kind; it is derived from ``rr``).

Clock (seconds, host clock ``clock()``, default :func:`time.time`):

- ECG: the first frame maps the sensor timestamp of its last sample to the
  host time the frame arrived; later frames keep that offset, so sample times
  follow the sensor's crystal (no host jitter). Sample ``i`` of an ``n``-sample
  frame is at ``t_last - (n - 1 - i) / 130``.
- RR: each interval ends at a beat; beat times accumulate the intervals from
  an anchor (arrival of the first notification minus its intervals). The
  anchor is reset when the accumulated time falls more than 2 s behind the
  arrival time (notifications or beats were lost).

``bleak`` is imported only when no ``client_factory`` is given, so the
package imports and tests without it (``pip install somacore-polar[ble]``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import numpy as np
from somacore.plugins.types import Chunk, StreamInfo

from somacore_polar.decode import (
    ECG_FS,
    HR_MEASUREMENT_UUID,
    PMD_CONTROL_UUID,
    PMD_DATA_UUID,
    decode_hr_measurement,
    decode_pmd_ecg,
    ecg_start_command,
)

__all__ = ["PolarH10Driver"]

ClientFactory = Callable[[str, Callable[[Any], None]], Any]


def _bleak_factory(address: str, disconnected: Callable[[Any], None]) -> Any:
    try:
        from bleak import BleakClient
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError("the polar-h10 driver needs bleak: pip install "
                          "'somacore-polar[ble]'") from None
    return BleakClient(address, disconnected_callback=disconnected)


class PolarH10Driver:
    """Live RR intervals and ECG from a Polar H10 chest strap.

    Parameters
    ----------
    address : str
        BLE address (or platform identifier) of the strap.
    ecg : bool
        Stream ECG (PMD) besides RR intervals.
    duration_s : float, optional
        End cleanly once a chunk starts ``duration_s`` seconds after the first
        one (None: until :meth:`close` or disconnection).
    timeout_s : float
        Longest wait for a notification before the link is deemed broken.
    client_factory : callable, optional
        ``factory(address, disconnected_callback)`` returning an object with
        bleak's ``BleakClient`` coroutine methods ``connect``, ``disconnect``,
        ``start_notify(uuid, callback)`` and ``write_gatt_char(uuid, data,
        response=True)``. Default: :class:`bleak.BleakClient` (imported lazily).
    clock : callable
        Host clock in seconds (default :func:`time.time`).

    Notes
    -----
    ``chunks()`` returns when :meth:`close` was called or ``duration_s`` is
    reached; an unrequested disconnection, or no notification for
    ``timeout_s``, raises :class:`ConnectionError`.
    """

    name = "polar-h10"
    blocking = True

    def __init__(self, address: str = "", *, ecg: bool = True, duration_s: float | None = None,
                 timeout_s: float = 10.0, client_factory: ClientFactory | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.address = address
        self.ecg = ecg
        self.duration_s = duration_s
        self.timeout_s = float(timeout_s)
        self._factory = client_factory or _bleak_factory
        self._clock = clock
        self._closed = False
        self._reset()

    def _reset(self) -> None:
        self._seq = {"rr": 0, "ecg": 0}
        self._beat_t: float | None = None
        self._ecg_offset: float | None = None
        self._first_t: float | None = None

    def streams(self) -> list[StreamInfo]:
        """``rr`` and (if enabled) ``ecg``."""
        out = [StreamInfo("rr", "rr", "s", None)]
        if self.ecg:
            out.append(StreamInfo("ecg", "ecg", "uV", ECG_FS))
        return out

    # ------------------------------------------------------------ decoding
    def _rr_chunk(self, data: bytes, t_host: float) -> Chunk | None:
        m = decode_hr_measurement(data)
        if not m.rr_s:
            return None
        rr = np.asarray(m.rr_s)
        if self._beat_t is None or t_host - (self._beat_t + rr.sum()) > 2.0:
            self._beat_t = t_host - float(rr.sum())
        times = self._beat_t + np.cumsum(rr)
        self._beat_t = float(times[-1])
        self._seq["rr"] += 1
        return Chunk("rr", rr, self._seq["rr"], timestamps=times)

    def _ecg_chunk(self, data: bytes, t_host: float) -> Chunk | None:
        f = decode_pmd_ecg(data)
        n = f.samples_uv.size
        if n == 0:
            return None
        t_dev = f.timestamp_ns / 1e9
        if self._ecg_offset is None:
            self._ecg_offset = t_host - t_dev
        t_last = t_dev + self._ecg_offset
        self._seq["ecg"] += 1
        return Chunk("ecg", f.samples_uv.astype(np.float64), self._seq["ecg"],
                     t0=t_last - (n - 1) / ECG_FS, fs=ECG_FS)

    # ------------------------------------------------------------ transport
    async def achunks(self) -> AsyncIterator[Chunk]:
        """Connect, subscribe and yield chunks as notifications arrive."""
        self._reset()
        q: asyncio.Queue[tuple[str, bytes, float]] = asyncio.Queue()
        loop = asyncio.get_running_loop()

        def disconnected(_client: Any) -> None:
            loop.call_soon_threadsafe(q.put_nowait, ("disconnected", b"", self._clock()))

        def on(stream: str) -> Callable[[Any, bytearray], None]:
            def cb(_sender: Any, data: bytearray) -> None:
                q.put_nowait((stream, bytes(data), self._clock()))
            return cb

        client = self._factory(self.address, disconnected)
        await client.connect()
        try:
            await client.start_notify(HR_MEASUREMENT_UUID, on("rr"))
            if self.ecg:
                await client.start_notify(PMD_DATA_UUID, on("ecg"))
                await client.write_gatt_char(PMD_CONTROL_UUID, ecg_start_command(),
                                             response=True)
            while not self._closed:
                try:
                    stream, data, t_host = await asyncio.wait_for(q.get(), self.timeout_s)
                except TimeoutError:
                    raise ConnectionError(f"polar-h10 {self.address}: no notification for "
                                          f"{self.timeout_s:g} s") from None
                if stream == "disconnected":
                    if self._closed:
                        return
                    raise ConnectionError(f"polar-h10 {self.address}: disconnected")
                chunk = (self._rr_chunk if stream == "rr" else self._ecg_chunk)(data, t_host)
                if chunk is None:
                    continue
                start = float(chunk.t0)
                if self._first_t is None:
                    self._first_t = start
                if self.duration_s is not None and start - self._first_t >= self.duration_s:
                    return
                yield chunk
        finally:
            try:
                await client.disconnect()
            except Exception:  # the link is already broken: nothing left to release
                pass

    def chunks(self) -> Iterator[Chunk]:
        """Blocking iteration over :meth:`achunks` on a private event loop."""
        loop = asyncio.new_event_loop()
        agen = self.achunks()
        try:
            while True:
                try:
                    yield loop.run_until_complete(agen.__anext__())
                except StopAsyncIteration:
                    return
        finally:
            loop.run_until_complete(agen.aclose())
            loop.close()

    def close(self) -> None:
        """Stop streaming: the iteration ends at the next notification (safe to repeat)."""
        self._closed = True
