"""``somacore batch``: the batch run from the command line.

Wiring into :mod:`somacore.cli` (inside ``build_parser``, after the other commands)::

    from somacore.batch.cli import add_parser as _add_batch
    _add_batch(sub)

Scheduler choice: no ``--scheduler`` runs a local process pool of
``--workers`` processes; ``--scheduler local`` starts a Dask ``LocalCluster``
of ``--workers`` single-threaded worker processes for this run (and stops it
afterwards); ``--scheduler tcp://HOST:PORT`` uses an existing Dask cluster,
which is left running. An unreachable scheduler is an error before any work.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

__all__ = ["add_parser", "main_batch"]

_BAR = 28
#: how long to try to reach a Dask scheduler address before giving up
CONNECT_TIMEOUT = "5s"


class _Bar:
    """A progress bar over sessions with live counts (stderr; one line per second if no TTY)."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.tty = sys.stderr.isatty()
        self.last = 0.0

    def __call__(self, prog: Any) -> None:
        if self.quiet:
            return
        now = time.perf_counter()
        final = prog.remaining == 0
        if not self.tty and not final and now - self.last < 1.0:
            return
        self.last = now
        finished = prog.done + prog.failed
        frac = finished / prog.total if prog.total else 1.0
        fill = round(frac * _BAR)
        ran = finished - prog.skipped
        rate = 60.0 * ran / prog.elapsed_s if prog.elapsed_s > 0 and ran else 0.0
        eta = f" eta {prog.remaining / rate:5.1f} min" if rate > 0 and prog.remaining else ""
        line = (f"sessions [{'#' * fill}{'.' * (_BAR - fill)}] {finished}/{prog.total}  "
                f"done {prog.done}  failed {prog.failed}  remaining {prog.remaining}  "
                f"{rate:.1f}/min{eta}")
        if self.tty:
            sys.stderr.write("\r" + line + ("\n" if final else ""))
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()


def _client(scheduler: str, workers: int | None):
    """A Dask client (and the LocalCluster it owns, if any); a clear error when unreachable."""
    from somacore.batch.manifest import BatchError

    try:
        from distributed import Client
    except ImportError:
        raise BatchError("--scheduler needs dask.distributed: pip install 'somacore[dask]' "
                         "(or 'dask[distributed]'); without --scheduler a local process pool "
                         "is used") from None
    if scheduler == "local":
        from somacore.batch.executors import local_cluster

        cluster = local_cluster(workers)
        return Client(cluster), cluster
    try:
        return Client(scheduler, timeout=CONNECT_TIMEOUT), None
    except (OSError, TimeoutError, ValueError) as exc:
        raise BatchError(f"cannot reach the Dask scheduler at {scheduler} ({exc}); check the "
                         "address (tcp://HOST:8786) and that the scheduler is running") from None


def main_batch(args: argparse.Namespace) -> int:
    """Handler of ``somacore batch`` (``args`` from the parser of :func:`add_parser`)."""
    from somacore import cli as _cli

    def body() -> int:
        from somacore.batch import BatchError, load_manifest, run

        if args.workers is not None and args.workers < 1:
            raise BatchError(f"--workers must be at least 1, got {args.workers}")
        overrides = _cli._config(args)          # checked parameters, before any work
        man = load_manifest(args.manifest)      # checked manifest, before any work
        client = cluster = None
        if args.scheduler:
            client, cluster = _client(args.scheduler, args.workers)
        bar = _Bar(args.quiet)
        try:
            res = run(man, out=args.out, executor=client, config=overrides,
                      workers=args.workers, force=args.force, progress=bar)
        except KeyboardInterrupt:
            sys.stderr.write(f"\nsomacore batch: interrupted; finished sessions are kept in "
                             f"{args.out}/ and skipped when the same command runs again\n")
            return 130
        finally:
            if client is not None:
                client.close()
            if cluster is not None:
                cluster.close()
        if not args.quiet:
            sys.stderr.write(
                f"somacore batch: {res.n_done} done ({res.n_skipped} already done), "
                f"{res.n_failed} failed, in {res.wall_s:.1f} s -> {res.out}/ "
                "(summary.parquet, run_manifest.json)\n")
            for sid, err in list(res.failed.items())[:10]:
                sys.stderr.write(f"  failed {sid}: {err}\n")
        if args.json:
            sys.stdout.write(json.dumps({"out": str(res.out), "done": res.n_done,
                                         "failed": res.n_failed, "skipped": res.n_skipped,
                                         "wall_s": res.wall_s, "errors": res.failed}) + "\n")
        return 0 if res.n_failed == 0 else 1

    return _cli._run_guarded("batch", args, body)


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``batch`` command to ``somacore``'s subparsers."""
    from somacore import cli as _cli

    b = subparsers.add_parser(
        "batch", help="analyse many sessions (a manifest) on a process pool or a Dask cluster",
        description="Analyse every session of MANIFEST (CSV or Parquet: session, person, file, "
                    "[channels], [label], metadata...) into a Parquet dataset under --out, "
                    "resumably: run it again and finished sessions are skipped, failed ones "
                    "retried. Exit status 0 when every session is done, 1 when some failed "
                    "(see run_manifest.json), 2 for bad input.")
    b.add_argument("manifest", metavar="MANIFEST", help="CSV or Parquet manifest")
    b.add_argument("--out", required=True, metavar="DIR",
                   help="output folder (created; an earlier batch output there is resumed)")
    b.add_argument("--scheduler", metavar="local|ADDRESS",
                   help="'local': a Dask LocalCluster for this run; tcp://HOST:PORT: an "
                        "existing Dask scheduler; default: a local process pool")
    b.add_argument("--workers", type=int, metavar="N",
                   help="worker processes (local pool or LocalCluster; default: CPUs)")
    b.add_argument("--force", action="store_true",
                   help="analyse every session again, even unchanged finished ones")
    b.add_argument("--quiet", action="store_true", help="no progress bar")
    b.add_argument("--json", action="store_true", help="print the run's counts on stdout")
    b.add_argument("--debug", action="store_true", help="show tracebacks")
    _cli._add_param_options(b)
    b.set_defaults(func=main_batch)
    return b
