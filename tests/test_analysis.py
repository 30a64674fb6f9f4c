"""Session-analysis building blocks: parameters, arousal rule, synchrony step, tables."""

from __future__ import annotations

import numpy as np
import pytest

from somacore.analysis import ConfigError, detect_arousal, read_table, resolve_config
from somacore.analysis.config import DEFAULTS
from somacore.analysis.synchrony_step import _np_xcorr, pair_xcorr
from somacore.analysis.tables import Table, write_table


def test_config_precedence_and_types(tmp_path):
    toml = tmp_path / "p.toml"
    toml.write_text('[synchrony]\nwindow_s = 20\nmax_lag_s = 3.0\n[beats]\nkind = "ppg"\n')
    cfg = resolve_config(toml, [("synchrony.window_s", "25"), ("arousal.k", "3")])
    assert cfg["synchrony"]["window_s"] == 25.0          # --set wins over the file
    assert cfg["synchrony"]["max_lag_s"] == 3.0 and cfg["beats"]["kind"] == "ppg"
    assert cfg["arousal"]["k"] == 3.0 and isinstance(cfg["synchrony"]["n_surrogates"], int)
    assert DEFAULTS["synchrony"]["window_s"] == 30.0      # defaults untouched


@pytest.mark.parametrize("key, value, words", [
    ("beats.knd", "ecg", "unknown parameter"),
    ("nosection.x", "1", "unknown parameter"),
    ("beats.kind", "eeg", "one of"),
    ("synchrony.window_s", "abc", "number"),
    ("synchrony.max_lag_s", "40", "shorter than"),
    ("synchrony.n_surrogates", "2.5", "whole number"),
])
def test_config_rejects_bad_values(key, value, words):
    with pytest.raises(ConfigError, match=words):
        resolve_config(None, [(key, value)])


