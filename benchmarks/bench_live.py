"""Live ingest: a batch through the server's write path (validate, store, fold into live state, alert rules),
timed per batch size, without HTTP; and over HTTP with `liveops replay` against a real server."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time

import httpx
import numpy as np
import websockets
from _data import show_file

from liveops.replay import load_show, replay
from liveops.tokens import TokenStore, tokens_path
from liveops.web import Server


def _session_of(line: str) -> str:
    return json.loads(line)["session_id"]


async def _latency(port: int, ingest: str, viewer: str, lines: list[str], sid: str) -> list[float]:
    """Seconds from sending a POST to the first big-screen push that includes its events."""
    out = []
    async with websockets.connect(f"ws://127.0.0.1:{port}/v1/live/{sid}", max_size=None) as ws:
        await ws.send(json.dumps({"token": viewer}))
        seen = json.loads(await ws.recv())["events"]
        async with httpx.AsyncClient() as client:
            for i in range(0, len(lines), 200):
                chunk = lines[i : i + 200]
                t0 = time.perf_counter()
                r = await client.post(
                    f"http://127.0.0.1:{port}/v1/events",
                    content="\n".join(chunk),
                    headers={"Authorization": f"Bearer {ingest}"},
                )
                want = seen + r.json()["accepted"]
                while seen < want:
                    seen = json.loads(await ws.recv())["events"]
                out.append(time.perf_counter() - t0)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--viewers", type=int, default=30_000)
    ap.add_argument("--events", type=int, default=120_000, help="events of the show to send per case")
    a = ap.parse_args()
    show = load_show(show_file(a.viewers))
    lines = show.lines.slice(0, a.events).to_pylist()
    print(f"Server write path (no HTTP), {len(lines):,} events of a {a.viewers:,}-viewer show, 2 cores:")
    for size in (500, 2_000, 10_000):
        with tempfile.TemporaryDirectory() as d:
            srv = Server(os.path.join(d, "b.duckdb"))
            batches = ["\n".join(lines[i : i + size]).encode() for i in range(0, len(lines), size)]
            t0 = time.perf_counter()
            for b in batches:
                srv.ingest(b, "bench.jsonl")
            secs = time.perf_counter() - t0
            srv.close()
        print(
            f"  batch {size:>6,}: {secs / len(batches) * 1000:7.1f} ms per batch → {len(lines) / secs:9,.0f} events/s"
        )
    with tempfile.TemporaryDirectory() as d:
        db = os.path.join(d, "h.duckdb")
        token = TokenStore(tokens_path(db)).create("ingest")[1]
        port = 8_765
        p = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "liveops.cli",
                "serve",
                "--db",
                db,
                "--port",
                str(port),
                "--ingest-rate",
                "0",
            ]
        )
        try:
            time.sleep(4)
            head = load_show(show_file(a.viewers))
            head.lines, head.ts, head.pos = (
                head.lines.slice(0, a.events),
                head.ts[: a.events],
                head.pos[: a.events],
            )
            res = replay(head, f"http://127.0.0.1:{port}", token, speed=0, batch=2_000)
            print(
                f"  over HTTP (liveops replay, gzip NDJSON, batch 2,000): {res.sent / res.seconds:,.0f} events/s"
            )
            viewer = TokenStore(tokens_path(db)).create("viewer")[1]
            more = show.lines.slice(a.events, 20 * 200).to_pylist()
            lat = asyncio.run(_latency(port, token, viewer, more, _session_of(more[0])))
            print(
                f"  ingest → big-screen push (200-event POSTs; pushes at most every 500 ms): "
                f"median {np.median(lat) * 1000:.0f} ms, max {max(lat) * 1000:.0f} ms over {len(lat)} posts"
            )
        finally:
            p.terminate()
            p.wait()


if __name__ == "__main__":
    main()
