"""``somacore.batch`` on copies of real records: executors agree, faults lose nothing."""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import json
import os
import shutil
import signal
import threading
from pathlib import Path

import numpy as np
import pytest
from _records import write_csv

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

import somacore.batch as batch  # noqa: E402
from somacore.analysis import PersonInput, analyze_session, resolve_config, write_outputs  # noqa: E402
from somacore.batch.worker import session_dir  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
#: fewer surrogates keep the dyads fast; the tables are otherwise the defaults'
CONFIG = {"synchrony": {"n_surrogates": 20}}
SESSION_TABLES = ("beats", "breaths", "series", "windows", "episodes")




def _wfdb_excerpt(rec: str, seconds: float, dest: Path, start_s: float = 0.0) -> Path:
    """An excerpt of an MIT-BIH record re-written as a WFDB record (wfdb: a test dependency)."""
    wfdb = pytest.importorskip("wfdb")
    r = wfdb.rdrecord(str(DATA / "ecg" / "mitdb" / rec), sampfrom=int(start_s * 360),
                      sampto=int((start_s + seconds) * 360), physical=False)
    wfdb.wrsamp(rec, fs=r.fs, units=r.units, sig_name=r.sig_name, d_signal=r.d_signal,
                fmt=r.fmt, adc_gain=r.adc_gain, baseline=r.baseline, write_dir=str(dest))
    return dest / f"{rec}.hea"


def _manifest(path: Path, rows: list[tuple]) -> Path:
    with open(path, "w") as fh:
        fh.write("session,person,file,channels,site\n")
        for r in rows:
            fh.write(",".join(str(v) for v in r) + "\n")
    return path


@pytest.fixture(scope="module")
def records(tmp_path_factory) -> Path:
    """Real records: MIT-BIH 100/101/118 (60-90 s WFDB excerpts), MARSH 0005 impedance (90 s)."""
    from scipy.io import loadmat

    d = tmp_path_factory.mktemp("records")
    for rec in ("100", "101"):
        _wfdb_excerpt(rec, 90.0, d)
    _wfdb_excerpt("118", 60.0, d)
    ip = loadmat(DATA / "resp" / "marsh" / "0005" / "IP.mat")["IP"].ravel().astype(np.float64)
    write_csv(d / "marsh0005.csv", {"resp.ip_au": ip[:250 * 90]}, 250.0)
    _manifest(d / "manifest.csv", [
        ("m100", "p100", "100.hea", "MLII", "boston"),
        ("m101", "p101", "101.hea", "MLII", "boston"),
        ("m118", "p118", "118.hea", "", "boston"),
        ("marsh5", "s5", "marsh0005.csv", "", "leeds"),
        ("dyad", "A", "100.hea", "MLII", "boston"),
        ("dyad", "B", "101.hea", "MLII", "boston"),
    ])
    return d


@pytest.fixture(scope="module")
def dask_client():
    distributed = pytest.importorskip("distributed")
    # ":0": its HTTP server on a free port, leaving 8787 to the cluster under test
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as client:
        yield client


@pytest.fixture(scope="module")
def reference(records, tmp_path_factory) -> Path:
    """Every session analysed alone, through the same calls as ``somacore analyze``."""
    man = batch.load_manifest(records / "manifest.csv")
    cfg = resolve_config(overrides=[("synchrony.n_surrogates", 20),
                                    ("tables.format", "parquet")])
    base = tmp_path_factory.mktemp("alone")
    for sid, rows in man.sessions.items():
        people = [PersonInput(r.person, r.file, r.channels, r.label) for r in rows]
        write_outputs(analyze_session(people, cfg), base / sid, report=False)
    return base


