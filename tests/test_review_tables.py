"""Stored review tables (复盘表): the same numbers as computing from events, rebuilt when a session grows."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from conftest import ev, fixture_events, write_jsonl
from typer.testing import CliRunner

import liveops
from liveops import review_tables as RT
from liveops.api import Workspace
from liveops.cli import app
from liveops.report import build_review
from liveops.simulate import SimConfig, simulate
from liveops.store import EventLog

METHODS = ("timeline", "sources", "products", "explain_windows", "alerts")


def assert_same_review(stored: Workspace, computed: Workspace, sid: str) -> None:
    assert stored.review_tables(sid) is not None
    assert computed.review_tables(sid) is None
    assert stored.metric_values(sid) == pytest.approx(computed.metric_values(sid), nan_ok=True)
    for m in METHODS:
        pd.testing.assert_frame_equal(getattr(stored, m)(sid), getattr(computed, m)(sid), check_dtype=False)
    a, b = stored.funnel_result(sid), computed.funnel_result(sid)
    for part in ("steps", "rates", "by_source"):
        pd.testing.assert_frame_equal(getattr(a, part), getattr(b, part), check_dtype=False)
    assert (a.baseline_sessions, a.weakest) == (b.baseline_sessions, b.weakest)
    sa, sb = stored.segments(sid), computed.segments(sid)
    pd.testing.assert_frame_equal(sa.segments, sb.segments, check_dtype=False)
    pd.testing.assert_frame_equal(sa.retention, sb.retention, check_dtype=False)
    assert sa.lost_5min_rate == pytest.approx(sb.lost_5min_rate, nan_ok=True)
    ca, cb = stored.comments(sid), computed.comments(sid)
    assert (ca.total, ca.n_questions, ca.n_complaints) == (cb.total, cb.n_questions, cb.n_complaints)
    pd.testing.assert_frame_equal(ca.questions, cb.questions, check_dtype=False)
    pd.testing.assert_frame_equal(ca.complaints, cb.complaints, check_dtype=False)


def _computed(log: EventLog) -> Workspace:
    """A workspace that never reads stored tables: the definition the stored copy must match."""
    return Workspace(log.events, log.products)


def test_stored_tables_equal_computed_on_fixture(fixture_log):
    assert RT.stale_sessions(fixture_log.con) == [("s1", 39), ("s2", 6)]
    assert RT.refresh(fixture_log) == ["s1", "s2"]
    assert RT.stale_sessions(fixture_log.con) == []
    ws = Workspace(fixture_log.events, fixture_log.products, log=fixture_log)
    for sid in ("s1", "s2"):
        assert_same_review(ws, _computed(fixture_log), sid)
    assert ws.metric_values("s1")["gmv"] == 150.5  # as hand-computed in test_metrics.py


def test_new_events_make_the_copy_stale_and_refresh_rebuilds_it(fixture_log, tmp_path):
    RT.refresh(fixture_log)
    ws = Workspace(fixture_log.events, fixture_log.products, log=fixture_log)
    before = ws.metric_values("s1")
    late = [ev("z01", 500, "pay", user_id="u9", order_id="o99", amount=1.5)]
    fixture_log.ingest(str(write_jsonl(tmp_path / "late.jsonl", late)))
    assert ws.review_tables("s1") is None  # stale: never served
    assert ws.metric_values("s1")["gmv"] == before["gmv"] + 1.5  # computed from events meanwhile
    assert RT.stale_sessions(fixture_log.con) == [("s1", 40)]
    RT.refresh(fixture_log)
    assert ws.review_tables("s1").events == 40
    assert ws.metric_values("s1")["gmv"] == before["gmv"] + 1.5


def test_only_ended_shows_are_built_unless_asked(tmp_path):
    rows = [r for r in fixture_events() if r["type"] != "session_end" or r["session_id"] != "s2"]
    log = EventLog(tmp_path / "live.duckdb")
    log.ingest(str(write_jsonl(tmp_path / "e.jsonl", rows)))
    assert [s for s, _ in RT.stale_sessions(log.con)] == ["s1"]
    assert [s for s, _ in RT.stale_sessions(log.con, ended_only=False)] == ["s1", "s2"]
    log.close()


def test_stored_tables_equal_computed_on_simulated_shows(tmp_path):
    res = simulate(SimConfig(viewers=1500, minutes=40, sessions=3, seed=7))
    log = EventLog(tmp_path / "sim.duckdb")
    log.ingest_arrow(res.events)
    built = RT.refresh(log)
    assert len(built) == 3
    ws = Workspace(log.events, log.products, log=log)
    for sid in built:
        assert_same_review(ws, _computed(log), sid)
    # The report reads the stored copy and says the same as one computed from events.
    a, b = build_review(ws, built[-1]), build_review(_computed(log), built[-1])
    assert a.metrics == pytest.approx(b.metrics, nan_ok=True)
    assert [s.rule for s in a.suggestions] == [s.rule for s in b.suggestions]
    log.close()


def test_cli_ingest_builds_review_tables_and_refresh_command(tmp_path):
    db = str(tmp_path / "cli.duckdb")
    src = write_jsonl(tmp_path / "e.jsonl", fixture_events())
    r = CliRunner().invoke(app, ["ingest", str(src), "--db", db, "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["review_tables"]["sessions"] == ["s1", "s2"]
    with liveops.open(db) as ws:  # read-only: stored tables are read all the same
        assert ws.review_tables("s1") is not None
        assert ws.metric_values("s1")["views"] == 6

    db2 = str(tmp_path / "cli2.duckdb")
    r = CliRunner().invoke(app, ["ingest", str(src), "--db", db2, "--json", "--no-review-tables"])
    assert json.loads(r.stdout)["review_tables"]["sessions"] == []
    r = CliRunner().invoke(app, ["refresh", "--db", db2, "--session", "nope"])
    assert r.exit_code == 2 and "nope" in r.output
    r = CliRunner().invoke(app, ["refresh", "--db", db2, "--session", "s2"])
    assert r.exit_code == 0, r.output
    assert "s2" in r.output
    r = CliRunner().invoke(app, ["refresh", "--db", db2])
    assert r.exit_code == 0 and "1 场次" in r.output  # only s1 was left to build
    with liveops.open(db2) as ws:
        assert ws.review_tables("s1") is not None and ws.review_tables("s2") is not None
