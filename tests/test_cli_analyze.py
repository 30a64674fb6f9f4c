"""``somacore analyze`` on real recordings, bad input and output-folder handling."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from _records import write_csv

import somacore
from somacore.analysis import read_table
from somacore.cli import main

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def _table(out: Path, name: str) -> dict:
    for ext in ("parquet", "csv"):
        if (out / f"{name}.{ext}").exists():
            return read_table(out / f"{name}.{ext}")
    raise AssertionError(f"no {name} table in {sorted(p.name for p in out.iterdir())}")




@pytest.fixture(scope="module")
def mitdb_2min(tmp_path_factory) -> Path:
    """First 2 min of MIT-BIH 100 re-written as a WFDB record (wfdb, a test dependency)."""
    import wfdb

    d = tmp_path_factory.mktemp("mitdb")
    r = wfdb.rdrecord(str(DATA / "ecg" / "mitdb" / "100"), sampto=43200, physical=False)
    wfdb.wrsamp("100", fs=r.fs, units=r.units, sig_name=r.sig_name, d_signal=r.d_signal,
                fmt=r.fmt, adc_gain=r.adc_gain, baseline=r.baseline, write_dir=str(d))
    return d / "100.hea"


def test_analyze_mitdb_beats_table_equals_detect_beats(mitdb_2min, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["analyze", "--person", f"p100={mitdb_2min}:MLII", "--out", str(out),
                 "--quiet", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    rec = somacore.read(mitdb_2min)
    x = rec["MLII"].data
    assert x.size == 43200
    ref = somacore.detect_beats(x, fs=360.0)
    beats = _table(out, "beats")
    np.testing.assert_array_equal(beats["sample"].astype(np.int64), ref.samples)
    np.testing.assert_allclose(beats["time_s"], ref.times)
    np.testing.assert_array_equal(beats["quality"].astype(np.int64), ref.quality)
    np.testing.assert_allclose(beats["interval_s"][1:], ref.intervals)
    h = somacore.hrv(ref).as_dict()
    assert summary["people"]["p100"]["hrv"]["RMSSD"] == pytest.approx(h["RMSSD"])
    assert summary["people"]["p100"]["heart"]["n_beats"] == len(ref)
    assert summary["software"]["version"] == somacore.__version__
    assert summary["parameters"]["synchrony"]["window_s"] == 30.0
    assert (out / "report.html").is_file() and (out / "summary.json").is_file()
    assert not summary["pairs"]


def test_analyze_marsh_breaths_table_equals_segment_breaths(tmp_path):
    from scipy.io import loadmat

    ip = loadmat(DATA / "resp" / "marsh" / "0005" / "IP.mat")["IP"].ravel().astype(np.float64)
    csv = write_csv(tmp_path / "marsh0005.csv", {"resp.ip_au": ip}, 250.0)
    out = tmp_path / "out"
    assert main(["analyze", str(csv), "--out", str(out), "--quiet", "--no-report",
                 "--breath-sensor", "impedance", "--set", "tables.format=csv"]) == 0
    ref = somacore.segment_breaths(ip, fs=250.0, sensor="impedance")
    br = _table(out, "breaths")
    assert (out / "breaths.csv").is_file()
    np.testing.assert_array_equal(br["onset_sample"].astype(np.int64), ref.onsets)
    np.testing.assert_array_equal(br["peak_sample"].astype(np.int64), ref.peaks)
    np.testing.assert_array_equal(br["end_sample"].astype(np.int64), ref.ends)
    np.testing.assert_allclose(br["ti_s"], ref.ti)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["people"]["marsh0005"]["breathing"]["n_breaths"] == len(ref) > 150
    assert summary["table_format"].startswith("csv")


def _movesense_csv(sensor: str, dest: Path) -> tuple[Path, float]:
    """Movesense ECG -> somacore CSV at 200 Hz, gaps as NaN, t0 on the wall clock.

    As the data README describes: samples are 5.000 ms apart (median) with a
    ~166 s pause and a few short dropouts. The Unix timestamps jitter (they
    are stamped per packet), so rounding each one to the 200-Hz grid would
    punch a one-sample hole every ~190 samples; instead consecutive samples
    stay consecutive, and only a step over 1.5 sample periods is a dropout,
    filled with NaN for the missing time. t0 keeps the wall clock so the two
    people line up. The sensor's start-up transient (the first 2 s, up to 1e5
    ADC units against ~2e3 for a QRS) is blanked: the ECG detector's learnt
    threshold does not recover from it (1 beat in 200 s when it is kept).
    """
    f = next((DATA / "dyad" / "movesense_dyad_ecg" / sensor).glob("ECG-*.csv"))
    raw = np.loadtxt(f, delimiter=",", skiprows=2)
    t, v = raw[:, 0], raw[:, 1]
    t0 = float(t[0])
    dt = np.diff(t)
    assert (dt > 0).all()
    # each sample advances one period; a dropout advances by the missing time
    step = np.where(dt > 1.5 / 200.0, np.round(dt * 200.0), 1).astype(np.int64)
    idx = np.concatenate([[0], np.cumsum(step)])
    x = np.full(idx[-1] + 1, np.nan)
    x[idx] = v
    x[:400] = np.nan
    return write_csv(dest / f"{sensor}.csv", {"ecg_adc": x}, 200.0, t0), t0


def test_analyze_movesense_dyad_synchrony(tmp_path):
    a, ta = _movesense_csv("234130000540", tmp_path)
    b, tb = _movesense_csv("234130000594", tmp_path)
    out = tmp_path / "out"
    assert main(["analyze", "--person", f"A={a}", "--person", f"B={b}", "--out", str(out),
                 "--quiet", "--surrogates", "20", "--no-report"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["people"]["B"]["heart"]["start_s"] == pytest.approx(tb - ta)
    assert summary["people"]["A"]["heart"]["n_beats"] > 500
    w = _table(out, "windows")
    assert len(w["peak_r"]) > 100 and np.isfinite(w["peak_r"]).sum() > 50
    assert set(w["signal"]) == {"heart_rate"}
    pair = summary["pairs"][0]
    assert pair["first"] == "A" and pair["second"] == "B" and pair["n_defined_windows"] > 50
    assert 0 < pair["surrogate_threshold_r"] < 1


# ------------------------------------------------------------------ bad input
@pytest.fixture
def small_csv(tmp_path) -> Path:
    from somacore.data import example_ecg

    ex = example_ecg()
    return write_csv(tmp_path / "ecg.csv", {"ecg_mV": ex.ecg_mv[:21600]}, 360.0)


def _one_line_error(capsys, code: int) -> str:
    cap = capsys.readouterr()
    assert code == 2
    lines = cap.err.strip().splitlines()
    assert len(lines) == 1, cap.err
    assert "Traceback" not in cap.err and cap.out == ""
    return lines[0]


def test_missing_file(tmp_path, capsys):
    code = main(["analyze", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "o")])
    assert "does not exist" in _one_line_error(capsys, code)
    assert not (tmp_path / "o").exists()


def test_no_usable_channel(tmp_path, capsys):
    f = write_csv(tmp_path / "eda.csv", {"eda_uS": np.linspace(1, 2, 5000)}, 4.0)
    code = main(["analyze", str(f), "--out", str(tmp_path / "o")])
    msg = _one_line_error(capsys, code)
    assert "no usable channel" in msg and "eda" in msg


def test_person_given_twice(small_csv, tmp_path, capsys):
    code = main(["analyze", "--person", f"A={small_csv}", "--person", f"A={small_csv}",
                 "--out", str(tmp_path / "o")])
    assert "more than once" in _one_line_error(capsys, code)


def test_bad_sampling_rate(tmp_path, capsys):
    f = write_csv(tmp_path / "slow.csv", {"ecg_mV": np.sin(np.arange(3000))}, 20.0)
    code = main(["analyze", str(f), "--out", str(tmp_path / "o"), "--quiet"])
    msg = _one_line_error(capsys, code)
    assert "fs=20" in msg and "Hz" in msg


def test_bad_channel_and_parameter(small_csv, tmp_path, capsys):
    code = main(["analyze", "--person", f"A={small_csv}:ppg", "--out", str(tmp_path / "o")])
    assert "no channel 'ppg'" in _one_line_error(capsys, code)
    code = main(["analyze", str(small_csv), "--out", str(tmp_path / "o"), "--set", "beats.x=1"])
    assert "unknown parameter" in _one_line_error(capsys, code)


def test_errors_have_no_traceback_unless_debug(tmp_path):
    cmd = [sys.executable, "-m", "somacore.cli", "analyze", str(tmp_path / "nope.csv"),
           "--out", str(tmp_path / "o")]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    r = subprocess.run([*cmd, "--debug"], capture_output=True, text=True)
    assert r.returncode != 0 and "Traceback" in r.stderr


# ------------------------------------------------------------------ output folder
def test_existing_folder_refused_then_overwritten_atomically(small_csv, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    code = main(["analyze", str(small_csv), "--out", str(out), "--quiet"])
    assert "--overwrite" in _one_line_error(capsys, code)
    assert (out / "keep.txt").read_text() == "mine"          # untouched
    assert main(["analyze", str(small_csv), "--out", str(out), "--quiet", "--overwrite"]) == 0
    assert not (out / "keep.txt").exists() and (out / "summary.json").is_file()
    # no temporary siblings left behind
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ecg.csv", "out"]


def test_failure_leaves_no_partial_output(small_csv, tmp_path, monkeypatch, capsys):
    import somacore.analysis.output as output

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(output, "summary_dict", boom)
    out = tmp_path / "out"
    code = main(["analyze", str(small_csv), "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert code == 1 and "disk full" in err and "--debug" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ecg.csv"]


def test_progress_lines_and_quiet(small_csv, tmp_path, capsys):
    assert main(["analyze", str(small_csv), "--out", str(tmp_path / "a"), "--no-report"]) == 0
    err = capsys.readouterr().err
    assert "beats" in err and len(err.strip().splitlines()) >= 3
    assert main(["analyze", str(small_csv), "--out", str(tmp_path / "b"), "--no-report",
                 "--quiet"]) == 0
    assert capsys.readouterr().err == ""


def test_csv_tables_when_pyarrow_is_missing(small_csv, tmp_path, monkeypatch):
    import importlib.util

    import somacore.analysis.tables as tables

    real = importlib.util.find_spec
    monkeypatch.setattr(tables.importlib.util, "find_spec",
                        lambda name, *a: None if name == "pyarrow" else real(name, *a))
    out = tmp_path / "out"
    assert main(["analyze", str(small_csv), "--out", str(out), "--quiet", "--no-report"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["table_format"].startswith("csv (pyarrow is not installed")
    assert (out / "beats.csv").is_file() and not list(out.glob("*.parquet"))
    assert summary["tables"]["beats"]["units"]["time_s"] == "s"
    code = main(["analyze", str(small_csv), "--out", str(tmp_path / "o2"), "--quiet",
                 "--table-format", "parquet"])
    assert code == 2 and not (tmp_path / "o2").exists()


def test_config_file_and_overrides_reach_the_summary(small_csv, tmp_path):
    toml = tmp_path / "params.toml"
    toml.write_text("[arousal]\nk = 3.0\nmin_duration_s = 20\n[heart_rate]\nfs_out = 2.0\n")
    out = tmp_path / "out"
    assert main(["analyze", str(small_csv), "--out", str(out), "--quiet", "--no-report",
                 "--config", str(toml), "--set", "arousal.k=2.5", "--hr-fs", "8"]) == 0
    p = json.loads((out / "summary.json").read_text())["parameters"]
    assert p["arousal"] == {**p["arousal"], "k": 2.5, "min_duration_s": 20.0}
    assert p["heart_rate"]["fs_out"] == 8.0                 # explicit flag wins
    series = _table(out, "series")
    assert np.allclose(np.diff(series["time_s"][:3]), 1 / 8)
