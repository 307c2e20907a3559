"""Experiment analysis over ~10 M events on DuckDB (target ≤ 3 s per analysis).

One simulated room, four shows (the A/B test runs from the second, so CUPED has a pre-period), a
switchback schedule over every show. Times `analyze` for the user-randomised test (conversion and
GMV per viewer, with CUPED) and for the switchback (three per-slice metrics, 2,000 permutations).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from _data import DATA

from liveops import experiments as X
from liveops.simulate import SimConfig, simulate, write_simulation
from liveops.store import EventLog


def data(viewers: int, sessions: int) -> dict[str, Path]:
    DATA.mkdir(exist_ok=True)
    out = DATA / f"exp_{viewers}_{sessions}.parquet"
    paths = {"events": out, "schedule": out.with_name(out.name + ".schedule.csv")}
    if not out.exists():
        t0 = time.perf_counter()
        res = simulate(SimConfig(viewers=viewers, sessions=sessions, ab_from_session=1, seed=5))
        write_simulation(res, out)
        print(f"  (generated {res.events.num_rows:,} events in {time.perf_counter() - t0:.1f}s)")
    return paths


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument(
        "--viewers", type=int, default=260_000, help="viewers per show (sets the size: ~10 M events)"
    )
    ap.add_argument("--sessions", type=int, default=4)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    paths = data(a.viewers, a.sessions)
    with tempfile.TemporaryDirectory() as d:
        log = EventLog(Path(d) / "bench.duckdb")
        t0 = time.perf_counter()
        log.ingest(str(paths["events"]))
        X.import_csv(log.con, paths["schedule"])
        print(f"{log.count():,} events ingested in {time.perf_counter() - t0:.1f}s")
        for exp, metrics in (
            ("checkout_flow_v2", ["conversion_rate", "uv_value"]),
            ("talk_track_v2", ["conversion_rate", "product_ctr", "gpm"]),
        ):
            times = []
            for _ in range(a.repeat):
                t0 = time.perf_counter()
                r = X.analyze(log.con, log.events, exp, metrics)
                times.append(time.perf_counter() - t0)
            units = " / ".join(f"{k} {v:,}" for k, v in r.arms.items())
            print(
                f"  {exp:18s} ({r.unit}; {units}): "
                + ", ".join(f"{t:.2f}s" for t in times)
                + f"  best {min(times):.2f}s (target ≤ 3 s)"
            )
            for m in r.metrics:
                print(
                    f"    {m.metric:16s} lift {m.lift_rel:+.2%} [{m.ci_rel_low:+.2%}, {m.ci_rel_high:+.2%}] "
                    f"p={m.p_value:.3g}"
                    + (
                        f" CUPED −{m.cuped_variance_reduction:.1%} variance"
                        if m.cuped_variance_reduction
                        else ""
                    )
                )
        log.close()


if __name__ == "__main__":
    main()
