"""The timed calls, one function per detector, shared by the pytest suites and speed_report.py.

Each function takes the input exactly as timed and returns the number of beats found, so that a
benchmark can check the detectors did comparable work. Everything a detector needs beyond the
raw signal (a pre-cleaned copy for the detectors documented to expect one) is prepared outside
the timed call and named in the function's docstring.

Reference calls
---------------
- sleepecg: ``sleepecg.detect_heartbeats(ecg, fs)`` (default ``backend="c"``, its fastest;
  includes its zero-phase band-pass ``scipy.signal.sosfiltfilt``).
- NeuroKit2 ECG: ``nk.ecg_peaks(ecg, sampling_rate=fs)`` on the raw signal (method
  ``"neurokit"``; no ``ecg_clean`` step).
- physiokit PPG: ``physiokit.ppg.find_peaks(data, sample_rate=fs)`` (physiokit 0.10; Elgendi
  2013 blocks of interest, then a Python loop over the candidate blocks). Its docstring says it
  "assumes input data is bandpass filtered with a lowcut of .5 Hz and a highcut of 8 Hz", so the
  detector-only case gets ``physiokit.ppg.clean(x, lowcut=0.5, highcut=8, sample_rate=fs)``
  prepared outside the timer; the pipeline case times ``clean`` + ``find_peaks`` together.
- NeuroKit2 PPG: ``nk.ppg_findpeaks(ppg_cleaned, sampling_rate=fs)`` (method ``"elgendi"``) on
  ``nk.ppg_clean(x, sampling_rate=fs)`` prepared outside the timer.

somacore always starts from the raw signal (its band-pass is inside the timed call).
"""

from __future__ import annotations

import numpy as np


def somacore_batch(x: np.ndarray, fs: float, kind: str = "ecg") -> int:
    """``somacore.detect_beats(x, fs=fs, kind=kind)`` on the raw signal."""
    import somacore

    return len(somacore.detect_beats(x, fs=fs, kind=kind))


def somacore_stream(x: np.ndarray, fs: float, chunk: int, kind: str = "ecg") -> int:
    """Feed ``x`` to a fresh ``BeatDetector`` in chunks of ``chunk`` samples, then flush."""
    from somacore.stream import BeatDetector

    det = BeatDetector(fs=fs, kind=kind)
    n = 0
    for i in range(0, x.shape[0], chunk):
        n += len(det.update(x[i:i + chunk]))
    return n + len(det.flush())


def somacore_stream_kernel_only(x: np.ndarray, fs: float, chunk: int) -> int:
    """Diagnostic: the compiled kernel's ``process`` per chunk, without ``BeatDetector``.

    The difference to :func:`somacore_stream` is the Python wrapper's cost per ``update``
    (input check, assembling a ``Beats`` object).
    """
    from somacore.beats import make_kernel

    k = make_kernel("ecg", fs=fs)
    n = 0
    for i in range(0, x.shape[0], chunk):
        n += len(k.process(x[i:i + chunk])[0])
    return n + len(k.flush()[0])


def sleepecg_ecg(x: np.ndarray, fs: float) -> int:
    """``sleepecg.detect_heartbeats(x, fs)`` (C backend)."""
    import sleepecg

    return len(sleepecg.detect_heartbeats(x, fs))


def neurokit_ecg(x: np.ndarray, fs: float) -> int:
    """``neurokit2.ecg_peaks(x, sampling_rate=fs)`` on the raw signal."""
    import neurokit2 as nk

    _, info = nk.ecg_peaks(x, sampling_rate=fs)
    return len(info["ECG_R_Peaks"])


def physiokit_clean(x: np.ndarray, fs: float) -> np.ndarray:
    """The 0.5-8 Hz band-pass physiokit's ``find_peaks`` expects (prepared untimed)."""
    import physiokit as pk

    return pk.ppg.clean(x, lowcut=0.5, highcut=8.0, sample_rate=fs)


