"""Analyses on the hand-computed fixture: funnel with baseline, sources, products, segments, timeline."""

from __future__ import annotations

import pytest
from conftest import ev, fixture_events, write_jsonl

from liveops import analysis as A
from liveops.store import EventLog


@pytest.fixture
def three_shows(tmp_path):
    """The fixture's s1 and s2, then s3 in the same room with a weak exposure→click step."""
    s3 = [
        ev("c00", 2000, "session_start", session="s3"),
        ev("c01", 2000, "room_impression", session="s3", count=100),
    ]
    for i in range(1, 5):
        s3.append(ev(f"c1{i}", 2000 + i, "enter", session="s3", user_id=f"u{i}", source="feed"))
    for i in range(1, 4):
        s3.append(
            ev(f"c2{i}", 2010 + i, "product_impression", session="s3", user_id=f"u{i}", product_id="p1")
        )
    s3 += [
        ev("c31", 2020, "product_click", session="s3", user_id="u1", product_id="p1"),
        ev("c32", 2030, "order", session="s3", user_id="u1", product_id="p1", order_id="o9", amount=10),
        ev("c33", 2031, "pay", session="s3", user_id="u1", order_id="o9", amount=10),
        ev("c34", 2100, "session_end", session="s3"),
    ]
    log = EventLog(tmp_path / "three.duckdb")
    log.ingest(str(write_jsonl(tmp_path / "three.jsonl", fixture_events() + s3)))
    yield log
    log.close()


def test_funnel_steps_rates_and_weakest_step_vs_trailing_baseline(three_shows):
    f = A.funnel(three_shows.events, "s3")
    assert list(f.steps["uv"]) == [100, 4, 3, 1, 1]
    assert f.baseline_sessions == ["s2", "s1"]
    rates = f.rates.set_index("rate")
    # pooled baseline of s1 + s2: impressions 150, viewers 5, exposed 3, clickers 2, buyers 2
    assert rates.loc["exposure_click", "uv_rate"] == pytest.approx(1 / 3)
    assert rates.loc["exposure_click", "baseline_uv_rate"] == pytest.approx(2 / 3)
    assert rates.loc["entry_exposure", "change"] == pytest.approx(0.75 / 0.6 - 1)
    assert f.weakest.rate == "exposure_click"
    assert f.weakest.change == pytest.approx(-0.5)


def test_funnel_without_history_names_no_weakest_step(fixture_log):
    f = A.funnel(fixture_log.events, "s1")
    assert f.baseline_sessions == [] and f.weakest is None
    by = f.by_source.set_index("source")
    assert by.loc["paid", "impressions_pv"] == 50 and by.loc["paid", "purchase_uv"] == 1


def test_sources(fixture_log):
    s = A.sources(fixture_log.events, "s1").set_index("source")
    assert s.loc["feed", "views"] == 2 and s.loc["feed", "gmv"] == pytest.approx(100.0)
    assert s.loc["paid", "gmv"] == pytest.approx(50.5) and s.loc["paid", "views"] == 2
    assert s.loc["feed", "avg_watch_seconds"] == pytest.approx(560)
    assert s.loc["search", "conversion_rate"] == 0
    assert s["uv_share"].sum() == pytest.approx(1.0)


def test_products_with_explain_windows(fixture_log):
    p = A.products(fixture_log.events, "s1").set_index("product_id")
    assert p.loc["p1", "gmv"] == pytest.approx(150.5)  # o1's pay has no product_id: taken from its order
    assert p.loc["p1", "refund_amount"] == pytest.approx(50.5)
    assert p.loc["p1", "explain_count"] == 1 and p.loc["p1", "explain_minutes"] == pytest.approx(1.0)
    assert p.loc["p1", "gmv_in_explain"] == pytest.approx(150.5)
    assert p.loc["p1", "product_ctr"] == pytest.approx(1.0)  # 2 clickers of 2 exposed
    assert p.loc["p2", "product_click_uv"] == 0


def test_segments_and_retention(fixture_log):
    s = A.segments(fixture_log.events, "s1")
    (seg,) = s.segments.to_dict(orient="records")
    assert seg["viewers_at_start"] == 1 and seg["retention"] == 0  # u1 left at 70 s, before the end at 75 s
    assert seg["orders"] == 3 and seg["gmv"] == pytest.approx(150.5)
    assert s.lost_5min_rate == pytest.approx(3 / 4)
    assert list(s.retention["retained"][:3]) == pytest.approx([1.0, 0.75, 0.25])


def test_timeline_online_and_explaining(fixture_log):
    tl = A.timeline(fixture_log.events, "s1")
    assert list(tl["online"][:3]) == [3, 4, 2]
    assert list(tl["explaining"][:3]) == ["p1", "p1", None]
    assert tl["gmv"].sum() == pytest.approx(150.5)
