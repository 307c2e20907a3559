"""The server's ingest and query API: tokens and roles, limits, clear 4xx errors, the CLI's JSON shapes."""

from __future__ import annotations

import gzip
import json
import time

import orjson
import pandas as pd
import pyarrow.parquet as pq
import pytest
from conftest import ev, fixture_events, write_jsonl
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from liveops.alerts import Alert
from liveops.cli import app as cli
from liveops.tokens import TokenStore, tokens_path
from liveops.web import ServerConfig, create_app, parse_batch


def _tokens(db) -> dict[str, str]:
    store = TokenStore(tokens_path(db))
    return {role: store.create(role)[1] for role in ("ingest", "viewer", "analyst", "admin")}


def _auth(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def server(tmp_path):
    db = tmp_path / "srv.duckdb"
    tok = _tokens(db)
    with TestClient(create_app(db, ServerConfig(ingest_rate=0))) as c:
        yield c, tok, db


def test_health_needs_no_token_everything_else_does(server):
    c, tok, _ = server
    assert c.get("/healthz").json() == {"status": "ok"}
    r = c.get("/v1/sessions")
    assert r.status_code == 401 and "bearer" in r.json()["error"]
    assert r.headers["www-authenticate"] == "Bearer"
    assert c.get("/v1/sessions", headers=_auth("lo_not-a-token")).status_code == 401
    assert c.post("/v1/events", content=b"[]").status_code == 401


def test_roles(server):
    c, tok, db = server
    body = orjson.dumps(fixture_events())
    assert c.post("/v1/events", content=body, headers=_auth(tok["viewer"])).status_code == 403
    assert c.post("/v1/events", content=body, headers=_auth(tok["analyst"])).status_code == 403
    assert c.post("/v1/events", content=body, headers=_auth(tok["ingest"])).status_code == 200
    assert c.get("/v1/sessions", headers=_auth(tok["ingest"])).status_code == 403
    for role in ("viewer", "analyst", "admin"):
        assert c.get("/v1/sessions", headers=_auth(tok[role])).status_code == 200
    # Revoking in the token file (as `liveops token revoke` does) takes effect on the next request.
    store = TokenStore(tokens_path(db))
    viewer = next(t for t in store.list() if t.role == "viewer")
    store.revoke(viewer.id)
    assert c.get("/v1/sessions", headers=_auth(tok["viewer"])).status_code == 401


def test_ingest_json_array_then_duplicates(server):
    c, tok, _ = server
    body = orjson.dumps(fixture_events())
    r = c.post("/v1/events", content=body, headers=_auth(tok["ingest"]))
    assert r.status_code == 200
    assert r.json() == {"accepted": 45, "duplicate": 0, "rejected": 0, "errors": []}
    r = c.post("/v1/events", content=body, headers=_auth(tok["ingest"]))
    assert r.json() == {"accepted": 0, "duplicate": 45, "rejected": 0, "errors": []}


def test_ingest_gzip_ndjson(server):
    c, tok, _ = server
    nd = b"\n".join(orjson.dumps(e) for e in fixture_events()) + b"\n\n"
    headers = {**_auth(tok["ingest"]), "Content-Encoding": "gzip", "Content-Type": "application/x-ndjson"}
    r = c.post("/v1/events", content=gzip.compress(nd), headers=headers)
    assert r.status_code == 200 and r.json()["accepted"] == 45


def test_bad_rows_are_listed_and_good_rows_kept(server):
    c, tok, _ = server
    rows = [
        ev("g1", 0, "session_start"),
        ev("b1", 1, "pay", user_id="u1", order_id="o1", amount=-5),
        ev("g2", 2, "enter", user_id="u1", source="feed"),
        ev("b2", 3, "teleport", user_id="u1"),
    ]
    r = c.post("/v1/events", content=orjson.dumps(rows), headers=_auth(tok["ingest"]))
    assert r.status_code == 200
    got = r.json()
    assert (got["accepted"], got["rejected"]) == (2, 2)
    assert [(e["index"], e["field"]) for e in got["errors"]] == [(1, "amount"), (3, "type")]
    assert "teleport" in got["errors"][1]["reason"]
    # NDJSON reports line numbers, counting blank lines as the file does.
    nd = b'{"event_id": "x"}\n\nnot json\n'
    r = c.post("/v1/events", content=nd, headers=_auth(tok["ingest"]))
    assert r.status_code == 422  # nothing stored: the whole batch was bad
    assert [e["line"] for e in r.json()["errors"]] == [1, 3]


@pytest.mark.parametrize(
    ("body", "headers", "status", "words"),
    [
        (b"[{", {}, 400, "malformed JSON array"),
        (b"not gzip", {"Content-Encoding": "gzip"}, 400, "gzip"),
        (b"", {}, 400, "no events"),
        (b"\n \n", {}, 400, "no events"),
    ],
)
def test_bad_requests_get_4xx_with_a_message(server, body, headers, status, words):
    c, tok, _ = server
    r = c.post("/v1/events", content=body, headers={**_auth(tok["ingest"]), **headers})
    assert r.status_code == status
    assert words in r.json()["error"]


def test_size_limits_and_rate_limit(tmp_path):
    db = tmp_path / "lim.duckdb"
    tok = _tokens(db)
    cfg = ServerConfig(max_events=10, max_bytes=4000, ingest_rate=5)
    with TestClient(create_app(db, cfg)) as c:
        h = _auth(tok["ingest"])
        many = [ev(f"e{i}", i, "like", user_id="u1", count=1) for i in range(11)]
        r = c.post("/v1/events", content=orjson.dumps(many), headers=h)
        assert r.status_code == 413 and "10" in r.json()["error"]
        r = c.post("/v1/events", content=b"\n".join(orjson.dumps(e) for e in many), headers=h)
        assert r.status_code == 413
        big = b"[" + b" " * 5000 + b"]"
        assert c.post("/v1/events", content=big, headers=h).status_code == 413
        bomb = gzip.compress(b"[" + b" " * 100_000 + b"]")
        r = c.post("/v1/events", content=bomb, headers={**h, "Content-Encoding": "gzip"})
        assert r.status_code == 413 and "uncompressed" in r.json()["error"]
        # 5 events/s, burst of one full batch (10): the first batch passes, the next one right after waits.
        batch = [ev(f"r{i}", i, "like", user_id="u1", count=1) for i in range(10)]
        assert c.post("/v1/events", content=orjson.dumps(batch), headers=h).status_code == 200
        r = c.post("/v1/events", content=orjson.dumps(batch), headers=h)
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
        assert "rate limit" in r.json()["error"]


def test_queries_have_the_cli_json_shapes(server, tmp_path):
    c, tok, _ = server
    c.post("/v1/events", content=orjson.dumps(fixture_events()), headers=_auth(tok["ingest"]))
    cli_db = str(tmp_path / "cli.duckdb")
    src = write_jsonl(tmp_path / "e.jsonl", fixture_events())
    assert CliRunner().invoke(cli, ["ingest", str(src), "--db", cli_db, "--quiet"]).exit_code == 0
    h = _auth(tok["viewer"])
    sessions = c.get("/v1/sessions", headers=h).json()
    assert [s["session_id"] for s in sessions] == ["s1", "s2"]
    for path, args in [
        ("metrics", ["metrics", "--format", "json"]),
        ("funnel", ["funnel", "--format", "json"]),
        ("sources", ["sources", "--format", "json"]),
        ("products", ["products", "--format", "json"]),
        ("segments", ["segments", "--format", "json"]),
        ("timeline", ["metrics", "--by", "minute", "--format", "json"]),
        ("alerts", ["alerts", "--format", "json"]),
    ]:
        api = c.get(f"/v1/sessions/s1/{path}", headers=h)
        assert api.status_code == 200, (path, api.text)
        r = CliRunner().invoke(cli, [*args, "--db", cli_db, "--session", "s1"])
        assert r.exit_code == 0, r.output
        assert api.json() == json.loads(r.stdout), path
    m = c.get("/v1/sessions/s1/metrics", headers=h).json()
    assert (m["views"], m["uv"], m["gmv"]) == (6, 4, 150.5)


def test_unknown_session_is_404(server):
    c, tok, _ = server
    r = c.get("/v1/sessions/nope/metrics", headers=_auth(tok["viewer"]))
    assert r.status_code == 404 and "nope" in r.json()["error"]


def test_websocket_ingest(server):
    c, tok, _ = server
    with c.websocket_connect("/v1/ingest", headers=_auth(tok["ingest"])) as ws:
        ws.send_text(orjson.dumps(fixture_events()[:10]).decode())
        assert ws.receive_json() == {
            "status": 200,
            "accepted": 10,
            "duplicate": 0,
            "rejected": 0,
            "errors": [],
        }
        ws.send_bytes(b"\n".join(orjson.dumps(e) for e in fixture_events()[5:12]))
        assert ws.receive_json()["accepted"] == 2
        ws.send_text("[{")
        assert ws.receive_json()["status"] == 400
    with c.websocket_connect("/v1/ingest", headers=_auth(tok["viewer"])) as ws:
        assert ws.receive_json()["status"] == 403


def test_cors_is_closed_by_default(server):
    c, tok, _ = server
    r = c.options(
        "/v1/sessions",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
    )
    assert "access-control-allow-origin" not in r.headers


def test_token_cli(tmp_path):
    db = str(tmp_path / "t.duckdb")
    r = CliRunner().invoke(cli, ["token", "create", "--role", "viewer", "--name", "screen", "--db", db])
    assert r.exit_code == 0, r.output
    secret = r.stdout.strip()
    assert secret.startswith("lo_")
    assert secret not in tokens_path(db).read_text()  # stored hashed
    assert oct(tokens_path(db).stat().st_mode & 0o777) == "0o600"
    r = CliRunner().invoke(cli, ["token", "list", "--db", db, "--format", "json"])
    assert [t["name"] for t in json.loads(r.stdout)] == ["screen"]
    assert CliRunner().invoke(cli, ["token", "create", "--role", "boss", "--db", db]).exit_code == 2
    assert CliRunner().invoke(cli, ["token", "revoke", "screen", "--db", db]).exit_code == 0
    assert CliRunner().invoke(cli, ["token", "revoke", "screen", "--db", db]).exit_code == 2
    assert TokenStore(tokens_path(db)).check(secret) is None


def test_live_state_follows_ingest_and_survives_a_restart(tmp_path):
    db = tmp_path / "live.duckdb"
    tok = _tokens(db)
    events = fixture_events()
    s1 = [e for e in events if e["session_id"] == "s1"]
    with TestClient(create_app(db, ServerConfig(ingest_rate=0))) as c:
        h = _auth(tok["ingest"])
        c.post("/v1/events", content=orjson.dumps(s1[:20]), headers=h)
        with c.websocket_connect("/v1/live/s1") as ws:
            ws.send_text(json.dumps({"token": tok["viewer"]}))
            first = ws.receive_json()
            assert first["status"] == 200 and first["events"] == 20
            c.post("/v1/events", content=orjson.dumps(s1[20:]), headers=h)
            pushed = ws.receive_json()
            assert pushed["events"] == len(s1)
            assert (pushed["metrics"]["views"], pushed["metrics"]["gmv"]) == (6, 150.5)
        with c.websocket_connect("/v1/live/s1") as ws:
            ws.send_text(json.dumps({"token": tok["ingest"]}))  # an ingest token cannot watch
            assert ws.receive_json()["status"] == 401
        # The show ended: its review tables are built in the background and then served.
        deadline = time.monotonic() + 30
        while c.app.state.server.workspace().review_tables("s1") is None:
            assert time.monotonic() < deadline, "review tables were not built"
            time.sleep(0.2)
    with TestClient(create_app(db, ServerConfig(ingest_rate=0))) as c:  # restarted: rebuilt from the log
        r = c.get("/v1/sessions/s1/live", headers=_auth(tok["viewer"]))
        assert r.status_code == 200
        assert r.json()["metrics"]["gmv"] == 150.5 and r.json()["ended"]
        assert c.get("/v1/sessions/nope/live", headers=_auth(tok["viewer"])).status_code == 404


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=20),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3),
    max_leaves=8,
)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.dictionaries(st.text(max_size=5), json_values, max_size=4), max_size=30),
    st.booleans(),
    st.booleans(),
)
def test_parse_batch_keeps_every_event_in_order(items, as_array, gz):
    """Property: a batch becomes one NDJSON line per event, in order, whatever the framing and compression."""
    body = orjson.dumps(items) if as_array else b"\n".join(orjson.dumps(x) for x in items)
    if gz:
        body = gzip.compress(body)
    nd, was_array = parse_batch(body, max_events=10_000, max_bytes=1 << 20, gzipped=gz)
    assert was_array == (as_array and True)
    assert [orjson.loads(line) for line in nd.split(b"\n") if line.strip()] == items


