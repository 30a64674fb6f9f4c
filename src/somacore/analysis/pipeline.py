"""The session analysis: per person, then per pair of people.

Per person (one recording, read through the reader plugins or given as a
:class:`~somacore.signals.Recording`):

* heartbeats from the ECG (or PPG) channel with :func:`somacore.detect_beats`,
  HRV with :func:`somacore.hrv` and the evenly sampled heart-rate series with
  :func:`somacore.heart_rate`;
* breaths from the respiration channel with :func:`somacore.segment_breaths`
  and the breathing-rate series with :func:`somacore.breathing_rate`;
* arousal episodes on the heart-rate series (:mod:`somacore.analysis.arousal`).

The heart-rate series leaves intervals flagged by artefact detection
(``heart_rate.artifacts``) undefined; the synchrony input then bridges NaN
runs up to ``synchrony.fill_gap_s`` linearly, because a single NaN makes a
whole correlation window undefined.

Per pair: windowed lagged cross-correlation of heart rate (and of breathing
rate when both people have it) with a circular-shift surrogate threshold
(:mod:`somacore.analysis.synchrony_step`).

Time. Each channel keeps its own sample indices (the ``sample`` columns match
the library calls on that channel exactly). Times in seconds (``*_s``
columns) are on the *session clock*: zero is the earliest start (``t0``) of
any analysed channel, so people recorded on devices with wall-clock
timestamps line up. Pairs are compared on a common grid at the
heart-rate series rate over the span both people cover.
"""

from __future__ import annotations

import itertools
import math
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from somacore.analysis.tables import Table

__all__ = ["AnalysisError", "PairResult", "PersonInput", "PersonResult", "SessionResult",
           "analyze_session", "build_tables", "fill_short_gaps", "resting_hr", "summary_dict"]


class AnalysisError(ValueError):
    """A problem with the input that the user can fix (message says how)."""


@dataclass(frozen=True)
class PersonInput:
    """One person of a session.

    Attributes
    ----------
    name : str
        Label used in tables and the report.
    source : str, Path or Recording
        A file (or folder) any installed reader opens, or a Recording.
    channels : tuple of str, optional
        Channel names or kinds to use (default: all channels).
    label : str
        Extra description shown in the report (e.g. ``"SIMULATED"``).
    """

    name: str
    source: Any
    channels: tuple[str, ...] | None = None
    label: str = ""


@dataclass(eq=False)
class PersonResult:
    """Everything computed for one person."""

    name: str
    source: str
    label: str
    offset_s: float = 0.0
    heart_channel: Any = None
    beats: Any = None
    hrv: Any = None
    hr: Any = None
    arousal: Any = None
    resp_channel: Any = None
    resp_offset_s: float = 0.0
    breaths: Any = None
    br: Any = None
    rsa_s: Any = None  # per breath (Grossman peak-to-trough), with beats and breaths
    n_artifact_intervals: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def hr_times(self) -> np.ndarray:
        """Heart-rate series times on the session clock."""
        return self.offset_s + self.hr.times

    @property
    def br_times(self) -> np.ndarray:
        """Breathing-rate series times on the session clock."""
        return self.resp_offset_s + self.br.times


@dataclass(eq=False)
class PairResult:
    """Synchrony of one pair on one signal (heart or breathing rate)."""

    first: str
    second: str
    signal: str
    t_start_s: float
    sync: Any = None
    note: str = ""


@dataclass(eq=False)
class SessionResult:
    """A whole analysed session."""

    people: list[PersonResult]
    pairs: list[PairResult]
    config: dict
    t0: float
    elapsed_s: float = 0.0
    notes: list[str] = field(default_factory=list)


