"""``progress.html``: the progress view across sessions, one self-contained page.

A table of every session and person (and pair) in progress order, and one
trend figure per metric (value against session, one line per person or pair),
drawn with matplotlib's object API on Agg canvases and embedded as PNG
``data:`` URIs. Links to each session's own report are relative paths within
the output folder. matplotlib is imported only here, when the page is written.
"""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from somacore.report import _CSS, _fmt, _img
from somacore.report.figures import png_bytes

__all__ = ["fig_trends", "render_progress", "write_progress_report"]

#: person metrics drawn as trends (column, title)
TREND_PEOPLE = (("resting_hr_bpm", "resting heart rate [1/min]"), ("rmssd_ms", "RMSSD [ms]"),
                ("breathing_rate_bpm", "breathing rate [1/min]"),
                ("arousal_episodes", "arousal episodes"),
                ("arousal_total_s", "arousal, total duration [s]"),
                ("recovery_median_s", "recovery time, median [s]"))
#: pair metrics drawn as trends
TREND_PAIRS = (("mean_peak_r", "synchrony: mean window peak r"),
               ("fraction_significant", "synchrony: fraction of windows above threshold"))


def _session_labels(doc: dict) -> list[str]:
    out = []
    for s in doc["sessions"]:
        meta = s["metadata"]
        extra = doc.get("order_by") and meta.get(doc["order_by"])
        out.append(f"{s['session']}\n{extra}" if extra not in (None, "", False) else s["session"])
    return out


def fig_trends(doc: dict) -> Figure:
    """One panel per metric: value by session (in progress order), a line per person/pair."""
    labels = _session_labels(doc)
    x_all = np.arange(1, len(labels) + 1)
    panels: list[tuple[str, dict[str, tuple[list[int], list[float]]]]] = []
    for col, title in TREND_PEOPLE:
        lines: dict[str, tuple[list[int], list[float]]] = {}
        for r in doc["people"]:
            xs, ys = lines.setdefault(r["person"], ([], []))
            xs.append(r["order"])
            ys.append(math.nan if r[col] is None else r[col])
        panels.append((title, lines))
    if doc["pairs"]:
        for col, title in TREND_PAIRS:
            lines = {}
            for r in doc["pairs"]:
                key = f"{r['first']} ~ {r['second']} ({r['signal'].replace('_', ' ')})"
                xs, ys = lines.setdefault(key, ([], []))
                xs.append(r["order"])
                ys.append(math.nan if r[col] is None else r[col])
            panels.append((title, lines))
    ncol = 2
    nrow = math.ceil(len(panels) / ncol)
    fig = Figure(figsize=(10, 2.6 * nrow), layout="constrained")
    axes = fig.subplots(nrow, ncol, squeeze=False, sharex=True).ravel()
    for ax, (title, lines) in zip(axes, panels, strict=False):
        for name, (xs, ys) in lines.items():
            ax.plot(xs, ys, "o-", ms=5, lw=1.2, label=name)
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
        if not any(np.isfinite(ys).any() for _, ys in lines.values()):
            # say so rather than show an empty frame (e.g. no episode ever recovered)
            ax.text(0.5, 0.5, "no value in any session", transform=ax.transAxes,
                    ha="center", va="center", color="#8a5a00")
        else:
            ax.legend(fontsize=7, loc="best")
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    for ax in axes:
        ax.set_xticks(x_all, labels, fontsize=8)
        ax.set_xlim(0.5, len(labels) + 0.5)
    return fig


