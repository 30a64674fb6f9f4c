"""Progress across sessions: one row per session and person, one per session and pair.

The rows are projections of each session's ``summary.json``
(:func:`somacore.analysis.summary_dict`), flattened exactly as the batch
summary table (``summary.parquet``, one row per session and person) is, so the
same view is built from sessions analysed here (``somacore analyze
--sessions``/``--manifest``) or from a batch output folder (``somacore
progress``). No metric is computed twice: every number is the single-session
pipeline's.

Metrics (per session and person):

==========================  ==========================  =====================================
column                      summary key                 meaning
==========================  ==========================  =====================================
resting_hr_bpm              heart.resting_hr_bpm        median heart rate outside arousal
                                                        episodes (1/min)
mean_hr_bpm                 heart.mean_hr_bpm           mean heart rate (1/min)
rmssd_ms                    hrv.RMSSD                   RMSSD (ms)
sdnn_ms                     hrv.SDNN                    SDNN (ms)
breathing_rate_bpm          breathing.mean_rate_bpm     mean breathing rate (1/min)
rsa_ms                      breathing.median_rsa_ms     respiratory sinus arrhythmia, median
                                                        per breath (ms; Grossman peak-to-
                                                        trough; needs heart and respiration)
arousal_episodes            arousal.n_episodes          heart-rate arousal episodes
arousal_total_s             arousal.total_duration_s    their total duration (s)
arousal_mean_s              arousal.mean_duration_s     their mean duration (s)
recovery_median_s           arousal.median_recovery_s   median time from peak back to
                                                        baseline (s; episodes that recovered)
==========================  ==========================  =====================================

Per session and pair (and signal): mean window peak r, fraction of windows
above the surrogate threshold, median lag, the surrogate p value of the mean
peak r and who led how often.

Order: by a metadata column (``date`` when present, or ``order_by``), else the
order the sessions were given in.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from somacore.analysis.tables import Table

__all__ = ["PAIR_METRICS", "PERSON_METRICS", "SessionEntry", "flatten", "flatten_summary",
           "order_sessions", "progress_tables"]

#: (column, flattened summary key, unit, label)
PERSON_METRICS: tuple[tuple[str, str, str, str], ...] = (
    ("resting_hr_bpm", "heart_resting_hr_bpm", "1/min", "resting heart rate"),
    ("mean_hr_bpm", "heart_mean_hr_bpm", "1/min", "mean heart rate"),
    ("rmssd_ms", "hrv_RMSSD", "ms", "RMSSD"),
    ("sdnn_ms", "hrv_SDNN", "ms", "SDNN"),
    ("breathing_rate_bpm", "breathing_mean_rate_bpm", "1/min", "breathing rate"),
    ("rsa_ms", "breathing_median_rsa_ms", "ms", "RSA (median per breath)"),
    ("arousal_episodes", "arousal_n_episodes", "count", "arousal episodes"),
    ("arousal_total_s", "arousal_total_duration_s", "s", "arousal, total duration"),
    ("arousal_mean_s", "arousal_mean_duration_s", "s", "arousal, mean episode duration"),
    ("recovery_median_s", "arousal_median_recovery_s", "s", "recovery time (median)"),
)
#: (column, flattened pair-summary key, unit, label)
PAIR_METRICS: tuple[tuple[str, str, str, str], ...] = (
    ("mean_peak_r", "mean_peak_r", "", "synchrony: mean window peak r"),
    ("fraction_significant", "fraction_significant", "", "synchrony: windows above threshold"),
    ("median_peak_lag_s", "median_peak_lag_s", "s", "median lag"),
    ("p_value", "surrogate_p_value_mean_peak_r", "", "surrogate p (mean peak r)"),
    ("fraction_first_leads", "fraction_first_leads", "", "first leads"),
    ("fraction_second_leads", "fraction_second_leads", "", "second leads"),
    ("n_windows", "n_defined_windows", "count", "defined windows"),
)


def flatten(prefix: str, d: dict, into: dict) -> None:
    """Nested dict -> ``a_b_c`` keys (scalars only), as in the batch summary tables."""
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            flatten(f"{key}_", v, into)
        elif v is None or isinstance(v, (bool, int, float, str)):
            into[key] = v


def flatten_summary(summary: dict) -> tuple[list[dict], list[dict]]:
    """One session's summary as flat rows: (one per person, one per pair and signal).

    These are the rows of the batch's ``people.parquet`` and ``synchrony.parquet``.
    """
    people = []
    for name, d in summary["people"].items():
        row: dict[str, Any] = {"person": name}
        flatten("", {k: v for k, v in d.items() if k != "notes"}, row)
        row["notes"] = "; ".join(d.get("notes", []))
        people.append(row)
    pairs = []
    for d in summary["pairs"]:
        row = {}
        flatten("", d, row)
        pairs.append(row)
    return people, pairs


@dataclass
class SessionEntry:
    """One session's flat rows and metadata."""

    session: str
    people: list[dict]
    pairs: list[dict]
    metadata: dict[str, Any] = field(default_factory=dict)
    status: str = "done"
    error: str | None = None


def _sort_key(v: Any) -> tuple:
    if v is None or (isinstance(v, float) and math.isnan(v)) or v == "":
        return (1, "")                           # sessions without the value go last
    if isinstance(v, (int, float, np.number)):
        return (0, float(v), "")
    return (0, math.inf, str(v))                  # ISO dates sort as text


