"""The experiment statistics against the simulator's known truth.

One simulated room (four shows; the A/B test starts in the second, so the first is a CUPED pre-period;
the switchback has no true effect) gives realistic per-viewer and per-slice outcomes. The error-rate
checks re-randomise who is treated 1,000 times over those outcomes — A/A tests whose truth is zero, or
with an effect of known size added — and count how often the intervals and tests are right.
"""

from __future__ import annotations

import numpy as np
import pytest

from liveops import experiments as X
from liveops.metrics import unit_measures
from liveops.simulate import SimConfig, simulate, write_simulation
from liveops.stats import Moments, compare, msprt
from liveops.store import EventLog

RUNS = 1_000


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    d = tmp_path_factory.mktemp("sim")
    cfg = SimConfig(
        viewers=8_000,
        minutes=120,
        sessions=4,
        seed=11,
        ab_lift=0.3,
        ab_from_session=1,
        switchback_effect=0.0,
        violations=False,
    )
    res = simulate(cfg)
    paths = write_simulation(res, d / "show.parquet")
    log = EventLog(d / "s.duckdb")
    log.ingest(str(paths["events"]))
    X.import_csv(log.con, paths["schedule"])
    yield log, res.truth
    log.close()


@pytest.fixture(scope="module")
def viewers(sim):
    """Per-viewer buyer flag and GMV in the last show: the outcomes the A/A splits re-use."""
    log, _ = sim
    t = log.events
    last = t.filter(t.session_id == t.session_id.max())
    u = unit_measures(last, [], ["buyers", "gmv", "uv"]).order_by("user_id").to_pyarrow()  # a fixed order
    keep = np.asarray(u["uv"]) == 1
    return np.asarray(u["buyers"], float)[keep], np.asarray(u["gmv"], float)[keep]


