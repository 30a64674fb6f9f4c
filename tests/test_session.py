"""Live sessions: stream == batch, one clock, gaps, bad input, stalls, sinks, hooks, metrics."""

from __future__ import annotations

import csv
import math
import time
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from somacore.beats import detect_beats
from somacore.drivers import ReplayDriver
from somacore.plugins import PluginManager, hookimpl
from somacore.plugins.types import Chunk, StreamInfo
from somacore.signals import Channel, Recording
from somacore.sinks import CallbackSink, CsvSink, ListSink
from somacore.stream.session import (
    ChunkError,
    Session,
    SessionError,
    SessionWarning,
    TimestampError,
)

MITDB = Path(__file__).resolve().parents[2] / "shared" / "data" / "ecg" / "mitdb"
FS = 360.0


@pytest.fixture(scope="module")
def ecg60() -> np.ndarray:
    from somacore.io import read_wfdb

    return np.ascontiguousarray(read_wfdb(MITDB / "100", channels=[0]).signals[: int(60 * FS), 0])


@pytest.fixture(scope="module")
def mgr() -> PluginManager:
    return PluginManager(env={}, entry_points=False).load()


def _ecg_rec(x, t0=0.0, name="ecg"):
    return Recording((Channel(x, FS, "ecg", "mV", t0=t0, name=name),))


def _beats(results, key):
    return np.concatenate([r.beats[key] for r in results])


def _session(mgr, **kw):
    kw.setdefault("step_s", 5.0)
    return Session(manager=mgr, **kw)


@pytest.mark.parametrize("chunk_s", [0.1, 0.37])
def test_stream_equals_batch(ecg60, mgr, chunk_s):
    s = _session(mgr)
    s.add_driver("ada", ReplayDriver(_ecg_rec(ecg60), chunk_s=chunk_s))
    res = s.run()
    assert s.errors == [] and s.stats["gaps"] == 0 and s.stats["late_samples"] == 0
    assert [r.end for r in res] == [5.0 * (k + 1) for k in range(12)]
    batch = detect_beats(ecg60, fs=FS)
    np.testing.assert_allclose(_beats(res, "replay/ecg"), batch.times, atol=1e-9)
    hr = np.array([r.values["hr.hr_bpm"] for r in res[2:]])
    assert np.all((hr > 60) & (hr < 90))
    assert res[0].units["hr.hr_bpm"] == "bpm" and res[0].windows["hr"] == 10.0


def test_windows_aligned_across_people_and_devices(ecg60, mgr):
    s = _session(mgr, step_s=2.0)
    s.add_driver("ada", ReplayDriver(_ecg_rec(ecg60[: int(20 * FS)]), time_offset=100.37))
    s.add_driver("bob", ReplayDriver(_ecg_rec(ecg60[int(20 * FS): int(40 * FS)]),
                                     time_offset=101.9, chunk_s=0.25))
    resp = Recording((Channel(np.sin(np.arange(500) / 25.0), 25.0, "resp", "au", name="belt"),))
    s.add_driver("bob", ReplayDriver(resp, time_offset=100.05, name="belt"))
    res = s.run()
    ends = {p: [r.end for r in res if r.person == p] for p in ("ada", "bob")}
    for p, e in ends.items():
        assert all(abs(v / 2.0 - round(v / 2.0)) < 1e-9 for v in e), (p, e)
    assert ends["ada"][0] == 102.0 and ends["bob"][0] == 102.0  # bob's belt starts at 100.05
    bob = [r for r in res if r.person == "bob"]
    assert bob[0].missing["replay/ecg"] == pytest.approx(0.95)  # ecg starts at 101.9
    assert bob[0].missing["belt/belt"] < 0.05  # belt starts at 100.05
    assert set(bob[0].values) == {"hr.hr_bpm", "hr.n_beats", "breath_rate.br_per_min",
                                  "breath_rate.n_breaths"}
    assert "belt/belt" in bob[0].breaths and "replay/ecg" not in bob[0].breaths


