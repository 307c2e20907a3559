"""Review of one big session: every review table on DuckDB (target ≤ 5 s at 10 M events), and the ten
headline metrics through LiveOps vs a straightforward pandas implementation (target ≥ 10× faster).

Three figures: the tables computed from raw events (what a show that has not ended costs), building the
stored review tables once (what `liveops ingest` does for an ended show), and the review read from
them (what `liveops report`, the CLI tables and notebooks then cost)."""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd
from _data import show_file

from liveops import metrics as M
from liveops import review_tables as RT
from liveops.api import Workspace
from liveops.report import build_review
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
        tables = ("metric_values", "timeline", "funnel_result", "sources", "products", "segments", "comments")

        def review(ws: Workspace) -> dict[str, float]:
            times: dict[str, float] = {}
            for name in tables:
                timed(name, lambda name=name: getattr(ws, name)(sid), times)
            return times

        cold = review(Workspace(t, log.products))  # no stored tables: everything from events
        t0 = time.perf_counter()
        RT.refresh(log)
        t_build = time.perf_counter() - t0
        ws = Workspace(t, log.products, log=log)
        warm = review(ws)
        t0 = time.perf_counter()
        build_review(ws, sid)
        t_report = time.perf_counter() - t0
        print(f"Review of one session with {n:,} events on DuckDB (2 cores):")
        print(f"  {'table':28s} {'from events':>12s} {'stored':>8s}")
        for k in tables:
            print(f"  {k:28s} {cold[k]:11.2f}s {warm[k]:7.3f}s")
        print(
            f"  {'ALL review tables':28s} {sum(cold.values()):11.2f}s {sum(warm.values()):7.3f}s  (target ≤ 5 s)"
        )
        print(f"  building the stored review tables once: {t_build:.2f}s")
        print(f"  the whole report's data (build_review) from stored tables: {t_report:.3f}s")

        t0 = time.perf_counter()
        stored = ws.metric_values(sid)
        stored = {k: stored[k] for k in HEADLINE}
        t_stored = time.perf_counter() - t0
        s = t.filter(t.session_id == sid)
        t0 = time.perf_counter()
        raw = M.compute(s, with_visits=False, keys=HEADLINE).iloc[0].to_dict()
        t_raw = time.perf_counter() - t0
        df = log.con.sql(
            f"SELECT type, user_id, order_id, amount::DOUBLE AS amount FROM events WHERE session_id = '{sid}'"
        ).df()
        t0 = time.perf_counter()
        theirs = pandas_headline(df)
        t_pd = time.perf_counter() - t0
        for ours in (stored, raw):
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
            "Ten headline metrics (results agree), vs pandas with the data already in memory "
            f"{t_pd:.3f}s and pandas reading the show's Parquet file first {t_pd_load:.3f}s:"
        )
        print(
            f"  LiveOps from the stored review tables {t_stored:.4f}s → {t_pd / t_stored:,.0f}× / "
            f"{t_pd_load / t_stored:,.0f}× (target ≥ 10×)"
        )
        print(
            f"  LiveOps catalog from raw events      {t_raw:.3f}s → {t_pd / t_raw:.1f}× / {t_pd_load / t_raw:.1f}×"
        )
        log.close()


if __name__ == "__main__":
    main()
