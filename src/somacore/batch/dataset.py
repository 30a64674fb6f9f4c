"""Reading a batch's Parquet dataset, and the cross-session summary table.

Layout of an output folder::

    OUT/
      run_manifest.json            one record per session (status, error, checksums...)
      summary.parquet              one row per (session, person), failed sessions included
      sessions/
        session=<id>/              one Hive-style partition per session, written atomically
          beats.parquet  breaths.parquet  series.parquet  windows.parquet
          episodes.parquet  people.parquet  synchrony.parquet  summary.json  _run.json

:func:`read_table` gathers one table over all sessions with a ``session``
column; ``pyarrow.dataset`` reads the same files directly (see
``docs/batch.md``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from somacore.batch.worker import RUN_FILE

__all__ = ["TABLES", "read_summary", "read_table", "write_summary"]

#: per-session tables (``people`` and ``synchrony`` are the per-person and per-pair summaries)
TABLES = ("beats", "breaths", "series", "windows", "episodes", "people", "synchrony")


def _complete_sessions(out: Path) -> list[Path]:
    base = Path(out) / "sessions"
    if not base.is_dir():
        return []
    return sorted(p for p in base.glob("session=*") if (p / RUN_FILE).is_file())


def read_table(out: str | Path, name: str, sessions: list[str] | None = None):
    """One table of every finished session as a ``pyarrow.Table`` with a ``session`` column.

    Parameters
    ----------
    out : path
        A batch output folder.
    name : str
        One of :data:`TABLES`.
    sessions : list of str, optional
        Only these sessions (default: all finished ones).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    if name not in TABLES:
        raise ValueError(f"unknown table {name!r}; tables are {', '.join(TABLES)}")
    parts = []
    for d in _complete_sessions(Path(out)):
        sid = d.name.partition("=")[2]
        if sessions is not None and sid not in sessions:
            continue
        f = d / f"{name}.parquet"
        if not f.is_file():
            continue
        t = pq.read_table(f)
        parts.append(t.add_column(0, "session", pa.array([sid] * t.num_rows, pa.string())))
    if not parts:
        return pa.table({"session": pa.array([], pa.string())})
    return pa.concat_tables(parts, promote_options="permissive")


def _meta_value(v: Any) -> Any:
    return None if (isinstance(v, float) and v != v) else v


def write_summary(out: str | Path, manifest, records: dict[str, dict],
                  people_rows: dict[str, list[dict]] | None = None) -> Path:
    """Write ``summary.parquet``: one row per (session, person) of the manifest.

    Columns: ``session``, ``person``, ``status``, ``error``, ``file``, the
    manifest's metadata columns, then the person's summary (heart, HRV,
    breathing, arousal; see ``people.parquet``) for finished sessions. Written
    atomically (temporary file + rename). ``people_rows`` (session -> rows of its
    ``people.parquet``, as returned by the workers) saves reading the files back;
    sessions missing from it are read.
    """
    import os
    import uuid

    import pyarrow as pa
    import pyarrow.parquet as pq

    out = Path(out)
    rows = []
    for sid, people in manifest.sessions.items():
        rec = records.get(sid, {})
        stats: dict[str, dict] = {}
        if rec.get("status") == "done" and people_rows and sid in people_rows:
            stats = {r["person"]: r for r in people_rows[sid]}
        elif rec.get("status") == "done":
            f = out / "sessions" / f"session={sid}" / "people.parquet"
            try:
                # ParquetFile: no dataset discovery, ~half the cost of pq.read_table
                stats = {r["person"]: r for r in pq.ParquetFile(f).read().to_pylist()}
            except OSError:
                stats = {}
        for p in people:
            row: dict[str, Any] = {"session": sid, "person": p.person,
                                   "status": rec.get("status", "not run"),
                                   "error": rec.get("error"), "file": p.file,
                                   "elapsed_s": rec.get("elapsed_s")}
            row.update({k: _meta_value(v) for k, v in p.metadata})
            row.update({k: v for k, v in stats.get(p.person, {}).items() if k != "person"})
            rows.append(row)
    cols: list[str] = []
    for r in rows:
        cols.extend(k for k in r if k not in cols)
    table = pa.Table.from_pylist([{c: r.get(c) for c in cols} for r in rows])
    table = table.replace_schema_metadata({"somacore.description": json.dumps(
        "one row per session and person of the batch manifest; status done/failed/not run")})
    tmp = out / f".{SUMMARY_NAME}.{uuid.uuid4().hex}.tmp"
    pq.write_table(table, tmp)
    os.replace(tmp, out / SUMMARY_NAME)
    return out / SUMMARY_NAME


SUMMARY_NAME = "summary.parquet"


def read_summary(out: str | Path):
    """The cross-session summary table (``summary.parquet``) as a ``pyarrow.Table``."""
    import pyarrow.parquet as pq

    return pq.read_table(Path(out) / SUMMARY_NAME)
