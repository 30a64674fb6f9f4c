"""Speed, warm-up and memory report: somacore against the reference detectors, goal by goal.

Run from the repository root (after ``pip install --no-build-isolation .``)::

    python benchmarks/speed_report.py            # 7 rounds; writes benchmarks/results/speed.*
    python benchmarks/speed_report.py --rounds 3 # quicker, noisier

Every comparison runs somacore and its references on the same array in the same process,
interleaved round by round (the order alternates each round), so that both share the
machine's noise. Only medians and ratios are reported. Warm-up cost and memory are measured in
fresh ``python -c`` subprocesses. Writes ``results/speed.md`` (table) and ``results/speed.json``
(medians, ratios, every round's time, versions, environment).
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import numpy as np

import _cases
import _data

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "results"
HOUR = 3600.0


# ------------------------------------------------------------------------------ helpers
@dataclass
class Row:
    """One line of the report table (formatted cells) and its raw numbers (for the JSON)."""

    case: str
    somacore: str
    reference: str
    ratio: str
    goal: str
    met: str
    beats: str = ""
    values: dict = field(default_factory=dict)


def median(xs: list[float]) -> float:
    """Median of a non-empty list."""
    return float(statistics.median(xs))


def fmt_s(v: float | None, unit: str = "s") -> str:
    """A duration with 3 significant digits."""
    return "n/a" if v is None else f"{v:.3g} {unit}"


def speedup(soma: float | None, ref: float | None) -> tuple[float | None, str]:
    """``ref / soma`` and its label."""
    if soma is None or ref is None:
        return None, "n/a"
    r = ref / soma
    return r, f"{r:.2f}x faster" if r >= 1 else f"{r:.2f}x (slower)"


def paired(t: dict[str, list[float]], soma: str, ref: str, scale: float = 1.0) -> float:
    """Median over rounds of ref/soma from the same round (cancels slow drifts in load)."""
    return median([r / s * scale for s, r in zip(t[soma], t[ref], strict=False)])


def verdict(ok: bool | None) -> str:
    """Table cell for a goal check."""
    return "n/a" if ok is None else ("yes" if ok else "**NO**")


def run_interleaved(cases: dict[str, Callable[[], int]], rounds: dict[str, int],
                    warmup: bool = True) -> tuple[dict[str, list[float]], dict[str, int]]:
    """Time each case ``rounds[name]`` times, interleaving cases and alternating their order.

    Returns per-case lists of seconds and the beat count each case returned.
    """
    names = list(cases)
    if warmup:
        for name in names:
            cases[name]()
    times: dict[str, list[float]] = {n: [] for n in names}
    beats: dict[str, int] = {}
    for r in range(max(rounds.values())):
        order = names if r % 2 == 0 else names[::-1]
        for name in order:
            if len(times[name]) >= rounds[name]:
                continue
            gc.collect()
            t0 = time.perf_counter()
            n = cases[name]()
            times[name].append(time.perf_counter() - t0)
            beats[name] = n
    return times, beats


def kernel_sha() -> str:
    """First 12 hex digits of the SHA-256 of the installed ECG kernel's shared library."""
    import somacore._core._ecg as k

    return hashlib.sha256(Path(k.__file__).read_bytes()).hexdigest()[:12]


def child_shas(raw: dict) -> set[str]:
    """Kernel hashes reported by every child process in ``raw``."""
    found: set[str] = set()

    def walk(v: object) -> None:
        if isinstance(v, dict):
            if v.get("kernel_sha"):
                found.add(v["kernel_sha"])
            for w in v.values():
                walk(w)
        elif isinstance(v, list):
            for w in v:
                walk(w)

    walk(raw)
    return found


def run_child(code: str, *args: str, cwd: Path) -> dict:
    """Run ``python -c code args...`` in a fresh process; its last stdout line is JSON."""
    proc = subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, capture_output=True,
                          text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"child process failed ({proc.returncode}):\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# Shared by the child processes: peak-RSS reset and /proc/self/status reader (Linux).
# ru_maxrss is only a fallback: Linux carries the parent's high-water mark across fork+exec,
# so in a child of this (large) process it can report the parent's peak, not the child's.
_PROC = textwrap.dedent("""
    import hashlib, json, os, resource, sys, time
    def kernel_sha():
        m = sys.modules.get("somacore._core._ecg")
        if m is None:
            return None
        with open(m.__file__, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()[:12]
    def status():
        out = {}
        with open("/proc/self/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmHWM", "VmRSS", "RssAnon", "RssFile"):
                    out[k] = int(v.split()[0]) * 1024
        return out
    def reset_peak():
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")  # resets VmHWM to the current RSS (Linux >= 4.0)
            return True
        except OSError:
            return False
""")

