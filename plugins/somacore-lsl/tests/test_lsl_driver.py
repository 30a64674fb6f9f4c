"""LslDriver against real LSL outlets in this process (loopback), pushing a real ECG excerpt
(MIT-BIH record 100, bundled with somacore) with a deliberately dropped block."""

from __future__ import annotations

import threading
import uuid

import numpy as np
import pylsl
import pytest
from somacore.beats import detect_beats
from somacore.data import example_ecg
from somacore.plugins import PluginManager
from somacore.stream.session import Session, TimestampError
from somacore.testing import check_driver

from somacore_lsl import LslDriver, LslGap, StreamNotFoundError, layout_from_xml

FS = 360.0


@pytest.fixture(scope="module")
def ecg() -> np.ndarray:
    e = example_ecg()
    assert e.fs == FS
    return e.ecg_mv


def _info(name: str, channels: list[tuple[str, str, str]], *, srate: float = FS,
          stype: str = "ECG", fmt: str = "double64") -> pylsl.StreamInfo:
    info = pylsl.StreamInfo(name, stype, len(channels), srate, fmt, f"src-{name}")
    node = info.desc().append_child("channels")
    for label, ctype, unit in channels:
        c = node.append_child("channel")
        c.append_child_value("label", label)
        if ctype:
            c.append_child_value("type", ctype)
        if unit:
            c.append_child_value("unit", unit)
    return info


def _unique(tag: str) -> str:
    # other people's tests may run LSL outlets on this machine: never share a name
    return f"somacore-test-{tag}-{uuid.uuid4().hex[:8]}"


class Pusher(threading.Thread):
    """Pushes ``x`` (n, k) once a consumer is connected, stamped ``t_start + i / fs``.

    Samples with indices in ``drop`` are never sent (a lost block)."""

    def __init__(self, outlet: pylsl.StreamOutlet, x: np.ndarray, t_start: float, *,
                 block: int = 36, drop: range = range(0), loop: bool = False,
                 pause_s: float = 0.0) -> None:
        super().__init__(daemon=True)
        self.outlet, self.x, self.t_start = outlet, x, t_start
        self.block, self.drop, self.loop, self.pause_s = block, drop, loop, pause_s
        self.stop = threading.Event()

    def run(self) -> None:
        if not self.outlet.wait_for_consumers(10.0):
            return
        n = self.x.shape[0]
        i = 0
        while not self.stop.is_set() and (self.loop or i < n):
            idx = np.arange(i, i + self.block)
            idx = idx[[k not in self.drop for k in idx]] if self.drop else idx
            if not self.loop:
                idx = idx[idx < n]
            if idx.size:
                self.outlet.push_chunk(np.ascontiguousarray(self.x[idx % n]),
                                       timestamp=(self.t_start + idx / FS).tolist())
            i += self.block
            if self.pause_s:
                self.stop.wait(self.pause_s)


def _outlet(name: str, **kw) -> pylsl.StreamOutlet:
    return pylsl.StreamOutlet(_info(name, [("MLII", "ECG", "millivolts")], **kw))


def _mgr() -> PluginManager:
    return PluginManager(env={}, entry_points=False).load()


# ---------------------------------------------------------------------- metadata (no network)
def test_channel_metadata_maps_to_streams_with_explicit_rate():
    xml = _info("m", [("ECG I", "ECG", "microvolts"), ("ECG II", "ECG", "microvolts"),
                      ("Pleth", "PPG", ""), ("Fp1", "EEG", "microvolts"),
                      ("Belt", "RESP", "mV"), ("GSR", "gsr", "microsiemens"),
                      ("x", "", "")], srate=250.0, stype="Physio").as_xml()
    lay = layout_from_xml(xml)
    got = {i.name: (i.kind, i.units, i.nominal_fs, i.channels) for i in lay.infos}
    assert got == {"ecg": ("ecg", "uV", 250.0, 2), "ppg": ("ppg", "au", 250.0, 1),
                   "resp": ("resp", "mV", 250.0, 1), "eda": ("eda", "uS", 250.0, 1)}
    assert lay.columns == [[0, 1], [2], [4], [5]]
    # EEG is not ours; an untyped channel takes the stream type ("Physio": not ours either)
    assert lay.skipped == [("Fp1", "EEG"), ("x", "Physio")]
    # explicit mapping wins, None skips; several units of one kind become separate streams
    lay = layout_from_xml(xml, kinds={"x": "ecg", "Pleth": None, 5: None})
    assert [(i.name, lay.columns[k]) for k, i in enumerate(lay.infos)] == [
        ("ecg:uV", [0, 1]), ("resp", [4]), ("ecg:au", [6])]
    # no channel metadata at all: every channel takes the stream's type
    bare = pylsl.StreamInfo("b", "EKG", 3, 500.0, "int16", "b").as_xml()
    (only,) = layout_from_xml(bare).infos
    assert (only.kind, only.channels, only.units, only.nominal_fs) == ("ecg", 3, "au", 500.0)


