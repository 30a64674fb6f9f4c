"""XdfReader on XDF files written by the tests' own minimal writer: real ECG (MIT-BIH 100,
bundled with somacore) with lost samples, streams on different clocks, irregular and marker
streams, corrupt and truncated files, the contract checks, and ``somacore analyze``."""

from __future__ import annotations

import json

import numpy as np
import pytest
import somacore
from somacore.cli import main
from somacore.data import example_ecg
from somacore.plugins import PluginManager
from somacore.testing import check_reader
from xdf_writer import XStream, chunk, write_xdf

from somacore_xdf import XdfReader, scan_chunks

FS = 360.0
T_REC = 5000.0  # the recorder's clock at the first ECG sample
SHIFT = 1234.5  # the belt's source clock runs this far behind the recorder's


@pytest.fixture(scope="module")
def ecg() -> np.ndarray:
    e = example_ecg()
    assert e.fs == FS
    return e.ecg_mv[: int(20 * FS)]


LOST = slice(int(8 * FS), int(8 * FS) + 50)  # 50 ECG samples lost in transit


def _streams(ecg: np.ndarray) -> list[XStream]:
    n = ecg.size
    keep = np.setdiff1d(np.arange(n), np.arange(n)[LOST])
    eeg = np.sin(np.arange(n) / 7.0)  # an EEG channel recorded along: not analysed
    ecg_s = XStream(1, "amp", "ExG", FS, "double64",
                    [("ECG II", "ECG", "millivolts"), ("Fp1", "EEG", "microvolts")],
                    np.column_stack([ecg, eeg])[keep], T_REC + keep / FS,
                    offsets=[(T_REC + k, 0.0) for k in range(0, 20, 5)])
    tb = np.arange(20 * 25) / 25.0
    belt = XStream(2, "belt", "RESP", 25.0, "float32", [("Belt", "", "au")],
                   (2.0 + np.sin(2 * np.pi * 0.25 * tb))[:, None],
                   T_REC + 0.3 + tb - SHIFT,  # stamped on its own clock
                   offsets=[(T_REC + 0.3 + k - SHIFT, SHIFT) for k in range(0, 20, 5)])
    beats = np.array([0.81, 0.79, 0.80, 0.84, 0.77])
    rr = XStream(3, "h10-rr", "RR", 0.0, "float32", [("RR", "RR", "seconds")],
                 beats[:, None], T_REC + 1.0 + np.cumsum(beats),
                 offsets=[(T_REC, 0.0), (T_REC + 10, 0.0)])
    marks = XStream(4, "events", "Markers", 0.0, "string", [("ev", "Markers", "")],
                    [["rest"], ["task"]], np.array([T_REC + 2.0, T_REC + 12.0]),
                    offsets=[(T_REC, 0.0), (T_REC + 10, 0.0)])
    irr_ecg = XStream(5, "irregular-ecg", "ECG", 0.0, "float32", [("lead", "ECG", "mV")],
                      np.ones((3, 1)), T_REC + np.array([0.0, 0.4, 0.9]))
    return [ecg_s, belt, rr, marks, irr_ecg]


@pytest.fixture()
def sample(tmp_path, ecg):
    return write_xdf(tmp_path / "session.xdf", _streams(ecg))


def test_streams_become_channels_on_the_common_clock(sample, ecg):
    rec = XdfReader().read(sample)
    assert rec.names == ("ECG II", "Belt", "RR")
    e, belt, rr = rec.channels
    assert (e.kind, e.units, e.fs, e.t0) == ("ecg", "mV", FS, T_REC)
    want = ecg.copy()
    want[LOST] = np.nan  # lost samples are NaN, never joined
    np.testing.assert_array_equal(e.data, want)
    # the belt was stamped SHIFT s behind: on the recorder's clock it starts 0.3 s after the ECG
    assert (belt.kind, belt.fs, belt.units) == ("resp", 25.0, "au")
    assert belt.t0 == pytest.approx(T_REC + 0.3, abs=1e-6)
    assert belt.data.size == 500 and np.isfinite(belt.data).all()
    assert (rr.kind, rr.fs, rr.units) == ("rr", None, "s")
    np.testing.assert_allclose(rr.data, [0.81, 0.79, 0.80, 0.84, 0.77], rtol=1e-6)
    np.testing.assert_allclose(rr.times, T_REC + 1.0 + np.cumsum(rr.data), atol=1e-5)
    (g,) = rec.meta["gaps"]
    assert g["stream"] == "amp" and g["samples"] == 50
    assert g["start"] == pytest.approx(T_REC + 8.0) and g["end"] == pytest.approx(
        T_REC + 8.0 + 50 / FS)
    assert rec.meta["streams"]["amp"]["lost_samples"] == 50
    assert rec.meta["streams"]["amp"]["max_clock_error_s"] < 1e-9
    assert rec.meta["markers"] == {"events": [(T_REC + 2.0, ["rest"]),
                                              (T_REC + 12.0, ["task"])]}
    reasons = {(s, lab): r for s, lab, r in rec.meta["skipped"]}
    assert "is not analysed" in reasons[("amp", "Fp1")]
    assert "irregular rate" in reasons[("irregular-ecg", "lead")]


