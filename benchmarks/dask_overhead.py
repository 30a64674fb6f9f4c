"""Dask's own background CPU: an idle 2-worker LocalCluster, Dask's defaults against somacore's.

Measures, over ``--seconds`` of idling after a warm-up, the CPU time per second of the driver
process's threads (in a LocalCluster the scheduler and the nannies run there, on the "IO loop"
thread) and of each worker process. This is CPU the machine cannot give to sessions; on a
2-core machine every 100 ms/s is 5 % of it.

    python benchmarks/dask_overhead.py [--seconds 10]
"""

from __future__ import annotations

import argparse
import threading
import time


def _cpu_by_thread() -> dict[str, float]:
    import psutil

    names = {t.native_id: t.name for t in threading.enumerate()}
    return {names.get(t.id, str(t.id)): t.user_time + t.system_time
            for t in psutil.Process().threads()}


def _cpu_of_children() -> dict[int, float]:
    import psutil

    out = {}
    for c in psutil.Process().children(recursive=True):
        try:
            t = c.cpu_times()
            if "multiprocessing" in " ".join(c.cmdline()) and "resource_tracker" not in \
                    " ".join(c.cmdline()):
                out[c.pid] = t.user + t.system
        except psutil.Error:
            pass
    return out


def idle_cost(config: dict, seconds: float) -> dict:
    import dask
    from distributed import Client, LocalCluster

    from somacore.batch.executors import warm_up

    with dask.config.set(config), LocalCluster(n_workers=2, threads_per_worker=1,
                                               processes=True, dashboard_address=None) as cl, \
            Client(cl) as client:
        warm_up(client)
        time.sleep(1.0)
        a, b = _cpu_by_thread(), _cpu_of_children()
        tic = time.perf_counter()
        time.sleep(seconds)
        dt = time.perf_counter() - tic
        a2, b2 = _cpu_by_thread(), _cpu_of_children()
    driver = sum(a2.values()) - sum(a.get(k, 0.0) for k in a2)
    workers = [1e3 * (b2[p] - b[p]) / dt for p in b2 if p in b]
    return {"driver_ms_per_s": 1e3 * driver / dt, "worker_ms_per_s": workers}


def main() -> int:
    from somacore.batch.executors import LOCAL_CLUSTER_CONFIG

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    args = ap.parse_args()
    for name, cfg in (("Dask defaults", {}), ("somacore local_cluster", LOCAL_CLUSTER_CONFIG)):
        r = idle_cost(cfg, args.seconds)
        print(f"{name:24s} driver {r['driver_ms_per_s']:5.1f} ms/s   workers "
              + ", ".join(f"{w:5.1f}" for w in r["worker_ms_per_s"]) + " ms/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
