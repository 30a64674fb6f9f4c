"""``somacore bench``: how fast the kernels run on this machine.

Runs each kernel on standard inputs that ship with the package (no
``benchmarks/`` folder and no shared data needed):

* ECG beats: the bundled real MIT-BIH 100 excerpt (360 Hz), repeated to the
  benchmark length;
* PPG beats, breaths: SIMULATED signals from :mod:`somacore.simulate`
  (PPG at 100 Hz, respiration belt at 50 Hz);
* synchrony: windowed lagged cross-correlation of two SIMULATED heart-rate
  series at 4 Hz (30-s windows, 1-s step, lags ±5 s), through the same call the
  session analysis makes.

Reference libraries are timed on the same arrays when installed: sleepecg
(``detect_heartbeats``, ECG) and NeuroKit2 (``ecg_peaks`` on the raw ECG;
``ppg_findpeaks`` on ``ppg_clean`` output and ``rsp_peaks`` on ``rsp_clean``
output, the cleaning inside the timer since somacore filters inside its call
too). Each timing is the median of the repeats, after one untimed warm-up call.

"Live people" is the real-time factor (seconds of signal per second of
compute) rounded down: how many people's streams of that kind and rate one
core keeps up with, kernels only (no I/O, no drivers); times the number of
cores for the machine, since the kernels release the GIL.
"""

from __future__ import annotations

import importlib.util
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

__all__ = ["bench_cases", "format_markdown", "run_bench"]


def _inputs(seconds: float) -> dict:
    from somacore.data import example_ecg
    from somacore.simulate import _band_noise, ppg_from_hr, resp_signal

    ex = example_ecg()
    reps = int(np.ceil(seconds * ex.fs / ex.ecg_mv.size))
    ecg = np.tile(ex.ecg_mv, reps)[: int(seconds * ex.fs)]
    rng = np.random.default_rng(0)
    n_hr = int(seconds * 4)
    hr = 70 + 3 * _band_noise(n_hr, 4.0, (0.02, 0.4), rng)
    ppg, _ = ppg_from_hr(hr, 4.0, fs=100.0, duration_s=seconds, seed=1)
    resp, _ = resp_signal(duration_s=seconds, fs=50.0, seed=2)
    hr2 = 0.6 * np.roll(hr, 6) + 0.4 * (70 + 3 * _band_noise(n_hr, 4.0, (0.02, 0.4), rng))
    return {"ecg": (ecg, ex.fs), "ppg": (ppg, 100.0), "resp": (resp, 50.0),
            "hr": (np.stack([hr, hr2]), 4.0)}


def bench_cases(seconds: float, refs: bool = True) -> list[tuple[str, str, float, int,
                                                                  Callable[[], object]]]:
    """(case, library, fs, n_samples, call) for every timed call."""
    import somacore
    from somacore.analysis.synchrony_step import _xcorr

    d = _inputs(seconds)
    ecg, fe = d["ecg"]
    ppg, fp = d["ppg"]
    resp, fr = d["resp"]
    hr, fh = d["hr"]
    engine = ["somacore.synchrony"]
    cases = [
        ("ECG beats", "somacore", fe, ecg.size, lambda: somacore.detect_beats(ecg, fs=fe)),
        ("PPG beats", "somacore", fp, ppg.size,
         lambda: somacore.detect_beats(ppg, fs=fp, kind="ppg")),
        ("breaths", "somacore", fr, resp.size, lambda: somacore.segment_breaths(resp, fs=fr)),
        ("synchrony xcorr (2 people)", "somacore", fh, hr.shape[1],
         lambda: _xcorr(hr, fs=fh, window_s=30.0, step_s=1.0, max_lag_s=5.0, peak="boker",
                        return_r=False, engine=engine)),
    ]
    if refs and importlib.util.find_spec("sleepecg") is not None:
        import sleepecg

        cases.append(("ECG beats", "sleepecg", fe, ecg.size,
                      lambda: sleepecg.detect_heartbeats(ecg, fe)))
    if refs and importlib.util.find_spec("neurokit2") is not None:
        import neurokit2 as nk

        cases += [
            ("ECG beats", "neurokit2", fe, ecg.size,
             lambda: nk.ecg_peaks(ecg, sampling_rate=fe)),
            ("PPG beats", "neurokit2", fp, ppg.size,
             lambda: nk.ppg_findpeaks(nk.ppg_clean(ppg, sampling_rate=fp), sampling_rate=fp)),
            ("breaths", "neurokit2", fr, resp.size,
             lambda: nk.rsp_peaks(nk.rsp_clean(resp, sampling_rate=fr), sampling_rate=fr)),
        ]
    # the engine actually used is known only after the first synchrony call
    cases.append(("_engine", "", 0.0, 0, lambda: engine[0]))
    return cases


