"""Experiment statistics on sufficient statistics (the gbstats design): SQL sums, Python infers.

Each arm of a metric is summarised by a few sums that add across partitions — n, Σy, Σy² for a mean;
the same for numerator and denominator plus Σmd for a ratio; Σx, Σx², Σxy for a CUPED covariate. Every
read-out (Welch t, pooled z, delta-method ratios, CUPED, Bayesian, sequential) works on those sums, so
no row-level data leaves the database.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import stats as _st

# --- sufficient statistics ------------------------------------------------------------------------


@dataclass(frozen=True)
class Moments:
    """Per-unit numerator m and denominator d summed over units; d ≡ 1 for a mean metric. x is a
    pre-period covariate for CUPED (zero sums when there is none)."""

    n: int
    m: float
    mm: float
    d: float = 0.0
    dd: float = 0.0
    md: float = 0.0
    x: float = 0.0
    xx: float = 0.0
    xm: float = 0.0

    @classmethod
    def of_values(cls, y: Sequence[float], x: Sequence[float] | None = None) -> Moments:
        """Moments of a mean metric from unit values (tests, notebooks)."""
        y = np.asarray(y, float)
        xs = np.zeros_like(y) if x is None else np.asarray(x, float)
        n, sy = y.size, float(y.sum())
        return cls(n, sy, float(y @ y), n, n, sy, float(xs.sum()), float(xs @ xs), float(xs @ y))

    @classmethod
    def of_ratio(cls, m: Sequence[float], d: Sequence[float]) -> Moments:
        m, d = np.asarray(m, float), np.asarray(d, float)
        return cls(m.size, float(m.sum()), float(m @ m), float(d.sum()), float(d @ d), float(m @ d))

    def __add__(self, o: Moments) -> Moments:
        return Moments(*(a + b for a, b in zip(self.astuple(), o.astuple(), strict=True)))

    def astuple(self) -> tuple:
        return (self.n, self.m, self.mm, self.d, self.dd, self.md, self.x, self.xx, self.xm)

    @property
    def is_ratio(self) -> bool:
        """A ratio metric: the denominator varies between units (else it is 1 per unit, a mean)."""
        return not (self.d == self.n and self.dd == self.n)

    @property
    def has_covariate(self) -> bool:
        return self.xx > 0

    @property
    def mean(self) -> float:
        return self.m / self.d if self.d else math.nan

    def _var(self, s: float, ss: float) -> float:
        return (ss - s * s / self.n) / (self.n - 1) if self.n > 1 else math.nan

    def _cov(self, a: float, b: float, ab: float) -> float:
        return (ab - a * b / self.n) / (self.n - 1) if self.n > 1 else math.nan

    def mean_variance(self, proportion: bool = False) -> float:
        """Variance of the arm's mean (for a ratio, of ΣM/ΣD by the delta method)."""
        if not self.n or not self.d:
            return math.nan
        if self.is_ratio:
            mu_m, mu_d = self.m / self.n, self.d / self.n
            r = mu_m / mu_d
            vm, vd, c = (
                self._var(self.m, self.mm),
                self._var(self.d, self.dd),
                self._cov(self.m, self.d, self.md),
            )
            return (vm - 2 * r * c + r * r * vd) / (self.n * mu_d * mu_d)
        if proportion:
            p = self.mean
            return p * (1 - p) / self.n
        return self._var(self.m, self.mm) / self.n


# --- results --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Comparison:
    """One treatment arm against the control on one metric."""

    n_control: int
    n_treatment: int
    mean_control: float
    mean_treatment: float
    lift_abs: float
    lift_rel: float
    se_abs: float
    se_rel: float
    df: float
    ci_low: float  # bounds of the absolute lift
    ci_high: float
    ci_rel_low: float
    ci_rel_high: float
    p_value: float
    chance_to_win: float  # Bayesian, flat prior: P(treatment > control)
    risk_control: float  # expected loss of keeping control, E[max(0, Δ)]
    risk_treatment: float  # expected loss of shipping treatment, E[max(0, −Δ)]
    test: str
    cuped_variance_reduction: float | None = None
    seq_p_value: float | None = None  # always-valid (mSPRT) p-value
    seq_ci_low: float | None = None  # always-valid confidence sequence for the absolute lift
    seq_ci_high: float | None = None
    notes: list[str] = field(default_factory=list)


def _tq(alpha: float, df: float) -> float:
    return float(_st.norm.ppf(1 - alpha / 2) if not np.isfinite(df) else _st.t.ppf(1 - alpha / 2, df))


