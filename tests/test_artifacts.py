"""Tests of the Lipponen & Tarvainen (2019) interval artefact detection/correction.

References are written here as plain loops straight from the paper's
definitions; the planted-artefact tests know the truth because they built it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from somacore.artifacts import (
    ARTIFACT_KINDS,
    _rolling_quantiles,
    correct_intervals,
    detect_interval_artifacts,
)

MITDB = Path("/work/shared/data/ecg/mitdb")


def clean_rr(n: int, seed: int) -> np.ndarray:
    """Realistic sinus RR (s): RSA at 0.25 Hz, a 0.1 Hz wave, 8 ms white noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) * 0.8
    return (0.8 + 0.035 * np.sin(2 * np.pi * 0.25 * t + rng.uniform(0, 6))
            + 0.025 * np.sin(2 * np.pi * 0.1 * t + rng.uniform(0, 6))
            + rng.normal(0, 0.008, n))


def plant(rr: np.ndarray) -> tuple[np.ndarray, dict[str, int], np.ndarray]:
    """Plant one artefact of each class; return series, expected indices and the truth.

    ``truth`` is the clean series aligned with the *corrected* output (same
    length as the input ``rr``), so a perfect correction returns it.
    """
    rr = rr.copy()
    out: list[float] = []
    where: dict[str, int] = {}
    i = 0
    while i < rr.size:
        if i == 100:                        # missed beat: two intervals merged
            where["missed"] = len(out)
            out.append(rr[i] + rr[i + 1])
            i += 2
            continue
        if i == 200:                        # extra beat: one interval split 40/60
            where["extra"] = len(out)
            out += [0.4 * rr[i], 0.6 * rr[i]]
            i += 1
            continue
        if i == 300:                        # premature beat + compensatory pause
            where["ectopic"] = len(out) + 1  # detected at the interval after the beat
            out += [0.65 * rr[i], rr[i + 1] + 0.35 * rr[i]]
            i += 2
            continue
        if i == 400:                        # isolated long interval (late detection)
            where["long"] = len(out)
            out.append(1.45 * rr[i])
            i += 1
            continue
        if i == 500:                        # isolated short interval
            where["short"] = len(out)
            out.append(0.6 * rr[i])
            i += 1
            continue
        out.append(rr[i])
        i += 1
    return np.asarray(out), where, rr


# ---------------------------------------------------------------------------
# plain-loop references
# ---------------------------------------------------------------------------

