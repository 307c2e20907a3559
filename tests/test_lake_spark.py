"""The Parquet lake: export layout and overwrite, and the metric catalog giving the same numbers on
the DuckDB event log, on the lake via DuckDB and on the lake via Spark."""

from __future__ import annotations

import json
import math
import shutil
from datetime import UTC, datetime
from decimal import Decimal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from liveops import metrics
from liveops.lake import export_lake, open_lake, spark_session
from liveops.metrics import py_value
from liveops.schema import AMOUNT_TYPE, SOURCES
from liveops.store import EventLog

# PySpark 4.0's toPandas passes copy= to pandas 3, which warns.
pytestmark = pytest.mark.filterwarnings("ignore:The copy keyword is deprecated")

COUNT_UNITS = {"人", "次", "单", "件"}
NOT_WHOLE = {"avg_online"}  # a count unit, but a time-weighted mean
ODD_ROOMS = ("直播间 A/1=b%", "1001", "café+#?")


# ---------------------------------------------------------------------------------------------
# Event builders


def _batch(rows: dict[str, list]) -> pa.Table:
    """Contract columns for ingest_arrow; ``ts`` in epoch milliseconds (UTC)."""
    n = len(rows["event_id"])
    cols = {
        "event_id": pa.array(rows["event_id"], pa.string()),
        "ts": pa.array(np.asarray(rows["ts"], dtype="int64"), pa.int64()).cast(pa.timestamp("ms", "UTC")),
    }
    for f in ("room_id", "session_id", "user_id", "type", "source", "product_id", "order_id"):
        cols[f] = pa.array(rows.get(f, [None] * n), pa.string())
    for f in ("campaign_id", "text", "variant", "attrs"):
        cols[f] = pa.array(rows.get(f, [None] * n), pa.string())
    amounts = [None if a is None else Decimal(a) for a in rows.get("amount", [None] * n)]
    cols["amount"] = pa.array(amounts, AMOUNT_TYPE)
    cols["count"] = pa.array(rows.get("count", [None] * n), pa.int64())
    return pa.table(cols)


def _ms(dt: datetime) -> int:
    return int(dt.timestamp() * 1000)


class _Rows:
    def __init__(self, session: str, room: str):
        self.session, self.room = session, room
        self.data: dict[str, list] = {}
        self.n = 0

    def add(self, type_: str, ts: int, **kw) -> None:
        kw.update(type=type_, ts=int(ts), session_id=self.session, room_id=self.room)
        kw["event_id"] = f"{self.session}-{self.n:07d}"
        self.n += 1
        for k in set(self.data) | set(kw):
            col = self.data.setdefault(k, [None] * (self.n - 1))
            col.append(kw.get(k))


