"""The CLI contract: command names, flags, exit codes and JSON shapes that scripts rely on."""

from __future__ import annotations

import json

import pytest
from conftest import ev, fixture_events, write_jsonl
from test_metrics import EXPECTED_S1
from typer.testing import CliRunner

from liveops.cli import app
from liveops.metrics import CATALOG

runner = CliRunner()

PINNED = [
    "views",
    "uv",
    "peak_online",
    "avg_watch_seconds",
    "exposure_entry_rate",
    "interaction_rate",
    "follow_rate",
    "product_exposure_rate",
    "product_ctr",
    "click_pay_rate",
    "conversion_rate",
    "gmv",
    "pay_orders",
    "buyers",
    "aov",
    "uv_value",
    "gpm",
    "refund_rate",
    "net_gmv",
    "gift_value",
    "ad_cost",
    "roi",
    "ad_ctr",
    "cpm",
    "cpc",
    "order_pay_rate",
    "like_count",
    "comment_uv",
]


@pytest.fixture
def db(tmp_path):
    f = write_jsonl(tmp_path / "show.jsonl", fixture_events())
    path = str(tmp_path / "cli.duckdb")
    r = runner.invoke(app, ["ingest", str(f), "--db", path, "--quiet"])
    assert r.exit_code == 0, r.output
    return path


def test_ingest_exit_codes(tmp_path):
    good = write_jsonl(tmp_path / "good.jsonl", fixture_events()[:5])
    mixed = write_jsonl(tmp_path / "mixed.jsonl", [ev("z1", 1, "enter", user_id="u", source="feed"), "junk"])
    db = str(tmp_path / "x.duckdb")
    assert runner.invoke(app, ["ingest", str(good), "--db", db]).exit_code == 0
    r = runner.invoke(app, ["ingest", str(mixed), "--db", db, "--json"])
    assert r.exit_code == 1
    summary = json.loads(r.stdout)
    assert summary["total"]["stored"] == 1 and summary["total"]["rejected"] == 1
    assert runner.invoke(app, ["ingest", str(tmp_path / "missing.jsonl"), "--db", db]).exit_code == 2
    assert runner.invoke(app, ["ingest", str(tmp_path / "x.txt"), "--db", db]).exit_code == 2
    assert runner.invoke(app, ["ingest", "--db", db]).exit_code == 2


def test_ingest_from_stdin(tmp_path):
    body = "\n".join(json.dumps(e) for e in fixture_events()[:4])
    db = str(tmp_path / "stdin.duckdb")
    r = runner.invoke(app, ["ingest", "-", "--db", db, "--json"], input=body)
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["total"]["stored"] == 4


def test_metrics_json_has_every_pinned_key(db):
    r = runner.invoke(app, ["metrics", "--db", db, "--session", "s1", "--format", "json"])
    assert r.exit_code == 0, r.output
    got = json.loads(r.stdout)
    assert set(PINNED) <= set(got)
    for k in PINNED:
        assert got[k] == pytest.approx(EXPECTED_S1[k], rel=1e-9), k


def test_metrics_table_and_breakdowns(db):
    r = runner.invoke(app, ["metrics", "--db", db, "-s", "s1", "--format", "table"])
    assert r.exit_code == 0 and "成交金额" in r.stdout
    for by, key in (("minute", "online"), ("source", "source"), ("product", "product_id")):
        r = runner.invoke(app, ["metrics", "--db", db, "-s", "s1", "--by", by, "--format", "json"])
        assert r.exit_code == 0, r.output
        rows = json.loads(r.stdout)
        assert rows and key in rows[0]
    r = runner.invoke(app, ["metrics", "--db", db, "-s", "s1", "--by", "minute", "--format", "json"])
    assert len(json.loads(r.stdout)) == 11  # minutes 0..10 of the ten-minute show


def test_catalog_listing(tmp_path):
    r = runner.invoke(app, ["metrics", "--list", "--format", "json"])
    rows = json.loads(r.stdout)
    assert len(rows) == len(CATALOG) >= 45
    assert {"key", "zh", "en", "dimension", "definition"} <= set(rows[0])
    md = runner.invoke(app, ["metrics", "--list", "--markdown"]).stdout
    assert "| `gmv` | 成交金额 |" in md


@pytest.mark.parametrize("cmd", ["funnel", "sources", "products", "segments"])
def test_analysis_commands(db, cmd):
    r = runner.invoke(app, [cmd, "--db", db, "--session", "s1", "--format", "json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)
    r = runner.invoke(app, [cmd, "--db", db, "--session", "s1"])
    assert r.exit_code == 0, r.output


def test_unknown_session_and_missing_store(db, tmp_path):
    r = runner.invoke(app, ["metrics", "--db", db, "--session", "nope"])
    assert r.exit_code == 2 and "nope" in r.output
    r = runner.invoke(app, ["metrics", "--db", str(tmp_path / "none.duckdb")])
    assert r.exit_code == 2


def test_default_session_is_latest(db):
    r = runner.invoke(app, ["metrics", "--db", db, "--format", "json"])
    assert json.loads(r.stdout)["peak_online"] == 30  # s2 started last


def test_products_import(db, tmp_path):
    f = tmp_path / "p.csv"
    f.write_text(
        "product_id,name,price,category\np1,保湿面霜,99.00,美妆\np2,防晒霜,59.90,美妆\n", encoding="utf-8"
    )
    r = runner.invoke(app, ["products", "import", str(f), "--db", db])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["products", "--db", db, "-s", "s1", "--format", "json"])
    rows = {x["product_id"]: x for x in json.loads(r.stdout)}
    assert rows["p1"]["name"] == "保湿面霜" and rows["p1"]["gmv"] == pytest.approx(150.5)
    bad = tmp_path / "bad.csv"
    bad.write_text("product_id,name,price\np3,x,not-a-price\n")
    assert runner.invoke(app, ["products", "import", str(bad), "--db", db]).exit_code == 2


def test_docs_metrics_md_is_generated_from_the_catalog():
    from pathlib import Path

    md = runner.invoke(app, ["metrics", "--list", "--markdown"]).stdout
    assert (Path(__file__).parent.parent / "docs" / "metrics.md").read_text(encoding="utf-8") == md


def test_notebook_api(db):
    import liveops

    with liveops.open(db) as ws:
        assert list(ws.sessions()["session_id"]) == ["s1", "s2"]
        m = ws.metrics("s1")
        assert m.loc["gmv", "value"] == pytest.approx(150.5) and m.loc["gmv", "zh"] == "成交金额"
        assert ws.metric_values("s1")["uv"] == 4
        tl = ws.timeline("s1")
        assert len(tl) == 11 and tl["online"].max() == 4
        assert str(tl["minute_local"].iloc[0]) == "2026-11-24 20:00:00+08:00"
        steps = ws.funnel("s1")
        assert list(steps["uv"]) == [150, 4, 3, 2, 2]


def test_ingest_dry_run_stores_nothing_and_lists_rejected_rows(tmp_path):
    mixed = write_jsonl(
        tmp_path / "mixed.jsonl",
        [ev("d1", 1, "enter", user_id="u", source="feed"), "junk", ev("d2", 2, "teleport")],
    )
    db = tmp_path / "dry.duckdb"
    r = runner.invoke(app, ["ingest", str(mixed), "--db", str(db), "--dry-run"])
    assert r.exit_code == 1
    flat = "".join(r.output.split())  # Rich wraps long lines at the test terminal's width
    assert "line2:_line" in flat and "line3:type" in flat and "unknowntype" in flat
    assert not db.exists()
