"""Breath-by-breath segmentation of respiration signals: the batch API.

:func:`segment_breaths` feeds a whole signal to a fresh compiled kernel
(:mod:`somacore._core._breath`) and flushes it; :class:`somacore.stream.BreathSegmenter`
feeds the same kernel chunk by chunk and gives identical breaths for any chunking.

Conventions
-----------
A breath ``i`` runs from its inhale onset ``onsets[i]`` (a trough of the
inspiration-up signal) through the end of inhalation ``peaks[i]`` to its
exhale end ``ends[i]``, which is the next breath's onset (breaths tile the
signal between gaps). Sample indices count from the first sample given.

Polarity ("which way is in"): the kernel works on a signal that *rises during
inspiration*. Each ``sensor`` has a documented native polarity:

========== =============================================== ========
sensor     signal                                          inhale
========== =============================================== ========
belt       inductance (RIP) or piezo/strain belt            up
impedance  transthoracic impedance pneumography             up
thermistor nasal/oral thermistor (NTC resistance/voltage)     up (inhaled air cools it)
airflow    flow (pneumotach, nasal pressure as flow),       up (positive = inspiratory flow);
           integrated to volume before segmentation         the volume rises
========== =============================================== ========

The thermistor row is the raw output of the usual NTC bridge: cooling by
inhaled air raises its resistance, and so the recorded signal (checked on the
MARSH nasal thermistor, whose end-of-inspiration marks sit on its maxima). A
channel already calibrated in temperature falls during inspiration: pass
``polarity="inverted"``.

``polarity="normal"`` trusts that table, ``"inverted"`` flips it (e.g. a belt
whose amplifier inverts, or nasal pressure where inspiration is negative), and
``"auto"`` decides from the first ``auto_learn_s`` (180) seconds, by the sum
of two cues: ends of inspiration are sharp and ends of expiration long and
flat, so the detection signal, demeaned per ``block_s`` block, is skewed
towards inspiration (its skewness); and the end-expiratory level is steadier
than the end-inspiratory level, which follows the tidal volume (log of the
median change between successive maxima over that between successive minima).
The chosen sign is ``Breaths.polarity``. See
``benchmarks/results/breath_accuracy.md`` for how often it is right on MARSH:
prefer the sensor's documented polarity when it is known, and use ``"auto"``
for unknown hardware.

Algorithm
---------
1. causal low-pass (4th-order Butterworth, ``lowpass_hz`` = 0.7 Hz by
   default), well below cardiac frequencies, so cardiac oscillations on
   impedance and belt signals (a few % of the breath amplitude, at 1-2 Hz) are
   attenuated tenfold or more before detection;
2. a hysteresis extremum tracker: a maximum becomes an end of inhalation
   once the signal has fallen ``threshold`` x (median amplitude of the last 8
   breaths) below it, a minimum an inhale onset once the signal has risen as
   much above it. The threshold is learnt from the first ``learn_s`` seconds
   (median range of ``block_s`` blocks), which are then replayed so no breath
   at the start is lost. After ``stall_periods`` median breath periods without
   a breath found (emitted) the typical amplitude decays (shallower breathing,
   or a median learnt on a transient), never below ``floor`` of the median,
   so an apnoea is not filled with noise; each breath found undoes one step.
   The threshold, the noise cap and the merge/shoulder depths all scale with
   this typical amplitude, so none of them stays stale during a stall.
   A noise floor keeps the threshold above ``noise`` x the running mean of the
   0.7-2 Hz band (cardiac residue), up to ``noise_cap`` x the typical amplitude;
3. a breath-level decision on each trough, when the next peak is confirmed:
   a trough that interrupts an exhalation (the breath fell less than
   ``shoulder`` of its inhalation) and is shallow (prominence below
   ``shoulder_depth`` x the typical amplitude) is an expiratory shoulder,
   merged into the breath. A deeper trough that interrupts an exhalation is
   decided at the next trough (``balance`` rule): when the "breath" it starts
   rose less than ``balance`` x its own fall (a tidal breath falls about as
   far as it rose), it is the rest of the exhalation and is merged too;
4. each event is placed on a gentler low-pass (``place_hz``) of the signal,
   near the tracker's extremum shifted back by the detection filter's group
   delay (optionally, ``plateau`` > 0: on a flat top or bottom, the middle of
   the samples within ``plateau`` x the typical amplitude of the extremum;
   off by default: on the tuning records it traded 8 ms of median timing
   error for 0.05 % of F1). A breath is decided when the next onset is
   confirmed: latency is the exhalation plus about ``threshold`` of the next
   inhalation, the filter delay (~0.6 s) and the ``flat_s`` look-behind
   (a breath held for the ``balance`` rule: about one breath more).

Bad input: non-finite samples are gaps (filters restart after them, no breath
spans one); a run of identical values of ``flat_s`` or more (flat, saturated
or disconnected sensor) becomes a gap from its first sample. Breaths cut by
the start, the end or a gap are kept and flagged (:data:`FLAG_TRUNC_ONSET`,
:data:`FLAG_TRUNC_END`). Periods without a breath longer than ``apnea_s``
are reported in :attr:`Breaths.apneas`, never filled in.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from somacore._arrays import readonly

__all__ = [
    "FLAG_IRREGULAR",
    "FLAG_TRUNC_END",
    "FLAG_TRUNC_ONSET",
    "SENSORS",
    "BreathParams",
    "BreathVariability",
    "BreathingRate",
    "Breaths",
    "breath_variability",
    "breathing_rate",
    "rsa",
    "segment_breaths",
]

Sensor = Literal["belt", "impedance", "thermistor", "airflow"]
Polarity = Literal["normal", "inverted", "auto"]

#: Native polarity per sensor: +1 when the raw signal rises during inspiration.
SENSORS: dict[str, int] = {"belt": 1, "impedance": 1, "thermistor": 1, "airflow": 1}

#: Quality flag bits (``Breaths.quality``).
#: The onset is not a confirmed trough: the breath starts at the beginning of
#: the record or right after a gap, so Ti and the inhale amplitude may be short.
FLAG_TRUNC_ONSET = 1
#: The exhale end is not a confirmed trough (end of record or a gap follows):
#: Te, Ttot and the exhale amplitude may be short.
FLAG_TRUNC_END = 2
#: Ttot outside 0.5-2 x the median of the previous 8 breaths, or amplitude below
#: 0.35 x their median (a sigh, a swallow, an interrupted breath).
FLAG_IRREGULAR = 4

FS_MIN = 10.0
FS_MAX = 5_000.0




@dataclass(frozen=True)
class BreathParams:
    """Parameters of the breath segmenter, in seconds and Hz (converted per ``fs``).

    ``shoulder``, ``shoulder_depth`` and ``balance`` are chosen by a fixed grid
    search on all 29 MARSH records (``benchmarks/tune_breath.py``); the other
    fields were tuned on its first 15 records. ``benchmarks/accuracy_breath.py``
    reports 2-fold cross-validated (out-of-fold) scores of that procedure.

    Attributes
    ----------
    lowpass_hz : float
        Cut-off of the causal 4th-order Butterworth detection low-pass.
    place_hz : float
        Cut-off of the 2nd-order low-pass on which events are placed. 2 Hz
        (was 1.2 Hz) puts the end of inspiration where the raw signal turns,
        halving the median timing error on the tuning records (28 -> 16 ms);
        events are only searched within ``place_window_s`` of the detection
        extremum, so the cardiac oscillations it lets through cannot move them far.
    place_window_s : float
        Half-width of the placement search around the delay-corrected extremum.
    threshold : float
        Hysteresis as a fraction of the median amplitude of the last 8 breaths
        (amplitudes are measured on the placement signal). 0.15 (was 0.21)
        together with the ``noise`` floor: the lower fraction finds shallow
        breaths between deep ones on clean signals, the floor keeps it above
        the cardiac oscillations on noisy ones.
    floor, decay, stall_periods, stall_min_s, stall_max_s : float
        Without a breath found (emitted) for ``stall_periods`` median breath
        periods (clamped to ``[stall_min_s, stall_max_s]``), the typical
        amplitude (the median of the last 8, which scales the threshold, the
        noise cap and the merge and shoulder depths) is multiplied by
        ``decay``, never below ``floor`` of the median; each breath found
        undoes one step. Extrema alone do not stop the clock: after a
        transient in the learning window inflated the median, every trough
        looked like a shallow shoulder of one held breath and no breath came
        out for minutes (MARSH 2655 with ``shoulder_depth=0.5``).
    initial_period_s : float
        Breath period assumed before the first breaths.
    learn_s, block_s : float
        Learning window (initial amplitude) and its block length; the first
        ``learn_s`` seconds are replayed once learnt, so the first breaths of a
        live stream come out after ``learn_s``.
    auto_learn_s : float
        Learning window with ``polarity="auto"`` (longer: the polarity is
        decided from more breaths, and a live stream's first breaths come out
        after it). 180 s: over 90 s, neither cue alone nor their sum is right
        on all 15 tuning records; over 180 s the sum is (and on all 29
        records; skewness alone over 90 s: 15 of 15 tuning records, 27 of 29).
    flat_s : float
        Runs of identical samples this long become gaps (also the tracker's
        look-behind, hence part of the streaming latency).
    span_s : float
        How far back (s) event placement and pause measurement may look.
    apnea_s : float
        Minimum breath-free stretch reported in :attr:`Breaths.apneas`.
    pause_fraction : float
        Airflow only: a pause is the volume plateau within this fraction of
        the exhale amplitude of the extremum.
    integrator_hz : float
        Airflow only: corner of the leaky integrator turning flow into volume
        (a pure integrator would drift with any flow offset).
    merge : float
        Off (0) by default. A trough whose prominence (its depth below the
        lower of the two peaks around it) is below ``merge`` x the median
        amplitude of the last 8 breaths does not end a breath: an expiratory
        shoulder (a second hump during exhalation) or an inspiratory notch is
        merged into the breath, which keeps the higher peak. Decided when the
        next peak is confirmed (no extra latency); same in batch and
        streaming. On the MARSH tuning records it did not help (it also merges
        real shallow breaths), so it is off; the ``shoulder`` rule below
        merges only troughs that interrupt an exhalation.
    shoulder, shoulder_depth : float
        Expiratory-shoulder rule (0 turns it off): when the breath before a
        trough fell by less than ``shoulder`` (0.6) of its inhalation before
        reaching the trough, and the trough's prominence (as for ``merge``)
        is below ``shoulder_depth`` (0.3) x the median amplitude of the last
        8 breaths, the trough is a pause in the exhalation, not the start of
        a breath: the two are merged. A real breath returns near its onset
        level; a shoulder interrupts the exhalation half-way. Decided at the
        same point as ``merge`` (no extra latency).
    balance : float
        Balance rule for the deeper troughs that interrupt an exhalation (the
        ``shoulder`` test holds, the ``shoulder_depth`` test does not); 0
        turns it off. A tidal breath falls about as far as it rose (the
        end-expiratory level is steady); when the "breath" after such a
        trough rises less than ``balance`` x its own fall, it is the rest of
        the interrupted exhalation (a deep expiratory shoulder, or an
        inspiratory notch before the real end of inspiration), and the two
        are one breath, which keeps the higher peak. Decided when the trough
        after that "breath" is confirmed, so only these breaths come out
        about one exhalation later.
    noise, noise_s, noise_cap : float
        Noise floor of the hysteresis: it never drops below ``noise`` x the
        running mean (time constant ``noise_s``) of |z - y|, the part of the
        signal between the detection and placement low-passes (0.7-2 Hz by
        default: cardiac oscillations and spikes, a fixed fraction of which
        leaks through the detection low-pass), nor does the floor raise it
        above ``noise_cap`` x the median amplitude of the last 8 breaths
        (0.21, the former fixed threshold: breathing faster than about
        45/min is itself in that band, and an uncapped floor would hide it).
        ``noise`` = 0 turns the floor off.
    plateau, plateau_ext_s : float
        Off (0) by default: place events at the middle of flat extrema
        (samples within ``plateau`` x typical amplitude, up to
        ``plateau_ext_s`` each side).
    """

    lowpass_hz: float = 0.7
    place_hz: float = 2.0
    place_window_s: float = 0.25
    threshold: float = 0.15
    floor: float = 0.3
    decay: float = 0.7
    stall_periods: float = 2.0
    stall_min_s: float = 3.0
    stall_max_s: float = 30.0
    initial_period_s: float = 5.0
    learn_s: float = 30.0
    auto_learn_s: float = 180.0
    block_s: float = 10.0
    flat_s: float = 2.0
    span_s: float = 40.0
    apnea_s: float = 20.0
    pause_fraction: float = 0.05
    integrator_hz: float = 0.01
    merge: float = 0.0
    plateau: float = 0.0
    plateau_ext_s: float = 1.5
    shoulder: float = 0.6
    shoulder_depth: float = 0.3
    balance: float = 0.5
    noise: float = 3.0
    noise_s: float = 10.0
    noise_cap: float = 0.21

    @classmethod
    def fast(cls) -> BreathParams:
        """Parameters for fast breathing (30-90 breaths/min: infants, exercise, panting).

        The default 0.7 Hz detection low-pass keeps cardiac oscillations out
        and covers about 4-45 breaths/min; above that it attenuates the
        breaths themselves and undercounts. This preset raises the cut-offs
        (2 Hz detection, 3 Hz placement), at the price of a weaker
        rejection of adult cardiac oscillations.
        """
        return cls(lowpass_hz=2.0, place_hz=3.0, place_window_s=0.1)

    def __post_init__(self) -> None:
        from somacore._validate import check_params

        check_params(self,
                     positive=("lowpass_hz", "place_hz", "place_window_s", "threshold",
                               "learn_s", "auto_learn_s", "block_s", "flat_s", "span_s",
                               "apnea_s", "initial_period_s", "stall_min_s", "stall_max_s",
                               "stall_periods", "integrator_hz", "noise_s"),
                     nonnegative=("merge", "plateau", "shoulder", "shoulder_depth", "balance",
                                  "noise", "noise_cap"))
        if not 0 < self.decay < 1 or not 0 <= self.floor < 1 or not self.threshold < 1:
            raise ValueError("BreathParams: need 0 < decay < 1, 0 <= floor < 1, threshold < 1.")
        if (self.block_s > self.learn_s
                or max(self.learn_s, self.auto_learn_s) / self.block_s > 60):
            raise ValueError("BreathParams: need block_s <= learn_s <= 60 * block_s.")


def _group_delay(sos: np.ndarray, f: float, *, fs: float) -> float:
    """Group delay in samples at ``f`` Hz, by a central difference of 0.01 Hz.

    (A step proportional to ``fs`` would straddle 0 Hz for a 0.25 Hz
    breathing frequency at high sampling rates.)
    """
    from somacore._design import sos_response

    df = 0.01
    h = sos_response(sos, np.array([f - df, f + df]), fs=fs)
    ph = np.unwrap(np.angle(h))
    return float(-(ph[1] - ph[0]) / (2 * np.pi * 2 * df / fs))


def _kernel_args(fs: float, sensor: str, polarity: str, params: BreathParams) -> dict:
    """Design every kernel parameter (shared by the kernel and the reference)."""
    from somacore._design import butter_sections

    if sensor not in SENSORS:
        raise ValueError(f"sensor must be one of {sorted(SENSORS)}, got {sensor!r}.")
    if polarity == "auto":
        sign = 0
    elif polarity == "normal":
        sign = SENSORS[sensor]
    elif polarity == "inverted":
        sign = -SENSORS[sensor]
    else:
        raise ValueError(f"polarity must be 'normal', 'inverted' or 'auto', got {polarity!r}.")
    # the filters need their cut-offs below Nyquist: at 10 Hz sampling 2 Hz is
    # still far inside, but keep a margin for user-chosen parameters
    fc = min(params.lowpass_hz, 0.4 * fs)
    fr = min(params.place_hz, 0.45 * fs)
    ms = np.ascontiguousarray(butter_sections("low", fc, fs=fs, order=4))
    rs = np.ascontiguousarray(butter_sections("low", fr, fs=fs, order=2))
    # delays at a typical breathing frequency (0.25 Hz); below the cut-off the
    # Butterworth group delay is nearly flat, so this holds for 4-40 /min
    delay = round(_group_delay(ms, 0.25, fs=fs))
    ref_delay = round(_group_delay(rs, 0.25, fs=fs))

    def n(sec: float) -> int:
        return max(1, round(sec * fs))

    integrate = sensor == "airflow"
    # deciding the polarity needs more breaths than learning the amplitude
    learn = n(params.learn_s if sign != 0 else max(params.learn_s, params.auto_learn_s))
    block = n(params.block_s)
    block = min(block, learn)
    return dict(
        fs=fs, sign=sign, integrate=integrate,
        leak=math.exp(-2 * math.pi * params.integrator_hz / fs), main_sos=ms, ref_sos=rs,
        delay=delay, ref_delay=ref_delay, half=n(params.place_window_s), learn=learn,
        block=block, lag=max(4, n(params.flat_s)), frac=params.threshold, floor=params.floor,
        decay=params.decay, stall_init=n(params.initial_period_s),
        stall_mult=params.stall_periods, stall_min=n(params.stall_min_s),
        stall_max=n(params.stall_max_s),
        pause_frac=params.pause_fraction if integrate else 0.0,
        flat_len=max(4, n(params.flat_s)), span=n(params.span_s), merge=params.merge,
        plateau=0.0 if integrate else params.plateau, plateau_ext=n(params.plateau_ext_s),
        shoulder=params.shoulder, shoulder_depth=params.shoulder_depth, knoise=params.noise,
        nalpha=1.0 - math.exp(-1.0 / (params.noise_s * fs)), ncap=params.noise_cap,
        balance=params.balance,
    )


def make_kernel(*, fs: float, sensor: str = "belt", polarity: str = "normal",
                params: BreathParams | None = None):
    """Create the compiled kernel (shared by batch and streaming)."""
    from somacore._core._breath import BreathKernel

    a = _kernel_args(fs, sensor, polarity, params if params is not None else BreathParams())
    return BreathKernel(
        a["fs"], a["sign"], a["integrate"], a["leak"], a["main_sos"], a["ref_sos"], a["delay"],
        a["ref_delay"], a["half"], a["learn"], a["block"], a["lag"], a["frac"], a["floor"],
        a["decay"], a["stall_init"], a["stall_mult"], a["stall_min"], a["stall_max"],
        a["pause_frac"], a["flat_len"], a["span"], a["merge"],
        a["plateau"], a["plateau_ext"], a["shoulder"], a["shoulder_depth"], a["knoise"],
        a["nalpha"], a["ncap"], a["balance"],
    )


@dataclass(frozen=True, eq=False)
class Breaths:
    """Segmented breaths of one respiration channel.

    Attributes
    ----------
    onsets : ndarray of int64, shape (n,)
        Inhale onset (start of inspiration) of each breath, in samples.
    peaks : ndarray of int64, shape (n,)
        End of inhalation (= start of exhalation), in samples.
    ends : ndarray of int64, shape (n,)
        Exhale end, in samples; equal to the next breath's onset unless a gap
        or the record's end intervenes.
    inhale_amplitude, exhale_amplitude : ndarray of float64, shape (n,)
        Signal change from onset to peak and from peak to exhale end, in the
        signal's units with inspiration positive (airflow: units x seconds,
        i.e. volume from the integrated flow).
    quality : ndarray of uint8, shape (n,)
        Bit flags: :data:`FLAG_TRUNC_ONSET`, :data:`FLAG_TRUNC_END`,
        :data:`FLAG_IRREGULAR`. Zero is a clean breath.
    post_inspiratory_pause, post_expiratory_pause : ndarray of float64, shape (n,)
        Pause durations in seconds (airflow only: the volume plateaus after
        the peak and before the exhale end); NaN for other sensors.
    gaps : ndarray of int64, shape (k, 2)
        Half-open ``[start, stop)`` ranges without usable signal.
    fs : float
        Sampling rate in Hz.
    sensor : str
        Sensor type the signal came from.
    polarity : int
        +1 if the raw signal rises during inspiration, -1 if it falls (0 if the
        segmenter never learnt, e.g. the record was all gap).
    n_samples : int
        Number of samples analysed.
    apnea_s : float
        Minimum breath-free duration reported in :attr:`apneas`.
    """

    onsets: np.ndarray
    peaks: np.ndarray
    ends: np.ndarray
    inhale_amplitude: np.ndarray
    exhale_amplitude: np.ndarray
    quality: np.ndarray
    post_inspiratory_pause: np.ndarray
    post_expiratory_pause: np.ndarray
    fs: float
    sensor: str = "belt"
    polarity: int = 1
    gaps: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.int64))
    n_samples: int = 0
    apnea_s: float = 20.0

    def __post_init__(self) -> None:
        n = np.asarray(self.onsets).shape[0]
        for name, dt in (("onsets", np.int64), ("peaks", np.int64), ("ends", np.int64),
                         ("inhale_amplitude", np.float64), ("exhale_amplitude", np.float64),
                         ("quality", np.uint8), ("post_inspiratory_pause", np.float64),
                         ("post_expiratory_pause", np.float64)):
            a = np.ascontiguousarray(getattr(self, name), dtype=dt)
            if a.shape != (n,):
                raise ValueError(f"{name} must have one entry per breath")
            object.__setattr__(self, name, readonly(a))
        g = np.ascontiguousarray(self.gaps, dtype=np.int64).reshape(-1, 2)
        object.__setattr__(self, "gaps", readonly(g))

    def __len__(self) -> int:
        return int(self.onsets.size)

    def __repr__(self) -> str:
        dur = self.n_samples / self.fs if self.fs else 0.0
        return (f"Breaths(sensor={self.sensor!r}, n={len(self)}, fs={self.fs:g} Hz, "
                f"duration={dur:.1f} s, gaps={len(self.gaps)}, apneas={len(self.apneas)})")

    # the scoring helpers (somacore.eval) read ``.samples``: the end-of-inspiration marks
    @property
    def samples(self) -> np.ndarray:
        """Alias of :attr:`peaks` (end of inspiration), for :mod:`somacore.eval`."""
        return self.peaks

    @property
    def ti(self) -> np.ndarray:
        """Inspiratory time in seconds."""
        return (self.peaks - self.onsets) / self.fs

    @property
    def te(self) -> np.ndarray:
        """Expiratory time in seconds (includes the post-expiratory pause)."""
        return (self.ends - self.peaks) / self.fs

    @property
    def ttot(self) -> np.ndarray:
        """Total breath duration ``Ti + Te`` in seconds."""
        return (self.ends - self.onsets) / self.fs

    @property
    def ti_ttot(self) -> np.ndarray:
        """Duty cycle Ti/Ttot."""
        return (self.peaks - self.onsets) / (self.ends - self.onsets)

    @property
    def rate(self) -> np.ndarray:
        """Instantaneous breathing rate 60/Ttot in breaths per minute."""
        return 60.0 / self.ttot

    @property
    def intervals(self) -> np.ndarray:
        """Breath-to-breath intervals (peak to next peak) in seconds, shape (n-1,).

        NaN where the two breaths are separated by a gap or the later one starts
        truncated, so an interval never spans lost signal.
        """
        if len(self) < 2:
            return np.zeros(0)
        iv = np.diff(self.peaks) / self.fs
        bad = (self.quality[1:] & FLAG_TRUNC_ONSET) != 0
        bad |= (self.quality[:-1] & FLAG_TRUNC_END) != 0
        if len(self.gaps):
            # and, whatever the flags say, no interval across a gap
            g0 = np.searchsorted(self.gaps[:, 0], self.peaks[1:], side="left")
            g1 = np.searchsorted(self.gaps[:, 0], self.peaks[:-1], side="right")
            bad |= g0 > g1
        iv[bad] = np.nan
        return iv

    @property
    def apneas(self) -> np.ndarray:
        """Breath-free periods of at least ``apnea_s`` seconds, shape (k, 2).

        Half-open sample ranges ``[start, stop)`` between consecutive ends of
        inspiration (or the record's start/end), excluding any part inside a
        gap: lost signal is reported as a gap, not as an apnoea.
        """
        lim = self.apnea_s * self.fs
        bounds = np.concatenate([[0], self.peaks, [self.n_samples]]).astype(np.int64)
        out = []
        for a, b in itertools.pairwise(bounds):
            # split the stretch at gaps; each signal-bearing piece is checked
            lo = int(a)
            for g0, g1 in self.gaps:
                if g1 <= lo or g0 >= b:
                    continue
                if g0 - lo >= lim:
                    out.append((lo, int(g0)))
                lo = max(lo, int(g1))
            if b - lo >= lim:
                out.append((lo, int(b)))
        return np.array(out, dtype=np.int64).reshape(-1, 2)

    def to_pandas(self):  # pragma: no cover - optional dependency
        """One row per breath (requires pandas)."""
        import pandas as pd

        return pd.DataFrame({
            "onset_sample": self.onsets, "peak_sample": self.peaks, "end_sample": self.ends,
            "ti_s": self.ti, "te_s": self.te, "ttot_s": self.ttot, "ti_ttot": self.ti_ttot,
            "inhale_amplitude": self.inhale_amplitude,
            "exhale_amplitude": self.exhale_amplitude, "rate_bpm": self.rate,
            "post_inspiratory_pause_s": self.post_inspiratory_pause,
            "post_expiratory_pause_s": self.post_expiratory_pause, "quality": self.quality})


_EMPTY: dict = {}


def _empty(fs: float, sensor: str, polarity: int, n_samples: int, apnea_s: float) -> Breaths:
    # a shallow copy of a cached empty result (its arrays are read-only), so a
    # live update that decided nothing costs microseconds
    key = (fs, sensor, apnea_s)
    tpl = _EMPTY.get(key)
    if tpl is None:
        tpl = _EMPTY[key] = _assemble(fs, sensor, polarity, 0, [], apnea_s)
    out = object.__new__(Breaths)
    d = out.__dict__
    d.update(tpl.__dict__)
    d["polarity"] = polarity
    d["n_samples"] = n_samples
    return out


def _assemble(fs: float, sensor: str, polarity: int, n_samples: int, parts: list,
              apnea_s: float) -> Breaths:
    parts = [p for p in parts if p is not None]
    idx = np.concatenate([p[0] for p in parts]) if parts else np.zeros((0, 3), np.int64)
    val = np.concatenate([p[1] for p in parts]) if parts else np.zeros((0, 4))
    q = np.concatenate([p[2] for p in parts]) if parts else np.zeros(0, np.uint8)
    g = np.concatenate([p[3] for p in parts]) if parts else np.zeros((0, 2), np.int64)
    return Breaths(onsets=idx[:, 0], peaks=idx[:, 1], ends=idx[:, 2],
                   inhale_amplitude=val[:, 0], exhale_amplitude=val[:, 1], quality=q,
                   post_inspiratory_pause=val[:, 2] / fs, post_expiratory_pause=val[:, 3] / fs,
                   fs=fs, sensor=sensor, polarity=polarity, gaps=g, n_samples=int(n_samples),
                   apnea_s=apnea_s)


def _check_sensor(sensor: str, polarity: str) -> None:
    if sensor not in SENSORS:
        raise ValueError(f"sensor must be one of {sorted(SENSORS)}, got {sensor!r}.")
    if polarity not in ("normal", "inverted", "auto"):
        raise ValueError(f"polarity must be 'normal', 'inverted' or 'auto', got {polarity!r}.")


def segment_breaths(x, *, fs: float, sensor: Sensor = "belt", polarity: Polarity = "normal",
                    params: BreathParams | None = None) -> Breaths:
    """Segment a respiration signal into breaths (onset, end of inhalation, exhale end).

    Parameters
    ----------
    x : array_like, shape (n,)
        One respiration channel. float64, float32, int16 and int32 arrays are
        read in place. Non-finite samples are gaps; flat runs of
        ``params.flat_s`` or more become gaps.
    fs : float
        Sampling rate in Hz (required, keyword-only; 10-5,000 Hz).
    sensor : {"belt", "impedance", "thermistor", "airflow"}
        Sensor type; sets the native polarity (see the module docs) and, for
        airflow, integration to volume and pause measurement.
    polarity : {"normal", "inverted", "auto"}
        Trust the sensor's native polarity, flip it, or decide from the data
        (the result's ``polarity`` attribute tells what was used).
    params : BreathParams, optional
        Segmenter parameters. The defaults suit about 4-45 breaths/min; use
        :meth:`BreathParams.fast` for faster breathing (up to 60-90/min).

    Returns
    -------
    Breaths
        Per-breath onsets, peaks, ends, durations, amplitudes, rate, quality,
        gaps and apnoeas.

    Raises
    ------
    ValueError
        Invalid ``fs``, ``sensor``, ``polarity`` or a signal that is not 1-D numeric.

    Examples
    --------
    >>> br = segment_breaths(ip, fs=250.0, sensor="impedance")   # doctest: +SKIP
    >>> br.rate.mean(), br.ti_ttot.mean()                         # doctest: +SKIP
    """
    from somacore._validate import as_1d_signal, check_fs

    fs = check_fs(fs, lo=FS_MIN, hi=FS_MAX, what="respiration signal")
    _check_sensor(sensor, polarity)
    params = params if params is not None else BreathParams()
    arr = as_1d_signal(x, what="respiration signal")
    kernel = make_kernel(fs=fs, sensor=sensor, polarity=polarity, params=params)
    p1 = kernel.process(arr)
    p2 = kernel.flush()
    return _assemble(fs, sensor, kernel.polarity, arr.shape[0], [p1, p2], params.apnea_s)


# ----------------------------------------------------------------- derived series
@dataclass(frozen=True, eq=False)
class BreathingRate:
    """Evenly sampled breathing rate.

    Attributes
    ----------
    rate_bpm : ndarray of float64
        Breaths per minute at ``times``; NaN where undefined (before the first
        breath, in gaps, apnoeas).
    times : ndarray of float64
        Sample times in seconds from the record's first sample.
    fs_out : float
        Output sampling rate in Hz.
    """

    rate_bpm: np.ndarray
    times: np.ndarray
    fs_out: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "rate_bpm", readonly(np.asarray(self.rate_bpm, np.float64)))
        object.__setattr__(self, "times", readonly(np.asarray(self.times, np.float64)))


def breathing_rate(breaths: Breaths, *, fs_out: float, max_hold_s: float = 20.0
                   ) -> BreathingRate:
    """Breathing rate as an evenly sampled series (for the synchrony engine).

    Each valid breath-to-breath interval (peak to next peak) defines the rate
    ``60 / interval`` from its first peak to its second; the rate is held
    piecewise-constant between peaks and linearly interpolated nowhere, so it
    never invents values between breaths. Where no interval covers a time
    (start, end, gaps, intervals over ``max_hold_s``) the rate is NaN.

    Parameters
    ----------
    breaths : Breaths
        Result of :func:`segment_breaths` or the stream.
    fs_out : float
        Output rate in Hz (keyword-only, required), e.g. 4.0.
    max_hold_s : float, default 20.0
        Longer intervals (apnoeas) give NaN instead of a tiny rate.
    """
    from somacore._validate import check_fs

    fs_out = check_fs(fs_out, lo=1e-3, hi=1000.0, what="breathing-rate series")
    if not isinstance(breaths, Breaths):
        raise ValueError(f"breaths must be a Breaths result, got {type(breaths).__name__}.")
    n_out = math.floor(breaths.n_samples / breaths.fs * fs_out)
    t = np.arange(n_out) / fs_out
    out = np.full(n_out, np.nan)
    iv = breaths.intervals
    if iv.size:
        pt = breaths.peaks / breaths.fs
        i = np.searchsorted(pt, t, side="right") - 1  # interval starting at peak i
        ok = (i >= 0) & (i < iv.size)
        vals = np.full(n_out, np.nan)
        vals[ok] = iv[i[ok]]
        good = np.isfinite(vals) & (vals <= max_hold_s) & (vals > 0)
        out[good] = 60.0 / vals[good]
    return BreathingRate(rate_bpm=out, times=t, fs_out=fs_out)


@dataclass(frozen=True)
class BreathVariability:
    """Breath-to-breath variability (RRV) of the peak-to-peak intervals.

    Attributes
    ----------
    n : int
        Valid intervals used.
    mean_bb_s : float
        Mean breath-to-breath interval, seconds.
    sdbb_s : float
        Standard deviation of the intervals (SDBB), seconds (ddof=1).
    rmssd_s : float
        Root mean square of successive interval differences, seconds; pairs
        separated by an invalid interval are skipped.
    cv : float
        SDBB / mean.
    mean_rate_bpm : float
        60 / mean interval.
    """

    n: int
    mean_bb_s: float
    sdbb_s: float
    rmssd_s: float
    cv: float
    mean_rate_bpm: float


def breath_variability(breaths: Breaths) -> BreathVariability:
    """RRV: SDBB and RMSSD of breath-to-breath intervals.

    Intervals spanning a gap or a truncated breath are excluded; so are
    intervals of breaths flagged :data:`FLAG_IRREGULAR` (sighs), as in HRV
    where ectopic beats are excluded. Values are NaN when too few intervals.
    """
    if not isinstance(breaths, Breaths):
        raise ValueError(f"breaths must be a Breaths result, got {type(breaths).__name__}.")
    iv = breaths.intervals.copy()
    if iv.size:
        irr = (breaths.quality & FLAG_IRREGULAR) != 0
        iv[irr[1:] | irr[:-1]] = np.nan
    ok = np.isfinite(iv)
    v = iv[ok]
    nan = math.nan
    mean = float(v.mean()) if v.size else nan
    sd = float(v.std(ddof=1)) if v.size >= 2 else nan
    d = np.diff(iv)
    d = d[np.isfinite(d)]
    rmssd = float(np.sqrt(np.mean(d * d))) if d.size else nan
    return BreathVariability(n=int(v.size), mean_bb_s=mean, sdbb_s=sd, rmssd_s=rmssd,
                             cv=sd / mean if v.size >= 2 else nan,
                             mean_rate_bpm=60.0 / mean if v.size else nan)


def rsa(breaths: Breaths, beats, *, beats_offset_s: float = 0.0) -> np.ndarray:
    """Respiratory sinus arrhythmia per breath, Grossman's peak-to-trough method.

    For each breath, the heart periods (RR or PP intervals, assigned to the
    time of the beat that ends them) are looked up: the shortest one during
    inspiration ``[onset, peak)`` and the longest during expiration
    ``[peak, end)`` (inspiratory acceleration, expiratory slowing). RSA is
    ``max(expiration) - min(inspiration)`` in seconds; by Grossman's rule it is
    set to 0 when the longest expiratory period is shorter than the shortest
    inspiratory one (no phase-related arrhythmia), and NaN where either phase
    has no valid heart period or the breath is truncated.

    Parameters
    ----------
    breaths : Breaths
        Segmented breaths.
    beats : somacore.beats.Beats
        Heartbeats of the same record, e.g. from ``detect_beats``. Their ``fs``
        may differ from the breaths'.
    beats_offset_s : float
        Start of the heart channel minus start of the respiration channel, in
        seconds (0 when both start together, as in one recording).

    Returns
    -------
    ndarray of float64, shape (n_breaths,)
        RSA in seconds per breath.
    """
    if not isinstance(breaths, Breaths):
        raise ValueError(f"breaths must be a Breaths result, got {type(breaths).__name__}.")
    if not (hasattr(beats, "samples") and hasattr(beats, "intervals") and hasattr(beats, "fs")):
        raise ValueError("beats must be a Beats result from somacore.detect_beats.")
    out = np.full(len(breaths), np.nan)
    if len(beats) < 2 or len(breaths) == 0:
        return out
    off = float(beats_offset_s)
    if not math.isfinite(off):
        raise ValueError(f"beats_offset_s must be a finite number of seconds, got {off!r}.")
    # time of the beat ending each interval, on the breaths' clock
    bt = beats.samples[1:] / beats.fs + off
    iv = beats.intervals
    ok = np.isfinite(iv)
    bt, iv = bt[ok], iv[ok]
    on = breaths.onsets / breaths.fs
    pk = breaths.peaks / breaths.fs
    en = breaths.ends / breaths.fs
    i0 = np.searchsorted(bt, on, side="left")
    i1 = np.searchsorted(bt, pk, side="left")
    i2 = np.searchsorted(bt, en, side="left")
    trunc = (breaths.quality & (FLAG_TRUNC_ONSET | FLAG_TRUNC_END)) != 0
    for k in range(len(breaths)):
        if trunc[k] or i1[k] <= i0[k] or i2[k] <= i1[k]:
            continue
        lo = float(iv[i0[k]:i1[k]].min())
        hi = float(iv[i1[k]:i2[k]].max())
        out[k] = max(hi - lo, 0.0)
    return out