def _bytes(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.parquet"))}


def _assert_same_as_reference(out: Path, reference: Path, sessions) -> None:
    for sid in sessions:
        got = _bytes(session_dir(out, sid))
        want = _bytes(reference / sid)
        assert set(want) <= set(got), sid
        assert {k: got[k] for k in want} == want, sid
        assert any(k.startswith("beats") or k.startswith("breaths") for k in want)


def _assert_summary_matches_people_files(out: Path) -> None:
    """Each finished person's row of summary.parquet carries its people.parquet row."""
    n = 0
    for row in batch.read_summary(out).to_pylist():
        if row["status"] != "done":
            continue
        people = pq.read_table(session_dir(out, row["session"]) / "people.parquet").to_pylist()
        want = next(r for r in people if r["person"] == row["person"])
        got = {k: row[k] for k in want}
        assert got.keys() == want.keys()
        for k, v in want.items():
            assert got[k] == v or (v != v and got[k] != got[k]), (row["session"], k)
        n += 1
    assert n > 0


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ------------------------------------------------------------------ executors agree
def test_pool_and_dask_give_identical_outputs_equal_to_alone(records, reference, dask_client,
                                                             tmp_path):
    a = batch.run(records / "manifest.csv", out=tmp_path / "pool", workers=2, config=CONFIG)
    b = batch.run(records / "manifest.csv", out=tmp_path / "dask", executor=dask_client,
                  config=CONFIG)
    sessions = ["m100", "m101", "m118", "marsh5", "dyad"]
    for res in (a, b):
        assert (res.n_done, res.n_failed, res.n_skipped) == (5, 0, 0)
        assert sorted(res.sessions) == sorted(sessions)
    for sid in sessions:
        pa_, pb = session_dir(a.out, sid), session_dir(b.out, sid)
        assert _bytes(pa_) == _bytes(pb) and len(_bytes(pa_)) >= 4
    _assert_same_as_reference(a.out, reference, sessions)
    # the dyad has synchrony windows, the resp-only session breaths and no beats
    w = batch.read_table(a.out, "windows")
    assert set(w["session"].to_pylist()) == {"dyad"} and w.num_rows > 10
    assert "marsh5" in set(batch.read_table(a.out, "breaths")["session"].to_pylist())
    # run manifest: status, version, parameters, checksums of every input file
    rm = json.loads((a.out / batch.RUN_MANIFEST).read_text())
    assert rm["finished"] and rm["counts"]["done"] == 5
    assert rm["parameters"]["synchrony"]["n_surrogates"] == 20
    rec = rm["sessions"]["m100"]
    assert rec["status"] == "done" and rec["software"]["version"]
    assert rec["params_hash"] == batch.params_hash(rm["parameters"])
    sums = {Path(i["path"]).name: i["sha256"] for i in rec["inputs"]}
    assert sums == {"100.dat": _sha256(records / "100.dat"),
                    "100.hea": _sha256(records / "100.hea")}
    # the summary: one row per (session, person), manifest metadata included
    s = batch.read_summary(a.out).to_pylist()
    assert [(r["session"], r["person"]) for r in s] == [
        ("m100", "p100"), ("m101", "p101"), ("m118", "p118"), ("marsh5", "s5"),
        ("dyad", "A"), ("dyad", "B")]
    assert s[0]["site"] == "boston" and s[0]["heart_n_beats"] > 50
    assert s[3]["breathing_n_breaths"] > 10 and s[3]["heart_n_beats"] is None
    assert batch.read_summary(b.out).to_pylist()[0]["heart_n_beats"] == s[0]["heart_n_beats"]
    _assert_summary_matches_people_files(a.out)
    _assert_summary_matches_people_files(b.out)
    assert "people_rows" not in rec              # kept out of the run manifest
    # nothing temporary left behind
    assert sorted(p.name for p in a.out.iterdir()) == ["run_manifest.json", "sessions",
                                                       "summary.parquet"]


def test_local_cluster_settings_reach_the_workers(records, tmp_path):
    """`--scheduler local`: the trimmed Dask settings hold inside the worker processes."""
    pytest.importorskip("distributed")
    import dask
    from distributed import Client

    from somacore.batch.executors import LOCAL_CLUSTER_CONFIG, local_cluster, warm_up

    def settings():
        import os

        return ({k: dask.config.get(k) for k in LOCAL_CLUSTER_CONFIG
                 if not k.startswith("distributed.nanny")},
                os.environ.get("MALLOC_TRIM_THRESHOLD_"))

    with local_cluster(1) as cluster, Client(cluster) as client:
        assert warm_up(client) > 0
        (got, trim), = client.run(settings).values()
        res = batch.run([{"session": "m118", "person": "p118", "file": str(records / "118.hea")}],
                        out=tmp_path / "out", executor=client, config=CONFIG)
    assert got == {"distributed.worker.profile.enabled": False,
                   "distributed.admin.tick.interval": "1s",
                   "distributed.admin.system-monitor.interval": "2s",
                   "distributed.worker.memory.monitor-interval": "500ms"}
    assert trim == os.environ.get("MALLOC_TRIM_THRESHOLD_")     # Dask's 64 KiB not imposed
    assert res.n_done == 1


# ------------------------------------------------------------------ faults
def test_corrupt_file_is_reported_and_never_stops_the_others(records, reference, tmp_path):
    d = tmp_path / "rec"
    shutil.copytree(records, d)
    (d / "101.dat").write_bytes((d / "101.dat").read_bytes()[:999])     # truncated signal
    (d / "garbage.csv").write_text("not,a\nrecording\n")
    man = _manifest(d / "m.csv", [
        ("m100", "p100", "100.hea", "MLII", "x"),
        ("m101", "p101", "101.hea", "MLII", "x"),
        ("junk", "j", "garbage.csv", "", "x"),
        ("marsh5", "s5", "marsh0005.csv", "", "x"),
    ])
    with cf.ThreadPoolExecutor(2) as ex:
        res = batch.run(man, out=tmp_path / "out", executor=ex, config=CONFIG)
    assert (res.n_done, res.n_failed) == (2, 2)
    assert set(res.failed) == {"m101", "junk"}
    assert "101" in res.failed["m101"] and "garbage.csv" in res.failed["junk"]
    assert not session_dir(res.out, "m101").exists()
    _assert_same_as_reference(res.out, reference, ["m100", "marsh5"])
    s = batch.read_summary(res.out).to_pylist()
    assert [r["status"] for r in s] == ["done", "failed", "failed", "done"]
    assert s[1]["error"] and s[1]["heart_n_beats"] is None
    # fixing the file and running again retries only the failed sessions
    shutil.copy(records / "101.dat", d / "101.dat")
    with cf.ThreadPoolExecutor(2) as ex:
        res = batch.run(man, out=tmp_path / "out", executor=ex, config=CONFIG)
    assert (res.n_done, res.n_failed, res.n_skipped) == (3, 1, 2)
    assert res.sessions["m101"]["attempts"] == 2
    _assert_same_as_reference(res.out, reference, ["m101"])


def test_interrupted_run_resumes_without_loss_or_duplicates(records, reference, tmp_path):
    out = tmp_path / "out"
    seen = []

    def stop_after_two(prog):
        seen.append(prog.last["session"])
        if prog.done == 2:
            raise KeyboardInterrupt

    with cf.ThreadPoolExecutor(1) as ex, pytest.raises(KeyboardInterrupt):
        batch.run(records / "manifest.csv", out=out, executor=ex, config=CONFIG,
                  progress=stop_after_two)
    rm = json.loads((out / batch.RUN_MANIFEST).read_text())
    assert not rm["finished"] and rm["counts"]["done"] == 2
    finished = {s for s, r in rm["sessions"].items() if r["status"] == "done"}
    assert finished == set(seen[:2])
    # a crash while writing left a temporary folder, and the run manifest was lost
    (out / ".tmp-m118-deadbeef").mkdir()
    (out / ".tmp-m118-deadbeef" / "beats.parquet").write_bytes(b"partial")
    (out / batch.RUN_MANIFEST).unlink()
    with cf.ThreadPoolExecutor(2) as ex:
        res = batch.run(records / "manifest.csv", out=out, executor=ex, config=CONFIG)
    # sessions already running when the run stopped finish (atomically) on the executor
    reused = {s for s, r in res.sessions.items() if r.get("reused")}
    assert finished <= reused and len(reused) < 5
    assert (res.n_done, res.n_failed, res.n_skipped) == (5, 0, len(reused))
    assert not list(out.glob(".tmp-*"))
    assert sorted(p.name for p in (out / "sessions").iterdir()) == sorted(
        f"session={s}" for s in ("m100", "m101", "m118", "marsh5", "dyad"))
    _assert_same_as_reference(out, reference, ["m100", "m101", "m118", "marsh5", "dyad"])
    rows = batch.read_summary(out).to_pylist()
    assert len(rows) == 6 and len({(r["session"], r["person"]) for r in rows}) == 6
    _assert_summary_matches_people_files(out)        # reused sessions' rows from _run.json
    assert batch.read_table(out, "beats").num_rows == sum(
        pq.read_table(reference / s / "beats.parquet").num_rows
        for s in ("m100", "m101", "m118", "dyad"))


def test_skip_by_checksum_and_parameters(records, tmp_path):
    d = tmp_path / "rec"
    shutil.copytree(records, d)
    man = d / "manifest.csv"
    out = tmp_path / "out"
    with cf.ThreadPoolExecutor(2) as ex:
        batch.run(man, out=out, executor=ex, config=CONFIG)
        # same bytes, new modification time: still finished
        os.utime(d / "118.dat", ns=(1, 1))
        res = batch.run(man, out=out, executor=ex, config=CONFIG)
        assert res.n_skipped == 5
        # new bytes: that session, and only it, again
        raw = bytearray((d / "marsh0005.csv").read_bytes())
        (d / "marsh0005.csv").write_bytes(bytes(raw) + b"0.5\n")
        res = batch.run(man, out=out, executor=ex, config=CONFIG)
        assert res.n_skipped == 4 and not res.sessions["marsh5"].get("reused")
        # other parameters: everything again
        res = batch.run(man, out=out, executor=ex,
                        config={"synchrony": {"n_surrogates": 20}, "arousal": {"k": 2.5}})
        assert res.n_skipped == 0 and res.n_done == 5


def test_new_somacore_or_reader_plugin_version_analyses_again(records, tmp_path, monkeypatch):
    import dataclasses

    import somacore
    from somacore.plugins.manager import PluginInfo, PluginManager

    man = _manifest(tmp_path / "m.csv", [("m118", "p", str(records / "118.hea"), "", "x"),
                                         ("marsh5", "s5", str(records / "marsh0005.csv"), "",
                                          "x")])
    out = tmp_path / "out"
    real_plugins = PluginManager.list_plugins
    extra: list[PluginInfo] = []
    monkeypatch.setattr(PluginManager, "list_plugins", lambda self: real_plugins(self) + extra)

    def again() -> set[str]:
        """Run once more; the sessions analysed again (not reused)."""
        with cf.ThreadPoolExecutor(2) as ex:
            res = batch.run(man, out=out, executor=ex, config=CONFIG)
        assert res.n_done == 2 and res.n_failed == 0
        return {s for s, r in res.sessions.items() if not r.get("reused")}

    assert again() == {"m118", "marsh5"}
    assert again() == set()                               # nothing changed: both reused
    monkeypatch.setattr(somacore, "__version__", "99.0.0")  # somacore upgraded
    assert again() == {"m118", "marsh5"}
    done = json.loads((session_dir(out, "m118") / "_run.json").read_text())
    assert done["software"]["version"] == "99.0.0"
    assert json.loads((out / batch.RUN_MANIFEST).read_text())["software"]["version"] == "99.0.0"
    assert again() == set()
    # a reader plugin installed, then upgraded: both change what a session may read
    reader = PluginInfo("acme", "acme-reader", "1.0", ("somacore_register_readers",),
                        "entry point")
    extra.append(reader)
    assert again() == {"m118", "marsh5"}
    assert again() == set()
    extra[0] = dataclasses.replace(reader, version="1.1")
    assert again() == {"m118", "marsh5"}
    done = json.loads((session_dir(out, "marsh5") / "_run.json").read_text())
    assert done["software"]["plugins"]["acme"] == "acme-reader 1.1"
    # a plugin that only adds metrics is never called by a batch: results stay valid
    extra.append(PluginInfo("acme-metrics", "acme-metrics", "3.0",
                            ("somacore_register_metrics",), "entry point"))
    assert again() == set()
    # the skip-key also holds the parameters (see test_skip_by_checksum_and_parameters)


def test_dask_worker_killed_mid_run_loses_nothing(records, reference, dask_client, tmp_path):
    d = tmp_path / "rec"
    shutil.copytree(records, d)
    rows = [(f"s{i}", f"p{rec}", f"{rec}.hea", "MLII", "x")
            for i, rec in enumerate(["100", "101"] * 4)]
    man = _manifest(d / "m.csv", rows)
    before = set(dask_client.scheduler_info()["workers"])
    killed = []

    def kill_a_busy_worker(prog):
        if killed:
            return
        busy = [w for w, keys in dask_client.processing().items() if keys]
        if busy:
            pid = dask_client.run(os.getpid, workers=[busy[0]])[busy[0]]
            os.kill(pid, signal.SIGKILL)
            killed.append(busy[0])

    res = batch.run(man, out=tmp_path / "out", executor=dask_client, config=CONFIG,
                    progress=kill_a_busy_worker)
    assert killed, "no worker was busy when the first session finished"
    assert (res.n_done, res.n_failed) == (8, 0)
    for i, rec in enumerate(["100", "101"] * 4):
        assert _bytes(session_dir(res.out, f"s{i}"))["beats.parquet"] == \
            _bytes(reference / f"m{rec}")["beats.parquet"]
    dask_client.wait_for_workers(2, timeout=30)
    assert set(dask_client.scheduler_info()["workers"]) != before     # one was replaced


def _eight_sessions(records: Path, path: Path) -> Path:
    rows = [(f"s{i}", f"p{rec}", str(records / f"{rec}.hea"), "MLII", "x")
            for i, rec in enumerate(["100", "101"] * 4)]
    return _manifest(path, rows)


def _assert_eight_done_once(res, reference: Path) -> None:
    """All eight sessions done, each once, equal to analysing it alone; no leftovers."""
    assert (res.n_done, res.n_failed, res.n_skipped) == (8, 0, 0)
    assert sorted(p.name for p in (res.out / "sessions").iterdir()) == sorted(
        f"session=s{i}" for i in range(8))
    assert not list(res.out.glob(".tmp-*")) and not list(res.out.glob(".old-*"))
    for i, rec in enumerate(["100", "101"] * 4):
        assert _bytes(session_dir(res.out, f"s{i}"))["beats.parquet"] == \
            _bytes(reference / f"m{rec}")["beats.parquet"]
    rows = batch.read_summary(res.out).to_pylist()
    assert [r["session"] for r in rows] == [f"s{i}" for i in range(8)]
    assert all(r["status"] == "done" for r in rows)


def _watch_pools(monkeypatch) -> list:
    """Record, as each run ends, the pool it owned and whether its processes are gone."""
    import somacore.batch.executors as ex_mod

    closed = []
    real_close = ex_mod.PoolAdapter.close

    def close(self):
        procs = list((self.executor._processes or {}).values()) \
            if isinstance(self.executor, cf.ProcessPoolExecutor) else []
        real_close(self)
        closed.append((self.executor, self.owned, self.replacements,
                       all(not p.is_alive() for p in procs)))

    monkeypatch.setattr(ex_mod.PoolAdapter, "close", close)
    return closed


def _kill_a_worker_after_the_first_session(pool_of, out: Path, killed: list,
                                           first_record: dict):
    """A progress callback: after the first finished session, SIGKILL one worker of the pool.

    The other sessions in flight are then mid-run. Keeps the first finished session's
    completion record, to check it is never rewritten (nothing written is redone or lost).
    """
    lock = threading.Lock()

    def callback(prog):
        with lock:
            if killed or prog.done != 1:
                return
            sid = prog.last["session"]
            first_record[sid] = (session_dir(out, sid) / "_run.json").read_bytes()
            worker = next(p for p in pool_of()._processes.values() if p.is_alive())
            os.kill(worker.pid, signal.SIGKILL)
            killed.append(worker.pid)

    return callback


def test_own_process_pool_recovers_from_a_killed_worker(records, reference, tmp_path,
                                                        monkeypatch):
    import somacore.batch.executors as ex_mod

    pools = []
    real = ex_mod.default_pool

    def spy(workers=None):
        pools.append(real(workers))
        return pools[-1]

    monkeypatch.setattr(ex_mod, "default_pool", spy)
    closed = _watch_pools(monkeypatch)
    man = _eight_sessions(records, tmp_path / "m.csv")
    out = tmp_path / "out"
    killed: list = []
    first_record: dict = {}
    kill = _kill_a_worker_after_the_first_session(lambda: pools[0], out, killed, first_record)
    res = batch.run(man, out=out, workers=2, config=CONFIG, progress=kill)
    assert killed and len(pools) == 2                   # the broken pool was replaced
    _assert_eight_done_once(res, reference)
    (sid, before), = first_record.items()
    assert (session_dir(out, sid) / "_run.json").read_bytes() == before
    (pool, owned, replaced, stopped), = closed
    assert pool is pools[1] and owned and replaced == 1 and stopped


def test_dask_tasks_of_several_sessions_give_the_same_outputs(records, reference, dask_client,
                                                              tmp_path, monkeypatch):
    import somacore.batch.executors as ex_mod

    sizes = []

    def chunk(self, queued):
        sizes.append(min(3, queued))
        return sizes[-1]

    monkeypatch.setattr(ex_mod.DaskAdapter, "chunk", chunk)
    man = _eight_sessions(records, tmp_path / "m.csv")
    seen = []
    res = batch.run(man, out=tmp_path / "out", executor=dask_client, config=CONFIG,
                    progress=lambda prog: seen.append(prog.last["session"]))
    assert sizes[:3] == [3, 3, 2]                      # 8 sessions in tasks of 3, 3, 2
    _assert_eight_done_once(res, reference)
    assert sorted(seen) == sorted(f"s{i}" for i in range(8))    # each reported once
    assert all(r["attempts"] == 1 for r in res.sessions.values())


class _FakeDask:
    """An executor adapter in the driver's terms: runs tasks in-process; Dask-like losses.

    A task holding session ``doomed`` is lost (``WorkerLost``, not shared: as Dask's
    KilledWorker) every time, alone or with others.
    """

    def __init__(self, doomed: str) -> None:
        self.doomed, self.tasks = doomed, []

    def slots(self):
        return 2

    def chunk(self, queued):
        return min(3, queued)

    def submit(self, fn, arg):
        group = arg if isinstance(arg, list) else [arg]
        self.tasks.append([t["session"] for t in group])
        fut = cf.Future()
        if any(t["session"] == self.doomed for t in group):
            fut.set_exception(batch.WorkerLost("killed", shared=False))
        else:
            fut.set_result(fn(arg))
        return fut

    def wait(self, pending, timeout):
        return list(pending)

    def result(self, fut):
        return fut.result()

    def recover(self):
        return True

    def close(self):
        pass


def test_a_lost_task_of_several_sessions_is_split_and_only_the_culprit_charged(
        records, reference, tmp_path, monkeypatch):
    import somacore.batch.driver as drv

    fake = _FakeDask("s4")
    monkeypatch.setattr(drv, "adapt", lambda executor, workers: fake)
    res = batch.run(_eight_sessions(records, tmp_path / "m.csv"), out=tmp_path / "out",
                    executor=object(), config=CONFIG)
    assert (res.n_done, res.n_failed) == (7, 1) and set(res.failed) == {"s4"}
    assert "died 3 times" in res.failed["s4"]
    assert {s: r.get("worker_deaths") for s, r in res.sessions.items()} == {
        **{f"s{i}": None for i in range(8)}, "s4": 3}
    # s3..s5 went as one task, were lost, and ran again one per task
    assert ["s3", "s4", "s5"] in fake.tasks and ["s3"] in fake.tasks and ["s5"] in fake.tasks
    assert fake.tasks.count(["s4"]) == 3
    for i, rec in enumerate(["100", "101"] * 4):
        if i != 4:
            assert _bytes(session_dir(res.out, f"s{i}"))["beats.parquet"] == \
                _bytes(reference / f"m{rec}")["beats.parquet"]
    assert not session_dir(res.out, "s4").exists()


# ------------------------------------------------------------------ bad input
def test_missing_columns(tmp_path):
    m = tmp_path / "m.csv"
    m.write_text("session,file\ns1,a.csv\n")
    with pytest.raises(batch.BatchError, match="missing column person"):
        batch.run(m, out=tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_duplicate_session_person_and_missing_paths_name_the_rows(records, tmp_path):
    m = _manifest(tmp_path / "m.csv", [
        ("a", "p", str(records / "100.hea"), "", ""),
        ("b", "p", str(records / "100.hea"), "", ""),
        ("a", "p", str(records / "101.hea"), "", ""),
        ("c", "q", str(tmp_path / "nope.hea"), "", ""),
        ("d", "q", "also-missing.csv", "", ""),
    ])
    with pytest.raises(batch.BatchError) as err:
        batch.run(m, out=tmp_path / "out")
    msg = str(err.value)
    assert "rows 1 and 3 (session a, person p)" in msg
    assert "file does not exist: rows 4, 5" in msg and "nope.hea" in msg
    assert not (tmp_path / "out").exists()


def test_parquet_manifest_and_bad_session_id(records, tmp_path):
    rows = [{"session": "m118", "person": "p", "file": str(records / "118.hea"), "age": 69}]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "m.parquet")
    man = batch.load_manifest(tmp_path / "m.parquet")
    assert list(man.sessions) == ["m118"] and man.metadata_columns == ["age"]
    with pytest.raises(batch.BatchError, match="row 1"):
        batch.load_manifest([{**rows[0], "session": "../escape"}])


def test_blank_cells_case_clashes_and_extra_values_name_the_rows(records, tmp_path):
    hea = str(records / "100.hea")
    m = _manifest(tmp_path / "m.csv", [
        ("a", "p", hea, "", ""),
        ("", "p", hea, "", ""),              # no session
        ("b", "", "", "", ""),               # no person, no file
        ("A", "q", hea, "", ""),             # same folder as `a` on macOS / Windows
        ("c", "p", hea, "", ""),
    ])
    with pytest.raises(batch.BatchError) as err:
        batch.run(m, out=tmp_path / "out")
    msg = str(err.value)
    assert "empty session: row 2" in msg and "empty person/file: row 3" in msg
    assert "differ only in upper/lower case" in msg and "rows 1 and 4 ('a' and 'A')" in msg
    assert "row 5" not in msg and not (tmp_path / "out").exists()
    bad = tmp_path / "extra.csv"
    bad.write_text(f"session,person,file\ns1,p,{hea}\ns2,p,{hea},surplus\n")
    with pytest.raises(batch.BatchError, match="row 2: more values than columns"):
        batch.load_manifest(bad)


def test_parquet_manifest_missing_column(records, tmp_path):
    rows = [{"session": "m118", "file": str(records / "118.hea")}]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "m.parquet")
    with pytest.raises(batch.BatchError, match=r"missing column person \(found: session, file\)"):
        batch.run(tmp_path / "m.parquet", out=tmp_path / "out")
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------ command line
def _cli(argv):
    import argparse

    from somacore.batch.cli import add_parser

    p = argparse.ArgumentParser(prog="somacore")
    add_parser(p.add_subparsers())
    args = p.parse_args(argv)
    return args.func(args)


