from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from liveops.store import EventLog

T0 = datetime(2026, 11, 24, 12, 0, 0, tzinfo=UTC)


def ev(i: str, sec: float, type_: str, session: str = "s1", **kw) -> dict:
    ts = (T0 + timedelta(seconds=sec)).astimezone().isoformat(timespec="milliseconds")
    row = {"event_id": i, "ts": ts, "room_id": kw.pop("room_id", "r1"), "session_id": session, "type": type_}
    row.update(kw)
    return row


def fixture_events() -> list[dict]:
    """A ten-minute show small enough to compute every pinned metric by hand (see test_metrics.py)."""
    e = [
        ev("a01", 0, "session_start", attrs={"title": "双十一专场", "streamer_id": "st1"}),
        ev("a02", 0, "room_impression", count=100, source="feed"),
        ev("a03", 0, "room_impression", count=50, source="paid", campaign_id="c1"),
        ev("a04", 10, "enter", user_id="u1", source="feed"),
        ev("a05", 70, "leave", user_id="u1"),
        ev("a06", 100, "enter", user_id="u1", source="feed"),
        ev("a07", 20, "enter", user_id="u2", source="paid", campaign_id="c1"),
        ev("a08", 30, "enter", user_id="u2", source="paid", campaign_id="c1"),
        ev("a09", 320, "leave", user_id="u2"),
        ev("a10", 50, "enter", user_id="u3", source="follow"),
        ev("a11", 110, "leave", user_id="u3"),
        ev("a12", 60, "enter", user_id="u4", source="search"),
        ev("a13", 90, "leave", user_id="u4"),
        ev("a14", 15, "comment", user_id="u1", text="多少钱?"),
        ev("a15", 25, "like", user_id="u2", count=5),
        ev("a16", 55, "like", user_id="u3", count=3),
        ev("a17", 60, "follow", user_id="u3"),
        ev("a18", 40, "share", user_id="u2"),
        ev("a19", 16, "fanclub_join", user_id="u1"),
        ev("a20", 17, "product_impression", user_id="u1", product_id="p1"),
        ev("a21", 21, "product_impression", user_id="u2", product_id="p1"),
        ev("a22", 51, "product_impression", user_id="u3", product_id="p2"),
        ev("a23", 101, "product_impression", user_id="u1", product_id="p2"),
        ev("a24", 18, "product_click", user_id="u1", product_id="p1"),
        ev("a25", 22, "product_click", user_id="u2", product_id="p1"),
        ev("a26", 23, "product_click", user_id="u2", product_id="p1"),
        ev("a27", 19, "add_to_cart", user_id="u1", product_id="p1"),
        ev("a28", 30, "order", user_id="u1", product_id="p1", order_id="o1", amount=100.00),
        ev("a29", 35, "order", user_id="u2", product_id="p1", order_id="o2", amount=50.50),
        ev("a30", 36, "order", user_id="u2", product_id="p1", order_id="o3", amount=20.00),
        ev("a31", 31, "pay", user_id="u1", order_id="o1", amount=100.00),
        ev("a32", 37, "pay", user_id="u2", order_id="o2", amount=50.50, product_id="p1"),
        ev("a33", 300, "refund", user_id="u2", order_id="o2", amount=50.50),
        ev("a34", 58, "gift", user_id="u3", amount=9.90, attrs={"gift_name": "小心心"}),
        ev("a35", 60, "ad_spend", campaign_id="c1", amount=30.00, count=1000, attrs={"clicks": 20}),
        ev("a36", 120, "ad_spend", campaign_id="c1", amount=20.00, count=1000, attrs={"clicks": 10}),
        ev("a37", 15, "explain_start", product_id="p1"),
        ev("a38", 75, "explain_end", product_id="p1"),
        ev("a39", 600, "session_end"),
        # Session s2 has platform online snapshots only.
        ev("b01", 1000, "session_start", session="s2"),
        ev("b02", 1000, "online_snapshot", session="s2", count=10),
        ev("b03", 1060, "online_snapshot", session="s2", count=30),
        ev("b04", 1120, "online_snapshot", session="s2", count=20),
        ev("b05", 1010, "enter", session="s2", user_id="u1", source="feed"),
        ev("b06", 1180, "session_end", session="s2"),
    ]
    return e


def write_jsonl(path: Path, rows: list) -> Path:
    with open(path, "w", encoding="utf-8") as fh:
        for r in rows:
            fh.write((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n")
    return path


@pytest.fixture
def fixture_log(tmp_path: Path) -> EventLog:
    log = EventLog(tmp_path / "fixture.duckdb")
    res = log.ingest(str(write_jsonl(tmp_path / "fixture.jsonl", fixture_events())))
    assert res.rejected == 0, res
    yield log
    log.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(db, port: int, *args: str) -> subprocess.Popen:
    """`liveops serve` in its own process, returned once /healthz answers."""
    p = subprocess.Popen(
        [sys.executable, "-m", "liveops.cli", "serve", "--db", str(db), "--port", str(port), *args],
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


def stop_server(p: subprocess.Popen) -> None:
    """Stop a server from start_server; one that will not stop is killed and the test fails."""
    p.terminate()
    try:
        p.wait(timeout=20)
    except subprocess.TimeoutExpired:
        p.kill()
        raise
