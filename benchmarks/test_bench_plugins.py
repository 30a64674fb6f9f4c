"""Plugins and live sessions: hook dispatch cost per chunk, and a 4-person live session.

- ``plugins-hook-dispatch``: cost of firing the per-chunk session hook
  (``somacore_session_chunk``) with 0, 1 and 4 observer plugins, per chunk.
- ``session-4p-1000Hz``: four people, one ECG stream each (real MIT-BIH ECG resampled to
  1000 Hz, a different 10 min stretch per person, 100 ms chunks), replayed as fast as possible
  through :class:`somacore.stream.session.Session` with the ``hr`` metric, 10 s windows every
  1 s. ``extra_info["realtime_factor"]`` = recorded seconds / wall seconds.

Respiration: ``somacore.stream.BreathSegmenter`` does not exist yet, so no respiration
channel is streamed (the test records that in ``extra_info`` and picks it up once it exists).
"""

from __future__ import annotations

import numpy as np
import pytest

from _data import ECG_FS_HI, mitdb_concat_1000
from somacore.drivers import ReplayDriver
from somacore.plugins import PluginManager, hookimpl
from somacore.plugins.types import Chunk, StreamInfo
from somacore.signals import Channel, Recording
from somacore.stream.session import Session

PEOPLE = 4
MINUTES = 10.0
CHUNK_S = 0.1


class _Observer:
    def __init__(self) -> None:
        self.n = 0

    @hookimpl
    def somacore_session_chunk(self, person, stream, chunk):
        self.n += 1


def _session_with_observers(k: int) -> tuple[Session, Chunk]:
    m = PluginManager(env={}, entry_points=False).load()
    for i in range(k):
        m.register(_Observer(), name=f"obs{i}")
    s = Session(manager=m, metrics=[])
    s._chunk_hooks = None
    info = StreamInfo("ecg", "ecg", "mV", ECG_FS_HI)
    chunk = Chunk("ecg", np.zeros(100), 0, t0=0.0)
    s._fire_chunk("p", info, chunk)  # resolve the hook callers once, as a session does
    return s, chunk


@pytest.mark.parametrize("observers", [0, 1, 4])
@pytest.mark.benchmark(group="plugins-hook-dispatch")
def test_hook_dispatch_per_chunk(benchmark, observers: int) -> None:
    """Seconds per chunk spent firing ``somacore_session_chunk``."""
    s, chunk = _session_with_observers(observers)
    info = StreamInfo("ecg", "ecg", "mV", ECG_FS_HI)
    benchmark(s._fire_chunk, "p", info, chunk)
    benchmark.extra_info["observers"] = observers
    assert s.errors == []


def _breath_segmenter_available() -> bool:
    import somacore.stream as st

    return hasattr(st, "BreathSegmenter")


@pytest.fixture(scope="module")
def people_ecg() -> list[np.ndarray]:
    x = mitdb_concat_1000()
    n = int(MINUTES * 60 * ECG_FS_HI)
    if x.size < PEOPLE * n:
        x = np.resize(x, PEOPLE * n)
    return [np.ascontiguousarray(x[k * n:(k + 1) * n]) for k in range(PEOPLE)]


def _run_session(people_ecg: list[np.ndarray]) -> Session:
    m = PluginManager(env={}, entry_points=False).load()
    s = Session(manager=m, step_s=1.0, window_s=10.0, metrics=["hr"])
    for k, x in enumerate(people_ecg):
        rec = Recording((Channel(x, ECG_FS_HI, "ecg", "mV", name="ecg"),))
        # each person's device clock is offset a little, as on separate hardware
        s.add_driver(f"p{k}", ReplayDriver(rec, chunk_s=CHUNK_S, time_offset=0.013 * k))
    s.run()
    return s


@pytest.mark.benchmark(group="session-4p-1000Hz")
def test_live_session_4_people(benchmark, people_ecg: list[np.ndarray]) -> None:
    """4 people x ECG 1000 Hz, replayed as fast as possible: real-time factor."""
    s = benchmark.pedantic(_run_session, args=(people_ecg,), rounds=3, iterations=1,
                           warmup_rounds=0)
    recorded_s = MINUTES * 60
    info = benchmark.extra_info
    info.update(people=PEOPLE, minutes=MINUTES, fs=ECG_FS_HI, chunk_s=CHUNK_S,
                chunks=s.stats["chunks"], respiration_channel=_breath_segmenter_available())
    stats = getattr(benchmark, "stats", None)
    if stats is not None:
        info["realtime_factor"] = recorded_s / stats.stats.median
        info["us_per_chunk"] = stats.stats.median / s.stats["chunks"] * 1e6
    assert s.errors == [] and s.stats["gaps"] == 0
    assert len(s.results) >= PEOPLE * (recorded_s - 1)
    hr = np.array([r.values["hr.hr_bpm"] for r in s.results[PEOPLE * 20:]])
    assert np.nanmedian(hr) > 40
