"""Several sessions of one client: the progress view equals each session analysed alone."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import numpy as np
import pytest
from _records import write_csv

from somacore.analysis import read_table
from somacore.cli import main

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
FAST = ["--surrogates", "20"]
#: a more sensitive arousal rule, so that these 2-min excerpts have episodes (and recoveries)
SENSITIVE = ["--arousal-k", "1.5", "--arousal-min-s", "5"]




def _table(folder: Path, name: str) -> dict:
    f = next(folder.glob(f"{name}.*"))
    return read_table(f)


@pytest.fixture(scope="module")
def ecg_sessions(tmp_path_factory) -> list[Path]:
    """Three 2-min MIT-BIH excerpts (records 100, 101, 203) as one client's three sessions."""
    from somacore.io import read_wfdb

    d = tmp_path_factory.mktemp("ecg_sessions")
    out = []
    for rec in ("100", "101", "203"):
        r = read_wfdb(DATA / "ecg" / "mitdb" / rec, channels=[0])
        out.append(write_csv(d / f"mitdb{rec}.csv", {"ecg_mV": r.signals[:43200, 0]}, 360.0))
    return out


@pytest.fixture(scope="module")
def dyad_manifest(tmp_path_factory) -> Path:
    """Two dated sessions of two people: MIMIC 03700181 (ECG + respiration) and MIT-BIH.

    The client's excerpts are cut from the multi-rate WFDB record with
    ``somacore.convert`` (respiration 125 -> 500 Hz so that one CSV holds both).
    """
    from somacore.convert import convert
    from somacore.io import read_wfdb

    d = tmp_path_factory.mktemp("dyads")
    for k, (start, rec) in enumerate(((0.0, "100"), (150.0, "101"))):
        convert(DATA / "multimodal" / "03700181", d / f"client{k}.csv", start_s=start,
                duration_s=120.0, resample_hz=500.0)
        # the excerpt keeps the record's clock (t0 = start): the therapist's recording
        # starts at the same time, so the two overlap
        r = read_wfdb(DATA / "ecg" / "mitdb" / rec, channels=[0])
        write_csv(d / f"ther{rec}.csv", {"ecg_mV": r.signals[:43200, 0]}, 360.0, t0=start)
    # listed out of date order: the view must put 2024-02 first
    (d / "m.csv").write_text(
        "session,person,file,date,room\n"
        "march,client,client0.csv,2024-03-10,A\n"
        "march,therapist,ther100.csv,2024-03-10,A\n"
        "february,client,client1.csv,2024-02-01,B\n"
        "february,therapist,ther101.csv,2024-02-01,B\n")
    return d / "m.csv"


def _alone(files: dict[str, Path], out: Path, extra=()) -> dict:
    argv = ["analyze", "--out", str(out), "--quiet", "--no-report", *FAST, *extra]
    for name, f in files.items():
        argv += ["--person", f"{name}={f}"]
    assert main(argv) == 0
    return json.loads((out / "summary.json").read_text())


def _resting_reference(folder: Path, person: str) -> float:
    """Median heart rate outside the episodes, straight from the session's own tables."""
    s, e = _table(folder, "series"), _table(folder, "episodes")
    keep = []
    for t, v, who, sig in zip(s["time_s"], s["value"], s["person"], s["signal"], strict=True):
        if who != person or sig != "heart_rate" or not np.isfinite(v):
            continue
        inside = any(a <= t < b for a, b, w in zip(e["onset_s"], e["end_s"], e["person"],
                                                   strict=True) if w == person)
        if not inside:
            keep.append(v)
    return float(np.median(keep))


