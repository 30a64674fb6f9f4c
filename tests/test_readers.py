"""Built-in readers (csv, wfdb, e4, opensignals) and the csv writer."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from somacore.readers import (
    CsvReader,
    CsvWriter,
    E4Reader,
    FormatError,
    OpenSignalsReader,
    WfdbReader,
)
from somacore.readers.wfdb import wfdb_kind
from somacore.signals import Channel, Recording
from somacore.testing import check_reader, check_writer

MITDB = Path(__file__).resolve().parents[2] / "shared" / "data" / "ecg" / "mitdb"


# ----------------------------------------------------------------------------- csv
def _csv(tmp_path: Path, text: str, name: str = "rec.csv") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_csv_time_column(tmp_path):
    t = np.arange(10) / 250
    rows = "\n".join(f"{ti:.3f},{i * 0.1:.2f},{i}" for i, ti in enumerate(t))
    p = _csv(tmp_path, "# somacore-csv v1\ntime_s,ecg_mV,resp.belt_au\n" + rows + "\n")
    rec = CsvReader().read(p)
    assert [c.kind for c in rec] == ["ecg", "resp"]
    assert rec["ecg_mV"].fs == 250.0 and rec["ecg_mV"].units == "mV"
    assert rec["resp.belt_au"].units == "au"
    np.testing.assert_allclose(rec[0].data, np.arange(10) * 0.1)


def test_csv_fs_comment_and_empty_fields(tmp_path):
    p = _csv(tmp_path, "# fs=4\n# t0=100.5\neda_uS\n1.0\n\n2.0\nnan\n3.0\n")
    rec = CsvReader().read(p)
    c = rec[0]
    assert c.fs == 4.0 and c.t0 == 100.5 and c.kind == "eda"
    np.testing.assert_array_equal(np.isnan(c.data), [False, False, True, False])
    p2 = _csv(tmp_path, "# fs=4\necg_mV,resp\n1.0,\n,2\n", "empty.csv")
    d = CsvReader().read(p2)
    assert np.isnan(d[0].data[1]) and np.isnan(d[1].data[0])


def test_csv_360hz_rounded_times_accepted(tmp_path):
    t = np.arange(720) / 360
    rows = "\n".join(f"{ti:.3f},{np.sin(ti):.4f}" for ti in t)
    rec = CsvReader().read(_csv(tmp_path, "time_s,ecg_mV\n" + rows + "\n"))
    assert rec[0].fs == 360.0


@pytest.mark.parametrize("times, msg", [
    ([0, 0.004, 0.008, 0.020, 0.024], "irregular time column"),
    ([0, 0.004, 0.003, 0.008], "does not increase"),
])
def test_csv_irregular_time_refused(tmp_path, times, msg):
    rows = "\n".join(f"{t},{i}" for i, t in enumerate(times))
    p = _csv(tmp_path, "time_s,ecg_mV\n" + rows + "\n")
    with pytest.raises(FormatError, match=msg) as e:
        CsvReader().read(p)
    assert str(p) in str(e.value)


@pytest.mark.parametrize("text, msg", [
    ("# fs=100\necg_mV,resp_au\n1,2\n3,4\n5", "line 5 has 1 field.*truncated"),
    ("# fs=100\necg_mV\n1\nabc\n", "line 4, column 1: 'abc' is not a number"),
    ("ecg_mV\n1\n2\n", "no sampling rate"),
    ("# fs=100\nheart,lung\n1,2\n", "do not follow the somacore-csv convention"),
    ("# only comments\n", "no header row"),
    ("# fs=abc\necg\n1\n", "is not a number"),
    ("# fs=100\ntime_s,ecg\n0,1\n0.02,2\n0.04,3\n0.06,4\n0.08,5\n", "disagrees"),
    ("# fs=100\necg_mV\n", "no data rows"),
])
def test_csv_bad_files(tmp_path, text, msg):
    p = _csv(tmp_path, text)
    with pytest.raises(ValueError, match=msg) as e:
        CsvReader().read(p)
    assert str(p) in str(e.value)


def test_csv_binary_file_is_refused(tmp_path):
    p = tmp_path / "x.csv"
    p.write_bytes(b"\xff\xfe\x00\x81" * 50)
    assert not CsvReader().sniff(p)
    with pytest.raises(ValueError, match=str(p)):
        CsvReader().read(p)


def test_csv_sniff(tmp_path):
    r = CsvReader()
    assert r.sniff(_csv(tmp_path, "# somacore-csv v1\nwhatever\n", "a.csv"))
    assert r.sniff(_csv(tmp_path, "time_s,ppg\n0,1\n", "b.csv"))
    assert not r.sniff(_csv(tmp_path, "name,age\nx,1\n", "c.csv"))
    assert not r.sniff(_csv(tmp_path, "1700000000.0\n64.0\n1\n", "BVP.csv"))
    assert not r.sniff(tmp_path / "missing.csv")


def test_csv_contract_and_writer_round_trip(tmp_path):
    x = np.sin(np.arange(500) / 20.0)
    rec = Recording((Channel(x, 250.0, "ecg", "mV", t0=12.5, name="ecg_mV"),
                     Channel(np.cos(np.arange(500) / 20.0), 250.0, "resp", "au",
                             t0=12.5, name="belt"),
                     Channel(np.ones((500, 3)), 250.0, "acc", "g", t0=12.5, name="wrist")))
    p = tmp_path / "out.csv"
    CsvWriter().write(rec, p)
    back = CsvReader().read(p)
    assert back.names == ("ecg_mV", "resp.belt_au", "acc.wrist0_g", "acc.wrist1_g",
                          "acc.wrist2_g")
    assert back[0].fs == 250.0 and back[0].t0 == 12.5
    np.testing.assert_array_equal(back[0].data, x)
    check_reader(CsvReader(), p, n_channels=5, kinds={"ecg", "resp", "acc"})
    check_writer(CsvWriter(), Recording(rec.channels[:2]), reader=CsvReader())


def test_csv_writer_refuses_mixed_rates(tmp_path):
    rec = Recording((Channel(np.zeros(10), 100.0, "ecg"), Channel(np.zeros(5), 50.0, "resp")))
    with pytest.raises(ValueError, match="shared time base"):
        CsvWriter().write(rec, tmp_path / "x.csv")
    rr = Recording((Channel(np.ones(3), None, "rr", "s", times=np.arange(3.0)),))
    with pytest.raises(ValueError, match="irregular"):
        CsvWriter().write(rr, tmp_path / "x.csv")
    assert not (tmp_path / "x.csv").exists()


# ----------------------------------------------------------------------------- wfdb
@pytest.mark.parametrize("name, kind", [("MLII", "ecg"), ("V5", "ecg"), ("ECG", "ecg"),
                                        ("II", "ecg"), ("ECG lead I", "ecg"),
                                        ("PLETH", "ppg"), ("RESP", "resp"), ("ABP", None),
                                        ("EEG Fpz-Cz", None), ("EMG chin", "emg")])
def test_wfdb_kind_map(name, kind):
    assert wfdb_kind(name) == kind


def test_wfdb_mitdb_100():
    r = WfdbReader()
    for p in (MITDB / "100", MITDB / "100.hea", MITDB / "100.dat"):
        assert r.sniff(p)
    assert not r.sniff(MITDB / "100.atr") and not r.sniff(MITDB / "999")
    rec = r.read(MITDB / "100")
    assert rec.names == ("MLII", "V5")
    assert all(c.kind == "ecg" and c.fs == 360.0 and c.units == "mV" for c in rec)
    assert len(rec[0]) == 650000


def test_wfdb_contract(tmp_path):
    for ext in ("hea", "dat"):
        shutil.copy(MITDB / f"100.{ext}", tmp_path / f"100.{ext}")
    check_reader(WfdbReader(), tmp_path / "100.hea", n_channels=2, kinds={"ecg"})


def test_wfdb_truncated_and_unknown(tmp_path):
    shutil.copy(MITDB / "100.hea", tmp_path / "100.hea")
    raw = (MITDB / "100.dat").read_bytes()
    (tmp_path / "100.dat").write_bytes(raw[:1000])
    with pytest.raises(ValueError, match="100") as e:
        WfdbReader().read(tmp_path / "100")
    assert "truncated" in str(e.value)
    (tmp_path / "abp.hea").write_text("abp 1 125 10\nabp.dat 16 100/mmHg 0 0 0 0 0 ABP\n")
    (tmp_path / "abp.dat").write_bytes(np.zeros(10, "<i2").tobytes())
    with pytest.raises(ValueError, match="no signal of a known kind"):
        WfdbReader().read(tmp_path / "abp")


# ----------------------------------------------------------------------------- e4
T0 = 1_600_000_000.0


def _e4_folder(d: Path) -> Path:
    d.mkdir(exist_ok=True)
    (d / "BVP.csv").write_text(f"{T0}\n64.000000\n" + "\n".join(
        f"{v:.2f}" for v in np.sin(np.arange(640) / 5)) + "\n")
    (d / "EDA.csv").write_text(f"{T0}\n4.000000\n" + "\n".join(["0.5"] * 40) + "\n")
    (d / "ACC.csv").write_text(f"{T0}, {T0}, {T0}\n32.000000, 32.000000, 32.000000\n" +
                               "\n".join(["64,0,-64"] * 320) + "\n")
    (d / "IBI.csv").write_text(f"{T0}, IBI\n1.0,0.80\n1.8,0.80\n2.7,0.90\n")
    (d / "HR.csv").write_text(f"{T0}\n1.000000\n70\n")
    (d / "TEMP.csv").write_text(f"{T0}\n4.000000\n33.1\n")
    return d


def test_e4_files(tmp_path):
    d = _e4_folder(tmp_path / "e4")
    r = E4Reader()
    bvp = r.read(d / "BVP.csv")[0]
    assert bvp.kind == "ppg" and bvp.fs == 64.0 and bvp.t0 == T0 and len(bvp) == 640
    acc = r.read(d / "ACC.csv")[0]
    assert acc.kind == "acc" and acc.data.shape == (320, 3) and acc.units == "g"
    np.testing.assert_array_equal(acc.data[0], [1.0, 0.0, -1.0])
    ibi = r.read(d / "IBI.csv")[0]
    assert ibi.kind == "rr" and ibi.fs is None
    np.testing.assert_allclose(ibi.times, T0 + np.array([1.0, 1.8, 2.7]))
    np.testing.assert_allclose(ibi.data, [0.8, 0.8, 0.9])
    eda = r.read(d / "EDA.csv")[0]
    assert eda.kind == "eda" and eda.units == "uS"
    with pytest.raises(ValueError, match="no supported signal kind"):
        r.read(d / "TEMP.csv")


def test_e4_folder_and_contract(tmp_path):
    d = _e4_folder(tmp_path / "e4")
    rec = E4Reader().read(d)
    assert sorted(c.kind for c in rec) == ["acc", "eda", "ppg", "rr"]
    assert sorted(rec.meta["skipped"]) == ["HR.csv", "TEMP.csv"]
    for f in ("BVP", "ACC", "IBI", "EDA"):
        check_reader(E4Reader(), d / f"{f}.csv", n_channels=1)


@pytest.mark.parametrize("name, text, msg", [
    ("BVP.csv", f"{T0}\n", "sampling-rate line"),
    ("BVP.csv", f"{T0}\n-64\n1\n", "must be positive"),
    ("BVP.csv", "time,value\n64\n1\n", "unix seconds"),
    ("BVP.csv", "12.5\n64\n1\n", "not a unix time"),
    ("ACC.csv", f"{T0},{T0},{T0}\n32,32,32\n1,2,3\n4,5\n", "line 4 has 2 field"),
    ("IBI.csv", f"{T0}, HR\n1,0.8\n", "IBI"),
    ("IBI.csv", f"{T0}, IBI\n1,0.8\n0.5,0.8\n", "must increase"),
])
def test_e4_bad_files(tmp_path, name, text, msg):
    p = tmp_path / name
    p.write_text(text)
    with pytest.raises(ValueError, match=msg) as e:
        E4Reader().read(p)
    assert str(p) in str(e.value)


# ----------------------------------------------------------------------------- opensignals
def _opensignals(path: Path, *, n: int = 300, sensors=("ECG", "RESP"), extra: str = "") -> Path:
    header = {"00:07:80:3B:46:61": {
        "sensor": list(sensors), "device name": "00:07:80:3B:46:61",
        "column": ["nSeq", "I1", "I2", "O1", "O2", *[f"A{i + 1}" for i in range(len(sensors))]],
        "sampling rate": 100, "label": [f"A{i + 1}" for i in range(len(sensors))],
        "resolution": [16] * len(sensors), "date": "2017-4-5", "time": "13:01:47.488",
        "device": "biosignalsplux"}}
    rows = []
    for i in range(n):
        vals = " ".join(str(500 + (i * (k + 1)) % 37) for k in range(len(sensors)))
        rows.append(f"{i % 16}\t0\t0\t0\t0\t{vals}")
    path.write_text("# OpenSignals Text File Format\n# " + json.dumps(header) +
                    "\n# EndOfHeader\n" + "\n".join(rows) + "\n" + extra)
    return path


def test_opensignals(tmp_path):
    p = _opensignals(tmp_path / "opensignals_dev.txt", sensors=("ECG", "RESP", "RAW"))
    r = OpenSignalsReader()
    assert r.sniff(p)
    rec = r.read(p)
    assert [(c.name, c.kind, c.fs, c.units) for c in rec] == [
        ("A1", "ecg", 100.0, "adc"), ("A2", "resp", 100.0, "adc")]
    assert rec.meta["skipped"] == ["A3"]
    assert rec.meta["seq_breaks"] == {"00:07:80:3B:46:61": 0}
    assert rec[0].data[1] == 501
    check_reader(r, _opensignals(tmp_path / "ok.txt"), n_channels=2, kinds={"ecg", "resp"})


def test_opensignals_bad(tmp_path):
    r = OpenSignalsReader()
    p = tmp_path / "a.txt"
    p.write_text("# OpenSignals Text File Format\n# {\"dev\": {\"sampling rate\": 1\n")
    with pytest.raises(ValueError, match="JSON header is malformed") as e:
        r.read(p)
    assert str(p) in str(e.value)
    p.write_text("hello\n")
    assert not r.sniff(p)
    with pytest.raises(ValueError, match="not an OpenSignals text file"):
        r.read(p)
    q = _opensignals(tmp_path / "t.txt", extra="7\t0\t0\n")
    with pytest.raises(ValueError, match="truncated"):
        r.read(q)
    # lost samples: nSeq jumps are counted
    lines = q.read_text().splitlines()[:-1]
    del lines[10:13]
    q.write_text("\n".join(lines) + "\n")
    assert r.read(q).meta["seq_breaks"] == {"00:07:80:3B:46:61": 1}


def test_signals_validation():
    with pytest.raises(ValueError, match="not a known channel kind"):
        Channel(np.zeros(3), 10.0, "eeg")
    with pytest.raises(ValueError, match="needs times"):
        Channel(np.zeros(3), None, "rr")
    with pytest.raises(ValueError, match="positive"):
        Channel(np.zeros(3), 0.0, "ecg")
    rec = Recording((Channel(np.zeros(3), 10.0, "ecg", name="a"),), source="x")
    with pytest.raises(KeyError, match="no channel 'b'"):
        rec["b"]
    assert rec.by_kind("ecg")[0].name == "a"


def test_wfdb_reader_keeps_multi_sample_frames(data_dir):
    # MIMIC record 037: MCL1 ECG stored as 4 samples per 125 Hz frame (500 Hz),
    # RESP at the frame rate; the reader must keep every ECG sample, not the
    # frame averages, and recognise the modified chest lead as ECG
    import somacore
    from somacore.io import read_wfdb

    rec = somacore.read(data_dir / "multimodal" / "03700181.hea")
    by_name = {c.name: c for c in rec.channels}
    assert by_name["MCL1"].kind == "ecg" and by_name["MCL1"].fs == 500.0
    assert by_name["RESP"].fs == 125.0
    raw = read_wfdb(data_dir / "multimodal" / "03700181", channels=["MCL1"],
                    smooth_frames=False)
    np.testing.assert_array_equal(by_name["MCL1"].data, raw.signals[:, 0])
    assert by_name["MCL1"].data.size == 4 * by_name["RESP"].data.size
