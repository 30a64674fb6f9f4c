"""The ``somacore`` command: demo output matches the library on the bundled record."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np

import somacore
from somacore.cli import main
from somacore.data import example_ecg
from somacore.eval import compare_beats


def test_demo_table_matches_library(capsys):
    assert main(["demo", "--table"]) == 0
    out = capsys.readouterr().out
    ex = example_ecg()
    beats = somacore.detect_beats(ex.ecg_mv, fs=ex.fs)
    score = compare_beats(beats, ex.reference_beats, fs=ex.fs)
    h = somacore.hrv(beats).as_dict()
    detected = int(re.search(r"detected\s+(\d+)", out).group(1))
    f1 = float(re.search(r"F1 \(EC57, 150 ms\)\s+([\d.]+)", out).group(1))
    rmssd = float(re.search(r"RMSSD\s+([\d.]+) ms", out).group(1))
    assert detected == len(beats) == ex.reference_beats.size
    assert abs(f1 - score.f1) < 1e-4 and f1 >= 0.999
    assert abs(rmssd - h["RMSSD"]) < 1e-3
    assert "ODC-By" in out


def test_bundled_excerpt_is_the_real_record():
    ex = example_ecg()
    assert ex.fs == 360.0 and ex.ecg_mv.size == 108_000
    # physical range of MLII in record 100 is about -1..1.5 mV
    assert -3 < ex.ecg_mv.min() < 0 < ex.ecg_mv.max() < 3
    assert np.all(np.diff(ex.reference_beats) > 0)


def test_console_script_version_and_help():
    r = subprocess.run([sys.executable, "-m", "somacore.cli", "--version"],
                       capture_output=True, text=True, check=True)
    assert somacore.__version__ in r.stdout
    r = subprocess.run([sys.executable, "-m", "somacore.cli", "--help"],
                       capture_output=True, text=True, check=True)
    assert "demo" in r.stdout


def test_import_is_light():
    # importing somacore must not pull in the compiled kernels, numba or plugins
    code = ("import sys, somacore; "
            "bad = [m for m in ('somacore._core._ecg', 'numba', 'scipy', 'pluggy', "
            "'matplotlib', 'pyarrow', 'somacore.analysis', 'somacore.report') "
            "if m in sys.modules]; print(bad)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "[]"


def test_analysis_imports_no_plotting_or_arrow():
    # compute code never imports matplotlib; pyarrow only when a table is written
    code = ("import sys, somacore.analysis, somacore.simulate, somacore.cli; "
            "bad = [m for m in ('matplotlib', 'pyarrow') if m in sys.modules]; print(bad)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "[]"


def test_demo_finds_the_planted_coupling(tmp_path, capsys):
    import json
    import time

    out = tmp_path / "demo"
    tic = time.perf_counter()
    assert main(["demo", "--out", str(out), "--quiet", "--json"]) == 0
    wall = time.perf_counter() - tic
    summary = json.loads(capsys.readouterr().out)
    assert summary == json.loads((out / "summary.json").read_text())
    gt = summary["demo_ground_truth"]
    assert gt["windows_inside"] > 30 and gt["windows_outside"] > 30
    assert gt["mean_peak_r_inside"] > gt["mean_peak_r_outside"] + 0.2
    assert abs(gt["median_lag_inside_s"] - gt["planted_lag_s"]) < 1.0
    assert gt["fraction_significant_inside"] > gt["fraction_significant_outside"]
    # the planted arousal surge of B (140 s, 25 s long) is found
    b = summary["people"]["B"]["arousal"]
    assert b["n_episodes"] >= 1
    assert summary["people"]["A"]["heart"]["n_beats"] == example_ecg().reference_beats.size
    assert wall < 30
    # a second run may replace this folder without --overwrite: it is a demo output
    from somacore.cli import _is_demo_folder

    assert _is_demo_folder(out) and not _is_demo_folder(tmp_path)


def test_demo_refuses_a_foreign_folder(tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    assert main(["demo", "--out", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err


def test_help_lists_commands():
    r = subprocess.run([sys.executable, "-m", "somacore.cli", "--help"],
                       capture_output=True, text=True, check=True)
    for cmd in ("analyze", "demo", "bench", "plugins", "convert"):
        assert cmd in r.stdout


def test_bench_quick_writes_json_and_markdown(tmp_path, capsys):
    import json

    assert main(["bench", "--quick", "--no-refs", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    res = json.loads((tmp_path / "bench.json").read_text())
    cases = {r["case"] for r in res["rows"]}
    assert cases == {"ECG beats", "PPG beats", "breaths", "synchrony xcorr (2 people)"}
    assert all(r["samples_per_s"] > 0 and r["live_people_per_core"] >= 1 for r in res["rows"])
    assert (tmp_path / "bench.md").read_text() == out
