"""BrainFlowDriver on BrainFlow's synthetic board (no hardware), its playback board, and a
lossy board serving recorded synthetic data with packets removed."""

from __future__ import annotations

import time

import numpy as np
import pytest
from brainflow.board_shim import BoardShim, BrainFlowInputParams
from brainflow.data_filter import DataFilter
from somacore.plugins import PluginManager
from somacore.stream.session import Session
from somacore.testing import check_driver

from somacore_brainflow import BrainFlowDriver, streams_for_board

SYNTH = -1
FS = 250.0  # the synthetic board's declared rate (checked below against its description)


@pytest.fixture(scope="module", autouse=True)
def _quiet():
    BoardShim.disable_board_logger()  # BrainFlow logs every session start to stderr
    yield
    BoardShim.enable_board_logger()


@pytest.fixture(scope="module")
def recorded() -> np.ndarray:
    """1.2 s of the real synthetic board's output, all 32 rows."""
    b = BoardShim(SYNTH, BrainFlowInputParams())
    b.prepare_session()
    b.start_stream()
    time.sleep(1.2)
    d = b.get_board_data()
    b.stop_stream()
    b.release_session()
    assert d.shape[1] >= 250
    return d


def _mgr():
    return PluginManager(env={}, entry_points=False).load()


def test_streams_follow_the_board_description():
    descr = BoardShim.get_board_descr(SYNTH)
    infos, rows, _ = streams_for_board(SYNTH, kinds=("ecg", "ppg", "acc"),
                                       rows={"resp": ("resp", "au", [14])})
    by = {i.name: (i, r) for i, r in zip(infos, rows, strict=True)}
    assert descr["sampling_rate"] == FS
    assert all(i.nominal_fs == FS for i in infos)
    assert by["ecg"][1] == descr["ecg_channels"] and by["ecg"][0].channels == 16
    assert by["ecg"][0].units == "uV" and by["ppg"][1] == descr["ppg_channels"]
    assert by["acc"][1] == descr["accel_channels"] and by["acc"][0].kind == "acc"
    assert by["resp"][0].kind == "resp" and by["resp"][1] == [14]
    with pytest.raises(ValueError, match="kind 'ekg' has no BrainFlow rows"):
        streams_for_board(SYNTH, kinds=("ekg",))
    with pytest.raises(ValueError, match=r"rows\['resp'\]: board rows \[99\] outside 0..31"):
        streams_for_board(SYNTH, kinds=(), rows={"resp": ("resp", "au", [99])})
    with pytest.raises(ValueError, match="board id 12345"):
        BrainFlowDriver(12345)
    with pytest.raises(ValueError, match=r"needs params=.*master_board"):
        BrainFlowDriver(-3)
    with pytest.raises(ValueError, match="preset="):
        BrainFlowDriver(SYNTH, preset="main")


def test_driver_contract_on_the_synthetic_board():
    check_driver(lambda: BrainFlowDriver(SYNTH, duration_s=0.4, poll_s=0.02), max_chunks=50)


def test_chunks_are_the_board_data_on_the_board_clock():
    seen = []

    class Recording(BoardShim):  # the real synthetic board, remembering what it returned
        def get_board_data(self, num_samples=None, preset=0):
            d = super().get_board_data(num_samples, preset)
            seen.append(d)
            return d

    drv = BrainFlowDriver(SYNTH, kinds=("ecg", "ppg", "eda"), duration_s=1.0,
                          shim_factory=Recording)
    s = Session(manager=_mgr(), step_s=0.5, metrics=[])
    s.add_driver("ada", drv)
    res = s.run()
    raw = np.concatenate(seen, axis=1)
    n = int(FS * 1.0)
    assert s.errors == [] and s.gaps == [] and drv.gaps == []
    assert s.stats["samples"] == 3 * n  # three streams, exactly duration_s of samples
    assert [r.end for r in res][-1] == pytest.approx(res[0].end + 0.5 * (len(res) - 1))
    # the values are the board rows, untouched, and time runs on the sample clock
    assert np.all(np.diff(raw[0]) % 256 == 1)  # the board lost nothing
    drv2 = BrainFlowDriver(SYNTH, kinds=("ecg",), duration_s=1.0, shim_factory=Recording)
    seen.clear()
    got = list(drv2.chunks())
    drv2.close()
    raw = np.concatenate(seen, axis=1)
    x = np.concatenate([c.samples for c in got])
    np.testing.assert_array_equal(x, raw[BoardShim.get_ecg_channels(SYNTH)].T[:n])
    t0 = np.array([c.t0 for c in got])
    i0 = np.cumsum([0] + [c.n for c in got[:-1]])
    np.testing.assert_allclose(t0, raw[30, 0] + i0 / FS, rtol=0, atol=1e-9)
    assert [c.seq for c in got] == list(range(len(got)))
    # host stamps stay within a few sample periods of the board clock
    assert abs(drv2.clock_offset_s) < 0.2


