"""A documented coupled-physiology simulator (for demos, tests and benchmarks).

Everything here is SIMULATED: the signals are built from simple, stated
models, not recorded. They are good enough to check an analysis end to end
against known ground truth (the planted coupling episodes and lag); they are
not a physiological model to draw scientific conclusions from.

Model of a follower B coupled to a leader A
-------------------------------------------
Heart rate is written as a mean plus a fluctuation in units of its own
spread. With ``z_A(t)`` the leader's standardised heart-rate fluctuation
(median removed, divided by its robust SD, 1.4826 MAD), the follower's is

    z_B(t) = w(t) * (c * z_A(t - lag) + sqrt(1 - c**2) * e(t)) + (1 - w(t)) * e(t)

and ``HR_B(t) = mean_hr_bpm + sd_hr_bpm * z_B(t)``, where

* ``e(t)`` is B's own fluctuation: Gaussian noise band-limited to
  ``own_band_hz`` (0.02-0.4 Hz, the range of ordinary HRV) by an FFT mask,
  scaled to unit SD, independent of A (its own seeded generator);
* ``w(t)`` is 1 inside the planted coupling episodes, 0 outside, with raised-
  cosine ramps of ``ramp_s`` seconds at each edge (inside an episode's
  first/last ``ramp_s`` the coupling is partial);
* ``c`` (``coupling``, default 0.9) is the correlation of B's fluctuation with
  A's lagged one inside an episode, and ``lag`` (``lag_s``) the delay: B
  follows A. Outside the episodes B is independent of A.

Optionally, planted *arousal surges* (``arousal``: ``(onset_s, duration_s,
height_bpm)`` triples) are added to ``HR_B``: a 5-s raised-cosine rise, a
plateau until ``onset + duration`` and an exponential return (time constant
8 s), so the arousal detector has ground truth too.

Signals from heart rate. Beats are placed by integrating the instantaneous
rate (a beat at every whole cycle of ``cumsum(HR / 60) / fs``), so the RR
intervals follow ``HR_B`` exactly. The ECG is a sum of Gaussian P, Q, R, S
and T waves per beat (QT scaled by the square root of RR) plus baseline
wander at the breathing frequency and white noise; the PPG (for benchmarks) a
systolic and a diastolic Gaussian pulse per beat. Respiration is a belt-like
signal (rises during inspiration, Ti/Ttot ~ 0.4) whose rate wanders slowly
around ``breath_rate_bpm``.

Everything is deterministic given ``seed``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

__all__ = ["SimulatedPerson", "ecg_from_hr", "ppg_from_hr", "resp_signal", "simulate_dyad",
           "simulate_follower"]


@dataclass(frozen=True, eq=False)
class SimulatedPerson:
    """One SIMULATED person with ground truth.

    Attributes
    ----------
    ecg_mv : ndarray
        Simulated ECG in mV at ``fs``.
    fs : float
        ECG sampling rate (Hz).
    beat_samples : ndarray of int64
        True beat (R-peak) sample indices.
    hr_bpm : ndarray
        True instantaneous heart rate (bpm) at ``hr_fs``.
    hr_fs : float
        Rate of ``hr_bpm`` (Hz).
    resp : ndarray or None
        Simulated respiration belt signal (au) at ``resp_fs``.
    resp_fs : float
    breath_peaks : ndarray of int64
        True end-of-inspiration samples of ``resp``.
    episodes_s : ndarray, shape (k, 2)
        Planted coupling episodes ``[start, end)`` in seconds (empty for a leader).
    lag_s : float
        Planted lag: this person follows the leader by ``lag_s`` seconds.
    coupling : float
        Planted correlation ``c`` inside episodes.
    arousal : ndarray, shape (m, 3)
        Planted heart-rate surges ``(onset_s, duration_s, height_bpm)``.
    seed : int
    """

    ecg_mv: np.ndarray
    fs: float
    beat_samples: np.ndarray
    hr_bpm: np.ndarray
    hr_fs: float
    resp: np.ndarray | None = None
    resp_fs: float = 0.0
    breath_peaks: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    episodes_s: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    lag_s: float = 0.0
    coupling: float = 0.0
    arousal: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    seed: int = 0

    def to_recording(self, name: str = "simulated"):
        """A :class:`~somacore.signals.Recording` with the ECG (and resp) channels."""
        from somacore.signals import Channel, Recording

        ch = [Channel(self.ecg_mv, self.fs, "ecg", "mV", name="ecg.sim_mV")]
        if self.resp is not None:
            ch.append(Channel(self.resp, self.resp_fs, "resp", "au", name="resp.sim_au"))
        return Recording(tuple(ch), source=f"SIMULATED ({name}, somacore.simulate, "
                         f"seed {self.seed})", meta={"simulated": True})


def _band_noise(n: int, fs: float, band: tuple[float, float], rng: np.random.Generator
                ) -> np.ndarray:
    """Unit-SD Gaussian noise restricted to ``band`` Hz by an FFT mask."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1.0 / fs)
    spec[(f < band[0]) | (f > band[1])] = 0.0
    x = np.fft.irfft(spec, n)
    sd = x.std()
    return x / sd if sd > 0 else x