def test_config_rejects_bad_toml(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[synchrony\nwindow_s=")
    with pytest.raises(ConfigError, match="not valid TOML"):
        resolve_config(bad)
    with pytest.raises(ConfigError, match="does not exist"):
        resolve_config(tmp_path / "missing.toml")


def test_arousal_finds_a_planted_surge_and_its_recovery():
    fs = 4.0
    t = np.arange(int(600 * fs)) / fs
    rng = np.random.default_rng(1)
    hr = 70 + rng.normal(0, 1.0, t.size)
    surge = (t >= 200) & (t < 230)
    hr[surge] += 15
    decay = t >= 230
    hr[decay] += 15 * np.exp(-(t[decay] - 230) / 5)
    hr[400:404] = np.nan  # lost signal far from the surge
    ep = detect_arousal(hr, fs=fs, t0=10.0, min_duration_s=10, k=3)
    assert len(ep) == 1
    assert abs(ep.onset_s[0] - 210) < 1.0                 # t0 is added
    assert 235 < ep.end_s[0] < 250 and 210 <= ep.peak_s[0] <= 240
    assert 12 < ep.peak_excess_bpm[0] < 20
    assert 0 < ep.recovery_s[0] < 40
    assert 0.7 < ep.robust_sd_bpm < 1.3


def test_arousal_needs_minimum_duration_and_handles_flat_input():
    fs = 4.0
    hr = np.full(2400, 70.0)
    hr[1000:1020] = 100.0                                 # 5 s: too short for 10 s
    assert len(detect_arousal(hr + np.random.default_rng(0).normal(0, 1, hr.size), fs=fs)) == 0
    ep = detect_arousal(np.full(100, 70.0), fs=fs)        # zero spread: nothing, no crash
    assert len(ep) == 0


def _reference_peaks(X, fs, W, S, M, peak):
    from somacore._reference.synchrony import peak_boker, peak_max, xcorr_cube

    r, starts = xcorr_cube(X, W, S, M, [(0, 1)])
    span = max(1, round(0.1 * M))
    pk = [peak_boker(row, M, span) if peak == "boker" else peak_max(row, M) for row in r[0]]
    pr = np.array([r[0, k, m] if m >= 0 else np.nan for k, m in enumerate(pk)])
    pl = np.array([(m - M) / fs if m >= 0 else np.nan for m in pk])
    return starts / fs, pr, pl


@pytest.mark.parametrize("peak", ["boker", "max"])
def test_numpy_fallback_matches_the_reference_definition(peak):
    fs = 4.0
    rng = np.random.default_rng(3)
    a = np.convolve(rng.normal(size=700), np.ones(6) / 6, "same")
    b = np.roll(a, 6) + 0.5 * rng.normal(size=700)
    b[300:305] = np.nan
    X = np.stack([a, b])
    st, pr, pl, *_ = _np_xcorr(X, fs=fs, window_s=20, step_s=2, max_lag_s=4, peak=peak,
                               return_r=False)
    rs, rpr, rpl = _reference_peaks(X, fs, 80, 8, 16, peak)
    np.testing.assert_allclose(st, rs)
    np.testing.assert_allclose(pr, rpr, atol=1e-9, equal_nan=True)
    np.testing.assert_allclose(pl, rpl, equal_nan=True)


def test_pair_xcorr_detects_lag_and_thresholds():
    fs = 4.0
    rng = np.random.default_rng(5)
    a = np.convolve(rng.normal(size=2400), np.ones(16) / 16, "same")
    b = np.roll(a, 8) + 0.05 * rng.normal(size=2400)      # b follows a by 2 s
    s = pair_xcorr(a, b, fs=fs, window_s=30, step_s=2, max_lag_s=5, n_surrogates=20, seed=1)
    assert np.nanmedian(s.peak_lag_s) == pytest.approx(2.0)
    assert np.nanmean(s.peak_r) > s.threshold > 0 and s.p_value < 0.1
    assert s.r.shape == (s.peak_r.size, s.lags_s.size)
    again = pair_xcorr(a, b, fs=fs, window_s=30, step_s=2, max_lag_s=5, n_surrogates=20, seed=1)
    assert again.threshold == s.threshold                 # seeded: reproducible


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_tables_round_trip_with_units(tmp_path, fmt):
    if fmt == "parquet":
        pytest.importorskip("pyarrow")
    t = Table("beats", description="test")
    t.add("person", np.array(["A", "B"], dtype=object))
    t.add("time_s", np.array([0.5, np.nan]), "s")
    t.add("sample", np.array([180, 360]), "samples")
    path = write_table(t, tmp_path, fmt)
    back = read_table(path)
    assert list(back["person"]) == ["A", "B"]
    np.testing.assert_array_equal(back["sample"], [180, 360])
    assert back["time_s"][0] == 0.5 and np.isnan(back["time_s"][1])
    if fmt == "parquet":
        import pyarrow.parquet as pq

        schema = pq.read_schema(path)
        assert schema.field("time_s").metadata[b"unit"] == b"s"
        assert b"somacore.units" in schema.metadata
    else:
        assert "time_s=s" in path.read_text().splitlines()[1]


def test_fill_short_gaps_bridges_only_short_inner_runs():
    from somacore.analysis.pipeline import fill_short_gaps

    x = np.array([np.nan, 1.0, np.nan, np.nan, 4.0, np.nan, np.nan, np.nan, np.nan, 9.0, np.nan])
    y = fill_short_gaps(x, 2)
    np.testing.assert_allclose(y[1:5], [1, 2, 3, 4])
    assert np.isnan(y[0]) and np.isnan(y[5:9]).all() and np.isnan(y[-1])   # edges, long run
    assert np.isnan(x[2])                                                     # input untouched


def test_artifact_intervals_are_left_out_of_the_rate_series():
    import somacore
    from somacore.analysis.pipeline import PersonResult, _mark_artifacts
    from somacore.beats import Beats

    s = np.arange(10, 300) * 288                          # 0.8 s at 360 Hz
    s = np.sort(np.concatenate([s, [150 * 288 + 100]]))  # one extra beat
    b = Beats(samples=s, fs=360.0, kind="ecg", quality=np.zeros(s.size, np.uint8),
              n_samples=int(s[-1]) + 10)
    res = PersonResult("x", "", "")
    marked = _mark_artifacts(b, "lipponen2019", res)
    assert res.n_artifact_intervals >= 1
    assert np.array_equal(b.quality, np.zeros(s.size, np.uint8))   # original flags kept
    hr_raw = somacore.heart_rate(b, fs_out=4.0).values
    hr = somacore.heart_rate(marked, fs_out=4.0).values
    assert np.nanmax(hr_raw) > 150 and np.nanmax(hr) < 80
    assert _mark_artifacts(b, "none", res) is b
