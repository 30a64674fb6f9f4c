"""``somacore convert``: round trips on real excerpts, stated losses, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from _records import write_csv

from somacore.cli import main
from somacore.readers import CsvReader

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
MITDB_100 = DATA / "ecg" / "mitdb" / "100"
MIMIC = DATA / "multimodal" / "03700181"




def _mitdb(seconds: float) -> tuple[np.ndarray, list[str], list[str]]:
    """Physical MIT-BIH 100 samples read by the wfdb package (the reference reader)."""
    import wfdb

    r = wfdb.rdrecord(str(MITDB_100), sampto=int(seconds * 360))
    return r.p_signal, r.sig_name, r.units


def _err(capsys, code: int) -> str:
    cap = capsys.readouterr()
    assert code == 2, cap.err
    lines = [ln for ln in cap.err.strip().splitlines() if "error:" in ln]
    assert len(lines) == 1 and "Traceback" not in cap.err, cap.err
    return lines[0]


def test_csv_to_csv_is_lossless(tmp_path, capsys):
    x, _, _ = _mitdb(20.0)
    src = write_csv(tmp_path / "in.csv", {"ecg.MLII_mV": x[:, 0], "ecg.V5_mV": x[:, 1]},
                     360.0, t0=1_700_000_000.25)
    dst = tmp_path / "out.csv"
    assert main(["convert", str(src), str(dst), "--quiet", "--json"]) == 0
    cap = capsys.readouterr()
    assert cap.err == ""                          # nothing lost, nothing to say
    info = json.loads(cap.out)
    assert info["lossless"] and info["losses"] == [] and info["writer"] == "csv"
    back = CsvReader().read(dst)
    assert back.names == ("ecg.MLII_mV", "ecg.V5_mV")
    for j, ch in enumerate(back):
        assert ch.fs == 360.0 and ch.t0 == 1_700_000_000.25 and ch.units == "mV"
        np.testing.assert_array_equal(ch.data, x[:, j])


def test_wfdb_to_csv_matches_the_wfdb_package_and_states_losses(tmp_path, capsys):
    dst = tmp_path / "100.csv"
    assert main(["convert", str(MITDB_100), str(dst), "--duration", "20"]) == 0
    err = capsys.readouterr().err
    x, names, units = _mitdb(20.0)
    back = CsvReader().read(dst)
    assert [c.kind for c in back] == ["ecg", "ecg"]
    assert [c.units for c in back] == units == ["mV", "mV"]
    for j, ch in enumerate(back):
        assert ch.fs == 360.0 and len(ch) == 7200
        np.testing.assert_allclose(ch.data, x[:, j], rtol=0, atol=1e-12)
    lossy = [ln for ln in err.splitlines() if "lossy:" in ln]
    assert any("100.atr" in ln and "annotation" in ln for ln in lossy)      # never silent
    assert any("excerpt" in ln for ln in lossy)
    assert any(f"'{names[0]}' is named 'ecg.{names[0]}_mV'" in ln for ln in lossy)
    assert not any("precision" in ln for ln in lossy)                    # float64 text: exact


def test_losses_are_printed_even_when_quiet(tmp_path, capsys):
    assert main(["convert", str(MITDB_100), str(tmp_path / "a.csv"), "--duration", "5",
                 "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "100.atr" in err and "[" not in err.split("lossy:")[0]       # no progress lines


def test_multirate_record_needs_resample_and_then_states_it(tmp_path, capsys):
    dst = tmp_path / "mm.csv"
    msg = _err(capsys, main(["convert", str(MIMIC), str(dst), "--duration", "10"]))
    assert "--resample" in msg and "125 Hz" in msg and "500 Hz" in msg and not dst.exists()
    assert main(["convert", str(MIMIC), str(dst), "--duration", "10", "--resample", "500",
                 "--json", "--quiet"]) == 0
    cap = capsys.readouterr()
    assert "resampled from 125 Hz to 500 Hz" in cap.err and "ABP" in cap.err
    from somacore.io import read_wfdb

    ref = read_wfdb(MIMIC)
    j = list(ref.sig_names).index("RESP")
    resp = ref.signals[:1250, j]                # 10 s at the frame rate of 125 Hz
    back = CsvReader().read(dst)
    r = next(c for c in back if c.kind == "resp")
    assert r.fs == 500.0
    # every 4th output sample lies on an original sample time: the original value
    np.testing.assert_allclose(r.data[::4][:1250], resp, rtol=0, atol=1e-12)
    # in between: the straight line between the neighbours
    np.testing.assert_allclose(r.data[2::4][:1249], 0.5 * (resp[:-1] + resp[1:]), atol=1e-12)
    assert json.loads(cap.out)["lossless"] is False


def test_downsampling_filters_above_the_new_nyquist():
    from somacore.convert import resample_channel

    fs, fs_out = 500.0, 50.0
    t = np.arange(5000) / fs
    grid = np.arange(500) / fs_out
    inner = slice(50, 450)                       # away from the edges
    keep = resample_channel(np.sin(2 * np.pi * 5 * t), fs=fs, t0=0.0, fs_out=fs_out, grid=grid)
    np.testing.assert_allclose(keep[inner], np.sin(2 * np.pi * 5 * grid[inner]), atol=0.02)
    alias = resample_channel(np.sin(2 * np.pi * 40 * t), fs=fs, t0=0.0, fs_out=fs_out,
                             grid=grid)
    # 40 Hz would fold to 10 Hz at full amplitude without the low-pass
    assert np.abs(alias[inner]).max() < 0.05


def test_existing_output_needs_force_and_nothing_half_written(tmp_path, capsys, monkeypatch):
    x, _, _ = _mitdb(5.0)
    src = write_csv(tmp_path / "in.csv", {"ecg_mV": x[:, 0]}, 360.0)
    dst = tmp_path / "out.csv"
    dst.write_text("mine")
    msg = _err(capsys, main(["convert", str(src), str(dst), "--quiet"]))
    assert "--force" in msg and dst.read_text() == "mine"
    import somacore.readers.csv as csvmod

    def boom(self, recording, path):
        Path(path).write_text("half")
        raise OSError("disk full")

    monkeypatch.setattr(csvmod.CsvWriter, "write", boom)
    assert main(["convert", str(src), str(dst), "--quiet", "--force"]) == 1
    assert dst.read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "out.csv"]
    monkeypatch.undo()
    assert main(["convert", str(src), str(dst), "--quiet", "--force"]) == 0
    np.testing.assert_array_equal(CsvReader().read(dst)[0].data, x[:, 0])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "out.csv"]


def test_unknown_formats_list_the_known_ones(tmp_path, capsys):
    x, _, _ = _mitdb(2.0)
    src = write_csv(tmp_path / "in.csv", {"ecg_mV": x[:, 0]}, 360.0)
    msg = _err(capsys, main(["convert", str(src), str(tmp_path / "o.xyz"), "--quiet"]))
    assert "'.xyz'" in msg and "csv (.csv)" in msg
    msg = _err(capsys, main(["convert", str(src), str(tmp_path / "o.hea"), "--quiet"]))
    assert "wfdb files can be read but no installed plugin writes them" in msg
    msg = _err(capsys, main(["convert", str(src), str(tmp_path / "o.csv"), "--format", "mp3",
                             "--quiet"]))
    assert "unknown output format 'mp3'" in msg and "csv (.csv)" in msg
    msg = _err(capsys, main(["convert", str(src), str(tmp_path / "o.csv"), "--reader", "nope",
                             "--quiet"]))
    assert "unknown reader 'nope'" in msg and "wfdb" in msg
    msg = _err(capsys, main(["convert", str(tmp_path / "missing.csv"), str(tmp_path / "o.csv"),
                             "--quiet"]))
    assert "missing.csv" in msg
    (tmp_path / "junk.bin").write_bytes(b"\x00\x01junk")
    msg = _err(capsys, main(["convert", str(tmp_path / "junk.bin"), str(tmp_path / "o.csv"),
                             "--quiet"]))
    assert "no registered reader" in msg
    assert not (tmp_path / "o.csv").exists()


def test_format_flag_overrides_the_extension(tmp_path, capsys):
    x, _, _ = _mitdb(2.0)
    src = write_csv(tmp_path / "in.csv", {"ecg_mV": x[:, 0]}, 360.0)
    dst = tmp_path / "signal.dat"
    assert main(["convert", str(src), str(dst), "--format", "csv", "--quiet"]) == 0
    assert capsys.readouterr().err == ""        # read back by the csv reader: lossless
    assert dst.read_text().startswith("# somacore-csv v1")
    np.testing.assert_array_equal(CsvReader().read(dst)[0].data, x[:, 0])
