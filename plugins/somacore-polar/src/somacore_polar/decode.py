"""Pure decoders (bytes -> values) for Polar H10 notifications, separate from the transport.

Sources, written from memory of the published specifications (no document was
at hand while writing this; the byte layouts are the widely implemented ones
and the tests build frames from this description, not from the decoder):

**Bluetooth SIG Heart Rate Measurement characteristic** (UUID ``0x2A37``,
Heart Rate Service ``0x180D``; GATT Specification Supplement):

- byte 0, flags: bit 0 = heart-rate value format (0: uint8, 1: uint16
  little-endian); bit 1 = sensor contact detected; bit 2 = sensor contact
  feature supported; bit 3 = Energy Expended present; bit 4 = RR-Interval
  present; bits 5-7 reserved.
- the heart rate (bpm), then Energy Expended (uint16, kJ) if flagged, then
  zero or more RR intervals (uint16 each, resolution **1/1024 s**) filling the
  rest of the notification.

**Polar Measurement Data (PMD) service** (Polar BLE SDK documentation):
service ``FB005C80-02E7-F387-1CAD-8ACD2D8DF0C8``, control point ``...5C81...``,
data ``...5C82...``. A data notification is:

- byte 0: measurement type (0 = ECG, 1 = PPG, 2 = ACC, 3 = PPI, ...);
- bytes 1-8: timestamp, uint64 little-endian, nanoseconds (Polar's epoch is
  2000-01-01T00:00:00; the timestamp is that of the *last* sample of the frame);
- byte 9: frame type (0 for the H10's uncompressed ECG; bit 7 set marks
  compressed delta frames, not supported here);
- then the samples: for ECG frame type 0, signed 24-bit little-endian
  integers (3 bytes each) in **µV**, at 130 Hz on the H10.

Starting the H10 ECG stream: write to the control point
``02 00 00 01 82 00 01 01 0E 00`` (start measurement, type ECG, setting 0 =
sample rate with one value 130 (0x0082), setting 1 = resolution with one value
14 bits). These byte strings match the ones used by open-source H10 clients;
verify them against Polar's SDK documentation before relying on them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "ECG_FS",
    "HR_MEASUREMENT_UUID",
    "PMD_CONTROL_UUID",
    "PMD_DATA_UUID",
    "HeartRateMeasurement",
    "PmdEcgFrame",
    "decode_hr_measurement",
    "decode_pmd_ecg",
    "ecg_start_command",
]

HR_MEASUREMENT_UUID = "00002a37-0000-1000-8000-00805f9b34fb"
PMD_CONTROL_UUID = "fb005c81-02e7-f387-1cad-8acd2d8df0c8"
PMD_DATA_UUID = "fb005c82-02e7-f387-1cad-8acd2d8df0c8"
#: H10 ECG sampling rate (Hz).
ECG_FS = 130.0
PMD_ECG = 0
#: Seconds from the unix epoch to Polar's PMD epoch (2000-01-01T00:00:00 UTC).
PMD_EPOCH_UNIX = 946684800.0


@dataclass(frozen=True)
class HeartRateMeasurement:
    """One decoded Heart Rate Measurement notification.

    Attributes
    ----------
    hr_bpm : int
        Heart rate reported by the sensor.
    contact : bool or None
        Skin contact detected; None when the sensor does not support detection.
    energy_kj : int or None
        Energy expended (kJ) if present.
    rr_s : tuple of float
        RR intervals in seconds (``raw / 1024``), oldest first.
    """

    hr_bpm: int
    contact: bool | None
    energy_kj: int | None
    rr_s: tuple[float, ...]


def decode_hr_measurement(data: bytes | bytearray) -> HeartRateMeasurement:
    """Decode a Heart Rate Measurement (0x2A37) notification.

    Raises
    ------
    ValueError
        If the notification is shorter than its flags announce or its RR part
        has an odd number of bytes.
    """
    b = bytes(data)
    if len(b) < 2:
        raise ValueError(f"heart rate measurement of {len(b)} byte(s): need flags and a value")
    flags = b[0]
    pos = 1
    if flags & 0x01:
        if len(b) < 3:
            raise ValueError("heart rate measurement flags a uint16 value but has 2 bytes")
        hr = int.from_bytes(b[1:3], "little")
        pos = 3
    else:
        hr = b[1]
        pos = 2
    contact = bool(flags & 0x02) if flags & 0x04 else None
    energy = None
    if flags & 0x08:
        if len(b) < pos + 2:
            raise ValueError("heart rate measurement flags energy expended but is too short")
        energy = int.from_bytes(b[pos:pos + 2], "little")
        pos += 2
    rr: tuple[float, ...] = ()
    if flags & 0x10:
        rest = b[pos:]
        if len(rest) % 2:
            raise ValueError(f"heart rate measurement RR part has {len(rest)} bytes (odd)")
        raw = np.frombuffer(rest, dtype="<u2")
        rr = tuple(float(v) / 1024.0 for v in raw)
    return HeartRateMeasurement(hr, contact, energy, rr)


@dataclass(frozen=True, eq=False)
class PmdEcgFrame:
    """One decoded PMD ECG data notification.

    Attributes
    ----------
    timestamp_ns : int
        Sensor timestamp of the last sample (ns since 2000-01-01, sensor clock).
    samples_uv : ndarray of int32
        ECG samples in µV.
    """

    timestamp_ns: int
    samples_uv: np.ndarray

    @property
    def last_sample_unix_s(self) -> float:
        """Timestamp of the last sample as unix seconds (if the sensor clock was set)."""
        return PMD_EPOCH_UNIX + self.timestamp_ns / 1e9


def decode_pmd_ecg(data: bytes | bytearray) -> PmdEcgFrame:
    """Decode a PMD data notification holding uncompressed ECG (type 0, frame type 0).

    Raises
    ------
    ValueError
        For another measurement type, a compressed frame, a frame shorter than
        its 10-byte header, or a sample part that is not a multiple of 3 bytes.
    """
    b = bytes(data)
    if len(b) < 10:
        raise ValueError(f"PMD frame of {len(b)} bytes is shorter than its 10-byte header")
    if b[0] != PMD_ECG:
        raise ValueError(f"PMD frame of measurement type {b[0]} is not ECG (0)")
    if b[9] != 0:
        kind = "a compressed (delta) frame" if b[9] & 0x80 else f"frame type {b[9]}"
        raise ValueError(f"PMD ECG {kind} is not supported (only frame type 0)")
    payload = b[10:]
    if len(payload) % 3:
        raise ValueError(f"PMD ECG payload of {len(payload)} bytes is not a multiple of 3")
    raw = np.frombuffer(payload, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
    v = raw[:, 0] | (raw[:, 1] << 8) | (raw[:, 2] << 16)
    v = np.where(v >= 1 << 23, v - (1 << 24), v).astype(np.int32)
    return PmdEcgFrame(int.from_bytes(b[1:9], "little"), v)


def ecg_start_command(fs: int = 130, resolution_bits: int = 14) -> bytes:
    """PMD control-point command starting the ECG stream (see the module docs)."""
    return bytes([0x02, PMD_ECG, 0x00, 0x01, *fs.to_bytes(2, "little"), 0x01, 0x01,
                  *resolution_bits.to_bytes(2, "little")])