def test_dropped_packets_become_nan_gaps(ecg60, mgr):
    drop = [50, 51, 52]  # chunks of 0.1 s: 5.0-5.3 s lost
    s = _session(mgr)
    s.add_driver("ada", ReplayDriver(_ecg_rec(ecg60), drop=drop))
    res = s.run()
    assert s.stats["gaps"] == 1 and s.stats["lost_samples"] == 108 and s.stats["seq_gaps"] == 3
    (g,) = s.gaps
    assert (g.person, g.stream, g.samples, g.lost_packets) == ("ada", "replay/ecg", 108, 3)
    assert g.start == pytest.approx(5.0) and g.end == pytest.approx(5.3)
    holed = ecg60.copy()
    holed[int(5.0 * FS): int(5.3 * FS)] = np.nan
    batch = detect_beats(holed, fs=FS)
    np.testing.assert_allclose(_beats(res, "replay/ecg"), batch.times, atol=1e-9)
    assert res[1].missing["replay/ecg"] == pytest.approx(0.3 / 5.0)
    assert res[0].missing["replay/ecg"] == 0.0


def test_seq_gap_without_time_gap_still_breaks(mgr):
    s = _session(mgr, step_s=1.0, metrics=[])
    info = StreamInfo("resp", "resp", "au", 10.0)

    class D:
        name = "dev"

        def streams(self):
            return [info]

    s.add_driver("ada", D())
    s.push("ada", Chunk("resp", np.ones(10), 0, t0=0.0))
    s.push("ada", Chunk("resp", np.ones(10), 2, t0=1.0))  # seq jumps, time does not
    assert s.stats["gaps"] == 1 and s.stats["seq_gaps"] == 1 and s.stats["lost_samples"] == 1


def test_jitter_is_tolerated(ecg60, mgr):
    s = _session(mgr)
    s.add_driver("ada", ReplayDriver(_ecg_rec(ecg60), jitter_s=0.004, seed=3))
    res = s.run()
    assert s.errors == [] and s.stats["gaps"] == 0
    got, want = _beats(res, "replay/ecg"), detect_beats(ecg60, fs=FS).times
    assert got.size == want.size and np.abs(got - want).max() <= 0.013


class _Manual:
    name = "dev"

    def __init__(self, *infos):
        self.infos = list(infos) or [StreamInfo("ecg", "ecg", "mV", FS)]

    def streams(self):
        return self.infos


def test_timestamps_backwards_is_a_clear_error(mgr):
    s = _session(mgr)
    s.add_driver("ada", _Manual())
    s.push("ada", Chunk("ecg", np.zeros(36), 0, t0=10.0))
    with pytest.raises(TimestampError, match=r"person 'ada', stream 'dev/ecg'.*backwards"):
        s.push("ada", Chunk("ecg", np.zeros(36), 1, t0=9.0))
    with pytest.raises(TimestampError, match="sequence number went backwards or repeated"):
        s.push("ada", Chunk("ecg", np.zeros(36), 0, t0=10.1))
    with pytest.raises(TimestampError, match="inside chunk"):
        s.push("ada", Chunk("ecg", np.zeros(3), 5, timestamps=np.array([11.0, 11.1, 11.05])))


@pytest.mark.parametrize("chunk, msg", [
    (Chunk("ecg", np.zeros((36, 2)), 0, t0=0.0), r"shape \(36, 2\), expected \(n,\)"),
    (Chunk("ecg", np.array(["a", "b"]), 0, t0=0.0), "must be numeric"),
    (Chunk("ecg", np.zeros(3, bool), 0, t0=0.0), "must be numeric"),
    (Chunk("eeg", np.zeros(3), 0, t0=0.0), "unknown stream 'eeg'"),
    (Chunk("ecg", np.zeros(3), 0, t0=float("nan")), "finite time"),
    (Chunk("ecg", np.zeros(3), 0, t0=0.0, fs=250.0), "differs from the stream's nominal_fs"),
    (Chunk("ecg", np.zeros(3), 0, timestamps=np.zeros(2)), "timestamps of shape"),
    (Chunk("ecg", np.zeros(3), 1.5, t0=0.0), "seq must be an int"),
])
def test_bad_chunks(mgr, chunk, msg):
    s = _session(mgr)
    s.add_driver("ada", _Manual())
    with pytest.raises(ChunkError, match=msg):
        s.push("ada", chunk)


def test_session_setup_errors(mgr):
    s = _session(mgr)
    with pytest.raises(SessionError, match="unknown person"):
        s.push("zed", Chunk("ecg", np.zeros(3), 0, t0=0.0))
    s.add_driver("ada", _Manual())
    with pytest.raises(SessionError, match="already has a driver named 'dev'"):
        s.add_driver("ada", _Manual())
    s.add_driver("ada", _Manual(), name="dev2")
    with pytest.raises(SessionError, match="has 2 drivers"):
        s.push("ada", Chunk("ecg", np.zeros(3), 0, t0=0.0))
    with pytest.raises(ValueError, match="step_s"):
        Session(step_s=0)
    with pytest.raises(KeyError, match="unknown metric 'nope'"):
        Session(manager=mgr, metrics=["nope"]).metrics  # noqa: B018
    with pytest.raises(ChunkError, match="expected a somacore Chunk"):
        s.push("ada", {"samples": [1]}, driver="dev")


