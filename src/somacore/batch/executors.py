"""One small interface over a ``concurrent.futures.Executor`` or a ``dask.distributed.Client``.

The user's executor or client is used as given and never shut down here; only
the default process pool (made when ``executor=None``) is owned, and closed,
by the batch run. When a worker process of a ``ProcessPoolExecutor`` dies the
pool is broken for good (every task in flight fails, every later submit
fails): the default pool is then replaced, and so is a user's process pool,
by a fresh pool of the same size, start method and initializer that this run
owns and shuts down (the user's broken pool is left as it is). Dask is
imported only when a Dask client is passed (it is recognised by its type's
module, without importing dask).
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["LOCAL_CLUSTER_CONFIG", "Adapter", "DaskAdapter", "PoolAdapter", "WorkerLost", "adapt",
           "default_pool", "local_cluster", "warm_up"]


class WorkerLost(RuntimeError):
    """The process running a session died (killed, out of memory, crashed).

    ``shared`` is True when the executor lost every task in flight at once (a
    broken process pool), so the session that killed the worker is not known;
    False when the loss is the session's own (Dask's ``KilledWorker``).
    """

    def __init__(self, message: str, *, shared: bool) -> None:
        super().__init__(message)
        self.shared = shared


def is_dask_client(obj: Any) -> bool:
    """True for a ``distributed.Client`` (checked without importing dask)."""
    return any(c.__module__.startswith("distributed") and c.__name__ == "Client"
               for c in type(obj).__mro__)


def default_pool(workers: int | None = None) -> cf.ProcessPoolExecutor:
    """A local process pool (spawned processes: safe with threads in the driver)."""
    n = workers or os.cpu_count() or 1
    return cf.ProcessPoolExecutor(max_workers=n, mp_context=multiprocessing.get_context("spawn"))


#: Dask settings of ``local_cluster`` (and recommended for ``dask worker``), measured on a
#: 2-worker LocalCluster here (benchmarks/results/batch.md). Idle, Dask's defaults burnt
#: ~75 ms/s of CPU in the driver (scheduler + nannies) and ~55 ms/s in each worker, and with
#: sessions running each worker used ~30 % more CPU per session than a pool process:
LOCAL_CLUSTER_CONFIG: dict[str, Any] = {
    # the statistical profiler samples the running task's stack every 10 ms, taking the GIL
    # from it (~25 ms/s per worker); it feeds only the dashboard's profile page
    "distributed.worker.profile.enabled": False,
    # the event-loop health tick, every 20 ms in each of scheduler, nannies, workers, client
    # (~45 ms/s of the driver's idle cost); at 1 s it still reports a blocked loop
    "distributed.admin.tick.interval": "1s",
    # dashboard time series (no dashboard is started)
    "distributed.admin.system-monitor.interval": "2s",
    # the nannies (threads of the driver process in a LocalCluster) poll each worker's memory;
    # 500 ms instead of 100 ms still stops a runaway worker long before the OOM killer
    "distributed.worker.memory.monitor-interval": "500ms",
    # keep glibc's own MALLOC_TRIM_THRESHOLD_ instead of Dask's 64 KiB, which returns memory
    # to the system after every large numpy temporary: ~30 % more CPU per session measured
    # (0.28 s against 0.21 s on a 15-min ECG session); an explicit one in the environment wins
    "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
}


def local_cluster(n_workers: int | None = None):
    """A Dask ``LocalCluster`` of single-threaded worker processes, tuned for session analysis.

    Used by ``somacore batch --scheduler local`` (never by :func:`somacore.batch.run`,
    which only uses the client it is given). One thread per worker process (the pipeline's
    Python parts hold the GIL), no dashboard, and :data:`LOCAL_CLUSTER_CONFIG`: Dask's
    background work (profiler, 20 ms ticks, memory polling) trimmed. Measured on an idle
    2-worker cluster (``benchmarks/dask_overhead.py``): 87 -> 14 ms/s of CPU in the driver
    and 58 -> 6 ms/s in each worker; with sessions running, a worker's CPU per session
    dropped to that of a process-pool worker (``benchmarks/results/batch.md``).
    """
    import dask
    from distributed import LocalCluster

    with dask.config.set(LOCAL_CLUSTER_CONFIG):
        return LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                            dashboard_address=None)


def warm_up(executor: Any, workers: int | None = None) -> float:
    """Start every worker and import the analysis there; return the seconds it took.

    Optional: :func:`somacore.batch.run` works on cold workers too. Used by the benchmark
    to time start-up apart from steady-state throughput.
    """
    import time

    tic = time.perf_counter()
    if is_dask_client(executor):
        executor.run(_import_analysis)
    else:
        n = getattr(executor, "_max_workers", None) or workers or os.cpu_count() or 1
        # one task per process: each holds its process long enough for the next to start
        list(executor.map(_import_analysis, [0.2] * int(n)))
    return time.perf_counter() - tic


def _import_analysis(hold_s: float = 0.0) -> int:
    import time

    import pyarrow.parquet  # noqa: F401

    import somacore.analysis  # noqa: F401
    from somacore.batch.worker import software_versions

    software_versions()                 # loads the plugins
    time.sleep(hold_s)
    return os.getpid()


def _pool_like(ex: cf.ProcessPoolExecutor, workers: int | None) -> cf.ProcessPoolExecutor:
    """A fresh process pool with what shapes the workers of ``ex`` (size, start, initializer)."""
    kw: dict[str, Any] = {
        "max_workers": getattr(ex, "_max_workers", None) or workers,
        "mp_context": getattr(ex, "_mp_context", None) or multiprocessing.get_context("spawn"),
        "initializer": getattr(ex, "_initializer", None),
        "initargs": getattr(ex, "_initargs", ()),
    }
    if getattr(ex, "_max_tasks_per_child", None):
        kw["max_tasks_per_child"] = ex._max_tasks_per_child
    return cf.ProcessPoolExecutor(**kw)


class Adapter:
    """Submit tasks and wait for the next finished ones."""

    owned: bool = False

    def slots(self) -> int:
        """How many tasks to keep in flight."""
        raise NotImplementedError

    def submit(self, fn: Callable, arg: Any) -> Any:
        raise NotImplementedError

    def wait(self, pending: Iterable[Any], timeout: float) -> list[Any]:
        """Finished futures among ``pending`` (empty after ``timeout`` seconds)."""
        raise NotImplementedError

    def result(self, fut: Any) -> Any:
        """The task's result; :class:`WorkerLost` when its process died."""
        raise NotImplementedError

    def recover(self) -> bool:
        """After a lost worker: make the executor usable again (True if it could)."""
        return True

    def chunk(self, queued: int) -> int:
        """Sessions to send in the next task, with ``queued`` sessions waiting."""
        return 1

    def close(self) -> None:
        """Release what this adapter owns (never the user's executor)."""


