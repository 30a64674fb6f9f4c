"""First-call cost of a Numba metric, with and without its on-disk cache (issue 5's numbers).

Each measurement runs in a fresh Python process (nothing compiled or imported yet) and times,
for two targets:

- ``eda``: ``EdaMetric().compute(window)`` of the ``somacore-eda`` plugin (tonic/phasic
  decomposition and SCR detection: five ``somacore.numba.jit`` kernels) on a 60 s window of
  simulated skin conductance at 32 Hz (seeded, as in ``test_bench_plugins.py``; there is no
  real EDA recording in ``../shared/data``);
- ``moving_mean``: the shared ``somacore.numba_kernels.moving_mean`` on 1,920 samples, w=65.

Modes:

- ``cold cache``: ``NUMBA_CACHE_DIR`` set to a new empty folder: the first call compiles;
- ``warm cache``: ``NUMBA_CACHE_DIR`` set to a folder an earlier process filled: the first
  call loads the compiled code from disk;
- ``no numba``: ``SOMACORE_DISABLE_NUMBA=1``, the plain-Python fallback.

Columns: ``import numba`` (s, the child imports it before anything else; 0 without Numba),
``first call`` (s: import of the target module + the first call, i.e. compile or cache load),
``total`` (the two), ``warm call`` (ms: median of 20 later calls in the same process), and
Numba's cache hit and miss counters (so a "warm" row that recompiled would show). Each figure
is the median over ``--processes`` processes.

Run: ``python benchmarks/numba_first_call.py [--processes 7]`` (needs ``somacore-eda``
installed: ``pip install ./plugins/somacore-eda``). Writes ``results/numba_first_call.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"

CHILD = r"""
import json, os, sys, time
t = time.perf_counter()
if os.environ.get("SOMACORE_DISABLE_NUMBA") != "1":
    import numba  # noqa: F401
t_numba = time.perf_counter() - t
import numpy as np
target = sys.argv[1]
if target == "eda":
    from somacore.plugins.types import StreamInfo, StreamWindow, Window
    fs, n = 32.0, 1920
    rng = np.random.default_rng(100)
    tt = np.arange(n) / fs
    x = 2.0 + 0.3 * np.sin(2 * np.pi * tt / 240.0)
    for onset in rng.uniform(0, tt[-1], size=6):
        d = np.clip(tt - onset, 0, None)
        x += rng.uniform(0.05, 0.4) * (1 - np.exp(-d / 0.75)) * np.exp(-d / 4.0)
    x += 0.002 * rng.standard_normal(n)
    win = Window("p", 0.0, 60.0, {"eda": StreamWindow(StreamInfo("eda", "eda", "uS", fs), x, tt)})
    t = time.perf_counter()
    from somacore_eda.metrics import EdaMetric
    m = EdaMetric()
    out = m.compute(win)
    first = time.perf_counter() - t
    call = lambda: m.compute(win)
    jitted = bool(getattr(m.kernel, "somacore_jit", False))
else:
    x = np.random.default_rng(1).standard_normal(1920)
    t = time.perf_counter()
    from somacore.numba_kernels import moving_mean
    moving_mean(x, 65)
    first = time.perf_counter() - t
    call = lambda: moving_mean(x, 65)
    jitted = bool(getattr(moving_mean, "somacore_jit", False))
warm = []
for _ in range(20):
    t = time.perf_counter()
    call()
    warm.append(time.perf_counter() - t)
warm.sort()
hits = misses = 0
if jitted:  # Numba's own count of signatures loaded from / compiled into the cache
    import somacore.numba_kernels as nk
    mods = [nk]
    if target == "eda":
        import somacore_eda._kernels as ek
        mods.append(ek)
    seen = set()
    for mod in mods:
        for f in vars(mod).values():
            st = getattr(f, "stats", None)
            if getattr(f, "somacore_jit", False) and st is not None and id(f) not in seen:
                seen.add(id(f))
                hits += sum(st.cache_hits.values())
                misses += sum(st.cache_misses.values())
print(json.dumps({"numba": t_numba, "first": first, "warm": warm[10], "jitted": jitted,
                  "hits": hits, "misses": misses}))