def welch_df(v_c: float, n_c: int, v_t: float, n_t: int) -> float:
    """Welch–Satterthwaite degrees of freedom from each arm's variance of the mean."""
    den = (v_c * v_c / (n_c - 1) if n_c > 1 else 0) + (v_t * v_t / (n_t - 1) if n_t > 1 else 0)
    return (v_c + v_t) ** 2 / den if den > 0 else math.inf


def cuped_theta(arms: Sequence[Moments]) -> float:
    """The within-arm pooled slope of y on x: the coefficient OLS y ~ arm + x would give."""
    sxy = sum(a.xm - a.x * a.m / a.n for a in arms if a.n)
    sxx = sum(a.xx - a.x * a.x / a.n for a in arms if a.n)
    return sxy / sxx if sxx > 0 else 0.0


def _cuped_arm(a: Moments, theta: float, x_all: float) -> tuple[float, float]:
    """CUPED-adjusted mean and variance of the mean for a mean metric."""
    vy = a._var(a.m, a.mm)
    vx = a._var(a.x, a.xx)
    cxy = a._cov(a.x, a.m, a.xm)
    mean = a.m / a.n - theta * (a.x / a.n - x_all)
    return mean, (vy + theta * theta * vx - 2 * theta * cxy) / a.n


def compare(
    control: Moments,
    treatment: Moments,
    *,
    alpha: float = 0.05,
    proportion: bool = False,
    test: str = "welch",
    cuped: bool = False,
    tau2: float | None = None,
    tune_n: int | None = None,
) -> Comparison:
    """Absolute and relative lift of treatment over control with intervals, p-value and read-outs.

    ``test``: ``welch`` (t with Welch–Satterthwaite df; a ratio metric or a proportion uses the same
    machinery with its delta-method or p(1−p) variance) or ``ztest`` (pooled two-proportion z).
    ``cuped``: adjust a mean metric with its pre-period covariate (θ pooled within arms).
    ``tau2``: the mSPRT mixing variance for the always-valid read-out; by default it is tuned so the
    read-out is tightest near ``tune_n`` units per arm (default 5,000 — use the planned size).
    """
    notes: list[str] = []
    mc, mt = control.mean, treatment.mean
    vc, vt = control.mean_variance(proportion), treatment.mean_variance(proportion)
    vc0, vt0 = vc, vt
    reduction = None
    if cuped:
        if control.is_ratio or treatment.is_ratio:
            notes.append("CUPED skipped: ratio metric")
        elif not (control.has_covariate or treatment.has_covariate):
            notes.append("CUPED skipped: no pre-period data")
        else:
            theta = cuped_theta([control, treatment])
            x_all = (control.x + treatment.x) / (control.n + treatment.n)
            mc, vc = _cuped_arm(control, theta, x_all)
            mt, vt = _cuped_arm(treatment, theta, x_all)
            reduction = 1 - (vc + vt) / (vc0 + vt0) if vc0 + vt0 > 0 else None
    lift = mt - mc
    if test == "ztest":
        pooled = (control.m + treatment.m) / (control.d + treatment.d)
        se = math.sqrt(pooled * (1 - pooled) * (1 / control.d + 1 / treatment.d))
        df = math.inf
        se_ci = math.sqrt(vc + vt)  # the interval uses the unpooled variance, as is usual
    else:
        se = se_ci = math.sqrt(vc + vt)
        df = welch_df(vc, control.n, vt, treatment.n)
    q = _tq(alpha, df)
    if se > 0:
        stat = lift / se
        p = float(2 * (_st.norm.sf(abs(stat)) if not np.isfinite(df) else _st.t.sf(abs(stat), df)))
    else:
        p = 1.0 if lift == 0 else 0.0
    rel = lift / mc if mc else math.nan
    var_rel = (vc * mt * mt / mc**4 + vt / (mc * mc)) if mc else math.nan
    se_rel = math.sqrt(var_rel) if var_rel == var_rel else math.nan
    ctw, risk_c, risk_t = bayes(lift, se_ci)
    seq_p, seq_lo, seq_hi = msprt(lift, vc + vt, _tau2(control, treatment, tau2, tune_n or SEQ_TUNE_N), alpha)
    return Comparison(
        n_control=control.n,
        n_treatment=treatment.n,
        mean_control=mc,
        mean_treatment=mt,
        lift_abs=lift,
        lift_rel=rel,
        se_abs=se_ci,
        se_rel=se_rel,
        df=df,
        ci_low=lift - q * se_ci,
        ci_high=lift + q * se_ci,
        ci_rel_low=rel - q * se_rel,
        ci_rel_high=rel + q * se_rel,
        p_value=p,
        chance_to_win=ctw,
        risk_control=risk_c,
        risk_treatment=risk_t,
        test=test,
        cuped_variance_reduction=reduction,
        seq_p_value=seq_p,
        seq_ci_low=seq_lo,
        seq_ci_high=seq_hi,
        notes=notes,
    )