class PoolAdapter(Adapter):
    """Any ``concurrent.futures.Executor`` (process or thread pool)."""

    def __init__(self, executor: cf.Executor | None, workers: int | None = None) -> None:
        self.owned = executor is None
        self.workers = workers
        self.executor = default_pool(workers) if executor is None else executor
        #: the user's executor (None: the default pool), the model of any replacement
        self.users = executor
        #: pools made to replace a broken one (the user's or ours)
        self.replacements = 0

    def slots(self) -> int:
        n = getattr(self.executor, "_max_workers", None) or self.workers or os.cpu_count() or 1
        return 2 * int(n)

    def submit(self, fn: Callable, arg: Any) -> Any:
        try:
            return self.executor.submit(fn, arg)
        except cf.BrokenExecutor as exc:
            fut: cf.Future = cf.Future()
            fut.set_exception(exc)
            return fut

    def wait(self, pending: Iterable[Any], timeout: float) -> list[Any]:
        done, _ = cf.wait(list(pending), timeout=timeout, return_when=cf.FIRST_COMPLETED)
        return list(done)

    def result(self, fut: Any) -> Any:
        try:
            return fut.result()
        except cf.BrokenExecutor as exc:
            msg = " ".join(str(exc).split()) or "a worker process died"
            raise WorkerLost(f"{type(exc).__name__}: {msg}", shared=True) from None

    def recover(self) -> bool:
        """Replace a broken process pool (ours or the user's) by a fresh one we own."""
        ex = self.executor
        if not getattr(ex, "_broken", False):
            return True                 # already replaced after an earlier lost future
        if not isinstance(ex, cf.ProcessPoolExecutor):
            return False                # e.g. a thread pool whose initializer failed
        if self.owned:
            ex.shutdown(wait=False, cancel_futures=True)
        # the user's pool is left as it is (theirs, and broken for good)
        self.executor = default_pool(self.workers) if self.users is None else \
            _pool_like(self.users, self.workers)
        self.owned = True
        self.replacements += 1
        return True

    def close(self) -> None:
        if self.owned:                  # our default pool, or our replacement of the user's
            self.executor.shutdown(wait=True, cancel_futures=True)


class DaskAdapter(Adapter):
    """A ``dask.distributed.Client``; a task whose worker dies is re-run by the scheduler."""

    #: most sessions in one task. Each Dask task costs ~12 ms of CPU in the driver and the
    #: scheduler (about ten messages between client, scheduler and worker), measured on a
    #: LocalCluster, against ~1 ms for a process pool; 4 sessions of a few tenths of a
    #: second share it
    max_chunk = 4

    def __init__(self, client: Any) -> None:
        self.client = client
        self.threads = 1

    def slots(self) -> int:
        try:
            n = sum(self.client.nthreads().values())
        except Exception:
            n = 0
        self.threads = max(int(n), 1)
        return 2 * self.threads + 2

    def chunk(self, queued: int) -> int:
        # guided: several sessions per task while many are queued, one per task for the
        # last 4 x threads, so no worker is left with a long task while the others idle
        return max(1, min(self.max_chunk, queued // (4 * self.threads)))

    def submit(self, fn: Callable, arg: Any) -> Any:
        return self.client.submit(fn, arg, pure=False)

    def wait(self, pending: Iterable[Any], timeout: float) -> list[Any]:
        from distributed import wait
        from distributed.utils import TimeoutError as DTimeout

        pending = list(pending)
        try:
            res = wait(pending, timeout=timeout, return_when="FIRST_COMPLETED")
        except (TimeoutError, DTimeout):
            return []
        return list(res.done)

    def result(self, fut: Any) -> Any:
        from distributed import KilledWorker

        try:
            return fut.result()
        except KilledWorker as exc:
            raise WorkerLost(f"worker died while running it, more than the scheduler "
                             f"allows ({exc})", shared=False) from None
        finally:
            fut.release()


def adapt(executor: Any, workers: int | None = None) -> Adapter:
    """Wrap ``executor`` (None: a process pool of ``workers`` processes)."""
    if executor is not None and is_dask_client(executor):
        return DaskAdapter(executor)
    if executor is None or isinstance(executor, cf.Executor):
        return PoolAdapter(executor, workers)
    raise TypeError(f"executor must be a concurrent.futures.Executor or a "
                    f"dask.distributed.Client, got {type(executor).__name__}")
