"""Choose three breath-segmenter parameters on MARSH by a fixed, scripted grid search.

The procedure (the same for each cross-validation fold and for the shipped defaults):

- the grid: every combination of the three values of :data:`GRID`, all other
  :class:`~somacore.breath.BreathParams` fields at their defaults. Each parameter has a
  physiological meaning:

  - ``shoulder``: how far (fraction of its inhalation) an exhalation must have fallen
    before a trough may end the breath; a trough earlier than that interrupts the
    exhalation (an expiratory shoulder candidate);
  - ``shoulder_depth``: how shallow (prominence, fraction of the typical breath amplitude)
    such an interrupting trough must be to be merged into the breath;
  - ``balance``: the balance rule for the deeper interrupting troughs: the "breath" after
    one is the rest of the interrupted exhalation when it rose less than ``balance`` x its
    own fall (a tidal breath falls about as far as it rose); 0 turns the rule off, so the
    search also decides whether the rule is used at all;

- the objective: pooled F1 of the end-of-inspiration marks (one-to-one within +/-0.5 s) on
  the records of the fold only; ties broken by the higher F1 of the fold's worst record,
  then by grid order (the first combination listed, i.e. the smaller values);
- cross-validation: parameters chosen on fold A (the first 15 sorted ids) are scored on
  fold B (the other 14), and the other way round; the shipped defaults are the choice of the
  same procedure on all 29 records (``benchmarks/accuracy_breath.py`` checks that they are).

Every grid point segments all 29 records once (~0.2-0.5 s each on this machine), so the whole
search takes well under a minute. Run from the repository root::

    python benchmarks/tune_breath.py        # writes benchmarks/results/breath_tuning.md

Never run on evaluation-only data (MARSH is not evaluation-only; see its README).
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import sys
import tempfile
import time
from pathlib import Path

import somacore.breath as sb
from _marsh import FS, TOL_S, folds, load, records
from somacore.eval import BeatScore, compare_events

OUT = Path(__file__).resolve().parent / "results" / "breath_tuning.md"

#: The searched values (every combination; the other fields keep their defaults).
GRID: dict[str, tuple[float, ...]] = {
    "shoulder": (0.5, 0.6, 0.7),
    "shoulder_depth": (0.2, 0.3, 0.4, 0.5),
    "balance": (0.0, 0.4, 0.5, 0.6, 0.7),
}

Key = tuple[float, ...]


def grid() -> list[Key]:
    """The grid points in their fixed order (the tie-break order)."""
    return list(itertools.product(*GRID.values()))


def params_of(key: Key, base: sb.BreathParams | None = None) -> sb.BreathParams:
    """The BreathParams of a grid point (``base``, default ``BreathParams()``, elsewhere)."""
    return dataclasses.replace(base or sb.BreathParams(), **dict(zip(GRID, key, strict=True)))


def score_record(rec: str, params: sb.BreathParams) -> BeatScore:
    x, ref = load(rec)
    br = sb.segment_breaths(x, fs=FS, sensor="impedance", params=params)
    return compare_events(br.peaks, ref, fs=FS, tolerance_s=TOL_S)


def grid_scores(recs: list[str]) -> dict[Key, dict[str, BeatScore]]:
    """Per-record scores of every grid point."""
    return {key: {r: score_record(r, params_of(key)) for r in recs} for key in grid()}


def objective(per_rec: dict[str, BeatScore], recs: list[str]) -> tuple[float, float]:
    """(pooled F1, worst-record F1) over ``recs``: larger is better, compared in this order."""
    pooled = BeatScore.pool([per_rec[r] for r in recs])
    return pooled.f1, min(per_rec[r].f1 for r in recs)


def choose(scores: dict[Key, dict[str, BeatScore]], recs: list[str]) -> Key:
    """The grid point with the best objective on ``recs`` (ties: first in grid order)."""
    best = None
    for key in grid():                      # strict ">" keeps the first of equals
        obj = objective(scores[key], recs)
        if best is None or obj > best[1]:
            best = (key, obj)
    assert best is not None
    return best[0]


def cross_validate(scores: dict[Key, dict[str, BeatScore]] | None = None) -> dict:
    """The 2-fold cross-validation and the all-records choice.

    Returns ``{"scores", "choice": {"A": key, "B": key, "all": key}, "folds"}``; the
    parameters chosen on fold A are to be scored on fold B and vice versa.
    """
    f = folds()
    recs = f["A"] + f["B"]
    scores = scores if scores is not None else grid_scores(recs)
    return {"scores": scores, "folds": f,
            "choice": {"A": choose(scores, f["A"]), "B": choose(scores, f["B"]),
                       "all": choose(scores, recs)}}


def fmt_key(key: Key) -> str:
    return ", ".join(f"{k}={v:g}" for k, v in zip(GRID, key, strict=True))


def atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def report(cv: dict, elapsed: float) -> str:
    scores, f, ch = cv["scores"], cv["folds"], cv["choice"]
    recs = f["A"] + f["B"]
    lines = [
        "# Breath segmenter grid search on MARSH (2-fold cross-validation)",
        "",
        "Generated by `python benchmarks/tune_breath.py` (do not edit by hand). The procedure",
        "is in the script's docstring: grid "
        + ", ".join(f"`{k}` in {{{', '.join(f'{v:g}' for v in vs)}}}" for k, vs in GRID.items())
        + f" ({len(grid())} points, other fields at their defaults); objective pooled F1 "
        "on the fold, ties by the fold's worst record.",
        "",
        "| chosen on | parameters | F1 on it | worst on it | scored on | out-of-fold F1 "
        "| worst out-of-fold |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for on, other in (("A", "B"), ("B", "A")):
        key = ch[on]
        fi, wi = objective(scores[key], f[on])
        fo, wo = objective(scores[key], f[other])
        worst = min(f[other], key=lambda r, k=key: scores[k][r].f1)
        lines.append(f"| fold {on} ({len(f[on])}) | {fmt_key(key)} | {fi:.4f} | {wi:.4f} "
                     f"| fold {other} | {fo:.4f} | {worst} {wo:.4f} |")
    oof = [scores[ch["B"]][r] for r in f["A"]] + [scores[ch["A"]][r] for r in f["B"]]
    worst_oof = min(zip(recs, oof, strict=True), key=lambda t: t[1].f1)
    fa, wa = objective(scores[ch["all"]], recs)
    lines += [
        "",
        f"Pooled out-of-fold F1 (each record scored with the parameters chosen on the other "
        f"fold): **{BeatScore.pool(oof).f1:.4f}**; worst out-of-fold record: "
        f"**{worst_oof[0]} ({worst_oof[1].f1:.4f})**.",
        "",
        f"Chosen on all {len(recs)} records (the shipped defaults): **{fmt_key(ch['all'])}** "
        f"(pooled F1 {fa:.4f}, worst record {wa:.4f}; an in-sample figure).",
        "",
        "## Every grid point",
        "",
        "| " + " | ".join(GRID) + " | F1 A | worst A | F1 B | worst B | F1 all "
        "| worst all |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for key in grid():
        cells = []
        for sel in (f["A"], f["B"], recs):
            p, w = objective(scores[key], sel)
            cells += [f"{p:.4f}", f"{w:.4f}"]
        mark = " (" + ", ".join(n for n in ("A", "B", "all") if ch[n] == key) + ")" \
            if key in ch.values() else ""
        lines.append("| " + " | ".join(f"{v:g}" for v in key) + mark + " | "
                     + " | ".join(cells) + " |")
    lines += ["", f"Search time: {elapsed:.0f} s ({len(grid())} points x {len(recs)} records, "
              "including .mat loading).", ""]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    t0 = time.perf_counter()
    for r in records():
        load(r)
    cv = cross_validate()
    text = report(cv, time.perf_counter() - t0)
    atomic_write(OUT, text)
    print(text)
    default = tuple(getattr(sb.BreathParams(), k) for k in GRID)
    if default != cv["choice"]["all"]:
        print(f"NOTE: BreathParams defaults ({fmt_key(default)}) differ from the all-records "
              f"choice ({fmt_key(cv['choice']['all'])}).", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