def _time(call: Callable[[], object], repeats: int) -> float:
    call()  # warm-up: imports, caches, allocator
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        call()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def format_markdown(res: dict) -> str:
    """The results as a Markdown table."""
    lines = [f"# somacore bench ({res['mode']}, {res['signal_s']:.0f} s of signal per case)",
             "",
             f"somacore {res['somacore']}, Python {res['python']}, {res['machine']}, "
             f"{res['cores']} core(s). Median of {res['repeats']} run(s). Inputs: bundled real "
             "ECG (MIT-BIH 100, repeated); SIMULATED PPG, respiration and heart-rate series.",
             "",
             "| case | library | rate [Hz] | wall [s] | samples/s | s per hour of signal | "
             "live people per core | on this machine | vs somacore |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in res["rows"]:
        ratio = "" if r["library"] == "somacore" else f"{r['slower_than_somacore']:.1f}x slower"
        lines.append(
            f"| {r['case']} | {r['library']} | {r['fs_hz']:g} | {r['wall_s']:.4f} | "
            f"{r['samples_per_s']:.3g} | {r['s_per_hour']:.3g} | {r['live_people_per_core']} | "
            f"{r['live_people_machine']} | {ratio} |")
    lines += ["", f"Synchrony engine: {res['sync_engine']}. Live people: real-time factor "
              "rounded down, kernels only (no I/O); machine = per core x cores (the kernels "
              "release the GIL)."]
    return "\n".join(lines) + "\n"


def run_bench(*, quick: bool = False, out: str | Path | None = None, refs: bool = True) -> int:
    """Time every case, print the Markdown table, optionally write bench.json/bench.md."""
    import somacore

    seconds = 300.0 if quick else 3600.0
    repeats = 3  # medians of 3 even in quick mode: one run on a busy machine misleads
    cores = os.cpu_count() or 1
    cases = bench_cases(seconds, refs=refs)
    rows = []
    for case, lib, fs, n, call in cases:
        if case == "_engine":
            continue
        sys.stderr.write(f"timing {case} ({lib})...\n")
        wall = _time(call, repeats)
        rt = seconds / wall if wall > 0 else float("inf")
        rows.append({"case": case, "library": lib, "fs_hz": fs, "n_samples": int(n),
                     "wall_s": wall, "samples_per_s": n / wall, "s_per_hour": wall * 3600 /
                     seconds, "realtime_factor": rt, "live_people_per_core": int(rt),
                     "live_people_machine": int(rt) * cores})
    engine = cases[-1][4]()
    soma = {r["case"]: r["wall_s"] for r in rows if r["library"] == "somacore"}
    for r in rows:
        r["slower_than_somacore"] = r["wall_s"] / soma[r["case"]]
    res = {"mode": "quick" if quick else "full", "signal_s": seconds, "repeats": repeats,
           "somacore": somacore.__version__, "python": platform.python_version(),
           "machine": platform.machine() + " " + platform.processor(), "cores": cores,
           "sync_engine": engine, "rows": rows}
    md = format_markdown(res)
    sys.stdout.write(md)
    if out is not None:
        o = Path(out)
        o.mkdir(parents=True, exist_ok=True)
        (o / "bench.json").write_text(json.dumps(res, indent=2) + "\n")
        (o / "bench.md").write_text(md)
        sys.stderr.write(f"wrote {o / 'bench.json'} and {o / 'bench.md'}\n")
    return 0
