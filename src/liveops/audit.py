"""A hash-chained, append-only audit log in the store (compliance evidence, seed 7.2).

Each record carries the hash of the one before it, so editing, inserting or deleting a record breaks
the chain at a place ``verify`` can name. Deleting the newest records leaves a valid but shorter chain;
the head (sequence number and hash) is therefore also written to a file beside the store after every
commit that appended, and ``verify`` compares against it. Keep copies of the head elsewhere to guard against someone
who can rewrite both.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pyarrow as pa

from .ingest import _transaction

GENESIS = "0" * 64

AUDIT_DDL = """
CREATE TABLE IF NOT EXISTS audit_log (
    seq BIGINT PRIMARY KEY,
    ts TIMESTAMP NOT NULL,
    kind VARCHAR NOT NULL,
    ref VARCHAR,
    payload VARCHAR NOT NULL,
    prev_hash VARCHAR NOT NULL,
    hash VARCHAR NOT NULL
)
"""


@dataclass(frozen=True)
class Record:
    kind: str  # hit | alert | script_submit | script_review | script_check | lexicon_update …
    ref: str  # what it is about: a hit id, a script id, an alert key
    payload: dict[str, Any]


def _digest(seq: int, ts: str, kind: str, ref: str, payload: str, prev: str) -> str:
    body = "\x1f".join((str(seq), ts, kind, ref, payload, prev))
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def _ts(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%f")


def head_path(db_path: str) -> Path | None:
    return None if db_path == ":memory:" else Path(db_path + ".audit-head")


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection, db_path: str = ":memory:") -> Iterator[None]:
    """The data and its audit records commit together; the head file is written only after the commit."""
    with _transaction(con):
        yield
    write_head(con, db_path)


def write_head(con: duckdb.DuckDBPyConnection, db_path: str) -> None:
    hp = head_path(db_path)
    if hp is None:
        return
    last = con.execute("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchall()
    if last:
        tmp = hp.with_suffix(".tmp")
        tmp.write_text(f"{last[0][0]} {last[0][1]}\n", encoding="utf-8")
        tmp.replace(hp)


def append(con: duckdb.DuckDBPyConnection, records: Sequence[Record]) -> list[str]:
    """Append records after the current head; returns their hashes. Call inside ``transaction``."""
    if not records:
        return []
    con.execute(AUDIT_DDL)
    last = con.execute("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchall()
    seq, prev = (last[0][0], last[0][1]) if last else (0, GENESIS)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    ts = _ts(now)
    rows: dict[str, list] = {k: [] for k in ("seq", "kind", "ref", "payload", "prev_hash", "hash")}
    for r in records:
        seq += 1
        payload = orjson.dumps(r.payload, option=orjson.OPT_SORT_KEYS, default=str).decode()
        h = _digest(seq, ts, r.kind, r.ref, payload, prev)
        for k, v in zip(rows, (seq, r.kind, r.ref, payload, prev, h), strict=True):
            rows[k].append(v)
        prev = h
    table = pa.table({**rows, "ts": pa.array([now] * len(records), pa.timestamp("us"))})
    con.register("_audit_new", table)
    try:
        con.execute(
            "INSERT INTO audit_log SELECT seq, ts, kind, ref, payload, prev_hash, hash FROM _audit_new"
        )
    finally:
        con.unregister("_audit_new")
    return rows["hash"]


@dataclass
class Problem:
    seq: int | None
    kind: str  # edited | inserted | deleted | reordered | truncated | head
    message: str


@dataclass
class Verification:
    records: int
    head_seq: int
    head_hash: str
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(con: duckdb.DuckDBPyConnection, db_path: str = ":memory:") -> Verification:
    """Recompute the chain; name every record that was edited, inserted or deleted."""
    con.execute(AUDIT_DDL)
    rows = con.execute(
        "SELECT seq, ts, kind, coalesce(ref, ''), payload, prev_hash, hash FROM audit_log ORDER BY seq"
    ).fetchall()
    problems: list[Problem] = []
    known = {r[6]: r[0] for r in rows}  # stored hash → seq, to tell an insertion from a deletion
    prev_hash, prev_seq = GENESIS, 0
    for seq, ts, kind, ref, payload, stored_prev, stored in rows:
        if _digest(seq, _ts(ts), kind, ref, payload, stored_prev) != stored:
            problems.append(
                Problem(seq, "edited", f"记录 #{seq} 内容被修改 record #{seq} ({kind} {ref}) was edited")
            )
        if stored_prev != prev_hash:
            if seq != prev_seq + 1 and stored_prev not in known:
                problems.append(
                    Problem(
                        seq,
                        "deleted",
                        f"记录 #{prev_seq + 1}–#{seq - 1} 被删除 records #{prev_seq + 1}–#{seq - 1} before #{seq} were deleted",
                    )
                )
            elif stored_prev in known and known[stored_prev] < prev_seq:
                problems.append(
                    Problem(
                        prev_seq,
                        "inserted",
                        f"记录 #{prev_seq} 是插入的 record #{prev_seq} was inserted: #{seq} follows #{known[stored_prev]}",
                    )
                )
            else:
                problems.append(
                    Problem(
                        seq,
                        "deleted",
                        f"记录 #{seq} 之前的记录被删除或替换 the record before #{seq} was deleted or replaced",
                    )
                )
        elif seq != prev_seq + 1:
            problems.append(
                Problem(seq, "reordered", f"记录 #{seq} 的序号不连续 record #{seq} follows #{prev_seq}")
            )
        prev_hash, prev_seq = stored, seq
    hp = head_path(db_path)
    if hp is not None and hp.is_file():
        try:
            h_seq, h_hash = hp.read_text(encoding="utf-8").split()
            h_seq_i = int(h_seq)
        except ValueError:
            problems.append(Problem(None, "head", f"{hp}: 无法读取链头 cannot read the chain head"))
        else:
            if h_seq_i > prev_seq:
                problems.append(
                    Problem(
                        prev_seq + 1,
                        "truncated",
                        f"链头为 #{h_seq_i}，日志只到 #{prev_seq}：末尾记录被删除 the head file says #{h_seq_i}, "
                        f"the log ends at #{prev_seq}: the newest records were deleted",
                    )
                )
            elif h_seq_i < prev_seq:
                problems.append(
                    Problem(
                        h_seq_i + 1,
                        "inserted",
                        f"链头为 #{h_seq_i}，之后的记录未经本系统追加 records after the head #{h_seq_i} were "
                        "not appended by LiveOps (the head file was not updated)",
                    )
                )
            elif h_seq_i == prev_seq and h_hash != prev_hash:
                problems.append(
                    Problem(
                        h_seq_i,
                        "head",
                        f"记录 #{h_seq_i} 与链头文件不符 record #{h_seq_i} differs from the head file",
                    )
                )
    return Verification(len(rows), prev_seq, prev_hash, problems)


def records(con: duckdb.DuckDBPyConnection, kind: str | None = None, ref: str | None = None) -> list[dict]:
    con.execute(AUDIT_DDL)
    where, args = [], []
    if kind:
        where.append("kind = ?")
        args.append(kind)
    if ref:
        where.append("ref = ?")
        args.append(ref)
    sql = "SELECT seq, ts, kind, ref, payload, hash FROM audit_log"
    if where:
        sql += " WHERE " + " AND ".join(where)
    out = []
    for seq, ts, k, r, payload, h in con.execute(sql + " ORDER BY seq", args).fetchall():
        out.append({"seq": seq, "ts": ts, "kind": k, "ref": r, "payload": orjson.loads(payload), "hash": h})
    return out
