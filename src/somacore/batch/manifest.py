"""Reading and checking a batch manifest (CSV or Parquet), before any work starts.

A manifest has one row per person of a session:

==========  ========  ==============================================================
column      required  meaning
==========  ========  ==============================================================
session     yes       session id: letters, digits, ``.``, ``_``, ``-`` (a folder name)
person      yes       the person's name within the session
file        yes       recording any installed reader opens; relative paths are
                      relative to the manifest's folder
channels    no        channel names or kinds to use, separated by ``,`` or ``;``
label       no        free text shown in reports
(other)     no        metadata, carried unchanged into the summary table
==========  ========  ==============================================================

Every problem (missing columns, the same (session, person) twice, a missing
file, an unusable session id, two session ids that differ only in case) is
collected over the whole manifest and raised as one :class:`BatchError` naming
the rows at fault (row 1 is the first data row; in a CSV it is line 2).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from somacore.analysis import AnalysisError

__all__ = ["REQUIRED", "BatchError", "Manifest", "PersonRow", "load_manifest"]

#: columns every manifest must have
REQUIRED = ("session", "person", "file")
_OPTIONAL = ("channels", "label")
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_MAX_LISTED = 8


class BatchError(AnalysisError):
    """A problem with a batch's input that the user can fix; raised before any work starts."""


@dataclass(frozen=True)
class PersonRow:
    """One manifest row: a person of a session."""

    row: int
    session: str
    person: str
    file: str
    channels: tuple[str, ...] | None = None
    label: str = ""
    metadata: tuple[tuple[str, Any], ...] = ()


@dataclass
class Manifest:
    """A checked manifest, grouped by session in first-seen order.

    Attributes
    ----------
    sessions : dict of str to list of PersonRow
        The people of each session.
    source : str
        Where the manifest came from.
    metadata_columns : list of str
        Extra columns carried into the summary table.
    """

    sessions: dict[str, list[PersonRow]] = field(default_factory=dict)
    source: str = ""
    metadata_columns: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.sessions)


def _rows_text(rows: list[int]) -> str:
    head = ", ".join(str(r) for r in rows[:_MAX_LISTED])
    more = f" and {len(rows) - _MAX_LISTED} more" if len(rows) > _MAX_LISTED else ""
    return f"row{'s' if len(rows) > 1 else ''} {head}{more}"


def _read_table(path: Path) -> list[dict[str, Any]]:
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        try:
            import pyarrow.parquet as pq
        except ImportError:  # pragma: no cover - pyarrow is needed for the outputs anyway
            raise BatchError("a Parquet manifest needs pyarrow: pip install pyarrow") from None
        try:
            return pq.read_table(path).to_pylist()
        except Exception as exc:
            raise BatchError(f"manifest {path} is not a readable Parquet file: {exc}") from None
    if suffix not in (".csv", ".tsv", ".txt"):
        raise BatchError(f"manifest {path}: expected a .csv or .parquet file")
    with open(path, newline="", encoding="utf-8-sig") as fh:
        text = fh.read()
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    delim = "\t" if suffix == ".tsv" else ","
    reader = csv.DictReader(lines, delimiter=delim)
    rows = []
    for r in reader:
        if None in r:
            raise BatchError(f"manifest {path}, row {reader.line_num - 1}: more values than "
                             "columns (quote values that contain the delimiter)")
        rows.append({k.strip(): (v.strip() if isinstance(v, str) else v) for k, v in r.items()})
    if reader.fieldnames is None:
        raise BatchError(f"manifest {path} is empty; expected a header with columns "
                         f"{', '.join(REQUIRED)}")
    if not rows:
        return _empty_with_columns([c.strip() for c in reader.fieldnames])
    return rows


def _empty_with_columns(cols: list[str]) -> list[dict[str, Any]]:
    # a header without rows: keep the columns so the missing-column check still applies
    return [{"__columns__": cols}]


def _blank(v: Any) -> bool:
    return v is None or (isinstance(v, float) and v != v) or (isinstance(v, str) and not v.strip())


