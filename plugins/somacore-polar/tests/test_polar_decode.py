"""Decoders on frames built by hand from the Bluetooth SIG and Polar PMD layouts."""

from __future__ import annotations

import numpy as np
import pytest
from polar_frames import hr_frame, pmd_ecg_frame

from somacore_polar import decode_hr_measurement, decode_pmd_ecg, ecg_start_command
from somacore_polar.decode import PMD_EPOCH_UNIX


def test_hr_uint8_without_rr():
    m = decode_hr_measurement(hr_frame(72))
    assert (m.hr_bpm, m.contact, m.energy_kj, m.rr_s) == (72, None, None, ())


def test_hr_uint16_contact_and_rr():
    raw = bytes.fromhex("17 2c01 0004 3303".replace(" ", ""))  # flags 0x17, 300 bpm, 1024, 819
    assert raw == hr_frame(300, [1024, 819], uint16=True, contact=True)
    m = decode_hr_measurement(raw)
    assert m.hr_bpm == 300 and m.contact is True and m.energy_kj is None
    assert m.rr_s == (1.0, 819 / 1024)


def test_hr_energy_before_rr_and_no_contact():
    m = decode_hr_measurement(hr_frame(60, [512, 1536], energy=0x0123, contact=False))
    assert m.energy_kj == 0x0123 and m.contact is False
    assert m.rr_s == (0.5, 1.5)


def test_hr_bytearray_and_many_rr():
    rr = list(range(700, 1100, 50))
    m = decode_hr_measurement(bytearray(hr_frame(90, rr)))
    np.testing.assert_array_equal(np.array(m.rr_s) * 1024, rr)


@pytest.mark.parametrize("raw, msg", [
    (b"\x00", "need flags"),
    (b"\x01\x48", "uint16"),
    (b"\x10\x48\x00", "odd"),
    (b"\x08\x48\x01", "energy"),
])
def test_hr_malformed(raw, msg):
    with pytest.raises(ValueError, match=msg):
        decode_hr_measurement(raw)


def test_pmd_ecg_samples_and_timestamp():
    samples = [-1, 0, 1, 8388607, -8388608, 1234, -1234, 250, -75]
    ts = 725_000_000_123_456_789
    f = decode_pmd_ecg(pmd_ecg_frame(ts, samples))
    assert f.timestamp_ns == ts
    assert f.samples_uv.dtype == np.int32
    np.testing.assert_array_equal(f.samples_uv, samples)
    assert f.last_sample_unix_s == pytest.approx(PMD_EPOCH_UNIX + ts / 1e9)


def test_pmd_typical_h10_frame_length():
    # 73 samples of 3 bytes after the 10-byte header: a 229-byte notification
    raw = pmd_ecg_frame(1, np.arange(-36, 37))
    assert len(raw) == 229
    assert decode_pmd_ecg(raw).samples_uv.size == 73


@pytest.mark.parametrize("raw, msg", [
    (pmd_ecg_frame(1, [1, 2])[:9], "10-byte header"),
    (pmd_ecg_frame(1, [1, 2], mtype=2), "not ECG"),
    (pmd_ecg_frame(1, [1, 2], frame_type=0x80), "compressed"),
    (pmd_ecg_frame(1, [1, 2], frame_type=1), "frame type 1"),
    (pmd_ecg_frame(1, [1, 2]) + b"\x00", "multiple of 3"),
])
def test_pmd_malformed(raw, msg):
    with pytest.raises(ValueError, match=msg):
        decode_pmd_ecg(raw)


def test_ecg_start_command():
    assert ecg_start_command() == bytes([0x02, 0x00, 0x00, 0x01, 0x82, 0x00, 0x01, 0x01, 0x0E,
                                         0x00])
