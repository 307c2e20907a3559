"""The experiment statistics agree with scipy and statsmodels to 1e-6 on fixtures, and the sums add."""

import math

import numpy as np
import pytest
import statsmodels.api as sm
from scipy import stats as st
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportions_ztest

from liveops.stats import Moments, adjust, compare, mde_for, msprt, permutation_p, sample_size, srm

RNG = np.random.default_rng(7)
Y_C = RNG.lognormal(1.0, 1.0, 800)
Y_T = RNG.lognormal(1.1, 1.0, 700)


def test_welch_matches_scipy():
    r = compare(Moments.of_values(Y_C), Moments.of_values(Y_T))
    ref = st.ttest_ind(Y_T, Y_C, equal_var=False)
    assert r.p_value == pytest.approx(ref.pvalue, abs=1e-9)
    assert r.lift_abs == pytest.approx(Y_T.mean() - Y_C.mean(), abs=1e-9)
    ci = ref.confidence_interval(0.95)
    assert (r.ci_low, r.ci_high) == pytest.approx((ci.low, ci.high), abs=1e-6)
    assert r.df == pytest.approx(ref.df, rel=1e-9)


def test_moments_add_across_partitions():
    whole = Moments.of_values(Y_C)
    parts = Moments.of_values(Y_C[:300]) + Moments.of_values(Y_C[300:])
    assert parts.astuple() == pytest.approx(whole.astuple(), rel=1e-12)


def test_proportion_uses_p_one_minus_p_and_pooled_z_matches_statsmodels():
    c = (RNG.random(5000) < 0.030).astype(float)
    t = (RNG.random(5200) < 0.036).astype(float)
    r = compare(Moments.of_values(c), Moments.of_values(t), proportion=True)
    pc, pt = c.mean(), t.mean()
    se = math.sqrt(pc * (1 - pc) / c.size + pt * (1 - pt) / t.size)
    assert r.se_abs == pytest.approx(se, rel=1e-12)
    z = compare(Moments.of_values(c), Moments.of_values(t), proportion=True, test="ztest")
    stat, p = proportions_ztest([t.sum(), c.sum()], [t.size, c.size])
    assert z.p_value == pytest.approx(p, abs=1e-9)


def test_ratio_delta_method_is_the_cluster_robust_variance():
    """Per-cluster sums m, d: the delta-method variance of ΣM/ΣD, times (n−1)/n, is statsmodels' CR0
    cluster-robust variance of the arm difference from a regression on the rows inside the clusters."""
    rows, clusters, arm = [], [], []
    for g in range(60):
        size = RNG.integers(20, 80)
        p = 0.1 + 0.05 * RNG.standard_normal() ** 2
        y = (RNG.random(size) < p).astype(float)
        rows.append(y)
        clusters.append(np.full(size, g))
        arm.append(np.full(size, g % 2))
    y, g, a = np.concatenate(rows), np.concatenate(clusters), np.concatenate(arm)
    m = np.bincount(g, y)
    d = np.bincount(g).astype(float)
    tr = np.arange(60) % 2 == 1
    c_mom, t_mom = Moments.of_ratio(m[~tr], d[~tr]), Moments.of_ratio(m[tr], d[tr])
    r = compare(c_mom, t_mom)
    fit = sm.OLS(y, sm.add_constant(a)).fit(
        cov_type="cluster", cov_kwds={"groups": g, "use_correction": False}
    )
    assert r.lift_abs == pytest.approx(fit.params[1], abs=1e-12)
    ours = c_mom.mean_variance() * (c_mom.n - 1) / c_mom.n + t_mom.mean_variance() * (t_mom.n - 1) / t_mom.n
    assert ours == pytest.approx(fit.bse[1] ** 2, rel=1e-9)


