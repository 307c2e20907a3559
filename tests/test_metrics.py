"""The pinned metric definitions, each checked against the hand-computed fixture in conftest.py."""

from __future__ import annotations

import pytest

from liveops.metrics import CATALOG, DIMENSIONS, session_metrics

# Hand computation for session s1 (ten minutes, four viewers):
# visits u1 [10,70] + [100,600], u2 [20,320] (its second enter at 30 is a repeat), u3 [50,110], u4 [60,90]
EXPECTED_S1 = {
    "views": 6,
    "uv": 4,
    "peak_online": 4,  # at t=60..70: u1, u2, u3, u4
    "avg_watch_seconds": (60 + 500 + 300 + 60 + 30) / 4,
    "exposure_entry_rate": 6 / 150,
    "interaction_rate": 3 / 4,
    "follow_rate": 1 / 4,
    "product_exposure_rate": 3 / 4,
    "product_ctr": 2 / 3,
    "click_pay_rate": 2 / 2,
    "conversion_rate": 2 / 4,
    "gmv": 150.50,
    "pay_orders": 2,
    "buyers": 2,
    "aov": 75.25,
    "uv_value": 150.50 / 4,
    "gpm": 150.50 / 6 * 1000,
    "refund_rate": 50.50 / 150.50,
    "net_gmv": 100.00,
    "gift_value": 9.90,
    "ad_cost": 50.00,
    "roi": 150.50 / 50,
    "ad_ctr": 30 / 2000,
    "cpm": 50 / 2000 * 1000,
    "cpc": 50 / 30,
    "order_pay_rate": 2 / 3,
    "like_count": 8,
    "comment_uv": 1,
    # beyond the pinned list
    "watch_1min_rate": 4 / 5,
    "lost_5min_rate": 3 / 4,
    "duration_seconds": 600,
    "avg_online": 950 / 600,
    "paid_traffic_share": 1 / 4,
    "product_ctr_pv": 3 / 4,
    "add_to_cart_rate": 1 / 2,
    "refund_order_rate": 1 / 2,
    "explain_count": 1,
}


@pytest.mark.parametrize("key", sorted(EXPECTED_S1))
def test_pinned_metric(fixture_log, key):
    got = session_metrics(fixture_log.events, "s1")
    assert got[key] == pytest.approx(EXPECTED_S1[key], rel=1e-12), key


def test_snapshots_win_over_intervals(fixture_log):
    got = session_metrics(fixture_log.events, "s2")
    assert got["peak_online"] == 30
    assert got["avg_online"] == pytest.approx((10 * 60 + 30 * 60 + 20 * 60) / 180)
    # one viewer online from 1010 to the end at 1180
    assert got["avg_watch_seconds"] == pytest.approx(170)


def test_zero_denominator_is_null(fixture_log):
    got = session_metrics(fixture_log.events, "s2")
    assert got["gmv"] is None or got["gmv"] == 0
    assert got["aov"] is None
    assert got["roi"] is None
    assert got["exposure_entry_rate"] is None


def test_catalog_is_complete_and_bilingual():
    assert len(CATALOG) >= 45
    for m in CATALOG.values():
        assert m.zh and m.en and m.definition, m.key
        assert m.dimension in DIMENSIONS, m.key
        if m.is_ratio:
            assert m.num in CATALOG and m.den in CATALOG, m.key