def test_pages_and_api_docs_load_nothing_from_the_internet(server):
    c, _, _ = server
    for path in ("/docs", "/", "/live/s1"):
        r = c.get(path)
        assert r.status_code == 200, path
        assert "http://" not in r.text and "https://" not in r.text, path  # no CDN, no external asset
    for asset in ("/static/swagger/swagger-ui-bundle.js", "/static/plotly.min.js", "/static/app.js"):
        assert c.get(asset).status_code == 200, asset
    assert c.get("/openapi.json").json()["paths"]["/v1/events"]


def test_other_detectors_raise_alerts_through_the_hook(server):
    c, tok, _ = server
    c.post("/v1/events", content=orjson.dumps(fixture_events()), headers=_auth(tok["ingest"]))
    hook = c.app.state.server.raise_alert
    alert = Alert(
        "s1",
        "compliance.absolute_terms",
        "high",
        pd.Timestamp("2026-11-24 12:03"),
        "主播话术含极限词「全网最低」",
        "Absolute claim in the pitch: 全网最低",
        {"term": "全网最低"},
        "compliance",
    )
    hook(alert)
    hook(alert)  # the same (session, rule, minute) is kept once
    h = _auth(tok["viewer"])
    stored = c.get("/v1/sessions/s1/alerts", headers=h).json()
    assert [(a["rule"], a["source"]) for a in stored] == [("compliance.absolute_terms", "compliance")]
    live = c.get("/v1/sessions/s1/live", headers=h).json()
    assert [a["message_zh"] for a in live["alerts"]] == ["主播话术含极限词「全网最低」"]