# --- Bayesian and sequential read-outs --------------------------------------------------------------


def bayes(lift: float, se: float, prior_mean: float = 0.0, prior_var: float | None = None):
    """Normal posterior of the lift (flat prior unless ``prior_var``): chance to win and expected losses."""
    if not se > 0:
        return (0.5 if lift == 0 else float(lift > 0)), max(lift, 0.0), max(-lift, 0.0)
    v = se * se
    if prior_var:
        post_v = 1 / (1 / prior_var + 1 / v)
        mu = post_v * (prior_mean / prior_var + lift / v)
    else:
        post_v, mu = v, lift
    s = math.sqrt(post_v)
    z = mu / s
    ctw = float(_st.norm.cdf(z))
    risk_t = float(s * _st.norm.pdf(z) - mu * _st.norm.cdf(-z))  # E[max(0, −Δ)]
    risk_c = float(s * _st.norm.pdf(z) + mu * _st.norm.cdf(z))  # E[max(0, Δ)]
    return ctw, risk_c, risk_t


SEQ_TUNE_N = 5_000  # units per arm at which the always-valid read-out is tightest


def _tau2(c: Moments, t: Moments, tau2: float | None, tune_n: int) -> float:
    if tau2 is not None:
        return tau2
    v = c.mean_variance() * c.n + t.mean_variance() * t.n  # σ²_c + σ²_t per unit
    return v / tune_n if v == v and v > 0 else 1.0


def msprt(lift: float, v: float, tau2: float, alpha: float = 0.05) -> tuple[float, float, float]:
    """Mixture SPRT (Johari et al.) for a normal estimate Δ̂ ~ N(Δ, v) with mixing prior N(0, τ²).

    Returns the always-valid p-value 1/Λ (capped at 1) and the confidence sequence {Δ0 : Λ(Δ0) < 1/α},
    both valid however often one looks. Over a series of looks, the running minimum of the p-value and
    the running intersection of the intervals stay valid.
    """
    if not (v > 0 and tau2 > 0):
        return math.nan, math.nan, math.nan
    log_lam = 0.5 * math.log(v / (v + tau2)) + tau2 * lift * lift / (2 * v * (v + tau2))
    p = math.exp(-log_lam) if log_lam > 0 else 1.0
    half = math.sqrt(v * (v + tau2) / tau2 * (2 * math.log(1 / alpha) + math.log((v + tau2) / v)))
    return min(1.0, p), lift - half, lift + half


# --- checks across arms and metrics -----------------------------------------------------------------


def srm(counts: Sequence[int], weights: Sequence[float] | None = None) -> float:
    """Sample-ratio-mismatch p-value: χ² goodness of fit of the arm counts to the planned weights."""
    counts = np.asarray(counts, float)
    if counts.size < 2 or counts.sum() == 0:
        return 1.0
    w = np.full(counts.size, 1.0) if weights is None else np.asarray(weights, float)
    expected = counts.sum() * w / w.sum()
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    return float(_st.chi2.sf(chi2, counts.size - 1))


SRM_THRESHOLD = 0.001


def adjust(p_values: Sequence[float], method: str = "holm") -> list[float]:
    """Adjusted p-values across a family: ``holm`` (family-wise error) or ``bh`` (false discovery rate)."""
    p = np.asarray(p_values, float)
    m = p.size
    if m == 0:
        return []
    order = np.argsort(p, kind="stable")
    ps = p[order]
    if method == "holm":
        adj = np.maximum.accumulate(np.minimum(1.0, (m - np.arange(m)) * ps))
    elif method == "bh":
        adj = np.minimum.accumulate((m / np.arange(1, m + 1) * ps)[::-1])[::-1]
        adj = np.minimum(adj, 1.0)
    else:
        raise ValueError(f"unknown correction {method!r}: holm or bh")
    out = np.empty(m)
    out[order] = adj
    return out.tolist()