def test_metadata_errors_name_the_stream_and_the_fix():
    eeg = _info("cap", [("Fp1", "EEG", "uV"), ("Cz", "EEG", "uV")], stype="EEG").as_xml()
    with pytest.raises(ValueError, match=r"'cap' \(type 'EEG'\) has no channel of a kind.*"
                                         r"Fp1 \(EEG\).*kinds="):
        layout_from_xml(eeg)
    with pytest.raises(ValueError, match="names channel 'Fz', which it does not have"):
        layout_from_xml(eeg, kinds={"Fz": "ecg"})
    with pytest.raises(ValueError, match="'ekg' is not a somacore kind"):
        layout_from_xml(eeg, kinds={"Cz": "ekg"})
    markers = pylsl.StreamInfo("mk", "Markers", 1, 0.0, "string", "mk").as_xml()
    with pytest.raises(ValueError, match=r"'mk'.*'string' samples"):
        layout_from_xml(markers)
    irregular = _info("irr", [("MLII", "ECG", "mV")], srate=pylsl.IRREGULAR_RATE).as_xml()
    with pytest.raises(ValueError, match=r"'irr'.*irregular rate.*ecg.*pass fs=<Hz>"):
        layout_from_xml(irregular)
    (i,) = layout_from_xml(irregular, fs=360.0).infos
    assert i.nominal_fs == 360.0
    with pytest.raises(ValueError, match="declares 360 Hz; fs= only"):
        layout_from_xml(_info("r", [("a", "ECG", "")]).as_xml(), fs=250.0)
    # an irregular RR stream is events at their times
    rr = _info("h10", [("RR", "RR", "seconds")], srate=pylsl.IRREGULAR_RATE).as_xml()
    (i,) = layout_from_xml(rr).infos
    assert (i.kind, i.nominal_fs, i.units) == ("rr", None, "s")


# ---------------------------------------------------------------------- resolving
def test_no_stream_found_is_a_clear_error():
    with pytest.raises(StreamNotFoundError, match=r"no LSL stream matches \"name='nobody-"
                                                  r".*within 0.3 s; visible streams"):
        LslDriver(f"nobody-{uuid.uuid4().hex}", resolve_timeout_s=0.3)
    with pytest.raises(ValueError, match="say which LSL stream"):
        LslDriver()
    with pytest.raises(ValueError, match="single quote"):
        LslDriver("o'neil")
    with pytest.raises(ValueError, match="clock="):
        LslDriver("x", clock="gps")
    for bad in (0, -2.0, float("nan"), True):  # refused before the network is searched
        with pytest.raises(ValueError, match=r"timeout_s=.* must be a positive finite number"):
            LslDriver("x", timeout_s=bad)


def test_resolves_by_name_and_type_and_refuses_ambiguity():
    name = _unique("twin")
    a = pylsl.StreamOutlet(_info(name, [("MLII", "ECG", "mV")]))
    drv = LslDriver(name, type="ECG", resolve_timeout_s=5.0)
    assert drv.stream_name == name and drv.source_id == f"src-{name}"
    assert [i.name for i in drv.streams()] == ["ecg"]
    drv.close()
    with pytest.raises(StreamNotFoundError):
        LslDriver(name, type="EEG", resolve_timeout_s=0.3)
    info_b = pylsl.StreamInfo(name, "ECG", 1, FS, "double64", "another-device")
    b = pylsl.StreamOutlet(info_b)
    with pytest.raises(ValueError, match=r"2 LSL streams match.*pass source_id"):
        LslDriver(name, resolve_timeout_s=2.0)
    one = LslDriver(name, source_id="another-device")
    assert one.source_id == "another-device"
    one.close()
    del a, b


