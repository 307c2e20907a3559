"""Lake export and the metric catalog on DuckDB vs the Parquet lake (DuckDB, Spark local[2]).

    uv run python benchmarks/bench_spark.py --rows 2000000 --sessions 20

Events are generated in SQL straight into a scratch DuckDB log (enter/leave pairs, engagement and
commerce events over a pool of viewers), so the numbers measure export and query, not ingest.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from liveops import metrics
from liveops.lake import export_lake, open_lake, spark_session
from liveops.store import EventLog

TYPES = [
    ("enter", 30),
    ("leave", 28),
    ("comment", 12),
    ("like", 10),
    ("product_impression", 10),
    ("product_click", 4),
    ("order", 2),
    ("pay", 2),
    ("online_snapshot", 1),
    ("room_impression", 1),
]


def fill(log: EventLog, rows: int, sessions: int, rooms: int) -> None:
    weights = []
    acc = 0
    for name, w in TYPES:
        acc += w
        weights.append((acc, name))
    total = acc
    case = " ".join(f"WHEN b < {a} THEN '{n}'" for a, n in weights)
    log.con.execute(
        f"""
        INSERT INTO events
        SELECT 'e' || i, TIMESTAMP '2026-11-20 12:00:00' + to_milliseconds((i * 7919) % 7200000)
                 + to_days(s // {max(1, sessions // 7)}),
               'r' || (s % {rooms}), 's' || s, 'u' || ((i * 104729) % {max(1000, rows // 20)}),
               t, CASE WHEN t = 'enter' THEN 'feed' END,
               CASE WHEN t LIKE 'product%' OR t IN ('order', 'pay') THEN 'p' || (i % 50) END,
               CASE WHEN t IN ('order', 'pay') THEN 'o' || (i // 2) END, NULL,
               CASE WHEN t IN ('order', 'pay') THEN ((i % 10000) / 100.0)::DECIMAL(18, 2) END,
               CASE WHEN t IN ('like', 'online_snapshot', 'room_impression') THEN 1 + i % 20 END,
               CASE WHEN t = 'comment' THEN '多少钱' END, NULL, NULL, NULL, NULL
        FROM (SELECT i, i % {sessions} AS s, hash(i) % {total} AS b FROM range({rows}) r(i)) g,
             LATERAL (SELECT CASE {case} END AS t)
        """
    )


def timed(label: str, fn):
    t0 = time.perf_counter()
    out = fn()
    print(f"{label:<28} {time.perf_counter() - t0:8.2f} s")
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--sessions", type=int, default=14)
    ap.add_argument("--rooms", type=int, default=4)
    ap.add_argument("--no-spark", action="store_true")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        log = EventLog(Path(d) / "bench.duckdb")
        timed(f"generate {a.rows:,} rows", lambda: fill(log, a.rows, a.sessions, a.rooms))
        res = timed("export_lake", lambda: export_lake(log, Path(d) / "lake"))
        print(
            f"  {res.rows:,} rows, {res.files} files, {res.partitions} partitions "
            f"({res.rows / res.seconds / 1e6:.2f} M rows/s)"
        )
        timed("compute: DuckDB log", lambda: metrics.compute(log.events))
        with open_lake(Path(d) / "lake", "duckdb") as lk:
            timed("compute: lake via DuckDB", lambda: metrics.compute(lk.events))
        if not a.no_spark:
            timed("Spark session start", spark_session)
            with open_lake(Path(d) / "lake", "spark") as lk:
                timed("compute: lake via Spark", lambda: metrics.compute(lk.events))
                timed("  again (warm)", lambda: metrics.compute(lk.events))
        log.close()


if __name__ == "__main__":
    main()
