"""Batch analysis: pytest-benchmark suites over sessions tiled from real MIT-BIH records.

- ``batch-sessions``: 40 sessions (15-min excerpts, every 5th a dyad) through
  :func:`somacore.batch.run` on the default process pool with 1 and 2 workers and on a Dask
  ``LocalCluster`` with 1 and 2 single-threaded workers; each round starts from an empty output
  folder and includes starting the pool (the cluster is started once per parameter).
- ``batch-one-hour-session``: the worker's cost of one 1-hour session (records 100 + 101
  concatenated), read + analyse + atomic write: the figure behind the sizing estimate.

``python benchmarks/batch_report.py`` writes the 200-session table to ``results/batch.md``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from batch_report import build_inputs, one_hour_task

N_SESSIONS = 40


@pytest.fixture(scope="module")
def manifest(tmp_path_factory) -> Path:
    return build_inputs(tmp_path_factory.mktemp("batch-data"), N_SESSIONS)


@pytest.mark.benchmark(group="batch-sessions")
@pytest.mark.parametrize("executor", ["pool", "dask"])
@pytest.mark.parametrize("workers", [1, 2])
def test_batch_sessions(benchmark, manifest: Path, tmp_path: Path, executor: str,
                        workers: int) -> None:
    import somacore.batch as batch

    out = tmp_path / "out"

    def fresh():
        shutil.rmtree(out, ignore_errors=True)
        return (), {}

    if executor == "pool":
        res = benchmark.pedantic(lambda: batch.run(manifest, out=out, workers=workers),
                                 setup=fresh, rounds=2)
    else:
        distributed = pytest.importorskip("distributed")
        from somacore.batch.executors import local_cluster

        with local_cluster(workers) as cluster, distributed.Client(cluster) as client:
            res = benchmark.pedantic(lambda: batch.run(manifest, out=out, executor=client),
                                     setup=fresh, rounds=2)
    assert res.n_done == N_SESSIONS and res.n_failed == 0
    benchmark.extra_info["sessions_per_min"] = 60 * N_SESSIONS / benchmark.stats["median"]


@pytest.mark.benchmark(group="batch-one-hour-session")
def test_one_hour_session_worker_cost(benchmark, tmp_path_factory) -> None:
    from somacore.batch import run_session

    task = one_hour_task(tmp_path_factory.mktemp("hour"))
    rec = benchmark.pedantic(run_session, args=(task,), rounds=3, warmup_rounds=1)
    assert rec["status"] == "done", rec["error"]