def load_manifest(manifest: str | Path | Iterable[Mapping[str, Any]], *,
                  check_files: bool = True) -> Manifest:
    """Read and check a manifest.

    Parameters
    ----------
    manifest : path or iterable of mappings
        A CSV or Parquet file, or rows as dicts (e.g. ``df.to_dict("records")``).
        Relative ``file`` paths are resolved against the manifest's folder (the
        current folder for in-memory rows).
    check_files : bool
        Refuse rows whose file does not exist.

    Returns
    -------
    Manifest

    Raises
    ------
    BatchError
        Naming every row at fault.
    """
    if isinstance(manifest, (str, Path)):
        path = Path(manifest)
        if not path.is_file():
            raise BatchError(f"manifest {path} does not exist; pass a CSV or Parquet file")
        rows = _read_table(path)
        base, source = path.resolve().parent, str(path)
    else:
        rows = [dict(r) for r in manifest]
        base, source = Path.cwd(), "<rows>"
    columns: list[str] = []
    if len(rows) == 1 and "__columns__" in rows[0]:
        columns, rows = rows[0]["__columns__"], []
    for r in rows:
        for k in r:
            if k not in columns:
                columns.append(k)
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise BatchError(f"manifest {source}: missing column{'s' if len(missing) > 1 else ''} "
                         f"{', '.join(missing)} (found: {', '.join(columns) or 'none'}); "
                         f"required: {', '.join(REQUIRED)}")
    if not rows:
        raise BatchError(f"manifest {source} has no rows")
    meta_cols = [c for c in columns if c not in REQUIRED and c not in _OPTIONAL]
    problems: dict[str, list[int]] = {}
    seen: dict[tuple[str, str], int] = {}
    dups: list[str] = []
    # session ids become folder names: two that differ only in case would share one folder
    # on a case-insensitive file system (macOS, Windows, many shares)
    folded: dict[str, tuple[str, int]] = {}
    clashes: list[str] = []
    out = Manifest(source=source, metadata_columns=meta_cols)
    for i, r in enumerate(rows, start=1):
        blank = [c for c in REQUIRED if _blank(r.get(c))]
        if blank:
            problems.setdefault(f"empty {'/'.join(blank)}", []).append(i)
            continue
        sid, person, file = (str(r[c]).strip() for c in REQUIRED)
        if not _SAFE_ID.match(sid):
            problems.setdefault("session ids must be 1-128 letters, digits, '.', '_' or '-' "
                                "starting with a letter or digit", []).append(i)
            continue
        first = folded.setdefault(sid.casefold(), (sid, i))
        if first[0] != sid:
            clashes.append(f"{first[1]} and {i} ({first[0]!r} and {sid!r})")
            continue
        key = (sid, person)
        if key in seen:
            dups.append(f"{seen[key]} and {i} (session {sid}, person {person})")
            continue
        seen[key] = i
        fpath = Path(file).expanduser()
        if not fpath.is_absolute():
            fpath = base / fpath
        if check_files and not fpath.exists():
            problems.setdefault("file does not exist", []).append(i)
            continue
        ch = r.get("channels")
        chans = None
        if not _blank(ch):
            chans = tuple(c.strip() for c in re.split(r"[;,]", str(ch)) if c.strip()) or None
        label = "" if _blank(r.get("label")) else str(r["label"])
        meta = tuple((c, r.get(c)) for c in meta_cols)
        out.sessions.setdefault(sid, []).append(
            PersonRow(i, sid, person, str(fpath), chans, label, meta))
    msgs = []
    if dups:
        msgs.append("the same (session, person) more than once in rows "
                    + "; ".join(dups[:_MAX_LISTED])
                    + (f" and {len(dups) - _MAX_LISTED} more" if len(dups) > _MAX_LISTED else ""))
    if clashes:
        msgs.append("session ids that differ only in upper/lower case (one folder on a "
                    "case-insensitive file system) in rows " + "; ".join(clashes[:_MAX_LISTED])
                    + (f" and {len(clashes) - _MAX_LISTED} more"
                       if len(clashes) > _MAX_LISTED else ""))
    for what, rws in problems.items():
        detail = ""
        if what == "file does not exist":
            detail = " (" + ", ".join(str(rows[j - 1].get("file")) for j in rws[:3]) + \
                ("..." if len(rws) > 3 else "") + ")"
        msgs.append(f"{what}: {_rows_text(rws)}{detail}")
    if msgs:
        raise BatchError(f"manifest {source}: " + "; ".join(msgs)
                         + " (row 1 is the first data row); fix these rows, nothing was run")
    return out
