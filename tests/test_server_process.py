"""The real server process (uvicorn): acknowledged events survive `kill -9`, and stay stored once across restarts."""

from __future__ import annotations

import os
import signal

import httpx
import orjson
from conftest import fixture_events, free_port, start_server

from liveops.tokens import TokenStore, tokens_path


def test_acknowledged_events_survive_kill_9_and_stay_idempotent(tmp_path):
    db = tmp_path / "live.duckdb"
    store = TokenStore(tokens_path(db))
    ingest = {"Authorization": f"Bearer {store.create('ingest')[1]}"}
    viewer = {"Authorization": f"Bearer {store.create('viewer')[1]}"}
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    events = fixture_events()
    p = start_server(db, port)
    try:
        for i in range(0, len(events), 10):  # acknowledged batch by batch
            r = httpx.post(f"{url}/v1/events", content=orjson.dumps(events[i : i + 10]), headers=ingest)
            assert r.status_code == 200, r.text
    finally:
        os.kill(p.pid, signal.SIGKILL)  # no shutdown, no checkpoint
        p.wait()
    p = start_server(db, port)
    try:
        m = httpx.get(f"{url}/v1/sessions/s1/metrics", headers=viewer).json()
        assert (m["views"], m["uv"], m["gmv"]) == (6, 4, 150.5)
        r = httpx.post(f"{url}/v1/events", content=orjson.dumps(events), headers=ingest)
        assert r.json()["accepted"] == 0 and r.json()["duplicate"] == len(events)
    finally:
        p.terminate()
        p.wait(timeout=30)
