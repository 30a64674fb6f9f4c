"""Synchrony engine: speed, memory and comparison paths, goal by goal.

Run from the repository root (after ``pip install --no-build-isolation .``)::

    python benchmarks/synchrony_report.py             # 5 rounds; writes results/synchrony.md
    python benchmarks/synchrony_report.py --rounds 3  # quicker, noisier
    python benchmarks/synchrony_report.py --json /tmp/sync.json  # also every round's time
    python benchmarks/synchrony_report.py --only phase  # phase/group rows only, printed

Reports medians of wall-clock and process CPU time (CPU time is the honest single-core
figure on a shared machine, where wall time also counts waiting for a core). Memory is the
tracemalloc peak of the call in a fresh subprocess (numpy's allocations are traced), minus
the input. Comparison paths that would take minutes on the full workload (rMEA-style
``np.corrcoef`` per window and lag, NeuroKit2's rolling correlation per lag, the surrogates)
run on a slice and are extrapolated linearly; the slice and the factor are printed.

Inputs (``people``): n people sharing a slow common rhythm (white noise low-passed at
0.08 Hz, each person lagged by up to 2 s) plus their own low-passed noise; seeded.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
STD = dict(fs=256.0, window_s=30.0, step_s=1.0, max_lag_s=5.0)


# ----------------------------------------------------------------------------- inputs
def people(n: int, hours: float, fs: float, seed: int = 0) -> np.ndarray:
    """(n, hours * 3600 * fs) float64 synthetic group series (see module notes)."""
    rng = np.random.default_rng(seed)
    N = round(hours * 3600 * fs)
    pad = int(2 * fs) + 1

    def smooth(m: int) -> np.ndarray:
        f = np.fft.rfftfreq(m, 1.0 / fs)
        h = 1.0 / np.sqrt(1.0 + (f / 0.08) ** 2)
        y = np.fft.irfft(np.fft.rfft(rng.standard_normal(m)) * h, m)
        return y / y.std()

    common = smooth(N + pad)
    out = np.empty((n, N))
    for i in range(n):
        lag = int(rng.integers(0, pad))
        out[i] = common[lag:lag + N] + 0.8 * smooth(N)
    return out


# ------------------------------------------------------------------ comparison paths
def numpy_batched_fft(x: np.ndarray, fs: float, window_s: float, step_s: float,
                      max_lag_s: float, pairs) -> tuple[np.ndarray, np.ndarray]:
    """A good plain-numpy implementation: per-window FFT cross-correlation, batched.

    Same definition and windows as ``somacore.synchrony.windowed_xcorr`` (peak = max over
    lags). Returns (peak_r, peak_lag_samples), each (n_pairs, n_windows).
    """
    W, S, M = round(window_s * fs), round(step_s * fs), round(max_lag_s * fs)
    N = x.shape[1]
    starts = np.arange(-(-M // S), (N - W - M) // S + 1) * S
    nfft = 1 << (W + 2 * M - 1).bit_length()
    xc = x - x.mean(axis=1, keepdims=True)
    c = np.zeros((x.shape[0], N + 1))
    c2 = np.zeros((x.shape[0], N + 1))
    np.cumsum(xc, axis=1, out=c[:, 1:])
    np.cumsum(xc * xc, axis=1, out=c2[:, 1:])
    lags = np.arange(-M, M + 1)
    pr = np.empty((len(pairs), starts.size))
    pl = np.empty((len(pairs), starts.size), np.int64)
    chunk = max(1, int(64e6 // (16 * nfft)))
    sw = np.lib.stride_tricks.sliding_window_view
    for p, (i, j) in enumerate(pairs):
        for c0 in range(0, starts.size, chunk):
            st = starts[c0:c0 + chunk]
            xi = sw(xc[i], W)[st]
            yj = sw(xc[j], W + 2 * M)[st - M]
            C = np.fft.irfft(np.conj(np.fft.rfft(xi, nfft)) * np.fft.rfft(yj, nfft),
                             nfft)[:, :2 * M + 1]
            sx = c[i, st + W] - c[i, st]
            sxx = c2[i, st + W] - c2[i, st]
            ya = st[:, None] + lags[None, :]
            sy = c[j, ya + W] - c[j, ya]
            syy = c2[j, ya + W] - c2[j, ya]
            vx = sxx - sx * sx / W
            vy = syy - sy * sy / W
            r = (C - sx[:, None] * sy / W) / np.sqrt(vx[:, None] * vy)
            k = np.argmax(r, axis=1)
            pr[p, c0:c0 + st.size] = r[np.arange(st.size), k]
            pl[p, c0:c0 + st.size] = k - M
    return pr, pl


def rmea_style(s1: np.ndarray, s2: np.ndarray, fs: float, lag_s: float, win_s: float,
               inc_s: float, n_win: int | None = None) -> np.ndarray:
    """rMEA ``MEAccf`` computed its way: one Pearson r per window and lag (R's ``C_cor`` on
    two slices; here ``np.corrcoef``). Returns windows x lags."""
    L, W, inc = round(lag_s * fs), round(win_s * fs), round(inc_s * fs)
    total = math.ceil((s1.size - W - L + 1) / inc)
    n_win = total if n_win is None else min(n_win, total)
    out = np.full((n_win, 2 * L + 1), np.nan)
    for w in range(n_win):
        a = w * inc
        xw, yw = s1[a:a + W + L], s2[a:a + W + L]
        for m, lag in enumerate(range(-L, L + 1)):
            k = abs(lag)
            xr, yr = slice(0, W), slice(k, W + k)
            if lag < 0:
                xr, yr = yr, xr
            out[w, m] = np.corrcoef(xw[xr], yw[yr])[0, 1]
    return out


def neurokit_lagged(s1: np.ndarray, s2: np.ndarray, fs: float, window_s: float,
                    lags: range) -> int:
    """NeuroKit2 ``signal_synchrony(method="correlation")`` (rolling lag-0 r, one value per
    sample) repeated per lag by shifting one series: the only way to get lagged windowed r
    from it. Returns the number of lags computed."""
    import neurokit2 as nk

    W = round(window_s * fs)
    n = 0
    for L in lags:
        a, b = (s1[:s1.size - L], s2[L:]) if L >= 0 else (s1[-L:], s2[:s2.size + L])
        nk.signal_synchrony(a, b, method="correlation", window_size=W)
        n += 1
    return n


# ----------------------------------------------------------------------------- timing
def timed(fn, rounds: int) -> dict:
    walls, cpus = [], []
    out = None
    for _ in range(rounds):
        t, c = time.perf_counter(), time.process_time()
        out = fn()
        walls.append(time.perf_counter() - t)
        cpus.append(time.process_time() - c)
    return {"wall_s": statistics.median(walls), "cpu_s": statistics.median(cpus),
            "walls": walls, "cpus": cpus, "out": out}


def merged(runs: list[dict]) -> dict:
    """One :func:`timed` record from single-round records (medians over all)."""
    walls = [w for r in runs for w in r["walls"]]
    cpus = [c for r in runs for c in r["cpus"]]
    return {"wall_s": statistics.median(walls), "cpu_s": statistics.median(cpus),
            "walls": walls, "cpus": cpus, "out": runs[-1]["out"]}


MEM_SNIPPET = textwrap.dedent("""
    import sys, tracemalloc, numpy as np
    sys.path.insert(0, {here!r})
    from synchrony_report import people, STD
    from somacore.synchrony import windowed_xcorr
    x = people(4, 1.0, 256.0)
    windowed_xcorr(x[:, :200000], **STD)  # load the kernels
    tracemalloc.start()
    windowed_xcorr(x, **STD)
    cur, peak = tracemalloc.get_traced_memory()
    print(peak)