def _standardise(x: np.ndarray) -> np.ndarray:
    """(x - median) / robust SD; NaN filled by interpolation first."""
    x = np.asarray(x, float).copy()
    ok = np.isfinite(x)
    if not ok.any():
        return np.zeros_like(x)
    x[~ok] = np.interp(np.flatnonzero(~ok), np.flatnonzero(ok), x[ok])
    med = np.median(x)
    sd = 1.4826 * np.median(np.abs(x - med))
    sd = sd if sd > 0 else (x.std() or 1.0)
    return (x - med) / sd


def _weight(t: np.ndarray, episodes: np.ndarray, ramp_s: float) -> np.ndarray:
    w = np.zeros_like(t)
    for a, b in episodes:
        inside = (t >= a) & (t < b)
        up = np.clip((t - a) / ramp_s, 0, 1) if ramp_s > 0 else 1.0
        down = np.clip((b - t) / ramp_s, 0, 1) if ramp_s > 0 else 1.0
        ramp = 0.5 - 0.5 * np.cos(np.pi * np.minimum(up, down))
        w = np.where(inside, np.maximum(w, ramp), w)
    return w


def _surges(t: np.ndarray, arousal) -> np.ndarray:
    """Sum of planted heart-rate surges (bpm) at times ``t``."""
    out = np.zeros_like(t)
    for onset, dur, height in np.asarray(arousal, float).reshape(-1, 3):
        rise = 0.5 - 0.5 * np.cos(np.pi * np.clip((t - onset) / 5.0, 0, 1))
        decay = np.where(t > onset + dur, np.exp(-(t - onset - dur) / 8.0), 1.0)
        out += height * np.where(t >= onset, rise * decay, 0.0)
    return out


def _beats_from_hr(hr_bpm: np.ndarray, hr_fs: float, fs: float, n: int) -> np.ndarray:
    """Beat samples at every whole cycle of the integrated rate."""
    t = np.arange(n) / fs
    hr = np.interp(t, np.arange(hr_bpm.size) / hr_fs, hr_bpm)
    phase = np.cumsum(hr / 60.0) / fs
    # first beat a fraction into the record so it is not cut by the start
    phase += 0.3
    return np.flatnonzero(np.diff(np.floor(phase)) > 0).astype(np.int64) + 1