def ref_quantile(v: list[float], q: float) -> float:
    """Linear-interpolation quantile, as in numpy's default and pandas."""
    s = sorted(v)
    pos = q * (len(s) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (pos - lo) * (s[hi] - s[lo])


def ref_subspaces(rr: list[float], alpha=5.2, floor=0.02):
    n = len(rr)
    drr = [0.0] + [rr[i] - rr[i - 1] for i in range(1, n)]
    th1 = []
    for i in range(n):
        w = [abs(drr[j]) for j in range(max(0, i - 45), min(n, i + 46))]
        th1.append(max(alpha * (ref_quantile(w, 0.75) - ref_quantile(w, 0.25)) / 2, floor))
    s11 = [drr[i] / th1[i] for i in range(n)]
    s12, s22 = [], []
    for i in range(n):
        nb = [s11[j] for j in (i - 1, i + 1) if 0 <= j < n]
        if s11[i] > 0:
            s12.append(max(nb))
        elif s11[i] < 0:
            s12.append(min(nb))
        else:
            s12.append(0.0)
        nb2 = [s11[j] for j in (i + 1, i + 2) if j < n]
        if not nb2:
            s22.append(0.0)
        elif s11[i] >= 0:
            s22.append(min(nb2))
        else:
            s22.append(max(nb2))
    med = [ref_quantile(rr[max(0, i - 5):i + 6], 0.5) for i in range(n)]
    mrr = [rr[i] - med[i] for i in range(n)]
    mrr = [2 * m if m < 0 else m for m in mrr]
    th2 = []
    for i in range(n):
        w = [abs(mrr[j]) for j in range(max(0, i - 45), min(n, i + 46))]
        th2.append(max(alpha * (ref_quantile(w, 0.75) - ref_quantile(w, 0.25)) / 2, floor))
    return (np.array(s11), np.array(s12), np.array(s22),
            np.array([mrr[i] / th2[i] for i in range(n)]), np.array(th1), np.array(th2),
            np.array(med))


# ---------------------------------------------------------------------------
# detection internals against the references
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("n", [1, 5, 11, 91, 92, 300])
@pytest.mark.parametrize("window", [11, 91])
def test_rolling_quantiles_match_loop(n, window):
    x = np.random.default_rng(n + window).normal(size=n)
    got = _rolling_quantiles(x, window, (0.25, 0.5, 0.75))
    h = window // 2
    for i in range(n):
        w = list(x[max(0, i - h):i + h + 1])
        for k, q in enumerate((0.25, 0.5, 0.75)):
            assert got[k, i] == pytest.approx(ref_quantile(w, q), abs=1e-12)


def test_subspaces_match_paper_definitions():
    rr, _, _ = plant(clean_rr(700, seed=3))
    rep = detect_interval_artifacts(rr)
    s11, s12, s22, mrr, th1, th2, med = ref_subspaces(list(rr))
    np.testing.assert_allclose(rep.s11, s11, atol=1e-9)
    np.testing.assert_allclose(rep.s12, s12, atol=1e-9)
    np.testing.assert_allclose(rep.s22, s22, atol=1e-9)
    np.testing.assert_allclose(rep.mrr, mrr, atol=1e-9)
    np.testing.assert_allclose(rep.threshold1_s, th1, atol=1e-12)
    np.testing.assert_allclose(rep.threshold2_s, th2, atol=1e-12)
    np.testing.assert_allclose(rep.median_rr_s, med, atol=1e-12)


# ---------------------------------------------------------------------------
# planted artefacts
# ---------------------------------------------------------------------------

def _touched_rule(rep) -> np.ndarray:
    """The documented 'touched' rule, applied to the report's own detections."""
    t = np.zeros(rep.n_intervals, bool)
    for i, k in zip(rep.index.tolist(), rep.kind.tolist(), strict=True):
        t[i] = True
        if k == "ectopic":
            t[i - 1] = True
        if k == "extra":
            t[i + 1] = True
    return t


@pytest.mark.parametrize("seed", range(8))
def test_planted_artifacts_are_found_and_classified(seed):
    rr, where, _ = plant(clean_rr(700, seed))
    rep = detect_interval_artifacts(rr)
    labels = rep.labels
    # missed, extra and ectopic beats have unambiguous signatures: exact class
    for kind in ("missed", "extra", "ectopic"):
        assert labels[where[kind]] == kind, (kind, where[kind], rep.index, rep.kind)
    # an isolated long / short interval is a late / early beat whose dRR pattern
    # can also cross the ectopic boundary (both get interpolated): detected either way
    assert labels[where["long"]] in ("long", "ectopic"), (rep.index, rep.kind)
    assert labels[where["short"]] in ("short", "ectopic"), (rep.index, rep.kind)
    # the short interval before an ectopic beat belongs to that ectopic beat
    # (both are corrected); it is not reported again as "short"
    assert labels[where["ectopic"] - 1] != "short", (rep.index, rep.kind)
    # Nothing away from the planted artefacts. Right next to one, the subspace
    # rules may legitimately fire a second time (e.g. the normal interval after
    # a long one has S22 = max of the next two dRRs, which noise can push past
    # 1); NeuroKit2's implementation flags those too.
    planted = np.array(sorted(where.values()))
    dist = np.abs(rep.index[:, None] - planted[None, :]).min(axis=1)
    assert dist.max() <= 1, (rep.index, rep.kind)
    assert rep.n_artifacts <= len(where) + 3
    np.testing.assert_array_equal(rep.touched, _touched_rule(rep))
    # implicated beats
    beat = dict(zip(rep.index.tolist(), rep.beat_index.tolist(), strict=True))
    assert beat[where["ectopic"]] == where["ectopic"]
    assert beat[where["extra"]] == where["extra"] + 1
    assert beat[where["missed"]] == where["missed"]


@pytest.mark.parametrize("seed", range(8))
def test_planted_artifacts_are_corrected(seed):
    rr, where, truth = plant(clean_rr(700, seed))
    fixed, rep = correct_intervals(rr)
    # one missed (+1) and one extra (-1): the corrected series realigns with the truth
    assert fixed.size == truth.size == rr.size
    err = np.abs(fixed - truth)
    # Split halves and interpolated values differ from the truth only by the
    # true beat-to-beat variability (RSA of +-35 ms here); every planted
    # artefact is >= 0.35 * 0.75 s = 0.26 s off before correction.
    assert err.max() < 0.1, (err.argmax(), err.max())
    assert np.median(err) == 0.0  # untouched intervals are returned unchanged
    # source maps every corrected interval back to its input interval
    assert rep.source.size == fixed.size
    assert np.all(np.diff(rep.source) >= 0)
    m = where["missed"]
    assert list(rep.source[m:m + 2]) == [m, m]
    e = where["extra"]
    assert fixed[e + 1] == pytest.approx(truth[e + 1])  # merged pair == original interval


def test_merge_and_split_preserve_elapsed_time():
    rr = clean_rr(400, seed=9)
    bad = rr.copy()
    bad[150] = rr[150] + rr[151]  # missed
    bad = np.delete(bad, 151)
    bad = np.insert(bad, 300, 0.3 * bad[300])  # extra: split 30/70
    bad[301] *= 0.7
    fixed, rep = correct_intervals(bad)
    assert rep.counts == {"ectopic": 0, "missed": 1, "extra": 1, "long": 0, "short": 0}
    assert fixed.sum() == pytest.approx(bad.sum(), abs=1e-12)


def test_corrected_beat_times_stay_on_the_real_beats():
    """The time axis used for the spectrum: the end time of every corrected
    interval is a real beat time (or the inserted mid-point of a split)."""
    from somacore.artifacts import _correct_with_times

    rr = clean_rr(300, seed=2)
    rr[100] = rr[100] + rr[101]                  # missed
    rr = np.delete(rr, 101)
    rr = np.insert(rr, 200, 0.35 * rr[200])      # extra
    rr[201] *= 0.65
    t = np.cumsum(rr)
    fixed, times, rep = _correct_with_times(rr, t)
    assert rep.counts["missed"] == 1 and rep.counts["extra"] == 1 and rep.n_artifacts == 2
    assert times.size == fixed.size
    # no interpolation here, so successive end times differ by exactly the intervals
    np.testing.assert_allclose(np.diff(times), fixed[1:], atol=1e-12)
    assert times[-1] == pytest.approx(t[-1])
    assert times[100] == pytest.approx(t[100] - rr[100] / 2)  # inserted beat


@given(pos=st.integers(0, 298), seed=st.integers(0, 10_000))
@settings(max_examples=60, deadline=None)
def test_property_single_missed_beat_is_found(pos, seed):
    clean = clean_rr(300, seed)
    rr = np.concatenate((clean[:pos], [clean[pos] + clean[pos + 1]], clean[pos + 2:]))
    rep = detect_interval_artifacts(rr)
    assert pos in rep.indices("missed")
    fixed, _ = correct_intervals(rr)
    assert fixed.size == rr.size + rep.counts["missed"] - rep.counts["extra"]
    assert fixed[pos] == fixed[pos + 1] == pytest.approx(rr[pos] / 2)


# ---------------------------------------------------------------------------
# gaps, edges, validation
# ---------------------------------------------------------------------------

def test_gaps_split_the_series_and_are_never_bridged():
    rr = clean_rr(400, seed=4)
    rr[150:153] = np.nan
    rr[154] *= 2.0  # missed beat just after the gap
    fixed, rep = correct_intervals(rr)
    assert list(rep.indices("missed")) == [154]
    assert fixed.size == rr.size + 1
    np.testing.assert_array_equal(np.flatnonzero(np.isnan(fixed)), [150, 151, 152])
    assert np.all(np.isnan(rep.s11[150:153]))
    # the stretch after the gap is analysed on its own: its first dRR is 0 (undefined)
    assert rep.s11[153] == 0.0


def test_tiny_stretches_are_left_alone():
    fixed, rep = correct_intervals([0.8, 1.6, np.nan, 0.8, 0.4])
    assert rep.n_artifacts == 0
    np.testing.assert_array_equal(fixed, [0.8, 1.6, np.nan, 0.8, 0.4])


def test_constant_series_with_floor_and_without():
    rr = np.full(120, 0.75)
    rr[60] = 1.5
    assert list(detect_interval_artifacts(rr).indices("missed")) == [60]
    # bare algorithm: QD = 0 everywhere -> zero threshold flags nothing (as NeuroKit2)
    assert detect_interval_artifacts(rr, min_threshold_s=0.0).n_artifacts == 0


def test_input_not_modified_and_labels():
    rr, where, _ = plant(clean_rr(700, seed=1))
    before = rr.copy()
    _, rep = correct_intervals(rr)
    np.testing.assert_array_equal(rr, before)
    lab = rep.labels
    assert lab[where["ectopic"]] == "ectopic" and lab[0] == ""
    assert set(rep.counts) == set(ARTIFACT_KINDS)
    with pytest.raises(ValueError):
        rep.indices("bogus")
    with pytest.raises(ValueError):
        rep.touched[0] = True  # frozen arrays


@pytest.mark.parametrize("bad, match", [
    (np.full(50, 800.0), "seconds"),
    (np.array([0.8, -0.1, 0.8]), "positive"),
    (np.array([0.8, np.inf, 0.8]), "NaN"),
    (np.ones((3, 3)), "1-D"),
    ("abc", "1-D array"),
])
def test_invalid_input_raises_helpfully(bad, match):
    with pytest.raises(ValueError, match=match):
        correct_intervals(bad)


def test_invalid_parameters():
    with pytest.raises(ValueError, match="alpha"):
        detect_interval_artifacts([0.8] * 10, alpha=0)
    with pytest.raises(ValueError, match="min_threshold_s"):
        detect_interval_artifacts([0.8] * 10, min_threshold_s=20)


# ---------------------------------------------------------------------------
# real RR (MIT-BIH record 100: 2239 N, 33 A, 1 V)
# ---------------------------------------------------------------------------

def _record_100():
    wfdb = pytest.importorskip("wfdb")
    if not (MITDB / "100.atr").exists():
        pytest.skip("MIT-BIH record 100 not available")
    ann = wfdb.rdann(str(MITDB / "100"), "atr")
    sym = np.asarray(ann.symbol)
    keep = sym != "+"  # rhythm annotation, not a beat
    return ann.sample[keep].astype(np.int64), sym[keep], float(ann.fs)


def test_real_sinus_rr_is_left_almost_untouched():
    samples, sym, fs = _record_100()
    rr = np.diff(samples) / fs
    # remove every interval within two beats of an annotated non-normal beat
    bad = np.flatnonzero(sym != "N")
    mask = np.zeros(rr.size, bool)
    for b in bad:
        mask[max(0, b - 3):b + 2] = True
    rr[mask] = np.nan
    n_valid = int(np.isfinite(rr).sum())
    assert n_valid > 2000
    _, rep = correct_intervals(rr)
    assert rep.n_touched <= 0.005 * n_valid, (rep, rep.index)
    assert rep.counts["missed"] == rep.counts["extra"] == 0


def test_real_premature_beats_are_found_as_ectopic():
    samples, sym, fs = _record_100()
    rep = detect_interval_artifacts(np.diff(samples) / fs)
    premature = np.flatnonzero((sym == "A") | (sym == "V"))  # beat indices
    found = np.isin(premature, rep.indices("ectopic"))  # ectopic index == misplaced beat
    assert found.sum() >= 30, premature[~found]
    # and few detections away from annotated beats
    near = np.zeros(samples.size, bool)
    for b in premature:
        near[max(0, b - 2):b + 3] = True
    far = ~near[rep.index]
    assert far.sum() <= 12, rep.index[far]