# First call in a fresh process against warm calls (same process, same input).
_FIRST_CALL = _PROC + textwrap.dedent("""
    import numpy as np
    x = np.load(sys.argv[1])
    fs = float(sys.argv[2])
    t0 = time.perf_counter()
    import somacore
    t_import = time.perf_counter() - t0
    t0 = time.perf_counter()
    n = len(somacore.detect_beats(x, fs=fs))
    first = time.perf_counter() - t0
    warm = []
    for _ in range(3):
        t0 = time.perf_counter()
        somacore.detect_beats(x, fs=fs)
        warm.append(time.perf_counter() - t0)
    print(json.dumps({"import": t_import, "first": first, "warm": warm, "beats": n,
                      "kernel_sha": kernel_sha()}))
""")

# Extra peak RSS (and traced numpy/Python allocations) of one batch call.
_BATCH_MEM = _PROC + textwrap.dedent("""
    import tracemalloc
    import numpy as np
    x = np.load(sys.argv[1])
    fs = float(sys.argv[2])
    which = sys.argv[3]
    if which == "somacore":
        import somacore
        def call(a):
            return len(somacore.detect_beats(a, fs=fs))
    else:
        import sleepecg
        def call(a):
            return len(sleepecg.detect_heartbeats(a, fs))
    call(x[: int(10 * fs)])  # import lazily loaded modules and kernels first
    exact = reset_peak()
    before = status()
    n = call(x)
    after = status()
    peak = after["VmHWM"] if exact else resource.getrusage(
        resource.RUSAGE_SELF).ru_maxrss * 1024
    tracemalloc.start()
    call(x)
    traced_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(json.dumps({"input_bytes": x.nbytes, "extra_peak": peak - before["VmRSS"],
                      "exact_peak_reset": exact, "rss_before": before["VmRSS"],
                      "traced_peak": traced_peak,
                      "beats": n, "kernel_sha": kernel_sha()}))
""")

# Streaming over a memory-mapped 24 h int16 WFDB record in 1 s chunks: RSS growth.
_STREAM_MEM = _PROC + textwrap.dedent("""
    import numpy as np
    from somacore.io import read_wfdb
    from somacore.stream import BeatDetector
    import somacore
    rec = read_wfdb(sys.argv[1], channels=[0], physical=False, mmap=True,
                    verify_checksums=False)
    x = rec.signals[:, 0]
    fs = rec.fs
    chunk = int(fs)
    det = BeatDetector(fs=fs)  # imports the kernel before the baseline is taken
    exact = reset_peak()
    before = status()
    t0 = time.perf_counter()
    n = 0
    for i in range(0, x.shape[0], chunk):
        n += len(det.update(x[i:i + chunk]))
    n += len(det.flush())
    elapsed = time.perf_counter() - t0
    after = status()
    peak = after["VmHWM"] if exact else resource.getrusage(
        resource.RUSAGE_SELF).ru_maxrss * 1024
    n_batch = len(somacore.detect_beats(x, fs=fs))
    print(json.dumps({"file_bytes": x.nbytes, "n_samples": int(x.shape[0]), "fs": fs,
                      "seconds": elapsed, "beats": n, "beats_batch": n_batch,
                      "exact_peak_reset": exact, "rss_before": before["VmRSS"],
                      "peak_rss": peak, "peak_growth": peak - before["VmRSS"],
                      "rss_anon_growth": after["RssAnon"] - before["RssAnon"],
                      "rss_file_growth": after["RssFile"] - before["RssFile"],
                      "kernel_sha": kernel_sha()}))
""")


