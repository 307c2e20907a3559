"""The Parquet lake: the event log exported as hive-partitioned Parquet, read back by DuckDB or Spark.

Layout of a lake directory::

    <lake>/date=YYYY-MM-DD/room_id=<room>/data_0.parquet   events, stored schema minus the partition columns
    <lake>/products.parquet                                  the product dimension
    <lake>/_liveops_lake.json                                 what wrote it (time zone of ``date``, counts)

``date`` is the event's calendar date in the display time zone (the day a show is reported under);
``ts`` stays a UTC timestamp in ms precision and ``amount`` a decimal(18,2). Partition values are
URL-encoded by DuckDB; both readers give ``room_id`` back exactly as stored.

``open_lake`` returns a :class:`Lake` whose ``events`` is an Ibis table with the same columns and
types as ``EventLog.events``, so the metric catalog runs on it unchanged.
"""

from __future__ import annotations

import atexit
import itertools
import json
import re
import shutil
import tempfile
import threading
import time
import zoneinfo
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import duckdb
import ibis
import ibis.expr.types as ir

from .schema import STORED_DUCKDB_DDL, STORED_SCHEMA
from .store import PRODUCTS_DDL, EventLog

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

PARTITION_BY = ("date", "room_id")
PRODUCTS_FILE = "products.parquet"
META_FILE = "_liveops_lake.json"
EVENT_COLUMNS = tuple(STORED_SCHEMA.names)
_FILE_COLUMNS = tuple(c for c in EVENT_COLUMNS if c not in PARTITION_BY)
_EVENTS_GLOB = "date=*/room_id=*/*.parquet"

Backend = Literal["spark", "duckdb"]


@dataclass(frozen=True)
class LakeExportResult:
    out_dir: str
    rows: int  # event rows written
    files: int  # event Parquet files
    partitions: int  # (date, room_id) directories
    products: int  # product rows written to products.parquet
    tz: str
    seconds: float


def _q(s: str) -> str:
    return "'" + str(s).replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _clear_lake(out: Path) -> None:
    """Remove what an earlier export wrote (partition folders, products, metadata); leave the rest."""
    for d in out.glob("date=*"):
        if d.is_dir():
            shutil.rmtree(d)
    for name in (PRODUCTS_FILE, META_FILE):
        (out / name).unlink(missing_ok=True)


def export_lake(log: EventLog, out_dir: str | Path, tz: str = "Asia/Shanghai") -> LakeExportResult:
    """Write the log as Parquet partitioned by ``date`` (in ``tz``) and ``room_id``; replaces an earlier export."""
    t0 = time.perf_counter()
    try:
        zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as e:
        raise ValueError(f"未知时区 unknown time zone: {tz!r}") from e
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _clear_lake(out)
    con = log.con
    cols = []
    for c in _FILE_COLUMNS:
        if c == "ts":
            cols.append("CAST(ts AS TIMESTAMP_MS) AS ts")
        elif c == "amount":
            cols.append("CAST(amount AS DECIMAL(18, 2)) AS amount")
        else:
            cols.append(_ident(c))
    # ts is naive UTC: read it as UTC, then take the wall-clock date in the display zone.
    date = f"strftime(timezone({_q(tz)}, timezone('UTC', ts)), '%Y-%m-%d') AS date"
    select = f"SELECT {', '.join(cols)}, {date}, room_id FROM events"
    rows = con.execute(
        f"""COPY ({select}) TO {_q(out.as_posix())}
        (FORMAT parquet, PARTITION_BY (date, room_id), OVERWRITE_OR_IGNORE true, COMPRESSION zstd)"""
    ).fetchall()[0][0]
    products = con.execute(
        f"COPY (SELECT * FROM products ORDER BY product_id) TO {_q((out / PRODUCTS_FILE).as_posix())} "
        "(FORMAT parquet, COMPRESSION zstd)"
    ).fetchall()[0][0]
    files = sorted(out.glob(_EVENTS_GLOB))
    partitions = len({f.parent for f in files})
    res = LakeExportResult(
        out_dir=str(out),
        rows=int(rows),
        files=len(files),
        partitions=partitions,
        products=int(products),
        tz=tz,
        seconds=time.perf_counter() - t0,
    )
    meta = {
        "format": 1,
        "partition_by": list(PARTITION_BY),
        "tz": tz,
        "rows": res.rows,
        "files": res.files,
        "partitions": res.partitions,
        "products": res.products,
    }
    (out / META_FILE).write_text(json.dumps(meta, indent=2), encoding="utf-8")
    return res


# ---------------------------------------------------------------------------------------------
# Reading


@dataclass
class Lake:
    """A Parquet lake opened on one backend: ``events`` (and ``products`` if exported) as Ibis tables."""

    path: str
    backend: str  # "spark" or "duckdb"
    con: ibis.BaseBackend  # the Ibis backend the tables are bound to
    events: ir.Table
    products: ir.Table | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    _close: list = field(default_factory=list, repr=False)

    def count(self) -> int:
        return int(self.events.count().execute())

    def close(self) -> None:
        while self._close:
            self._close.pop()()

    def __enter__(self) -> Lake:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_lake(lake_dir: str | Path, backend: Backend = "spark", *, spark: SparkSession | None = None) -> Lake:
    """Open a lake written by :func:`export_lake` on Spark (the shared local session by default) or DuckDB."""
    root = Path(lake_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"没有这个数据湖目录 no lake directory: {root}")
    meta_path = root / META_FILE
    meta = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.is_file() else {}
    if backend == "duckdb":
        return _open_duckdb(root, meta)
    if backend == "spark":
        return _open_spark(root, meta, spark or spark_session())
    raise ValueError(f"unknown lake backend {backend!r} (expected 'spark' or 'duckdb')")


