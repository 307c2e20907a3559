"""One-off cross-check of liveops.stats against GrowthBook's gbstats (not a test: gbstats stays out of the project).

Run in a throwaway environment:
    uv run --no-project --with gbstats==0.8.0 --with numpy --with scipy python benchmarks/check_gbstats.py
Prints the largest differences in estimate, interval and p-value for mean, proportion and ratio metrics.
gbstats' relative p-value tests the relative estimate; LiveOps reports the absolute lift's p-value, so
those two differ slightly by design.
"""

import importlib.util
import sys
from pathlib import Path

import numpy as np
from gbstats.frequentist.tests import FrequentistConfig, TwoSidedTTest
from gbstats.models.statistics import ProportionStatistic, RatioStatistic, SampleMeanStatistic


def _liveops_stats():
    """liveops/stats.py alone (the package's other modules need the project's environment)."""
    spec = importlib.util.spec_from_file_location(
        "lstats", Path(__file__).resolve().parents[1] / "src/liveops/stats.py"
    )
    mod = importlib.util.module_from_spec(spec)
    sys.modules["lstats"] = mod
    spec.loader.exec_module(mod)
    return mod


def gb(a, b, diff):
    r = TwoSidedTTest(a, b, FrequentistConfig(difference_type=diff)).compute_result()
    return r.expected, r.ci, r.p_value


def ratio_stat(m, d):
    return RatioStatistic(
        n=m.size,
        m_statistic=SampleMeanStatistic(m.size, m.sum(), (m**2).sum()),
        d_statistic=SampleMeanStatistic(d.size, d.sum(), (d**2).sum()),
        m_d_sum_of_products=(m * d).sum(),
    )


def main() -> None:
    S = _liveops_stats()
    rng = np.random.default_rng(3)
    yc, yt = rng.lognormal(1, 1, 3000), rng.lognormal(1.05, 1, 3100)
    c, t = (rng.random(8000) < 0.03).astype(float), (rng.random(8000) < 0.035).astype(float)
    m_c, d_c = rng.poisson(3, 500).astype(float), rng.poisson(30, 500).astype(float) + 1
    m_t, d_t = rng.poisson(3.3, 520).astype(float), rng.poisson(30, 520).astype(float) + 1
    cases = {
        "mean": (
            SampleMeanStatistic(yc.size, yc.sum(), (yc**2).sum()),
            SampleMeanStatistic(yt.size, yt.sum(), (yt**2).sum()),
            S.compare(S.Moments.of_values(yc), S.Moments.of_values(yt)),
        ),
        "proportion": (
            ProportionStatistic(c.size, c.sum()),
            ProportionStatistic(t.size, t.sum()),
            S.compare(S.Moments.of_values(c), S.Moments.of_values(t), proportion=True),
        ),
        "ratio": (
            ratio_stat(m_c, d_c),
            ratio_stat(m_t, d_t),
            S.compare(S.Moments.of_ratio(m_c, d_c), S.Moments.of_ratio(m_t, d_t)),
        ),
    }
    for name, (a, b, r) in cases.items():
        for diff in ("absolute", "relative"):
            e, ci, p = gb(a, b, diff)
            est, lo, hi = (
                (r.lift_abs, r.ci_low, r.ci_high)
                if diff == "absolute"
                else (r.lift_rel, r.ci_rel_low, r.ci_rel_high)
            )
            print(
                f"{name:10s} {diff:8s} |Δ estimate| {abs(e - est):.1e}  |Δ CI| {max(abs(ci[0] - lo), abs(ci[1] - hi)):.1e}"
                f"  |Δ p| {abs(p - r.p_value):.1e}"
            )


if __name__ == "__main__":
    main()
