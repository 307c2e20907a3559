"""Shared benchmark data: simulated shows of a requested size, cached under benchmarks/.data/."""

from __future__ import annotations

import time
from pathlib import Path

import pyarrow.parquet as pq

from liveops.eventio import write_events
from liveops.simulate import SimConfig, simulate

DATA = Path(__file__).parent / ".data"


def show_file(viewers: int, minutes: int = 120, fmt: str = "parquet", seed: int = 1) -> Path:
    """A simulated single-session show written to disk (cached by size, format and seed)."""
    DATA.mkdir(exist_ok=True)
    path = DATA / f"show_{viewers}_{minutes}_{seed}.{fmt}"
    if not path.exists():
        t0 = time.perf_counter()
        res = simulate(SimConfig(viewers=viewers, minutes=minutes, seed=seed))
        write_events(res.events, path)
        print(
            f"  (generated {res.events.num_rows:,} events → {path.name} in {time.perf_counter() - t0:.1f}s)"
        )
    return path


def rows(path: Path) -> int:
    if path.suffix == ".parquet":
        return pq.ParquetFile(path).metadata.num_rows
    with open(path, "rb") as fh:
        return sum(buf.count(b"\n") for buf in iter(lambda: fh.read(1 << 24), b""))
