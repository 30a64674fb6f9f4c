"""The polar-h10 driver with a fake BLE client: chunks, clock, errors, contract, entry point."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from importlib.metadata import version

import numpy as np
import pytest
from polar_frames import HR_UUID, PMD_CTRL, PMD_DATA, FakeClient, FakeClock, hr_frame, pmd_ecg_frame
from somacore.plugins import PluginManager
from somacore.testing import DriverContract, check_driver

from somacore_polar import PolarH10Driver, ecg_start_command

FS = 130.0
N_FRAME = 73
DEV0_NS = 700_000_000 * 10**9  # sensor clock at the first sample


def _events(seconds: float = 20.0):
    """Interleaved HR and ECG notifications for ``seconds`` of recording, host time from 1000."""
    rng = np.random.default_rng(0)
    ecg = np.round(800 * np.sin(np.arange(int(seconds * FS)) / FS * 2 * np.pi * 1.2)
                   + rng.normal(0, 20, int(seconds * FS))).astype(int)
    events = []
    for k in range(ecg.size // N_FRAME):
        last = (k + 1) * N_FRAME - 1
        host = 1000.0 + last / FS + 0.03 + 0.01 * rng.random()  # BLE latency and jitter
        events.append((host, PMD_DATA, pmd_ecg_frame(DEV0_NS + round(last / FS * 1e9),
                                                     ecg[k * N_FRAME:(k + 1) * N_FRAME])))
    rr, beats, t = [], [], 0.4
    while t < seconds:
        r = int(rng.integers(780, 900))
        t += r / 1024
        rr.append(r)
        beats.append(t)
    done = 0
    for s in range(1, int(seconds) + 1):  # one notification per second with the new RRs
        new = [r for r, b in zip(rr, beats, strict=True) if s - 1 < b <= s]
        events.append((1000.0 + s + 0.02, HR_UUID, hr_frame(72, new, contact=True)))
        done += len(new)
    events.sort(key=lambda e: e[0])
    return events, ecg[: (ecg.size // N_FRAME) * N_FRAME], np.array(rr[:done]) / 1024


def _driver(events, clock=None, **kw):
    clock = clock or FakeClock()
    made = []
    fake_kw = {k: kw.pop(k) for k in ("drop_at_end",) if k in kw}

    def factory(address, disconnected):
        c = FakeClient(address, disconnected, events, clock, **fake_kw)
        made.append(c)
        return c

    d = PolarH10Driver("AA:BB:CC:DD:EE:FF", client_factory=factory, clock=clock, **kw)
    return d, made


def test_streams_and_chunks():
    events, ecg, rr = _events()
    d, made = _driver(events, duration_s=60.0, timeout_s=0.5)
    assert [(s.name, s.kind, s.units, s.nominal_fs) for s in d.streams()] == [
        ("rr", "rr", "s", None), ("ecg", "ecg", "uV", 130.0)]
    got = {"rr": [], "ecg": []}
    with pytest.raises(ConnectionError, match="no notification"):
        for ch in d.chunks():  # the fake goes silent after 20 s: a stall is a broken link
            got[ch.stream].append(ch)
    client = made[0]
    assert client.written == [(PMD_CTRL, ecg_start_command(), True)]
    assert client.disconnect_calls == 1
    # every ECG sample once, in order, in uV
    np.testing.assert_array_equal(np.concatenate([c.samples for c in got["ecg"]]), ecg)
    assert [c.seq for c in got["ecg"]] == list(range(1, len(got["ecg"]) + 1))
    # sample times follow the sensor clock: frames abut exactly, whatever the BLE jitter
    t0s = np.array([c.t0 for c in got["ecg"]])
    np.testing.assert_allclose(np.diff(t0s), N_FRAME / FS, atol=1e-6)
    assert all(c.fs == FS for c in got["ecg"])
    # RR intervals in seconds; beat times advance by exactly the intervals
    vals = np.concatenate([c.samples for c in got["rr"]])
    np.testing.assert_allclose(vals, rr)
    times = np.concatenate([c.timestamps for c in got["rr"]])
    np.testing.assert_allclose(np.diff(times), rr[1:], atol=1e-9)


def test_duration_ends_cleanly():
    events, _, _ = _events()
    d, made = _driver(events, duration_s=5.0)
    chunks = list(d.chunks())
    assert chunks and max(c.t0 for c in chunks) - min(c.t0 for c in chunks) < 5.0
    assert made[0].disconnect_calls == 1


def test_ecg_off_writes_nothing():
    events, _, _ = _events(6.0)
    clock = FakeClock()

    def factory(address, disconnected):
        c = FakeClient(address, disconnected, events, clock, wait_for_ecg=False)
        made.append(c)
        return c

    made = []
    d = PolarH10Driver("x", ecg=False, duration_s=3.0, client_factory=factory, clock=clock)
    assert [s.name for s in d.streams()] == ["rr"]
    chunks = list(d.chunks())
    assert {c.stream for c in chunks} == {"rr"} and made[0].written == []


def test_unrequested_disconnect_raises():
    events, _, _ = _events(4.0)
    d, _ = _driver(events, drop_at_end=True)
    with pytest.raises(ConnectionError, match="disconnected"):
        list(d.chunks())


def test_close_ends_iteration():
    events, _, _ = _events(10.0)
    d, made = _driver(events)
    n = 0
    for _ in d.chunks():
        n += 1
        if n == 3:
            d.close()
            d.close()
    assert n == 3 or n == 4  # ends at the next notification
    assert made[0].disconnect_calls == 1


def test_achunks():
    events, _, _ = _events(5.0)
    d, _ = _driver(events, duration_s=3.0)

    async def collect():
        return [c async for c in d.achunks()]

    chunks = asyncio.run(collect())
    assert {c.stream for c in chunks} == {"rr", "ecg"}


def test_rr_anchor_resets_after_a_loss():
    events, _, _ = _events(20.0)
    # drop the HR notifications between 5 and 12 s: beats were missed
    kept = [e for e in events if not (e[1] == HR_UUID and 1005 < e[0] < 1012)]
    d, _ = _driver(kept, duration_s=19.0)
    times = np.concatenate([c.timestamps for c in d.chunks() if c.stream == "rr"])
    assert np.all(np.diff(times) > 0)
    assert times.max() == pytest.approx(1019.0, abs=1.5)  # back on the host clock


class TestPolarDriverContract(DriverContract):
    def make_driver(self):
        events, _, _ = _events(8.0)
        return _driver(events, duration_s=6.0)[0]


def test_entry_point_and_lazy_bleak():
    m = PluginManager(env={"SOMACORE_PLUGINS": "polar"}).load()
    assert m.errors == []
    entry = m.get_driver("polar-h10")
    assert m.owner("drivers", "polar-h10") == "polar"
    events, _, _ = _events(6.0)
    clock = FakeClock()
    drv = entry(address="x", duration_s=4.0, clock=clock,
                client_factory=lambda a, cb: FakeClient(a, cb, events, clock))
    check_driver(drv, check_async=False)
    info = {i.name: i for i in m.list_plugins()}["polar"]
    assert (info.distribution, info.version) == ("somacore-polar", version("somacore-polar"))
    code = "import sys, somacore_polar.plugin, somacore_polar; print('bleak' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"