def order_sessions(entries: Sequence[SessionEntry], order_by: str | None = None
                   ) -> tuple[list[SessionEntry], str, str | None]:
    """Sessions in progress order, a description of that order and the column used.

    ``order_by``: a metadata column; default ``date`` when every session has
    one; else the given order. A stable sort: ties keep the given order.
    """
    entries = list(entries)
    if order_by is None and entries and all(e.metadata.get("date") not in (None, "")
                                            for e in entries):
        order_by = "date"
    if order_by is None:
        return entries, "the order the sessions were given in", None
    missing = [e.session for e in entries if order_by not in e.metadata]
    if missing:
        known = sorted({k for e in entries for k in e.metadata})
        raise ValueError(f"--order-by {order_by!r}: session {missing[0]} has no such column "
                         f"(metadata columns: {', '.join(known) or 'none'}); add it to the "
                         "manifest or order by another column")
    return (sorted(entries, key=lambda e: _sort_key(e.metadata.get(order_by))),
            f"by {order_by}", order_by)


def _num(v: Any) -> float:
    if v is None:
        return math.nan
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def progress_tables(entries: Sequence[SessionEntry]) -> tuple[Table, Table]:
    """The progress tables (already ordered entries): per session and person, per pair.

    Columns: ``order`` (1 = first session), ``session``, the metadata columns,
    then ``person`` and :data:`PERSON_METRICS` (or ``first``, ``second``,
    ``signal`` and :data:`PAIR_METRICS`). NaN where a metric does not apply
    (no respiration channel, no episode that recovered...) or a session failed.
    """
    meta_cols: list[str] = []
    for e in entries:
        meta_cols.extend(k for k in e.metadata if k not in meta_cols)
    prow: list[dict] = []
    qrow: list[dict] = []
    for k, e in enumerate(entries, start=1):
        base = {"order": k, "session": e.session, "status": e.status,
                **{c: e.metadata.get(c) for c in meta_cols}}
        for r in e.people:
            prow.append({**base, "person": r["person"],
                         "duration_s": _num(r.get("heart_duration_s",
                                                  r.get("breathing_duration_s"))),
                         **{c: _num(r.get(key)) for c, key, _, _ in PERSON_METRICS}})
        for r in e.pairs:
            qrow.append({**base, "first": r["first"], "second": r["second"],
                         "signal": r["signal"], "note": r.get("note") or "",
                         **{c: _num(r.get(key)) for c, key, _, _ in PAIR_METRICS}})
    people = Table("progress_people", description="one row per session and person, sessions "
                   "in progress order (order = 1 first); metrics from each session's summary")
    pairs = Table("progress_pairs", description="one row per session, pair and signal: "
                  "synchrony summary, sessions in progress order")
    for t, rows, cols in (
            (people, prow, [("person", ""), ("duration_s", "s")]
             + [(c, u) for c, _, u, _ in PERSON_METRICS]),
            (pairs, qrow, [("first", ""), ("second", ""), ("signal", ""), ("note", "")]
             + [(c, u) for c, _, u, _ in PAIR_METRICS])):
        t.add("order", np.array([r["order"] for r in rows], dtype=np.int64))
        for c in ("session", "status", *meta_cols):
            t.add(c, np.array(["" if r[c] is None else str(r[c]) for r in rows], dtype=object))
        for c, unit in cols:
            vals = [r[c] for r in rows]
            if c not in ("person", "first", "second", "signal", "note"):
                t.add(c, np.array(vals, dtype=np.float64), unit)
            else:
                t.add(c, np.array(vals, dtype=object), unit)
    return people, pairs


def format_progress(people: Table, pairs: Table) -> str:
    """The progress tables as fixed-width text (what the command prints)."""
    def f(v: Any, nd: int = 1) -> str:
        if isinstance(v, float):
            return "-" if not math.isfinite(v) else f"{v:.{nd}f}"
        return str(v)

    out = []
    head = ("#", "session", "person", "rest HR", "RMSSD", "BR", "episodes", "arousal s",
            "recovery s")
    rows = [head, ("", "", "", "1/min", "ms", "1/min", "", "total", "median")]
    c = people.columns
    for i in range(len(people)):
        rows.append((str(c["order"][i]), c["session"][i], c["person"][i],
                     f(c["resting_hr_bpm"][i]), f(c["rmssd_ms"][i]),
                     f(c["breathing_rate_bpm"][i]), f(c["arousal_episodes"][i], 0),
                     f(c["arousal_total_s"][i], 0), f(c["recovery_median_s"][i])))
    out.append(_text_table(rows, header_rows=2))
    if len(pairs):
        q = pairs.columns
        rows = [("#", "session", "pair", "signal", "mean peak r", "above thr.", "median lag s")]
        for i in range(len(pairs)):
            rows.append((str(q["order"][i]), q["session"][i],
                         f"{q['first'][i]} ~ {q['second'][i]}", q["signal"][i],
                         f(q["mean_peak_r"][i], 2),
                         "-" if not math.isfinite(q["fraction_significant"][i])
                         else f"{100 * q['fraction_significant'][i]:.0f} %",
                         f(q["median_peak_lag_s"][i], 2)))
        out.append(_text_table(rows))
    return "\n".join(out)


def _text_table(rows: list[tuple], header_rows: int = 1) -> str:
    w = [max(len(str(r[j])) for r in rows) for j in range(len(rows[0]))]
    lines = []
    for k, r in enumerate(rows):
        cells = [str(v).ljust(w[j]) if j in (1, 2, 3) and not str(v)[:1].isdigit()
                 else str(v).rjust(w[j]) for j, v in enumerate(r)]
        lines.append("  ".join(cells).rstrip())
        if k == header_rows - 1:
            lines.append("  ".join("-" * x for x in w))
    return "\n".join(lines) + "\n"