# ---------------------------------------------------------------------- reading
def test_chunks_are_the_pushed_samples_and_a_dropped_block_is_a_gap(ecg):
    name = _unique("chunks")
    outlet = _outlet(name)
    x = ecg[: int(10 * FS)]
    drop = range(int(4 * FS), int(4 * FS) + 50)  # 50 samples never sent
    t_start = pylsl.local_clock() + 1000.0
    drv = LslDriver(name, duration_s=10.0, correction_interval_s=600)
    Pusher(outlet, x[:, None], t_start, block=25, drop=drop).start()
    got = list(drv.chunks())
    drv.close()
    tc = drv.time_correction_s
    assert abs(tc) < 1e-3  # same machine
    keep = np.setdiff1d(np.arange(x.size), np.asarray(drop))
    np.testing.assert_array_equal(np.concatenate([c.samples for c in got]), x[keep])
    # each chunk starts at its first sample's LSL time on this machine's clock
    starts = keep[np.cumsum([0] + [c.n for c in got[:-1]])]
    np.testing.assert_allclose([c.t0 for c in got], t_start + starts / FS + tc, rtol=0,
                               atol=1e-7)
    assert all(c.fs == FS for c in got)
    (g,) = drv.gaps
    assert g.samples == 50
    assert g.start == pytest.approx(t_start + 4.0 + tc, abs=1e-7)
    assert g.end == pytest.approx(t_start + 4.0 + 50 / FS + tc, abs=1e-7)
    seq = np.diff([c.seq for c in got])
    assert np.count_nonzero(seq == 2) == 1 and set(seq.tolist()) == {1, 2}


def test_live_session_beats_equal_batch_on_the_same_samples(ecg):
    name = _unique("session")
    outlet = _outlet(name)
    x = ecg[: int(40 * FS)]
    lost = range(int(15 * FS), int(15.3 * FS))  # 108 samples lost in transit
    t_start = pylsl.local_clock()
    drv = LslDriver(name, duration_s=40.0, correction_interval_s=600)
    s = Session(manager=_mgr(), step_s=5.0, metrics=["hr"])
    s.add_driver("ada", drv)
    Pusher(outlet, x[:, None], t_start, drop=lost).start()
    res = s.run()
    tc = drv.time_correction_s
    assert s.errors == []
    assert drv.gaps == [LslGap(pytest.approx(t_start + 15.0 + tc, abs=1e-7),
                               pytest.approx(t_start + 15.3 + tc, abs=1e-7), 108)]
    assert [(g.stream, g.samples, g.lost_packets) for g in s.gaps] == [("lsl/ecg", 108, 1)]
    holed = x.copy()
    holed[lost.start:lost.stop] = np.nan
    batch = detect_beats(holed, fs=FS)
    live = np.concatenate([r.beats["lsl/ecg"] for r in res])
    assert live.size == batch.times.size > 40
    np.testing.assert_allclose(live - (t_start + tc), batch.times, rtol=0, atol=1e-6)
    hr = np.array([r.values["hr.hr_bpm"] for r in res])
    assert np.nanmin(hr) > 60 and np.nanmax(hr) < 90  # record 100: ~75 bpm


def test_timestamps_going_backwards_are_never_placed_silently(ecg):
    x = ecg[: int(6 * FS)]
    t = pylsl.local_clock() + np.arange(x.size) / FS
    back = int(3 * FS) + 7
    t[back:] -= 1.0  # the source clock steps back by 1 s inside a pushed chunk

    def run(consume):
        name = _unique("backwards")
        outlet = _outlet(name)

        def push():
            outlet.wait_for_consumers(10.0)
            for a in range(0, x.size, 36):
                outlet.push_chunk(np.ascontiguousarray(x[a:a + 36, None]),
                                  timestamp=t[a:a + 36].tolist())

        drv = LslDriver(name, duration_s=6.0, timeout_s=2.0, correction_interval_s=600)
        threading.Thread(target=push, daemon=True).start()
        return drv, consume(drv)

    # every chunk's samples lie at t0 + i / fs: none spans the step back
    drv, got = run(lambda d: list(d.chunks()))
    first = np.cumsum([0] + [c.n for c in got[:-1]])
    assert back in first.tolist() and drv.gaps == []
    for c, i in zip(got, first, strict=True):
        np.testing.assert_allclose(c.t0 + np.arange(c.n) / FS, t[i:i + c.n]
                                   + drv.time_correction_s, rtol=0, atol=1e-6)
    # and a session refuses them, naming the stream

    def session(d):
        s = Session(manager=_mgr(), step_s=1.0, metrics=[])
        s.add_driver("ada", d)
        with pytest.raises(TimestampError, match=r"person 'ada', stream 'lsl/ecg'.*backwards"):
            s.run()

    run(session)


def test_driver_contract(ecg):
    name = _unique("contract")
    outlet = _outlet(name)
    pusher = Pusher(outlet, ecg[: int(30 * FS), None], pylsl.local_clock(), loop=True,
                    pause_s=0.01)
    pusher.start()
    try:
        check_driver(lambda: LslDriver(name, duration_s=2.0, poll_s=0.005), max_chunks=60,
                     timeout_s=5.0)
    finally:
        pusher.stop.set()