def test_irregular_stream_started_by_heartbeat(mgr):
    s = _session(mgr, step_s=1.0, metrics=[])
    s.add_driver("ada", _Manual(StreamInfo("ibi", "rr", "s", None)))
    s.push("ada", Chunk("ibi", np.zeros(0), 0, t0=0.5))  # nothing until 0.5 s
    s.push("ada", Chunk("ibi", np.array([0.9]), 1, timestamps=np.array([2.2])))
    assert [r.end for r in s.results] == [1.0, 2.0]
    assert [r.end for r in s.close()] == [3.0]


def test_multichannel_and_irregular_streams(mgr):
    acc = StreamInfo("acc", "acc", "g", 32.0, channels=3)
    rr = StreamInfo("ibi", "rr", "s", None)
    s = _session(mgr, step_s=1.0, metrics=[])
    s.add_driver("ada", _Manual(acc, rr))
    s.push("ada", Chunk("acc", np.ones((32, 3)), 0, t0=0.0))
    s.push("ada", Chunk("ibi", np.array([0.8, 0.81]), 0, timestamps=np.array([0.5, 1.31])))
    with pytest.raises(ChunkError, match=r"expected \(n, 3\)"):
        s.push("ada", Chunk("acc", np.ones(32), 1, t0=1.0))
    with pytest.raises(ChunkError, match="per-value timestamps"):
        s.push("ada", Chunk("ibi", np.array([0.8, 0.8]), 1, t0=2.0))
    with pytest.raises(TimestampError, match="before the previous event"):
        s.push("ada", Chunk("ibi", np.array([0.8]), 2, timestamps=np.array([1.0])))
    s.push("ada", Chunk("acc", np.ones((32, 3)), 3, t0=1.0))
    s.push("ada", Chunk("ibi", np.zeros(0), 3, t0=2.0))  # heartbeat: nothing until 2 s
    assert s.close() == []  # both steps closed while pushing
    res = s.results
    assert [r.end for r in res] == [1.0, 2.0]
    assert res[0].missing["dev/acc"] == 0.0


def _flaky_driver(rec, **kw):
    return ReplayDriver(rec, **kw)


def test_disconnect_and_stall_do_not_stop_others(ecg60, mgr):
    s = _session(mgr, stall_timeout_s=0.5)
    s.add_driver("ada", ReplayDriver(_ecg_rec(ecg60[: int(20 * FS)])))
    s.add_driver("bob", ReplayDriver(_ecg_rec(ecg60[: int(20 * FS)]), disconnect_after=60))
    s.add_driver("cy", ReplayDriver(_ecg_rec(ecg60[: int(20 * FS)]), stall_after=40))
    t = time.perf_counter()
    with pytest.warns(SessionWarning):
        res = s.run()
    assert time.perf_counter() - t < 5.0
    msgs = " | ".join(str(e) for e in s.errors)
    assert "driver 'replay': of 'bob' failed (ConnectionError: replay 'replay': simulated " \
           "disconnect after 60 chunks)" in msgs
    assert "of 'cy' stalled: no data for 0.5 s" in msgs
    by = {p: [r for r in res if r.person == p] for p in ("ada", "bob", "cy")}
    assert [r.end for r in by["ada"]] == [5.0, 10.0, 15.0, 20.0]
    assert by["bob"][-1].end == 10.0 and by["bob"][1].missing["replay/ecg"] == pytest.approx(0.8)
    assert by["cy"][-1].end == 5.0


def test_invalid_driver_data_raise_or_drop(mgr):
    class Bad(ReplayDriver):
        def chunks(self):
            for ch in super().chunks():
                t0 = ch.t0 if ch.seq < 5 else ch.t0 - 3.0
                yield Chunk(ch.stream, ch.samples, ch.seq, t0=t0, fs=ch.fs)

    rec = Recording((Channel(np.zeros(1000), 100.0, "resp", name="r"),))
    s = _session(mgr, metrics=[])
    s.add_driver("ada", Bad(rec))
    with pytest.raises(TimestampError, match=r"stream 'replay/r'.*backwards"):
        s.run()
    s = _session(mgr, metrics=[], on_driver_error="drop")
    s.add_driver("ada", Bad(rec))
    s.add_driver("bob", ReplayDriver(rec))
    with pytest.warns(SessionWarning, match="invalid data"):
        res = s.run()
    assert any(r.person == "bob" and r.end == 10.0 for r in res)