# --------------------------------------------------------------------------- comparisons
def ecg_1h_360(rounds: int, out: dict) -> list[Row]:
    """1 h at 360 Hz: somacore vs sleepecg and NeuroKit2."""
    x = _data.ecg(1, _data.ECG_FS)
    fs = _data.ECG_FS
    t, b = run_interleaved(
        {"somacore": lambda: _cases.somacore_batch(x, fs),
         "sleepecg": lambda: _cases.sleepecg_ecg(x, fs),
         "neurokit2": lambda: _cases.neurokit_ecg(x, fs)},
        {"somacore": rounds, "sleepecg": rounds, "neurokit2": min(rounds, 5)})
    out["ecg_1h_360"] = {"times": t, "beats": b}
    s = median(t["somacore"])
    rows = []
    for ref, goal in (("sleepecg", 3.0), ("neurokit2", None)):
        m = median(t[ref])
        r, label = speedup(s, m)
        pr = paired(t, "somacore", ref)
        rows.append(Row(
            f"ECG 1 h @ 360 Hz vs {ref}", fmt_s(s), fmt_s(m), f"{label} (paired {pr:.2f}x)",
            f">= {goal:g}x faster" if goal else "(info)",
            verdict(r >= goal) if goal else "info", f"{b['somacore']} / {b[ref]}",
            {"somacore_s": s, "reference_s": m, "ratio": r, "paired_ratio": pr}))
    return rows


def ecg_24h_360(rounds: int, out: dict) -> list[Row]:
    """24 h at 360 Hz: seconds per hour, against sleepecg and against somacore's own 1 h.

    somacore's 1 h call runs in the same rounds, so the 24 h / 1 h comparison is paired too.
    """
    x = _data.ecg(24, _data.ECG_FS)
    x1 = _data.ecg(1, _data.ECG_FS)
    fs = _data.ECG_FS
    t, b = run_interleaved({"somacore": lambda: _cases.somacore_batch(x, fs),
                            "sleepecg": lambda: _cases.sleepecg_ecg(x, fs),
                            "somacore_1h": lambda: _cases.somacore_batch(x1, fs)},
                           {"somacore": rounds, "sleepecg": rounds, "somacore_1h": rounds},
                           warmup=False)
    out["ecg_24h_360"] = {"times": t, "beats": b}
    s, m = median(t["somacore"]) / 24, median(t["sleepecg"]) / 24
    r, label = speedup(s, m)
    pr = paired(t, "somacore", "sleepecg")
    s1 = median(t["somacore_1h"])
    growth = paired(t, "somacore_1h", "somacore", 1 / 24)  # (24 h time / 24) / 1 h time
    m1 = median(out["ecg_1h_360"]["times"]["sleepecg"])
    return [
        Row("ECG 24 h @ 360 Hz vs sleepecg, per hour of signal", fmt_s(s, "s/h"),
            fmt_s(m, "s/h"), f"{label} (paired {pr:.2f}x)",
            "(info; sleepecg grows superlinearly)", "info",
            f"{b['somacore']} / {b['sleepecg']}",
            {"somacore_s_per_h": s, "reference_s_per_h": m, "ratio": r, "paired_ratio": pr,
             "sleepecg_24h_over_1h_s_per_h_unpaired": m / m1}),
        Row("ECG somacore s/h: 24 h vs 1 h @ 360 Hz, same rounds (ref column = 1 h)",
            fmt_s(s, "s/h"), fmt_s(s1, "s/h"), f"{growth:.2f}x per hour (paired)",
            "<= 1.25x (same s/h; 25% noise allowance)", verdict(growth <= 1.25), "",
            {"somacore_24h_s_per_h": s, "somacore_1h_s_per_h": s1, "paired_ratio": growth}),
    ]


def ecg_1h_1000(rounds: int, out: dict) -> list[Row]:
    """1 h at 1000 Hz: somacore vs sleepecg."""
    x = _data.ecg(1, _data.ECG_FS_HI)
    fs = _data.ECG_FS_HI
    t, b = run_interleaved({"somacore": lambda: _cases.somacore_batch(x, fs),
                            "sleepecg": lambda: _cases.sleepecg_ecg(x, fs)},
                           {"somacore": rounds, "sleepecg": rounds})
    out["ecg_1h_1000"] = {"times": t, "beats": b}
    s, m = median(t["somacore"]), median(t["sleepecg"])
    r, label = speedup(s, m)
    pr = paired(t, "somacore", "sleepecg")
    return [Row("ECG 1 h @ 1000 Hz vs sleepecg", fmt_s(s), fmt_s(m), f"{label} (paired {pr:.2f}x)",
                "(info; 3x goal is at 360 Hz)", "info", f"{b['somacore']} / {b['sleepecg']}",
                {"somacore_s": s, "reference_s": m, "ratio": r, "paired_ratio": pr})]