def test_time_correction_and_unix_clock(ecg):
    name = _unique("clock")
    outlet = _outlet(name)

    class Shifted(pylsl.StreamInlet):  # a source whose clock is 100 s behind ours
        def time_correction(self, timeout=pylsl.FOREVER):
            return super().time_correction(timeout) + 100.0

    t_start = pylsl.local_clock()
    drv = LslDriver(name, duration_s=0.5, inlet_factory=Shifted)
    Pusher(outlet, ecg[:180, None], t_start).start()
    got = list(drv.chunks())
    drv.close()
    assert 100.0 - 1e-3 < drv.time_correction_s < 100.0 + 1e-3
    assert got[0].t0 == pytest.approx(t_start + drv.time_correction_s, abs=1e-7)

    import time

    drv = LslDriver(name, duration_s=0.5, clock="unix")
    now_lsl, now_unix = pylsl.local_clock(), time.time()
    Pusher(outlet, ecg[:180, None], now_lsl).start()
    got = list(drv.chunks())
    drv.close()
    assert got[0].t0 == pytest.approx(now_unix, abs=0.05)


def test_irregular_rr_stream_is_events_with_their_times():
    name = _unique("rr")
    outlet = pylsl.StreamOutlet(_info(name, [("RR", "RR", "seconds")],
                                      srate=pylsl.IRREGULAR_RATE, stype="RR"))
    rr = np.array([0.81, 0.79, 0.80, 0.84, 0.77, 0.80])
    t = pylsl.local_clock() + np.cumsum(rr)
    # an event stream ends at its first value beyond duration_s (t[4] here)
    drv = LslDriver(name, duration_s=float(rr[1:4].sum()) + 0.01, correction_interval_s=600)
    (info,) = drv.streams()
    assert info.kind == "rr" and info.nominal_fs is None

    def push():
        outlet.wait_for_consumers(10.0)
        outlet.push_chunk(rr[:, None], timestamp=t.tolist())

    threading.Thread(target=push, daemon=True).start()
    got = list(drv.chunks())
    drv.close()
    np.testing.assert_array_equal(np.concatenate([c.samples for c in got]), rr[:4])
    np.testing.assert_allclose(np.concatenate([c.timestamps for c in got]),
                               t[:4] + drv.time_correction_s, rtol=0, atol=1e-7)
    assert drv.gaps == []


def test_waits_only_after_an_empty_pull(ecg):
    # a backlog is drained at full speed: after a pull with data the next pull follows at
    # once (the async loop yields for 0 s), after an empty pull it waits poll_s
    name = _unique("wait")
    outlet = _outlet(name)

    class Idle(pylsl.StreamInlet):  # every third pull finds nothing waiting
        calls = 0

        def pull_chunk(self, timeout=0.0, max_samples=1024, dest_obj=None):
            self.calls += 1
            if self.calls % 3 == 0:
                return [], []
            return super().pull_chunk(timeout=timeout, max_samples=max_samples)

    drv = LslDriver(name, duration_s=0.5, poll_s=0.01, max_chunk_s=0.05, inlet_factory=Idle)
    waits = []
    rule = drv._wait_s
    drv._wait_s = lambda got: waits.append((len(got), rule(got))) or waits[-1][1]
    Pusher(outlet, ecg[:180, None], pylsl.local_clock()).start()
    got = list(drv.chunks())
    drv.close()
    assert sum(c.n for c in got) == 180
    assert any(n for n, _ in waits) and any(not n for n, _ in waits)
    assert all(w == (0.0 if n else 0.01) for n, w in waits)


def test_silent_source_is_a_connection_error_and_close_is_idempotent():
    name = _unique("silent")
    outlet = _outlet(name)
    drv = LslDriver(name, timeout_s=0.3, poll_s=0.01)
    with pytest.raises(ConnectionError, match=rf"^LSL stream '{name}' sent no data for 0\.3 s "
                       r"\(timeout_s\): is the source still sending and the network up\?$"):
        list(drv.chunks())
    assert drv._inlet is None  # closed by the watchdog
    drv.close()
    quiet = LslDriver(name, timeout_s=None)  # None: no watchdog (the base class's)
    assert quiet.timeout_s is None
    quiet.close()
    drv.close()
    with pytest.raises(RuntimeError, match="closed"):
        list(drv.chunks())
    del outlet


def test_plugin_registers_driver_and_command(capsys):
    m = PluginManager(env={}).load()
    assert "lsl" in m.drivers and m.owner("drivers", "lsl") == "lsl"
    from somacore.cli import main

    name = _unique("listed")
    outlet = _outlet(name)
    assert main(["lsl-streams", "--wait", "0.5"]) == 0
    assert f"'{name}' (type 'ECG', 360 Hz, 1 channels" in capsys.readouterr().out
    del outlet