# ------------------------------------------------------------------ inputs
def _read(spec: PersonInput):
    from somacore.signals import Recording

    if isinstance(spec.source, Recording):
        return spec.source
    path = Path(spec.source)
    if not path.exists():
        raise AnalysisError(f"person {spec.name}: file {path} does not exist; check the path")
    from somacore.plugins import get_manager

    try:
        return get_manager().read(path)
    except FileNotFoundError:
        raise AnalysisError(f"person {spec.name}: file {path} does not exist; check the path") \
            from None
    except ValueError as exc:
        msg = str(exc)
        if msg.startswith(str(path)):
            msg = msg[len(str(path)):].lstrip(": ")
        raise AnalysisError(f"person {spec.name}: cannot read {path}: {msg}") from None


def _select(spec: PersonInput, rec, cfg: dict):
    chans = [c for c in rec.channels if c.fs is not None and c.data.ndim == 1]
    if spec.channels:
        chosen = []
        for want in spec.channels:
            hit = [c for c in chans if c.name == want or c.kind == want]
            if not hit:
                raise AnalysisError(
                    f"person {spec.name}: no channel {want!r} in {rec.source or 'the recording'}"
                    f" (channels: {', '.join(f'{c.name}:{c.kind}' for c in rec.channels)}); "
                    f"name one of them after the file, e.g. {spec.name}=FILE:{rec.names[0]}")
            chosen.extend(c for c in hit if c not in chosen)
        chans = chosen
    kind = cfg["beats"]["kind"]
    heart = None
    for k in (("ecg", "ppg") if kind == "auto" else (kind,)):
        found = [c for c in chans if c.kind == k]
        if found:
            heart = found[0]
            break
    resp = next((c for c in chans if c.kind == "resp"), None)
    # check sampling rates now, before any slow work on other people
    from somacore._validate import check_fs

    for ch, lo, hi in ((heart, 50.0, 10_000.0), (resp, 10.0, 5_000.0)):
        if ch is not None:
            try:
                check_fs(ch.fs, lo=lo, hi=hi, what=f"{ch.kind.upper()} channel")
            except ValueError as exc:
                raise AnalysisError(f"person {spec.name}, channel {ch.name}: {exc}") from None
    if heart is None and resp is None:
        have = ", ".join(f"{c.name}:{c.kind}" for c in rec.channels) or "none"
        what = "an ECG or PPG" if kind == "auto" else f"a {kind.upper()}"
        raise AnalysisError(
            f"person {spec.name}: no usable channel in {rec.source or 'the recording'} (need "
            f"{what} or a resp channel; found {have}); pick channels with "
            f"--person {spec.name}=FILE:CHANNEL or set beats.kind")
    return heart, resp


# ------------------------------------------------------------------ per person
def _analyse_person(spec: PersonInput, heart, resp, t0: float, cfg: dict, progress) -> PersonResult:
    import somacore
    from somacore.analysis.arousal import detect_arousal

    src = str(spec.source.source if hasattr(spec.source, "channels") else spec.source)
    res = PersonResult(name=spec.name, source=src, label=spec.label)
    if heart is not None:
        res.heart_channel = heart
        res.offset_s = heart.t0 - t0
        x = np.asarray(heart.data)
        try:
            beats = somacore.detect_beats(x, fs=heart.fs, kind=heart.kind)
        except ValueError as exc:
            raise AnalysisError(f"person {spec.name}, channel {heart.name}: {exc}") from None
        res.beats = beats
        progress(f"{spec.name}: {len(beats)} beats in {heart.name} ({heart.kind}, "
                 f"{heart.fs:g} Hz, {len(heart) / heart.fs:.0f} s)")
        corr = cfg["beats"]["hrv_correct"]
        try:
            res.hrv = somacore.hrv(beats, correct=None if corr == "none" else corr,
                                   frequency=cfg["beats"]["hrv_frequency"])
        except ValueError as exc:
            res.notes.append(f"HRV not computed: {exc}")
        hc = cfg["heart_rate"]
        res.hr = somacore.heart_rate(_mark_artifacts(beats, hc["artifacts"], res),
                                     fs_out=hc["fs_out"], method=hc["method"])
        ac = cfg["arousal"]
        res.arousal = detect_arousal(res.hr.values, fs=res.hr.fs, t0=res.offset_s,
                                     baseline_s=ac["baseline_s"], k=ac["k"],
                                     min_duration_s=ac["min_duration_s"],
                                     merge_gap_s=ac["merge_gap_s"], recovery_k=ac["recovery_k"])
        progress(f"{spec.name}: heart rate series and {len(res.arousal)} arousal episode(s)")
    if resp is not None:
        res.resp_channel = resp
        res.resp_offset_s = resp.t0 - t0
        bc = cfg["breaths"]
        try:
            br = somacore.segment_breaths(np.asarray(resp.data), fs=resp.fs, sensor=bc["sensor"],
                                          polarity=bc["polarity"])
        except ValueError as exc:
            raise AnalysisError(f"person {spec.name}, channel {resp.name}: {exc}") from None
        res.breaths = br
        res.br = somacore.breathing_rate(br, fs_out=bc["fs_out"], max_hold_s=bc["max_hold_s"])
        progress(f"{spec.name}: {len(br)} breaths in {resp.name} ({resp.fs:g} Hz)")
        if res.beats is not None:
            # respiratory sinus arrhythmia per breath: both channels on the breaths' clock
            res.rsa_s = somacore.rsa(br, res.beats,
                                     beats_offset_s=res.offset_s - res.resp_offset_s)
    return res


