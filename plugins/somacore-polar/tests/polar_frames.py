"""Byte frames built by hand from the published layouts (test helper, independent of decode)."""

from __future__ import annotations

import asyncio
import struct

HR_UUID = "00002a37-0000-1000-8000-00805f9b34fb"
PMD_CTRL = "fb005c81-02e7-f387-1cad-8acd2d8df0c8"
PMD_DATA = "fb005c82-02e7-f387-1cad-8acd2d8df0c8"


def hr_frame(hr: int, rr_raw=(), *, uint16=False, contact=None, energy=None) -> bytes:
    """Heart Rate Measurement: flags, HR (uint8/uint16), [energy uint16], RR uint16 * k."""
    flags = (0x01 if uint16 else 0) | (0x10 if rr_raw else 0) | (0x08 if energy is not None
                                                                  else 0)
    if contact is not None:
        flags |= 0x04 | (0x02 if contact else 0)
    out = bytes([flags]) + (struct.pack("<H", hr) if uint16 else struct.pack("<B", hr))
    if energy is not None:
        out += struct.pack("<H", energy)
    return out + b"".join(struct.pack("<H", r) for r in rr_raw)


def pmd_ecg_frame(ts_ns: int, samples_uv, *, frame_type: int = 0, mtype: int = 0) -> bytes:
    """PMD data: type, uint64 LE timestamp (ns, last sample), frame type, int24 LE samples."""
    body = b"".join(int(v).to_bytes(3, "little", signed=True) for v in samples_uv)
    return bytes([mtype]) + struct.pack("<Q", ts_ns) + bytes([frame_type]) + body


class FakeClock:
    """Host clock the fake client advances before each notification."""

    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


class FakeClient:
    """Stands in for bleak.BleakClient: replays (host time, uuid, bytes) notifications."""

    def __init__(self, address, disconnected, events, clock, *, drop_at_end=False,
                 wait_for_ecg=True):
        self.address = address
        self.disconnected = disconnected
        self.events = events
        self.clock = clock
        self.drop_at_end = drop_at_end
        self.wait_for_ecg = wait_for_ecg
        self.cbs = {}
        self.written = []
        self.connected = False
        self.disconnect_calls = 0
        self._task = None

    async def connect(self):
        self.connected = True
        self._task = asyncio.get_running_loop().create_task(self._feed())

    async def _feed(self):
        while HR_UUID not in self.cbs or (self.wait_for_ecg and not self.written):
            await asyncio.sleep(0)
        for t, uuid, data in self.events:
            await asyncio.sleep(0)
            if not self.connected:
                return
            self.clock.t = t
            cb = self.cbs.get(uuid)
            if cb is not None:
                cb(None, bytearray(data))
        if self.drop_at_end:
            self.connected = False
            self.disconnected(self)

    async def start_notify(self, uuid, callback):
        self.cbs[uuid] = callback

    async def write_gatt_char(self, uuid, data, response=True):
        self.written.append((uuid, bytes(data), response))

    async def disconnect(self):
        self.disconnect_calls += 1
        self.connected = False
        if self._task is not None:
            self._task.cancel()