""")


NOTES = textwrap.dedent("""\
    Notes.

    - Where the WCC time goes (1 thread, standard workload): one spectrum per block
      and person (FFT length g + M = 1536: the lag range is split in two halves of
      q + 1 blocks each), partner segment spectra slid from them, per window the two
      halves' sliding spectral sums packed into one complex spectrum and one complex
      inverse FFT of 1536 (real part: lags -M..0, imaginary part: 0..M; 21,366 of
      them), then the Pearson row, formed outward from lag 0 only as far as the
      Boker peak search needs. numpy's FFT (pocketfft, including its copy-in/copy-out) is
      about half of the CPU time; the inverse FFTs (one per pair and window, by the
      definition at sample resolution) are the floor. Steps of 32 windows keep one
      pair's sums and rows in cache from the sliding sums to the peaks.
    - Threads: the kernels and numpy's FFT release the GIL; n_threads splits the
      windows into contiguous ranges (at multiples of 128 windows, where every
      sliding sum restarts, so the result is identical for any n_threads). The
      machine is shared (see the load average above), so the 1- and 2-thread rounds
      alternate and the speed-up is the median of paired ratios; the CPU time per run
      is the single-core cost.
    - Surrogates: with an XcorrMeasure, circular shifts are whole multiples of the
      window step, so a rotated series is cut into blocks of the original record:
      the block spectra (177 MB here) and the window statistics of the record read
      as a circle are computed once, and each surrogate costs its spectral sums,
      inverse FFTs and Pearson rows (the same result as windowed_xcorr on the
      explicitly rotated array, to 1e-12; tested). A plain callable measure still
      pays one full WCC per surrogate. n_jobs measures surrogates in threads that
      share the table; the wall time divides by the free cores.
    - Phase/group: the band-limited Hilbert transform forms only the band's bins (split
      transforms, n = m x D, one inverse per person in a reused buffer) and is about half
      of the shared run; the windowed cluster rho is O(windows x window x people) by its
      definition (per window a rotation per person inside a modulus over people, then a
      time mean: no sliding sum gives it), computed in L1-sized time tiles that every
      covering window adds to. The loops over time are also built for x86-64-v3 (AVX2 +
      FMA) and chosen at load time (GCC on glibc x86-64).
