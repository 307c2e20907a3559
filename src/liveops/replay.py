"""Replay a recorded or simulated show to a LiveOps server in time order: paced, batched, gzip-compressed.

JSONL lines go out exactly as recorded (a bad line reaches the server and is reported, as it would be
from a platform bridge); Parquet rows are encoded as the same JSON lines ``liveops simulate`` writes.
"""

from __future__ import annotations

import gzip
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import httpx
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .eventio import jsonl_lines
from .ingest import _open_binary, _split_lines


class ReplayError(RuntimeError):
    pass


@dataclass
class ReplayResult:
    sent: int = 0
    accepted: int = 0
    duplicate: int = 0
    rejected: int = 0
    batches: int = 0
    seconds: float = 0.0
    errors: list[dict] = field(default_factory=list)  # the first rejected rows the server listed


@dataclass
class Show:
    """A show's events in time order (file order among equal times)."""

    lines: pa.Array  # JSONL text of each event
    ts: np.ndarray  # epoch ms
    pos: np.ndarray  # line (JSONL) or row (Parquet) in the file, for error messages

    def __len__(self) -> int:
        return len(self.lines)


def load_show(path: str | Path) -> Show:
    p = str(path)
    low = p.lower()
    if low.endswith(".parquet"):
        table = pq.read_table(p)
        lines = jsonl_lines(table)
        ts = table.column("ts")
        ts = (
            ts.cast(pa.timestamp("ms", tz="UTC")).cast(pa.int64())
            if pa.types.is_timestamp(ts.type)
            else ts.cast(pa.int64())
        )
        ts = ts.to_numpy()
        pos = np.arange(1, len(ts) + 1)
    elif low.endswith((".jsonl", ".ndjson", ".jsonl.gz", ".ndjson.gz")):
        with _open_binary(p) as fh:
            data = fh.read()
        t = _split_lines(data, 1)
        con = duckdb.connect()
        con.register("_lines", t)
        # The ts of each line: epoch ms or an RFC 3339 string; a line without a readable ts goes first.
        got = con.sql(
            """SELECT _pos, rtrim(TRY(decode(_line)), chr(10) || chr(13)) AS line,
                      coalesce(TRY(CAST(json_extract(decode(_line), '$.ts') AS BIGINT)),
                               TRY(epoch_ms(CAST(json_extract_string(decode(_line), '$.ts') AS TIMESTAMPTZ))),
                               0) AS ts
               FROM _lines WHERE NOT _blank"""
        ).to_arrow_table()
        con.close()
        lines, ts = got.column("line").combine_chunks(), got.column("ts").to_numpy()
        pos = got.column("_pos").to_numpy()
        if lines.null_count:
            bad = pos[np.asarray(lines.is_null())][:5].tolist()
            raise ReplayError(
                f"{p}: 第 {bad} 行不是 UTF-8 lines {bad} are not valid UTF-8 (`liveops ingest` dead-letters them)"
            )
    else:
        raise ReplayError(
            f"{p}: 回放支持 JSONL 或 Parquet replay reads .jsonl / .ndjson (.gz) or .parquet files"
        )
    order = np.argsort(ts, kind="stable")
    return Show(lines.take(pa.array(order)), ts[order], pos[order])


def due_seconds(ts: np.ndarray, speed: float, max_gap_s: float = 60.0) -> np.ndarray:
    """When each event is due, in seconds after the replay starts (speed 0 = all at once).

    Quiet stretches of show time longer than ``max_gap_s`` (between shows, refunds the next day) are
    shortened to ``max_gap_s`` before the speed-up, so a file of several shows replays without waiting days.
    """
    if len(ts) == 0 or speed <= 0:
        return np.zeros(len(ts))
    gaps = np.minimum(np.diff(ts, prepend=ts[0]), max_gap_s * 1000.0)
    return np.cumsum(gaps) / 1000.0 / speed


def replay(
    show: Show,
    url: str,
    token: str,
    speed: float = 10.0,
    batch: int = 2_000,
    max_gap_s: float = 60.0,
    on_progress: Callable[[int], None] | None = None,
    client: httpx.Client | None = None,
) -> ReplayResult:
    """Send the events at ``speed`` × real time in batches of up to ``batch``; retries on 429."""
    due = due_seconds(show.ts, speed, max_gap_s)
    res = ReplayResult()
    own = client is None
    client = client or httpx.Client(timeout=60)
    headers = {
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/x-ndjson",
        "Content-Encoding": "gzip",
    }
    start = time.monotonic()
    i, n = 0, len(show)
    try:
        while i < n:
            now = time.monotonic() - start
            if due[i] > now:
                time.sleep(min(due[i] - now, 0.5))
                continue
            j = min(n, i + batch, int(np.searchsorted(due, now, side="right")))
            j = max(j, i + 1)
            body = gzip.compress("\n".join(show.lines.slice(i, j - i).to_pylist()).encode(), compresslevel=1)
            reply = _post(client, url.rstrip("/") + "/v1/events", body, headers)
            res.sent += j - i
            res.batches += 1
            res.accepted += reply.get("accepted", 0)
            res.duplicate += reply.get("duplicate", 0)
            res.rejected += reply.get("rejected", 0)
            for e in reply.get("errors", [])[: max(0, 20 - len(res.errors))]:
                res.errors.append({**e, "line": int(show.pos[i + e["line"] - 1])})  # the file's own line
            if on_progress:
                on_progress(j - i)
            i = j
    finally:
        if own:
            client.close()
    res.seconds = time.monotonic() - start
    return res


def _post(client: httpx.Client, url: str, body: bytes, headers: dict) -> dict:
    for attempt in range(8):
        try:
            r = client.post(url, content=body, headers=headers)
        except httpx.TransportError as e:
            if attempt == 7:
                raise ReplayError(f"无法连接服务 cannot reach {url}: {e}") from e
            time.sleep(0.5 * (attempt + 1))
            continue
        if r.status_code == 429:
            time.sleep(float(r.headers.get("retry-after", "1")))
            continue
        if r.status_code in (200, 422):
            return r.json()
        try:
            msg = r.json().get("error", r.text)
        except ValueError:
            msg = r.text
        raise ReplayError(f"服务拒绝 server refused the batch ({r.status_code}): {msg}")
    raise ReplayError(f"{url}: 多次限速后仍失败 still rate-limited after retries")