def test_serve_refuses_a_bad_rule_file_before_touching_the_store(tmp_path):
    rules = tmp_path / "r.yaml"
    rules.write_text("rules: [{id: a, kind: nope}]", encoding="utf-8")
    db = tmp_path / "never.duckdb"
    r = CliRunner().invoke(cli, ["serve", "--db", str(db), "--alert-rules", str(rules)])
    assert r.exit_code == 2 and "unknown kind" in r.output
    assert not db.exists() and not tokens_path(db).exists()


def test_analysts_export_raw_events_viewers_cannot(server, tmp_path):
    c, tok, _ = server
    c.post("/v1/events", content=orjson.dumps(fixture_events()), headers=_auth(tok["ingest"]))
    assert c.get("/v1/sessions/s1/events", headers=_auth(tok["viewer"])).status_code == 403
    r = c.get("/v1/sessions/s1/events", headers=_auth(tok["analyst"]))
    assert r.status_code == 200 and r.headers["content-type"] == "application/vnd.apache.parquet"
    (tmp_path / "s1.parquet").write_bytes(r.content)
    got = pq.read_table(tmp_path / "s1.parquet")
    assert got.num_rows == 39 and set(got.column("session_id").to_pylist()) == {"s1"}
    r = c.get("/v1/sessions/s1/events?format=ndjson", headers=_auth(tok["admin"]))
    assert len(r.text.splitlines()) == 39
    assert c.get("/v1/sessions/s1/events?format=xml", headers=_auth(tok["analyst"])).status_code == 400
    assert c.get("/v1/sessions/nope/events", headers=_auth(tok["analyst"])).status_code == 404