""")



def phase_rows(x: np.ndarray, fs: float, R: int, res: dict, rows: list) -> None:
    """Phase synchrony, Kuramoto/cluster phase and both on one band_phasors(): 4 people 1 h."""
    from somacore.synchrony import band_phasors, group_synchrony, phase_synchrony

    tp = timed(lambda: phase_synchrony(x, fs=fs, band=(0.05, 0.15), window_s=30,
                                       step_s=1), R)
    tg = timed(lambda: group_synchrony(x, fs=fs, band=(0.05, 0.15), window_s=30,
                                       step_s=1), R)

    def shared():
        bp = band_phasors(x, fs=fs, band=(0.05, 0.15))
        phase_synchrony(bp, fs=fs, window_s=30, step_s=1)
        group_synchrony(bp, fs=fs, window_s=30, step_s=1)

    tb = timed(shared, R)
    res["phase_group_shared"] = {"wall_s": tb["wall_s"], "cpu_s": tb["cpu_s"]}
    res["phase"] = {"wall_s": tp["wall_s"], "cpu_s": tp["cpu_s"]}
    res["group"] = {"wall_s": tg["wall_s"], "cpu_s": tg["cpu_s"]}
    rows.append(("phase_synchrony (PLV), 4 people 1 h", f"{tp['cpu_s']:.2f} s CPU",
                 "<= 0.2 s (with Kuramoto)", "Hilbert by FFT + 6 pairs, windowed"))
    rows.append(("group_synchrony (Kuramoto R + cluster rho), 4 people 1 h",
                 f"{tg['cpu_s']:.2f} s CPU", "<= 0.2 s (with PLV)",
                 "windowed rho per window (a modulus per window and sample), L1-sized time tiles"))
    rows.append(("PLV + Kuramoto + cluster rho on one band_phasors(), 4 people 1 h",
                 f"{tb['cpu_s']:.2f} s CPU", "<= 0.2 s",
                 "one Hilbert transform shared by both measures"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--surrogate-rounds", type=int, default=3,
                    help="runs of the 100-surrogate n_jobs=2 row (about 30 s each)")
    ap.add_argument("--out", default=str(HERE / "results" / "synchrony.md"))
    ap.add_argument("--json", default=None, help="also write every round's time here")
    ap.add_argument("--only", choices=["phase"], default=None,
                    help="run only these rows and print them (results file left alone)")
    args = ap.parse_args()
    R = args.rounds

    from somacore.stream.synchrony import SynchronyMonitor
    from somacore.synchrony import XcorrMeasure, surrogate_test, windowed_xcorr

    rows: list[tuple[str, str, str, str]] = []
    res: dict = {}
    fs = STD["fs"]
    x = people(4, 1.0, fs)
    if args.only == "phase":
        phase_rows(x, fs, R, res, rows)
        for a, b, c, d in rows:
            print(f"| {a} | {b} | {c} | {d} |")
        if args.json:
            Path(args.json).write_text(json.dumps(res, indent=1, default=float))
        return
    pairs = [(i, j) for i in range(4) for j in range(i + 1, 4)]
    windowed_xcorr(x[:, :100000], **STD)  # warm: load kernels

    # 1. standard workload, one thread and two threads
    # one and two threads alternate round by round, so that the machine's drift on a
    # shared host falls on both alike; the speed-up is the median of the paired ratios
    one, two = [], []
    for _ in range(R):
        one.append(timed(lambda: windowed_xcorr(x, **STD), 1))
        two.append(timed(lambda: windowed_xcorr(x, **STD, n_threads=2), 1))
    t1, t2 = (merged(v) for v in (one, two))
    paired = statistics.median(a["wall_s"] / b["wall_s"] for a, b in zip(one, two, strict=True))
    r0 = t1["out"]
    res["standard_1thread"] = {k: t1[k] for k in ("wall_s", "cpu_s", "walls", "cpus")}
    res["standard_2threads"] = {k: t2[k] for k in ("wall_s", "cpu_s", "walls", "cpus")}
    shape = f"{r0.peak_r.shape[0]} pairs x {r0.peak_r.shape[1]} windows x {r0.lags_s.size} lags"
    rows.append(("WCC standard workload, 1 thread", f"{t1['wall_s']:.2f} s wall / "
                 f"{t1['cpu_s']:.2f} s CPU", "<= 1 s", shape))
    rows.append(("WCC standard workload, n_threads=2", f"{t2['wall_s']:.2f} s wall / "
                 f"{t2['cpu_s']:.2f} s CPU", "near-linear on 2 cores",
                 f"speed-up {paired:.2f}x (wall; median of {R} paired rounds)"))

    # 2. memory (fresh process)
    pk = int(subprocess.run([sys.executable, "-c", MEM_SNIPPET.format(here=str(HERE))],
                            capture_output=True, text=True, check=True).stdout.split()[-1])
    res["memory_peak_bytes"] = pk
    rows.append(("WCC standard workload, extra memory (tracemalloc peak)",
                 f"{pk / 2**20:.0f} MB", "<= 300 MB", "input itself (29 MB) not counted"))

    # 3. numpy batched FFT reference on a slice, extrapolated
    frac = 0.1
    xs = x[:, :int(frac * x.shape[1])]
    tn = timed(lambda: numpy_batched_fft(xs, **STD, pairs=pairs), max(1, R // 2))
    ours_s = windowed_xcorr(xs, **STD, peak="max")
    d = np.max(np.abs(tn["out"][0] - ours_s.peak_r))
    same_lag = np.mean(tn["out"][1] == np.round(ours_s.peak_lag_s * fs))
    res["numpy_fft_slice"] = {"wall_s": tn["wall_s"], "cpu_s": tn["cpu_s"], "fraction": frac,
                              "max_abs_peak_r_diff": float(d), "same_lag": float(same_lag)}
    rows.append(("plain-numpy batched FFT (reference)",
                 f"{tn['cpu_s'] / frac:.1f} s CPU (extrapolated)", "~9-10 s (issue)",
                 f"6 min slice x {1 / frac:g}; peaks agree with somacore to {d:.1e}, "
                 f"same lag in {100 * same_lag:.1f}% of windows"))

    # 4. rMEA-style per window/lag Pearson (one pair, 8 windows), extrapolated
    tr = timed(lambda: rmea_style(x[0], x[1], fs, 5.0, 30.0, 1.0, n_win=8), 1)
    per_win = tr["cpu_s"] / 8
    full = per_win * r0.peak_r.shape[1] * 6
    res["rmea_style"] = {"cpu_s_per_window": per_win, "extrapolated_s": full}
    rows.append(("rMEA-style MEAccf (np.corrcoef per window and lag)",
                 f"{full / 60:.0f} min CPU (extrapolated)", "-",
                 f"8 windows x 2561 lags, 1 pair, x {r0.peak_r.shape[1] * 6 / 8:.0f}"))

    # 5. NeuroKit2 rolling correlation per lag (every 256th lag, 6 min), extrapolated
    try:
        lags = range(-1280, 1281, 256)
        sl = slice(0, int(0.1 * x.shape[1]))
        tk = timed(lambda: neurokit_lagged(x[0, sl], x[1, sl], fs, 30.0, lags), 1)
        nl = len(lags)
        full = tk["cpu_s"] / nl * 2561 * 10 * 6
        res["neurokit2"] = {"cpu_s": tk["cpu_s"], "lags": nl, "extrapolated_s": full}
        rows.append(("NeuroKit2 signal_synchrony('correlation') per lag",
                     f"{full / 60:.0f} min CPU (extrapolated)", "-",
                     f"{nl} lags x 6 min, 1 pair; x {2561 / nl:.0f} lags x 10 x 6 pairs "
                     "(it computes a window at every sample, not every step)"))
    except ImportError:
        rows.append(("NeuroKit2", "not installed", "-", "-"))

    # 6. surrogates: circular shift, all 6 pairs. XcorrMeasure takes the shared-spectrum
    # path (shifts in whole steps, block spectra computed once); a plain callable pays
    # one full WCC per surrogate.
    xm = XcorrMeasure(**STD)
    ns = 10
    ta = timed(lambda: surrogate_test(x, xm, fs=fs, n=1, seed=0), 1)
    ts = timed(lambda: surrogate_test(x, xm, fs=fs, n=ns, seed=0), 1)
    per = (ts["cpu_s"] - ta["cpu_s"]) / (ns - 1)
    fixed = ta["cpu_s"] - per  # observed value + the shared spectra, once
    res["surrogates_shared"] = {"cpu_s": ts["cpu_s"], "n": ns, "cpu_s_n1": ta["cpu_s"],
                                "per_surrogate_cpu_s": per, "fixed_cpu_s": fixed}
    rows.append(("100 circular-shift surrogates, 6 pairs, XcorrMeasure, n_jobs=1",
                 f"{fixed + 100 * per:.0f} s CPU (extrapolated)", "(info)",
                 f"n=1 and n={ns} timed: {per:.2f} s CPU per surrogate + {fixed:.1f} s "
                 "once (observed value and the shared spectra); the single-core cost, "
                 "the 30 s goal is the n_jobs=2 row"))
    # the slowest row (~30 s a run): its own number of rounds, each a new seed
    sr = iter(range(args.surrogate_rounds))
    tj = timed(lambda: surrogate_test(x, xm, fs=fs, n=100, seed=next(sr), n_jobs=2),
               args.surrogate_rounds)
    res["surrogates_shared_2jobs"] = {"wall_s": tj["wall_s"], "cpu_s": tj["cpu_s"], "n": 100,
                                      "walls": tj["walls"], "cpus": tj["cpus"]}
    spread = (f"median of {len(tj['walls'])} runs ({min(tj['walls']):.0f}-"
              f"{max(tj['walls']):.0f} s wall); " if len(tj["walls"]) > 1 else "")
    rows.append(("100 circular-shift surrogates, 6 pairs, XcorrMeasure, n_jobs=2",
                 f"{tj['wall_s']:.0f} s wall / {tj['cpu_s']:.0f} s CPU", "<= 30 s",
                 f"{spread}all 100 run; CPU/wall {tj['cpu_s'] / tj['wall_s']:.2f} cores busy "
                 "(load average below)"))

    def measure(v):
        return windowed_xcorr(v, **STD).summary().mean_peak_r

    tg1 = timed(lambda: surrogate_test(x, measure, fs=fs, n=1, seed=0), 1)
    per_g = tg1["cpu_s"] / 2
    res["surrogates_callable"] = {"cpu_s": tg1["cpu_s"], "n": 1, "per_surrogate_s": per_g}
    rows.append(("100 circular-shift surrogates, 6 pairs, plain callable",
                 f"{100 * per_g:.0f} s CPU (extrapolated)", "-",
                 f"1 surrogate + observed timed: {per_g:.2f} s each (one full WCC; any "
                 "shift, no shared spectra)"))

    # 7. phase synchrony + Kuramoto/cluster phase, 4 people 1 h
    phase_rows(x, fs, R, res, rows)

    # 8. 16 people (120 pairs) vs 4 people on the same 6-min slice: time per pair
    x16 = people(16, 0.1, fs, seed=1)
    t4 = timed(lambda: windowed_xcorr(x16[:4], **STD), R)
    t16 = timed(lambda: windowed_xcorr(x16, **STD), max(1, R // 2))
    res["scaling"] = {"4p_cpu_s": t4["cpu_s"], "16p_cpu_s": t16["cpu_s"]}
    rows.append(("16 people (120 pairs), 6 min", f"{t16['cpu_s']:.2f} s CPU",
                 "linear in pairs",
                 f"{1e3 * t16['cpu_s'] / 120:.1f} ms/pair vs {1e3 * t4['cpu_s'] / 6:.1f} "
                 "ms/pair with 4 people (6 pairs)"))

    # 9. streaming: 1 s chunks, 4 people
    def stream():
        mon = SynchronyMonitor(4, **STD)
        n = 0
        for a in range(0, 600 * 256, 256):
            n += mon.update(x[:, a:a + 256]).peak_r.shape[1]
        return n

    tm = timed(stream, 1)
    nwin = tm["out"]
    res["stream"] = {"cpu_s": tm["cpu_s"], "windows": nwin}
    rows.append(("SynchronyMonitor, 1 s chunks (4 people, 256 Hz)",
                 f"{1e3 * tm['cpu_s'] / 600:.1f} ms CPU per update", "live",
                 f"600 updates, {nwin} windows, 6 pairs x 2561 lags each"))

    env = {"python": platform.python_version(), "numpy": np.__version__,
           "machine": platform.machine(), "cpus": os.cpu_count(),
           "load_avg": os.getloadavg(), "rounds": R}
    res["env"] = env
    lines = ["# Synchrony engine: speed and memory", "",
             f"`python benchmarks/synchrony_report.py --rounds {R} --surrogate-rounds "
             f"{args.surrogate_rounds}`; medians; "
             f"Python {env['python']}, numpy {env['numpy']}, {env['cpus']} CPUs, load average "
             f"{env['load_avg'][0]:.1f} during the run (a shared machine: CPU time is the "
             "single-core figure).", "",
             "| what | result | goal | notes |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    lines += ["", NOTES]
    out = Path(args.out)
    tmp = out.with_name(out.name + ".tmp")  # atomic: a failed run leaves the old file
    tmp.write_text("\n".join(lines) + "\n")
    os.replace(tmp, out)
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1, default=float))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
