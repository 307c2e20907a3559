"""Drivers: the regressions are the textbook ones, and on a simulated show they find what the simulator
built in (followers and searchers buy more than feed viewers; more viewers online, more GMV)."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from typer.testing import CliRunner

from liveops.cli import app
from liveops.drivers import DriversError, conversion_drivers, drivers, gmv_drivers
from liveops.simulate import SimConfig, simulate, write_simulation
from liveops.store import EventLog


def _viewers(n=4_000, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    src = rng.choice(["feed", "follow", "search"], n, p=[0.7, 0.2, 0.1])
    ret = rng.random(n) < 0.3
    logit = -3.2 + 1.0 * (src == "follow") + 0.5 * (src == "search") + 0.4 * ret
    bought = rng.random(n) < 1 / (1 + np.exp(-logit))
    return pd.DataFrame(
        {
            "bought": bought,
            "source": src,
            "returning": ret,
            "entry_min": rng.uniform(0, 120, n),
            "product_id": None,
            "price": np.nan,
            "promo": False,
            "streamer": "st1",
        }
    )


def test_conversion_effects_are_average_marginal_effects_of_a_logit():
    df = _viewers()
    got = {d.factor: d for d in conversion_drivers(df)}
    x = pd.DataFrame(
        {
            "source=follow": (df.source == "follow").astype(float),
            "source=search": (df.source == "search").astype(float),
            "returning": df.returning.astype(float),
            "entry_10min": df.entry_min / 10,
        }
    )
    fit = sm.Logit(df.bought.astype(float), sm.add_constant(x)).fit(disp=0)
    me = fit.get_margeff(at="overall")
    ci = me.conf_int()
    for name, eff, (lo, hi), p in zip(x.columns, me.margeff, ci, me.pvalues, strict=True):
        assert got[name].effect == pytest.approx(eff, abs=1e-7)
        assert (got[name].ci_low, got[name].ci_high) == pytest.approx((lo, hi), abs=1e-6)
        assert got[name].p_value == pytest.approx(p, abs=1e-6)
    assert got["source=follow"].systematic and got["source=follow"].effect > 0
    assert "成交概率高" in got["source=follow"].sentence_zh and "系统性" in got["source=follow"].sentence_zh
    assert not got["entry_10min"].systematic  # no effect was built in
    assert "偶然" in got["entry_10min"].sentence_zh


def test_gmv_per_minute_uses_newey_west_errors():
    rng = np.random.default_rng(1)
    n = 240
    online = 800 + 300 * np.sin(np.arange(n) / 15) + rng.normal(0, 50, n)
    e = np.zeros(n)
    for i in range(1, n):  # autocorrelated noise, as minutes are
        e[i] = 0.7 * e[i - 1] + rng.normal(0, 200)
    df = pd.DataFrame(
        {
            "gmv": 2.0 * online + e,
            "online": online,
            "elapsed_min": np.arange(n),
            "product_id": None,
            "price": np.nan,
            "promo": False,
            "streamer": "st1",
        }
    )
    got = {d.factor: d for d in gmv_drivers(df)}
    x = sm.add_constant(pd.DataFrame({"minute_10": df.elapsed_min / 10, "online_100": df.online / 100}))
    lags = math.floor(4 * (n / 100) ** (2 / 9))
    fit = sm.OLS(df.gmv, x).fit(cov_type="HAC", cov_kwds={"maxlags": lags})
    lo, hi = fit.conf_int().loc["online_100"]
    assert (got["online_100"].ci_low, got["online_100"].ci_high) == pytest.approx((lo, hi), rel=1e-9)
    assert got["online_100"].effect == pytest.approx(200, rel=0.1) and got["online_100"].systematic


@pytest.fixture(scope="module")
def show(tmp_path_factory):
    d = tmp_path_factory.mktemp("drv")
    res = simulate(SimConfig(viewers=10_000, minutes=120, seed=3))
    paths = write_simulation(res, d / "show.parquet")
    db = d / "s.duckdb"
    with EventLog(db) as log:
        log.ingest(str(paths["events"]))
        log.import_products(str(paths["products"]))
    return db, res.truth["sessions"][0]["session_id"]


def test_simulated_show_drivers_match_what_the_simulator_built(show):
    db, sid = show
    with EventLog(db, read_only=True, for_ingest=False) as log:
        r = drivers(log.con, log.events, session=sid)
        with pytest.raises(DriversError, match="no such session"):
            drivers(log.con, log.events, session="nope")
    conv = {d.factor: d for d in r.conversion}
    # followers swipe away less and stay longer than feed viewers in the simulator, so they buy more
    assert conv["source=follow"].systematic and conv["source=follow"].effect > 0
    gmv = {d.factor: d for d in r.gmv_per_minute}
    assert gmv["online_100"].systematic and gmv["online_100"].effect > 0
    assert r.viewers > 5_000 and r.buyers > 50 and r.minutes >= 120
    assert r.conversion[0].systematic  # ranked: systematic effects first


def test_drivers_cli(show):
    db, sid = show
    res = CliRunner().invoke(app, ["drivers", "--db", str(db), "--session", sid, "--format", "json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["scope"] == f"session:{sid}" and doc["conversion"] and doc["gmv_per_minute"]
    assert {"factor", "effect", "ci_low", "ci_high", "p_adjusted", "systematic", "sentence_zh"} <= set(
        doc["conversion"][0]
    )
    res = CliRunner().invoke(app, ["drivers", "--db", str(db)])
    assert res.exit_code == 2 and "session" in res.output