def _splits(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random((RUNS, n)) < 0.5


def _arm(mask: np.ndarray, y: np.ndarray, extra: np.ndarray | None = None) -> Moments:
    yy = y if extra is None else y + extra
    s = yy[mask]
    return Moments(
        int(mask.sum()), float(s.sum()), float(s @ s), int(mask.sum()), int(mask.sum()), float(s.sum())
    )


def test_simulated_ab_test_recovers_the_true_lift(sim):
    log, truth = sim
    ab = truth["experiments"]["ab"]
    r = X.analyze(log.con, log.events, ab["name"], ["conversion_rate", "uv_value"])
    assert r.control == ab["control"] and not r.srm_flag
    conv = r.metrics[0]
    assert conv.ci_rel_low <= ab["true_conversion_lift"] <= conv.ci_rel_high
    assert conv.lift_rel > 0 and conv.p_value < 0.05
    # returning viewers bring pre-period behaviour, which CUPED uses
    assert r.metrics[1].cuped_variance_reduction is not None and r.metrics[1].cuped_variance_reduction > 0


@pytest.mark.parametrize("metric", ["conversion", "gmv_per_viewer"])
def test_aa_false_positive_rate_is_alpha(viewers, metric):
    y = viewers[0] if metric == "conversion" else viewers[1]
    splits = _splits(y.size, 1)
    rejections = sum(
        compare(_arm(~m, y), _arm(m, y), proportion=metric == "conversion").p_value < 0.05 for m in splits
    )
    assert 0.03 <= rejections / RUNS <= 0.07


def test_intervals_cover_a_known_effect(viewers):
    buyers, gmv = viewers
    rng = np.random.default_rng(2)
    delta = 0.2 * gmv.mean()
    cover_gmv = cover_conv = 0
    for m in _splits(gmv.size, 3):
        r = compare(_arm(~m, gmv), _arm(m, gmv, np.full(gmv.size, delta)))
        cover_gmv += r.ci_low <= delta <= r.ci_high
        # conversion: each treated non-buyer becomes a buyer with chance q; the effect is q × (1 − p_T)
        q = 0.01
        flip = (rng.random(buyers.size) < q) & (buyers == 0)
        truth = q * (1 - buyers[m].mean())
        r = compare(_arm(~m, buyers), _arm(m, buyers, flip.astype(float)), proportion=True)
        cover_conv += r.ci_low <= truth <= r.ci_high
    assert 0.93 <= cover_gmv / RUNS <= 0.97
    assert 0.93 <= cover_conv / RUNS <= 0.97


def test_sequential_read_out_holds_alpha_under_continuous_peeking(viewers):
    """20 looks during an A/A test: stopping at the first naive p < 0.05 inflates false positives;
    the always-valid mSPRT p-value keeps them under α."""
    y = viewers[0]
    n = y.size
    looks = np.linspace(n // 20, n, 20).astype(int)
    rng = np.random.default_rng(4)
    naive = seq = 0
    for _ in range(RUNS):
        order = rng.permutation(n)
        yo, arm = y[order], rng.random(n) < 0.5
        cy_t, cy_c = np.cumsum(yo * arm), np.cumsum(yo * ~arm)
        cn_t, cn_c = np.cumsum(arm), np.cumsum(~arm)
        hit_naive = hit_seq = False
        for k in looks - 1:
            c = Moments(int(cn_c[k]), cy_c[k], cy_c[k], int(cn_c[k]), int(cn_c[k]), cy_c[k])
            t = Moments(int(cn_t[k]), cy_t[k], cy_t[k], int(cn_t[k]), int(cn_t[k]), cy_t[k])
            r = compare(c, t, proportion=True, tune_n=n // 2)
            hit_naive |= r.p_value < 0.05
            hit_seq |= r.seq_p_value < 0.05
        naive += hit_naive
        seq += hit_seq
    assert seq / RUNS <= 0.05, (naive, seq)
    assert naive / RUNS > 0.10, (naive, seq)  # why the always-valid read-out exists


def test_msprt_alone_is_valid_for_normal_data():
    rng = np.random.default_rng(5)
    hits = 0
    for _ in range(RUNS):
        x = rng.normal(size=2_000).cumsum()
        n = np.arange(1, 2_001)
        ps = [msprt(x[k] / n[k], 1 / n[k], 1 / 500)[0] for k in range(49, 2_000, 50)]
        hits += min(ps) < 0.05
    assert hits / RUNS <= 0.05


def test_switchback_needs_cluster_inference(sim):
    """Re-randomise the arms of the slices (within each show, as the schedule did) with no true effect:
    treating viewers as independent rejects far too often; slices as units hold α."""
    log, _ = sim
    pu = X.slice_units(log.con, log.events, "talk_track_v2", ["product_click_uv", "product_impression_uv"])
    pu = pu.filter(pu.user_id.notnull()).to_pyarrow()
    sid = np.asarray(pu["slice_id"]).astype(str)
    slices, idx = np.unique(sid, return_inverse=True)
    m = np.asarray(pu["product_click_uv"], float)
    d = np.asarray(pu["product_impression_uv"], float)
    # per slice: sums for the cluster analysis, and viewer-level sums for the naive one
    S = {
        k: np.bincount(idx, v, slices.size)
        for k, v in {"n": np.ones_like(m), "m": m, "mm": m * m, "d": d, "dd": d * d, "md": m * d}.items()
    }
    show = np.array([s.split("#")[0] for s in slices])
    rng = np.random.default_rng(6)
    base = np.arange(slices.size) % 2 == 1
    naive = cluster = 0
    for _ in range(RUNS):
        tr = base.copy()
        for s in np.unique(show):
            g = np.flatnonzero(show == s)
            tr[g] = rng.permutation(tr[g])
        arms = []
        for sel in (~tr, tr):
            arms.append(Moments.of_ratio(S["m"][sel], S["d"][sel]))
        cluster += compare(*arms).p_value < 0.05
        viewer_arms = [
            Moments(
                int(S["n"][sel].sum()),
                S["m"][sel].sum(),
                S["mm"][sel].sum(),
                S["d"][sel].sum(),
                S["dd"][sel].sum(),
                S["md"][sel].sum(),
            )
            for sel in (~tr, tr)
        ]
        naive += compare(*viewer_arms).p_value < 0.05
    assert cluster / RUNS <= 0.08, (naive, cluster)
    assert naive / RUNS > 0.10 and naive > 2 * cluster, (naive, cluster)
