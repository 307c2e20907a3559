"""Ingest with validation vs DuckDB's own raw load of the same file (target: ≥ 1 M events/s, ≥ 0.5× raw)."""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import duckdb
from _data import rows, show_file

from liveops.store import EventLog


def raw_load(path: Path, db: Path) -> float:
    con = duckdb.connect(str(db))
    reader = (
        f"read_parquet('{path}')"
        if path.suffix == ".parquet"
        else f"read_json('{path}', format='newline_delimited')"
    )
    t0 = time.perf_counter()
    con.execute(f"CREATE TABLE raw AS SELECT * FROM {reader}")
    dt = time.perf_counter() - t0
    con.close()
    return dt


def ours(path: Path, db: Path) -> tuple[float, int]:
    log = EventLog(db)
    t0 = time.perf_counter()
    res = log.ingest(str(path))
    dt = time.perf_counter() - t0
    log.close()
    assert res.rejected == 0, res
    return dt, res.stored


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument(
        "--viewers", type=int, default=300_000, help="viewers of the simulated show (sets the size)"
    )
    ap.add_argument("--jsonl-viewers", type=int, default=100_000)
    a = ap.parse_args()
    for fmt, viewers in (("parquet", a.viewers), ("jsonl", a.jsonl_viewers)):
        path = show_file(viewers, fmt=fmt)
        n = rows(path)
        with tempfile.TemporaryDirectory() as d:
            t_raw = raw_load(path, Path(d) / "raw.duckdb")
            t_ours, stored = ours(path, Path(d) / "ours.duckdb")
            log = EventLog(Path(d) / "ours.duckdb")
            t0 = time.perf_counter()
            rep = log.ingest(str(path))
            t_reload = time.perf_counter() - t0
            log.close()
        print(
            f"{fmt:8s} {n:>11,} events | raw DuckDB load {t_raw:6.2f}s ({n / t_raw / 1e6:5.2f} M/s) | "
            f"liveops ingest {t_ours:6.2f}s ({n / t_ours / 1e6:5.2f} M/s) | ratio {t_raw / t_ours:4.2f}× of raw | "
            f"re-ingest (all duplicates) {t_reload:5.2f}s ({rep.duplicate:,} dup)"
        )
        assert stored == n


if __name__ == "__main__":
    main()