def test_cuped_estimate_is_the_ols_coefficient_and_reduces_variance():
    x_c, x_t = RNG.normal(10, 3, 900), RNG.normal(10, 3, 950)
    y_c = 2 + 0.8 * x_c + RNG.normal(0, 1, 900)
    y_t = 2.3 + 0.8 * x_t + RNG.normal(0, 1, 950)
    c, t = Moments.of_values(y_c, x_c), Moments.of_values(y_t, x_t)
    r = compare(c, t, cuped=True)
    x = np.concatenate([x_c, x_t])
    arm = np.r_[np.zeros(900), np.ones(950)]
    fit = sm.OLS(np.concatenate([y_c, y_t]), sm.add_constant(np.column_stack([arm, x]))).fit()
    assert r.lift_abs == pytest.approx(fit.params[1], abs=1e-9)
    assert r.cuped_variance_reduction > 0.8  # ρ² ≈ 0.85 here
    plain = compare(c, t)
    assert r.se_abs < plain.se_abs / 2


def test_srm_matches_scipy_chisquare():
    counts, w = [5100, 4900, 10150], [1, 1, 2]
    exp = np.array(w) / sum(w) * sum(counts)
    assert srm(counts, w) == pytest.approx(st.chisquare(counts, exp).pvalue, abs=1e-12)


@pytest.mark.parametrize("ours,theirs", [("holm", "holm"), ("bh", "fdr_bh")])
def test_corrections_match_statsmodels(ours, theirs):
    p = [0.001, 0.04, 0.03, 0.2, 0.012, 0.04, 0.9]
    assert adjust(p, ours) == pytest.approx(list(multipletests(p, method=theirs)[1]), abs=1e-12)


def test_sample_size_matches_statsmodels():
    plan = sample_size(0.032, 0.1)
    p1, p2 = 0.032, 0.0352
    es = (p2 - p1) / math.sqrt((p1 * (1 - p1) + p2 * (1 - p2)) / 2)
    ref = NormalIndPower().solve_power(effect_size=es, alpha=0.05, power=0.8, ratio=1.0)
    assert plan.n_per_arm == math.ceil(ref)
    assert plan.n_per_arm == pytest.approx(ref, abs=1)


def test_mde_is_the_inverse_of_the_sample_size():
    plan = sample_size(0.05, 0.08)
    assert mde_for(plan.n_per_arm, 0.05) == pytest.approx(0.08, rel=1e-3)
    assert mde_for(plan.n_per_arm, 0.05) <= 0.08  # n was rounded up


def test_bayes_chance_to_win_and_risk_by_hand():
    r = compare(Moments.of_values(Y_C), Moments.of_values(Y_T))
    assert r.chance_to_win == pytest.approx(st.norm.cdf(r.lift_abs / r.se_abs), abs=1e-12)
    # E[max(0, -X)] for X ~ N(mu, s²), by numerical integration
    xs = np.linspace(r.lift_abs - 12 * r.se_abs, r.lift_abs + 12 * r.se_abs, 200_001)
    dens = st.norm.pdf(xs, r.lift_abs, r.se_abs)
    assert r.risk_treatment == pytest.approx(np.trapezoid(np.maximum(0, -xs) * dens, xs), rel=1e-6)


def test_msprt_interval_is_where_the_test_does_not_reject():
    lift, v, tau2 = 0.4, 0.01, 0.02
    p, lo, hi = msprt(lift, v, tau2)
    for edge in (lo, hi):
        # at the edge of the confidence sequence Λ(Δ0) = 1/α
        log_lam = 0.5 * math.log(v / (v + tau2)) + tau2 * (lift - edge) ** 2 / (2 * v * (v + tau2))
        assert math.exp(log_lam) == pytest.approx(20, rel=1e-9)
    assert p < 0.05 and lo > 0


def test_permutation_p_is_uniform_under_the_null_and_small_under_an_effect():
    m = RNG.poisson(30, 40).astype(float)
    d = RNG.poisson(300, 40).astype(float)
    tr = np.arange(40) % 2 == 0
    assert 0.05 < permutation_p(m, d, tr) <= 1
    boosted = m.copy()
    boosted[tr] *= 1.8
    assert permutation_p(boosted, d, tr) < 0.01
