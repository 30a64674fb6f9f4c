"""The batch driver: check, skip what is finished, submit the rest, record every outcome."""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from somacore.batch.executors import WorkerLost, adapt
from somacore.batch.manifest import BatchError, Manifest, load_manifest
from somacore.batch.worker import (
    RUN_FILE,
    file_checksum,
    input_files,
    params_hash,
    run_session,
    run_sessions,
    session_dir,
    software_versions,
)

__all__ = ["RUN_MANIFEST", "SUMMARY", "BatchResult", "Progress", "run"]

#: the run manifest (one record per session), rewritten atomically as sessions finish
RUN_MANIFEST = "run_manifest.json"
#: the cross-session summary table (one row per session and person)
SUMMARY = "summary.parquet"
#: worker deaths charged to one session before it is recorded as failed, within one run
MAX_ATTEMPTS = 3


@dataclass
class Progress:
    """Counts passed to the ``progress`` callback after each finished session."""

    total: int
    done: int = 0
    failed: int = 0
    skipped: int = 0
    started: float = field(default_factory=time.perf_counter)
    last: dict | None = None

    @property
    def remaining(self) -> int:
        return self.total - self.done - self.failed

    @property
    def elapsed_s(self) -> float:
        return time.perf_counter() - self.started


@dataclass
class BatchResult:
    """Outcome of :func:`run`.

    Attributes
    ----------
    out : Path
        The output folder.
    sessions : dict of str to dict
        The run-manifest record of every session.
    n_done, n_failed, n_skipped : int
        Sessions finished (including skipped ones), failed, and skipped because
        an identical earlier result was found.
    wall_s : float
        Wall time of the run (checks, analysis and writing).
    """

    out: Path
    sessions: dict[str, dict]
    n_done: int
    n_failed: int
    n_skipped: int
    wall_s: float

    @property
    def failed(self) -> dict[str, str]:
        """Session id -> error of the failed sessions."""
        return {s: r.get("error") or "" for s, r in self.sessions.items()
                if r["status"] != "done"}


def _dumps(data: Any) -> str:
    """JSON with one line per session (json.dumps without indent uses the fast C encoder)."""
    if not isinstance(data, dict) or "sessions" not in data:
        return json.dumps(data, allow_nan=False)
    head = {k: v for k, v in data.items() if k != "sessions"}
    lines = [f"  {json.dumps(k)}: {json.dumps(v, allow_nan=False)}" for k, v in head.items()]
    sess = [f"    {json.dumps(k)}: {json.dumps(v, allow_nan=False)}"
            for k, v in data["sessions"].items()]
    lines.append('  "sessions": {' + ("\n" + ",\n".join(sess) + "\n  }" if sess else "}"))
    return "{\n" + ",\n".join(lines) + "\n}"


