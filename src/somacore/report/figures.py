"""The report's figures, drawn with matplotlib's object API on the Agg canvas.

No pyplot and no global backend switch: each figure is a
:class:`matplotlib.figure.Figure` rendered by ``FigureCanvasAgg`` straight to
PNG bytes, so making a report never changes the caller's matplotlib state
(and works headless). This module is imported only by :mod:`somacore.report`.
"""

from __future__ import annotations

import io

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = ["fig_excerpt", "fig_pair", "fig_series", "png_bytes"]

_DPI = 90
_LEAD_COLORS = ("#1f77b4", "#d62728")


def png_bytes(fig: Figure) -> bytes:
    """Render ``fig`` to PNG bytes."""
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI)
    return buf.getvalue()


def _shade(ax, episodes) -> None:
    if episodes is None:
        return
    for a, b in zip(episodes.onset_s.tolist(), episodes.end_s.tolist(), strict=True):
        ax.axvspan(a, b, color="#ff7f0e", alpha=0.25, lw=0)


def fig_excerpt(p, *, heart_s: float = 10.0, resp_s: float = 60.0) -> Figure:
    """Raw-signal excerpts with the detected beats and breaths marked."""
    rows = int(p.beats is not None) + int(p.breaths is not None)
    fig = Figure(figsize=(10, 2.4 * rows), layout="constrained")
    axes = fig.subplots(rows, 1, squeeze=False)[:, 0]
    i = 0
    if p.beats is not None:
        ch, b = p.heart_channel, p.beats
        x = np.asarray(ch.data, float)
        # start at the first beat so the excerpt shows signal, not a leading gap
        s0 = int(max(0, b.samples[0] - 0.5 * ch.fs)) if len(b) else 0
        s1 = min(x.size, s0 + int(heart_s * ch.fs))
        t = p.offset_s + np.arange(s0, s1) / ch.fs
        ax = axes[i]
        ax.plot(t, x[s0:s1], lw=0.8, color="k")
        sel = b.samples[(b.samples >= s0) & (b.samples < s1)]
        ax.plot(p.offset_s + sel / ch.fs, x[sel], "o", ms=5, mfc="none", color="#d62728",
                label=f"beats ({b.kind.upper()})")
        ax.set_ylabel(f"{ch.name} [{ch.units}]")
        ax.set_xlabel("time [s]")
        ax.legend(loc="upper right", fontsize=8)
        ax.set_title(f"{p.name}: {ch.kind.upper()} excerpt with detected beats", fontsize=10)
        i += 1
    if p.breaths is not None:
        ch, br = p.resp_channel, p.breaths
        x = np.asarray(ch.data, float)
        s0 = int(max(0, br.onsets[0] - 2 * ch.fs)) if len(br) else 0
        s1 = min(x.size, s0 + int(resp_s * ch.fs))
        t = p.resp_offset_s + np.arange(s0, s1) / ch.fs
        ax = axes[i]
        ax.plot(t, x[s0:s1], lw=0.8, color="k")
        for arr, mk, col, lab in ((br.onsets, "^", "#2ca02c", "inhale onset"),
                                  (br.peaks, "v", "#9467bd", "end of inspiration")):
            sel = arr[(arr >= s0) & (arr < s1)]
            ax.plot(p.resp_offset_s + sel / ch.fs, x[sel], mk, ms=5, color=col, label=lab)
        ax.set_ylabel(f"{ch.name} [{ch.units}]")
        ax.set_xlabel("time [s]")
        ax.legend(loc="upper right", fontsize=8)
        ax.set_title(f"{p.name}: respiration excerpt with detected breaths", fontsize=10)
    return fig


def fig_series(p) -> Figure:
    """Heart rate (with arousal baseline, threshold and episodes) and breathing rate."""
    rows = int(p.hr is not None) + int(p.br is not None)
    fig = Figure(figsize=(10, 2.4 * rows), layout="constrained")
    axes = fig.subplots(rows, 1, squeeze=False, sharex=True)[:, 0]
    i = 0
    if p.hr is not None:
        ax = axes[i]
        t = p.hr_times
        ax.plot(t, p.hr.values, lw=0.8, color="k", label="heart rate")
        a = p.arousal
        ax.plot(t, a.baseline, lw=1, color="#1f77b4", label="baseline (rolling median)")
        ax.plot(t, a.threshold, lw=1, ls="--", color="#ff7f0e", label="arousal threshold")
        _shade(ax, a)
        ax.set_ylabel("heart rate [1/min]")
        ax.set_title(f"{p.name}: heart rate over the session ({len(a)} arousal episode(s) "
                     "shaded)", fontsize=10)
        ax.legend(loc="upper right", fontsize=8)
        i += 1
    if p.br is not None:
        ax = axes[i]
        ax.plot(p.br_times, p.br.rate_bpm, lw=1, color="#2ca02c")
        if p.hr is not None:
            _shade(ax, p.arousal)
        ax.set_ylabel("breathing rate [1/min]")
        ax.set_title(f"{p.name}: breathing rate over the session", fontsize=10)
    axes[-1].set_xlabel("time [s]")
    return fig


def fig_pair(pr) -> Figure:
    """Lag-by-time heat map of r, peak r against the surrogate threshold, who led when."""
    s = pr.sync
    t = pr.t_start_s + s.window_start_s + 0.5 * s.window_s
    fig = Figure(figsize=(10, 6.2), layout="constrained")
    ax1, ax2, ax3 = fig.subplots(3, 1, sharex=True, height_ratios=[3, 2, 0.8])
    dt = s.step_s
    ext = (t[0] - dt / 2, t[-1] + dt / 2, s.lags_s[0], s.lags_s[-1])
    im = ax1.imshow(s.r.T, aspect="auto", origin="lower", extent=ext, cmap="RdBu_r", vmin=-1,
                    vmax=1, interpolation="nearest")
    ax1.plot(t, s.peak_lag_s, ".", ms=2, color="k", label="peak lag")
    ax1.axhline(0, color="k", lw=0.5)
    ax1.set_ylabel("lag [s]")
    ax1.set_title(f"{pr.first} ~ {pr.second}: {pr.signal.replace('_', ' ')} - windowed lagged "
                  f"correlation (lag > 0: {pr.second} follows {pr.first})", fontsize=10)
    fig.colorbar(im, ax=ax1, label="r", pad=0.01)
    ax2.plot(t, s.peak_r, lw=1, color="k", label="peak r")
    if np.isfinite(s.threshold):
        ax2.axhline(s.threshold, ls="--", color="#ff7f0e",
                    label=f"surrogate threshold {s.threshold:.2f}")
    sig = s.significant
    ax2.plot(t[sig], s.peak_r[sig], "o", ms=3, color="#d62728", label="above threshold")
    ax2.set_ylabel("peak r")
    ax2.set_ylim(-1, 1)
    ax2.legend(loc="lower right", fontsize=8)
    with np.errstate(invalid="ignore"):
        first = sig & (s.peak_lag_s > 0)
        second = sig & (s.peak_lag_s < 0)
    for mask, y, col, lab in ((first, 1, _LEAD_COLORS[0], f"{pr.first} leads"),
                              (second, 0, _LEAD_COLORS[1], f"{pr.second} leads")):
        ax3.bar(t[mask], np.ones(mask.sum()), width=dt, bottom=y, color=col, label=lab,
                align="center")
    ax3.set_yticks([0.5, 1.5], [pr.second, pr.first], fontsize=8)
    ax3.set_ylim(0, 2)
    ax3.set_title("who led (windows above the threshold)", fontsize=9)
    ax3.set_xlabel("time [s] (window centre)")
    return fig
