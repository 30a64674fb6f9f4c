"""What a worker does for one session: checksum the inputs, analyse, write atomically.

:func:`run_session` is the only function sent to workers. It receives a small
dict (paths and parameters, never arrays), opens the files itself, runs the
same :func:`somacore.analysis.analyze_session` and
:func:`somacore.analysis.write_outputs` as ``somacore analyze`` (so a batch
session's tables are those of analysing the session alone), and returns a
small record. It never raises for a bad recording: the error goes into the
record, so one bad session never stops the others.

Atomicity: everything is written into ``OUT/.tmp-<session>-<uuid>/`` and the
finished folder is renamed to ``OUT/sessions/session=<id>/`` with one
``os.replace``. The folder's ``_run.json`` (status, parameters hash, input
checksums, software versions) is written inside it before the rename, so a
session folder exists only when it is complete, and it carries the proof
needed to skip it on a later run.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import time
import uuid
from pathlib import Path
from typing import Any

__all__ = ["RUN_FILE", "file_checksum", "input_files", "params_hash", "run_session",
           "run_sessions", "session_dir", "software_versions"]

#: the completion record inside each session folder
RUN_FILE = "_run.json"
_CHUNK = 1 << 20


def params_hash(cfg: dict) -> str:
    """sha256 of the parameters (canonical JSON)."""
    text = json.dumps(cfg, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


#: hooks through which a plugin can change what a session reads (so its outputs)
_READER_HOOKS = frozenset({"somacore_register_readers", "somacore_open_reader"})


def software_versions() -> dict[str, Any]:
    """The software that decides a session's outputs: somacore and every reader plugin.

    A finished session is reused only when this is unchanged (with the parameters
    and input checksums), so upgrading somacore, or installing, removing or
    upgrading a plugin that reads recordings, analyses every session again.
    Plugins that only add metrics, drivers or commands are left out: a batch
    never calls them. somacore's own readers are covered by its version.

    Returns
    -------
    dict
        ``{"name": "somacore", "version": ..., "plugins": {plugin: "distribution version"}}``
    """
    import somacore
    from somacore.plugins import get_manager

    plugins = {p.name: f"{p.distribution} {p.version}"
               for p in get_manager().list_plugins()
               if p.source != "builtin" and _READER_HOOKS.intersection(p.hooks)}
    return {"name": "somacore", "version": somacore.__version__,
            "plugins": dict(sorted(plugins.items()))}


def input_files(path: str | Path) -> list[Path]:
    """The files a recording is read from.

    A WFDB header (``.hea``) brings its signal files (same stem, any suffix, in
    the same folder); a folder brings every file under it.
    """
    p = Path(path)
    if p.is_dir():
        return sorted(q for q in p.rglob("*") if q.is_file())
    if p.suffix.lower() == ".hea":
        return sorted(q for q in p.parent.glob(f"{p.stem}.*") if q.is_file())
    return [p]


def file_checksum(path: str | Path) -> dict[str, Any]:
    """sha256 plus size and modification time (the time only speeds up later checks)."""
    p = Path(path)
    h = hashlib.sha256()
    st = p.stat()
    with open(p, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return {"path": str(p), "sha256": h.hexdigest(), "size": st.st_size,
            "mtime_ns": st.st_mtime_ns}


def session_dir(out: str | Path, session: str) -> Path:
    """Folder of one session's outputs (a Hive-style partition)."""
    return Path(out) / "sessions" / f"session={session}"