def _atomic_json(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    text = _dumps(data)
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _task_people(rows: list) -> list[dict]:
    return [{"person": r.person, "file": r.file, "channels": list(r.channels or []),
             "label": r.label} for r in rows]


def _people_spec(people: list[dict]) -> list:
    return [[p["person"], p["file"], list(p["channels"]), p["label"]] for p in people]


def _same_inputs(recorded: list[dict], people: list[dict]) -> bool:
    """True if the files now are those the recorded checksums describe.

    Size and modification time equal: the recorded sha256 is trusted; otherwise
    the file is hashed again and compared (a copied or touched file with the
    same bytes still counts as unchanged).
    """
    now = [(p["person"], str(f)) for p in people for f in input_files(p["file"])]
    if [(r["person"], r["path"]) for r in recorded] != now:
        return False
    for r in recorded:
        try:
            st = os.stat(r["path"])
        except OSError:
            return False
        if st.st_size == r["size"] and st.st_mtime_ns == r["mtime_ns"]:
            continue
        if st.st_size != r["size"] or file_checksum(r["path"])["sha256"] != r["sha256"]:
            return False
    return True


def _finished(out: Path, sid: str, people: list[dict], phash: str,
              software: dict) -> dict | None:
    """The completion record of an identical earlier result, or None.

    Identical: same parameters, same people and files, same input bytes, and the
    same software (somacore and reader plugin versions, :func:`software_versions`).
    """
    try:
        rec = json.loads((session_dir(out, sid) / RUN_FILE).read_text())
    except (OSError, ValueError):
        return None
    if (rec.get("status") != "done" or rec.get("params_hash") != phash
            or rec.get("software") != software
            or rec.get("people") != _people_spec(people)):
        return None
    return rec if _same_inputs(rec.get("inputs", []), people) else None


def _clean_stale(out: Path) -> None:
    for p in out.glob(".tmp-*"):
        shutil.rmtree(p, ignore_errors=True)
    for p in out.glob(".old-*"):
        shutil.rmtree(p, ignore_errors=True)
    for p in out.glob(f".{RUN_MANIFEST}.*.tmp"):
        p.unlink(missing_ok=True)


def _config(config: Mapping | None) -> dict:
    from somacore.analysis import resolve_config
    from somacore.analysis.tables import choose_format

    if config is None:
        cfg = resolve_config()
    else:
        # validate through the same path as the CLI: every key checked and typed
        cfg = resolve_config(overrides=[(f"{s}.{k}", v) for s, items in config.items()
                                        for k, v in items.items()])
    if cfg["tables"]["format"] == "csv":
        raise BatchError("a batch writes Parquet datasets; tables.format=csv is not supported")
    cfg["tables"]["format"] = "parquet"
    try:
        choose_format("parquet")
    except ValueError as exc:
        raise BatchError(str(exc)) from None
    return cfg


def run(manifest: str | Path | Manifest | Iterable[Mapping[str, Any]], *, out: str | Path,
        executor: Any = None, config: Mapping | None = None, workers: int | None = None,
        force: bool = False, progress: Callable[[Progress], None] | None = None,
        manifest_interval_s: float = 0.0) -> BatchResult:
    """Analyse every session of a manifest, resumably, on any executor.

    Parameters
    ----------
    manifest : path, Manifest or iterable of mappings
        CSV or Parquet with columns ``session``, ``person``, ``file`` and
        optionally ``channels``, ``label`` and metadata
        (:mod:`somacore.batch.manifest`).
    out : path
        Output folder (created if needed). Holds ``sessions/session=<id>/`` (one
        Parquet partition per session), ``run_manifest.json`` and
        ``summary.parquet``.
    executor : concurrent.futures.Executor or dask.distributed.Client, optional
        Where sessions run. Default: a local process pool of ``workers``
        processes, created and shut down by this call. A user's executor or
        client is used as given and left running. If a worker process of a
        ``ProcessPoolExecutor`` dies (the pool is then broken), the run goes on
        on a fresh pool like it, which it owns and shuts down; the sessions lost
        with the pool run again one at a time (see ``docs/batch.md``).
    config : dict, optional
        Parameter overrides by section (as in
        :data:`somacore.analysis.DEFAULTS`); checked before any work.
    workers : int, optional
        Processes of the default pool (default: the number of CPUs).
    force : bool
        Analyse every session again, even those with an identical result (same
        parameters, input checksums, somacore and reader plugin versions).
    progress : callable, optional
        Called with a :class:`Progress` after each finished session.
    manifest_interval_s : float
        Least time between two rewrites of ``run_manifest.json``. With 0 (default)
        it is rewritten after every finished session, unless one rewrite takes
        long (a batch of many thousands of sessions): then at most 5 % of the
        driver's time is spent on it. Each session folder carries its own
        completion record, so a crash between two rewrites loses nothing.

    Returns
    -------
    BatchResult

    Raises
    ------
    BatchError
        A bad manifest (missing columns, the same (session, person) twice,
        missing files) or parameters, before any work starts.
    """
    tic = time.perf_counter()
    man = manifest if isinstance(manifest, Manifest) else load_manifest(manifest)
    cfg = _config(config)
    phash = params_hash(cfg)
    software = software_versions()
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise BatchError(f"output {out} exists and is not a folder; choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    (out / "sessions").mkdir(exist_ok=True)
    _clean_stale(out)
    try:
        previous = json.loads((out / RUN_MANIFEST).read_text()).get("sessions", {})
    except (OSError, ValueError):
        previous = {}

    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    records: dict[str, dict] = {}
    people_rows: dict[str, list[dict]] = {}     # for summary.parquet, kept out of the records
    todo: list[dict] = []
    for sid, rows in man.sessions.items():
        people = _task_people(rows)
        rec = None if force else _finished(out, sid, people, phash, software)
        if rec is not None:
            if "people_rows" in rec:
                people_rows[sid] = rec.pop("people_rows")
            records[sid] = {**rec, "reused": True}
            continue
        attempts = int(previous.get(sid, {}).get("attempts", 0))
        records[sid] = {"session": sid, "status": "pending", "error": None,
                        "attempts": attempts, "params_hash": phash,
                        "people": _people_spec(people)}
        todo.append({"session": sid, "people": people, "config": cfg,
                     "params_hash": phash, "out": str(out.resolve())})
    prog = Progress(total=len(man.sessions))
    prog.skipped = prog.done = len(man.sessions) - len(todo)

    header = {
        "format": "somacore-batch-run/1",
        "software": software,
        "manifest": man.source, "parameters": cfg, "params_hash": phash,
        "started_utc": started,
    }
    last_write = [0.0, 0.0]             # when, and how long the last rewrite took

    def write_manifest(final: bool = False) -> None:
        now = time.perf_counter()
        # after every session, unless rewriting has become slow (a very large batch): then
        # at most ~5 % of the driver's time goes to it; `_run.json` is the durable record
        if not final and now - last_write[0] < max(manifest_interval_s, 20 * last_write[1]):
            return
        counts = {"total": prog.total, "done": prog.done, "failed": prog.failed,
                  "skipped": prog.skipped, "remaining": prog.remaining}
        _atomic_json(out / RUN_MANIFEST, {
            **header, "updated_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "finished": final and prog.remaining == 0, "counts": counts, "sessions": records})
        last_write[0] = time.perf_counter()
        last_write[1] = last_write[0] - now

    write_manifest(final=True)
    ad = adapt(executor, workers) if todo else None
    try:
        if ad is not None:
            _drive(ad, todo, records, people_rows, prog, progress, write_manifest)
            _clean_stale(out)           # half-written folders of workers that died
    finally:
        if ad is not None:
            ad.close()
        for r in records.values():
            if r["status"] == "pending":
                r["status"] = "not run"
                r["error"] = "the run stopped before this session finished; run again"
        write_manifest(final=True)
        from somacore.batch.dataset import write_summary

        write_summary(out, man, records, people_rows)
    return BatchResult(out=out, sessions=records, n_done=prog.done, n_failed=prog.failed,
                       n_skipped=prog.skipped, wall_s=time.perf_counter() - tic)


def _drive(ad, todo: list[dict], records: dict, people_rows: dict, prog: Progress,
           progress: Callable[[Progress], None] | None, write_manifest: Callable) -> None:
    """Keep the executor busy, and record each session as it finishes.

    A task carries one session, or on Dask a few (``Adapter.chunk``: fewer tasks, less
    dispatch work per session; single sessions again near the end of the queue, so the
    workers finish together). A worker death is charged to a session only when the
    session is known to be the cause: Dask names the task (``KilledWorker``), and a task
    of several sessions is split into single ones; a broken process pool fails every
    task in flight at once, so those sessions become *suspects* and run again one at a
    time (nothing else in flight): a session whose worker dies while it runs alone is
    charged, and recorded as failed after :data:`MAX_ATTEMPTS` charges. A session that
    finished and was written before its task was lost is found by its re-run (same
    inputs, parameters and software) and not written twice.
    """
    queue = list(reversed(todo))        # pop() from the end: manifest order
    singles: list[dict] = []            # from a lost multi-session task: one per task
    inflight: dict[Any, list[dict]] = {}
    suspects: list[dict] = []           # lost together with others: re-run alone
    alone: set[Any] = set()             # futures submitted with nothing else in flight
    lost: dict[str, int] = {}           # worker deaths charged to each session
    slots = ad.slots()

    def settle(sid: str, rec: dict) -> None:
        if "people_rows" in rec:
            people_rows[sid] = rec.pop("people_rows")
        old = records[sid]
        records[sid] = {**rec, "attempts": old.get("attempts", 0) + 1}
        if sid in lost:
            records[sid]["worker_deaths"] = lost[sid]
        if rec["status"] == "done":
            prog.done += 1
        else:
            prog.failed += 1
        prog.last = records[sid]
        write_manifest()
        if progress is not None:
            progress(prog)

    def failed(task: dict, error: str) -> dict:
        return {"session": task["session"], "status": "failed", "error": error,
                "params_hash": task["params_hash"], "people": _people_spec(task["people"])}

    def submit(group: list[dict]) -> Any:
        fut = ad.submit(run_session, group[0]) if len(group) == 1 else \
            ad.submit(run_sessions, group)
        inflight[fut] = group
        return fut

    checked = time.perf_counter()
    while queue or singles or inflight or suspects:
        if time.perf_counter() - checked > 2.0:      # workers may join or leave a cluster
            slots, checked = ad.slots(), time.perf_counter()
        if suspects:
            if not inflight:
                alone.add(submit([suspects.pop()]))
        else:
            while singles and len(inflight) < slots:
                submit([singles.pop()])
            while queue and len(inflight) < slots:
                k = min(ad.chunk(len(queue)), len(queue))
                submit([queue.pop() for _ in range(k)])
        for fut in ad.wait(inflight, timeout=0.5):
            group = inflight.pop(fut)
            solo = fut in alone
            alone.discard(fut)
            try:
                out = ad.result(fut)
                recs = [out] if len(group) == 1 else out
            except WorkerLost as exc:
                if len(group) > 1 and not exc.shared and ad.recover():
                    singles.extend(reversed(group))     # which one killed it is unknown
                    continue
                for task in group:
                    rec = _lost(ad, task, exc, solo, lost, suspects, singles, failed)
                    if rec is not None:
                        settle(task["session"], rec)
                continue
            except Exception as exc:            # e.g. the task could not be sent
                err = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
                recs = [failed(task, err) for task in group]
            for task, rec in zip(group, recs, strict=True):
                settle(task["session"], rec)


def _lost(ad, task: dict, exc: WorkerLost, solo: bool, lost: dict, suspects: list,
          again: list, failed: Callable) -> dict | None:
    """A session whose worker died: queue it again (None), or its failure record."""
    sid = task["session"]
    if not ad.recover():
        return failed(task, f"not run: {exc}, and the executor cannot be replaced "
                            "(only a ProcessPoolExecutor can); run again")
    if exc.shared and not solo:
        suspects.insert(0, task)                # culprit unknown: re-run it alone
        return None
    lost[sid] = lost.get(sid, 0) + 1
    if lost[sid] < MAX_ATTEMPTS:
        (suspects if exc.shared else again).append(task)
        return None
    return failed(task, f"its worker process died {lost[sid]} times while running it "
                        f"({exc}): killed, out of memory or a crash in native code; the "
                        "other sessions were not affected")
