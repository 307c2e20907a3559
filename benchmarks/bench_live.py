"""Live ingest: a batch through the server's write path (validate, store, fold into live state, alert rules),
timed per batch size, without HTTP; and over HTTP with `liveops replay` against a real server."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

from _data import show_file

from liveops.replay import load_show, replay
from liveops.tokens import TokenStore, tokens_path
from liveops.web import Server


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
        finally:
            p.terminate()
            p.wait()


if __name__ == "__main__":
    main()
