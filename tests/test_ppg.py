"""PPG pulse detector (somacore.pulse, kernel somacore._core._ppg).

Real data: PhysioNet/CinC 2015 record a103l (PPG and ECG on one clock, read
with somacore's own WFDB reader) and the first two minutes of three CapnoBase
records (expert pulse-peak labels; evaluation-only data, read straight from
../shared/data and never copied into the repository).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pytest
from _records import DATA
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from somacore.beats import FLAG_AFTER_GAP, FLAG_UNCERTAIN, detect_beats
from somacore.pulse import PpgParams, ppg_kernel
from somacore.stream import BeatDetector

A103L_FS = 250.0


@lru_cache(maxsize=1)
def _a103l() -> tuple[np.ndarray, np.ndarray]:
    """(ECG lead II, PLETH) of a103l as read-only float64 arrays."""
    from somacore.io import read_wfdb

    r = read_wfdb(DATA / "multimodal" / "a103l")
    assert r.fs == A103L_FS
    names = list(r.sig_names)
    ecg = np.ascontiguousarray(r.signals[:, names.index("II")])
    ppg = np.ascontiguousarray(r.signals[:, names.index("PLETH")])
    ecg.flags.writeable = False
    ppg.flags.writeable = False
    return ecg, ppg


def _capnobase(rec: str) -> tuple[float, np.ndarray, np.ndarray]:
    """fs, 0-based expert peak labels and the PPG of one CapnoBase CSV."""
    lines = (DATA / "ppg" / "capnobase" / f"capnobase_{rec}.csv").read_text().splitlines()
    fs = float(lines[4])
    peaks = np.array(lines[7].split(","), float).astype(np.int64) - 1  # labels are 1-based
    sig = np.array(lines[10].split(","), float)
    return fs, peaks, sig


def _run(x: np.ndarray, fs: float, chunks=None, params: PpgParams | None = None):
    """Kernel output (peaks, quality, gaps, onsets), fed whole or in the given chunk sizes."""
    k = ppg_kernel(fs, params)
    parts = []
    if chunks is None:
        parts.append(k.process(x))
    else:
        i = 0
        for c in chunks:
            parts.append(k.process(x[i:i + c]))
            i += c
        parts.append(k.process(x[i:]))
    parts.append(k.flush())
    return (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]),
            np.concatenate([p[2] for p in parts]), np.concatenate([p[3] for p in parts]))


def _match(det: np.ndarray, ref: np.ndarray, tol: int) -> list[tuple[int, int]]:
    """One-to-one matching of detections to references within ``tol``, closest pairs first."""
    pairs = []
    for i, d in enumerate(det):
        lo, hi = np.searchsorted(ref, d - tol), np.searchsorted(ref, d + tol, "right")
        pairs += [(abs(int(ref[j]) - int(d)), i, j) for j in range(lo, hi)]
    used_d, used_r, out = set(), set(), []
    for _, i, j in sorted(pairs):
        if i not in used_d and j not in used_r:
            used_d.add(i)
            used_r.add(j)
            out.append((i, j))
    return out


# ------------------------------------------------------------ streaming == batch
def _with_gaps(ppg: np.ndarray) -> np.ndarray:
    x = ppg.copy()
    x[5_000:5_600] = np.nan      # lost samples
    x[20_000:20_400] = x[20_000]  # flat line
    return x


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.integers(1, 6_000), min_size=1, max_size=40), st.booleans())
def test_streaming_equals_batch(chunks, gaps):
    _, ppg = _a103l()
    x = _with_gaps(ppg) if gaps else ppg
    ref = _run(x, A103L_FS)
    got = _run(x, A103L_FS, chunks)
    for a, b in zip(ref, got, strict=True):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)


def test_fast_path_equals_general_path():
    # The kernel runs the usual two-section band-pass on a fast path (signal
    # pass over a segment, then the decision pass); any other cascade takes
    # the plain per-sample path. An identity section appended to the cascade
    # changes no value (y + 0), so both paths must give the same pulses, on a
    # record with lost samples, a flat line and clipping, in chunks that end
    # anywhere (inside and across the fast path's segments).
    from somacore._core._ppg import PpgKernel

    from somacore.pulse import _ppg_kernel_args

    _, ppg = _a103l()
    x = _with_gaps(ppg)
    x[40_000:40_300] = np.minimum(x[40_000:40_300], np.percentile(ppg, 90))
    args = list(_ppg_kernel_args(A103L_FS, PpgParams()))
    assert args[0].shape == (2, 5)
    slow_args = list(args)
    slow_args[0] = np.ascontiguousarray(np.vstack([args[0], [1.0, 0.0, 0.0, 0.0, 0.0]]))

    def run(kernel, cuts):
        parts, i = [], 0
        for c in [*cuts, x.size]:
            parts.append(kernel.process(x[i:c]))
            i = c
        parts.append(kernel.flush())
        return [np.concatenate([p[j] for p in parts]) for j in range(4)]

    rng = np.random.default_rng(5)
    cuts = [*rng.integers(0, x.size, 40).tolist(), x.size - 511, x.size - 1]
    fast = run(PpgKernel(*args), sorted(cuts))
    slow = run(PpgKernel(*slow_args), [])
    assert fast[0].size > 200 and fast[2].shape[0] >= 2
    for a, b in zip(fast, slow, strict=True):
        np.testing.assert_array_equal(a, b)


def test_v3_build_equals_baseline_build():
    # On Linux x86-64 the kernel is also built for x86-64-v3 and used when the
    # CPU runs it; that build must give exactly the baseline build's pulses.
    import importlib

    from somacore._core._ppg import PpgKernel

    from somacore._core import _cpu_has_v3
    from somacore.pulse import _ppg_kernel_args

    try:
        v3 = importlib.import_module("somacore._core._ppg_v3")
    except ImportError:
        pytest.skip("no x86-64-v3 build on this platform")
    if not _cpu_has_v3():
        pytest.skip("this CPU does not run x86-64-v3 code")
    _, ppg = _a103l()
    x = _with_gaps(ppg)
    args = _ppg_kernel_args(A103L_FS, PpgParams())
    a = _run_kernel(PpgKernel(*args), x)
    b = _run_kernel(v3.PpgKernel(*args), x)
    assert a[0].size > 200
    for u, v in zip(a, b, strict=True):
        np.testing.assert_array_equal(u, v)


def _run_kernel(kernel, x):
    parts = [kernel.process(x), kernel.flush()]
    return [np.concatenate([p[j] for p in parts]) for j in range(4)]


def test_sample_by_sample_equals_batch():
    _, ppg = _a103l()
    x = _with_gaps(ppg)[:30_000]
    ref = _run(x, A103L_FS)
    got = _run(x, A103L_FS, [1] * x.size)
    for a, b in zip(ref, got, strict=True):
        np.testing.assert_array_equal(a, b)
    assert ref[0].size > 50


def test_stream_detector_and_dtypes():
    _, ppg = _a103l()
    x = ppg[:15_000]
    ref = _run(x, A103L_FS)
    det = BeatDetector(fs=A103L_FS, kind="ppg")
    parts = [det.update(x[i:i + 997]) for i in range(0, x.size, 997)] + [det.flush()]
    beats = BeatDetector.concat(parts)
    np.testing.assert_array_equal(beats.samples, ref[0])
    np.testing.assert_array_equal(beats.onsets, ref[3])
    assert beats.kind == "ppg" and beats.interval_name == "PP"
    # float32, int16 and int32 are read in place and give the same result as
    # the same values in float64
    for dt, scale in ((np.float32, 1.0), (np.int16, 1e4), (np.int32, 1e6)):
        xi = (x * scale).astype(dt) if scale == 1.0 else np.round(x * scale).astype(dt)
        got = _run(xi, A103L_FS)
        want = _run(xi.astype(np.float64), A103L_FS)
        for a, b in zip(got, want, strict=True):
            np.testing.assert_array_equal(a, b)
        assert abs(got[0].size - ref[0].size) <= 1


def test_detect_beats_ppg():
    _, ppg = _a103l()
    x = ppg[:15_000]
    beats = detect_beats(x, fs=A103L_FS, kind="ppg")
    ref = _run(x, A103L_FS)
    np.testing.assert_array_equal(beats.samples, ref[0])
    np.testing.assert_array_equal(beats.onsets, ref[3])


@pytest.mark.parametrize("fs_new", [50.0, 1000.0, 10_000.0])
def test_sampling_rates(fs_new):
    """The same pulses at 50 Hz-10 kHz: every window is set in seconds."""
    from scipy.signal import resample_poly

    _, ppg = _a103l()
    x = ppg[:int(120 * A103L_FS)]
    ref = _run(x, A103L_FS)[0] / A103L_FS
    up, down = (1, 5) if fs_new == 50.0 else (int(fs_new // A103L_FS), 1)
    got = _run(resample_poly(x, up, down), fs_new)[0] / fs_new
    assert abs(got.size - ref.size) <= 2
    j = np.clip(np.searchsorted(got, ref), 1, got.size - 1)
    err = np.minimum(np.abs(got[j] - ref), np.abs(got[j - 1] - ref))
    assert np.mean(err <= max(1.0 / fs_new, 1.0 / A103L_FS) + 1e-9) >= 0.95
    assert np.mean(err <= 0.02) >= 0.99


# ------------------------------------------------------------------- bad input
def test_empty_input():
    s, q, g, o = _run(np.zeros(0), A103L_FS)
    assert s.shape == q.shape == o.shape == (0,) and g.shape == (0, 2)
    assert s.dtype == o.dtype == np.int64 and q.dtype == np.uint8 and g.dtype == np.int64


def test_nan_gap():
    _, ppg = _a103l()
    fs = A103L_FS
    x = ppg[:int(60 * fs)].copy()
    a, b = int(20 * fs), int(25 * fs)
    x[a:b] = np.nan
    s, q, g, o = _run(x, fs)
    np.testing.assert_array_equal(g, [[a, b]])
    assert not np.any((s >= a) & (s < b))
    assert not np.any((o >= a) & (o < b))
    after = s[s >= b]
    assert after.size > 0 and after[0] < b + 2 * fs          # pulses resume promptly
    assert q[s >= b][0] & FLAG_AFTER_GAP
    # ~2.1 beats/s in this record: the pulses on either side of the gap are all there
    assert np.sum(s < a) >= 38 and np.sum(s >= b) >= 65
    # and no interval spans the gap
    beats = BeatDetector(fs=fs, kind="ppg")
    res = BeatDetector.concat([beats.update(x), beats.flush()])
    iv = res.intervals
    k = int(np.searchsorted(res.samples, b))
    assert np.isnan(iv[k - 1])


def test_flat_line_gives_no_beats():
    fs = A103L_FS
    for level in (0.0, 0.5, -3.0):
        s, _, g, _ = _run(np.full(int(30 * fs), level), fs)
        assert s.size == 0
        np.testing.assert_array_equal(g, [[0, int(30 * fs)]])
    # a flat stretch inside a real record (sensor unplugged, value held)
    _, ppg = _a103l()
    x = ppg[:int(60 * fs)].copy()
    a, b = int(20 * fs), int(26 * fs)
    x[a:b] = x[a]
    s, _q, g, _o = _run(x, fs)
    assert not np.any((s >= a) & (s < b))
    assert any(ga <= a + 2 and gb >= b for ga, gb in g)


def test_saturation_gives_no_beats():
    fs = A103L_FS
    _, ppg = _a103l()
    x = ppg[:int(60 * fs)].copy()
    rail = x.max() + 0.2
    a, b = int(30 * fs), int(33 * fs)
    x[a:b] = rail                                     # probe saturates for 3 s
    s, _, g, _ = _run(x, fs)
    assert not np.any((s >= a - 0.1 * fs) & (s < b))
    assert any(ga <= a and gb >= b for ga, gb in g)
    # a rail that wobbles by an ADC step is still saturation
    x[a:b] = rail - 0.001 * (np.arange(b - a) % 2)
    s, _q, g, _o = _run(x, fs)
    assert not np.any((s >= a - 0.1 * fs) & (s < b))
    assert any(ga <= a and gb >= b for ga, gb in g)


def test_clipped_peaks_are_flagged():
    """An ADC rail below the highest pulses: their peaks are kept but flagged."""
    fs = A103L_FS
    _, ppg = _a103l()
    x = ppg[:int(60 * fs)]
    ref = _run(x, fs)[0]
    hi = int(ref[np.argmax(x[ref])])
    seg = x[hi - int(0.3 * fs):hi + int(0.3 * fs)]
    rail = np.sort(seg)[-int(0.18 * fs)]            # the highest pulse is cut for 0.18 s
    clipped = np.minimum(x, rail)
    s, q, g, _o = _run(clipped, fs)
    assert g.size == 0
    assert abs(s.size - ref.size) <= 1
    # length of the run at the rail that each peak sits on
    runs = np.array([np.sum(clipped[p:p + int(0.3 * fs)] == rail) if clipped[p] == rail else 0
                     for p in s])
    flagged = (q & FLAG_UNCERTAIN) != 0
    assert np.all(flagged[runs >= 0.1 * fs + 1])
    assert not np.any(flagged[runs == 0])
    assert flagged.sum() >= 1


def test_motion_artefact_is_not_a_pulse():
    fs = A103L_FS
    _, ppg = _a103l()
    x = ppg[:int(60 * fs)].copy()
    a, b = int(30 * fs), int(31.5 * fs)
    t = np.arange(b - a) / fs
    amp = 10 * np.ptp(x[:a])
    x[a:b] += amp * np.sin(np.pi * t / t[-1])          # one large slow movement
    s, q, _g, _o = _run(x, fs)
    inside = (s >= a) & (s < b)
    assert np.sum(inside) <= 1
    assert np.all(q[inside] & FLAG_UNCERTAIN)
    after = np.flatnonzero(s >= b)
    assert after.size and q[after[0]] & FLAG_UNCERTAIN
    # the band-pass rings for a moment after such a step; then detection is as before
    assert np.sum((s > b) & (s < b + 3 * fs)) >= 3
    clean = (s < a - 2 * fs) | (s > b + 3 * fs)
    assert np.all((q[clean] & FLAG_UNCERTAIN) == 0)
    ref = _run(ppg[:int(60 * fs)], fs)[0]
    np.testing.assert_array_equal(s[s > b + 3 * fs], ref[ref > b + 3 * fs])


# -------------------------------------------------------------------- accuracy
@pytest.mark.parametrize("rec", ["0009", "0015", "0016"])
def test_capnobase_excerpt_accuracy(data_dir, rec):
    fs, ref, sig = _capnobase(rec)
    n = int(120 * fs)
    s, _q, _g, o = _run(sig[:n], fs)
    edge = int(0.5 * fs)                                # pulses cut by the excerpt's end
    ref = ref[ref < n - edge]
    keep = s < n - edge
    s, o = s[keep], o[keep]
    m = _match(s, ref, round(0.15 * fs))
    tp = len(m)
    f1 = 2 * tp / (len(s) + len(ref))
    assert f1 >= 0.99, (rec, f1, len(s), len(ref))
    err = np.abs([int(s[i]) - int(ref[j]) for i, j in m]) / fs
    assert np.median(err) <= 0.010
    # the onset precedes its peak, by less than the onset window
    ok = o >= 0
    assert np.all(o[ok] < s[ok]) and np.all(s[ok] - o[ok] <= 0.5 * fs)


def test_a103l_pulse_follows_each_r_peak(data_dir):
    """Every ECG R peak has exactly one pulse peak after it (outside artefacts).

    The pulse peak of this record's PLETH comes 50-180 ms after the R peak of
    the same channel clock (median 108 ms: the monitor's pleth lags by about one
    beat), so the window is 40-440 ms rather than the usual 100-500 ms; at
    ~127 bpm (RR 0.47 s) a 400 ms window can hold at most one pulse.
    Artefacts (excluded): motion and pleth dropout at 164-180 s, ECG noise and
    pleth artefacts at 256.5-300 s, pleth saturation at 312.5-319.5 s.
    """
    ecg, ppg = _a103l()
    fs = A103L_FS
    r = detect_beats(ecg, fs=fs, kind="ecg").samples
    s, q, _g, o = _run(ppg, fs)
    excl = [(0.0, 1.0), (164.0, 180.0), (256.5, 300.0), (312.5, 319.5), (329.0, 330.0)]
    r = np.array([v for v in r if not any(a * fs <= v <= b * fs for a, b in excl)])
    assert r.size > 480
    assert np.all(np.diff(s) >= 0.3 * fs)            # min distance, sorted
    ok = o >= 0
    assert np.all(o[ok] < s[ok]) and np.all(o[1:][ok[1:]] > s[:-1][ok[1:]])
    lo = np.searchsorted(s, r + 0.04 * fs)
    hi = np.searchsorted(s, r + 0.44 * fs)
    count = hi - lo
    assert np.all(count <= 1)
    # the few R peaks without a pulse are premature beats with a barely visible pulse
    assert np.mean(count == 1) >= 0.96
    delay = (s[lo[count == 1]] - r[count == 1]) / fs
    assert 0.08 <= np.median(delay) <= 0.14
    # no uncertain flags or gaps in the clean parts
    clean = np.array([not any(a * fs <= v <= b * fs for a, b in excl) for v in s])
    assert np.mean((q[clean] & FLAG_UNCERTAIN) != 0) < 0.02


@pytest.mark.parametrize(("kw", "match"), [
    ({"peak_window_s": -0.1}, "PpgParams.peak_window_s must be a positive number"),
    ({"min_distance_s": float("inf")}, "PpgParams.min_distance_s"),
    ({"offset": -0.02}, "PpgParams.offset must be a number >= 0"),
    ({"band_hz": (8.0, 0.5)}, "PpgParams.band_hz must be a .low, high. pass band"),
    ({"climb_s": (0.3,)}, "PpgParams.climb_s must be two durations"),
    ({"climb_s": (0.3, -0.1)}, "PpgParams.climb_s"),
    ({"beat_window_s": 0.1}, "beat_window_s .0.1. must exceed peak_window_s"),
])
def test_ppg_params_reject_unusable_values(kw, match):
    with pytest.raises(ValueError, match=match):
        PpgParams(**kw)