def test_sessions_rows_equal_each_session_alone(ecg_sessions, tmp_path, capsys):
    order = [ecg_sessions[2], ecg_sessions[0], ecg_sessions[1]]     # argument order is kept
    out = tmp_path / "prog"
    assert main(["analyze", "--sessions", *map(str, order), "--out", str(out),
                 "--no-report", *FAST, *SENSITIVE]) == 0
    cap = capsys.readouterr()
    assert "session 3/3" in cap.err                   # progress lines per session
    people = _table(out, "progress_people")
    assert list(people["session"]) == ["mitdb203", "mitdb100", "mitdb101"]
    assert list(people["order"]) == [1, 2, 3] and set(people["person"]) == {"client"}
    for i, f in enumerate(order):
        alone = _alone({"client": f}, tmp_path / f"alone{i}", SENSITIVE)
        d = alone["people"]["client"]
        assert people["rmssd_ms"][i] == pytest.approx(d["hrv"]["RMSSD"], rel=1e-12)
        assert people["sdnn_ms"][i] == pytest.approx(d["hrv"]["SDNN"], rel=1e-12)
        assert people["mean_hr_bpm"][i] == pytest.approx(d["heart"]["mean_hr_bpm"], rel=1e-12)
        assert people["arousal_episodes"][i] == d["arousal"]["n_episodes"]
        assert people["arousal_total_s"][i] == pytest.approx(d["arousal"]["total_duration_s"])
        assert people["resting_hr_bpm"][i] == pytest.approx(
            _resting_reference(tmp_path / f"alone{i}", "client"), rel=1e-12)
        ep = _table(tmp_path / f"alone{i}", "episodes")
        rec = np.asarray(ep["recovery_s"], float) if len(ep.get("recovery_s", [])) else \
            np.zeros(0)
        rec = rec[np.isfinite(rec)]
        want = float(np.median(rec)) if rec.size else np.nan
        np.testing.assert_allclose(people["recovery_median_s"][i], want, rtol=1e-12)
        # and the session's own outputs are there, identical to analysing it alone
        mine = _table(out / "sessions" / people["session"][i], "beats")
        ref = _table(tmp_path / f"alone{i}", "beats")
        np.testing.assert_array_equal(mine["sample"], ref["sample"])
    assert np.isnan(people["breathing_rate_bpm"]).all()          # ECG only: no breathing
    # these real excerpts have arousal episodes (101, 203), some never recovering (203)
    assert people["arousal_episodes"][0] >= 1 and people["arousal_episodes"][2] >= 1
    assert np.isfinite(people["recovery_median_s"]).any()
    # the printed table lists the sessions in order
    lines = [ln for ln in cap.out.splitlines() if ln[:1].isdigit()]
    assert [ln.split()[1] for ln in lines] == ["mitdb203", "mitdb100", "mitdb101"]


@pytest.fixture(scope="module")
def manifest_out(dyad_manifest, tmp_path_factory) -> tuple[Path, dict]:
    """``analyze --manifest`` with reports, and what it printed with --json."""
    import contextlib
    import io

    out = tmp_path_factory.mktemp("manifest") / "prog"
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(["analyze", "--manifest", str(dyad_manifest), "--out", str(out), "--quiet",
                     "--json", *FAST]) == 0
    return out, json.loads(buf.getvalue())


def test_manifest_dyads_ordered_by_date_with_synchrony(dyad_manifest, manifest_out, tmp_path):
    out, doc = manifest_out
    assert doc == json.loads((out / "progress.json").read_text())
    assert [s["session"] for s in doc["sessions"]] == ["february", "march"]
    assert doc["order"] == "by date"
    people = _table(out, "progress_people")
    assert list(people["session"]) == ["february", "february", "march", "march"]
    assert list(people["date"]) == ["2024-02-01", "2024-02-01", "2024-03-10", "2024-03-10"]
    pairs = _table(out, "progress_pairs")
    d = dyad_manifest.parent
    for sid, k, rec in (("february", 1, "101"), ("march", 0, "100")):
        alone = _alone({"client": d / f"client{k}.csv", "therapist": d / f"ther{rec}.csv"},
                       tmp_path / f"alone-{sid}")
        for j in np.flatnonzero(people["session"] == sid):
            who = people["person"][j]
            dp = alone["people"][who]
            assert people["rmssd_ms"][j] == pytest.approx(dp["hrv"]["RMSSD"], rel=1e-12)
            want_br = dp["breathing"]["mean_rate_bpm"] if "breathing" in dp else np.nan
            np.testing.assert_allclose(people["breathing_rate_bpm"][j], want_br, rtol=1e-12)
        rows = np.flatnonzero(pairs["session"] == sid)
        assert len(rows) == len(alone["pairs"]) >= 1
        hr = [j for j in rows if pairs["signal"][j] == "heart_rate"]
        assert len(hr) == 1 and pairs["n_windows"][hr[0]] > 50     # synchrony was computed
        for j, pa in zip(rows, alone["pairs"], strict=True):
            assert (pairs["first"][j], pairs["second"][j], pairs["signal"][j]) == \
                (pa["first"], pa["second"], pa["signal"])
            np.testing.assert_allclose(pairs["mean_peak_r"][j], pa.get("mean_peak_r", np.nan))
            np.testing.assert_allclose(pairs["fraction_significant"][j],
                                       pa.get("fraction_significant", np.nan))
    # the client has respiration in both sessions
    client = people["person"] == "client"
    assert np.isfinite(people["breathing_rate_bpm"][client]).all()
    assert (out / "sessions" / "march" / "report.html").is_file()