def ppg_1h_300(rounds: int, out: dict) -> list[Row]:
    """1 h of PPG at 300 Hz: somacore vs physiokit and NeuroKit2."""
    x = _data.ppg(1)
    fs = _data.PPG_FS
    x_pk = _cases.physiokit_clean(x, fs)
    x_nk = _cases.neurokit_clean(x, fs)
    missing = _cases.somacore_has_ppg()
    cases: dict[str, Callable[[], int]] = {
        "physiokit": lambda: _cases.physiokit_ppg(x_pk, fs),
        "physiokit clean+find_peaks": lambda: _cases.physiokit_ppg_pipeline(x, fs),
        "neurokit2": lambda: _cases.neurokit_ppg(x_nk, fs)}
    if not missing:
        cases = {"somacore": lambda: _cases.somacore_batch(x, fs, kind="ppg"), **cases}
    rounds_by = {name: rounds for name in cases} | {"neurokit2": min(rounds, 5)}
    t, b = run_interleaved(cases, rounds_by)
    out["ppg_1h_300"] = {"times": t, "beats": b, "somacore_missing": missing}
    s = median(t["somacore"]) if not missing else None
    rows = []
    for ref, label_ref, goal in (
            ("physiokit", "physiokit find_peaks (pre-cleaned input)", 3.0),
            ("physiokit clean+find_peaks", "physiokit clean + find_peaks (raw input)", None),
            ("neurokit2", "NeuroKit2 ppg_findpeaks (pre-cleaned input)", 3.0)):
        m = median(t[ref])
        r, label = speedup(s, m)
        pr = None if missing else paired(t, "somacore", ref)
        if pr is not None:
            label += f" (paired {pr:.2f}x)"
        ok = None if r is None else r >= goal if goal else None
        rows.append(Row(
            f"PPG 1 h @ 300 Hz vs {label_ref}",
            "PPG kernel not installed" if missing else fmt_s(s), fmt_s(m), label,
            f">= {goal:g}x faster" if goal else "(info)",
            verdict(ok) if goal else "info", f"{b.get('somacore', 'n/a')} / {b[ref]}",
            {"somacore_s": s, "reference_s": m, "ratio": r, "paired_ratio": pr}))
    return rows


