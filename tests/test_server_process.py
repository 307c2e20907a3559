"""The real server process (uvicorn): acknowledged events survive `kill -9`, and stay stored once across restarts."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import orjson
from conftest import fixture_events

from liveops.tokens import TokenStore, tokens_path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(db, port: int) -> subprocess.Popen:
    p = subprocess.Popen(
        [sys.executable, "-m", "liveops.cli", "serve", "--db", str(db), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return p
        except httpx.TransportError:
            time.sleep(0.2)
        if p.poll() is not None:
            raise AssertionError(p.stderr.read().decode())
    p.kill()
    raise AssertionError("server did not start")


def test_acknowledged_events_survive_kill_9_and_stay_idempotent(tmp_path):
    db = tmp_path / "live.duckdb"
    store = TokenStore(tokens_path(db))
    ingest = {"Authorization": f"Bearer {store.create('ingest')[1]}"}
    viewer = {"Authorization": f"Bearer {store.create('viewer')[1]}"}
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    events = fixture_events()
    p = _start(db, port)
    try:
        for i in range(0, len(events), 10):  # acknowledged batch by batch
            r = httpx.post(f"{url}/v1/events", content=orjson.dumps(events[i : i + 10]), headers=ingest)
            assert r.status_code == 200, r.text
    finally:
        os.kill(p.pid, signal.SIGKILL)  # no shutdown, no checkpoint
        p.wait()
    p = _start(db, port)
    try:
        m = httpx.get(f"{url}/v1/sessions/s1/metrics", headers=viewer).json()
        assert (m["views"], m["uv"], m["gmv"]) == (6, 4, 150.5)
        r = httpx.post(f"{url}/v1/events", content=orjson.dumps(events), headers=ingest)
        assert r.json()["accepted"] == 0 and r.json()["duplicate"] == len(events)
    finally:
        p.terminate()
        p.wait(timeout=30)