def synthetic_show(
    seed: int = 7, viewers: int = 3000, minutes: int = 30, sessions: int = 3
) -> tuple[pa.Table, dict[str, str]]:
    """A seeded multi-session, multi-room log that hits the catalog's edge cases.

    Sessions start 15:45 UTC (23:45 in Shanghai) on consecutive days, so each one crosses a date
    partition. It has repeated enters, stray leaves, viewers who never leave, same-millisecond
    enter/leave ties, orders without count, refunds, gifts, ad spend with clicks, explain
    segments and, in the last session only, platform online snapshots and no session_end.
    """
    rng = np.random.default_rng(seed)
    rooms = ["r1", ODD_ROOMS[0], "r1", ODD_ROOMS[2]]
    per_session = viewers // sessions
    pool = np.array([f"u{i:05d}" for i in range(int(viewers * 0.8))])  # viewers return across shows
    sources = list(SOURCES)
    tables, room_of = [], {}
    for s in range(sessions):
        sid = f"sim{s + 1}"
        rows = _Rows(sid, rooms[s % len(rooms)])
        room_of[sid] = rows.room
        t0 = _ms(datetime(2026, 11, 20 + s, 15, 45, tzinfo=UTC))
        dur = minutes * 60_000
        last = s == sessions - 1
        rows.add("session_start", t0, attrs=json.dumps({"streamer_id": f"st{s % 2}"}))
        for k in range(0, dur, 60_000):
            rows.add("room_impression", t0 + k, count=int(rng.integers(50, 500)), source="feed")
            rows.add(
                "ad_spend",
                t0 + k + 500,
                campaign_id="c1",
                amount=f"{rng.integers(100, 5000) / 100:.2f}",
                count=int(rng.integers(100, 2000)),
                attrs=json.dumps({"clicks": int(rng.integers(0, 60))}),
            )
            if last:
                rows.add("online_snapshot", t0 + k, count=int(rng.integers(10, 400)))
        for p in range(4):
            a = t0 + p * dur // 4
            rows.add("explain_start", a + 1000, product_id=f"p{p}")
            rows.add("explain_end", a + dur // 4 - 1000, product_id=f"p{p}")
        users = rng.choice(pool, size=per_session, replace=False)
        order_no = 0
        for u in users:
            src = sources[int(rng.integers(0, len(sources)))]
            camp = "c1" if src == "paid" else None
            if rng.random() < 0.03:  # a stray leave before any enter
                rows.add("leave", t0 + int(rng.integers(0, dur)), user_id=u)
            enter = t0 + int(rng.integers(0, dur))
            if rng.random() < 0.3:
                enter -= enter % 1000  # whole seconds: ties with other events
            for _visit in range(int(rng.integers(1, 4))):
                if enter >= t0 + dur:
                    break
                rows.add("enter", enter, user_id=u, source=src, campaign_id=camp)
                if rng.random() < 0.1:  # a repeated enter while online
                    rows.add("enter", enter + int(rng.integers(0, 5000)), user_id=u, source=src)
                stay = int(rng.exponential(240_000))
                if rng.random() < 0.02:
                    stay = 0  # leave in the same millisecond
                leave = enter + stay
                inside = enter + stay // 2
                r = rng.random()
                if r < 0.3:
                    rows.add("comment", inside, user_id=u, text="多少钱?")
                if r < 0.25:
                    rows.add("like", inside + 1, user_id=u, count=int(rng.integers(1, 30)))
                if r < 0.05:
                    rows.add("share", inside, user_id=u)
                if r < 0.06:
                    rows.add("follow", inside + 2, user_id=u)
                if r < 0.02:
                    rows.add("fanclub_join", inside + 3, user_id=u)
                if r < 0.03:
                    rows.add("gift", inside, user_id=u, amount=f"{rng.integers(10, 10000) / 100:.2f}")
                if r < 0.5:
                    prod = f"p{int(rng.integers(0, 4))}"
                    rows.add("product_impression", inside, user_id=u, product_id=prod)
                    if r < 0.2:
                        rows.add("product_click", inside + 100, user_id=u, product_id=prod)
                    if r < 0.12:
                        rows.add("add_to_cart", inside + 200, user_id=u, product_id=prod)
                    if r < 0.08:
                        order_no += 1
                        oid = f"{sid}-o{order_no}"
                        price = f"{rng.integers(990, 29900) / 100:.2f}"
                        cnt = None if rng.random() < 0.3 else int(rng.integers(1, 4))
                        rows.add(
                            "order",
                            inside + 300,
                            user_id=u,
                            product_id=prod,
                            order_id=oid,
                            amount=price,
                            count=cnt,
                        )
                        if r < 0.06:
                            rows.add(
                                "pay", inside + 400, user_id=u, product_id=prod, order_id=oid, amount=price
                            )
                            if r < 0.01:
                                rows.add("refund", inside + 500, user_id=u, order_id=oid, amount=price)
                if rng.random() < 0.9 or not leave < t0 + dur:
                    if leave < t0 + dur:
                        rows.add("leave", leave, user_id=u)
                else:
                    break  # never leaves: online until the show ends
                enter = leave + int(rng.integers(1_000, 600_000))
        if not last:
            rows.add("session_end", t0 + dur)
        tables.append(_batch(rows.data))
    return pa.concat_tables(tables), room_of


def _extra_events() -> pa.Table:
    """Odd room ids and a date boundary: 15:59:59.999 UTC is still the 24th in Shanghai, 16:00 is the 25th."""
    rows: dict[str, list] = {"event_id": [], "ts": [], "room_id": [], "session_id": [], "type": []}
    specs = [
        ("x1", datetime(2026, 11, 24, 15, 59, 59, 999000, tzinfo=UTC), ODD_ROOMS[0], "s3"),
        ("x2", datetime(2026, 11, 24, 16, 0, 0, tzinfo=UTC), ODD_ROOMS[0], "s3"),
        ("x3", datetime(2026, 11, 24, 17, 0, 0, tzinfo=UTC), ODD_ROOMS[1], "s4"),
        ("x4", datetime(2026, 11, 24, 18, 0, 0, tzinfo=UTC), ODD_ROOMS[2], "s5"),
    ]
    for eid, ts, room, sid in specs:
        for k, v in zip(rows, (eid, _ms(ts), room, sid, "session_start"), strict=True):
            rows[k].append(v)
    return _batch(rows)


# ---------------------------------------------------------------------------------------------
# Comparison


def _val(v):
    v = py_value(v)
    return None if v is None else float(v)


def assert_same_metrics(ref: pd.DataFrame, got: pd.DataFrame, by: str, label: str) -> None:
    """Counts exactly equal, other numbers to 1e-9 relative, nulls where the reference has nulls."""
    ref = ref.set_index(by).sort_index()
    got = got.set_index(by).sort_index()
    assert list(got.index) == list(ref.index), label
    assert set(got.columns) == set(ref.columns), label
    bad = []
    for col in ref.columns:
        m = metrics.CATALOG.get(col)
        exact = col == "unpaid_orders" or (
            m is not None and not m.is_ratio and m.unit in COUNT_UNITS and col not in NOT_WHOLE
        )
        for key in ref.index:
            a, b = _val(ref.at[key, col]), _val(got.at[key, col])
            if a is None or b is None:
                ok = a is None and b is None
            elif exact:
                ok = a == b
            else:
                ok = math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
            if not ok:
                bad.append(f"{key}.{col}: {a!r} != {b!r}")
    assert not bad, f"{label}: {len(bad)} differences\n" + "\n".join(bad[:40])


def _sorted_rows(t) -> pd.DataFrame:
    df = t.order_by("event_id").execute()
    df["ts"] = pd.to_datetime(df["ts"]).astype("datetime64[ms]")
    return df.astype(object).where(df.notna(), None).reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# Fixtures


@pytest.fixture(scope="session")
def spark():
    if shutil.which("java") is None:
        pytest.skip("needs Java for PySpark")
    pytest.importorskip("pyspark")
    return spark_session()


@pytest.fixture
def mixed_log(fixture_log):
    res = fixture_log.ingest_arrow(_extra_events())
    assert res.rejected == 0 and res.stored == 4, res
    return fixture_log


def _simulated() -> pa.Table:
    """The project's simulator: two 30-minute shows of ~3,000 viewers, starting 23:45 in Shanghai."""
    sim = pytest.importorskip("liveops.simulate")
    cfg = sim.SimConfig(
        viewers=3000, minutes=30, sessions=2, seed=11, start="2026-11-24T23:45:00+08:00", cheating=True
    )
    return sim.simulate(cfg).events


@pytest.fixture(scope="module", params=["simulate", "synthetic"])
def show(request, tmp_path_factory):
    """A multi-session show in a DuckDB log and its lake (exported once per show)."""
    events = _simulated() if request.param == "simulate" else synthetic_show()[0]
    d = tmp_path_factory.mktemp(request.param)
    log = EventLog(d / "show.duckdb")
    res = log.ingest_arrow(events)
    assert res.rejected == 0 and res.stored == events.num_rows, res
    exported = export_lake(log, d / "lake")
    yield log, d / "lake", exported
    log.close()


# ---------------------------------------------------------------------------------------------
# Export


def test_export_layout_and_schema(mixed_log, tmp_path):
    products = tmp_path / "products.csv"
    products.write_text("product_id,name,price,category\np1,保温杯,59.90,家居\np2,T恤,99.00,服装\n", "utf-8")
    assert mixed_log.import_products(str(products)) == 2
    res = export_lake(mixed_log, tmp_path / "lake")
    assert (res.rows, res.partitions, res.files, res.products) == (49, 5, 5, 2)
    lake = tmp_path / "lake"
    dirs = sorted(p.relative_to(lake).parent.as_posix() for p in lake.glob("date=*/room_id=*/*.parquet"))
    assert dirs[0] == "date=2026-11-24/room_id=%E7%9B%B4%E6%92%AD%E9%97%B4%20A%2F1%3Db%25"
    assert "date=2026-11-24/room_id=r1" in dirs  # 12:00 UTC is 20:00 in Shanghai
    assert sum(d.startswith("date=2026-11-25/") for d in dirs) == 3  # 16:00 UTC onwards is the 25th
    f = next(lake.glob("date=*/room_id=r1/*.parquet"))
    schema = pq.read_schema(f)
    assert schema.field("ts").type == pa.timestamp("ms")
    assert schema.field("amount").type == pa.decimal128(18, 2)
    assert "room_id" not in schema.names and "date" not in schema.names
    assert pq.read_table(lake / "products.parquet").num_rows == 2
    assert json.loads((lake / "_liveops_lake.json").read_text())["tz"] == "Asia/Shanghai"


def test_reexport_overwrites(mixed_log, tmp_path):
    lake = tmp_path / "lake"
    lake.mkdir()
    (lake / "README.txt").write_text("not ours")
    utc = export_lake(mixed_log, lake, tz="UTC")
    assert utc.partitions == 4  # x1 and x2 fall on the 24th in UTC; the odd room has one partition
    assert (lake / "date=2026-11-24/room_id=1001").is_dir()
    res = export_lake(mixed_log, lake)
    again = export_lake(mixed_log, lake)
    assert again.rows == res.rows == 49 and again.files == res.files
    assert not (lake / "date=2026-11-24/room_id=1001").exists()  # the UTC layout is gone
    assert (lake / "README.txt").exists()
    with open_lake(lake, "duckdb") as lk:
        assert lk.count() == 49
        assert lk.events.event_id.nunique().execute() == 49
    with pytest.raises(ValueError):
        export_lake(mixed_log, lake, tz="Mars/Olympus")


def test_duckdb_lake_equals_log(mixed_log, tmp_path):
    export_lake(mixed_log, tmp_path / "lake")
    with open_lake(tmp_path / "lake", "duckdb") as lk:
        assert lk.backend == "duckdb"
        want = {k: v.copy(nullable=True) for k, v in mixed_log.events.schema().items()}
        got = {k: v.copy(nullable=True) for k, v in lk.events.schema().items()}
        assert list(got) == list(want) and got == want
        pd.testing.assert_frame_equal(_sorted_rows(lk.events), _sorted_rows(mixed_log.events))
        assert set(lk.events.room_id.execute()) == {"r1", *ODD_ROOMS}


def test_empty_lake_and_errors(tmp_path):
    with EventLog(tmp_path / "empty.duckdb") as log:
        res = export_lake(log, tmp_path / "lake")
    assert (res.rows, res.files, res.partitions) == (0, 0, 0)
    with open_lake(tmp_path / "lake", "duckdb") as lk:
        assert lk.count() == 0
        assert metrics.compute(lk.events).empty
    with pytest.raises(ValueError):
        open_lake(tmp_path / "lake", "hive")
    with pytest.raises(FileNotFoundError):
        open_lake(tmp_path / "nowhere", "duckdb")


# ---------------------------------------------------------------------------------------------
# Spark


@pytest.mark.spark
def test_spark_lake_equals_log(spark, mixed_log, tmp_path):
    export_lake(mixed_log, tmp_path / "lake")
    with open_lake(tmp_path / "lake", "spark", spark=spark) as lk:
        assert lk.backend == "spark"
        want = mixed_log.events.schema()
        got = lk.events.schema()
        assert list(got) == list(want)
        for name, typ in want.items():
            g = got[name]
            if typ.is_timestamp():
                assert g.is_timestamp() and g.timezone is None, name
            else:
                assert g.copy(nullable=True) == typ.copy(nullable=True), name
        pd.testing.assert_frame_equal(_sorted_rows(lk.events), _sorted_rows(mixed_log.events))
        assert lk.products is not None


@pytest.mark.spark
def test_conformance_fixture(spark, fixture_log, tmp_path):
    export_lake(fixture_log, tmp_path / "lake")
    ref = metrics.compute(fixture_log.events)
    with open_lake(tmp_path / "lake", "duckdb") as d, open_lake(tmp_path / "lake", "spark") as s:
        assert_same_metrics(ref, metrics.compute(d.events), "session_id", "duckdb lake")
        assert_same_metrics(ref, metrics.compute(s.events), "session_id", "spark lake")
        one = metrics.session_metrics(d.events, "s1")
    assert one == pytest.approx(metrics.session_metrics(fixture_log.events, "s1"), rel=1e-9, nan_ok=True)


@pytest.mark.spark
def test_conformance_simulated(spark, show):
    log, lake, exported = show
    assert exported.rows == log.count()
    df = log.events.select("ts", "room_id").execute()
    local = pd.to_datetime(df["ts"]).dt.tz_localize("UTC").dt.tz_convert("Asia/Shanghai")
    dates = local.dt.strftime("%Y-%m-%d")
    assert exported.partitions == len(set(zip(dates, df["room_id"], strict=True)))
    assert dates.nunique() >= 2  # the shows cross midnight in Shanghai
    ref = metrics.compute(log.events)
    assert len(ref) >= 2
    assert ref["uv"].min() > 500 and ref["buyers"].min() > 10 and ref["refund_orders"].sum() > 0
    by_room = metrics.compute(log.events, by=("room_id",), with_visits=False)
    with open_lake(lake, "duckdb") as d, open_lake(lake, "spark") as s:
        assert s.count() == d.count() == exported.rows
        for lk in (d, s):
            assert_same_metrics(ref, metrics.compute(lk.events), "session_id", f"{lk.backend} lake")
            got = metrics.compute(lk.events, by=("room_id",), with_visits=False)
            assert_same_metrics(by_room, got, "room_id", f"{lk.backend} lake by room")


@pytest.mark.spark
def test_cli_export_lake_and_spark_metrics(spark, tmp_path):
    """The user's path: `liveops export-lake`, then `liveops metrics --backend spark --lake DIR`."""
    import json

    from conftest import fixture_events, write_jsonl
    from typer.testing import CliRunner

    from liveops.cli import app

    runner = CliRunner()
    db, lake = str(tmp_path / "c.duckdb"), str(tmp_path / "lake")
    assert (
        runner.invoke(
            app, ["ingest", str(write_jsonl(tmp_path / "f.jsonl", fixture_events())), "--db", db]
        ).exit_code
        == 0
    )
    r = runner.invoke(app, ["export-lake", "--db", db, "--out", lake])
    assert r.exit_code == 0, r.output
    r = runner.invoke(
        app, ["metrics", "--backend", "spark", "--lake", lake, "--session", "s1", "--format", "json"]
    )
    assert r.exit_code == 0, r.output
    got = json.loads(r.stdout)
    assert got["gmv"] == pytest.approx(150.5) and got["peak_online"] == 4 and got["uv"] == 4