def test_cli_progress_counts_and_exit_status(records, tmp_path, capsys):
    d = tmp_path / "rec"
    shutil.copytree(records, d)
    (d / "junk.csv").write_text("x\n")
    m = _manifest(d / "m.csv", [("m118", "p", "118.hea", "", "x"),
                                ("junk", "j", "junk.csv", "", "x")])
    code = _cli(["batch", str(m), "--out", str(tmp_path / "out"), "--workers", "1",
                 "--surrogates", "20", "--json"])
    cap = capsys.readouterr()
    assert code == 1
    assert "done 1" in cap.err and "failed 1" in cap.err and "remaining 0" in cap.err
    assert json.loads(cap.out)["failed"] == 1 and "junk" in json.loads(cap.out)["errors"]


def test_cli_unreachable_scheduler_fails_before_work(records, tmp_path, capsys, monkeypatch):
    pytest.importorskip("distributed")
    import somacore.batch.cli as bcli

    monkeypatch.setattr(bcli, "CONNECT_TIMEOUT", "0.5s")
    code = _cli(["batch", str(records / "manifest.csv"), "--out", str(tmp_path / "out"),
                 "--scheduler", "tcp://127.0.0.1:9"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in err[0]
    assert not (tmp_path / "out").exists()


def test_cli_bad_manifest_is_one_line(tmp_path, capsys):
    m = tmp_path / "m.csv"
    m.write_text("session,person\ns,p\n")
    assert _cli(["batch", str(m), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "missing column file" in err[0]


def test_users_process_pool_is_replaced_when_a_worker_is_killed(records, reference, tmp_path,
                                                                monkeypatch):
    import multiprocessing

    closed = _watch_pools(monkeypatch)
    man = _eight_sessions(records, tmp_path / "m.csv")
    out = tmp_path / "out"
    killed: list = []
    first_record: dict = {}
    with cf.ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as users:
        shutdowns = []
        real_shutdown = users.shutdown
        users.shutdown = lambda *a, **k: (shutdowns.append(a), real_shutdown(*a, **k))
        kill = _kill_a_worker_after_the_first_session(lambda: users, out, killed, first_record)
        res = batch.run(man, out=out, executor=users, config=CONFIG, progress=kill)
        assert killed and users._broken           # the user's pool broke, and was left as is
        assert shutdowns == []
    _assert_eight_done_once(res, reference)
    (sid, before), = first_record.items()
    assert (session_dir(out, sid) / "_run.json").read_bytes() == before
    # the run replaced it with a pool of its own, and shut that down at the end
    (pool, owned, replaced, stopped), = closed
    assert pool is not users and owned and replaced == 1 and stopped
    assert pool._max_workers == 2 and pool._shutdown_thread


def test_a_session_that_kills_its_worker_fails_alone(records, reference, tmp_path):
    """Its worker dies every time: it is failed after 3 runs on its own; the others finish."""
    import multiprocessing

    import _crash_reader

    (tmp_path / "bad.crash").write_bytes(b"\x00" * 16)
    man = _manifest(tmp_path / "m.csv", [
        ("m118", "p118", str(records / "118.hea"), "", "x"),
        ("bad", "p", str(tmp_path / "bad.crash"), "", "x"),
        ("marsh5", "s5", str(records / "marsh0005.csv"), "", "x"),
        ("m100", "p100", str(records / "100.hea"), "MLII", "x"),
    ])
    # one process (each replacement starts quickly), two sessions in flight: the one queued
    # behind `bad` is lost with it each time, without being charged
    with cf.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"),
                                initializer=_crash_reader.install) as users:
        res = batch.run(man, out=tmp_path / "out", executor=users, config=CONFIG)
    assert (res.n_done, res.n_failed) == (3, 1)
    assert set(res.failed) == {"bad"}
    assert "died 3 times" in res.failed["bad"] and "BrokenProcessPool" in res.failed["bad"]
    # only `bad` was charged with the deaths, though another session was lost with it each time
    assert {s: r.get("worker_deaths") for s, r in res.sessions.items()} == {
        "m118": None, "bad": 3, "marsh5": None, "m100": None}
    _assert_same_as_reference(res.out, reference, ["m118", "marsh5", "m100"])
    assert sorted(p.name for p in (res.out / "sessions").iterdir()) == [
        "session=m100", "session=m118", "session=marsh5"]
    assert not list(res.out.glob(".tmp-*"))
    s = batch.read_summary(res.out).to_pylist()
    assert [r["status"] for r in s] == ["done", "failed", "done", "done"]