def test_progress_report_has_the_trend_figure(manifest_out):
    out, _ = manifest_out
    page = (out / "progress.html").read_text()
    imgs = re.findall(r'<img alt="([^"]*)" src="data:image/png;base64,([^"]+)"', page)
    assert len(imgs) == 1 and "trend" in imgs[0][0]
    png = base64.b64decode(imgs[0][1], validate=True)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000
    # links stay inside the output folder and point at reports that exist
    links = re.findall(r"href='([^']+)'", page)
    assert links == ["sessions/february/report.html", "sessions/march/report.html"]
    assert all((out / ln).is_file() for ln in links)
    assert "http://" not in page and "https://" not in page and "<script" not in page
    assert page.index("february") < page.index("march")


def test_batch_output_feeds_the_same_view(dyad_manifest, manifest_out, tmp_path):
    import concurrent.futures as cf

    import somacore.batch as batch

    with cf.ThreadPoolExecutor(1) as ex:
        res = batch.run(dyad_manifest, out=tmp_path / "batch", executor=ex,
                        config={"synchrony": {"n_surrogates": 20}})
    assert res.n_done == 2
    assert main(["progress", str(tmp_path / "batch"), "--out", str(tmp_path / "p1"),
                 "--quiet", "--no-report"]) == 0
    for name in ("progress_people", "progress_pairs"):
        a, b = _table(tmp_path / "p1", name), _table(manifest_out[0], name)
        assert a.keys() == b.keys()
        for c in a:
            if a[c].dtype.kind == "f":
                np.testing.assert_array_equal(a[c], b[c], err_msg=c)
            else:
                assert list(a[c]) == list(b[c]), c


def test_bad_input_is_one_line(ecg_sessions, dyad_manifest, tmp_path, capsys):
    def err(argv) -> str:
        code = main(argv)
        cap = capsys.readouterr()
        assert code == 2 and "Traceback" not in cap.err, cap.err
        lines = cap.err.strip().splitlines()
        assert len(lines) == 1, cap.err
        return lines[0]

    out = str(tmp_path / "o")
    assert "nope.csv does not exist" in err(["analyze", "--sessions", str(ecg_sessions[0]),
                                             str(tmp_path / "nope.csv"), "--out", out])
    assert "not both" in err(["analyze", str(ecg_sessions[0]), "--sessions",
                              str(ecg_sessions[1]), "--out", out])
    msg = err(["analyze", "--manifest", str(dyad_manifest), "--out", out, "--order-by", "visit",
               "--quiet"])
    assert "'visit'" in msg and "date, room" in msg
    assert "--sessions" in err(["analyze", str(ecg_sessions[0]), "--order-by", "date",
                                "--out", out])
    assert "not a somacore batch output" in err(["progress", str(tmp_path), "--out", out])
    (tmp_path / "o").mkdir()
    assert "--overwrite" in err(["analyze", "--sessions", str(ecg_sessions[0]), "--out", out,
                                 "--quiet"])
    assert not (tmp_path / "o" / "sessions").exists()
