"""Breaths in live sessions: streaming equals batch ``segment_breaths`` on real respiration."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pytest
from _records import DATA

from somacore.breath import segment_breaths
from somacore.drivers import ReplayDriver
from somacore.plugins import PluginManager
from somacore.plugins.types import Chunk, StreamInfo
from somacore.signals import Channel, Recording
from somacore.stream.session import Session, SessionError

MARSH = DATA / "resp" / "marsh"
FS = 250.0  # MARSH impedance pneumography
KEY = "dev/ip"


@lru_cache(maxsize=2)
def marsh_ip(rec: str, seconds: float) -> np.ndarray:
    from scipy.io import loadmat

    x = loadmat(MARSH / rec / "IP.mat")["IP"].ravel().astype(np.float64)[: int(seconds * FS)]
    x.flags.writeable = False
    return x


@pytest.fixture(scope="module")
def mgr() -> PluginManager:
    return PluginManager(env={}, entry_points=False).load()


class _Dev:
    name = "dev"

    def __init__(self, fs: float = FS) -> None:
        self.info = StreamInfo("ip", "resp", "au", fs)

    def streams(self) -> list[StreamInfo]:
        return [self.info]


def _push_random(s: Session, x: np.ndarray, seed: int, *, t0: float = 0.0,
                 drop: tuple[int, ...] = ()) -> list:
    """Push ``x`` in random chunks of 1-300 samples; chunks listed in ``drop`` are lost."""
    rng = np.random.default_rng(seed)
    out, i, seq = [], 0, 0
    while i < x.size:
        n = int(rng.integers(1, 301))
        if seq not in drop:
            out += s.push("ada", Chunk("ip", x[i:i + n], seq, t0=t0 + i / FS))
        i += n
        seq += 1
    return out + s.close()


def _check_rates(results, b, x, key="breath_rate") -> int:
    """Each window's breath rate against a plain mean over the batch breaths inside it.

    Intervals join consecutive batch ends of inspiration that both lie in the
    window and have no lost sample (NaN in ``x``) between them. Returns the number
    of windows with a rate.
    """
    peaks = b.peaks / FS
    checked = 0
    for r in results:
        a = r.end - r.windows[key]
        inside = np.flatnonzero((peaks >= a) & (peaks < r.end))
        ivs = [peaks[j] - peaks[j - 1] for j in inside[1:]
               if not np.isnan(x[b.peaks[j - 1]:b.peaks[j]]).any()]
        want = 60.0 / np.mean(ivs) if len(ivs) >= 2 else np.nan
        got = r.values[f"{key}.br_per_min"]
        assert r.values[f"{key}.n_breaths"] == inside.size
        if np.isnan(want):
            assert np.isnan(got), r.end
        else:
            checked += 1
            assert got == pytest.approx(want, rel=1e-9), r.end
    return checked


def _joined(results, key=KEY):
    return (np.concatenate([r.breaths[key] for r in results]),
            np.concatenate([r.breath_rates[key] for r in results]))


@pytest.mark.parametrize(("seed", "wait"), [(0, 5.0), (1, 20.0), (2, 1000.0), (3, 1000.0)])
def test_breaths_equal_batch_over_random_chunkings(mgr, seed, wait):
    x = marsh_ip("0005", 150.0)
    s = Session(manager=mgr, step_s=2.0, metrics=[], breaths={"sensor": "impedance"},
                breath_wait_s=wait)
    s.add_driver("ada", _Dev())
    res = _push_random(s, x, seed, t0=1000.0)
    batch = segment_breaths(x, fs=FS, sensor="impedance")
    assert len(batch) > 20
    t, rate = _joined(res)
    np.testing.assert_allclose(t, 1000.0 + batch.peaks / FS, rtol=0, atol=1e-9)
    np.testing.assert_allclose(rate, batch.rate, rtol=1e-12)
    assert s.stats["breaths"] == len(batch)
    # a breath is late when reported with a step after its own; otherwise it is in its step
    late = sum(int(np.count_nonzero(r.breaths[KEY] < r.start)) for r in res)
    assert all(np.all(r.breaths[KEY] < r.end) for r in res)
    assert s.stats["late_breaths"] == late
    if wait >= 1000.0:  # waiting for every decision: each breath lies in its own step
        assert late == 0
    else:  # the 30 s learning period cannot be waited out: its first breaths come late
        assert late > 0
    assert [r.end for r in res] == pytest.approx([1002.0 + 2.0 * k for k in range(75)])


def test_short_wait_bounds_how_long_steps_are_held(mgr):
    # while the segmenter learns (30 s) no breath is decided; the steps are held for
    # at most breath_wait_s, so results flow after ~wait seconds of data
    x = marsh_ip("0005", 150.0)
    emitted_at = {}
    for wait in (5.0, 1000.0):
        s = Session(manager=mgr, step_s=1.0, metrics=[], breath_wait_s=wait)
        s.add_driver("ada", _Dev())
        for k in range(0, int(25 * FS), 25):
            if s.push("ada", Chunk("ip", x[k:k + 25], k // 25, t0=k / FS)):
                emitted_at[wait] = (k + 25) / FS
                break
    assert emitted_at[5.0] == pytest.approx(6.0, abs=0.15)
    assert 1000.0 not in emitted_at  # nothing decided within 25 s: everything held


def test_dropped_packets_become_breath_gaps(mgr):
    x = marsh_ip("0005", 150.0)
    drop = (200, 201, 202, 203)
    s = Session(manager=mgr, step_s=5.0, metrics=["breath_rate"], breath_wait_s=1000.0)
    s.add_driver("ada", _Dev())
    rng = np.random.default_rng(7)
    res = _push_random(s, x, 7, drop=drop)
    # rebuild the same chunking to know which samples were lost
    holed = x.copy()
    i, seq = 0, 0
    while i < x.size:
        n = int(rng.integers(1, 301))
        if seq in drop:
            holed[i:i + n] = np.nan
        i += n
        seq += 1
    assert s.stats["gaps"] == 1 and s.stats["lost_samples"] == int(np.isnan(holed).sum())
    batch = segment_breaths(holed, fs=FS)
    assert batch.gaps.shape[0] >= 1
    t, rate = _joined(res)
    np.testing.assert_allclose(t, batch.peaks / FS, rtol=0, atol=1e-9)
    np.testing.assert_allclose(rate, batch.rate, rtol=1e-12)
    # the gap lies between two ends of inspiration, and no window's rate spans it
    assert np.isnan(holed[batch.peaks[20]:batch.peaks[21]]).any()
    assert _check_rates(res, batch, holed) > 15


def test_breath_rate_metric_against_batch(mgr):
    # with every decision waited for, each window sees every breath before its end; the
    # reference is the plain mean over consecutive batch breaths inside the window
    x = marsh_ip("0018", 150.0)
    s = Session(manager=mgr, step_s=5.0, metrics=["breath_rate"], breath_wait_s=1000.0)
    s.add_driver("ada", ReplayDriver(Recording((Channel(x, FS, "resp", "au", name="ip"),)),
                                     name="dev", chunk_s=0.3))
    res = s.run()
    b = segment_breaths(x, fs=FS)
    assert all(r.windows["breath_rate"] == 30.0 for r in res)
    assert _check_rates(res, b, x) > 20 and res[0].units["breath_rate.br_per_min"] == "1/min"


def test_breath_options_and_bad_input(mgr):
    s = Session(manager=mgr, metrics=[])
    with pytest.raises(SessionError, match=r"5 Hz.*breaths=False"):
        s.add_driver("ada", _Dev(fs=5.0))
    s = Session(manager=mgr, metrics=[], breaths={"sensr": "belt"})
    with pytest.raises(SessionError, match="BreathSegmenter keyword"):
        s.add_driver("ada", _Dev())
    with pytest.raises(ValueError, match="sensor must be one of"):
        Session(manager=mgr, breaths={"sensor": "nose"}).add_driver("ada", _Dev())
    with pytest.raises(ValueError, match="breaths="):
        Session(manager=mgr, breaths="yes")
    with pytest.raises(ValueError, match="breath_wait_s"):
        Session(manager=mgr, breath_wait_s=0)
    # breaths=False: a slow resp stream is fine and no breath is reported
    s = Session(manager=mgr, metrics=[], step_s=1.0, breaths=False)
    s.add_driver("ada", _Dev(fs=5.0))
    res = s.push("ada", Chunk("ip", np.sin(np.arange(50) / 5.0), 0, t0=0.0)) + s.close()
    assert res and all(r.breaths == {} for r in res)