def _mark_artifacts(beats, method: str, res: PersonResult):
    """Beats whose artefact intervals are flagged uncertain (for the rate series only).

    The beats table keeps the detector's own flags; only the heart-rate series
    leaves the intervals that Lipponen & Tarvainen (2019) classify as ectopic,
    missed, extra, long or short undefined, so one misdetection does not put a
    spike into the synchrony and arousal analyses.
    """
    from somacore.beats import FLAG_UNCERTAIN, Beats

    res.n_artifact_intervals = 0
    if method == "none" or len(beats) < 4:
        return beats
    from somacore.artifacts import detect_interval_artifacts

    iv = beats.intervals
    if np.isfinite(iv).sum() < 4:
        return beats
    rep = detect_interval_artifacts(iv)
    bad = np.flatnonzero(rep.touched)
    res.n_artifact_intervals = int(bad.size)
    if not bad.size:
        return beats
    q = beats.quality.copy()
    q[bad] |= FLAG_UNCERTAIN        # interval i spans beats i and i + 1
    q[bad + 1] |= FLAG_UNCERTAIN
    return Beats(samples=beats.samples, fs=beats.fs, kind=beats.kind, quality=q, gaps=beats.gaps,
                 n_samples=beats.n_samples, onsets=beats.onsets)


def fill_short_gaps(x: np.ndarray, max_len: int) -> np.ndarray:
    """Linearly bridge NaN runs of at most ``max_len`` samples that have values on both sides."""
    x = np.array(x, dtype=np.float64)
    bad = ~np.isfinite(x)
    if max_len <= 0 or not bad.any():
        return x
    d = np.diff(np.concatenate([[0], bad.astype(np.int8), [0]]))
    starts, stops = np.flatnonzero(d == 1), np.flatnonzero(d == -1)
    good = np.flatnonzero(~bad)
    for a, b in zip(starts.tolist(), stops.tolist(), strict=True):
        if a == 0 or b == x.size or b - a > max_len:
            continue
        x[a:b] = np.interp(np.arange(a, b), good, x[good])
    return x


