"""EDF/BDF round trips, truncated and foreign files, contract checks, entry point."""

from __future__ import annotations

import datetime as dt
from importlib.metadata import version
from pathlib import Path

import edfio
import numpy as np
import pytest
from somacore.plugins import PluginManager
from somacore.signals import Channel, Recording
from somacore.testing import ReaderContract, check_reader, check_writer

from somacore_edf import BdfWriter, EdfReader, EdfWriter, read_header


def _recording(t0: float = 0.0) -> Recording:
    rng = np.random.default_rng(0)
    n = 130 * 12 + 7  # not a whole number of 1-s records
    ecg = np.sin(np.arange(n) / 130 * 2 * np.pi) + 0.05 * rng.standard_normal(n)
    ecg[100:110] = np.nan  # lost samples
    eda = 5.0 + 0.01 * np.cumsum(rng.standard_normal(4 * 12))
    acc = rng.standard_normal((32 * 12, 3)) * 0.1 + [0, 0, 1]
    resp = np.full(25 * 12, 2.5)  # a flat line
    return Recording((
        Channel(ecg, 130.0, "ecg", "mV", t0=t0, name="ECG lead II"),
        Channel(eda, 4.0, "eda", "µS", t0=t0, name="EDA"),
        Channel(acc, 32.0, "acc", "g", t0=t0, name="wrist"),
        Channel(resp, 25.0, "resp", "au", t0=t0, name="belt"),
    ), source="synthetic")


@pytest.mark.parametrize("writer, bits", [(EdfWriter(), 16), (BdfWriter(), 24)])
def test_round_trip_to_resolution(tmp_path, writer, bits):
    rec = _recording()
    path = tmp_path / f"s{writer.extensions[0]}"
    writer.write(rec, path)
    back = EdfReader().read(path)
    assert [c.kind for c in back] == ["ecg", "eda", "acc", "resp"]
    assert back.names == ("ECG lead II", "EDA", "wrist", "belt")
    assert [c.units for c in back] == ["mV", "uS", "g", "au"]
    for a, b in zip(rec, back, strict=True):
        assert b.fs == a.fs and b.data.shape == a.data.shape and b.t0 == 0.0
        assert np.array_equal(np.isnan(a.data), np.isnan(b.data))
        fin = np.isfinite(a.data)
        span = np.ptp(a.data[fin]) or 2.0
        step = span / (2 ** bits - 2)
        err = np.abs(a.data[fin] - b.data[fin]).max()
        assert err <= step, (a.name, err, step)
    assert back.meta["format"] == ("BDF" if bits == 24 else "EDF")


def test_unix_start_time_with_subsecond(tmp_path):
    t0 = dt.datetime(2024, 5, 17, 9, 30, 12, 250000, tzinfo=dt.UTC).timestamp()
    EdfWriter().write(_recording(t0), tmp_path / "a.edf")
    back = EdfReader().read(tmp_path / "a.edf")
    assert all(c.t0 == pytest.approx(t0, abs=1e-6) for c in back)


def test_relative_start_time(tmp_path):
    EdfWriter().write(_recording(12.5), tmp_path / "a.edf")
    assert EdfReader().read(tmp_path / "a.edf")[0].t0 == pytest.approx(12.5)


def test_truncated_file_names_it(tmp_path):
    path = tmp_path / "cut-short.edf"
    EdfWriter().write(_recording(), path)
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) - 1000])
    assert EdfReader().sniff(path)  # the header is intact...
    with pytest.raises(ValueError, match=r"cut-short\.edf: truncated: the header announces 13 "
                       r"data records"):
        EdfReader().read(path)  # ...but the data are not
    path.write_bytes(raw[:300])
    with pytest.raises(ValueError, match=r"cut-short\.edf: truncated"):
        EdfReader().read(path)
    path.write_bytes(raw[:100])
    with pytest.raises(ValueError, match=r"cut-short\.edf: .*256 bytes"):
        EdfReader().read(path)


