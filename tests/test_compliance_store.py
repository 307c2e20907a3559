"""Compliance hits kept with the events: scanned at ingest (files and the server), linked to event ids,
in the hash-chained audit log; evidence export, streamer blacklist, risk matrix, report section."""

from __future__ import annotations

import json

import duckdb
import orjson
import pytest
from conftest import ev
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from liveops import audit
from liveops import compliance_store as CS
from liveops.cli import app as cli
from liveops.compliance import Lexicon, default_scanner
from liveops.eventio import write_events
from liveops.risk import Assumptions, risk_matrix
from liveops.simulate import SimConfig, simulate
from liveops.store import EventLog
from liveops.tokens import TokenStore, tokens_path
from liveops.web import ServerConfig, create_app

runner = CliRunner()


@pytest.fixture(scope="module")
def shows(tmp_path_factory):
    """Two simulated shows of one room and streamer, with injected violations, ingested by the CLI."""
    d = tmp_path_factory.mktemp("cs")
    res = simulate(SimConfig(viewers=3000, minutes=40, seed=11, sessions=2))
    path = d / "shows.jsonl"
    write_events(res.events, path)
    db = d / "cs.duckdb"
    r = runner.invoke(cli, ["ingest", str(path), "--db", str(db)])
    assert r.exit_code == 0, r.output
    assert "合规扫描 compliance scan" in r.output
    return db, path, res.truth


def test_hits_are_linked_to_their_events(shows):
    db, _, truth = shows
    con = duckdb.connect(str(db))
    rows = con.execute(
        """SELECT h.event_id, h.text, e.text, h.start, h."end", h.matched, h.kind, e.type
           FROM compliance_hits h JOIN events e USING (event_id)"""
    ).fetchall()
    assert rows and len(rows) == con.execute("SELECT count(*) FROM compliance_hits").fetchall()[0][0]
    for _, htext, etext, a, b, matched, kind, typ in rows:
        assert htext == etext and etext[a:b] == matched and kind == typ
    model_kinds = {
        k for (k,) in con.execute("SELECT kind FROM compliance_hits WHERE rule LIKE 'model.%'").fetchall()
    }
    assert model_kinds <= {"transcript", "comment"}
    flagged = {e for e, *_ in rows}
    assert {v["event_id"] for v in truth["violations"]} <= flagged
    con.close()


def test_scanning_again_stores_nothing_twice(shows):
    db, path, _ = shows
    with EventLog(db) as log:
        before = log.con.execute("SELECT count(*) FROM compliance_hits").fetchall()[0][0]
        assert CS.refresh(log.con, default_scanner(), str(db)).sessions == 0  # nothing changed
        r = CS.refresh(log.con, default_scanner(), str(db), force=True)
        assert r.sessions == 2 and r.hits == 0
        assert log.con.execute("SELECT count(*) FROM compliance_hits").fetchall()[0][0] == before
    r = runner.invoke(cli, ["ingest", str(path), "--db", str(db)])
    assert r.exit_code == 0
    with EventLog(db) as log:
        assert log.con.execute("SELECT count(*) FROM compliance_hits").fetchall()[0][0] == before
        assert audit.verify(log.con, str(db)).ok


def test_every_hit_is_in_the_audit_log(shows):
    db, _, _ = shows
    with EventLog(db) as log:
        n_hits = log.con.execute("SELECT count(*) FROM compliance_hits").fetchall()[0][0]
        recs = {r["ref"]: r["payload"] for r in audit.records(log.con, kind="hit")}
        assert len(recs) == n_hits
        one = log.con.execute("SELECT hit_id, matched, event_id FROM compliance_hits LIMIT 1").fetchall()[0]
        assert recs[one[0]]["matched"] == one[1] and recs[one[0]]["event_id"] == one[2]