"""


def _child(target: str, env: dict[str, str]) -> dict:
    r = subprocess.run([sys.executable, "-c", CHILD, target], env=env, capture_output=True,
                       text=True, check=False)
    if r.returncode != 0:
        raise RuntimeError(f"child ({target}) failed:\n{r.stderr}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def measure(target: str, mode: str, processes: int) -> dict:
    """Median figures of ``processes`` fresh processes for one target and mode."""
    base = {k: v for k, v in os.environ.items()
            if k not in ("NUMBA_CACHE_DIR", "SOMACORE_DISABLE_NUMBA")}
    runs = []
    with tempfile.TemporaryDirectory(prefix="numba-cache-") as root:
        warm_dir = Path(root) / "warm"
        if mode == "warm cache":  # one process fills the cache, the measured ones load it
            _child(target, {**base, "NUMBA_CACHE_DIR": str(warm_dir)})
        for k in range(processes):
            env = dict(base)
            if mode == "cold cache":
                env["NUMBA_CACHE_DIR"] = str(Path(root) / f"cold{k}")  # new, empty
            elif mode == "warm cache":
                env["NUMBA_CACHE_DIR"] = str(warm_dir)
            else:
                env["SOMACORE_DISABLE_NUMBA"] = "1"
            runs.append(_child(target, env))
    want_jit = mode != "no numba"
    if any(r["jitted"] != want_jit for r in runs):
        raise RuntimeError(f"{target}/{mode}: kernel jitted={runs[0]['jitted']}, expected "
                           f"{want_jit} (is numba installed?)")
    med = {k: statistics.median(r[k] for r in runs) for k in ("numba", "first", "warm")}
    med["total"] = statistics.median(r["numba"] + r["first"] for r in runs)
    med["hits"] = statistics.median(r["hits"] for r in runs)
    med["misses"] = statistics.median(r["misses"] for r in runs)
    return med


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--processes", type=int, default=7, help="fresh processes per cell")
    ap.add_argument("--out", type=Path, default=RESULTS / "numba_first_call.md")
    args = ap.parse_args(argv)
    import numba
    import numpy as np

    import somacore

    try:
        from importlib.metadata import version
        eda_version = version("somacore-eda")
    except Exception:
        print("somacore-eda is not installed: pip install ./plugins/somacore-eda", file=sys.stderr)
        return 2
    rows = []
    for target in ("eda", "moving_mean"):
        for mode in ("cold cache", "warm cache", "no numba"):
            m = measure(target, mode, args.processes)
            rows.append((target, mode, m))
            print(f"{target:12s} {mode:11s} import numba {m['numba']:.3f} s  first call "
                  f"{m['first']:.3f} s  total {m['total']:.3f} s  warm {m['warm'] * 1e3:.3f} ms"
                  f"  cache hits/misses {m['hits']:g}/{m['misses']:g}",
                  flush=True)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines = [
        "# First-call cost of a Numba metric, with and without its cache",
        "",
        f"`python benchmarks/numba_first_call.py --processes {args.processes}`; somacore "
        f"{somacore.__version__}, somacore-eda {eda_version}, numba {numba.__version__}, numpy "
        f"{np.__version__}, Python {platform.python_version()}, {os.cpu_count()} CPUs, load "
        f"average {load:.1f} at the end. Medians over {args.processes} fresh processes per row.",
        "",
        "`eda`: `EdaMetric().compute()` of somacore-eda on a 60 s window of simulated skin "
        "conductance at 32 Hz; `moving_mean`: `somacore.numba_kernels.moving_mean` on 1,920 "
        "samples. cold cache: `NUMBA_CACHE_DIR` a new empty folder (compiles); warm cache: a "
        "folder filled by an earlier process (loads); no numba: `SOMACORE_DISABLE_NUMBA=1` "
        "(plain Python). first call = import of the target module + first call; warm call = "
        "median of 20 later calls in the same process; cache hits / misses: Numba's own "
        "counters (`dispatcher.stats`) summed over the jitted kernels in the process.",
        "",
        "| target | mode | import numba s | first call s | total s | warm call ms | "
        "cache hits / misses |",
        "|---|---|---|---|---|---|---|",
    ]
    for target, mode, m in rows:
        lines.append(f"| {target} | {mode} | {m['numba']:.3f} | {m['first']:.3f} | "
                     f"{m['total']:.3f} | {m['warm'] * 1e3:.3f} | "
                     + (f"{m['hits']:g} / {m['misses']:g} |" if mode != "no numba" else "- |"))
    args.out.parent.mkdir(exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