def test_contract(sample):
    check_reader(XdfReader(), sample, n_channels=3, kinds={"ecg", "resp", "rr"})


def _bytes(path):
    return path.read_bytes()


def test_corrupt_and_truncated_files_are_clear_errors(sample, tmp_path):
    raw = _bytes(sample)
    bad = tmp_path / "bad.xdf"
    bad.write_bytes(b"XDX:" + raw[4:])
    with pytest.raises(ValueError, match=r"bad.xdf: not an XDF file \(starts with b'XDX:'"):
        XdfReader().read(bad)
    assert not XdfReader().sniff(bad)
    bad.write_bytes(raw[:4] + b"\x03" + raw[5:])  # length field of 3 bytes
    with pytest.raises(ValueError, match=r"bad.xdf: corrupt XDF file: chunk 0 at byte 4 has a "
                                         "length field of 3 bytes"):
        XdfReader().read(bad)
    bad.write_bytes(raw[:4] + chunk(3, b"\x07\x00\x00\x00" + b"\x01\x00"))
    with pytest.raises(ValueError, match="first chunk is a Samples, not the FileHeader"):
        XdfReader().read(bad)
    header = raw[: 4 + 2 + 2 + len(b'<?xml version="1.0"?><info><version>1.0</version>'
                                   b"</info>")]
    bad.write_bytes(header + chunk(3, b"\x09\x00\x00\x00\x01\x00"))
    with pytest.raises(ValueError, match="belongs to stream 9, which has no StreamHeader"):
        XdfReader().read(bad)
    cut = tmp_path / "cut.xdf"
    cut.write_bytes(raw[: int(len(raw) * 0.6)])
    with pytest.raises(ValueError, match=r"cut.xdf: truncated XDF file: chunk \d+ at byte \d+ "
                                         r"is cut short.*allow_truncated=True"):
        XdfReader().read(cut)
    part = XdfReader(allow_truncated=True).read(cut)
    assert part.meta["truncated_at"] < len(raw) * 0.6
    e = part["ECG II"]
    full = XdfReader().read(sample)["ECG II"]
    assert 0 < e.data.size < full.data.size
    np.testing.assert_array_equal(e.data, full.data[: e.data.size])
    assert scan_chunks(sample).truncated_at is None
    with pytest.raises(FileNotFoundError):
        XdfReader().read(tmp_path / "missing.xdf")


def test_no_usable_channel(tmp_path):
    n = 100
    eeg = XStream(1, "cap", "EEG", 250.0, "float32", [("Fp1", "EEG", "uV")],
                  np.zeros((n, 1)), 10.0 + np.arange(n) / 250.0)
    mk = XStream(2, "events", "Markers", 0.0, "string", [], [["go"]], np.array([10.5]),
                 count=1)
    p = write_xdf(tmp_path / "eeg.xdf", [eeg, mk])
    with pytest.raises(ValueError, match=r"eeg.xdf: no usable channel.*'cap' \(EEG, 250 Hz, "
                                         r"float32\).*cap/Fp1: type 'EEG' is not analysed"):
        XdfReader().read(p)


def test_stream_without_channel_metadata_takes_the_stream_type(tmp_path):
    n = 50
    x = np.arange(2 * n, dtype=np.int16).reshape(n, 2)
    s = XStream(1, "pleth", "PPG", 100.0, "int16", [], x, 3.0 + np.arange(n) / 100.0, count=2)
    rec = XdfReader().read(write_xdf(tmp_path / "p.xdf", [s]))
    assert rec.names == ("ch0", "ch1") and {c.kind for c in rec} == {"ppg"}
    np.testing.assert_array_equal(rec["ch1"].data, x[:, 1])


def test_plugin_reads_through_somacore_and_analyze(tmp_path, ecg, capsys):
    m = PluginManager(env={}).load()
    assert m.owner("readers", "xdf") == "xdf"
    path = write_xdf(tmp_path / "one.xdf", _streams(ecg)[:1])  # the ECG stream only
    assert type(m.open_reader(path)).__name__ == "XdfReader"
    rec = somacore.read(path)
    x = rec["ECG II"].data
    out = tmp_path / "out"
    assert main(["analyze", "--person", f"ada={path}:ecg", "--out", str(out), "--quiet",
                 "--json", "--no-report"]) == 0
    summary = json.loads(capsys.readouterr().out)
    ref = somacore.detect_beats(x, fs=FS)
    from somacore.analysis import read_table

    beats = read_table(next(out.glob("beats.*")))
    np.testing.assert_array_equal(beats["sample"].astype(np.int64), ref.samples)
    assert summary["people"]["ada"]["heart"]["n_beats"] == len(ref) > 20