def test_audit_verify_names_edited_deleted_and_truncated_records(tmp_path, shows):
    src, _, _ = shows
    db = tmp_path / "t.duckdb"
    db.write_bytes(src.read_bytes())
    (tmp_path / "t.duckdb.audit-head").write_bytes((src.parent / (src.name + ".audit-head")).read_bytes())
    assert runner.invoke(cli, ["audit", "verify", "--db", str(db)]).exit_code == 0
    con = duckdb.connect(str(db))
    n = con.execute("SELECT max(seq) FROM audit_log").fetchall()[0][0]
    original = con.execute("SELECT payload FROM audit_log WHERE seq = 3").fetchall()[0][0]
    con.execute(
        "UPDATE audit_log SET payload = replace(payload, '\"severity\"', '\"Severity\"') WHERE seq = 3"
    )
    con.close()
    r = runner.invoke(cli, ["audit", "verify", "--db", str(db), "--format", "json"])
    assert r.exit_code == 3
    problems = json.loads(r.output)["problems"]
    assert [(p["seq"], p["kind"]) for p in problems] == [(3, "edited")]
    con = duckdb.connect(str(db))
    con.execute("UPDATE audit_log SET payload = ? WHERE seq = 3", [original])  # undo
    con.execute("DELETE FROM audit_log WHERE seq = 5")
    con.close()
    r = runner.invoke(cli, ["audit", "verify", "--db", str(db)])
    assert r.exit_code == 3 and "#5–#5" in r.output and "deleted" in r.output
    con = duckdb.connect(str(db))
    con.execute(f"DELETE FROM audit_log WHERE seq >= {n - 1}")
    con.close()
    r = runner.invoke(cli, ["audit", "verify", "--db", str(db), "--format", "json"])
    kinds = {p["kind"] for p in json.loads(r.output)["problems"]}
    assert r.exit_code == 3 and "truncated" in kinds