def test_realtime_pacing(mgr):
    rec = Recording((Channel(np.zeros(200), 100.0, "resp", name="r"),))
    s = _session(mgr, metrics=[], step_s=1.0)
    s.add_driver("ada", ReplayDriver(rec, speed=10.0))
    t = time.perf_counter()
    s.run()
    assert 0.17 <= time.perf_counter() - t < 2.0


# ----------------------------------------------------------------------------- sinks
def test_sinks_csv_callback_and_failure_recovery(ecg60, mgr, tmp_path):
    out = tmp_path / "hr.csv"
    seen = ListSink()
    calls = {"n": 0}

    def flaky(result):
        calls["n"] += 1
        if calls["n"] <= 3:
            raise OSError("disk full")
        seen.append(result)

    s = _session(mgr, sinks=[CsvSink(out, flush_interval_s=0.0), CallbackSink(flaky)])
    s.add_driver("ada", ReplayDriver(_ecg_rec(ecg60[: int(30 * FS)])))
    with pytest.warns(SessionWarning, match="disk full"):
        res = s.run()
    assert [r.end for r in seen] == [r.end for r in res]  # all delivered, in order
    assert sum("disk full" in str(e) for e in s.errors) == 3 and s.undelivered == {}
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 2 * len(res)
    assert rows[0]["metric"] == "hr" and rows[0]["unit"] == "bpm" and rows[0]["person"] == "ada"
    assert [p.name for p in tmp_path.iterdir()] == ["hr.csv"]  # no temp files left


def test_failing_sink_keeps_everything(ecg60, mgr, tmp_path):
    def dead(result):
        raise RuntimeError("sink down")

    s = _session(mgr, sinks=[CallbackSink(dead, name="dead")])
    s.add_driver("ada", ReplayDriver(_ecg_rec(ecg60[: int(20 * FS)])))
    with pytest.warns(SessionWarning, match="sink down") as w:
        res = s.run()
    assert len([x for x in w if "sink down" in str(x.message)]) == 1  # warned once
    assert [r.end for r in s.undelivered["dead"]] == [r.end for r in res] == [5, 10, 15, 20]
    assert len(s.results) == 4


def test_csv_sink_write_failure_then_retry(tmp_path, monkeypatch):
    import somacore.sinks as sinks_mod
    from somacore.stream.session import WindowResult

    sink = CsvSink(tmp_path / "m.csv", flush_interval_s=0.0)
    r1 = WindowResult("ada", 0.0, 1.0, {"hr.hr_bpm": 60.0}, {"hr.hr_bpm": "bpm"}, {"hr": 1.0})
    r2 = WindowResult("ada", 1.0, 2.0, {"hr.hr_bpm": 61.0}, {"hr.hr_bpm": "bpm"}, {"hr": 1.0})
    sink(r1)
    real = sinks_mod.atomic_write_text

    def broken(path, text):
        raise OSError("No space left on device")

    monkeypatch.setattr(sinks_mod, "atomic_write_text", broken)
    with pytest.raises(OSError, match="No space"):
        sink(r2)
    assert sink.rows_written == 1  # not accepted: the session will offer r2 again
    assert len((tmp_path / "m.csv").read_text().splitlines()) == 2  # old file intact
    monkeypatch.setattr(sinks_mod, "atomic_write_text", real)
    sink(r2)
    rows = (tmp_path / "m.csv").read_text().splitlines()
    assert len(rows) == 3 and rows[2].startswith("ada,1.0,2.0,hr,hr_bpm,61.0,bpm")


