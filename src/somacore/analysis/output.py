"""Writing a session's outputs into a folder, all or nothing.

Everything is written into a temporary sibling folder (``.<name>.tmp-XXXX``
next to the target) and renamed into place at the very end, so a crash or an
interrupted run never leaves a half-written output folder: either the old
folder (or nothing) is there, or the complete new one. With ``overwrite`` the
old folder is first renamed aside and removed only after the new one is in
place.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from somacore.analysis.pipeline import AnalysisError, SessionResult, build_tables, summary_dict
from somacore.analysis.tables import choose_format, write_table

__all__ = ["check_out_dir", "staged_folder", "write_outputs"]


def check_out_dir(out: str | Path, *, overwrite: bool) -> Path:
    """Refuse an existing output folder unless ``overwrite`` (checked before any work)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise AnalysisError(f"output {out} exists and is not a folder; choose another --out")
    if out.exists() and not overwrite:
        raise AnalysisError(f"output folder {out} already exists; pass --overwrite to replace "
                            "it or choose another --out")
    parent = out.resolve().parent
    if not parent.is_dir():
        raise AnalysisError(f"the parent folder of {out} does not exist; create it first")
    if not os.access(parent, os.W_OK):
        raise AnalysisError(f"cannot write into {parent}; choose a writable --out")
    return out


@contextlib.contextmanager
def staged_folder(out: Path) -> Iterator[Path]:
    """A temporary sibling of ``out`` to fill; renamed to ``out`` when the block ends.

    On an exception nothing changes (the temporary folder is removed). An
    existing ``out`` is renamed aside and removed only once the new one is in
    place (callers check ``overwrite`` first, with :func:`check_out_dir`).
    """
    out = Path(out)
    parent = out.resolve().parent
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=parent))
    # mkdtemp makes the folder private (0o700); the result should get the usual
    # permissions, as if made by mkdir under the user's umask
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)
    try:
        yield tmp
        old = None
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=parent))
            os.replace(out, old / out.name)
        os.replace(tmp, out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_outputs(res: SessionResult, out: str | Path, *, overwrite: bool = False,
                  report: bool = True, progress: Callable[[str], None] | None = None,
                  extra: dict | None = None) -> dict:
    """Write tables, ``summary.json`` and ``report.html`` into ``out`` atomically.

    Parameters
    ----------
    res : SessionResult
        The analysed session.
    out : path
        Output folder; must not exist unless ``overwrite``.
    overwrite : bool
        Replace an existing folder (only once the new one is complete).
    report : bool
        Also write ``report.html`` (needs matplotlib; without it a note is
        added to the summary and the rest is written).
    progress : callable, optional
        Called with one line per step.
    extra : dict, optional
        Extra top-level entries for ``summary.json`` (e.g. a demo's ground truth).

    Returns
    -------
    dict
        The summary (also written as ``summary.json``).
    """
    say = progress or (lambda msg: None)
    out = check_out_dir(out, overwrite=overwrite)
    with staged_folder(out) as tmp:
        fmt = choose_format(res.config["tables"]["format"])
        tables = build_tables(res)
        info = {}
        for t in tables:
            path = write_table(t, tmp, fmt)
            info[t.name] = {"file": path.name, "rows": len(t), "units": t.units,
                            "description": t.description}
        say(f"tables written as {fmt}: " + ", ".join(f"{t.name} ({len(t)})" for t in tables))
        fmt_note = fmt if fmt == "parquet" else (
            "csv (pyarrow is not installed; install it for Parquet tables with units in the "
            "schema)" if res.config["tables"]["format"] == "auto" else "csv")
        summary = summary_dict(res, table_format=fmt_note, tables=info)
        summary.update(extra or {})
        summary["report"] = None
        if report:
            try:
                from somacore.report import write_report

                write_report(res, summary, tmp / "report.html")
                summary["report"] = "report.html"
                say("report.html written")
            except ImportError as exc:
                # tables and summary are still worth having without matplotlib
                summary["notes"].append(f"report.html not written: {exc}")
                say(f"report.html not written: {exc}")
        with open(tmp / "summary.json", "w", encoding="utf-8") as fh:
            json.dump(summary, fh, indent=2, allow_nan=False)
            fh.write("\n")
    return summary
