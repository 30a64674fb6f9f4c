"""Phase, group, concordance, surrogate and alignment measures vs slow references."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import scipy.signal

from somacore._reference import synchrony as ref
from somacore.synchrony import (
    align_series,
    analytic_signal,
    concordance,
    group_synchrony,
    local_slopes,
    phase_synchrony,
    pseudo_pairs,
    surrogate_test,
    windowed_xcorr,
)
from somacore.synchrony.surrogates import circular_shift, segment_shuffle

TOL = 1e-9


def _osc(p: int, n: int, fs: float, f0: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n) / fs
    ph = 2 * np.pi * f0 * t[None, :] + rng.uniform(0, 2 * np.pi, (p, 1)) \
        + 0.3 * rng.standard_normal((p, n)).cumsum(axis=1) / np.sqrt(n)
    return np.cos(ph) + 0.2 * rng.standard_normal((p, n))


# ------------------------------------------------------------------- phase
def test_analytic_signal_matches_scipy_hilbert():
    rng = np.random.default_rng(0)
    for n in (999, 1000):
        x = rng.standard_normal((2, n)) + 3.0
        z = analytic_signal(x, fs=10.0)
        assert np.max(np.abs(z - scipy.signal.hilbert(x, axis=-1))) < TOL
        assert np.max(np.abs(analytic_signal(x[0], fs=10.0) - ref.analytic(x[0]))) < TOL


@pytest.mark.parametrize("n", [997, 1000, 1024, 2310, 4096])
def test_band_analytic_signal_matches_full_fft_reference(n):
    # the split transforms (n = m * D) must equal one full-length transform, for
    # prime, odd and highly composite lengths
    fs = 8.0
    x = _osc(3, n, fs, 0.25, seed=n) + 5.0
    for band, taper in (((0.15, 0.4), None), ((0.2, 0.6), 0.0), ((1.0, 3.9), 0.3)):
        z = analytic_signal(x, fs=fs, band=band, taper_hz=taper)
        tw = 0.1 * (band[1] - band[0]) if taper is None else taper
        for p in range(3):
            want = ref.band_analytic(x[p], fs, band[0], band[1], tw)
            assert np.max(np.abs(z[p] - want)) < TOL * max(1.0, np.abs(want).max())


def test_band_split_is_a_divisor_covering_the_band():
    from somacore.synchrony.phase import _split

    for n, nb in ((921600, 900), (997, 10), (1000, 300), (2 * 3 * 5 * 7 * 11 * 13, 40)):
        m = _split(n, nb)
        assert n % m == 0 and m >= nb


def test_band_with_no_frequency_bin_is_an_error():
    with pytest.raises(ValueError, match="holds no frequency"):
        analytic_signal(np.random.default_rng(0).standard_normal(10), fs=1.0, band=(0.21, 0.29))


def test_plv_matches_loop_reference():
    fs = 8.0
    x = _osc(3, 1200, fs, 0.25, seed=1)
    res = phase_synchrony(x, fs=fs, band=(0.15, 0.4), window_s=20, step_s=2, return_phase=True)
    plv = ref.plv_windows(res.phase, 160, 16, res.pairs.tolist())
    assert res.plv.shape == plv.shape
    assert np.max(np.abs(res.plv - plv)) < TOL
    assert np.all((res.plv >= 0) & (res.plv <= 1))
    # the phase is the angle of the band-limited analytic signal
    z = analytic_signal(x, fs=fs, band=(0.15, 0.4))
    assert np.max(np.abs(np.angle(z) - res.phase)) < 1e-12


def test_plv_identical_and_shifted_signals():
    fs = 10.0
    t = np.arange(2000) / fs
    a = np.sin(2 * np.pi * 0.3 * t)
    res = phase_synchrony(a, np.sin(2 * np.pi * 0.3 * t - 1.0), fs=fs, band=(0.2, 0.45),
                          window_s=20, step_s=5)
    core = slice(2, -2)  # away from the record ends
    np.testing.assert_allclose(res.plv[0, core], 1.0, atol=1e-3)
    np.testing.assert_allclose(res.mean_phase_diff[0, core], 1.0, atol=1e-2)


def test_band_phasors_shared_by_plv_and_group_give_the_same_results():
    from somacore.synchrony import band_phasors

    fs = 8.0
    x = _osc(4, 1500, fs, 0.25, seed=11)
    x[2, 700:705] = np.nan
    bp = band_phasors(x, fs=fs, band=(0.15, 0.4))
    z = analytic_signal(x, fs=fs, band=(0.15, 0.4))
    ok = np.isfinite(x)
    # same angle (compared on the circle: -pi and pi are one phase)
    assert np.max(np.abs(np.exp(1j * bp.phase[ok]) - np.exp(1j * np.angle(z[ok])))) < 1e-9
    assert np.isnan(bp.phase[2, 700:705]).all()
    a = phase_synchrony(x, fs=fs, band=(0.15, 0.4), window_s=20, step_s=2, return_phase=True)
    b = phase_synchrony(bp, fs=fs, window_s=20, step_s=2, return_phase=True)
    np.testing.assert_array_equal(a.plv, b.plv)
    np.testing.assert_array_equal(a.phase, b.phase)
    g1 = group_synchrony(x, fs=fs, band=(0.15, 0.4), window_s=20, step_s=2)
    g2 = group_synchrony(bp, fs=fs, window_s=20, step_s=2)
    np.testing.assert_array_equal(g1.R, g2.R)
    np.testing.assert_array_equal(g1.rho_window, g2.rho_window)
    with pytest.raises(ValueError, match="differs from the phasors' band"):
        phase_synchrony(bp, fs=fs, band=(0.1, 0.3), window_s=20, step_s=2)
    with pytest.raises(ValueError, match="fs="):
        group_synchrony(bp, fs=4.0, window_s=20, step_s=2)
    with pytest.raises(ValueError, match=r"band=.*required"):
        phase_synchrony(x, fs=fs, window_s=20, step_s=2)


def test_band_too_wide_error_says_so():
    x = _osc(2, 500, 4.0, 0.25, seed=2)
    with pytest.raises(ValueError, match="too wide for a Hilbert phase"):
        phase_synchrony(x, fs=4.0, band=(0.04, 0.5), window_s=30, step_s=1)
    with pytest.raises(ValueError, match="fs/2"):
        phase_synchrony(x, fs=4.0, band=(0.5, 2.5), window_s=30, step_s=1)
    with pytest.raises(ValueError, match="one period"):
        phase_synchrony(x, fs=4.0, band=(0.1, 0.3), window_s=5, step_s=1)
    res = phase_synchrony(x, fs=4.0, band=(0.04, 0.5), window_s=30, step_s=1,
                          allow_broadband=True)
    assert np.isfinite(res.plv).all()


def test_plv_nan_windows_over_gaps():
    x = _osc(2, 800, 4.0, 0.25, seed=3)
    x[0, 400] = np.nan
    res = phase_synchrony(x, fs=4.0, band=(0.15, 0.4), window_s=20, step_s=2)
    starts = np.arange(res.plv.shape[1]) * 8
    hit = (starts <= 400) & (starts + 80 > 400)
    assert np.all(np.isnan(res.plv[0, hit])) and np.all(np.isfinite(res.plv[0, ~hit]))


# ------------------------------------------------------------------- group
@pytest.mark.parametrize("people", [3, 4, 5, 9])
def test_group_matches_reference_and_kuramoto(people):
    # 4 people run one fused pass; 3 are padded, 5 and 9 sum groups of four
    fs = 8.0
    x = _osc(people, 1000, fs, 0.25, seed=4)
    ph = np.angle(analytic_signal(x, fs=fs, band=(0.15, 0.4)))
    g = group_synchrony(ph, fs=fs, window_s=20, step_s=4, phases=True)
    R = np.abs(np.exp(1j * ph).mean(axis=0))
    assert np.max(np.abs(g.R - R)) < TOL
    assert np.max(np.abs(g.R_window - ref.kuramoto_windows(ph, 160, 32))) < TOL
    rg, rgm, rho_i = ref.cluster_phase(ph)
    assert np.max(np.abs(g.rho_group_t - rg)) < TOL
    assert abs(g.rho_group - rgm) < TOL
    assert np.max(np.abs(g.rho_i - rho_i)) < TOL
    win = np.array([ref.cluster_phase(ph[:, a:a + 160])[1]
                    for a in range(0, 1000 - 160 + 1, 32)])
    assert np.max(np.abs(g.rho_window - win)) < TOL
    # from raw series with a band: same as computing the phase first
    g2 = group_synchrony(x, fs=fs, window_s=20, step_s=4, band=(0.15, 0.4))
    assert np.max(np.abs(g2.R - g.R)) < 1e-12


@pytest.mark.parametrize("W, S", [(160, 32), (150, 40), (97, 13), (40, 100), (600, 1)])
def test_group_windows_and_gaps_match_reference(W, S):
    # window/step layouts that cut the kernels' time tiles anywhere (step not dividing
    # the window, step longer than the window, one-sample step), with a gap: windows
    # that touch it are NaN, the others equal the reference on the window alone
    fs = 8.0
    N = 1300
    x = _osc(4, N, fs, 0.25, seed=W + S)
    ph = np.angle(analytic_signal(x, fs=fs, band=(0.15, 0.4)))
    ph[1, 611:614] = np.nan
    g = group_synchrony(ph, fs=fs, window_s=W / fs, step_s=S / fs, phases=True)
    starts = np.arange((N - W) // S + 1) * S
    gap = (starts <= 613) & (starts + W > 611)
    assert gap.any() and (~gap).any()
    assert np.isnan(g.R[611:614]).all() and np.isfinite(np.delete(g.R, [611, 612, 613])).all()
    assert np.isnan(g.R_window[gap]).all() and np.isnan(g.rho_window[gap]).all()
    R = np.abs(np.exp(1j * ph).mean(axis=0))
    want_R = np.array([R[a:a + W].mean() for a in starts[~gap]])
    want_rho = np.array([ref.cluster_phase(ph[:, a:a + W])[1] for a in starts[~gap]])
    assert np.max(np.abs(g.R_window[~gap] - want_R)) < TOL
    assert np.max(np.abs(g.rho_window[~gap] - want_rho)) < TOL
    # no record-wide cluster phase over a gap
    assert g.rho_group_t is None and np.isnan(g.rho_group)


def test_group_two_people_has_no_rho_and_errors():
    ph = np.zeros((2, 200))
    g = group_synchrony(ph, fs=1.0, window_s=50, step_s=10, phases=True)
    np.testing.assert_allclose(g.R, 1.0)
    assert g.rho_window is None and np.isnan(g.rho_group)
    with pytest.raises(ValueError, match="band"):
        group_synchrony(np.zeros((3, 200)), fs=1.0, window_s=50, step_s=10)
    with pytest.raises(ValueError, match="at least 2"):
        group_synchrony(np.zeros((1, 200)), fs=1.0, window_s=50, step_s=10, phases=True)


# -------------------------------------------------------------- concordance
def test_local_slopes_match_polyfit():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 403)).cumsum(axis=1)
    sl = local_slopes(x, fs=4.0, window_s=5.0, step_s=1.0)
    for p in range(2):
        np.testing.assert_allclose(sl[p], ref.local_slopes(x[p], 20, 4) * 4.0, rtol=0,
                                   atol=1e-9)


def test_marci_index_by_hand():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 1200)).cumsum(axis=1)
    x[1] += 0.5 * x[0]
    c = concordance(x, fs=4.0)
    sl = np.vstack([ref.local_slopes(x[p], 20, 20) * 4.0 for p in range(2)])
    r = np.array([np.corrcoef(sl[0, k:k + 3], sl[1, k:k + 3])[0, 1]
                  for k in range(sl.shape[1] - 2)])
    assert np.max(np.abs(c.r[0] - r)) < TOL
    want = np.log(r[r > 0].sum() / -r[r < 0].sum())
    assert abs(c.index[0] - want) < TOL
    same = np.sign(sl[0]) == np.sign(sl[1])
    assert abs(c.local_slope_concordance[0] - (2 * same.sum() - same.size) / same.size) < TOL
    assert c.index[0] > 0


def test_concordance_identical_and_opposite():
    rng = np.random.default_rng(7)
    a = rng.standard_normal(800).cumsum()
    assert concordance(a, a, fs=4.0).local_slope_concordance[0] == 1.0
    assert concordance(a, -a, fs=4.0).local_slope_concordance[0] == -1.0
    assert concordance(a, a, fs=4.0).index[0] == np.inf


# --------------------------------------------------------------- surrogates
def test_surrogate_generators_keep_values():
    rng = np.random.default_rng(8)
    x = rng.standard_normal((3, 101))
    cs = circular_shift(x, np.random.default_rng(1), 10)
    np.testing.assert_array_equal(cs[0], x[0])
    for i in (1, 2):
        k = [s for s in range(101) if np.array_equal(np.roll(x[i], s), cs[i])]
        assert len(k) == 1 and 10 <= k[0] <= 91
    ss = segment_shuffle(x, np.random.default_rng(1), 20)
    for i in (1, 2):
        np.testing.assert_array_equal(np.sort(ss[i]), np.sort(x[i]))


def test_surrogate_test_detects_coupling_and_stats():
    rng = np.random.default_rng(9)
    base = np.convolve(rng.standard_normal(1300), np.ones(8) / 8, mode="same")
    x = np.vstack([base[5:1205], base[:1200] + 0.3 * rng.standard_normal(1200)])

    def measure(v):
        return windowed_xcorr(v, fs=4.0, window_s=30, step_s=5,
                              max_lag_s=3).summary().mean_peak_r

    st = surrogate_test(x, measure, fs=4.0, n=19, seed=1)
    assert st.null.shape == (19, 1)
    assert st.p_value[0] == pytest.approx(1 / 20)
    z = np.arctanh(st.null[:, 0])
    assert st.effect[0] == pytest.approx(np.arctanh(st.observed[0]) - z.mean())
    assert st.effect_sd[0] == pytest.approx(st.effect[0] / z.std(ddof=1))
    st2 = surrogate_test(x, measure, fs=4.0, n=19, seed=1)
    np.testing.assert_array_equal(st.null, st2.null)  # seeded: reproducible
    # threads measure the same surrogates: the null does not depend on n_jobs
    st4 = surrogate_test(x, measure, fs=4.0, n=19, seed=1, n_jobs=3)
    np.testing.assert_array_equal(st.null, st4.null)
    # and the surrogates are the ones the public generators draw from the same seed
    g = np.random.default_rng(1)
    want = [measure(circular_shift(x, g, 120)) for _ in range(19)]
    np.testing.assert_array_equal(st.null, np.array(want))
    with pytest.raises(ValueError, match="n_jobs"):
        surrogate_test(x, measure, fs=4.0, n=3, n_jobs=0)
    st3 = surrogate_test(x, measure, fs=4.0, n=9, seed=2, method="segment_shuffle",
                         segment_s=30)
    assert st3.null.shape == (9, 1)
    with pytest.raises(ValueError, match="method"):
        surrogate_test(x, measure, fs=4.0, method="repair")


def test_pseudo_pairs():
    rng = np.random.default_rng(10)
    dyads = []
    for _ in range(3):
        b = rng.standard_normal(400)
        dyads.append(np.vstack([b, b + 0.5 * rng.standard_normal(400)]))

    def measure(v):
        return np.corrcoef(v)[0, 1]

    st = pseudo_pairs(dyads, measure)
    assert st.null.shape == (6,)
    assert st.observed > 0.8 and np.all(np.abs(st.null) < 0.3)
    assert st.p_value == pytest.approx(1 / 7)


# -------------------------------------------------------------------- align
def test_align_timestamps_offsets_and_gaps():
    fs_a, fs_b = 4.0, 5.0
    ta = 1000.0 + np.arange(400) / fs_a
    tb = 1003.0 + np.arange(480) / fs_b
    f = lambda t: np.sin(0.1 * t)  # noqa: E731
    a, b = f(ta), f(tb)
    b[100] = np.nan
    al = align_series([a, b], fs=2.0, timestamps=[ta, tb])
    assert al.t0 == 1003.0
    tt = al.times
    assert tt[-1] <= min(ta[-1], tb[-1]) + 1e-9
    ok = np.isfinite(al.values)
    assert np.max(np.abs(al.values[ok] - np.broadcast_to(f(tt), al.values.shape)[ok])) < 1e-3
    near = np.abs(tt - tb[100]) < 1 / fs_b
    assert np.all(np.isnan(al.values[1, near]))
    # fs_in/t0 path and HeartRate objects; offsets shift the clock
    hr = SimpleNamespace(values=a, fs=fs_a, t0=0.0)  # duck-typed like HeartRate
    al2 = align_series([hr, b], fs=2.0, fs_in=[None, fs_b], t0=[None, 3.0])
    assert al2.values.shape[1] == al.values.shape[1]
    np.testing.assert_allclose(al2.values, al.values, atol=1e-9, equal_nan=True)
    al3 = align_series([a, b], fs=2.0, timestamps=[ta, tb], offsets_s=[0.0, -3.0])
    assert al3.t0 == 1000.0
    # a recording pause is not bridged
    tc = np.concatenate([ta[:100], ta[200:]])
    al4 = align_series([a[np.r_[0:100, 200:400]], f(ta)], fs=2.0, timestamps=[tc, ta])
    assert np.isnan(al4.values[0, (al4.times > ta[100]) & (al4.times < ta[199])]).all()


def test_align_errors():
    with pytest.raises(ValueError, match="timestamps"):
        align_series([np.zeros(10), np.zeros(10)], fs=1.0, timestamps=[np.arange(9), None],
                     fs_in=[1.0, 1.0])
    with pytest.raises(ValueError, match="no timing"):
        align_series([np.zeros(10), np.zeros(10)], fs=1.0)
    with pytest.raises(ValueError, match="do not overlap"):
        align_series([np.zeros(10), np.zeros(10)], fs=1.0, fs_in=[1.0, 1.0], t0=[0.0, 100.0])
    with pytest.raises(ValueError, match="strictly increasing"):
        align_series([np.zeros(3), np.zeros(3)], fs=1.0,
                     timestamps=[np.array([0.0, 2.0, 1.0]), np.arange(3.0)])
    with pytest.raises(ValueError, match="at least two"):
        align_series([np.zeros(3)], fs=1.0)
