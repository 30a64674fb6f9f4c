"""Raw recording of live sessions: durable part files, read back, replayed to the same results."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from somacore.data import example_ecg
from somacore.drivers import ReplayDriver
from somacore.plugins import PluginManager, open_reader, read
from somacore.plugins.types import Chunk, StreamInfo
from somacore.readers import FormatError, RawReader, read_session
from somacore.signals import Channel, Recording
from somacore.stream.recorder import RawRecorder
from somacore.stream.session import Session, SessionWarning
from somacore.testing import check_reader

CHUNK_S = 0.1
DROP = 123  # play-order index of the packet ada's replay drops


@pytest.fixture(scope="module")
def ecg():
    e = example_ecg()
    return e.ecg_mv, e.fs


@pytest.fixture(scope="module")
def mgr() -> PluginManager:
    return PluginManager(env={}, entry_points=False).load()


class _ListDriver:
    """A device that sends the given chunks (never blocks)."""

    blocking = False

    def __init__(self, infos: list[StreamInfo], chunks: list[Chunk], name: str = "dev") -> None:
        self.infos, self._chunks, self.name = infos, chunks, name

    def streams(self) -> list[StreamInfo]:
        return list(self.infos)

    def chunks(self):
        yield from self._chunks

    def close(self) -> None:
        pass


def _cy_chunks(x: np.ndarray, fs: float) -> tuple[list[Chunk], np.ndarray]:
    """int16 ECG chunks with per-sample timestamps; a 0.5 s jump inside chunk 30 at sample 20.

    Returns the chunks and what the recording must hold (NaN where the session fills).
    """
    adc = np.round(x * 200).astype(np.int16)
    n = 50
    chunks, expect = [], []
    shift = 0.0
    for seq, i in enumerate(range(0, adc.size, n)):
        t = 500.0 + np.arange(i, min(i + n, adc.size)) / fs
        part = adc[i:i + n]
        if seq == 30:
            t[20:] += 0.5
            expect.extend([part[:20], np.full(round(0.5 * fs), np.nan), part[20:]])
            shift = 0.5
        else:
            t += shift
            expect.append(part)
        chunks.append(Chunk("ecg", part, seq, timestamps=t))
    return chunks, np.concatenate([np.asarray(e, dtype=np.float64) for e in expect])


def _drivers(ecg) -> list[tuple[str, object]]:
    x, fs = ecg
    n = int(40 * fs)
    ada = Recording((Channel(x[:n], fs, "ecg", "mV", name="ecg"),))
    # bob: ECG with host-side jitter, and his RR intervals as an irregular stream
    xb = x[n:2 * n]
    rr_t = 3.0 + np.cumsum(np.full(40, 0.83))
    bob = Recording((Channel(xb, fs, "ecg", "mV", name="ecg"),
                     Channel(np.full(40, 0.83), None, "rr", "s", name="rr", times=rr_t)))
    cy_chunks, _ = _cy_chunks(x[2 * n:2 * n + int(20 * fs)], fs)
    cy = _ListDriver([StreamInfo("ecg", "ecg", "adc", fs)], cy_chunks)
    return [("ada", ReplayDriver(ada, chunk_s=CHUNK_S, drop=[DROP], time_offset=2.0)),
            ("bob", ReplayDriver(bob, chunk_s=CHUNK_S, jitter_s=0.004, seed=3, name="h10")),
            ("cy", cy)]


def _run(mgr, drivers, **kw) -> Session:
    s = Session(manager=mgr, metrics=["hr"], step_s=2.0, **kw)
    for person, d in drivers:
        s.add_driver(person, d)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SessionWarning)
        s.run()
    return s


def _assert_same(a: Session, b: Session) -> None:
    """Every result, gap and counter of two sessions equal (NaN equal to NaN)."""
    assert len(a.results) == len(b.results) > 0
    for ra, rb in zip(a.results, b.results, strict=True):
        assert (ra.person, ra.start, ra.end) == (rb.person, rb.start, rb.end)
        assert ra.values.keys() == rb.values.keys()
        for k in ra.values:
            assert ra.values[k] == rb.values[k] or (np.isnan(ra.values[k])
                                                    and np.isnan(rb.values[k])), k
        assert ra.missing == rb.missing
        assert ra.beats.keys() == rb.beats.keys()
        for k in ra.beats:
            np.testing.assert_array_equal(ra.beats[k], rb.beats[k])
    assert a.gaps == b.gaps
    for k in ("chunks", "samples", "gaps", "lost_samples", "seq_gaps", "late_samples"):
        assert a.stats[k] == b.stats[k], k


def test_replay_of_recording_gives_live_results(tmp_path: Path, ecg, mgr) -> None:
    """Live session (failing sink) + recorder -> replay of the folder -> identical results."""
    calls = []

    def broken_sink(result):
        calls.append(result)
        raise OSError("sink disk full")

    live = _run(mgr, _drivers(ecg), sinks=[broken_sink], record_to=tmp_path / "rec")
    # the sink failed all along, the recorder did not
    assert calls and all("sink" in e.where for e in live.errors)
    assert not any("recorder" in e.where for e in live.errors)
    assert live.stats["seq_gaps"] == 1 and live.stats["gaps"] == 2  # ada's drop, cy's jump
    assert not list((tmp_path / "rec").rglob("*.tmp"))

    recs = read_session(tmp_path / "rec")
    assert list(recs) == [("ada", "replay"), ("bob", "h10"), ("cy", "dev")]
    replay = _run(mgr, [(p, ReplayDriver(rec)) for (p, _), rec in recs.items()])
    assert replay.errors == []
    _assert_same(live, replay)

    # the recording holds the signal exactly as sent, NaN where the packet was lost
    x, fs = ecg
    n = int(40 * fs)
    ada = read(tmp_path / "rec" / "ada" / "replay")
    assert ada.meta["format"] == "somacore-raw" and ada.meta["person"] == "ada"
    k = round(CHUNK_S * fs)
    want = x[:n].copy()
    want[DROP * k:(DROP + 1) * k] = np.nan
    np.testing.assert_array_equal(ada["ecg"].data, want)
    assert ada["ecg"].t0 == 2.0 and ada["ecg"].fs == fs
    bob = recs[("bob", "h10")]
    np.testing.assert_array_equal(bob["ecg"].data, x[n:2 * n])
    # bob's timestamps as his (jittered) driver sent them, not as the file had them
    sent = [c for c in _drivers(ecg)[1][1].chunks() if c.stream == "rr"]
    np.testing.assert_array_equal(bob["rr"].times, np.concatenate([c.timestamps for c in sent]))
    assert not np.array_equal(bob["rr"].times, 3.0 + np.cumsum(np.full(40, 0.83)))
    np.testing.assert_array_equal(bob["rr"].data, np.full(40, 0.83))
    cy = recs[("cy", "dev")]
    _, want_cy = _cy_chunks(x[2 * n:2 * n + int(20 * fs)], fs)
    np.testing.assert_array_equal(cy["ecg"].data, want_cy)
    # samples replayed with the dtype they were received in
    assert all(c.samples.dtype == np.int16 for c in cy.meta["chunks"])


def test_reader_is_registered(tmp_path: Path, ecg, mgr) -> None:
    _run(mgr, _drivers(ecg)[:2], record_to=tmp_path / "rec")
    assert open_reader(tmp_path / "rec" / "ada" / "replay").name == "raw"
    assert mgr.open_reader(tmp_path / "rec" / "ada" / "replay").name == "raw"
    check_reader(RawReader(), tmp_path / "rec" / "bob" / "h10", n_channels=2,
                 kinds={"ecg", "rr"})


def test_failed_writes_are_reported_and_nothing_is_lost(tmp_path: Path, ecg, mgr,
                                                        monkeypatch) -> None:
    """A part write that dies half-way leaves no file; the session goes on; later flushes
    write the kept chunks."""
    real = np.savez
    fail = {"left": 5}

    def half_write(f, **arrays):
        if fail["left"] > 0:
            fail["left"] -= 1
            f.write(b"PK\x03\x04 half a zip")
            raise OSError("No space left on device")
        real(f, **arrays)

    monkeypatch.setattr(np, "savez", half_write)
    rec = RawRecorder(tmp_path / "rec", flush_interval_s=0.0)
    with pytest.warns(SessionWarning, match="recorder") as got:
        s = Session(manager=mgr, metrics=["hr"], step_s=2.0, record_to=rec)
        for person, d in _drivers(ecg):
            s.add_driver(person, d)
        s.run()
    assert len([w for w in got if "recorder" in str(w.message)]) == 1  # warned once
    problems = [e for e in s.errors if "recorder" in e.where]
    # failures of the writer thread are reported at the next chunk (several at once if
    # several parts failed meanwhile)
    assert 1 <= len(problems) <= 5 and "No space left" in problems[0].message
    assert fail["left"] == 0
    assert rec.healthy
    # no half-written or temporary file anywhere; every part complete
    for f in (tmp_path / "rec").rglob("*"):
        assert not f.name.endswith(".tmp")
        if f.suffix == ".npz":
            with np.load(f) as z:
                assert z.files
    plain = _run(mgr, _drivers(ecg))
    _assert_same(plain, s)  # the recorder's failure did not change the analysis
    replay = _run(mgr, [(p, ReplayDriver(r)) for (p, _), r in
                        read_session(tmp_path / "rec").items()])
    _assert_same(plain, replay)  # and nothing received was lost


def test_crash_keeps_every_flushed_part(tmp_path: Path, ecg, mgr) -> None:
    """Without close(), the folder holds exactly the chunks flushed so far."""
    x, fs = ecg
    rec = RawRecorder(tmp_path / "rec", flush_interval_s=0.0)
    s = Session(manager=mgr, metrics=["hr"], record_to=rec)
    s.add_driver("ada", ReplayDriver(Recording((Channel(x[:int(10 * fs)], fs, "ecg", "mV",
                                                        name="ecg"),)), chunk_s=CHUNK_S))
    chunks = list(s.people["ada"].drivers["replay"].driver.chunks())
    for c in chunks[:37]:
        s.push("ada", c)
    rec.flush()  # (wait for the writer thread)
    # the session "crashes" here: never closed
    got = read(tmp_path / "rec" / "ada" / "replay")
    np.testing.assert_array_equal(got["ecg"].data, np.concatenate([c.samples
                                                                    for c in chunks[:37]]))
    assert got.meta["parts"] == 37

    slow = RawRecorder(tmp_path / "rec2", flush_interval_s=3600.0)
    s2 = Session(manager=mgr, metrics=["hr"], record_to=slow)
    s2.add_driver("ada", ReplayDriver(Recording((Channel(x[:int(10 * fs)], fs, "ecg", "mV",
                                                         name="ecg"),)), chunk_s=CHUNK_S))
    for c in chunks[:37]:
        s2.push("ada", c)
    # not flushed yet: readable (the streams are declared), nothing recorded
    assert len(read(tmp_path / "rec2" / "ada" / "replay")["ecg"]) == 0
    s2.close()
    assert len(read(tmp_path / "rec2" / "ada" / "replay")["ecg"]) == 37 * round(CHUNK_S * fs)


def test_bad_folders(tmp_path: Path, ecg, mgr) -> None:
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(NotADirectoryError, match="is a file"):
        Session(record_to=f)
    with pytest.raises(TypeError, match="record_to"):
        Session(record_to=3)
    _run(mgr, _drivers(ecg)[:1], record_to=tmp_path / "rec")
    with pytest.raises(FileExistsError, match="new folder"):
        Session(record_to=tmp_path / "rec")
    d = tmp_path / "rec" / "ada" / "replay"
    part = sorted(d.glob("part-*.npz"))[0]
    part.write_bytes(part.read_bytes()[:100])  # truncated by hand
    with pytest.raises(FormatError, match=part.name):
        read(d)
    with pytest.raises(FileNotFoundError, match="raw"):
        read_session(tmp_path / "file2")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"raw\.json"):
        read_session(tmp_path / "empty")