# --- power --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PowerPlan:
    baseline: float
    mde_rel: float
    mde_abs: float
    sd_control: float
    sd_treatment: float
    alpha: float
    power: float
    n_per_arm: int
    n_total: int
    arms: int


def power_at(n: float, delta: float, sd_c: float, sd_t: float, alpha: float = 0.05) -> float:
    """Two-sided power of a z-test with n units per arm for an absolute effect ``delta``."""
    se = math.sqrt((sd_c**2 + sd_t**2) / n)
    z = _st.norm.ppf(1 - alpha / 2)
    return float(_st.norm.sf(z - delta / se) + _st.norm.cdf(-z - delta / se))


def sample_size(
    baseline: float,
    mde: float,
    alpha: float = 0.05,
    power: float = 0.8,
    sd: float | None = None,
    arms: int = 2,
) -> PowerPlan:
    """Units per arm to detect a relative lift ``mde`` over ``baseline`` (a proportion, or a mean with
    standard deviation ``sd``) with the given power in a two-sided test."""
    if not 0 < alpha < 1 or not 0 < power < 1:
        raise ValueError("alpha and power must lie in (0, 1)")
    if mde == 0 or baseline == 0:
        raise ValueError("baseline and mde must be non-zero")
    target = baseline * (1 + mde)
    if sd is None:
        if not (0 < baseline < 1 and 0 < target < 1):
            raise ValueError("a proportion baseline and baseline × (1 + mde) must lie in (0, 1)")
        sd_c, sd_t = math.sqrt(baseline * (1 - baseline)), math.sqrt(target * (1 - target))
    else:
        if sd <= 0:
            raise ValueError("sd must be positive")
        sd_c = sd_t = sd
    delta = abs(target - baseline)
    z = _st.norm.ppf(1 - alpha / 2) + _st.norm.ppf(power)
    n0 = z * z * (sd_c**2 + sd_t**2) / delta**2
    lo, hi = n0 * 0.5, n0 * 1.5 + 10  # the closed form ignores the far tail; solve exactly
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if power_at(mid, delta, sd_c, sd_t, alpha) < power else (lo, mid)
    n = math.ceil(hi - 1e-9)
    return PowerPlan(baseline, mde, target - baseline, sd_c, sd_t, alpha, power, n, n * arms, arms)


def mde_for(
    n: int, baseline: float, alpha: float = 0.05, power: float = 0.8, sd: float | None = None
) -> float:
    """The smallest relative lift detectable with n units per arm: the inverse of ``sample_size``
    (for a proportion the treatment arm's variance is taken at the lifted rate, as there)."""
    hi = (1 / baseline - 1) * (1 - 1e-9) if sd is None else 100.0
    lo = 0.0
    sd_c = math.sqrt(baseline * (1 - baseline)) if sd is None else sd
    for _ in range(200):
        mid = (lo + hi) / 2
        target = baseline * (1 + mid)
        sd_t = math.sqrt(target * (1 - target)) if sd is None else sd
        lo, hi = (mid, hi) if power_at(n, target - baseline, sd_c, sd_t, alpha) < power else (lo, mid)
    return hi


# --- clusters: randomisation inference ----------------------------------------------------------------


def permutation_p(
    m: np.ndarray,
    d: np.ndarray,
    treated: np.ndarray,
    strata: np.ndarray | None = None,
    draws: int = 2_000,
    seed: int = 0,
) -> float:
    """Randomisation p-value for the difference of ratios ΣM/ΣD between arms, re-drawing which clusters
    (e.g. switchback slices) are treated — within strata when given — as the design did."""
    m, d, treated = np.asarray(m, float), np.asarray(d, float), np.asarray(treated, bool)

    def diff(tr: np.ndarray) -> np.ndarray:
        mt, dt = tr @ m, tr @ d
        mc, dc = m.sum() - mt, d.sum() - dt
        with np.errstate(invalid="ignore", divide="ignore"):
            return mt / dt - mc / dc

    observed = diff(treated[None, :].astype(float))[0]
    rng = np.random.default_rng(seed)
    perm = np.tile(treated, (draws, 1))
    groups = (
        [np.arange(m.size)] if strata is None else [np.flatnonzero(strata == s) for s in np.unique(strata)]
    )
    for g in groups:
        sub = perm[:, g]
        perm[:, g] = np.take_along_axis(sub, rng.random(sub.shape).argsort(axis=1), axis=1)
    null = diff(perm.astype(float))
    null = null[np.isfinite(null)]
    return float((1 + (np.abs(null) >= abs(observed) - 1e-12).sum()) / (1 + null.size))
