"""The ``somacore`` command line."""

from __future__ import annotations

import argparse
import sys

import somacore


def _demo(args: argparse.Namespace) -> int:
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
    d = sub.add_parser("demo", help="analyse the bundled real ECG excerpt and print a table")
    d.set_defaults(func=_demo)
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