def stream_1h_1000(rounds: int, out: dict) -> list[Row]:
    """1 h at 1000 Hz fed in 100 ms chunks, beside the batch call on the same input."""
    x = _data.ecg(1, _data.ECG_FS_HI)
    fs = _data.ECG_FS_HI
    chunk = int(0.1 * fs)
    t, b = run_interleaved(
        {"stream": lambda: _cases.somacore_stream(x, fs, chunk),
         "batch": lambda: _cases.somacore_batch(x, fs),
         "kernel_only": lambda: _cases.somacore_stream_kernel_only(x, fs, chunk)},
        {"stream": rounds, "batch": rounds, "kernel_only": rounds})
    out["stream_1h_1000"] = {"times": t, "beats": b, "chunk_samples": chunk}
    s, m, k = median(t["stream"]), median(t["batch"]), median(t["kernel_only"])
    rt = HOUR / s
    return [Row("Stream 1 h @ 1000 Hz in 100 ms chunks (ref column = batch)", fmt_s(s),
                fmt_s(m), f"{rt:,.0f}x real time; {s / m:.1f}x batch; kernel.process alone "
                f"{k:.3g} s, so the Python wrapper is {(s - k) / s:.0%}",
                "< 1 s (> 3,600x real time)", verdict(s < 1.0),
                f"{b['stream']} / {b['batch']}",
                {"stream_s": s, "batch_s": m, "kernel_only_s": k, "x_real_time": rt,
                 "stream_over_batch": s / m, "wrapper_share": (s - k) / s,
                 "update_calls": -(-x.size // chunk), "us_per_update": s / (x.size / chunk) * 1e6,
                 "stream_equals_batch_count": b["stream"] == b["batch"]})]


def breaths_1h(rounds: int, out: dict, fs: float) -> list[Row]:
    """1 h of respiration: somacore's full segmentation vs biosppy and NeuroKit2."""
    x = _data.resp(1, fs)
    t, b = run_interleaved(
        {"somacore": lambda: _cases.somacore_breaths(x, fs),
         "biosppy": lambda: _cases.biosppy_resp(x, fs),
         "neurokit2": lambda: _cases.neurokit_rsp(x, fs)},
        {"somacore": rounds, "biosppy": rounds, "neurokit2": min(rounds, 3)})
    key = f"breaths_1h_{fs:g}"
    out[key] = {"times": t, "breaths": b}
    s = median(t["somacore"])
    rows = []
    for ref, goal, what in (("neurokit2", 100.0, "rsp_process (full pipeline)"),
                            ("biosppy", 1.0, "resp (detection only)")):
        m = median(t[ref])
        r, label = speedup(s, m)
        pr = paired(t, "somacore", ref)
        rows.append(Row(
            f"Breaths 1 h @ {fs:g} Hz vs {ref} {what}", fmt_s(s), fmt_s(m),
            f"{label} (paired {pr:.2f}x)", f">= {goal:g}x faster" if goal > 1 else "faster",
            verdict(r >= goal), f"{b['somacore']} / {b[ref]}",
            {"somacore_s": s, "reference_s": m, "ratio": r, "paired_ratio": pr}))
    return rows


def breaths_24h(rounds: int, out: dict, fs: float) -> list[Row]:
    """24 h of respiration, per hour: somacore vs biosppy, and somacore's own 1 h (paired).

    NeuroKit2 is not run on 24 h (about 1.5-6 min per call); its 1 h time per hour is the
    reference, stated as such.
    """
    x = _data.resp(24, fs)
    x1 = _data.resp(1, fs)
    t, b = run_interleaved({"somacore": lambda: _cases.somacore_breaths(x, fs),
                            "biosppy": lambda: _cases.biosppy_resp(x, fs),
                            "somacore_1h": lambda: _cases.somacore_breaths(x1, fs)},
                           {"somacore": rounds, "biosppy": rounds, "somacore_1h": rounds},
                           warmup=False)
    key = f"breaths_24h_{fs:g}"
    out[key] = {"times": t, "breaths": b}
    s, m = median(t["somacore"]) / 24, median(t["biosppy"]) / 24
    r, label = speedup(s, m)
    pr = paired(t, "somacore", "biosppy")
    nk = median(out[f"breaths_1h_{fs:g}"]["times"]["neurokit2"])
    growth = paired(t, "somacore_1h", "somacore", 1 / 24)
    return [
        Row(f"Breaths 24 h @ {fs:g} Hz vs biosppy, per hour of signal", fmt_s(s, "s/h"),
            fmt_s(m, "s/h"), f"{label} (paired {pr:.2f}x)", "faster", verdict(r >= 1.0),
            f"{b['somacore']} / {b['biosppy']}",
            {"somacore_s_per_h": s, "reference_s_per_h": m, "ratio": r, "paired_ratio": pr}),
        Row(f"Breaths 24 h @ {fs:g} Hz vs NeuroKit2 rsp_process 1 h (per hour; NK2 not run "
            "on 24 h)", fmt_s(s, "s/h"), fmt_s(nk, "s/h"), f"{nk / s:.0f}x faster",
            ">= 100x faster", verdict(nk / s >= 100), "",
            {"somacore_s_per_h": s, "neurokit2_1h_s": nk, "ratio": nk / s}),
        Row(f"Breaths somacore s/h: 24 h vs 1 h @ {fs:g} Hz, same rounds (ref column = 1 h)",
            fmt_s(s, "s/h"), fmt_s(median(t["somacore_1h"]), "s/h"),
            f"{growth:.2f}x per hour (paired)", "<= 1.25x (linear)", verdict(growth <= 1.25),
            "", {"paired_ratio": growth}),
    ]


def breaths_stream(rounds: int, out: dict) -> list[Row]:
    """1 h at 250 Hz fed to a BreathSegmenter in 100 ms chunks: real-time factor."""
    fs = _data.RESP_FS
    x = _data.resp(1, fs)
    chunk = int(0.1 * fs)
    t, b = run_interleaved({"stream": lambda: _cases.somacore_breaths_stream(x, fs, chunk),
                            "batch": lambda: _cases.somacore_breaths(x, fs)},
                           {"stream": rounds, "batch": rounds})
    out["breaths_stream_250"] = {"times": t, "breaths": b, "chunk_samples": chunk}
    s, m = median(t["stream"]), median(t["batch"])
    rt = HOUR / s
    return [Row("Breaths stream 1 h @ 250 Hz in 100 ms chunks (ref column = batch)", fmt_s(s),
                fmt_s(m), f"{rt:,.0f}x real time; {s / m:.1f}x batch", "> 10,000x real time",
                verdict(rt > 10_000), f"{b['stream']} / {b['batch']}",
                {"stream_s": s, "batch_s": m, "x_real_time": rt,
                 "stream_equals_batch_count": b["stream"] == b["batch"]})]


def first_call(n_proc: int, tmp: Path, out: dict) -> list[Row]:
    """First ``detect_beats`` call in fresh processes against warm calls (1 h at 360 Hz)."""
    path = tmp / "ecg_1h_360.npy"
    np.save(path, _data.ecg(1, _data.ECG_FS))
    res = [run_child(_FIRST_CALL, str(path), str(_data.ECG_FS), cwd=tmp) for _ in range(n_proc)]
    out["first_call"] = res
    first = median([r["first"] for r in res])
    warm = median([median(r["warm"]) for r in res])
    ratio = median([r["first"] / median(r["warm"]) for r in res])
    return [Row(f"First call in a fresh process vs warm (1 h @ 360 Hz, {n_proc} processes; "
                "ref column = warm)", fmt_s(first), fmt_s(warm), f"{ratio:.2f}x warm",
                "<= 2x warm", verdict(ratio <= 2.0), str(res[0]["beats"]),
                {"first_s": first, "warm_s": warm, "ratio": ratio,
                 "import_somacore_s": median([r["import"] for r in res])})]


def batch_memory(tmp: Path, out: dict) -> list[Row]:
    """Extra peak RSS of one batch call, somacore vs sleepecg, on 1 h and 24 h at 360 Hz."""
    rows = []
    out["batch_memory"] = {}
    for hours in (1, 24):
        path = tmp / f"ecg_{hours}h_360.npy"
        np.save(path, _data.ecg(hours, _data.ECG_FS))
        res = {who: run_child(_BATCH_MEM, str(path), str(_data.ECG_FS), who, cwd=tmp)
               for who in ("somacore", "sleepecg")}
        path.unlink()
        out["batch_memory"][f"{hours}h"] = res
        size = res["somacore"]["input_bytes"]
        exact = all(r["exact_peak_reset"] for r in res.values())
        bound = "" if exact else " (upper bound: ru_maxrss)"
        s, m = res["somacore"]["extra_peak"], res["sleepecg"]["extra_peak"]
        rows.append(Row(
            f"Batch extra peak RSS, {hours} h @ 360 Hz float64 ({size / 1e6:.0f} MB input; "
            "ref = sleepecg)", f"{s / 1e6:.1f} MB{bound}", f"{m / 1e6:.1f} MB{bound}",
            f"{s / size:.3f}x input (sleepecg {m / size:.1f}x)", "< 1x input",
            verdict(s < size), f"{res['somacore']['beats']} / {res['sleepecg']['beats']}",
            {"somacore_extra_bytes": s, "sleepecg_extra_bytes": m, "input_bytes": size,
             "ratio_to_input": s / size,
             "somacore_traced_peak_bytes": res["somacore"]["traced_peak"],
             "sleepecg_traced_peak_bytes": res["sleepecg"]["traced_peak"]}))
    return rows


def stream_memory(tmp: Path, out: dict) -> list[Row]:
    """Streaming over a memory-mapped 24 h int16 record in 1 s chunks: peak RSS growth."""
    rec = _data.write_wfdb16(tmp, "ecg24h", _data.ecg_int16(24), _data.ECG_FS)
    res = run_child(_STREAM_MEM, str(rec), cwd=tmp)
    out["stream_memory"] = res
    g = res["peak_growth"] / 1e6
    rt = res["n_samples"] / res["fs"] / res["seconds"]
    return [Row(
        "Stream a memory-mapped 24 h int16 file @ 360 Hz, 1 s chunks: peak RSS growth "
        "(ref column = process peak RSS)", f"{g:.1f} MB", f"{res['peak_rss'] / 1e6:.0f} MB",
        f"file-backed {res['rss_file_growth'] / 1e6:.1f} MB (mapped pages of the "
        f"{res['file_bytes'] / 1e6:.0f} MB file) + anonymous {res['rss_anon_growth'] / 1e6:.1f} MB;"
        f" {rt:,.0f}x real time (one run)",
        "< 100 MB", verdict(g < 100), f"{res['beats']} / batch {res['beats_batch']}",
        {"peak_growth_mb": g, "file_mb": res["file_bytes"] / 1e6,
         "rss_file_growth_mb": res["rss_file_growth"] / 1e6,
         "rss_anon_growth_mb": res["rss_anon_growth"] / 1e6, "x_real_time": rt})]


# -------------------------------------------------------------------------------- output
def environment() -> dict:
    """Versions, machine, BLAS/threading variables, git state and install freshness."""
    import somacore

    def ver(pkg: str) -> str:
        try:
            return metadata.version(pkg)
        except metadata.PackageNotFoundError:
            return "not installed"

    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True,
                                  check=False).stdout.strip()
        except OSError:
            return ""

    installed = Path(somacore.__file__).resolve().parent
    core = installed / "_core"
    src_core = REPO / "src" / "somacore" / "_core"
    built = {p.name.split(".")[0] for p in core.glob("*.so")}
    sources = sorted(p.stem for p in src_core.glob("*.pyx"))
    # the wheel carries a copy of each .pyx: a mismatch means the install is out of date
    # (checked for the kernels benchmarked here)
    def same(k: str) -> bool:
        inst = core / f"{k}.pyx"
        return inst.is_file() and inst.read_bytes() == (src_core / f"{k}.pyx").read_bytes()

    differ = [k for k in sources if k in ("_ecg", "_ppg", "_breath") and k in built
              and not same(k)]
    return {
        "date_utc": datetime.now(UTC).strftime("%Y-%m-%d %H:%M"),
        "command": " ".join(["python", *sys.argv]),
        "python": platform.python_version(), "platform": platform.platform(),
        "cpus": os.cpu_count(), "machine": platform.machine(),
        "load_average_1_5_15_min_at_start": [round(v, 2) for v in os.getloadavg()],
        "versions": {p: ver(p) for p in ("somacore", "numpy", "scipy", "sleepecg",
                                         "neurokit2", "physiokit", "biosppy")},
        "env": {k: v for k, v in os.environ.items()
                if k.startswith(("OPENBLAS", "OMP_", "MKL_", "NUMEXPR"))},
        "git_head": git("rev-parse", "--short", "HEAD"),
        "git_dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
        "somacore_installed_at": str(installed),
        "kernels_installed": sorted(built),
        "kernels_not_built": [k for k in sources if k not in built],
        "kernel_sources_differ_from_install": differ,
    }


