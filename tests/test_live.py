"""Live state: folded batch by batch, it ends equal to the catalog's batch values for the same events."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from liveops import analysis as A
from liveops import metrics as M
from liveops.live import LiveHub
from liveops.simulate import SimConfig, simulate
from liveops.store import EventLog


def _replay(log: EventLog, hub: LiveHub, batch: int = 2_000, until=None) -> None:
    """Feed stored events to the hub in time order, in batches, as the server does after each write."""
    where = f"WHERE ts <= TIMESTAMP '{until}'" if until is not None else ""
    rows = log.con.sql(f"SELECT * FROM events {where} ORDER BY ts, event_id").to_arrow_table()
    for off in range(0, rows.num_rows, batch):
        hub.fold(rows.slice(off, batch))


def _close(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9)


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    res = simulate(SimConfig(viewers=3000, minutes=45, sessions=2, seed=11))
    log = EventLog(tmp_path_factory.mktemp("live") / "live.duckdb")
    log.ingest_arrow(res.events)
    yield log
    log.close()


def test_live_metrics_equal_the_catalog_at_the_end_of_each_show(sim):
    hub = LiveHub()
    _replay(sim, hub)
    batch = M.compute(sim.events).set_index("session_id")
    assert set(hub.sessions) == set(batch.index)
    for sid, live in hub.sessions.items():
        got = live.metrics()
        want = batch.loc[sid]
        compared = 0
        for k, v in got.items():
            if k in want.index:
                assert _close(v, M.py_value(want[k])), (sid, k, v, want[k])
                compared += 1
        assert compared >= 60  # every catalog metric that does not need visit intervals, and peak_online
        assert live.ended


def test_live_minutes_equal_the_timeline(sim):
    hub = LiveHub()
    _replay(sim, hub)
    for sid, live in hub.sessions.items():
        tl = A.timeline(sim.events, sid).set_index("minute")
        mm = live.minutes().set_index("minute")
        tl.index = tl.index.tz_localize(None) if tl.index.tz is not None else tl.index
        for c in ("views", "uv", "leaves", "comment_pv", "like_count", "gmv", "buyers", "online"):
            pd.testing.assert_series_equal(
                mm[c].astype(float), tl.loc[mm.index, c].astype(float), check_names=False, obj=c
            )


def test_mid_show_state_equals_the_catalog_over_the_events_so_far(sim):
    sid = sorted(sim.con.execute("SELECT DISTINCT session_id FROM events").fetchall())[0][0]
    start = sim.con.execute("SELECT min(ts) FROM events WHERE session_id = ?", [sid]).fetchall()[0][0]
    cut = start + pd.Timedelta(minutes=20)
    hub = LiveHub()
    _replay(sim, hub, until=cut)
    live = hub.sessions[sid]
    t = sim.events
    so_far = t.filter((t.session_id == sid) & (t.ts <= cut))
    want = M.compute(so_far, with_visits=False).iloc[0]
    got = live.metrics()
    for k in (
        "views",
        "uv",
        "gmv",
        "pay_orders",
        "buyers",
        "conversion_rate",
        "uv_value",
        "gpm",
        "like_count",
    ):
        assert _close(got[k], M.py_value(want[k])), k
    assert not live.ended
    # Product being explained: the last explain window still open at the cut.
    win = A.explain_table(so_far)
    open_now = win[pd.to_datetime(win["end"]) >= pd.Timestamp(live.last_ts)]
    expect = open_now.iloc[-1]["product_id"] if len(open_now) else None
    assert (live.state()["explaining"] or {}).get("product_id") == expect
    # Top products of the last five minutes: clicks and GMV from the events in that window.
    since = pd.Timestamp(live.last_ts).floor("min") - pd.Timedelta(minutes=4)
    recent = A.with_product(so_far).filter(lambda x: x.ts >= since)
    per = (
        recent.group_by("product_id")
        .aggregate(
            clicks=(recent.type == "product_click").sum(), gmv=recent.amount.sum(where=recent.type == "pay")
        )
        .execute()
    )
    per = per[per["product_id"].notna() & ((per["clicks"] > 0) | per["gmv"].notna())]
    top = live.top_products(n=1000).set_index("product_id")
    assert set(top.index) == set(per["product_id"])
    for r in per.itertuples():
        assert top.loc[r.product_id, "clicks"] == r.clicks
        assert _close(top.loc[r.product_id, "gmv"], 0 if pd.isna(r.gmv) else r.gmv)


def test_live_sources_equal_the_sources_table(sim):
    hub = LiveHub()
    _replay(sim, hub)
    for sid, live in hub.sessions.items():
        want = A.sources(sim.events, sid).set_index("source")
        got = live.sources().set_index("source")
        assert set(got.index) <= set(want.index)
        for src, r in got.iterrows():
            assert (r["views"], r["uv"]) == (want.loc[src, "views"], want.loc[src, "uv"]), src


def test_live_online_without_snapshots_equals_the_timeline(tmp_path):
    """Rooms whose platform sends no online snapshots: online comes from enter/leave concurrency."""
    res = simulate(SimConfig(viewers=1500, minutes=30, seed=3, snapshots=False))
    log = EventLog(tmp_path / "nosnap.duckdb")
    log.ingest_arrow(res.events)
    hub = LiveHub()
    _replay(log, hub, batch=700)
    ((sid, live),) = hub.sessions.items()
    tl = A.timeline(log.events, sid).set_index("minute")
    mm = live.minutes().set_index("minute")
    pd.testing.assert_series_equal(
        mm["online"].astype(float), tl.loc[mm.index, "online"].astype(float), check_names=False
    )
    want = M.compute(log.events).iloc[0]
    assert live.metrics()["peak_online"] == want["peak_online"]
    log.close()
