"""The event log: append-only, idempotent by event_id, a DuckDB file by default, a Parquet lake for Spark."""

from __future__ import annotations

import hmac
import os
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import ibis
import pyarrow as pa

from . import ingest as _ingest
from .schema import STORED_DUCKDB_DDL

DEFAULT_DB = "liveops.duckdb"

PRODUCTS_DDL = """
CREATE TABLE IF NOT EXISTS products (
    product_id VARCHAR PRIMARY KEY,
    name VARCHAR,
    price DECIMAL(18, 2),
    category VARCHAR
)
"""


@dataclass(frozen=True)
class Settings:
    """Defaults from an optional liveops.toml in the working directory."""

    db: str = DEFAULT_DB
    timezone: str = "Asia/Shanghai"
    alert_rules: str | None = None  # a YAML rule file; None = the packaged defaults
    pseudonymise_key: str | None = None  # a key file: user ids are stored as keyed hashes
    lexicon: str = "liveops-lexicon.yaml"  # a newer lexicon release (`liveops rules update`), used if present
    user_rules: str = "liveops-rules.yaml"  # the user's own compliance rules and allow-words, if present
    labels: str = "liveops-labels.tsv"  # the room's reviewed lines (`liveops compliance labels`): the model trains on them

    @classmethod
    def load(cls, path: str | Path = "liveops.toml") -> Settings:
        p = Path(path)
        if not p.is_file():
            return cls()
        data = tomllib.loads(p.read_text(encoding="utf-8"))
        return cls(
            db=data.get("db", DEFAULT_DB),
            timezone=data.get("timezone", "Asia/Shanghai"),
            alert_rules=data.get("alert_rules"),
            pseudonymise_key=data.get("pseudonymise_key"),
            lexicon=data.get("compliance", {}).get("lexicon", "liveops-lexicon.yaml"),
            user_rules=data.get("compliance", {}).get("rules", "liveops-rules.yaml"),
            labels=data.get("compliance", {}).get("labels", "liveops-labels.tsv"),
        )


def read_key(path: str | Path | None) -> bytes | None:
    """A pseudonymisation key file (surrounding whitespace ignored); None when no file is given."""
    if not path:
        return None
    try:
        key = Path(path).read_bytes().strip()
    except OSError as e:
        raise _ingest.IngestError(f"{path}: 无法读取密钥 cannot read the pseudonymisation key: {e}") from e
    if len(key) < 16:
        raise _ingest.IngestError(f"{path}: 密钥至少 16 字节 the key must be at least 16 bytes")
    return key


def resolve_db(db: str | None) -> str:
    return db or os.environ.get("LIVEOPS_DB") or Settings.load().db


class EventLog:
    """One room-event log in a DuckDB file (or ``:memory:``), queried through Ibis."""

    def __init__(
        self,
        path: str | Path = DEFAULT_DB,
        read_only: bool = False,
        deadletter: Path | None = None,
        pseudonymise_key: bytes | None = None,
        for_ingest: bool = True,
    ):
        """``for_ingest=False`` opens a store for work that writes no events (compliance, scripts, audit),
        which needs no pseudonymisation key."""
        self.path = str(path)
        self._deadletter = deadletter
        self.con = duckdb.connect(self.path, read_only=read_only)
        self.con.execute("SET TimeZone = 'UTC'")
        _ingest.define_uid(self.con, pseudonymise_key)
        if not read_only:
            self.con.execute(STORED_DUCKDB_DDL)
            self.con.execute(PRODUCTS_DDL)
            if for_ingest:
                self._check_pseudonymisation(pseudonymise_key)
        self._ibis = ibis.duckdb.from_connection(self.con)

    def _check_pseudonymisation(self, key: bytes | None) -> None:
        """One store, one way of storing user ids: refuse to mix raw ids with pseudonyms, or two keys."""
        mine = "none" if key is None else "key:" + hmac.new(key, b"liveops-store", "sha256").hexdigest()[:16]
        self.con.execute("CREATE TABLE IF NOT EXISTS store_meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
        got = self.con.execute("SELECT value FROM store_meta WHERE key = 'user_ids'").fetchall()
        if not got:
            has_events = self.con.execute("SELECT count(*) FROM (SELECT 1 FROM events LIMIT 1)").fetchall()[
                0
            ][0]
            theirs = "none" if has_events else mine  # a store from before this check holds raw ids
            self.con.execute("INSERT INTO store_meta VALUES ('user_ids', ?)", [theirs])
        else:
            theirs = got[0][0]
        if theirs != mine:
            self.con.close()
            how = {True: "假名化 pseudonymised with another key", False: "原始 ID raw user ids"}
            raise _ingest.IngestError(
                f"{self.path}: 存储中的用户 ID 为{how[theirs != 'none']}，与本次设置不一致 — the store holds "
                f"{'pseudonymised' if theirs != 'none' else 'raw'} user ids; "
                + (
                    "give the same --pseudonymise-key"
                    if theirs != "none"
                    else "it cannot take pseudonymised ones"
                )
            )

    # -- writing ----------------------------------------------------------------------------
    @property
    def deadletter_path(self) -> Path | None:
        if self._deadletter is not None or self.path == ":memory:":
            return self._deadletter
        return Path(self.path + ".deadletter.jsonl")

    def ingest(self, path: str, on_progress: Callable[[int], None] | None = None) -> _ingest.IngestResult:
        return _ingest.ingest_file(self.con, path, self.deadletter_path, on_progress)

    def ingest_arrow(self, table: pa.Table, label: str = "<arrow>") -> _ingest.IngestResult:
        return _ingest.ingest_arrow(self.con, table, label, self.deadletter_path)

    def import_products(self, path: str) -> int:
        """Upsert the product dimension from a CSV with product_id, name, price, category."""
        try:
            rel = self.con.sql(
                f"SELECT * FROM read_csv({_ingest._q(path)}, header = true, all_varchar = true)"
            ).to_arrow_table()
        except duckdb.Error as e:
            raise _ingest.IngestError(f"{path}: 无法读取 unreadable CSV: {e}") from e
        missing = {"product_id", "name", "price"} - set(rel.column_names)
        if missing:
            raise _ingest.IngestError(f"{path}: 缺少列 missing columns {sorted(missing)}")
        self.con.register("_products_in", rel)
        try:
            cat = "category" if "category" in rel.column_names else "NULL"
            bad = self.con.execute(
                "SELECT count(*) FROM _products_in WHERE product_id IS NULL OR TRY_CAST(price AS DECIMAL(18,2)) IS NULL"
            ).fetchall()[0][0]
            if bad:
                raise _ingest.IngestError(
                    f"{path}: {bad} 行缺少 product_id 或价格无效 rows lack product_id or a valid price"
                )
            self.con.execute(
                f"""INSERT OR REPLACE INTO products
                SELECT product_id, name, CAST(price AS DECIMAL(18,2)), {cat} FROM _products_in"""
            )
            return rel.num_rows
        finally:
            self.con.unregister("_products_in")

    # -- reading ----------------------------------------------------------------------------
    @property
    def events(self) -> ibis.Table:
        return self._ibis.table("events")

    @property
    def products(self) -> ibis.Table:
        return self._ibis.table("products")

    def count(self) -> int:
        return self.con.execute("SELECT count(*) FROM events").fetchall()[0][0]

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> EventLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