def markdown(rows: list[Row], env: dict, rounds: int) -> str:
    """The report as Markdown."""
    head = ["Case", "somacore (median)", "reference (median)", "ratio", "goal", "met?",
            "beats (somacore / ref)"]
    lines = [
        "# somacore speed report", "",
        f"Generated {env['date_utc']} UTC by `{env['command']}` ({rounds} interleaved rounds; "
        f"{env['cpus']} CPUs, Python {env['python']}, git {env['git_head']}"
        f"{' + uncommitted changes' if env['git_dirty'] else ''}).",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in env["versions"].items()) + ".",
        "BLAS/threading environment: "
        + (", ".join(f"`{k}={v}`" for k, v in env["env"].items()) or "none set") + ". "
        f"Load average (1 min) at start / end: {env['load_average_1_5_15_min_at_start'][0]:g}"
        f" / {env['load_average_1_5_15_min_at_end'][0]:g} on {env['cpus']} CPUs.",
        "",
        "Medians and ratios only: the machine is shared and noisy, so single absolute times "
        "mean little. Ratios are reference median / somacore median unless stated; "
        "\"paired\" is the median over rounds of the ratio within one round (somacore and "
        "reference run back to back), which cancels slow drifts in the machine's load.",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "|".join("---" for _ in head) + "|",
    ]
    for r in rows:
        lines.append("| " + " | ".join([r.case, r.somacore, r.reference, r.ratio, r.goal, r.met,
                                        r.beats]) + " |")
    lines += [
        "",
        "Inputs: channel 0 of MIT-BIH records 100-208 present locally (float64 mV), "
        "concatenated and tiled to 1 h / 24 h; 1000 Hz = the same, resampled with np.interp; "
        "PPG = CapnoBase pleth at 300 Hz, tiled; respiration = every MARSH impedance "
        "pneumogram (250 Hz) concatenated and tiled, 1000 Hz by np.interp. "
        "NeuroKit2 runs on 1 h only. physiokit's and "
        "NeuroKit2's PPG peak finders get the cleaned signal their docs ask for, prepared "
        "outside the timer (so they are not charged for filtering; somacore is).",
        "Memory: extra peak RSS = peak RSS during the call (VmHWM reset just before it) minus "
        "RSS before it, in a fresh process with the input already loaded.",
    ]
    if env["kernel_sources_differ_from_install"]:
        lines += ["", "**Warning:** the installed kernel sources differ from `src/` ("
                  + ", ".join(env["kernel_sources_differ_from_install"])
                  + "): the lead was editing them; reinstall and rerun."]
    if env.get("kernel_changed_during_run"):
        lines += ["", "**Warning:** the installed ECG kernel changed during this run (builds "
                  + ", ".join(env["ecg_kernel_sha256"]) + "): rows mix kernel versions; rerun."]
    if env["kernels_not_built"]:
        lines += ["", "**Note:** kernels with a `.pyx` in `src/somacore/_core` but no compiled "
                  "module in the installed package: " + ", ".join(env["kernels_not_built"])
                  + " (not listed in `CMakeLists.txt`)."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Run every comparison and write results/speed.md and results/speed.json."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=7, help="rounds per 1 h case (default 7)")
    ap.add_argument("--rounds-24h", type=int, default=3, help="rounds per 24 h case")
    ap.add_argument("--processes", type=int, default=5, help="fresh processes for first call")
    ap.add_argument("--out", type=Path, default=RESULTS, help="output folder")
    ap.add_argument("--only", default=None,
                    help="run only the steps whose name contains this text (e.g. 'breaths'); "
                         "writes speed_<text>.md/.json instead of the full report")
    a = ap.parse_args(argv)
    env = environment()
    if env["kernel_sources_differ_from_install"]:
        print("warning: installed somacore kernels differ from src/ "
              f"({env['kernel_sources_differ_from_install']}); "
              "run `pip install --no-build-isolation .` first", file=sys.stderr)
    sha_start = kernel_sha()  # the in-process runs use this build throughout
    raw: dict = {}
    rows: list[Row] = []
    steps: list[tuple[str, Callable[[], list[Row]]]] = []
    with tempfile.TemporaryDirectory(prefix="somacore-bench-") as d:
        tmp = Path(d)
        steps = [
            ("ECG 1 h @ 360 Hz", lambda: ecg_1h_360(a.rounds, raw)),
            ("ECG 24 h @ 360 Hz", lambda: ecg_24h_360(a.rounds_24h, raw)),
            ("ECG 1 h @ 1000 Hz", lambda: ecg_1h_1000(a.rounds, raw)),
            ("PPG 1 h @ 300 Hz", lambda: ppg_1h_300(a.rounds, raw)),
            ("stream 1 h @ 1000 Hz", lambda: stream_1h_1000(a.rounds, raw)),
            ("breaths 1 h @ 250 Hz", lambda: breaths_1h(a.rounds, raw, _data.RESP_FS)),
            ("breaths 1 h @ 1000 Hz", lambda: breaths_1h(a.rounds, raw, _data.RESP_FS_HI)),
            ("breaths 24 h @ 250 Hz", lambda: breaths_24h(a.rounds_24h, raw, _data.RESP_FS)),
            ("breaths 24 h @ 1000 Hz",
             lambda: breaths_24h(a.rounds_24h, raw, _data.RESP_FS_HI)),
            ("breaths stream", lambda: breaths_stream(a.rounds, raw)),
            ("first call", lambda: first_call(a.processes, tmp, raw)),
            ("batch memory", lambda: batch_memory(tmp, raw)),
            ("stream memory", lambda: stream_memory(tmp, raw)),
        ]
        if a.only:
            steps = [(n, f) for n, f in steps if a.only in n]
            if not steps:
                ap.error(f"--only {a.only!r} matches no step")
        for name, step in steps:
            t0 = time.perf_counter()
            print(f"[{name}] ...", file=sys.stderr, flush=True)
            rows += step()
            print(f"[{name}] done in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    env["load_average_1_5_15_min_at_end"] = [round(v, 2) for v in os.getloadavg()]
    shas = {sha_start, kernel_sha()} | child_shas(raw)
    env["ecg_kernel_sha256"] = sorted(shas)
    env["kernel_changed_during_run"] = len(shas) > 1
    md = markdown(rows, env, a.rounds)
    a.out.mkdir(parents=True, exist_ok=True)
    stem = "speed" if not a.only else "speed_" + "".join(
        c if c.isalnum() else "_" for c in a.only)
    (a.out / f"{stem}.md").write_text(md)
    (a.out / f"{stem}.json").write_text(json.dumps(
        {"environment": env, "rounds": a.rounds, "rounds_24h": a.rounds_24h,
         "rows": [asdict(r) for r in rows], "raw": raw}, indent=1, default=str) + "\n")
    print(md)
    print(f"wrote {a.out / (stem + '.md')} and {a.out / (stem + '.json')}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
