"""The ``somacore`` command line.

Commands: ``analyze`` (a session of one or more people into tables, a summary
and an HTML report), ``demo`` (the same on the bundled real ECG plus a
SIMULATED partner; ``--table`` prints the original beats/HRV table), ``bench``
(kernel speed on this machine), ``convert`` (a recording between file
formats, losses stated), ``batch`` (many sessions from a manifest, on a
local process pool or a Dask cluster) and ``plugins``; installed plugins add
their own.

Errors the user can fix (a missing file, no usable channel, a person given
twice, a bad sampling rate or parameter, an existing output folder) are one
line on stderr and exit status 2; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import somacore

#: exit status for errors in the user's input
EXIT_USAGE = 2


# ---------------------------------------------------------------- shared helpers
class _Progress:
    """One line per step on stderr (stdout stays clean for ``--json``)."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.t0 = time.perf_counter()

    def __call__(self, msg: str) -> None:
        if not self.quiet:
            sys.stderr.write(f"[{time.perf_counter() - self.t0:6.1f} s] {msg}\n")
            sys.stderr.flush()


def _run_guarded(command: str, args: argparse.Namespace, body: Callable[[], int]) -> int:
    """Run ``body``; user errors become one stderr line and exit status 2."""
    from somacore.analysis import AnalysisError, ConfigError

    if getattr(args, "debug", False):
        return body()
    try:
        return body()
    except (AnalysisError, ConfigError, FileNotFoundError, ValueError) as exc:
        msg = " ".join(str(exc).split())  # always one line
        sys.stderr.write(f"somacore {command}: error: {msg}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        sys.stderr.write(f"somacore {command}: interrupted; no output was written\n")
        return 130
    except Exception as exc:  # an internal error: still one line, the traceback on request
        msg = " ".join(str(exc).split())
        sys.stderr.write(f"somacore {command}: internal error ({type(exc).__name__}: {msg}); "
                         "rerun with --debug for the traceback and report it\n")
        return 1


def _add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing output folder")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.add_argument("--json", action="store_true", help="print summary.json on stdout")
    p.add_argument("--debug", action="store_true", help="show tracebacks")


# explicit flags -> parameter keys (every other parameter: --set section.key=value)
_FLAGS = (
    ("--beats-kind", "beats.kind", "ecg, ppg or auto (default auto: ECG when present)"),
    ("--hr-fs", "heart_rate.fs_out", "heart-rate series rate in Hz (default 4)"),
    ("--breath-sensor", "breaths.sensor", "belt, impedance, thermistor or airflow"),
    ("--breath-polarity", "breaths.polarity", "normal, inverted or auto"),
    ("--window", "synchrony.window_s", "synchrony window in s (default 30)"),
    ("--step", "synchrony.step_s", "synchrony step in s (default 1)"),
    ("--max-lag", "synchrony.max_lag_s", "largest lag in s (default 5)"),
    ("--surrogates", "synchrony.n_surrogates", "circular-shift surrogates (default 100)"),
    ("--seed", "synchrony.seed", "surrogate seed (default 0)"),
    ("--arousal-k", "arousal.k", "arousal threshold in robust SD (default 2)"),
    ("--arousal-min-s", "arousal.min_duration_s", "shortest arousal episode in s (default 10)"),
    ("--table-format", "tables.format", "auto, parquet or csv"),
)


def _add_param_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("parameters (defaults: somacore.analysis.config.DEFAULTS)")
    g.add_argument("--config", metavar="TOML", help="TOML file of parameters ([section] key=value)")
    g.add_argument("--set", dest="sets", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override one parameter, e.g. --set beats.kind=ppg (repeatable)")
    for flag, key, text in _FLAGS:
        g.add_argument(flag, dest=key.replace(".", "__"), metavar="V", help=f"{text} [{key}]")


def _config(args: argparse.Namespace) -> dict:
    from somacore.analysis.config import parse_set, resolve_config

    overrides = [parse_set(s) for s in args.sets]
    for _flag, key, _ in _FLAGS:
        v = getattr(args, key.replace(".", "__"), None)
        if v is not None:
            overrides.append((key, v))
    return resolve_config(getattr(args, "config", None), overrides)


def _parse_person(item: str):
    """``NAME=FILE[:ch1,ch2]`` -> PersonInput."""
    from somacore.analysis import AnalysisError, PersonInput

    name, eq, rest = item.partition("=")
    name = name.strip()
    if not eq or not name or not rest:
        raise AnalysisError(f"--person {item!r}: expected NAME=FILE or NAME=FILE:CHANNELS, e.g. "
                            "--person client=session.csv:ecg")
    channels = None
    if not Path(rest).exists() and ":" in rest:
        rest, _, chans = rest.rpartition(":")
        channels = tuple(c.strip() for c in chans.split(",") if c.strip()) or None
    return PersonInput(name=name, source=rest, channels=channels)


def _finish(args: argparse.Namespace, summary: dict, out: Path, say: _Progress) -> None:
    say(f"done: {out}/ (summary.json" + (", report.html" if summary.get("report") else "")
        + ")")
    if args.json:
        sys.stdout.write(json.dumps(summary, indent=2) + "\n")


# ---------------------------------------------------------------- analyze
def _analyze(args: argparse.Namespace) -> int:
    def body() -> int:
        from somacore.analysis import (
            AnalysisError,
            PersonInput,
            analyze_session,
            check_out_dir,
            write_outputs,
        )
        from somacore.analysis.tables import choose_format

        cfg = _config(args)
        choose_format(cfg["tables"]["format"])  # parquet without pyarrow: fail before the work
        if args.sessions or args.manifest:
            return _analyze_sessions(args, cfg)
        if args.order_by:
            raise AnalysisError("--order-by orders sessions: use it with --sessions or "
                                "--manifest")
        people = [PersonInput(name=Path(f).stem, source=f) for f in args.files]
        people += [_parse_person(s) for s in args.person]
        if not people:
            raise AnalysisError("no recordings given: pass FILES or --person NAME=FILE")
        out = check_out_dir(args.out, overwrite=args.overwrite)  # before any slow work
        say = _Progress(args.quiet)
        res = analyze_session(people, cfg, progress=say)
        summary = write_outputs(res, out, overwrite=args.overwrite, report=not args.no_report,
                                progress=say)
        _finish(args, summary, out, say)
        return 0

    return _run_guarded("analyze", args, body)


def _analyze_sessions(args: argparse.Namespace, cfg: dict) -> int:
    """``analyze --sessions FILE...`` / ``--manifest M``: each session alone, then progress."""
    from somacore.analysis import AnalysisError
    from somacore.analysis.sessions import (
        analyze_sessions,
        sessions_from_files,
        sessions_from_manifest,
    )

    if args.files or args.person:
        raise AnalysisError("give either one session (FILES / --person) or several "
                            "(--sessions / --manifest), not both")
    if args.sessions and args.manifest:
        raise AnalysisError("give --sessions FILE... or --manifest MANIFEST, not both")
    specs = (sessions_from_files(args.sessions, person=args.name) if args.sessions
             else sessions_from_manifest(args.manifest))
    say = _Progress(args.quiet)
    doc = analyze_sessions(specs, args.out, config=cfg, order_by=args.order_by,
                           overwrite=args.overwrite, report=not args.no_report, progress=say)
    _print_progress(args, doc, Path(args.out), say)
    return 0


def _print_progress(args: argparse.Namespace, doc: dict, out: Path, say: _Progress) -> None:
    say(f"done: {out}/ ({', '.join(v['file'] for v in doc['tables'].values())}, progress.json"
        + (", progress.html" if doc.get("report") else "") + ")")
    if args.json:
        sys.stdout.write(json.dumps(doc, indent=2, default=str) + "\n")
    else:  # the table is the result: printed even with --quiet (which silences stderr)
        from somacore.analysis.progress import format_progress
        from somacore.analysis.tables import read_table

        t = {k: read_table(out / v["file"]) for k, v in doc["tables"].items()}
        sys.stdout.write(format_progress(_as_table(t["progress_people"]),
                                         _as_table(t["progress_pairs"])))


def _as_table(cols: dict):
    from somacore.analysis import Table

    t = Table("t")
    for k, v in cols.items():
        t.add(k, v)
    return t


# ---------------------------------------------------------------- progress
def _progress(args: argparse.Namespace) -> int:
    def body() -> int:
        from somacore.analysis.sessions import progress_from_batch

        say = _Progress(args.quiet)
        doc = progress_from_batch(args.batch_out, args.out, order_by=args.order_by,
                                  overwrite=args.overwrite, report=not args.no_report,
                                  progress=say)
        _print_progress(args, doc, Path(args.out), say)
        return 0

    return _run_guarded("progress", args, body)


# ---------------------------------------------------------------- demo
def _demo_table(args: argparse.Namespace) -> int:
    from somacore.beats import detect_beats
    from somacore.data import example_ecg
    from somacore.eval import compare_beats
    from somacore.hrv_metrics import hrv

    ex = example_ecg()
    beats = detect_beats(ex.ecg_mv, fs=ex.fs, kind="ecg")
    score = compare_beats(beats, ex.reference_beats, fs=ex.fs, tolerance_s=0.15)
    h = hrv(beats)
    dur = ex.ecg_mv.size / ex.fs
    out = sys.stdout
    out.write(f"somacore {somacore.__version__} demo: {ex.source}\n")
    out.write(f"{dur:.0f} s of ECG at {ex.fs:g} Hz\n\n")
    out.write("Beats\n")
    out.write(f"  detected            {len(beats):>10d}\n")
    out.write(f"  reference           {ex.reference_beats.size:>10d}\n")
    out.write(f"  sensitivity         {score.se:>10.4f}\n")
    out.write(f"  positive pred.      {score.ppv:>10.4f}\n")
    out.write(f"  F1 (EC57, 150 ms)   {score.f1:>10.4f}\n\n")
    out.write(f"HRV ({beats.interval_name} intervals, Task Force 1996 names)\n")
    units = {"MeanNN": "ms", "SDNN": "ms", "RMSSD": "ms", "SDSD": "ms", "pNN50": "%",
             "pNN20": "%", "MeanHR": "bpm", "VLF": "ms^2", "LF": "ms^2", "HF": "ms^2",
             "TP": "ms^2", "LFnu": "n.u.", "HFnu": "n.u.", "SD1": "ms", "SD2": "ms"}
    for key, value in h.as_dict().items():
        unit = units.get(key, "")
        if isinstance(value, float):
            shown = "n/a" if value != value else f"{value:.3f}"
            out.write(f"  {key:<18s}  {shown:>10s} {unit}\n")
        else:
            out.write(f"  {key:<18s}  {value!s:>10} {unit}\n")
    for note in getattr(h, "notes", ()):
        out.write(f"  note: {note}\n")
    return 0


def demo_inputs(*, seed: int = 0, lag_s: float = 1.5,
                episodes_s=((60.0, 120.0), (180.0, 240.0)), coupling: float = 0.9):
    """The demo session: the bundled real ECG (A) and a SIMULATED follower (B).

    Returns
    -------
    (list of PersonInput, SimulatedPerson)
        The two people and B's ground truth (planted episodes, lag, coupling).
    """
    from somacore.analysis import PersonInput
    from somacore.analysis.pipeline import PersonResult, _mark_artifacts
    from somacore.beats import detect_beats
    from somacore.data import example_ecg
    from somacore.hr_series import heart_rate
    from somacore.signals import Channel, Recording
    from somacore.simulate import simulate_follower

    ex = example_ecg()
    rec_a = Recording((Channel(ex.ecg_mv, ex.fs, "ecg", "mV", name="MLII"),),
                      source="bundled MIT-BIH record 100, first 5 min (real ECG, ODC-By 1.0)")
    # B follows A's heart-rate fluctuations, not A's ectopic beats: drive the simulator
    # with the same artefact-cleaned series the analysis computes
    beats_a = _mark_artifacts(detect_beats(ex.ecg_mv, fs=ex.fs), "lipponen2019",
                              PersonResult("A", "", ""))
    hr_a = heart_rate(beats_a, fs_out=4.0)
    dur = ex.ecg_mv.size / ex.fs
    sim = simulate_follower(hr_a.values, hr_fs=hr_a.fs, duration_s=dur, lag_s=lag_s,
                            episodes_s=episodes_s, coupling=coupling, seed=seed)
    people = [PersonInput("A", rec_a, label="real ECG"),
              PersonInput("B", sim.to_recording("B"), label="SIMULATED")]
    return people, sim


def demo_check(res, sim) -> dict:
    """Compare the analysis with the planted ground truth (windows fully in/out of episodes)."""
    import numpy as np

    pr = next(p for p in res.pairs if p.signal == "heart_rate" and p.sync is not None)
    s = pr.sync
    a = pr.t_start_s + s.window_start_s
    b = a + s.window_s
    inside = np.zeros(a.size, bool)
    outside = np.ones(a.size, bool)
    for e0, e1 in sim.episodes_s:
        inside |= (a >= e0) & (b <= e1)
        outside &= (b <= e0) | (a >= e1)
    lag = s.peak_lag_s[inside & np.isfinite(s.peak_lag_s)]
    return {
        "planted_episodes_s": sim.episodes_s.tolist(), "planted_lag_s": sim.lag_s,
        "planted_coupling": sim.coupling, "simulator_seed": sim.seed,
        "windows_inside": int(inside.sum()), "windows_outside": int(outside.sum()),
        "mean_peak_r_inside": float(np.nanmean(s.peak_r[inside])),
        "mean_peak_r_outside": float(np.nanmean(s.peak_r[outside])),
        "median_lag_inside_s": float(np.median(lag)) if lag.size else None,
        "fraction_significant_inside": float(s.significant[inside].mean()),
        "fraction_significant_outside": float(s.significant[outside].mean()),
    }


def _is_demo_folder(out: Path) -> bool:
    try:
        return bool(json.loads((out / "summary.json").read_text()).get("demo"))
    except (OSError, ValueError, AttributeError):
        return False


def _demo(args: argparse.Namespace) -> int:
    if args.table:
        return _demo_table(args)

    def body() -> int:
        from somacore.analysis import analyze_session, check_out_dir, resolve_config
        from somacore.analysis.output import write_outputs

        out = Path(args.out)
        # a previous demo output may be replaced without --overwrite; anything else may not
        overwrite = args.overwrite or (out.is_dir() and _is_demo_folder(out))
        check_out_dir(out, overwrite=overwrite)
        say = _Progress(args.quiet)
        cfg = resolve_config()
        say("demo: person A = bundled real ECG (MIT-BIH 100), person B = SIMULATED follower "
            "(somacore.simulate)")
        people, sim = demo_inputs(seed=args.seed)
        res = analyze_session(people, cfg, progress=say)
        check = demo_check(res, sim)
        res.notes.append(
            "Person B is SIMULATED (somacore.simulate.simulate_follower): its heart rate follows "
            f"A's with a planted lag of {sim.lag_s:g} s during "
            + ", ".join(f"{a:g}-{b:g} s" for a, b in sim.episodes_s)
            + " and is independent outside them. Found: mean peak r "
            f"{check['mean_peak_r_inside']:.2f} inside vs {check['mean_peak_r_outside']:.2f} "
            f"outside, median lag inside {check['median_lag_inside_s']:.2f} s.")
        summary = write_outputs(res, out, overwrite=overwrite, progress=say,
                                extra={"demo": True, "demo_ground_truth": check})
        say(f"ground truth: lag {sim.lag_s:g} s planted, {check['median_lag_inside_s']:.2f} s "
            f"found; peak r {check['mean_peak_r_inside']:.2f} inside the episodes vs "
            f"{check['mean_peak_r_outside']:.2f} outside")
        _finish(args, summary, out, say)
        return 0

    return _run_guarded("demo", args, body)


# ---------------------------------------------------------------- convert
def _convert(args: argparse.Namespace) -> int:
    def body() -> int:
        from somacore.convert import convert

        say = _Progress(args.quiet)
        chans = [c.strip() for c in args.channels.split(",") if c.strip()] \
            if args.channels else None
        say(f"converting {args.input} -> {args.output}")
        res = convert(args.input, args.output, fmt=args.format, reader=args.reader,
                      force=args.force, channels=chans, resample_hz=args.resample,
                      start_s=args.start, duration_s=args.duration)
        # what the output does not keep is said even with --quiet: never silent
        for loss in res.losses:
            sys.stderr.write(f"somacore convert: lossy: {loss}\n")
        say(f"wrote {res.output} ({res.writer}, {len(res.channels)} channel(s), read back and "
            f"compared: {'lossless' if not res.losses else f'{len(res.losses)} loss(es) above'})")
        if args.json:
            sys.stdout.write(json.dumps(res.as_dict(), indent=2) + "\n")
        return 0

    return _run_guarded("convert", args, body)


# ---------------------------------------------------------------- bench
def _bench(args: argparse.Namespace) -> int:
    def body() -> int:
        from somacore.bench import run_bench

        return run_bench(quick=args.quick, out=args.out, refs=not args.no_refs)

    return _run_guarded("bench", args, body)


# ---------------------------------------------------------------- parser
def build_parser(*, with_plugins: bool = True) -> argparse.ArgumentParser:
    """Return the argument parser of the ``somacore`` command.

    Parameters
    ----------
    with_plugins : bool
        Let installed plugins add their commands (``somacore_register_commands``).
    """
    p = argparse.ArgumentParser(
        prog="somacore",
        description="Fast heartbeat, breath and synchrony analysis of physiological signals.",
    )
    p.add_argument("--version", action="version", version=f"somacore {somacore.__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    a = sub.add_parser(
        "analyze", help="analyse a session of one or more people into tables and a report",
        description="Per person: beats + HRV, breaths + breathing rate, heart-rate series, "
                    "arousal episodes; per pair: windowed lagged cross-correlation of heart "
                    "(and breathing) rate with a surrogate threshold. Writes tables, "
                    "summary.json and report.html into --out. With --sessions or --manifest: "
                    "several sessions, each analysed alone into --out/sessions/<id>/, plus a "
                    "progress view across them (progress_people and progress_pairs tables, "
                    "printed, and progress.html).")
    a.add_argument("files", nargs="*", metavar="FILE",
                   help="one recording per person (named after the file)")
    a.add_argument("--person", action="append", default=[], metavar="NAME=FILE[:CHANNELS]",
                   help="a named person; CHANNELS: comma-separated channel names or kinds")
    a.add_argument("--sessions", nargs="+", metavar="FILE",
                   help="several sessions of one person (one recording each): each is "
                        "analysed alone into DIR/sessions/, plus a progress view across them")
    a.add_argument("--manifest", metavar="MANIFEST",
                   help="several sessions of one or more people, as a batch manifest (CSV or "
                        "Parquet: session, person, file, [channels], [label], [date]...)")
    a.add_argument("--name", default="client", metavar="NAME",
                   help="the person's name with --sessions (default client)")
    a.add_argument("--order-by", metavar="COLUMN",
                   help="order sessions by this manifest column (default: date when every "
                        "session has one, else the order given)")
    a.add_argument("--out", required=True, metavar="DIR", help="output folder (must not exist)")
    a.add_argument("--no-report", action="store_true", help="skip report.html")
    _add_run_options(a)
    _add_param_options(a)
    a.set_defaults(func=_analyze)

    d = sub.add_parser(
        "demo", help="analyse the bundled real ECG with a SIMULATED partner into a report",
        description="Person A: the bundled 5-min MIT-BIH record 100 excerpt (real ECG). "
                    "Person B: SIMULATED by somacore.simulate, its heart rate following A's "
                    "with a known lag during planted episodes. Writes the same outputs as "
                    "'analyze'. --table prints the beats/HRV table of the real ECG instead.")
    d.add_argument("--out", default="somacore-demo", metavar="DIR",
                   help="output folder (default ./somacore-demo; a previous demo output there "
                        "is replaced)")
    d.add_argument("--table", action="store_true",
                   help="print the beats/HRV table of the bundled ECG instead of a report")
    d.add_argument("--seed", type=int, default=0, help="simulator seed (default 0)")
    _add_run_options(d)
    d.set_defaults(func=_demo)

    b = sub.add_parser("bench", help="time the kernels on this machine (and reference libraries)")
    b.add_argument("--quick", action="store_true", help="short inputs, one repeat (~10 s)")
    b.add_argument("--out", metavar="DIR", help="also write bench.json and bench.md here")
    b.add_argument("--no-refs", action="store_true", help="skip sleepecg / NeuroKit2")
    b.add_argument("--debug", action="store_true", help="show tracebacks")
    b.set_defaults(func=_bench)

    c = sub.add_parser(
        "convert", help="convert a recording between formats (csv, wfdb, edf, ...)",
        description="Read INPUT with the reader plugins and write OUTPUT with the writer of "
                    "its extension (or --format). The written file is read back and compared; "
                    "everything it does not keep (channels, annotations, rate, precision, "
                    "names) is printed on stderr, even with --quiet. Formats that can be "
                    "written: see 'somacore plugins' (csv built in; edf and bdf with the "
                    "somacore-edf plugin).")
    c.add_argument("input", metavar="INPUT", help="recording (file, WFDB record or folder)")
    c.add_argument("output", metavar="OUTPUT", help="file to write")
    c.add_argument("--format", metavar="NAME", help="writer name (default: from OUTPUT's "
                   "extension)")
    c.add_argument("--reader", metavar="NAME", help="reader name (default: detected)")
    c.add_argument("--force", action="store_true", help="replace an existing OUTPUT")
    c.add_argument("--channels", metavar="A,B", help="channel names or kinds to keep")
    c.add_argument("--resample", type=float, metavar="HZ",
                   help="resample every channel to HZ on one time base (lossy; needed for "
                        "one-rate formats such as csv when rates differ)")
    c.add_argument("--start", type=float, metavar="S", help="excerpt start in s")
    c.add_argument("--duration", type=float, metavar="S", help="excerpt length in s")
    c.add_argument("--quiet", action="store_true", help="no progress lines (losses are "
                   "still printed)")
    c.add_argument("--json", action="store_true", help="print what was done as JSON on stdout")
    c.add_argument("--debug", action="store_true", help="show tracebacks")
    c.set_defaults(func=_convert)

    from somacore.batch.cli import add_parser as _add_batch_parser

    _add_batch_parser(sub)  # many sessions from a manifest, on a process pool or Dask

    g = sub.add_parser(
        "progress", help="progress across the sessions of a batch output (tables and a "
                         "trend report)",
        description="Read BATCH_OUT (the --out folder of 'somacore batch') and write the "
                    "progress view: per session and person resting heart rate, RMSSD, "
                    "breathing rate, arousal episodes and recovery; per session and pair the "
                    "synchrony summary; progress.html with a trend per metric. The same view "
                    "as 'somacore analyze --manifest'.")
    g.add_argument("batch_out", metavar="BATCH_OUT", help="a somacore batch output folder")
    g.add_argument("--out", required=True, metavar="DIR", help="output folder (must not exist)")
    g.add_argument("--order-by", metavar="COLUMN",
                   help="order sessions by this manifest column (default: date when every "
                        "session has one, else the manifest's order)")
    g.add_argument("--no-report", action="store_true", help="skip progress.html")
    _add_run_options(g)
    g.set_defaults(func=_progress)  # many sessions from a manifest, on a process pool or Dask

    pl = sub.add_parser("plugins", help="list plugins with their distribution and version")
    pl.set_defaults(func=_plugins)
    if with_plugins:
        from somacore.plugins import get_manager

        # plugins add their own commands; loaded when the CLI starts, never at import
        get_manager().register_commands(sub)
    return p


def _plugins(args: argparse.Namespace) -> int:
    from somacore.plugins import print_plugins

    return int(print_plugins() or 0)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``somacore`` command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    return int(args.func(args))


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