def test_only_admins_manage_tokens_over_http(server):
    c, tok, _ = server
    for role in ("ingest", "viewer", "analyst"):
        assert c.get("/v1/tokens", headers=_auth(tok[role])).status_code == 403
        assert c.post("/v1/tokens", json={"role": "viewer"}, headers=_auth(tok[role])).status_code == 403
    h = _auth(tok["admin"])
    r = c.post("/v1/tokens", json={"role": "viewer", "name": "wall-2"}, headers=h)
    assert r.status_code == 201 and r.json()["token"].startswith("lo_")
    new = r.json()["token"]
    assert c.get("/v1/sessions", headers=_auth(new)).status_code == 200
    listed = c.get("/v1/tokens", headers=h).json()
    assert "wall-2" in [t["name"] for t in listed] and all("token" not in t for t in listed)
    assert c.post("/v1/tokens", json={"role": "boss"}, headers=h).status_code == 400
    assert c.delete("/v1/tokens/wall-2", headers=h).status_code == 200
    assert c.get("/v1/sessions", headers=_auth(new)).status_code == 401
    assert c.delete("/v1/tokens/wall-2", headers=h).status_code == 404


@settings(max_examples=60, deadline=None)
@given(
    body=st.one_of(
        st.binary(max_size=300),
        st.lists(json_values, max_size=5).map(orjson.dumps),
        st.lists(
            st.dictionaries(
                st.sampled_from(["event_id", "ts", "type", "user_id", "amount", "count"]),
                json_values,
                max_size=6,
            ),
            max_size=5,
        ).map(orjson.dumps),
    ),
    gz=st.booleans(),
    header=st.booleans(),
)
def test_any_body_gets_an_answer_never_a_server_error(fuzz_server, body, gz, header):
    """Property: whatever a client sends, the reply is 2xx or 4xx with a JSON body, never 5xx."""
    c, h = fuzz_server
    if gz:
        body = gzip.compress(body)
    headers = {**h, **({"Content-Encoding": "gzip"} if header else {})}
    r = c.post("/v1/events", content=body, headers=headers)
    assert r.status_code < 500, r.text
    assert isinstance(r.json(), dict)


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory):
    db = tmp_path_factory.mktemp("fuzz") / "f.duckdb"
    tok = _tokens(db)
    with TestClient(create_app(db, ServerConfig(ingest_rate=0))) as c:
        yield c, _auth(tok["ingest"])