def _summary_tables(summary: dict, folder: Path) -> list[dict[str, Any]]:
    """people.parquet (one row per person) and synchrony.parquet (one row per pair and signal).

    Returns the rows of people.parquet (they also travel in the session's record, so the
    driver builds the cross-session summary without reading every session's file back).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from somacore.analysis.progress import flatten_summary

    people, pairs = flatten_summary(summary)   # the rows `somacore progress` reads back
    pq.write_table(pa.Table.from_pylist(people), folder / "people.parquet")
    cols = ["first", "second", "signal", "note"]
    table = pa.Table.from_pylist(pairs) if pairs else pa.table({c: pa.array([], pa.string())
                                                                  for c in cols})
    pq.write_table(table, folder / "synchrony.parquet")
    return people


def _install(tmp: Path, target: Path, record: dict) -> None:
    """Rename the finished folder into place; replace an outdated one only once complete."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(tmp, target)
        return
    except OSError:
        if not target.exists():
            raise
    # the target exists: either a duplicate delivery of this very task (keep the first),
    # or an outdated result (different inputs, parameters or software) to replace
    try:
        old = json.loads((target / RUN_FILE).read_text())
    except (OSError, ValueError):
        old = {}
    if (old.get("params_hash") == record["params_hash"]
            and old.get("software") == record["software"]
            and old.get("inputs") == record["inputs"]
            and old.get("people") == record["people"]):
        shutil.rmtree(tmp, ignore_errors=True)
        return
    aside = target.parent.parent / f".old-{target.name}-{uuid.uuid4().hex}"
    os.replace(target, aside)
    os.replace(tmp, target)
    shutil.rmtree(aside, ignore_errors=True)


def run_session(task: dict) -> dict:
    """Analyse one session on a worker (the function submitted to the executor).

    Parameters
    ----------
    task : dict
        ``session``, ``people`` (dicts with ``person``, ``file``, ``channels``,
        ``label``), ``config`` (complete parameters), ``params_hash``, ``out``.

    Returns
    -------
    dict
        The session's record: ``status`` (``"done"`` or ``"failed"``), ``error``,
        ``inputs`` (checksums), ``software``, ``params_hash``, ``worker``,
        ``elapsed_s`` (wall time on the worker), ``cpu_s`` (its CPU time) and, when done, ``tables``
        (rows per table) and ``people_rows`` (the rows of ``people.parquet``).
    """
    tic = time.perf_counter()
    cpu = time.process_time()
    sid = task["session"]
    people_spec = [[p["person"], p["file"], list(p["channels"] or []), p["label"]]
                   for p in task["people"]]
    rec: dict[str, Any] = {
        "session": sid, "status": "failed", "error": None, "people": people_spec,
        "software": software_versions(),
        "params_hash": task["params_hash"], "inputs": [],
        "worker": f"{socket.gethostname()}:{os.getpid()}",
        "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    tmp = None
    try:
        from somacore.analysis import PersonInput, analyze_session, write_outputs

        rec["inputs"] = [{"person": p["person"], **file_checksum(f)}
                         for p in task["people"] for f in input_files(p["file"])]
        people = [PersonInput(name=p["person"], source=p["file"],
                              channels=tuple(p["channels"]) if p["channels"] else None,
                              label=p["label"]) for p in task["people"]]
        res = analyze_session(people, task["config"])
        out = Path(task["out"])
        tmp = out / f".tmp-{sid}-{uuid.uuid4().hex}"
        tmp.mkdir(parents=True)
        folder = tmp / "s"
        summary = write_outputs(res, folder, report=False)
        rec["people_rows"] = _summary_tables(summary, folder)
        rec["status"] = "done"
        rec["tables"] = {k: v["rows"] for k, v in summary["tables"].items()}
        rec["finished_utc"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        rec["elapsed_s"] = time.perf_counter() - tic
        rec["cpu_s"] = time.process_time() - cpu
        with open(folder / RUN_FILE, "w", encoding="utf-8") as fh:
            json.dump(rec, fh, indent=1)
            fh.flush()
            os.fsync(fh.fileno())
        _install(folder, session_dir(out, sid), rec)
    except Exception as exc:  # a bad recording is reported, never raised
        msg = " ".join(str(exc).split())
        from somacore.analysis import AnalysisError

        rec["status"] = "failed"
        rec["error"] = msg if isinstance(exc, AnalysisError) else f"{type(exc).__name__}: {msg}"
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    rec["elapsed_s"] = time.perf_counter() - tic
    rec["cpu_s"] = time.process_time() - cpu
    return rec


def run_sessions(tasks: list[dict]) -> list[dict]:
    """Several sessions in one task, one after another (:func:`run_session` each).

    Sent to Dask when many sessions are queued, so the per-task dispatch work of
    the scheduler and the driver is shared by several sessions.
    """
    return [run_session(t) for t in tasks]
