"""Heart rate variability: time domain, frequency domain and Poincaré indices.

Names and definitions follow the Task Force of the ESC and NASPE (1996),
"Heart rate variability: standards of measurement, physiological
interpretation and clinical use", Circulation 93:1043-1065. The interval
series is RR for ECG beats and PP (pulse-to-pulse) for PPG beats; the two are
never mixed and the result says which it is (:attr:`HRV.interval_name`).

Pipeline
--------
1. **Intervals.** From :class:`~somacore.beats.Beats`: ``Beats.intervals``,
   with NaN for intervals that follow or overlap a gap or touch a beat
   flagged :data:`~somacore.beats.FLAG_UNCERTAIN`. From an array: as given
   (seconds, NaN = unknown). Intervals longer than ``2 * 60 / hr_min``
   (4.8 s by default) are set to NaN first: they cannot be a single missed
   beat at a plausible rate, so they are lost signal, not an artefact.
2. **Artefact correction** (``correct="lipponen2019"``, default): see
   :mod:`somacore.artifacts`. Done separately on every gap-free stretch.
3. **Plausibility.** Corrected intervals outside ``hr_range_bpm`` (25-250
   bpm, i.e. 0.24-2.4 s) are set to NaN (counted in :attr:`HRV.notes`).
4. **Indices** over the valid (finite) intervals. Gaps are never bridged:

   * ``MeanNN``, ``SDNN`` (sample standard deviation, ``ddof=1``),
     ``MeanHR = 60000 / MeanNN`` (beats per minute of analysed time, equal
     to the time average of the step heart-rate series) use all valid
     intervals.
   * Successive differences ``d = NN[i+1] - NN[i]`` are formed only for
     pairs of *adjacent valid* intervals. ``RMSSD = sqrt(mean(d**2))``,
     ``SDSD = std(d, ddof=1)``, ``pNNx = 100 * #(|d| > x ms) / #d``
     (exactly ``x`` ms, to within 1 ns of rounding, does not count).
   * Poincaré, over the same pairs ``(NN[i], NN[i+1])``:
     ``SD1 = std((NN[i+1] - NN[i]) / sqrt(2), ddof=1)``,
     ``SD2 = std((NN[i+1] + NN[i]) / sqrt(2), ddof=1)`` (Brennan et al. 2001).

5. **Frequency domain** (Welch periodogram of the resampled tachogram, the
   Task Force / Kubios approach, implemented with numpy only):

   * Every gap-free stretch of >= 3 valid intervals is a tachogram: value
     ``NN[i]`` (ms) at the time of the beat that ends it. Each stretch is
     resampled on its own at ``resample_hz`` (default 4 Hz) with a natural
     cubic spline, from its first to its last beat: the spline never crosses
     a gap, so gaps add no invented data.
   * Welch: segments of ``min(window_s, longest stretch)`` seconds (default
     300 s, so one segment spans a full cycle of the VLF lower edge), 50 %
     overlap, periodic Hann window, each segment's mean removed (no other
     detrending), zero-padded to a power of two that gives bins of at most
     0.001 Hz (and at least twice the segment length). Segments are taken
     from every stretch long enough to hold one (a stretch's remainder after
     its last whole segment is not used) and averaged with equal weight.
     One-sided density in ms²/Hz.
   * Band power = sum of the density over bins ``lo <= f < hi`` times the
     bin width. Bands: VLF 0.0033-0.04 Hz, LF 0.04-0.15 Hz, HF 0.15-0.4 Hz.
     ``TP = VLF + LF + HF``; ``LFHF = LF / HF``; ``LFnu = 100 * LF / (LF +
     HF)`` and ``HFnu = 100 * HF / (LF + HF)`` (Task Force: ``LF / (TP -
     VLF)``).
   * **Enough data.** A band is computed only if the longest gap-free
     stretch lasts at least 60 s (HF), 120 s (LF) or 300 s (VLF), the Task
     Force minima (1 min for HF, 2 min for LF, VLF "should be avoided" in
     records shorter than 5 min). Otherwise it is NaN and :attr:`HRV.notes`
     says why; derived values (TP, LFHF, LFnu, HFnu) are NaN if a band they
     need is. A note also warns when the mean interval exceeds 1.25 s: the
     beat series then cannot represent HF up to 0.4 Hz.

Deliberate differences from NeuroKit2 (``hrv_time`` / ``hrv_frequency``,
v0.2.x), measured in ``tests/test_hrv.py``:

* ``pNN50`` / ``pNN20`` divide by the number of successive differences;
  NeuroKit2 divides by that number plus one (the number of intervals).
* NeuroKit2's default ``hrv_frequency`` normalises the spectrum to its
  maximum (``normalize=True``), so its band "powers" are not in ms²; compare
  with ``normalize=False``.
* NeuroKit2 interpolates the tachogram at 100 Hz with a quadratic spline,
  does not remove the mean before Welch, uses a window of half the record
  (for records under ~33 min) with ``nfft = 2 * nperseg``, integrates with the
  trapezoid rule, reports ``TP`` over 0-0.5 Hz (ULF..VHF) and ``LFn =
  LF / TP`` as a fraction. It drops NaN intervals and interpolates across
  the hole; here gaps split the series.
* No MeanHR in ``hrv_time``; the Poincaré indices are in ``hrv_nonlinear``
  (same definitions as here).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, Literal

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from somacore.artifacts import ArtifactReport, _as_intervals, _correct_with_times, _stretches
from somacore.beats import Beats
from somacore.hr_series import HR_MAX_BPM, HR_MIN_BPM, _check_beats, _interval_validity

__all__ = ["BANDS", "HRV", "MIN_DURATION_S", "hrv", "hrv_from_intervals"]

#: Frequency bands in Hz, half-open ``[lo, hi)`` (Task Force 1996).
BANDS: dict[str, tuple[float, float]] = {
    "VLF": (0.0033, 0.04),
    "LF": (0.04, 0.15),
    "HF": (0.15, 0.4),
}
#: Minimum duration (s) of the longest gap-free stretch for each band.
MIN_DURATION_S: dict[str, float] = {"HF": 60.0, "LF": 120.0, "VLF": 300.0}

#: ``as_dict`` key -> attribute.
_TABLE = {
    "MeanNN": "mean_nn_ms", "SDNN": "sdnn_ms", "RMSSD": "rmssd_ms", "SDSD": "sdsd_ms",
    "pNN50": "pnn50", "pNN20": "pnn20", "MeanHR": "mean_hr_bpm",
    "VLF": "vlf_ms2", "LF": "lf_ms2", "HF": "hf_ms2", "LFHF": "lf_hf", "LFnu": "lfnu",
    "HFnu": "hfnu", "TP": "total_power_ms2", "SD1": "sd1_ms", "SD2": "sd2_ms",
}
_MIN_INTERVALS = 3
_PNN_EPS_MS = 1e-6


@dataclass(frozen=True, eq=False)
class HRV:
    """Heart rate variability indices of one interval series.

    All indices are floats; NaN means "not computable from this record" and
    :attr:`notes` says why. Units are in the attribute names. See
    :mod:`somacore.hrv_metrics` for exact definitions.

    Attributes
    ----------
    kind : {"ecg", "ppg"}
        Source of the beats.
    interval_name : {"RR", "PP"}
        Name of the intervals (RR for ECG, PP for pulse).
    n_intervals : int
        Valid intervals analysed (after correction and plausibility checks).
    n_corrected : int
        Input intervals whose value the artefact correction changed
        (``corrections.n_touched``; 0 without correction).
    duration_s : float
        Sum of the analysed intervals.
    longest_stretch_s : float
        Duration of the longest gap-free stretch (decides which frequency
        bands are computable).
    mean_nn_ms, sdnn_ms, rmssd_ms, sdsd_ms : float
        MeanNN, SDNN, RMSSD, SDSD in ms.
    pnn50, pnn20 : float
        pNN50 and pNN20 in percent.
    mean_hr_bpm : float
        ``60000 / MeanNN``.
    vlf_ms2, lf_ms2, hf_ms2, total_power_ms2 : float
        Band powers in ms².
    lf_hf : float
        LF / HF.
    lfnu, hfnu : float
        LF and HF in normalised units (percent of LF + HF).
    sd1_ms, sd2_ms : float
        Poincaré SD1 and SD2 in ms.
    corrections : ArtifactReport or None
        What the artefact correction found and touched (input interval
        indices; interval ``i`` spans beat ``i`` to ``i + 1``). None if
        ``correct=None``.
    notes : tuple of str
        Why a value is NaN, and other caveats.
    resample_hz : float
        Tachogram resampling rate used for the spectrum.
    welch_window_s : float
        Welch segment length actually used (NaN if no spectrum).
    n_segments : int
        Number of Welch segments averaged.
    psd_freq_hz, psd_ms2_hz : ndarray or None
        The averaged spectrum (0 .. resample_hz/2), None if not computed.
    """

    kind: str
    interval_name: str
    n_intervals: int
    n_corrected: int
    duration_s: float
    longest_stretch_s: float
    mean_nn_ms: float
    sdnn_ms: float
    rmssd_ms: float
    sdsd_ms: float
    pnn50: float
    pnn20: float
    mean_hr_bpm: float
    vlf_ms2: float
    lf_ms2: float
    hf_ms2: float
    lf_hf: float
    lfnu: float
    hfnu: float
    total_power_ms2: float
    sd1_ms: float
    sd2_ms: float
    corrections: ArtifactReport | None
    notes: tuple[str, ...]
    resample_hz: float
    welch_window_s: float
    n_segments: int
    psd_freq_hz: np.ndarray | None = None
    psd_ms2_hz: np.ndarray | None = None

    def __post_init__(self) -> None:
        for name in ("psd_freq_hz", "psd_ms2_hz"):
            a = getattr(self, name)
            if a is not None:
                a.flags.writeable = False

    def as_dict(self) -> dict[str, float]:
        """The 16 indices under their usual table names (``MeanNN``, ``SDNN``, ...,
        ``SD2``), in ms / ms² / % / bpm as in the attribute names."""
        return {k: float(getattr(self, a)) for k, a in _TABLE.items()}

    def __repr__(self) -> str:
        return (f"HRV({self.interval_name}, n={self.n_intervals}, "
                f"MeanNN={self.mean_nn_ms:.1f} ms, SDNN={self.sdnn_ms:.1f} ms, "
                f"RMSSD={self.rmssd_ms:.1f} ms, LF={self.lf_ms2:.1f} ms², "
                f"HF={self.hf_ms2:.1f} ms², corrected={self.n_corrected}, "
                f"notes={len(self.notes)})")


# ---------------------------------------------------------------------------
# numerical building blocks (numpy only)
# ---------------------------------------------------------------------------

def _natural_cubic_spline(x: np.ndarray, y: np.ndarray, xq: np.ndarray) -> np.ndarray:
    """Evaluate the natural cubic spline through ``(x, y)`` at ``xq``.

    ``x`` strictly increasing, at least 3 points. Second derivatives ``M``
    solve the tridiagonal system ``h[i-1] M[i-1] + 2 (h[i-1] + h[i]) M[i] +
    h[i] M[i+1] = 6 (slope[i] - slope[i-1])`` with ``M[0] = M[-1] = 0``
    (Thomas algorithm; the system is diagonally dominant, no pivoting needed).
    """
    n = x.size
    h = np.diff(x)
    slope = np.diff(y) / h
    m = np.zeros(n)
    if n > 2:
        sub = h[:-1].tolist()                          # a[i] for rows 1..n-2
        diag = (2.0 * (h[:-1] + h[1:])).tolist()
        sup = h[1:].tolist()
        rhs = (6.0 * np.diff(slope)).tolist()
        k = n - 2
        for i in range(1, k):                          # forward elimination
            w = sub[i] / diag[i - 1]
            diag[i] -= w * sup[i - 1]
            rhs[i] -= w * rhs[i - 1]
        sol = [0.0] * k
        sol[-1] = rhs[-1] / diag[-1]
        for i in range(k - 2, -1, -1):                 # back substitution
            sol[i] = (rhs[i] - sup[i] * sol[i + 1]) / diag[i]
        m[1:-1] = sol
    j = np.clip(np.searchsorted(x, xq, side="right") - 1, 0, n - 2)
    hj = h[j]
    a = (x[j + 1] - xq) / hj
    b = (xq - x[j]) / hj
    return (a * y[j] + b * y[j + 1]
            + ((a ** 3 - a) * m[j] + (b ** 3 - b) * m[j + 1]) * hj * hj / 6.0)


def _welch(series: list[np.ndarray], fs: float, nperseg: int
           ) -> tuple[np.ndarray, np.ndarray, int]:
    """Welch density (one-sided) averaged over all segments of all series."""
    step = nperseg - nperseg // 2
    nfft = 1 << math.ceil(math.log2(max(2 * nperseg, fs / 0.001)))
    w = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(nperseg) / nperseg)  # periodic Hann
    acc = np.zeros(nfft // 2 + 1)
    count = 0
    for y in series:
        if y.size < nperseg:
            continue
        nseg = 1 + (y.size - nperseg) // step
        segs = sliding_window_view(y, nperseg)[::step][:nseg]
        for a in range(0, nseg, 256):                   # bounded memory
            s = segs[a:a + 256]
            s = (s - s.mean(axis=1, keepdims=True)) * w
            acc += (np.abs(np.fft.rfft(s, n=nfft, axis=1)) ** 2).sum(axis=0)
        count += nseg
    psd = acc / (count * fs * np.sum(w * w))
    psd[1:] *= 2.0
    if nfft % 2 == 0:
        psd[-1] /= 2.0
    return np.fft.rfftfreq(nfft, 1.0 / fs), psd, count


# ---------------------------------------------------------------------------
# index computation
# ---------------------------------------------------------------------------

def _time_domain(nn: np.ndarray, notes: list[str]) -> dict[str, float]:
    valid = np.isfinite(nn)
    v = nn[valid]
    out = {"mean_nn_ms": float(v.mean()), "sdnn_ms": float(v.std(ddof=1))}
    out["mean_hr_bpm"] = 60000.0 / out["mean_nn_ms"]
    pairs = valid[:-1] & valid[1:]
    x, y = nn[:-1][pairs], nn[1:][pairs]
    d = y - x
    nan = float("nan")
    if d.size >= 1:
        out["rmssd_ms"] = float(np.sqrt(np.mean(d * d)))
        out["pnn50"] = 100.0 * float(np.count_nonzero(np.abs(d) > 50.0 + _PNN_EPS_MS)) / d.size
        out["pnn20"] = 100.0 * float(np.count_nonzero(np.abs(d) > 20.0 + _PNN_EPS_MS)) / d.size
    else:
        out.update(rmssd_ms=nan, pnn50=nan, pnn20=nan)
        notes.append("RMSSD, pNN50, pNN20: no two adjacent valid intervals.")
    if d.size >= 2:
        out["sdsd_ms"] = float(d.std(ddof=1))
        out["sd1_ms"] = float((d / math.sqrt(2.0)).std(ddof=1))
        out["sd2_ms"] = float(((x + y) / math.sqrt(2.0)).std(ddof=1))
    else:
        out.update(sdsd_ms=nan, sd1_ms=nan, sd2_ms=nan)
        notes.append("SDSD, SD1, SD2: fewer than two pairs of adjacent valid intervals.")
    return out


def _frequency_domain(nn: np.ndarray, t_end: np.ndarray, *, resample_hz: float,
                      window_s: float, notes: list[str]) -> dict[str, Any]:
    nan = float("nan")
    out: dict[str, Any] = {"vlf_ms2": nan, "lf_ms2": nan, "hf_ms2": nan, "lf_hf": nan,
                           "lfnu": nan, "hfnu": nan, "total_power_ms2": nan,
                           "welch_window_s": nan, "n_segments": 0,
                           "psd_freq_hz": None, "psd_ms2_hz": None}
    spans = [(a, b) for a, b in _stretches(np.isfinite(nn)) if b - a >= 3]
    durations = [float(nn[a:b].sum()) / 1000.0 for a, b in spans]
    longest = max(durations, default=0.0)
    available = {band: longest >= MIN_DURATION_S[band] for band in BANDS}
    for band in ("VLF", "LF", "HF"):
        if not available[band]:
            notes.append(
                f"{band}: the longest gap-free stretch lasts {longest:.1f} s; {band} needs "
                f">= {MIN_DURATION_S[band]:g} s (Task Force 1996), so it is NaN."
            )
        elif window_s < MIN_DURATION_S[band]:
            notes.append(
                f"{band}: window_s={window_s:g} s is shorter than the {MIN_DURATION_S[band]:g} s "
                f"recommended for this band; its lowest frequencies are poorly resolved."
            )
    if not any(available.values()):
        return out

    series = []
    for a, b in spans:
        t, v = t_end[a:b], nn[a:b]
        n_q = math.floor((t[-1] - t[0]) * resample_hz + 1e-9) + 1
        tq = t[0] + np.arange(n_q) / resample_hz
        series.append(_natural_cubic_spline(t, v, tq))
    nperseg = min(round(window_s * resample_hz), max(s.size for s in series))
    freq, psd, nseg = _welch(series, resample_hz, nperseg)
    df = freq[1] - freq[0]
    power = {}
    for band, (lo, hi) in BANDS.items():
        sel = (freq >= lo) & (freq < hi)
        power[band] = float(psd[sel].sum() * df) if available[band] else nan
    out.update(vlf_ms2=power["VLF"], lf_ms2=power["LF"], hf_ms2=power["HF"],
               welch_window_s=nperseg / resample_hz, n_segments=nseg,
               psd_freq_hz=freq, psd_ms2_hz=psd)
    lf, hf = power["LF"], power["HF"]
    if available["LF"] and available["HF"]:
        out["lf_hf"] = lf / hf if hf > 0 else nan
        out["lfnu"] = 100.0 * lf / (lf + hf) if lf + hf > 0 else nan
        out["hfnu"] = 100.0 * hf / (lf + hf) if lf + hf > 0 else nan
    if all(available.values()):
        out["total_power_ms2"] = power["VLF"] + lf + hf
    else:
        notes.append("TP needs VLF, LF and HF; it is NaN.")
    return out


def _check_options(kind: Any, correct: Any, resample_hz: Any, window_s: Any,
                   hr_range_bpm: Any) -> tuple[float, float]:
    if kind not in ("ecg", "ppg"):
        raise ValueError(
            f"kind must be 'ecg' (RR intervals) or 'ppg' (PP intervals), got {kind!r}."
        )
    if correct not in ("lipponen2019", None):
        raise ValueError(
            f"correct must be 'lipponen2019' or None (no artefact correction), got {correct!r}."
        )
    if not (isinstance(resample_hz, (int, float)) and math.isfinite(resample_hz)
            and 1.0 <= resample_hz <= 100.0):
        raise ValueError(
            f"resample_hz must be 1-100 Hz (above twice the 0.4 Hz HF edge), got {resample_hz!r}; "
            "4 Hz is the usual choice."
        )
    if not (isinstance(window_s, (int, float)) and math.isfinite(window_s) and window_s >= 10):
        raise ValueError(f"window_s must be a number of seconds >= 10, got {window_s!r}.")
    try:
        lo, hi = (float(v) for v in hr_range_bpm)
    except (TypeError, ValueError):
        raise ValueError(
            f"hr_range_bpm must be a pair (min_bpm, max_bpm), got {hr_range_bpm!r}."
        ) from None
    if not (0 < lo < hi and math.isfinite(hi)):
        raise ValueError(f"hr_range_bpm must satisfy 0 < min < max, got {hr_range_bpm!r}.")
    return lo, hi


def hrv_from_intervals(intervals_s: Any, *, kind: Literal["ecg", "ppg"] = "ecg",
                       correct: Literal["lipponen2019"] | None = "lipponen2019",
                       frequency: bool = True, resample_hz: float = 4.0,
                       window_s: float = 300.0,
                       hr_range_bpm: tuple[float, float] = (HR_MIN_BPM, HR_MAX_BPM)) -> HRV:
    """HRV indices of an inter-beat interval series.

    Parameters
    ----------
    intervals_s : array_like of float, shape (n,)
        Successive inter-beat intervals in seconds. NaN marks an unknown
        interval (e.g. across a signal gap): it splits the series, and no
        difference, spline or Welch segment crosses it.
    kind : {"ecg", "ppg"}
        ECG gives RR intervals, PPG gives PP intervals (reported as such).
    correct : {"lipponen2019", None}
        Artefact correction applied before analysis (see
        :mod:`somacore.artifacts`), or None to analyse the intervals as given.
    frequency : bool
        Compute the frequency-domain indices (Welch spectrum).
    resample_hz : float
        Tachogram resampling rate for the spectrum, Hz (default 4).
    window_s : float
        Welch segment length in seconds (default 300); shortened to the
        longest gap-free stretch when that is shorter.
    hr_range_bpm : (float, float)
        Plausible rate range; corrected intervals outside it are dropped
        (NaN). Default (25, 250) bpm.

    Returns
    -------
    HRV

    Raises
    ------
    ValueError
        Fewer than 3 valid intervals remain, or an option is invalid.

    Notes
    -----
    Methods, parameters and the differences from NeuroKit2 are documented in
    :mod:`somacore.hrv_metrics`.
    """
    hr_lo, hr_hi = _check_options(kind, correct, resample_hz, window_s, hr_range_bpm)
    x = _as_intervals(intervals_s)
    notes: list[str] = []
    lost = np.isfinite(x) & (x > 2.0 * 60.0 / hr_lo)
    if lost.any():
        x[lost] = np.nan
        notes.append(
            f"{int(lost.sum())} interval(s) longer than {2 * 60 / hr_lo:g} s treated as lost "
            "signal (NaN), not as a correctable artefact."
        )
    t_end = np.nancumsum(x)  # beat times within each stretch (offsets across gaps unused)
    report: ArtifactReport | None = None
    n_corrected = 0
    if correct == "lipponen2019":
        nn_s, t_end, report = _correct_with_times(x, t_end)
        n_corrected = report.n_touched
        if n_corrected:
            n_in = int(np.isfinite(x).sum())
            pct = 100.0 * n_corrected / n_in
            kinds = ", ".join(f"{k}={v}" for k, v in report.counts.items() if v)
            notes.append(f"Artefact correction changed {n_corrected} of {n_in} intervals "
                         f"({pct:.1f}%): {kinds}.")
            if pct > 5.0:
                notes.append("More than 5% of the intervals were corrected: the indices may "
                             "not be reliable (inspect the beats).")
    else:
        nn_s = x
    nn_s = nn_s.copy()
    implausible = np.isfinite(nn_s) & ((nn_s < 60.0 / hr_hi) | (nn_s > 60.0 / hr_lo))
    if implausible.any():
        nn_s[implausible] = np.nan
        notes.append(
            f"{int(implausible.sum())} interval(s) outside {hr_lo:g}-{hr_hi:g} bpm dropped (NaN)."
        )
    n_valid = int(np.isfinite(nn_s).sum())
    if n_valid < _MIN_INTERVALS:
        raise ValueError(
            f"HRV needs at least {_MIN_INTERVALS} valid intervals ({_MIN_INTERVALS + 1} beats); "
            f"{n_valid} remain after removing gaps and implausible intervals. Pass a longer "
            "recording (Task Force 1996 short-term HRV uses 5 min)."
        )
    nn = nn_s * 1000.0
    td = _time_domain(nn, notes)
    spans = _stretches(np.isfinite(nn))
    longest = max(float(nn[a:b].sum()) / 1000.0 for a, b in spans)
    nan = float("nan")
    if frequency:
        fd = _frequency_domain(nn, t_end, resample_hz=float(resample_hz),
                               window_s=float(window_s), notes=notes)
        if td["mean_nn_ms"] > 1250.0 and math.isfinite(fd["hf_ms2"]):
            notes.append(
                f"HF: mean interval {td['mean_nn_ms']:.0f} ms, so the beat series is sampled "
                f"below 0.8 Hz and HF above {500.0 / td['mean_nn_ms']:.2f} Hz is not observable."
            )
    else:
        fd = {"vlf_ms2": nan, "lf_ms2": nan, "hf_ms2": nan, "lf_hf": nan, "lfnu": nan,
              "hfnu": nan, "total_power_ms2": nan, "welch_window_s": nan, "n_segments": 0,
              "psd_freq_hz": None, "psd_ms2_hz": None}
        notes.append("Frequency domain not computed (frequency=False).")
    return HRV(
        kind=kind, interval_name="RR" if kind == "ecg" else "PP", n_intervals=n_valid,
        n_corrected=n_corrected, duration_s=float(np.nansum(nn_s)), longest_stretch_s=longest,
        corrections=report, notes=tuple(notes), resample_hz=float(resample_hz),
        **td, **fd,
    )


def hrv(beats: Beats, *, correct: Literal["lipponen2019"] | None = "lipponen2019",
        frequency: bool = True, resample_hz: float = 4.0, window_s: float = 300.0,
        hr_range_bpm: tuple[float, float] = (HR_MIN_BPM, HR_MAX_BPM)) -> HRV:
    """HRV indices from detected beats (RR for ECG, PP for PPG).

    Parameters
    ----------
    beats : Beats
        Detected beats. Intervals that follow or overlap a gap, or touch a
        beat flagged uncertain, are treated as unknown (NaN).
    correct, frequency, resample_hz, window_s, hr_range_bpm
        As in :func:`hrv_from_intervals`, which this calls.

    Returns
    -------
    HRV
        ``corrections`` indexes intervals as ``beats.intervals`` does
        (interval ``i`` spans beat ``i`` to beat ``i + 1``).

    Raises
    ------
    ValueError
        Fewer than 4 beats, or fewer than 3 valid intervals.

    Examples
    --------
    >>> import numpy as np
    >>> from somacore.beats import Beats
    >>> rng = np.random.default_rng(0)
    >>> samples = np.cumsum(rng.normal(288, 10, 400)).astype(np.int64)   # ~0.8 s at 360 Hz
    >>> b = Beats(samples=samples, fs=360.0, kind="ecg",
    ...           quality=np.zeros(400, np.uint8), n_samples=int(samples[-1]) + 1)
    >>> res = hrv(b)
    >>> res.interval_name, res.n_intervals
    ('RR', 399)
    """
    beats = _check_beats(beats)
    if len(beats) < _MIN_INTERVALS + 1:
        raise ValueError(
            f"HRV needs at least {_MIN_INTERVALS + 1} beats, got {len(beats)}. Pass a longer "
            "recording (Task Force 1996 short-term HRV uses 5 min)."
        )
    iv, ok = _interval_validity(beats)
    x = np.where(ok, iv, np.nan)
    return hrv_from_intervals(x, kind=beats.kind, correct=correct, frequency=frequency,
                              resample_hz=resample_hz, window_s=window_s,
                              hr_range_bpm=hr_range_bpm)


# keep the field list and the table in sync (checked at import; cheap)
assert set(_TABLE.values()) <= {f.name for f in fields(HRV)}
