"""Alert rules: each detector on a small hand-made minute series, rule-file errors, live = review."""

from __future__ import annotations

import pandas as pd
import pytest

from liveops import alerts as AL
from liveops import analysis as A
from liveops.live import LiveHub
from liveops.simulate import SimConfig, simulate
from liveops.store import EventLog

T0 = pd.Timestamp("2026-11-24 12:00")


def frame(**cols) -> pd.DataFrame:
    n = len(next(iter(cols.values())))
    f = pd.DataFrame({"minute": pd.date_range(T0, periods=n, freq="min")})
    for k, v in cols.items():
        f[k] = v
    for k in ("online", "leaves", "explain_gmv"):
        if k not in f:
            f[k] = 0.0
    if "explaining" not in f:
        f["explaining"] = None
    return f


def rule(kind: str, msg: str = "", **params) -> AL.Rule:
    return AL.Rule(kind, kind, "high", params, msg, "en")


def test_online_drop_fires_once_per_episode():
    f = frame(online=[100, 120, 110, 80, 70, 70, 70, 70, 100, 60])
    got = AL.online_drop(
        f,
        rule("online_drop", "{minutes}|{before}|{after}|{drop_pct}", minutes=3, drop=0.3, min_online=50),
        "s",
    )
    # minute 3: max(100,120,110)=120 → 80 is −33 %; minute 4 would fire again but is inside the episode;
    # minute 9: max(70,70,100)=100 → 60 is −40 %.
    assert [(a.minute, a.message_zh) for a in got] == [
        (T0 + pd.Timedelta(minutes=3), "3|120|80|33%"),
        (T0 + pd.Timedelta(minutes=9), "3|100|60|40%"),
    ]


def test_online_drop_ignores_small_rooms():
    f = frame(online=[40, 40, 40, 10])
    assert AL.online_drop(f, rule("online_drop", minutes=3, drop=0.3, min_online=50), "s") == []


def test_window_drop_compares_last_n_with_previous_n_minutes():
    # conversion = buyers ÷ uv pooled over 2-minute windows
    f = frame(buyers=[10, 10, 10, 10, 4, 2], uv=[100] * 6)
    got = AL.window_drop(
        f,
        rule(
            "window_drop",
            "{minutes}|{before}|{after}|{drop_pct}",
            metric="conversion_rate",
            minutes=2,
            drop=0.4,
            min_denominator=150,
        ),
        "s",
    )
    # minute 3: (10+10)/200 vs (10+10)/200 → no; minute 4: 14/200 vs 20/200 = −30 %; minute 5: 6/200 vs 20/200 = −70 %
    assert len(got) == 1
    assert got[0].minute == T0 + pd.Timedelta(minutes=5)
    assert got[0].message_zh == "2|10.00%|3.00%|70%"
    small = AL.window_drop(
        f, rule("window_drop", metric="conversion_rate", minutes=2, drop=0.4, min_denominator=500), "s"
    )
    assert small == []  # too few viewers in the windows to judge


def test_explain_no_sale_once_per_segment():
    f = frame(
        explaining=[None, "p1", "p1", "p1", "p1", "p2", "p2", "p2"],
        explain_gmv=[0, 0, 0, 0, 0, 0, 50, 0],
    )
    got = AL.explain_no_sale(f, rule("explain_no_sale", minutes=3), "s")
    assert [(a.minute, a.values["product"]) for a in got] == [(T0 + pd.Timedelta(minutes=3), "p1")]


def test_leave_surge():
    f = frame(leaves=[10, 12, 8, 10, 10, 45, 20, 10, 60])
    got = AL.leave_surge(f, rule("leave_surge", baseline_minutes=5, factor=2.0, min_leaves=30), "s")
    # minute 5: 45 ≥ 2 × mean(10,12,8,10,10)=10 → fire; minute 8: 60 vs mean(8,10,10,45,20)=18.6 → episode over? 8−5 = 3 ≤ 5: no
    assert [a.minute for a in got] == [T0 + pd.Timedelta(minutes=5)]
    assert got[0].values["leaves"] == 45 and got[0].values["ratio"] == "4.5"


def test_default_rules_load_and_bad_files_say_what_is_wrong(tmp_path):
    rules = AL.load_rules()
    assert {r.kind for r in rules} == {"online_drop", "window_drop", "explain_no_sale", "leave_surge"}
    cases = {
        "rules: [{id: a, kind: teleport, message_zh: x, message_en: y}]": "unknown kind",
        "rules: [{id: a, kind: window_drop, metric: gmv, message_zh: x, message_en: y}]": "catalog ratio",
        "rules: [{id: a, kind: leave_surge}]": "message_zh",
        "rules: [{id: a, kind: leave_surge, severity: urgent, message_zh: x, message_en: y}]": "severity",
        "rules: [{id: a, kind: leave_surge, message_zh: x, message_en: y}, {id: a, kind: leave_surge, message_zh: x, message_en: y}]": "duplicate",
        "rules: [: :": "cannot read",
        "rules: [{id: a, kind: leave_surge, message_zh: '{product}', message_en: y}]": "unknown placeholders",
    }
    for text, words in cases.items():
        p = tmp_path / "r.yaml"
        p.write_text(text, encoding="utf-8")
        with pytest.raises(AL.RuleError, match=words):
            AL.load_rules(p)


def test_live_alerts_equal_the_reviews_alerts(tmp_path):
    """The big screen and the review raise the same alerts for the same show (rules tuned to fire often)."""
    res = simulate(SimConfig(viewers=4000, minutes=60, seed=21))
    log = EventLog(tmp_path / "a.duckdb")
    log.ingest_arrow(res.events)
    rules_file = tmp_path / "rules.yaml"
    rules_file.write_text(
        """rules:
  - {id: online_drop, kind: online_drop, minutes: 2, drop: 0.05, min_online: 10, message_zh: "{drop_pct}", message_en: "{drop_pct}"}
  - {id: ctr, kind: window_drop, metric: product_ctr, minutes: 3, drop: 0.15, min_denominator: 20, message_zh: "{after}", message_en: "{after}"}
  - {id: conv, kind: window_drop, metric: conversion_rate, minutes: 3, drop: 0.2, min_denominator: 20, message_zh: "{after}", message_en: "{after}"}
  - {id: no_sale, kind: explain_no_sale, minutes: 2, message_zh: "{product}", message_en: "{product}"}
  - {id: leaves, kind: leave_surge, baseline_minutes: 3, factor: 1.3, min_leaves: 5, message_zh: "{leaves}", message_en: "{leaves}"}
""",
        encoding="utf-8",
    )
    rules = AL.load_rules(rules_file)
    hub = LiveHub()
    rows = log.con.sql("SELECT * FROM events ORDER BY ts, event_id").to_arrow_table()
    for off in range(0, rows.num_rows, 3_000):
        hub.fold(rows.slice(off, 3_000))
    ((sid, live),) = hub.sessions.items()
    live_alerts = AL.evaluate(live.minute_frame(), rules, sid)
    frame = AL.minute_frame(A.timeline_utc(log.events, sid), A.product_gmv_per_minute(log.events, sid))
    review_alerts = AL.evaluate(frame, rules, sid)
    assert len(review_alerts) >= 5 and len({a.rule for a in review_alerts}) >= 3
    assert [(a.rule, a.minute, a.message_zh) for a in live_alerts] == [
        (a.rule, a.minute, a.message_zh) for a in review_alerts
    ]
    log.close()
