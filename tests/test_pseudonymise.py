"""Pseudonymised user ids: HMAC in SQL at ingest, so raw platform ids never reach the store."""

from __future__ import annotations

import hmac
import json

import duckdb
import orjson
import pytest
from conftest import fixture_events, write_jsonl
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from liveops import metrics as M
from liveops.cli import app as cli
from liveops.ingest import IngestError, define_uid
from liveops.store import EventLog
from liveops.tokens import TokenStore, tokens_path
from liveops.web import ServerConfig, create_app

KEY = b"0123456789abcdef-secret"


def pseudonym(key: bytes, uid: str) -> str:
    return "p_" + hmac.new(key, uid.encode(), "sha256").hexdigest()[:32]


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=40), st.binary(min_size=16, max_size=100))
def test_sql_hmac_equals_python_hmac(uid, key):
    con = duckdb.connect()
    define_uid(con, key)
    assert con.execute("SELECT _uid(?)", [uid]).fetchall()[0][0] == pseudonym(key, uid)
    assert con.execute("SELECT _uid(NULL)").fetchall()[0][0] is None


def test_ingest_with_a_key_stores_no_raw_id_and_metrics_are_unchanged(tmp_path):
    rows = fixture_events() + [{"event_id": "bad", "ts": 0, "type": "enter", "user_id": "u-secret-42"}]
    src = write_jsonl(tmp_path / "e.jsonl", rows)
    keyfile = tmp_path / "key"
    keyfile.write_bytes(KEY + b"\n")
    db = tmp_path / "p.duckdb"
    r = CliRunner().invoke(
        cli, ["ingest", str(src), "--db", str(db), "--pseudonymise-key", str(keyfile), "--quiet"]
    )
    assert r.exit_code == 1  # the bad row is rejected …
    dead = (tmp_path / "p.duckdb.deadletter.jsonl").read_text(encoding="utf-8")
    assert (
        "u-secret-42" not in dead and json.loads(dead.splitlines()[0])["raw"] is None
    )  # … without its raw text
    plain = EventLog(tmp_path / "plain.duckdb")
    plain.ingest(str(src))
    raw_ids = {
        u
        for (u,) in plain.con.execute(
            "SELECT DISTINCT user_id FROM events WHERE user_id IS NOT NULL"
        ).fetchall()
    }
    with EventLog(db, pseudonymise_key=KEY) as log:
        ids = {
            u
            for (u,) in log.con.execute(
                "SELECT DISTINCT user_id FROM events WHERE user_id IS NOT NULL"
            ).fetchall()
        }
        assert ids == {pseudonym(KEY, u) for u in raw_ids}
        keyed = M.session_metrics(log.events, "s1")
    assert keyed == M.session_metrics(plain.events, "s1")  # distinct counts survive the hashing
    plain.close()
    for f in tmp_path.glob("p.duckdb*"):
        assert b"u-secret-42" not in f.read_bytes() and b'"u1"' not in f.read_bytes(), f


def test_a_store_keeps_one_way_of_storing_ids(tmp_path):
    db = tmp_path / "s.duckdb"
    EventLog(db, pseudonymise_key=KEY).close()
    with pytest.raises(IngestError, match="same --pseudonymise-key"):
        EventLog(db)
    with pytest.raises(IngestError, match="same --pseudonymise-key"):
        EventLog(db, pseudonymise_key=b"another-key-of-16+")
    raw = tmp_path / "raw.duckdb"
    log = EventLog(raw)
    log.ingest(str(write_jsonl(tmp_path / "e.jsonl", fixture_events())))
    log.close()
    with pytest.raises(IngestError, match="raw"):
        EventLog(raw, pseudonymise_key=KEY)
    short = tmp_path / "short"
    short.write_bytes(b"too short")
    r = CliRunner().invoke(
        cli,
        [
            "ingest",
            str(tmp_path / "e.jsonl"),
            "--db",
            str(tmp_path / "x.duckdb"),
            "--pseudonymise-key",
            str(short),
        ],
    )
    assert r.exit_code == 2 and "16" in r.output


def test_server_pseudonymises_at_ingest(tmp_path):
    db = tmp_path / "srv.duckdb"
    ingest = TokenStore(tokens_path(db)).create("ingest")[1]
    with TestClient(create_app(db, ServerConfig(ingest_rate=0, pseudonymise_key=KEY))) as c:
        r = c.post(
            "/v1/events",
            content=orjson.dumps(fixture_events()),
            headers={"Authorization": f"Bearer {ingest}"},
        )
        assert r.json()["accepted"] == 45
        con = c.app.state.server.log.con
        ids = {
            u
            for (u,) in con.execute(
                "SELECT DISTINCT user_id FROM events WHERE user_id IS NOT NULL"
            ).fetchall()
        }
        assert ids == {pseudonym(KEY, f"u{i}") for i in range(1, 5)}
        live = c.app.state.server.live_state("s1")
        assert all(x["user_id"].startswith("p_") for x in live["comments"])
