"""Many sessions at once: batch analysis on any executor, from a laptop to a Dask cluster.

:func:`run` analyses a manifest (CSV or Parquet: session, person, file,
channels, metadata) session by session on a ``concurrent.futures.Executor``
(a local process pool by default) or a ``dask.distributed.Client``. Workers
open the files themselves; each session runs the same
:func:`somacore.analysis.analyze_session` as ``somacore analyze`` and is
written atomically into ``OUT/sessions/session=<id>/``. Runs are resumable:
finished sessions (same input checksums, parameters, somacore and reader
plugin versions) are skipped, failed ones retried. See ``docs/batch.md``.

Nothing here imports dask; it is imported only when a Dask client is used.
"""

from __future__ import annotations

import importlib
from typing import Any

# public name -> submodule; loaded on first use, so ``somacore batch --help`` (which imports
# somacore.batch.cli) and ``import somacore`` stay fast
_WHERE = {
    "TABLES": "dataset", "read_summary": "dataset", "read_table": "dataset",
    "write_summary": "dataset",
    "WorkerLost": "executors",
    "REQUIRED": "manifest", "BatchError": "manifest", "Manifest": "manifest",
    "PersonRow": "manifest", "load_manifest": "manifest",
    "RUN_MANIFEST": "driver", "SUMMARY": "driver", "BatchResult": "driver", "Progress": "driver",
    "run": "driver",
    "file_checksum": "worker", "params_hash": "worker", "run_session": "worker",
    "session_dir": "worker", "software_versions": "worker",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        value = getattr(importlib.import_module(f"somacore.batch.{_WHERE[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'somacore.batch' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))


__all__ = [
    "REQUIRED",
    "RUN_MANIFEST",
    "SUMMARY",
    "TABLES",
    "BatchError",
    "BatchResult",
    "Manifest",
    "PersonRow",
    "Progress",
    "WorkerLost",
    "file_checksum",
    "load_manifest",
    "params_hash",
    "read_summary",
    "read_table",
    "run",
    "run_session",
    "session_dir",
    "software_versions",
    "write_summary",
]