def ecg_from_hr(hr_bpm: np.ndarray, hr_fs: float, *, fs: float = 250.0, duration_s: float,
                noise_mv: float = 0.02, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """SIMULATED ECG (mV) whose beats follow ``hr_bpm``; returns (ecg, beat_samples)."""
    rng = np.random.default_rng(seed)
    n = round(duration_s * fs)
    beats = _beats_from_hr(hr_bpm, hr_fs, fs, n)
    ecg = np.zeros(n)
    # (offset s, width s, amplitude mV) of P, Q, R, S; T placed by the QT rule below
    waves = ((-0.17, 0.022, 0.12), (-0.03, 0.010, -0.12), (0.0, 0.011, 1.25),
             (0.03, 0.012, -0.3))
    half = int(0.7 * fs)
    k = np.arange(-half, half + 1)
    rr = np.diff(np.concatenate([[beats[0] - fs * 0.85], beats])) / fs if beats.size else []
    for s, r in zip(beats.tolist(), np.asarray(rr).tolist(), strict=True):
        tt = k / fs
        w = np.zeros_like(tt)
        for off, wid, amp in waves:
            w += amp * np.exp(-0.5 * ((tt - off) / wid) ** 2)
        w += 0.3 * np.exp(-0.5 * ((tt - 0.24 * math.sqrt(r)) / 0.045) ** 2)
        a, b = max(0, s - half), min(n, s + half + 1)
        ecg[a:b] += w[a - (s - half):b - (s - half)]
    t = np.arange(n) / fs
    ecg += 0.08 * np.sin(2 * np.pi * 0.25 * t + rng.uniform(0, 2 * np.pi))
    ecg += noise_mv * rng.standard_normal(n)
    return ecg, beats


def ppg_from_hr(hr_bpm: np.ndarray, hr_fs: float, *, fs: float = 100.0, duration_s: float,
                seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """SIMULATED PPG (au) whose pulses follow ``hr_bpm``; returns (ppg, peak_samples)."""
    rng = np.random.default_rng(seed)
    n = round(duration_s * fs)
    beats = _beats_from_hr(hr_bpm, hr_fs, fs, n)
    ppg = np.zeros(n)
    half = int(0.8 * fs)
    k = np.arange(-half, half + 1) / fs
    pulse = (np.exp(-0.5 * ((k - 0.0) / 0.09) ** 2)
             + 0.35 * np.exp(-0.5 * ((k - 0.3) / 0.12) ** 2))
    for s in beats.tolist():
        a, b = max(0, s - half), min(n, s + half + 1)
        ppg[a:b] += pulse[a - (s - half):b - (s - half)]
    t = np.arange(n) / fs
    ppg += 0.1 * np.sin(2 * np.pi * 0.2 * t) + 0.01 * rng.standard_normal(n)
    return ppg, beats


def resp_signal(*, duration_s: float, fs: float = 50.0, breath_rate_bpm: float = 14.0,
                seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """SIMULATED belt respiration (au, rises during inspiration); returns (resp, peaks)."""
    rng = np.random.default_rng(seed)
    n = round(duration_s * fs)
    rate = breath_rate_bpm * (1 + 0.12 * _band_noise(n, fs, (0.002, 0.03), rng))
    phase = np.cumsum(np.clip(rate, 3, 60) / 60.0) / fs + rng.uniform(0, 1)
    frac = phase % 1.0
    ti = 0.4
    # inhale: half cosine up over the first 40 % of the cycle, exhale down over the rest
    shape = np.where(frac < ti, 0.5 - 0.5 * np.cos(np.pi * frac / ti),
                     0.5 + 0.5 * np.cos(np.pi * (frac - ti) / (1 - ti)))
    amp = 1 + 0.1 * _band_noise(n, fs, (0.002, 0.05), rng)
    x = amp * shape + 0.02 * rng.standard_normal(n)
    cyc = np.floor(phase - ti)
    peaks = np.flatnonzero(np.diff(cyc) > 0).astype(np.int64) + 1
    return x, peaks


def simulate_follower(leader_hr_bpm: np.ndarray, *, hr_fs: float, duration_s: float,
                      lag_s: float = 1.5, episodes_s=((60.0, 120.0), (180.0, 240.0)),
                      coupling: float = 0.9, mean_hr_bpm: float = 68.0, sd_hr_bpm: float = 3.0,
                      own_band_hz: tuple[float, float] = (0.02, 0.4), ramp_s: float = 5.0,
                      fs: float = 250.0, resp: bool = True,
                      arousal=((140.0, 25.0, 15.0),), seed: int = 0) -> SimulatedPerson:
    """SIMULATED follower whose heart rate tracks the leader's in planted episodes.

    Parameters
    ----------
    leader_hr_bpm : ndarray
        Leader's heart rate (bpm) sampled at ``hr_fs`` from time 0 (NaN allowed:
        filled by interpolation).
    hr_fs : float
        Rate of ``leader_hr_bpm`` and of the returned ``hr_bpm`` (Hz).
    duration_s : float
        Length of the simulated recording (s).
    lag_s : float
        The follower lags the leader by this much (s) inside episodes.
    episodes_s : sequence of (start, end)
        Coupling episodes in seconds.
    coupling : float
        Correlation ``c`` of the fluctuations inside episodes (0..1).
    mean_hr_bpm, sd_hr_bpm : float
        Follower's mean heart rate and fluctuation spread.
    own_band_hz : (float, float)
        Band of the follower's own fluctuation.
    ramp_s : float
        Raised-cosine ramp at each episode edge.
    fs : float
        ECG sampling rate.
    resp : bool
        Also simulate a respiration belt at 50 Hz.
    arousal : sequence of (onset_s, duration_s, height_bpm)
        Planted heart-rate surges (see the module docs); ``()`` for none.
    seed : int
        Seed of every random draw.

    Returns
    -------
    SimulatedPerson
        With ``episodes_s``, ``lag_s`` and ``coupling`` as ground truth.
    """
    if not 0 <= coupling <= 1:
        raise ValueError(f"coupling must be in 0..1, got {coupling!r}")
    rng = np.random.default_rng(seed)
    n = math.ceil(duration_s * hr_fs)
    za = _standardise(np.asarray(leader_hr_bpm, float))
    t = np.arange(n) / hr_fs
    ta = np.arange(za.size) / hr_fs
    za_lag = np.interp(t - lag_s, ta, za)       # held at the ends
    own = _band_noise(n, hr_fs, own_band_hz, rng)
    eps = np.asarray(episodes_s, float).reshape(-1, 2)
    w = _weight(t, eps, ramp_s)
    coupled = coupling * za_lag + math.sqrt(1 - coupling ** 2) * own
    z = w * coupled + (1 - w) * own
    hr = mean_hr_bpm + sd_hr_bpm * z + _surges(t, arousal)
    ecg, beats = ecg_from_hr(hr, hr_fs, fs=fs, duration_s=duration_s,
                             seed=int(rng.integers(2 ** 31)))
    r = rp = None
    if resp:
        r, rp = resp_signal(duration_s=duration_s, fs=50.0, seed=int(rng.integers(2 ** 31)))
    return SimulatedPerson(ecg_mv=ecg, fs=fs, beat_samples=beats, hr_bpm=hr, hr_fs=hr_fs,
                           resp=r, resp_fs=50.0 if resp else 0.0,
                           breath_peaks=rp if rp is not None else np.zeros(0, np.int64),
                           episodes_s=eps, lag_s=float(lag_s), coupling=float(coupling),
                           arousal=np.asarray(arousal, float).reshape(-1, 3), seed=int(seed))


def simulate_dyad(*, duration_s: float = 300.0, lag_s: float = 1.5,
                  episodes_s=((60.0, 120.0), (180.0, 240.0)), coupling: float = 0.9,
                  fs: float = 250.0, seed: int = 0) -> tuple[SimulatedPerson, SimulatedPerson]:
    """Two SIMULATED people: a leader with band-limited heart-rate fluctuations and a follower.

    Returns
    -------
    (leader, follower) : tuple of SimulatedPerson
    """
    rng = np.random.default_rng(seed)
    hr_fs = 4.0
    n = math.ceil(duration_s * hr_fs)
    hr_a = 72.0 + 3.0 * _band_noise(n, hr_fs, (0.02, 0.4), rng)
    ecg, beats = ecg_from_hr(hr_a, hr_fs, fs=fs, duration_s=duration_s,
                             seed=int(rng.integers(2 ** 31)))
    r, rp = resp_signal(duration_s=duration_s, fs=50.0, breath_rate_bpm=12.0,
                        seed=int(rng.integers(2 ** 31)))
    leader = SimulatedPerson(ecg_mv=ecg, fs=fs, beat_samples=beats, hr_bpm=hr_a, hr_fs=hr_fs,
                             resp=r, resp_fs=50.0, breath_peaks=rp, seed=int(seed))
    follower = simulate_follower(hr_a, hr_fs=hr_fs, duration_s=duration_s, lag_s=lag_s,
                                 episodes_s=episodes_s, coupling=coupling, fs=fs,
                                 seed=int(rng.integers(2 ** 31)))
    return leader, follower
