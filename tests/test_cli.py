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
    assert main(["demo"]) == 0
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
            "'matplotlib') if m in sys.modules]; print(bad)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "[]"
