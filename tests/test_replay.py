"""Replay: a show goes to a real server in time order; the server ends up with what `liveops ingest` stores."""

from __future__ import annotations

import json

import httpx
import numpy as np
import orjson
import pytest
from conftest import free_port, start_server
from typer.testing import CliRunner

from liveops.cli import app as cli
from liveops.eventio import write_events
from liveops.replay import ReplayError, due_seconds, load_show
from liveops.simulate import SimConfig, simulate
from liveops.tokens import TokenStore, tokens_path


def test_load_show_orders_by_time_and_keeps_file_lines(tmp_path):
    p = tmp_path / "s.jsonl"
    rows = [
        '{"event_id":"b","ts":"2026-11-24T20:00:02.000+08:00","room_id":"r","session_id":"s","type":"like","user_id":"u","count":1}',
        "",
        '{"event_id":"a","ts":1795521600000,"room_id":"r","session_id":"s","type":"like","user_id":"u","count":1}',
        "not json",
    ]
    p.write_text("\n".join(rows) + "\n", encoding="utf-8")
    show = load_show(p)
    assert [json.loads(x)["event_id"] if x.startswith("{") else x for x in show.lines.to_pylist()] == [
        "not json",
        "a",
        "b",
    ]
    assert show.pos.tolist() == [4, 3, 1]  # the file's own line numbers (blank lines counted)
    assert show.ts[1:].tolist() == [1795521600000, 1795521600000 + 2000]  # epoch ms; 20:00:02 Beijing


def test_parquet_rows_become_the_same_lines_simulate_writes(tmp_path):
    ev = simulate(SimConfig(viewers=50, minutes=5, seed=2)).events
    write_events(ev, tmp_path / "s.parquet")
    write_events(ev, tmp_path / "s.jsonl")
    a, b = load_show(tmp_path / "s.parquet"), load_show(tmp_path / "s.jsonl")
    assert a.lines.to_pylist() == b.lines.to_pylist()
    assert np.array_equal(a.ts, b.ts)


def test_due_times_follow_speed():
    ts = np.array([1_000, 1_000, 11_000, 61_000])
    assert due_seconds(ts, 10).tolist() == [0, 0, 1, 6]
    assert due_seconds(ts, 0).tolist() == [0, 0, 0, 0]
    week = np.array([0, 1_000, 7 * 86_400_000, 7 * 86_400_000 + 2_000])  # two shows a week apart
    assert due_seconds(week, 1, max_gap_s=60).tolist() == [0, 1, 61, 63]


def test_unsupported_file_is_a_clear_error(tmp_path):
    with pytest.raises(ReplayError, match="jsonl"):
        load_show(tmp_path / "x.csv")


def test_replay_to_a_server_equals_ingest(tmp_path):
    show = tmp_path / "show.jsonl"
    write_events(simulate(SimConfig(viewers=400, minutes=15, seed=9)).events, show)
    with open(show, "ab") as fh:
        fh.write(b'{"event_id": "bad1", "type": "like"}\n')
    db = tmp_path / "srv.duckdb"
    store = TokenStore(tokens_path(db))
    ingest, viewer = store.create("ingest")[1], store.create("viewer")[1]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = start_server(db, port)
    try:
        r = CliRunner().invoke(
            cli,
            [
                "replay",
                str(show),
                "--url",
                url,
                "--token",
                ingest,
                "--speed",
                "0",
                "--batch",
                "1500",
                "--quiet",
            ],
        )
        assert r.exit_code == 1, r.output  # one bad line, reported with its line number in the file
        n_lines = show.read_bytes().count(b"\n")
        assert f"line {n_lines}:" in r.output
        r = CliRunner().invoke(
            cli, ["replay", str(show), "--url", url, "--token", ingest, "--speed", "0", "--quiet"]
        )
        assert "接收 accepted 0" in r.output  # everything again: duplicates
        sid = httpx.get(f"{url}/v1/sessions", headers={"Authorization": f"Bearer {viewer}"}).json()[0][
            "session_id"
        ]
        served = httpx.get(
            f"{url}/v1/sessions/{sid}/metrics", headers={"Authorization": f"Bearer {viewer}"}
        ).json()
        live = httpx.get(
            f"{url}/v1/sessions/{sid}/live", headers={"Authorization": f"Bearer {viewer}"}
        ).json()
        bad = CliRunner().invoke(cli, ["replay", str(show), "--url", url, "--token", viewer, "--speed", "0"])
        assert bad.exit_code == 2 and "403" in bad.output
    finally:
        server.terminate()
        server.wait(timeout=30)
    cli_db = str(tmp_path / "cli.duckdb")
    CliRunner().invoke(cli, ["ingest", str(show), "--db", cli_db, "--quiet"])
    r = CliRunner().invoke(cli, ["metrics", "--db", cli_db, "--session", sid, "--format", "json"])
    assert served == pytest.approx(orjson.loads(r.stdout), rel=1e-9, nan_ok=True)  # float sums: row order
    assert live["metrics"]["gmv"] == served["gmv"] and live["ended"]