# ------------------------------------------------------------------ per pair
def _on_grid(grid: np.ndarray, t: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Linear interpolation of ``v(t)`` at ``grid``; NaN wherever a neighbour is NaN."""
    if t.size == 0:
        return np.full(grid.size, np.nan)
    fin = np.isfinite(v)
    out = np.interp(grid, t, np.where(fin, v, 0.0))
    w = np.interp(grid, t, fin.astype(float))
    out[w < 1 - 1e-9] = np.nan
    out[(grid < t[0] - 1e-9) | (grid > t[-1] + 1e-9)] = np.nan
    return out


def _pair(a: PersonResult, b: PersonResult, signal: str, cfg: dict) -> PairResult:
    from somacore.analysis.synchrony_step import pair_xcorr

    sc = cfg["synchrony"]
    if signal == "heart_rate":
        fs = a.hr.fs
        ta, va, tb, vb = a.hr_times, a.hr.values, b.hr_times, b.hr.values
    else:
        fs = a.br.fs_out
        ta, va, tb, vb = a.br_times, a.br.rate_bpm, b.br_times, b.br.rate_bpm
    start = max(ta[0], tb[0]) if ta.size and tb.size else 0.0
    stop = min(ta[-1], tb[-1]) if ta.size and tb.size else 0.0
    pr = PairResult(a.name, b.name, signal, float(start))
    need = sc["window_s"] + 2 * sc["max_lag_s"]
    if stop - start < need:
        pr.note = (f"{signal.replace('_', ' ')}: {a.name} and {b.name} overlap for "
                   f"{max(stop - start, 0):.0f} s, less than one window plus both lag ranges "
                   f"({need:g} s); no synchrony computed")
        return pr
    grid = start + np.arange(math.floor((stop - start) * fs + 1e-9) + 1) / fs
    nfill = round(sc["fill_gap_s"] * fs)
    xa = fill_short_gaps(_on_grid(grid, ta, va), nfill)
    xb = fill_short_gaps(_on_grid(grid, tb, vb), nfill)
    pr.sync = pair_xcorr(xa, xb, fs=fs, window_s=sc["window_s"], step_s=sc["step_s"],
                         max_lag_s=sc["max_lag_s"], peak=sc["peak"],
                         n_surrogates=sc["n_surrogates"], quantile=sc["quantile"],
                         min_shift_s=sc["min_shift_s"], seed=sc["seed"])
    return pr


# ------------------------------------------------------------------ entry point
def analyze_session(people: Sequence[PersonInput], config: dict | None = None, *,
                    progress: Callable[[str], None] | None = None) -> SessionResult:
    """Analyse one session of one or more people.

    Parameters
    ----------
    people : sequence of PersonInput
        Distinct names; each with a file or a Recording.
    config : dict, optional
        Complete parameters (:func:`somacore.analysis.resolve_config`); defaults if None.
    progress : callable, optional
        Called with one line per step.

    Returns
    -------
    SessionResult

    Raises
    ------
    AnalysisError
        Missing file, unreadable file, no usable channel, a person named
        twice, a bad sampling rate...: one line saying what to do.
    """
    from somacore.analysis.config import resolve_config

    cfg = config if config is not None else resolve_config()
    say = progress or (lambda msg: None)
    tic = time.perf_counter()
    if not people:
        raise AnalysisError("no recordings given: pass FILES or --person NAME=FILE")
    names = [p.name for p in people]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise AnalysisError(f"person {dup[0]!r} is given more than once; give each person one "
                            "recording and a distinct name (--person NAME=FILE)")
    chosen = []
    for spec in people:
        rec = _read(spec)
        heart, resp = _select(spec, rec, cfg)
        chosen.append((spec, heart, resp))
        say(f"read {spec.name}: {rec.source or 'recording'} "
            f"({', '.join(c.name for c in (heart, resp) if c is not None)})")
    t0 = min(c.t0 for _, h, r in chosen for c in (h, r) if c is not None)
    results = [_analyse_person(spec, h, r, t0, cfg, say) for spec, h, r in chosen]
    pairs: list[PairResult] = []
    for a, b in itertools.combinations(results, 2):
        if a.hr is not None and b.hr is not None:
            pr = _pair(a, b, "heart_rate", cfg)
            pairs.append(pr)
            say(f"{a.name} ~ {b.name}: heart-rate synchrony"
                + (f", {pr.sync.peak_r.size} windows" if pr.sync is not None else f" ({pr.note})"))
        if cfg["synchrony"]["breathing"] and a.br is not None and b.br is not None:
            pr = _pair(a, b, "breathing_rate", cfg)
            pairs.append(pr)
            say(f"{a.name} ~ {b.name}: breathing-rate synchrony"
                + (f", {pr.sync.peak_r.size} windows" if pr.sync is not None else f" ({pr.note})"))
    out = SessionResult(people=results, pairs=pairs, config=cfg, t0=float(t0))
    out.elapsed_s = time.perf_counter() - tic
    return out


# ------------------------------------------------------------------ tables
def _series_table(person: str, signal: str, times: np.ndarray, values: np.ndarray) -> Table:
    """One person's evenly sampled rate series (per minute) in the long ``series`` layout."""
    t = Table("series")
    t.add("person", np.array([person] * values.size, dtype=object))
    t.add("signal", np.array([signal] * values.size, dtype=object))
    t.add("time_s", times, "s")
    t.add("value", values, "1/min")
    return t


def build_tables(res: SessionResult) -> list[Table]:
    """The output tables: beats, breaths, series, windows, episodes (one row per item)."""
    beats, breaths, series, windows, episodes = [], [], [], [], []
    for p in res.people:
        if p.beats is not None:
            b = p.beats
            t = Table("beats")
            n = len(b)
            iv = np.concatenate([[np.nan], b.intervals]) if n else np.zeros(0)
            t.add("person", np.array([p.name] * n, dtype=object))
            t.add("channel", np.array([p.heart_channel.name] * n, dtype=object))
            t.add("kind", np.array([b.kind] * n, dtype=object))
            t.add("sample", b.samples.astype(np.int64), "samples")
            t.add("time_s", p.offset_s + b.times, "s")
            t.add("interval_s", iv, "s")
            with np.errstate(divide="ignore", invalid="ignore"):
                t.add("rate_bpm", 60.0 / iv, "1/min")
            t.add("quality", b.quality.astype(np.int64), "bit flags")
            beats.append(t)
            series.append(_series_table(p.name, "heart_rate", p.hr_times, p.hr.values))
            a = p.arousal
            t = Table("episodes")
            t.add("person", np.array([p.name] * len(a), dtype=object))
            for col, unit in (("onset_s", "s"), ("peak_s", "s"), ("end_s", "s"),
                              ("duration_s", "s"), ("peak_bpm", "1/min"),
                              ("baseline_bpm", "1/min"), ("peak_excess_bpm", "1/min"),
                              ("recovery_s", "s")):
                t.add(col, getattr(a, col), unit)
            episodes.append(t)
        if p.breaths is not None:
            br = p.breaths
            n = len(br)
            t = Table("breaths")
            off = p.resp_offset_s
            t.add("person", np.array([p.name] * n, dtype=object))
            t.add("channel", np.array([p.resp_channel.name] * n, dtype=object))
            t.add("onset_sample", br.onsets, "samples")
            t.add("peak_sample", br.peaks, "samples")
            t.add("end_sample", br.ends, "samples")
            t.add("onset_s", off + br.onsets / br.fs, "s")
            t.add("peak_s", off + br.peaks / br.fs, "s")
            t.add("end_s", off + br.ends / br.fs, "s")
            with np.errstate(divide="ignore", invalid="ignore"):
                t.add("ti_s", br.ti, "s")
                t.add("te_s", br.te, "s")
                t.add("ttot_s", br.ttot, "s")
                t.add("ti_ttot", br.ti_ttot, "")
                t.add("rate_bpm", br.rate, "1/min")
            t.add("inhale_amplitude", br.inhale_amplitude, p.resp_channel.units)
            t.add("exhale_amplitude", br.exhale_amplitude, p.resp_channel.units)
            t.add("rsa_s", p.rsa_s if p.rsa_s is not None else np.full(n, np.nan), "s")
            t.add("quality", br.quality.astype(np.int64), "bit flags")
            breaths.append(t)
            series.append(_series_table(p.name, "breathing_rate", p.br_times, p.br.rate_bpm))
    for pr in res.pairs:
        s = pr.sync
        if s is None:
            continue
        n = s.peak_r.size
        t = Table("windows")
        t.add("first", np.array([pr.first] * n, dtype=object))
        t.add("second", np.array([pr.second] * n, dtype=object))
        t.add("signal", np.array([pr.signal] * n, dtype=object))
        t.add("window_start_s", pr.t_start_s + s.window_start_s, "s")
        t.add("window_center_s", pr.t_start_s + s.window_start_s + 0.5 * s.window_s, "s")
        t.add("peak_r", s.peak_r, "")
        t.add("peak_lag_s", s.peak_lag_s, "s")
        t.add("threshold_r", np.full(n, s.threshold), "")
        sig = s.significant
        t.add("significant", sig)
        lead = np.full(n, "", dtype=object)
        with np.errstate(invalid="ignore"):
            lead[sig & (s.peak_lag_s > 0)] = pr.first
            lead[sig & (s.peak_lag_s < 0)] = pr.second
            lead[sig & (s.peak_lag_s == 0)] = "simultaneous"
        t.add("leader", lead)
        t.add("flags", s.flags.astype(np.int64), "bit flags")
        windows.append(t)
    desc = {
        "beats": "one row per detected heartbeat; interval_s is RR (ecg) or PP (ppg) ending at "
                 "the beat; time_s on the session clock",
        "breaths": "one row per breath (onset, end of inspiration, exhale end)",
        "series": "evenly sampled heart rate (beats/min) and breathing rate (breaths/min)",
        "windows": "one row per synchrony window; positive peak_lag_s: second follows first",
        "episodes": "one row per heart-rate arousal episode (rule in somacore.analysis.arousal)",
    }
    out = []
    for name, parts in (("beats", beats), ("breaths", breaths), ("series", series),
                        ("windows", windows), ("episodes", episodes)):
        if parts:
            out.append(Table.concat(name, parts, desc[name]))
    return out


# ------------------------------------------------------------------ summary
def _num(v: Any) -> Any:
    if isinstance(v, (np.floating, float)):
        return None if not math.isfinite(float(v)) else float(v)
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, np.bool_):
        return bool(v)
    if isinstance(v, dict):
        return {k: _num(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_num(x) for x in v]
    return v


def _nanmean(a: np.ndarray) -> float:
    a = np.asarray(a, float)
    a = a[np.isfinite(a)]
    return float(a.mean()) if a.size else math.nan


def resting_hr(times: np.ndarray, hr: np.ndarray, episodes) -> float:
    """Resting heart rate: the median of the heart-rate series outside arousal episodes.

    Samples with ``onset_s <= t < end_s`` of any episode, and undefined (NaN)
    samples, are left out; NaN when nothing is left.
    """
    t = np.asarray(times, float)
    v = np.asarray(hr, float)
    keep = np.isfinite(v)
    if episodes is not None:
        for a, b in zip(episodes.onset_s.tolist(), episodes.end_s.tolist(), strict=True):
            keep &= ~((t >= a) & (t < b))
    return float(np.median(v[keep])) if keep.any() else math.nan


def summary_dict(res: SessionResult, *, table_format: str = "", tables: dict | None = None
                 ) -> dict:
    """JSON-ready summary: parameters, versions, per-person and per-pair summaries."""
    import somacore
    from somacore.analysis.config import UNITS

    people = {}
    for p in res.people:
        d: dict[str, Any] = {"source": p.source, "label": p.label, "notes": list(p.notes)}
        if p.beats is not None:
            ch = p.heart_channel
            hv = p.hr.values
            d["heart"] = {
                "channel": ch.name, "kind": ch.kind, "fs_hz": ch.fs, "units": ch.units,
                "start_s": p.offset_s, "duration_s": len(ch) / ch.fs, "n_beats": len(p.beats),
                "interval_name": p.beats.interval_name,
                "n_gaps": len(p.beats.gaps),
                "n_artifact_intervals": p.n_artifact_intervals,
                "mean_hr_bpm": _nanmean(hv),
                "resting_hr_bpm": resting_hr(p.hr_times, hv, p.arousal),
                "valid_hr_fraction": float(np.isfinite(hv).mean()) if hv.size else 0.0,
            }
            if p.hrv is not None:
                d["hrv"] = {**p.hrv.as_dict(), "n_intervals": p.hrv.n_intervals,
                            "n_corrected": p.hrv.n_corrected, "notes": list(p.hrv.notes)}
            a = p.arousal
            rec = a.recovery_s[np.isfinite(a.recovery_s)]
            d["arousal"] = {"n_episodes": len(a), "robust_sd_bpm": a.robust_sd_bpm,
                            "total_duration_s": float(a.duration_s.sum()),
                            "mean_duration_s": _nanmean(a.duration_s),
                            "mean_peak_excess_bpm": _nanmean(a.peak_excess_bpm),
                            "n_recovered": int(rec.size),
                            "median_recovery_s": float(np.median(rec)) if rec.size
                            else math.nan}
        if p.breaths is not None:
            ch = p.resp_channel
            d["breathing"] = {"channel": ch.name, "fs_hz": ch.fs, "units": ch.units,
                              "start_s": p.resp_offset_s, "duration_s": len(ch) / ch.fs,
                              "n_breaths": len(p.breaths),
                              "polarity": int(p.breaths.polarity),
                              "mean_rate_bpm": _nanmean(p.br.rate_bpm),
                              "n_apneas": len(p.breaths.apneas)}
            if p.rsa_s is not None:
                ok = p.rsa_s[np.isfinite(p.rsa_s)]
                d["breathing"]["median_rsa_ms"] = float(1000 * np.median(ok)) if ok.size \
                    else math.nan
                d["breathing"]["n_rsa_breaths"] = int(ok.size)
        people[p.name] = d
    pairs = []
    for pr in res.pairs:
        d = {"first": pr.first, "second": pr.second, "signal": pr.signal, "note": pr.note}
        s = pr.sync
        if s is not None:
            ok = np.isfinite(s.peak_r) & np.isfinite(s.peak_lag_s)
            sig = s.significant
            n_ok = int(ok.sum())
            with np.errstate(invalid="ignore"):
                d.update({
                    "engine": s.engine, "n_windows": int(s.peak_r.size),
                    "n_defined_windows": n_ok,
                    "mean_peak_r": _nanmean(s.peak_r),
                    "median_peak_lag_s": float(np.median(s.peak_lag_s[ok])) if n_ok else None,
                    "surrogate_threshold_r": s.threshold,
                    "surrogate_p_value_mean_peak_r": s.p_value,
                    "surrogate_mean_peak_r": s.null_mean_peak_r,
                    "fraction_significant": float(sig.sum() / n_ok) if n_ok else None,
                    "fraction_first_leads": float((sig & (s.peak_lag_s > 0)).sum() / n_ok)
                    if n_ok else None,
                    "fraction_second_leads": float((sig & (s.peak_lag_s < 0)).sum() / n_ok)
                    if n_ok else None,
                    "window_s": s.window_s, "step_s": s.step_s, "max_lag_s": s.max_lag_s,
                    "start_s": pr.t_start_s,
                })
        pairs.append(d)
    return _num({
        "software": {"name": "somacore", "version": somacore.__version__,
                     "python": platform.python_version(), "numpy": np.__version__,
                     "platform": platform.platform()},
        "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "session_t0": res.t0,
        "time_origin": "seconds from the earliest start (t0) of any analysed channel",
        "parameters": res.config,
        "parameter_units": UNITS,
        "table_format": table_format,
        "tables": tables or {},
        "people": people,
        "pairs": pairs,
        "notes": list(res.notes),
        "elapsed_s": res.elapsed_s,
    })