class LossyBoard:
    """A board serving given columns (BrainFlow's layout) in given read sizes."""

    def __init__(self, data: np.ndarray, reads: list[int]) -> None:
        self.data, self.reads, self.pos = data, list(reads), 0
        self.calls: list[str] = []

    def prepare_session(self):
        self.calls.append("prepare")

    def start_stream(self):
        self.calls.append("start")

    def get_board_data(self, num_samples=None, preset=0):
        n = self.reads.pop(0) if self.reads else 0
        out = self.data[:, self.pos:self.pos + n]
        self.pos += out.shape[1]
        return out

    def stop_stream(self):
        self.calls.append("stop")

    def release_session(self):
        self.calls.append("release")


def _lossy_data(recorded: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """``n`` columns with the real board's values, counter mod 256 and bursty host stamps."""
    reps = -(-n // recorded.shape[1])
    d = np.tile(recorded, reps)[:, :n].copy()
    d[0] = np.arange(n) % 256
    rng = np.random.default_rng(seed)
    burst = np.arange(n) // 10 * 10 + 9  # stamped on arrival, 10 samples per packet
    d[30] = 1.7e9 + burst / FS + rng.uniform(0, 0.004, n)
    return d


def test_lost_packets_become_recorded_gaps_never_joined(recorded):
    full = _lossy_data(recorded, 1000)
    lost_a = np.arange(100, 150)  # 50 samples, within one counter wrap
    lost_b = np.arange(400, 700)  # 300 samples: more than a wrap (256)
    dup = 800  # a sample delivered twice
    keep = np.setdiff1d(np.arange(1000), np.concatenate([lost_a, lost_b]))
    served = full[:, np.sort(np.concatenate([keep, [dup]]))]
    reads = [100, 37, 1, 250, 60, 500]  # one loss falls exactly between two reads
    board = LossyBoard(served, reads)
    drv = BrainFlowDriver(SYNTH, kinds=("ecg", "ppg"), timeout_s=0.2, poll_s=0.001,
                          shim_factory=lambda bid, ip: board)
    s = Session(manager=_mgr(), step_s=1.0, metrics=[], on_driver_error="raise")
    s.add_driver("ada", drv)
    with pytest.warns(UserWarning, match="sent no data"):  # the board then goes silent
        s.run()
    anchor = full[30, 0]  # the first sample's host stamp starts the sample clock
    assert [(g.samples, g.start - anchor, g.end - anchor) for g in drv.gaps] == [
        (50, pytest.approx(100 / FS), pytest.approx(150 / FS)),
        (300, pytest.approx(400 / FS), pytest.approx(700 / FS))]
    assert drv.duplicates == 1
    assert sorted((g.stream, g.samples, g.lost_packets) for g in s.gaps) == [
        ("brainflow/ecg", 50, 1), ("brainflow/ecg", 300, 1),
        ("brainflow/ppg", 50, 1), ("brainflow/ppg", 300, 1)]
    assert board.calls == ["prepare", "start", "stop", "release"]


def test_lost_packets_chunk_by_chunk(recorded):
    # the same losses seen from the chunks: values of the kept samples, times of lost ones
    full = _lossy_data(recorded, 1000, seed=1)
    keep = np.setdiff1d(np.arange(1000), np.concatenate([np.arange(100, 150),
                                                         np.arange(400, 700)]))
    board = LossyBoard(full[:, keep], [100, 37, 1, 250, 60, 500])
    drv = BrainFlowDriver(SYNTH, kinds=("ecg",), timeout_s=0.1, poll_s=0.001,
                          shim_factory=lambda bid, ip: board)
    got = []
    with pytest.raises(ConnectionError, match=r"^BrainFlow board '.+' sent no data for 0\.1 s "
                       r"\(timeout_s\): is the board on and streaming\?$"):
        for c in drv.chunks():
            got.append(c)
    assert board.calls == ["prepare", "start", "stop", "release"]  # released by the watchdog
    drv.close()
    ecg_rows = BoardShim.get_ecg_channels(SYNTH)
    np.testing.assert_array_equal(np.concatenate([c.samples for c in got]),
                                  full[ecg_rows][:, keep].T)
    t0 = got[0].t0
    # every chunk's start is the sample clock of its first (original) sample
    starts = np.cumsum([0] + [c.n for c in got[:-1]])
    orig = keep[starts]
    np.testing.assert_allclose([c.t0 for c in got], t0 + orig / FS, rtol=0, atol=1e-9)
    seq = [c.seq for c in got]
    assert np.count_nonzero(np.diff(seq) == 2) == 2 and set(np.diff(seq)) == {1, 2}


def test_waits_poll_s_after_every_read(recorded):
    # each read empties the board's buffer, so the driver waits after data too
    board = LossyBoard(_lossy_data(recorded, 300), [100, 0, 37, 0, 0, 163])
    drv = BrainFlowDriver(SYNTH, kinds=("ecg",), timeout_s=0.05, poll_s=0.002,
                          shim_factory=lambda bid, ip: board)
    waits = []
    rule = drv._wait_s
    drv._wait_s = lambda got: waits.append((len(got), rule(got))) or waits[-1][1]
    with pytest.raises(ConnectionError, match="sent no data"):
        list(drv.chunks())
    drv.close()
    assert [n for n, _ in waits[:6]] == [1, 0, 1, 0, 0, 1]  # one ecg chunk per data read
    assert all(w == 0.002 for _, w in waits)


def test_playback_board_is_the_replay_twin(recorded, tmp_path):
    f = tmp_path / "synthetic.csv"
    DataFilter.write_file(recorded, str(f), "w")
    drv = BrainFlowDriver(-3, params={"master_board": SYNTH, "file": str(f)},
                          kinds=("ecg", "ppg"), timeout_s=0.3)
    got = {"ecg": [], "ppg": []}
    for c in drv.chunks():  # ends cleanly when the file has been played
        got[c.stream].append(c.samples)
    drv.close()
    assert drv.gaps == []
    for kind, rows in (("ecg", BoardShim.get_ecg_channels(SYNTH)),
                       ("ppg", BoardShim.get_ppg_channels(SYNTH))):
        x = np.concatenate(got[kind])
        assert x.shape == (recorded.shape[1], len(rows))
        np.testing.assert_allclose(x, recorded[rows].T, rtol=0, atol=1e-6)  # 6 decimals


def test_start_failure_and_bad_params():
    with pytest.raises(ConnectionError, match=r"could not start: .*check params"):
        list(BrainFlowDriver(0).chunks())  # OpenBCI Cyton: no serial port given
    with pytest.raises(ValueError, match="unknown BrainFlowInputParams field 'port'"):
        list(BrainFlowDriver(SYNTH, params={"port": "x"}).chunks())
    drv = BrainFlowDriver(SYNTH, duration_s=0.1)
    drv.close()
    drv.close()
    with pytest.raises(RuntimeError, match="closed"):
        list(drv.chunks())


def test_timeout_s_is_checked_and_none_turns_the_watchdog_off(recorded, tmp_path):
    for bad in (0, -1.0, float("inf"), True):
        with pytest.raises(ValueError, match=r"timeout_s=.* must be a positive finite number"):
            BrainFlowDriver(SYNTH, timeout_s=bad)
    f = tmp_path / "synthetic.csv"
    DataFilter.write_file(recorded, str(f), "w")
    with pytest.raises(ValueError, match=r"playback board \(-3\) ends when .* timeout_s a number"):
        BrainFlowDriver(-3, params={"master_board": SYNTH, "file": str(f)}, timeout_s=None)
    # 50 empty reads 2 ms apart: at least 0.1 s of silence, then the data resumes (its last
    # read holds one sample beyond duration_s, so the driver then ends cleanly)
    def run(timeout_s):
        board = LossyBoard(_lossy_data(recorded, 101), [50] + [0] * 50 + [51])
        drv = BrainFlowDriver(SYNTH, kinds=("ecg",), timeout_s=timeout_s, poll_s=0.002,
                              duration_s=100 / FS, shim_factory=lambda bid, ip: board)
        try:
            return sum(c.n for c in drv.chunks())
        finally:
            drv.close()

    with pytest.raises(ConnectionError, match=r"sent no data for 0\.01 s"):
        run(0.01)
    assert run(None) == 100  # no watchdog: the silence is waited out


def test_plugin_registers_the_driver():
    m = PluginManager(env={}).load()
    assert "brainflow" in m.drivers