def _has_events(root: Path) -> bool:
    return next(root.glob(_EVENTS_GLOB), None) is not None


def _open_duckdb(root: Path, meta: dict) -> Lake:
    con = duckdb.connect(":memory:")
    con.execute("SET TimeZone = 'UTC'")
    if _has_events(root):
        cols = ", ".join("CAST(ts AS TIMESTAMP) AS ts" if c == "ts" else _ident(c) for c in EVENT_COLUMNS)
        src = _q((root / _EVENTS_GLOB).as_posix())
        con.execute(
            f"""CREATE VIEW events AS SELECT {cols} FROM read_parquet({src}, hive_partitioning = true,
            hive_types = {{'date': VARCHAR, 'room_id': VARCHAR}})"""
        )
    else:
        con.execute(STORED_DUCKDB_DDL)
    products = root / PRODUCTS_FILE
    if products.is_file():
        con.execute(f"CREATE VIEW products AS SELECT * FROM read_parquet({_q(products.as_posix())})")
    else:
        con.execute(PRODUCTS_DDL)
    ib = ibis.duckdb.from_connection(con)
    return Lake(
        path=str(root),
        backend="duckdb",
        con=ib,
        events=ib.table("events"),
        products=ib.table("products"),
        meta=meta,
        _close=[con.close],
    )


# Spark decodes each %XX of a partition path as one character, DuckDB encodes UTF-8 bytes: a folder
# name with an encoded byte >= 0x80 needs its characters turned back into bytes and read as UTF-8.
_HIGH_ESCAPE = re.compile(r"%[89A-Fa-f][0-9A-Fa-f]")
_view_ids = itertools.count(1)


def _spark_event_schema():
    from pyspark.sql import types as T

    spark_types = {
        "ts": T.TimestampNTZType(),
        "amount": T.DecimalType(18, 2),
        "count": T.LongType(),
        "clicks": T.LongType(),
    }
    fields = [T.StructField(c, spark_types.get(c, T.StringType()), True) for c in _FILE_COLUMNS]
    fields += [T.StructField(c, T.StringType(), True) for c in PARTITION_BY]
    return T.StructType(fields)


def _open_spark(root: Path, meta: dict, spark: SparkSession) -> Lake:
    from pyspark.sql import functions as F

    schema = _spark_event_schema()
    if _has_events(root):
        df = (
            spark.read.schema(schema)
            .option("basePath", root.as_posix())
            .parquet((root / "date=*" / "room_id=*").as_posix())
        )
        if any(_HIGH_ESCAPE.search(d.name) for d in root.glob("date=*/room_id=*")):
            rid = F.col("room_id")
            fixed = F.decode(F.encode(rid, "ISO-8859-1"), "UTF-8")
            df = df.withColumn(
                "room_id", F.when(rid.rlike("^[\\x00-\\xff]*$"), fixed).otherwise(rid).alias("room_id")
            )
    else:
        df = spark.createDataFrame([], schema)
    df = df.select(*EVENT_COLUMNS)
    n = next(_view_ids)
    views = [f"liveops_lake_events_{n}"]
    df.createOrReplaceTempView(views[0])
    products = root / PRODUCTS_FILE
    if products.is_file():
        views.append(f"liveops_lake_products_{n}")
        spark.read.parquet(products.as_posix()).createOrReplaceTempView(views[1])
    ib = _ibis_spark(spark)

    def drop_views() -> None:
        for v in views:
            spark.catalog.dropTempView(v)

    return Lake(
        path=str(root),
        backend="spark",
        con=ib,
        events=ib.table(views[0]),
        products=ib.table(views[1]) if len(views) > 1 else None,
        meta=meta,
        _close=[drop_views],
    )


# ---------------------------------------------------------------------------------------------
# The shared local SparkSession

_spark_lock = threading.Lock()
_spark: SparkSession | None = None
_spark_ibis: dict[int, ibis.BaseBackend] = {}


def spark_session(
    master: str = "local[2]", driver_memory: str = "1g", shuffle_partitions: int = 4
) -> SparkSession:
    """One local SparkSession per process, created on first use (JVM start ~10–20 s) and reused."""
    global _spark
    with _spark_lock:
        if _spark is not None and _alive(_spark):
            return _spark
        from pyspark.sql import SparkSession

        warehouse = tempfile.mkdtemp(prefix="liveops-spark-warehouse-")
        spark = (
            SparkSession.builder.master(master)
            .appName("liveops")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.driver.memory", driver_memory)
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.sql.warehouse.dir", warehouse)
            .config("spark.sql.shuffle.partitions", str(shuffle_partitions))
            .config("spark.sql.execution.arrow.pyspark.enabled", "true")
            .getOrCreate()
        )
        spark.sparkContext.setLogLevel("ERROR")
        _spark = spark
        atexit.register(shutil.rmtree, warehouse, True)
        return spark


def _alive(spark: SparkSession) -> bool:
    try:
        return not spark.sparkContext._jsc.sc().isStopped()
    except Exception:  # the JVM is gone
        return False


def stop_spark() -> None:
    """Stop the shared session (a later ``spark_session()`` starts a new JVM)."""
    global _spark
    with _spark_lock:
        if _spark is not None:
            _spark_ibis.pop(id(_spark), None)
            _spark.stop()
            _spark = None


def _ibis_spark(spark: SparkSession) -> ibis.BaseBackend:
    key = id(spark)
    if key not in _spark_ibis:
        _spark_ibis[key] = ibis.pyspark.connect(spark)
    return _spark_ibis[key]