def physiokit_ppg(x_clean: np.ndarray, fs: float) -> int:
    """``physiokit.ppg.find_peaks(x_clean, sample_rate=fs)`` on the pre-cleaned signal."""
    import physiokit as pk

    return len(pk.ppg.find_peaks(x_clean, sample_rate=fs))


def physiokit_ppg_pipeline(x: np.ndarray, fs: float) -> int:
    """physiokit from the raw signal: ``clean`` (0.5-8 Hz) then ``find_peaks``."""
    return physiokit_ppg(physiokit_clean(x, fs), fs)


def neurokit_clean(x: np.ndarray, fs: float) -> np.ndarray:
    """``nk.ppg_clean(x, sampling_rate=fs)`` (prepared untimed)."""
    import neurokit2 as nk

    return np.asarray(nk.ppg_clean(x, sampling_rate=fs))


def neurokit_ppg(x_clean: np.ndarray, fs: float) -> int:
    """``nk.ppg_findpeaks(x_clean, sampling_rate=fs)`` on the pre-cleaned signal."""
    import neurokit2 as nk

    return len(nk.ppg_findpeaks(x_clean, sampling_rate=fs)["PPG_Peaks"])


def somacore_has_ppg() -> str | None:
    """None if the installed somacore has its compiled PPG kernel, else the import error."""
    try:
        import somacore._core._ppg  # noqa: F401
    except ImportError as exc:
        return f"installed somacore lacks the compiled PPG kernel ({exc})"
    return None


def pedantic(benchmark, fn, *args, rounds: int, warmup: int, hours: float, fs: float,
             **kwargs) -> int:
    """Time ``fn(*args, **kwargs)`` with ``benchmark.pedantic`` (1 iteration per round).

    Records the beat count, input duration and rate in ``extra_info`` (shown in the JSON
    output of ``--benchmark-json``), plus the median seconds per hour of signal.
    """
    n = benchmark.pedantic(fn, args=args, kwargs=kwargs, rounds=rounds, iterations=1,
                           warmup_rounds=warmup)
    info = benchmark.extra_info
    info.update(beats=int(n), hours=hours, fs=fs, rounds=rounds)
    stats = getattr(benchmark, "stats", None)
    if stats is not None:  # None under --benchmark-disable
        info["median_s_per_hour"] = stats.stats.median / hours
    assert n > 0, "no beats detected: the benchmark input or the detector is broken"
    return n


# ------------------------------------------------------------------------- breaths
def somacore_breaths(x: np.ndarray, fs: float) -> int:
    """``segment_breaths`` (impedance) with every per-breath feature formed."""
    import somacore

    br = somacore.segment_breaths(x, fs=fs, sensor="impedance")
    for v in (br.ti, br.te, br.ttot, br.ti_ttot, br.rate, br.inhale_amplitude,
              br.exhale_amplitude, br.post_inspiratory_pause, br.post_expiratory_pause,
              br.intervals):
        np.asarray(v)
    return len(br)


def somacore_breaths_stream(x: np.ndarray, fs: float, chunk: int) -> int:
    """A fresh ``BreathSegmenter`` fed ``chunk`` samples at a time, then flushed."""
    from somacore.stream import BreathSegmenter

    seg = BreathSegmenter(fs=fs, sensor="impedance")
    n = 0
    for a in range(0, x.size, chunk):
        n += len(seg.update(x[a:a + chunk]))
    return n + len(seg.flush())


def biosppy_resp(x: np.ndarray, fs: float) -> int:
    """``biosppy.signals.resp.resp`` (band-pass + zero crossings + rate), no plots."""
    from biosppy.signals import resp

    return len(resp.resp(signal=x, sampling_rate=fs, show=False)["zeros"])


def neurokit_rsp(x: np.ndarray, fs: float) -> int:
    """``nk.rsp_process(x, sampling_rate=fs)``: NeuroKit2's full respiration pipeline."""
    import warnings

    import neurokit2 as nk

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, info = nk.rsp_process(x, sampling_rate=fs)
    return len(info["RSP_Peaks"])