# ----------------------------------------------------------------------------- hooks & metrics
def test_hooks_fire_per_chunk_and_window(ecg60, mgr):
    seen = {"chunks": 0, "samples": 0, "windows": 0}

    class Obs:
        @hookimpl
        def somacore_session_chunk(self, person, stream, chunk):
            seen["chunks"] += 1
            seen["samples"] += chunk.n

        @hookimpl
        def somacore_session_window(self, result):
            seen["windows"] += 1

    class Bad:
        @hookimpl
        def somacore_session_chunk(self, person, stream, chunk):
            raise RuntimeError("observer bug")

    m = PluginManager(env={}, entry_points=False).load()
    m.register(Obs(), name="obs")
    m.register(Bad(), name="bad")
    s = Session(manager=m, step_s=5.0)
    s.add_driver("ada", ReplayDriver(_ecg_rec(ecg60[: int(20 * FS)])))
    with pytest.warns(SessionWarning, match="observer bug"):
        res = s.run()
    assert seen == {"chunks": 200, "samples": int(20 * FS), "windows": len(res)}
    assert sum("observer bug" in str(e) for e in s.errors) == 1


def test_metric_failures_are_isolated(ecg60, mgr):
    class Boom:
        name = "boom"
        inputs = ("ecg",)
        window_s = 5.0
        outputs: ClassVar[dict[str, str]] = {"x": "au"}

        def compute(self, window):
            raise ZeroDivisionError("bad math")

    class WrongKeys(Boom):
        name = "wrong"

        def compute(self, window):
            return {"y": 1.0}

    class Needs:
        name = "needs_eda"
        inputs = ("eda",)
        window_s = 5.0
        outputs: ClassVar[dict[str, str]] = {"scl": "uS"}

        def compute(self, window):  # pragma: no cover - never called (no eda stream)
            raise AssertionError

    s = _session(mgr, metrics=["hr", Boom(), WrongKeys(), Needs()])
    s.add_driver("ada", ReplayDriver(_ecg_rec(ecg60[: int(20 * FS)])))
    with pytest.warns(SessionWarning):
        res = s.run()
    assert all(math.isnan(r.values["boom.x"]) and math.isnan(r.values["wrong.x"]) for r in res)
    assert not any("needs_eda.scl" in r.values for r in res)
    assert all(np.isfinite(r.values["hr.hr_bpm"]) for r in res[1:])
    assert sum("bad math" in str(e) for e in s.errors) == len(res)
    assert any("declared outputs" in str(e) for e in s.errors)


def test_replay_of_a_file(tmp_path, mgr):
    p = tmp_path / "r.csv"
    p.write_text("# fs=10\nresp_au,eda_uS\n" + "\n".join(f"{i},{i}" for i in range(100)) + "\n")
    drv = ReplayDriver(p, chunk_s=0.5, streams=["resp_au"])
    assert [i.name for i in drv.streams()] == ["resp_au"] and len(drv) == 20
    with pytest.raises(KeyError, match="no channel"):
        ReplayDriver(p, streams=["ecg"])
    with pytest.raises(ValueError, match="speed"):
        ReplayDriver(p, speed=0)


def test_duration_limit_and_csv_flush_at_close(tmp_path, mgr):
    rec = Recording((Channel(np.zeros(3000), 100.0, "resp", name="r"),))  # 30 s
    out = tmp_path / "m.csv"
    s = _session(mgr, metrics=[], step_s=0.1, sinks=[CsvSink(out, flush_interval_s=3600)])
    s.add_driver("ada", ReplayDriver(rec, speed=1.0))
    t = time.perf_counter()
    s.run(duration_s=0.3)
    assert time.perf_counter() - t < 2.0
    assert 1 <= len(s.results) <= 10  # about 0.3 s of a 30 s recording
    assert out.read_text().splitlines() == [CsvSink.HEADER]  # no metric rows, file written


def test_arun_matches_run_with_stall_and_disconnect(ecg60, mgr):
    import asyncio

    def build(**kw):
        s = _session(mgr, stall_timeout_s=0.5, **kw)
        s.add_driver("ada", ReplayDriver(_ecg_rec(ecg60[: int(20 * FS)])))
        s.add_driver("bob", ReplayDriver(_ecg_rec(ecg60[: int(20 * FS)]), disconnect_after=60))
        s.add_driver("cy", ReplayDriver(_ecg_rec(ecg60[: int(20 * FS)]), stall_after=40))
        return s

    with pytest.warns(SessionWarning):
        sync = build().run()
    s = build()
    with pytest.warns(SessionWarning):
        res = asyncio.run(s.arun())
    assert [(r.person, r.end) for r in res] == [(r.person, r.end) for r in sync]
    for a, b in zip(res, sync, strict=True):
        for key in a.beats:
            np.testing.assert_array_equal(a.beats[key], b.beats[key])
    msgs = " | ".join(str(e) for e in s.errors)
    assert "of 'cy' stalled" in msgs and "simulated disconnect" in msgs