def render_progress(doc: dict) -> str:
    """The page as a string."""
    e = html.escape
    out = ["<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
           "<meta name='viewport' content='width=device-width, initial-scale=1'>",
           "<title>somacore progress across sessions</title>",
           f"<style>{_CSS}</style></head><body>",
           "<h1>Progress across sessions</h1>",
           f"<p>{len(doc['sessions'])} session(s), ordered {e(doc['order'])}. Source: "
           f"{e(doc['source'])}. Every number is that session's own analysis (its "
           f"summary.json). Generated {e(doc['created_utc'])} by somacore "
           f"{e(doc['software']['version'])}.</p>"]
    out += [f"<p class='note'>{e(n)}</p>" for n in doc.get("notes", [])]
    out.append("<h2 id='sessions'>Sessions</h2><table><tr><th>#</th><th>session</th>"
               "<th>status</th><th>metadata</th><th>report</th></tr>")
    for s in doc["sessions"]:
        meta = ", ".join(f"{k}={v}" for k, v in s["metadata"].items() if v not in (None, ""))
        link = (f"<a href='{e(s['report'])}'>report</a>" if s.get("report") else "-")
        err = f" ({e(s['error'])})" if s.get("error") else ""
        out.append(f"<tr><td>{s['order']}</td><td>{e(s['session'])}</td>"
                   f"<td class='l'>{e(s['status'])}{err}</td><td class='l'>{e(meta)}</td>"
                   f"<td>{link}</td></tr>")
    out.append("</table>")
    out.append("<h2 id='trends'>Trends</h2>")
    out.append(_img(png_bytes(fig_trends(doc)), "trend per metric across sessions"))
    units = doc["metrics"]["people"]
    cols = ["resting_hr_bpm", "mean_hr_bpm", "rmssd_ms", "sdnn_ms", "breathing_rate_bpm",
            "arousal_episodes", "arousal_total_s", "arousal_mean_s", "recovery_median_s"]
    out.append("<h2 id='people'>Per session and person</h2><table><tr><th>#</th>"
               "<th>session</th><th>person</th>"
               + "".join(f"<th>{e(units[c]['label'])}"
                         + (f" [{e(units[c]['unit'])}]" if units[c]['unit'] not in ("", "count")
                            else "") + "</th>" for c in cols) + "</tr>")
    for r in doc["people"]:
        out.append(f"<tr><td>{r['order']}</td><td>{e(r['session'])}</td><td>{e(r['person'])}"
                   "</td>" + "".join(f"<td>{_fmt(_f(r[c]), 0 if c == 'arousal_episodes' else 1)}"
                                     "</td>" for c in cols) + "</tr>")
    out.append("</table>")
    if doc["pairs"]:
        out.append("<h2 id='pairs'>Synchrony per session and pair</h2><table><tr><th>#</th>"
                   "<th>session</th><th>pair</th><th>signal</th><th>mean peak r</th>"
                   "<th>windows above threshold</th><th>p (mean peak r)</th>"
                   "<th>first leads</th><th>second leads</th><th>median lag [s]</th></tr>")
        for r in doc["pairs"]:
            def pc(v: Any) -> str:
                return "n/a" if v is None else f"{100 * v:.0f} %"
            out.append(f"<tr><td>{r['order']}</td><td>{e(r['session'])}</td>"
                       f"<td>{e(r['first'])} ~ {e(r['second'])}</td><td>{e(r['signal'])}</td>"
                       f"<td>{_fmt(_f(r['mean_peak_r']))}</td>"
                       f"<td>{pc(r['fraction_significant'])}</td>"
                       f"<td>{_fmt(_f(r['p_value']), 3)}</td>"
                       f"<td>{pc(r['fraction_first_leads'])}</td>"
                       f"<td>{pc(r['fraction_second_leads'])}</td>"
                       f"<td>{_fmt(_f(r['median_peak_lag_s']))}</td></tr>")
        out.append("</table>")
    out.append("<h2 id='definitions'>Definitions</h2><ul>"
               "<li>resting heart rate: median of the heart-rate series outside arousal "
               "episodes</li><li>recovery time: from an episode's peak until the heart rate "
               "is back near the baseline; the median over the episodes that recovered</li>"
               "<li>synchrony: windowed lagged cross-correlation of heart (or breathing) "
               "rate; threshold from circular-shift surrogates</li></ul>")
    out.append("</body></html>\n")
    return "\n".join(out)


def _f(v: Any) -> Any:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v


def write_progress_report(doc: dict, path: str | Path) -> Path:
    """Write ``progress.html`` for the ``progress.json`` content ``doc``."""
    path = Path(path)
    path.write_text(render_progress(doc), encoding="utf-8")
    return path
