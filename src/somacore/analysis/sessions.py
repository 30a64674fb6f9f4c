"""Several sessions of the same client: analyse each alone, then the progress view.

:func:`analyze_sessions` runs the single-session pipeline
(:func:`~somacore.analysis.analyze_session` and
:func:`~somacore.analysis.write_outputs`, exactly as ``somacore analyze``) on
each session into ``OUT/sessions/<id>/`` and writes the progress view next to
it; :func:`progress_from_batch` builds the same view from a ``somacore batch``
output folder (its ``summary.parquet`` and per-session ``synchrony.parquet``).
Either way everything is written into a temporary sibling folder and renamed
into place at the end.

Output files: ``progress_people`` and ``progress_pairs`` tables (Parquet, or
CSV without pyarrow; units in the schema), ``progress.json`` (the rows, the
order used, parameters and versions) and ``progress.html`` (trend per metric
across sessions, with links to each session's report).
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from somacore.analysis.pipeline import AnalysisError, PersonInput
from somacore.analysis.progress import (
    PAIR_METRICS,
    PERSON_METRICS,
    SessionEntry,
    flatten_summary,
    order_sessions,
    progress_tables,
)

__all__ = ["SessionSpec", "analyze_sessions", "progress_from_batch", "sessions_from_files",
           "sessions_from_manifest"]

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass
class SessionSpec:
    """One session to analyse: an id, its people and metadata (e.g. ``date``)."""

    session: str
    people: list[PersonInput]
    metadata: dict[str, Any] = field(default_factory=dict)


def sessions_from_files(files: Sequence[str], *, person: str = "client") -> list[SessionSpec]:
    """One session per recording of one person; ids from the file names (made unique)."""
    out: list[SessionSpec] = []
    used: set[str] = set()
    for f in files:
        p = Path(f)
        if not p.exists() and not Path(str(p) + ".hea").exists():
            raise AnalysisError(f"session file {p} does not exist; check the path")
        sid = _SAFE.sub("-", p.stem or "session")
        sid = sid.strip("-.") or "session"
        base, k = sid, 2
        while sid in used:
            sid, k = f"{base}-{k}", k + 1
        used.add(sid)
        out.append(SessionSpec(sid, [PersonInput(person, str(p))], {"file": str(p)}))
    return out


def sessions_from_manifest(path: str | Path) -> list[SessionSpec]:
    """Sessions of a batch manifest (session, person, file, [channels, label, metadata...])."""
    from somacore.batch.manifest import load_manifest

    man = load_manifest(path)
    out = []
    for sid, rows in man.sessions.items():
        people = [PersonInput(r.person, r.file, r.channels, r.label) for r in rows]
        meta: dict[str, Any] = {}
        for r in rows:                     # metadata of the session: first non-empty value
            for k, v in r.metadata:
                if meta.get(k) in (None, "") and v is not None and not (
                        isinstance(v, float) and math.isnan(v)):
                    meta[k] = v
        out.append(SessionSpec(sid, people, meta))
    return out


def analyze_sessions(sessions: Sequence[SessionSpec], out: str | Path, *,
                     config: dict | None = None, order_by: str | None = None,
                     overwrite: bool = False, report: bool = True,
                     progress: Callable[[str], None] | None = None) -> dict:
    """Analyse each session alone, then write the progress view; all into ``out`` atomically.

    Parameters
    ----------
    sessions : sequence of SessionSpec
        In the order given (used unless ``order_by`` or a ``date`` metadata applies).
    out : path
        Output folder (refused if it exists, unless ``overwrite``).
    config : dict, optional
        Complete parameters (:func:`somacore.analysis.resolve_config`).
    order_by : str, optional
        Metadata column to order sessions by (default ``date`` when every session has it).
    report : bool
        Write each session's ``report.html`` and ``progress.html``.
    progress : callable, optional
        Called with one line per step.

    Returns
    -------
    dict
        The content of ``progress.json``.
    """
    from somacore.analysis import analyze_session, check_out_dir, resolve_config, write_outputs
    from somacore.analysis.output import staged_folder

    cfg = config if config is not None else resolve_config()
    say = progress or (lambda msg: None)
    if not sessions:
        raise AnalysisError("no sessions given: pass --sessions FILE [FILE ...] or --manifest")
    ids = [s.session for s in sessions]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise AnalysisError(f"session {dup[0]!r} is given more than once; give each session a "
                            "distinct id")
    out = check_out_dir(out, overwrite=overwrite)
    # a bad --order-by fails before the slow work
    order_sessions([SessionEntry(s.session, [], [], dict(s.metadata)) for s in sessions],
                   order_by)
    entries: list[SessionEntry] = []
    with staged_folder(out) as tmp:
        (tmp / "sessions").mkdir()
        n = len(sessions)
        for k, spec in enumerate(sessions, start=1):
            def sub(msg: str, _k: int = k, _sid: str = spec.session) -> None:
                say(f"session {_k}/{n} ({_sid}): {msg}")

            try:
                res = analyze_session(spec.people, cfg, progress=sub)
            except AnalysisError as exc:
                raise AnalysisError(f"session {spec.session}: {exc}") from None
            summary = write_outputs(res, tmp / "sessions" / spec.session, report=report,
                                    progress=sub)
            people, pairs = flatten_summary(summary)
            entries.append(SessionEntry(spec.session, people, pairs, dict(spec.metadata)))
        doc = _write_progress(entries, tmp, order_by=order_by,
                              table_format=cfg["tables"]["format"], report=report,
                              parameters=cfg, source="analysed here, one session at a time",
                              session_folder="sessions/{}",
                              session_report="sessions/{}/report.html" if report else None)
        say(f"progress view of {n} session(s) written ({doc['order']})")
    return doc


def _batch_entries(batch_out: Path) -> tuple[list[SessionEntry], dict]:
    import pyarrow.parquet as pq

    from somacore.batch.dataset import SUMMARY_NAME
    from somacore.batch.worker import session_dir

    f = batch_out / SUMMARY_NAME
    if not f.is_file():
        raise AnalysisError(f"{batch_out} is not a somacore batch output (no {SUMMARY_NAME}); "
                            "pass the --out folder of 'somacore batch'")
    rows = pq.read_table(f).to_pylist()
    try:
        run = json.loads((batch_out / "run_manifest.json").read_text())
    except (OSError, ValueError):
        run = {}
    fixed = {"session", "person", "status", "error", "file", "elapsed_s", "source", "label",
             "notes"}
    person_prefixes = ("heart_", "hrv_", "breathing_", "arousal_")
    entries: dict[str, SessionEntry] = {}
    for r in rows:
        sid = r["session"]
        e = entries.get(sid)
        if e is None:
            meta = {k: v for k, v in r.items()
                    if k not in fixed and not k.startswith(person_prefixes)}
            e = entries[sid] = SessionEntry(sid, [], [], meta, status=r.get("status") or "",
                                            error=r.get("error"))
            sync = session_dir(batch_out, sid) / "synchrony.parquet"
            if e.status == "done" and sync.is_file():
                e.pairs = [q for q in pq.read_table(sync).to_pylist() if q.get("first")]
        e.people.append(r)
    return list(entries.values()), run


def progress_from_batch(batch_out: str | Path, out: str | Path, *, order_by: str | None = None,
                        overwrite: bool = False, report: bool = True,
                        progress: Callable[[str], None] | None = None) -> dict:
    """The progress view of a ``somacore batch`` output folder, written into ``out``.

    Sessions in the manifest's order (or by ``order_by`` / ``date``); failed
    sessions are kept with their status and no numbers.
    """
    from somacore.analysis import check_out_dir
    from somacore.analysis.output import staged_folder

    say = progress or (lambda msg: None)
    batch_out = Path(batch_out)
    if not batch_out.is_dir():
        raise AnalysisError(f"batch output folder {batch_out} does not exist; pass the --out "
                            "folder of 'somacore batch'")
    entries, run = _batch_entries(batch_out)
    say(f"read {len(entries)} session(s) from {batch_out}")
    order_sessions(entries, order_by)
    out = check_out_dir(out, overwrite=overwrite)
    with staged_folder(out) as tmp:
        doc = _write_progress(entries, tmp, order_by=order_by, table_format="auto",
                              report=report, parameters=run.get("parameters"),
                              source=f"somacore batch output {batch_out}",
                              session_folder=str(batch_out.resolve() / "sessions" /
                                                 "session={}"), session_report=None)
        say(f"progress view of {len(entries)} session(s) written ({doc['order']})")
    return doc


def _json_rows(t) -> list[dict]:
    cols = list(t.columns)
    out = []
    for i in range(len(t)):
        row = {}
        for c in cols:
            v = t.columns[c][i]
            if isinstance(v, (float, np.floating)):
                v = float(v) if math.isfinite(v) else None
            elif isinstance(v, np.integer):
                v = int(v)
            row[c] = v
        out.append(row)
    return out


def _write_progress(entries: list[SessionEntry], folder: Path, *, order_by: str | None,
                    table_format: str, report: bool, parameters: dict | None, source: str,
                    session_folder: str, session_report: str | None) -> dict:
    import platform

    import somacore
    from somacore.analysis.tables import choose_format, write_table

    ordered, how, column = order_sessions(entries, order_by)
    people, pairs = progress_tables(ordered)
    fmt = choose_format(table_format)
    tables = {}
    for t in (people, pairs):
        path = write_table(t, folder, fmt)
        tables[t.name] = {"file": path.name, "rows": len(t), "units": t.units,
                          "description": t.description}
    doc: dict[str, Any] = {
        "software": {"name": "somacore", "version": somacore.__version__,
                     "python": platform.python_version()},
        "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "source": source, "order": how, "order_by": column,
        "sessions": [{"order": k, "session": e.session, "status": e.status, "error": e.error,
                      "metadata": {m: (None if isinstance(v, float) and math.isnan(v) else v)
                                   for m, v in e.metadata.items()},
                      "folder": session_folder.format(e.session),
                      "report": session_report.format(e.session) if session_report and
                      e.status == "done" else None}
                     for k, e in enumerate(ordered, start=1)],
        "metrics": {"people": {c: {"unit": u, "label": lab, "summary_key": key}
                               for c, key, u, lab in PERSON_METRICS},
                    "pairs": {c: {"unit": u, "label": lab, "summary_key": key}
                              for c, key, u, lab in PAIR_METRICS}},
        "people": _json_rows(people), "pairs": _json_rows(pairs),
        "table_format": fmt, "tables": tables, "parameters": parameters, "report": None,
        "notes": [],
    }
    if report:
        try:
            from somacore.report.progress import write_progress_report

            write_progress_report(doc, folder / "progress.html")
            doc["report"] = "progress.html"
        except ImportError as exc:
            doc["notes"].append(f"progress.html not written: {exc}")
    with open(folder / "progress.json", "w", encoding="utf-8") as fh:
        json.dump(doc, fh, indent=2, allow_nan=False, default=str)
        fh.write("\n")
    return doc
