"""``somacore convert`` to and from EDF/BDF on a real excerpt (MIT-BIH 100)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from somacore.cli import main
from somacore.readers import CsvReader

from somacore_edf import EdfReader

DATA = Path(__file__).resolve().parents[4] / "shared" / "data"
MITDB_100 = DATA / "ecg" / "mitdb" / "100"


def _reference(seconds: float) -> np.ndarray:
    import wfdb

    return wfdb.rdrecord(str(MITDB_100), sampto=int(seconds * 360)).p_signal


@pytest.mark.parametrize("ext, bits", [(".edf", 16), (".bdf", 24)])
def test_wfdb_to_edf_to_csv_round_trip(tmp_path, capsys, ext, bits):
    x = _reference(20.0)
    edf = tmp_path / f"100{ext}"
    assert main(["convert", str(MITDB_100), str(edf), "--duration", "20", "--quiet",
                 "--json"]) == 0
    cap = capsys.readouterr()
    info = json.loads(cap.out)
    assert info["writer"] == ext[1:] and not info["lossless"]
    # quantisation is stated, with the error actually found on reading back
    assert "precision" in cap.err and "100.atr" in cap.err
    back = EdfReader().read(edf)
    assert back.names == ("MLII", "V5") and [c.fs for c in back] == [360.0, 360.0]
    for j, ch in enumerate(back):
        step = np.ptp(x[:, j]) / (2 ** bits - 2)       # one digital step of the file
        err = np.abs(ch.data - x[:, j]).max()
        assert err <= step
        assert info["channels"][j]["max_abs_error"] == pytest.approx(err, rel=1e-9)
    # EDF -> CSV keeps what the EDF holds exactly (float64 text)
    csv = tmp_path / "100.csv"
    assert main(["convert", str(edf), str(csv), "--quiet"]) == 0
    assert "precision" not in capsys.readouterr().err
    for a, b in zip(back, CsvReader().read(csv), strict=True):
        np.testing.assert_array_equal(a.data, b.data)
        assert b.fs == a.fs and b.t0 == a.t0


def test_multirate_record_keeps_each_rate_in_edf(tmp_path, capsys):
    mimic = DATA / "multimodal" / "03700181"
    edf = tmp_path / "mm.edf"
    assert main(["convert", str(mimic), str(edf), "--duration", "10", "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "resampled" not in err and "ABP" in err        # the unused signal is named
    back = EdfReader().read(edf)
    rates = {c.kind: c.fs for c in back}
    assert rates == {"ecg": 500.0, "resp": 125.0}
