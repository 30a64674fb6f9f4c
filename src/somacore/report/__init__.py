"""The session report: one self-contained HTML page.

:func:`write_report` renders a :class:`~somacore.analysis.SessionResult` and
its summary into one HTML file: figures are PNG images embedded as base64
``data:`` URIs, the style sheet is inline, and the page references nothing on
the network, so it can be mailed or archived as one file.

matplotlib is imported here and only here (never at ``import somacore`` and
never by compute code), on the Agg canvas, when a report is written.
"""

from __future__ import annotations

import base64
import html
import json
import math
from pathlib import Path
from typing import Any

__all__ = ["render_html", "write_report"]

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;
max-width:1000px;color:#222;line-height:1.4}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:.5em 0 1em}
td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right;font-size:.9em}
th{background:#f3f3f3}td:first-child,th:first-child,td.l{text-align:left}
img{max-width:100%;display:block;margin:.5em 0}
.sim{background:#fff3cd;border:1px solid #e0c36b;padding:.1em .4em;border-radius:3px;
font-weight:bold}
.note{color:#8a5a00}pre{background:#f7f7f7;padding:1em;overflow-x:auto;font-size:.8em}
"""


def _fmt(v: Any, nd: int = 2) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:.{nd}f}" if math.isfinite(v) else "n/a"
    return html.escape(str(v))


def _img(png: bytes, alt: str) -> str:
    b64 = base64.b64encode(png).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{b64}">'


def render_html(res, summary: dict) -> str:
    """The report page as a string (see :func:`write_report`)."""
    from somacore.report import figures as F

    e = html.escape
    sw = summary["software"]
    out = ["<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
           "<meta name='viewport' content='width=device-width, initial-scale=1'>",
           "<title>somacore session report</title>", f"<style>{_CSS}</style></head><body>",
           "<h1>somacore session report</h1>",
           f"<p>{len(res.people)} person(s), {sum(p.sync is not None for p in res.pairs)} "
           f"synchrony comparison(s). Times in seconds from the session start "
           f"(earliest channel start). Generated {e(summary['created_utc'])} by somacore "
           f"{e(sw['version'])}.</p>"]
    # session-level notes (e.g. what is simulated in a demo) belong at the top
    out += [f"<p class='note'>{e(note)}</p>" for note in summary.get("notes", [])]
    # ---------------- summary tables
    out.append("<h2 id='summary'>Summary</h2><table><tr><th>person</th><th>source</th>"
               "<th>duration [s]</th><th>beats</th><th>mean HR [1/min]</th>"
               "<th>SDNN [ms]</th><th>RMSSD [ms]</th><th>breaths</th>"
               "<th>mean BR [1/min]</th><th>RSA [ms]</th><th>arousal episodes</th></tr>")
    for p in res.people:
        d = summary["people"][p.name]
        h, hv, b, a = d.get("heart", {}), d.get("hrv", {}), d.get("breathing", {}), \
            d.get("arousal", {})
        lab = f" <span class='sim'>{e(p.label)}</span>" if p.label else ""
        dur = h.get("duration_s", b.get("duration_s"))
        out.append(f"<tr><td>{e(p.name)}{lab}</td><td class='l'>{e(p.source)}</td>"
                   f"<td>{_fmt(dur, 0)}</td>"
                   f"<td>{_fmt(h.get('n_beats'))}</td><td>{_fmt(h.get('mean_hr_bpm'), 1)}</td>"
                   f"<td>{_fmt(hv.get('SDNN'), 1)}</td><td>{_fmt(hv.get('RMSSD'), 1)}</td>"
                   f"<td>{_fmt(b.get('n_breaths'))}</td>"
                   f"<td>{_fmt(b.get('mean_rate_bpm'), 1)}</td>"
                   f"<td>{_fmt(b.get('median_rsa_ms'), 0)}</td>"
                   f"<td>{_fmt(a.get('n_episodes'))}</td></tr>")
    out.append("</table>")
    if summary["pairs"]:
        out.append("<table><tr><th>pair</th><th>signal</th><th>windows</th>"
                   "<th>mean peak r</th><th>surrogate threshold</th><th>p (mean peak r)</th>"
                   "<th>windows above threshold</th><th>first leads</th>"
                   "<th>second leads</th><th>median lag [s]</th></tr>")
        for d in summary["pairs"]:
            if d.get("n_windows") is None:
                out.append(f"<tr><td>{e(d['first'])} ~ {e(d['second'])}</td>"
                           f"<td>{e(d['signal'])}</td><td colspan='8' class='note'>"
                           f"{e(d['note'])}</td></tr>")
                continue

            def pc(v: Any) -> str:
                return "n/a" if v is None else f"{100 * v:.0f} %"
            out.append(f"<tr><td>{e(d['first'])} ~ {e(d['second'])}</td><td>{e(d['signal'])}"
                       f"</td><td>{d['n_windows']}</td><td>{_fmt(d['mean_peak_r'])}</td>"
                       f"<td>{_fmt(d['surrogate_threshold_r'])}</td>"
                       f"<td>{_fmt(d['surrogate_p_value_mean_peak_r'], 3)}</td>"
                       f"<td>{pc(d['fraction_significant'])}</td>"
                       f"<td>{pc(d['fraction_first_leads'])}</td>"
                       f"<td>{pc(d['fraction_second_leads'])}</td>"
                       f"<td>{_fmt(d['median_peak_lag_s'])}</td></tr>")
        out.append("</table>")
    out.append(f"<p>Tables in this folder ({e(summary['table_format'])}): "
               + ", ".join(f"{e(v['file'])} ({v['rows']} rows)"
                           for v in summary["tables"].values()) + ".</p>")
    # ---------------- people
    for p in res.people:
        lab = f" <span class='sim'>{e(p.label)}</span>" if p.label else ""
        out.append(f"<h2 id='person-{e(p.name)}'>Person {e(p.name)}{lab}</h2>")
        out.append(f"<p>Source: {e(p.source)}</p>")
        for note in p.notes:
            out.append(f"<p class='note'>{e(note)}</p>")
        out.append(_img(F.png_bytes(F.fig_excerpt(p)), f"{p.name}: signal excerpt"))
        out.append(_img(F.png_bytes(F.fig_series(p)), f"{p.name}: rates over the session"))
        if p.arousal is not None and len(p.arousal):
            a = p.arousal
            out.append("<table><tr><th>episode</th><th>onset [s]</th><th>peak [s]</th>"
                       "<th>duration [s]</th><th>peak HR [1/min]</th><th>above baseline "
                       "[1/min]</th><th>back to baseline after peak [s]</th></tr>")
            for k in range(len(a)):
                out.append(f"<tr><td>{k + 1}</td><td>{a.onset_s[k]:.1f}</td>"
                           f"<td>{a.peak_s[k]:.1f}</td><td>{a.duration_s[k]:.1f}</td>"
                           f"<td>{a.peak_bpm[k]:.1f}</td><td>{a.peak_excess_bpm[k]:.1f}</td>"
                           f"<td>{_fmt(float(a.recovery_s[k]), 1)}</td></tr>")
            out.append("</table>")
    # ---------------- pairs
    for pr in res.pairs:
        out.append(f"<h2 id='pair-{e(pr.first)}-{e(pr.second)}-{e(pr.signal)}'>{e(pr.first)} ~ "
                   f"{e(pr.second)}: {e(pr.signal.replace('_', ' '))}</h2>")
        if pr.sync is None:
            out.append(f"<p class='note'>{e(pr.note)}</p>")
            continue
        s = pr.sync
        out.append(f"<p>Windows of {s.window_s:g} s every {s.step_s:g} s, lags ±"
                   f"{s.max_lag_s:g} s (peak rule: {e(res.config['synchrony']['peak'])}). "
                   f"Threshold: the {res.config['synchrony']['quantile']:.0%} quantile of the "
                   f"window peak r of {res.config['synchrony']['n_surrogates']} circular-shift "
                   f"surrogates. Engine: {e(s.engine)}.</p>")
        out.append(_img(F.png_bytes(F.fig_pair(pr)),
                        f"{pr.first} ~ {pr.second}: {pr.signal} synchrony"))
    # ---------------- parameters
    out.append("<h2 id='parameters'>Parameters and software</h2>")
    out.append(f"<p>somacore {e(sw['version'])}, Python {e(sw['python'])}, numpy "
               f"{e(sw['numpy'])}, {e(sw['platform'])}. Analysis took "
               f"{summary['elapsed_s']:.1f} s.</p>")
    out.append(f"<pre>{e(json.dumps(summary['parameters'], indent=2))}</pre>")
    out.append("</body></html>\n")
    return "\n".join(out)


def write_report(res, summary: dict, path: str | Path) -> Path:
    """Write the self-contained HTML report of ``res`` to ``path``.

    Parameters
    ----------
    res : somacore.analysis.SessionResult
        The analysed session.
    summary : dict
        Its summary (:func:`somacore.analysis.summary_dict`).
    path : path
        Output file.

    Returns
    -------
    Path
    """
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ImportError("the HTML report needs matplotlib: pip install matplotlib "
                          "(or somacore[report])") from None
    path = Path(path)
    path.write_text(render_html(res, summary), encoding="utf-8")
    return path
