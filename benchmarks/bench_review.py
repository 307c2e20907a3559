"""Review of one big session: every review table on DuckDB (target ≤ 5 s at 10 M events), and the ten
headline metrics through the catalog vs a straightforward pandas implementation (target ≥ 10× faster)."""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd
from _data import show_file

from liveops import analysis as A
from liveops import metrics as M
from liveops.store import EventLog

HEADLINE = (
    "views",
    "uv",
    "buyers",
    "gmv",
    "pay_orders",
    "conversion_rate",
    "aov",
    "uv_value",
    "product_ctr",
    "interaction_rate",
)


def pandas_headline(df: pd.DataFrame) -> dict:
    """The obvious pandas code an analyst would write for the same ten numbers."""
    enter = df[df["type"] == "enter"]
    pay = df[df["type"] == "pay"]
    views = len(enter)
    uv = enter["user_id"].nunique()
    buyers = pay["user_id"].nunique()
    gmv = pay["amount"].astype(float).sum()
    pay_orders = pay["order_id"].nunique()
    imp_uv = df[df["type"] == "product_impression"]["user_id"].nunique()
    click_uv = df[df["type"] == "product_click"]["user_id"].nunique()
    inter_uv = df[df["type"].isin(M.INTERACTION_TYPES)]["user_id"].nunique()
    return {
        "views": views,
        "uv": uv,
        "buyers": buyers,
        "gmv": round(gmv, 2),
        "pay_orders": pay_orders,
        "conversion_rate": buyers / uv,
        "aov": gmv / buyers,
        "uv_value": gmv / uv,
        "product_ctr": click_uv / imp_uv,
        "interaction_rate": inter_uv / uv,
    }


def timed(label: str, fn, results: dict):
    t0 = time.perf_counter()
    out = fn()
    results[label] = time.perf_counter() - t0
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument(
        "--viewers", type=int, default=1_000_000, help="viewers of the simulated show (sets the size)"
    )
    ap.add_argument("--minutes", type=int, default=120)
    a = ap.parse_args()
    path = show_file(a.viewers, a.minutes)
    with tempfile.TemporaryDirectory() as d:
        log = EventLog(Path(d) / "bench.duckdb")
        log.ingest(str(path))
        n = log.count()
        t = log.events
        sid = t.session_id.min().execute()
        times: dict[str, float] = {}
        timed("metrics (whole catalog)", lambda: M.session_metrics(t, sid), times)
        timed("timeline", lambda: A.timeline(t, sid), times)
        timed("funnel", lambda: A.funnel(t, sid), times)
        timed("sources", lambda: A.sources(t, sid), times)
        timed("products", lambda: A.products(t, sid, log.products), times)
        timed("segments", lambda: A.segments(t, sid), times)
        total = sum(times.values())
        print(f"Review of one session with {n:,} events on DuckDB (2 cores):")
        for k, v in times.items():
            print(f"  {k:28s} {v:6.2f}s")
        print(f"  {'ALL review tables':28s} {total:6.2f}s  (target ≤ 5 s at 10 M events)")

        s = t.filter(t.session_id == sid)
        t0 = time.perf_counter()
        ours = M.compute(s, with_visits=False, keys=HEADLINE).iloc[0].to_dict()
        t_ours = time.perf_counter() - t0
        df = log.con.sql(
            f"SELECT type, user_id, order_id, amount::DOUBLE AS amount FROM events WHERE session_id = '{sid}'"
        ).df()
        t0 = time.perf_counter()
        theirs = pandas_headline(df)
        t_pd = time.perf_counter() - t0
        for k in HEADLINE:
            assert abs(float(ours[k]) - float(theirs[k])) <= 1e-6 * max(1.0, abs(float(theirs[k]))), (
                k,
                ours[k],
                theirs[k],
            )
        t0 = time.perf_counter()
        loaded = pd.read_parquet(path, columns=["session_id", "type", "user_id", "order_id", "amount"])
        loaded = loaded[loaded["session_id"] == sid]
        pandas_headline(loaded)
        t_pd_load = time.perf_counter() - t0
        print(
            f"Ten headline metrics: catalog on DuckDB {t_ours:.3f}s vs pandas with the data already in memory "
            f"{t_pd:.3f}s → {t_pd / t_ours:.1f}× (target ≥ 10×); results agree"
        )
        print(
            f"  pandas reading the same show from its Parquet file first: {t_pd_load:.3f}s → {t_pd_load / t_ours:.1f}×"
        )
        log.close()


if __name__ == "__main__":
    main()