def test_foreign_edf_signals(tmp_path):
    # an EDF written by another tool: kinds from labels, unknown kinds skipped
    fs = 256
    sigs = [edfio.EdfSignal(np.sin(np.arange(fs * 4) / 10.0), fs, label="EEG Fpz-Cz",
                            physical_dimension="uV"),
            edfio.EdfSignal(np.cos(np.arange(fs * 4) / 10.0), fs, label="ECG",
                            physical_dimension="mV"),
            edfio.EdfSignal(np.linspace(0, 1, 4 * 4), 4, label="Resp thorax")]
    edfio.Edf(sigs, recording=edfio.Recording(startdate=dt.date(2020, 1, 2)),
              starttime=dt.time(3, 4, 5)).write(tmp_path / "psg.edf")
    rec = EdfReader().read(tmp_path / "psg.edf")
    assert [(c.kind, c.name) for c in rec] == [("ecg", "ECG"), ("resp", "Resp thorax")]
    assert rec.meta["skipped"] == ["EEG Fpz-Cz"]
    assert rec[0].t0 == dt.datetime(2020, 1, 2, 3, 4, 5, tzinfo=dt.UTC).timestamp()
    np.testing.assert_allclose(rec[0].data, np.cos(np.arange(fs * 4) / 10.0), atol=1e-4)
    only_eeg = tmp_path / "eeg.edf"
    edfio.Edf(sigs[:1]).write(only_eeg)
    with pytest.raises(ValueError, match=r"eeg\.edf: no ecg/ppg.*EEG Fpz-Cz"):
        EdfReader().read(only_eeg)


def test_discontinuous_refused(tmp_path):
    path = tmp_path / "d.edf"
    EdfWriter().write(_recording(), path)
    raw = bytearray(path.read_bytes())
    raw[192:197] = b"EDF+D"
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=r"d\.edf: EDF\+D"):
        EdfReader().read(path)


def test_header_fields(tmp_path):
    path = tmp_path / "h.edf"
    EdfWriter().write(_recording(), path)
    h = read_header(path)
    assert h["format"] == "EDF" and h["record_s"] == 1.0 and h["n_records"] == 13
    assert h["labels"][:3] == ["ECG lead II", "EDA", "wrist:0"]


def test_writer_refuses_what_edf_cannot_hold(tmp_path):
    rr = Channel(np.array([0.8, 0.82]), None, "rr", "s", times=np.array([1.0, 1.8]), name="rr")
    with pytest.raises(ValueError, match="irregular"):
        EdfWriter().write(Recording((rr,)), tmp_path / "x.edf")
    a = Channel(np.zeros(10), 10.0, "ecg", t0=0.0, name="a")
    b = Channel(np.zeros(10), 10.0, "ecg", t0=1.0, name="b")
    with pytest.raises(ValueError, match="one start time"):
        EdfWriter().write(Recording((a, b)), tmp_path / "x.edf")
    with pytest.raises(ValueError, match="distinct names"):
        EdfWriter().write(Recording((Channel(np.zeros(10), 10.0, "ecg", name="same"),
                                     Channel(np.ones(10), 10.0, "ecg", name="same"))),
                          tmp_path / "x.edf")
    assert not (tmp_path / "x.edf").exists()


class TestEdfReaderContract(ReaderContract):
    def make_reader(self):
        return EdfReader()

    def sample_path(self, tmp_path: Path) -> Path:
        path = tmp_path / "sample.edf"
        EdfWriter().write(_recording(), path)
        return path


def test_bdf_reader_contract(tmp_path):
    path = tmp_path / "sample.bdf"
    BdfWriter().write(_recording(), path)
    check_reader(EdfReader(), path, n_channels=4, kinds={"ecg", "eda", "acc", "resp"})


@pytest.mark.parametrize(("writer", "bits"), [(EdfWriter(), 16), (BdfWriter(), 24)])
def test_writer_contract(writer, bits):
    # the contract's round trip, to each channel's quantisation step
    rec = _recording()
    steps = {}
    for c in rec:
        fin = np.isfinite(c.data)
        steps[c.name] = (np.ptp(c.data[fin]) or 2.0) / (2 ** bits - 2)
    check_writer(writer, rec, reader=EdfReader(), rtol=0.0, atol=steps)


def test_entry_point_and_open_reader(tmp_path):
    m = PluginManager(env={"SOMACORE_PLUGINS": "edf"}).load()
    assert m.errors == []
    assert m.owner("readers", "edf") == "edf"
    assert m.owner("writers", "edf") == "edf" and m.owner("writers", "bdf") == "edf"
    path = tmp_path / "s.bdf"
    m.get_writer("bdf").write(_recording(), path)
    assert m.open_reader(path).name == "edf"
    assert len(m.read(path)) == 4
    info = {i.name: i for i in m.list_plugins()}["edf"]
    assert (info.distribution, info.version) == ("somacore-edf", version("somacore-edf"))