def test_evidence_export(shows, tmp_path):
    db, _, truth = shows
    sid = truth["violations"][0]["session_id"]
    out = tmp_path / "ev"
    r = runner.invoke(cli, ["evidence", "export", "--session", sid, "--out", str(out), "--db", str(db)])
    assert r.exit_code == 0, r.output
    data = orjson.loads((out / "hits.json").read_bytes())
    assert data["session_id"] == sid and data["hits"]
    h = data["hits"][len(data["hits"]) // 2]
    assert h["event_id"] and h["ts"].endswith("Z") and h["text"][h["start"] : h["end"]] == h["matched"]
    assert h["before"] and h["after"]  # surrounding lines of the show
    assert len(h["audit_hash"]) == 64
    csv_text = (out / "hits.csv").read_text(encoding="utf-8-sig")
    assert csv_text.count("\n") == len(data["hits"]) + 1 or len(data["hits"]) > 0
    manifest = json.loads((out / "manifest.json").read_text())
    import hashlib

    assert manifest["files"]["hits.json"] == hashlib.sha256((out / "hits.json").read_bytes()).hexdigest()
    r = runner.invoke(cli, ["evidence", "export", "--session", "nope", "--out", str(out), "--db", str(db)])
    assert r.exit_code == 2 and "session not found" in r.output


def test_streamer_blacklist(shows):
    db, _, truth = shows
    on_air = {v["session_id"] for v in truth["violations"] if v["kind"] == "transcript"}
    assert len(on_air) == 2  # the streamer broke the rules on air in both shows
    r = runner.invoke(cli, ["compliance", "blacklist", "--db", str(db), "--format", "json"])
    rows = json.loads(r.output)
    con = duckdb.connect(str(db))
    blocks = con.execute(
        "SELECT count(*) FROM compliance_hits WHERE kind = 'transcript' AND severity = 'block'"
    ).fetchall()[0][0]
    con.close()
    assert len(rows) == 1
    assert (
        rows[0]["streamer_id"] == "st01a"
        and rows[0]["shows_with_blocks"] == 2
        and rows[0]["shows_on_air"] == 2
    )
    assert rows[0]["block_hits"] == blocks
    r = runner.invoke(
        cli, ["compliance", "blacklist", "--db", str(db), "--min-shows", "3", "--format", "json"]
    )
    assert json.loads(r.output) == []


def test_compliance_hits_cli_and_report_section(shows, tmp_path):
    db, _, truth = shows
    sid = truth["violations"][0]["session_id"]
    r = runner.invoke(
        cli,
        ["compliance", "hits", "--db", str(db), "--session", sid, "--severity", "block", "--format", "json"],
    )
    rows = json.loads(r.output)
    assert rows and {x["severity"] for x in rows} == {"block"} and {x["session_id"] for x in rows} == {sid}
    r = runner.invoke(cli, ["alerts", "--db", str(db), "--session", sid, "--format", "json"])
    raised = {a["rule"] for a in json.loads(r.output) if a["source"] == "compliance"}
    assert raised == {f"compliance.{c}" for c in {x["category"] for x in rows}}  # block hits raise alerts
    out = tmp_path / "r.html"
    r = runner.invoke(cli, ["report", "--db", str(db), "--session", sid, "-o", str(out), "-q"])
    assert r.exit_code == 0, r.output
    html = out.read_text(encoding="utf-8")
    for anchor in (
        'id="compliance"',
        'id="compliance-by-category"',
        'id="compliance-hits"',
        'id="risk-matrix"',
        'id="risk-controls"',
    ):
        assert anchor in html
    assert "合规风控" in html


# -- risk matrix on a hand-made history ------------------------------------------------------------


def test_risk_matrix_by_hand(tmp_path):
    log = EventLog(tmp_path / "r.duckdb")
    rows = [ev(f"s{i}", i, "session_start", session=f"S{i}") for i in range(4)]
    rows += [
        ev("t1", 10, "transcript", session="S1", text="这是全网最低价"),
        ev("t2", 20, "transcript", session="S2", text="这个能治疗湿疹"),
    ]
    p = tmp_path / "e.jsonl"
    p.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    log.ingest(str(p))
    CS.refresh(log.con, default_scanner(), log.path)
    lex = Lexicon.packaged()
    a = Assumptions.load()
    m = risk_matrix(log.con, lex, a)
    assert m.shows == 4
    by = {r.category: r for r in m.rows}
    med = by["medical_claim"]
    assert med.shows_with_hits == 1
    assert med.likelihood == pytest.approx((1 + 1) / (4 + 2))
    cat = lex.categories["medical_claim"]
    expected = med.likelihood * a.enforcement_rate * (cat.fine_min + cat.fine_max) / 2
    assert med.expected_loss_per_show == pytest.approx(expected)
    assert med.expected_loss_per_year == pytest.approx(expected * a.shows_per_year)
    assert by["vulgar"].shows_with_hits == 0 and by["vulgar"].likelihood == pytest.approx(1 / 6)
    sr = next(c for c in m.controls if c.id == "script_review")
    ctl = next(c for c in a.controls if c.id == "script_review")
    avoided = sum(by[k].expected_loss_per_year * v for k, v in ctl.reduces.items())
    assert sr.loss_avoided_per_year == pytest.approx(avoided) and sr.roi == pytest.approx(
        avoided / ctl.cost_per_year
    )
    assert [r.expected_loss_per_year for r in m.rows] == sorted(
        (r.expected_loss_per_year for r in m.rows), reverse=True
    )
    log.close()
    r = runner.invoke(cli, ["risk", "--db", str(tmp_path / "r.duckdb"), "--format", "json"])
    assert r.exit_code == 0 and json.loads(r.output)["shows"] == 4


# -- the server: scanned as batches arrive, shown on the big screen, alert at block ------------------


def test_server_scans_batches_and_raises_block_alerts(tmp_path):
    db = tmp_path / "srv.duckdb"
    store = TokenStore(tokens_path(db))
    ingest, viewer = store.create("ingest")[1], store.create("viewer")[1]
    rows = [
        ev("b1", 0, "session_start", attrs={"streamer_id": "st9"}),
        ev("b2", 30, "comment", user_id="u1", text="加我微信买更便宜"),
        ev("b3", 65, "transcript", text="这款面霜是全网最低价，闭眼入", attrs={"streamer_id": "st9"}),
        ev("b4", 70, "comment", user_id="u2", text="第一次来，主播好"),
    ]
    with TestClient(create_app(db, ServerConfig(ingest_rate=0))) as c:
        h = {"Authorization": f"Bearer {ingest}"}
        assert c.post("/v1/events", content=orjson.dumps(rows[:2]), headers=h).status_code == 200
        assert c.post("/v1/events", content=orjson.dumps(rows[2:]), headers=h).status_code == 200
        v = {"Authorization": f"Bearer {viewer}"}
        live = c.get("/v1/sessions/s1/live", headers=v).json()
        cp = live["compliance"]
        assert {r["category"] for r in cp["counts"]} >= {"off_platform", "absolute_claim"}
        assert all(r["category_zh"] for r in cp["counts"])
        assert [h["kind"] for h in cp["latest"]][:1] == ["transcript"]
        alerts = c.get("/v1/sessions/s1/alerts", headers=v).json()
        rules = {a["rule"] for a in alerts if a["source"] == "compliance"}
        assert {"compliance.off_platform", "compliance.absolute_claim"} <= rules
        # the same hits over the API, and texts checked on request (as `liveops check --format json`)
        got = c.get("/v1/sessions/s1/compliance", headers=v).json()
        assert {x["event_id"] for x in got} == {"b2", "b3"}
        assert c.get("/v1/sessions/s1/compliance?severity=review", headers=v).json() == [
            x for x in got if x["severity"] == "review"
        ]
        assert c.get("/v1/sessions/nope/compliance", headers=v).status_code == 404
        r = c.post("/v1/check", json={"texts": ["最*好的面霜", "上第一个链接"]}, headers=v)
        assert r.status_code == 200
        assert [[x["matched"] for x in row["hits"]] for row in r.json()] == [["最*好"], []]
        assert (
            c.post("/v1/check", json={"texts": ["你好"]}, headers=h).status_code == 403
        )  # ingest-only token
        assert c.post("/v1/check", json={"text": "x"}, headers=v).status_code in (400, 422)
        # a reviewer's verdict over the API: the token's name is the reviewer; bad ids and values refused
        analyst = store.create("analyst", "李四")[1]
        a = {"Authorization": f"Bearer {analyst}"}
        assert c.get("/v1/me", headers=a).json() == {
            "name": "李四",
            "role": "analyst",
            "can": ["analyse", "read"],
        }
        assert c.get("/v1/me").status_code == 401
        b3 = next(x for x in got if x["event_id"] == "b3")
        url = f"/v1/compliance/hits/{b3['hit_id']}/verdict"
        assert c.post(url, json={"verdict": "dismissed"}, headers=v).status_code == 403  # viewers only look
        r = c.post(url, json={"verdict": "confirmed", "note": "全网最低无依据"}, headers=a)
        assert r.status_code == 200 and r.json()["reviewer"] == "李四"
        judged = c.get("/v1/sessions/s1/compliance", headers=v).json()
        assert [(x["verdict"], x["reviewer"]) for x in judged if x["hit_id"] == b3["hit_id"]] == [
            ("confirmed", "李四")
        ]
        assert (
            c.post(
                "/v1/compliance/hits/0123456789abcdef/verdict", json={"verdict": "dismissed"}, headers=a
            ).status_code
            == 404
        )
        assert c.post(url, json={"verdict": "maybe"}, headers=a).status_code == 400
        # a re-post stores no hit twice
        c.post("/v1/events", content=orjson.dumps(rows), headers=h)
    with EventLog(db) as log:
        assert log.con.execute("SELECT count(DISTINCT event_id) FROM compliance_hits").fetchall()[0][0] == 2
        kinds = [r["kind"] for r in audit.records(log.con)]
        assert "hit" in kinds and "alert" in kinds and "hit_verdict" in kinds
        assert audit.verify(log.con, str(db)).ok


def test_comments_get_the_models_second_opinion_as_a_viewers():
    """A danmaku the lexicon has no word for is still read by the n-gram model (as a viewer's line)."""
    import pyarrow as pa

    texts = {
        "c1": "专业刷直播间人气，一小时五十块",
        "c2": "第一次来，主播好",
        "t1": "今天的羊毛大衣有三个颜色",
    }
    rows = pa.Table.from_pylist(
        [
            {
                "event_id": k,
                "session_id": "s1",
                "room_id": "r1",
                "ts": None,
                "type": "transcript" if k == "t1" else "comment",
                "user_id": None,
                "text": t,
                "streamer_id": None,
            }
            for k, t in texts.items()
        ]
    )
    sc = default_scanner()
    assert not sc.scan([texts["c1"]])[0].hits  # the lexicon alone misses it
    hits = CS.hits_of(sc, rows).to_pylist()
    assert [(h["event_id"], h["rule"], h["kind"], h["severity"]) for h in hits] == [
        ("c1", "model.false_data", "comment", "review")
    ]
    assert CS.hits_of(sc, rows, model=False).num_rows == 0
