"""Simulator and writer throughput: events, seconds and events/s (figures only, no assertions).

    uv run python benchmarks/bench_simulate.py [--big-viewers 300000] [--repeat 3] [--no-write]

Wall time is the best of ``--repeat`` runs (other processes on a small machine add noise);
CPU time of the same run is shown beside it.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from liveops.eventio import write_events
from liveops.simulate import SimConfig, simulate


def _best(fn, repeat: int):
    best = None
    out = None
    for _ in range(repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        w, c = time.perf_counter() - w0, time.process_time() - c0
        if best is None or w < best[0]:
            best = (w, c)
    return out, best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--big-viewers", type=int, default=300_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    simulate(SimConfig(viewers=2_000, minutes=20))  # warm-up (imports, allocator)
    cases = [
        ("default show (30k viewers, 2 h)", SimConfig()),
        (f"big show ({args.big_viewers // 1000}k viewers, 2 h)", SimConfig(viewers=args.big_viewers)),
        ("many shows (2 rooms x 4 shows, 10k viewers)", SimConfig(viewers=10_000, rooms=2, sessions=4)),
    ]
    print(f"{'case':48s} {'events':>10s} {'wall s':>8s} {'cpu s':>8s} {'events/s':>12s}")
    results = []
    for name, cfg in cases:
        res, (w, c) = _best(lambda cfg=cfg: simulate(cfg), args.repeat)
        n = res.events.num_rows
        print(f"{name:48s} {n:>10,d} {w:>8.3f} {c:>8.3f} {n / w:>12,.0f}")
        results.append((name, res))
    if args.no_write:
        return
    print()
    print(f"{'write':48s} {'rows':>10s} {'wall s':>8s} {'MB':>8s} {'rows/s':>12s}")
    with tempfile.TemporaryDirectory() as tmp:
        for name, res in results[:2]:
            for ext in ("jsonl", "parquet", "csv"):
                path = Path(tmp) / f"events.{ext}"
                _, (w, _c) = _best(lambda p=path, r=res: write_events(r.events, p), max(1, args.repeat - 1))
                n = res.events.num_rows
                mb = path.stat().st_size / 1e6
                print(
                    f"{name.split(' (')[0] + ' → ' + ext:48s} {n:>10,d} {w:>8.3f} {mb:>8.1f} {n / w:>12,.0f}"
                )


if __name__ == "__main__":
    main()
