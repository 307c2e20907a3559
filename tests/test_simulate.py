"""The simulator: determinism, the contract, files, ground truth and calibration.

Calibration numbers are computed with the metric catalog over the ingested show and checked against
shared/docs/simulator-targets.md.
"""

from __future__ import annotations

import json
import re

import duckdb
import polars as pl
import pyarrow as pa
import pytest

from liveops import analysis as A
from liveops import metrics as M
from liveops import phrasebank as pb
from liveops.eventio import write_events
from liveops.schema import AMOUNT_TYPE, EVENT_TYPES, INPUT_FIELDS, MAX_TEXT, SOURCES
from liveops.simulate import BOT_KINDS, SimConfig, simulate, write_simulation
from liveops.store import EventLog

SMALL = SimConfig(
    viewers=2_000, minutes=30, seed=7, cheating=True, violation_rate=0.2, comment_violation_rate=0.02
)


@pytest.fixture(scope="module")
def default_show():
    return simulate(SimConfig())


@pytest.fixture(scope="module")
def small():
    return simulate(SMALL)


@pytest.fixture(scope="module")
def con(default_show):
    c = duckdb.connect()
    c.register("ev", default_show.events)
    yield c
    c.close()


def one(con, sql: str):
    return con.execute(sql).fetchone()[0]


# --- determinism, schema, contract ----------------------------------------------------------------


def test_same_seed_same_output(small):
    again = simulate(SMALL)
    assert again.events.equals(small.events)
    assert again.truth == small.truth
    assert again.products.equals(small.products)


def test_other_seed_other_output(small):
    other = simulate(SimConfig(viewers=2_000, minutes=30, seed=8))
    assert not other.events.equals(small.events)


def test_columns_and_types(small):
    t = small.events
    assert tuple(t.column_names) == INPUT_FIELDS
    types = {f.name: f.type for f in t.schema}
    assert types["ts"] == pa.int64()
    assert types["amount"] == AMOUNT_TYPE
    assert types["count"] == pa.int64()
    for f in INPUT_FIELDS:
        if f not in ("ts", "amount", "count"):
            assert types[f] == pa.string(), f
    p = small.products
    assert p.column_names == ["product_id", "name", "price", "category"]
    assert p.schema.field("price").type == AMOUNT_TYPE
    assert p.num_rows == SMALL.products


def test_required_fields_per_type(small):
    c = duckdb.connect()
    c.register("ev", small.events)
    seen = {r[0] for r in c.execute("SELECT DISTINCT type FROM ev").fetchall()}
    assert seen == set(EVENT_TYPES), set(EVENT_TYPES) - seen
    for name, et in EVENT_TYPES.items():
        for col in ("event_id", "ts", "room_id", "session_id", "type", *et.required):
            bad = one(c, f"SELECT count(*) FROM ev WHERE type = '{name}' AND {col} IS NULL")
            assert bad == 0, (name, col)
    assert (
        one(
            c,
            "SELECT count(*) FROM ev WHERE source IS NOT NULL AND source NOT IN "
            f"({','.join(repr(s) for s in SOURCES)})",
        )
        == 0
    )
    assert one(c, "SELECT count(*) FROM ev WHERE amount < 0 OR count < 1") == 0
    assert one(c, "SELECT max(length(text)) FROM ev") <= MAX_TEXT
    assert (
        one(
            c,
            "SELECT count(*) FROM ev WHERE type IN ('room_impression','online_snapshot','ad_spend',"
            "'transcript','explain_start','explain_end','session_start','session_end') AND user_id IS NOT NULL",
        )
        == 0
    )
    assert one(c, "SELECT count(*) FROM ev WHERE type='enter' AND source='paid' AND campaign_id IS NULL") == 0
    # order amount = price × quantity
    prices = dict(
        zip(
            small.products.column("product_id").to_pylist(),
            small.products.column("price").to_pylist(),
            strict=True,
        )
    )
    rows = c.execute("SELECT product_id, amount, count FROM ev WHERE type='order'").fetchall()
    assert rows and all(a == prices[p] * n for p, a, n in rows)


def test_attrs_are_json_objects(small):
    attrs = [a for a in small.events.column("attrs").to_pylist() if a is not None]
    assert attrs
    for a in set(attrs):
        assert isinstance(json.loads(a), dict)
    c = duckdb.connect()
    c.register("ev", small.events)
    assert (
        one(c, "SELECT count(*) FROM ev WHERE type='ad_spend' AND json_extract(attrs,'$.clicks') IS NULL")
        == 0
    )
    assert (
        one(c, "SELECT count(*) FROM ev WHERE type='gift' AND json_extract(attrs,'$.gift_name') IS NULL") == 0
    )
    assert (
        one(
            c,
            "SELECT count(*) FROM ev WHERE type IN ('session_start','explain_start','transcript') "
            "AND json_extract(attrs,'$.streamer_id') IS NULL",
        )
        == 0
    )


def test_ids_unique_sorted_and_bounded(small):
    t = small.events
    ids = t.column("event_id").to_pylist()
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"room\d+-s\d+-\d{9}", i) for i in ids[:1000])
    ts = t.column("ts").to_numpy()
    assert (ts[1:] >= ts[:-1]).all()
    c = duckdb.connect()
    c.register("ev", t)
    # session_start opens each show; only post-show refunds come after session_end
    assert (
        one(
            c,
            """SELECT count(*) FROM ev e JOIN (SELECT session_id, min(ts) FILTER (type='session_start') s0,
        max(ts) FILTER (type='session_end') s1 FROM ev GROUP BY 1) b USING (session_id)
        WHERE (e.ts <= b.s0 AND e.type <> 'session_start') OR (e.ts >= b.s1 AND e.type NOT IN ('session_end','refund'))""",
        )
        == 0
    )
    # pay and refund refer to orders that exist, with the same user and at most the order amount
    assert (
        one(
            c,
            """SELECT count(*) FROM ev p LEFT JOIN ev o ON o.type='order' AND o.order_id=p.order_id
        WHERE p.type IN ('pay','refund') AND (o.order_id IS NULL OR o.user_id <> p.user_id OR p.amount > o.amount
        OR p.ts <= o.ts)""",
        )
        == 0
    )


def test_multi_room_multi_session_ids():
    r = simulate(SimConfig(viewers=600, minutes=20, rooms=2, sessions=2))
    t = r.events
    ids = t.column("event_id").to_pylist()
    assert len(set(ids)) == len(ids)
    sess = set(t.column("session_id").to_pylist())
    assert sess == {"room01-s001", "room01-s002", "room02-s001", "room02-s002"}
    c = duckdb.connect()
    c.register("ev", t)
    # per-session running numbers start at 0 and are dense
    rows = c.execute(
        "SELECT session_id, min(event_id), max(event_id), count(*) FROM ev GROUP BY 1"
    ).fetchall()
    for sid, lo, hi, n in rows:
        assert lo == f"{sid}-000000000" and hi == f"{sid}-{n - 1:09d}"
    assert len(r.truth["sessions"]) == 4


def test_snapshots_optional():
    r = simulate(SimConfig(viewers=500, minutes=15, snapshots=False))
    assert "online_snapshot" not in set(r.events.column("type").to_pylist())
    r = simulate(SimConfig(viewers=500, minutes=15))
    n = r.events.column("type").to_pylist().count("online_snapshot")
    assert n == 14


# --- files ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("ext", ["jsonl", "ndjson", "csv", "parquet"])
def test_write_and_read_back(small, tmp_path, ext):
    paths = write_simulation(small, tmp_path / f"show.{ext}")
    n = small.events.num_rows
    c = duckdb.connect()
    path = str(paths["events"])
    if ext in ("jsonl", "ndjson"):
        assert one(c, f"SELECT count(*) FROM read_json_auto('{path}', format='newline_delimited')") == n
        assert pl.read_ndjson(path).height == n
        with open(path, encoding="utf-8") as fh:
            lines = fh.read().splitlines()
        first = json.loads(lines[0])
        assert first["type"] == "session_start" and isinstance(first["attrs"], dict)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+08:00", first["ts"])
        assert "user_id" not in first  # null fields are omitted
        amounts = [json.loads(line)["amount"] for line in lines if '"type":"pay"' in line]
        assert amounts and all(isinstance(a, float | int) for a in amounts)
        raw = [line for line in lines if '"type":"pay"' in line][0]
        assert re.search(r'"amount":\d+\.\d{2}[,}]', raw)
    elif ext == "csv":
        assert one(c, f"SELECT count(*) FROM read_csv_auto('{path}')") == n
        df = pl.read_csv(path, infer_schema=False)
        assert df.height == n and tuple(df.columns) == INPUT_FIELDS
        assert df["ts"].str.contains(r"\+08:00$").all()
        a = df.filter(pl.col("attrs").is_not_null())["attrs"][0]
        assert isinstance(json.loads(a), dict)
    else:
        assert one(c, f"SELECT count(*) FROM '{path}'") == n
        back = pl.read_parquet(path)
        assert back.height == n
        assert back.schema["ts"] == pl.Int64 and back.schema["amount"] == pl.Decimal(18, 2)
        assert back["event_id"].to_list() == small.events.column("event_id").to_pylist()
    # round-trips of the timestamp (JSONL / CSV store it as +08:00 text)
    if ext != "parquet":
        fn = "read_json_auto" if ext != "csv" else "read_csv_auto"
        got = c.execute(f"SELECT epoch_ms(ts::TIMESTAMPTZ) FROM {fn}('{path}') LIMIT 5").fetchall()
        assert [g[0] for g in got] == small.events.column("ts").to_pylist()[:5]
    truth = json.loads(paths["truth"].read_text(encoding="utf-8"))
    assert truth == json.loads(json.dumps(small.truth))
    prods = pl.read_csv(paths["products"])
    assert prods.height == small.products.num_rows


def test_write_events_escapes_text(tmp_path):
    t = simulate(SimConfig(viewers=50, minutes=2)).events.slice(0, 3)
    t = t.set_column(INPUT_FIELDS.index("text"), "text", pa.array(['引号"与\\反斜杠\n换行', None, "tab\t"]))
    write_events(t, tmp_path / "x.jsonl")
    rows = [json.loads(line) for line in (tmp_path / "x.jsonl").read_text(encoding="utf-8").splitlines()]
    assert rows[0]["text"] == '引号"与\\反斜杠\n换行' and "text" not in rows[1] and rows[2]["text"] == "tab\t"
    with pytest.raises(ValueError):
        write_events(t, tmp_path / "x.txt")


# --- ground truth --------------------------------------------------------------------------------


def test_truth_bots_and_fake_orders(small):
    c = duckdb.connect()
    c.register("ev", small.events)
    bots = small.truth["bots"]
    assert set(bots["accounts"].values()) == set(BOT_KINDS)
    humans = small.truth["sessions"][0]["viewers"]
    assert 0.01 <= len(bots["accounts"]) / (humans + len(bots["accounts"])) <= 0.05
    users = {r[0] for r in c.execute("SELECT DISTINCT user_id FROM ev WHERE user_id IS NOT NULL").fetchall()}
    assert set(bots["accounts"]) <= users
    fake = set(bots["fake_order_ids"])
    assert fake
    got = c.execute(
        "SELECT order_id, list(type ORDER BY ts) FROM ev WHERE order_id IS NOT NULL GROUP BY 1"
    ).fetchall()
    flows = dict(got)
    assert all(flows[o] == ["order", "pay", "refund"] for o in fake)
    # like farms: huge like counts
    farms = [u for u, k in bots["accounts"].items() if k == "like_farm"]
    mx = one(c, f"SELECT max(count) FROM ev WHERE type='like' AND user_id IN ({','.join(map(repr, farms))})")
    assert mx >= 100


def test_truth_violations(small):
    c = duckdb.connect()
    c.register("ev", small.events)
    viol = small.truth["violations"]
    assert viol and {v["kind"] for v in viol} <= {"comment", "transcript"}
    texts = dict(c.execute("SELECT event_id, text FROM ev WHERE type IN ('comment','transcript')").fetchall())
    for v in viol:
        assert v["category"] in pb.VIOLATION_CATEGORIES
        assert v["text"] in texts[v["event_id"]]
    clean = simulate(SimConfig(viewers=500, minutes=20, violations=False))
    assert clean.truth["violations"] == []


def test_truth_experiments_and_campaigns(small):
    c = duckdb.connect()
    c.register("ev", small.events)
    # a stable user arm on viewer events, the slot arm on room-level events
    assert (
        one(
            c,
            "SELECT max(n) FROM (SELECT count(DISTINCT variant) n FROM ev WHERE user_id IS NOT NULL GROUP BY user_id)",
        )
        == 1
    )
    assert {
        r[0] for r in c.execute("SELECT DISTINCT variant FROM ev WHERE user_id IS NOT NULL").fetchall()
    } == {"A", "B"}
    slots = small.truth["sessions"][0]["switchback_slots"]
    for s in slots:
        arms = c.execute(
            f"SELECT DISTINCT variant FROM ev WHERE user_id IS NULL AND ts >= {s['start_ms']} AND ts < {s['end_ms']}"
            " AND type <> 'session_end'"
        ).fetchall()
        assert arms == [(s["arm"],)]
    ex = small.truth["experiments"]
    assert ex["ab"]["true_relative_lift"] == SMALL.ab_lift
    assert ex["switchback"]["true_relative_effect"] == SMALL.switchback_effect
    off = simulate(SimConfig(viewers=300, minutes=10, experiments=False))
    assert set(off.events.column("variant").to_pylist()) == {None}
    camps = small.truth["campaigns"]
    ids = {r[0] for r in c.execute("SELECT DISTINCT campaign_id FROM ev WHERE type='ad_spend'").fetchall()}
    assert {x["campaign_id"] for x in camps} == ids
    for x in camps:
        assert 0 < x["true_ctr"] < 0.1 and 0 <= x["true_cvr"] < 0.2


def test_truth_is_json(default_show):
    json.dumps(default_show.truth)
    assert {"config", "sessions", "experiments", "campaigns", "bots", "violations", "products"} <= set(
        default_show.truth
    )


# --- calibration (shared/docs/simulator-targets.md) --------------------------------------------------


@pytest.fixture(scope="module")
def cat(default_show):
    """The default show through the real door (ingest) and the real catalog: what every screen shows."""
    log = EventLog(":memory:")
    res = log.ingest_arrow(default_show.events)
    assert res.rejected == 0
    sid = default_show.events.column("session_id")[0].as_py()
    values = M.session_metrics(log.events, sid)
    values["sources"] = A.sources(log.events, sid).set_index("source")
    values["products"] = A.products(log.events, sid)
    yield values
    log.close()


def source_share(source):
    def f(c):
        return c["sources"].loc[source, "uv_share"]

    f.__name__ = f"share_{source}"
    return f


def explain_lift(kind):
    """Per-minute rate of a product's clicks/orders while it is explained ÷ while it is not (pooled)."""

    def f(c):
        p = c["products"]
        p = p[p["explain_minutes"] > 0]
        total = c["duration_seconds"] / 60
        inside, everything = (
            p[f"{kind}_in_explain"].sum(),
            p[{"clicks": "product_click_pv", "orders": "orders"}[kind]].sum(),
        )
        out_minutes = (total - p["explain_minutes"]).sum()
        return (inside / p["explain_minutes"].sum()) / ((everything - inside) / out_minutes)

    f.__name__ = f"explain_lift_{kind}"
    return f


def key(k):
    def f(c):
        return c[k]

    f.__name__ = k
    return f


def short_visit_share(c):
    return 1 - c["watch_1min_rate"]


TARGETS = [
    (key("conversion_rate"), 0.025, 0.04),
    (key("avg_watch_seconds"), 40, 180),
    (short_visit_share, 0.50, 0.75),
    (key("lost_5min_rate"), 0.35, 0.60),
    (key("exposure_entry_rate"), 0.03, 0.15),
    (key("product_exposure_rate"), 0.40, 0.70),
    (key("product_ctr"), 0.10, 0.20),
    (key("click_pay_rate"), 0.10, 0.25),
    (key("interaction_rate"), 0.05, 0.15),
    (key("comment_rate"), 0.01, 0.05),
    (key("like_rate"), 0.05, 0.15),
    (key("follow_rate"), 0.005, 0.05),
    (key("fanclub_rate"), 0.003, 0.02),
    (key("aov"), 80, 200),
    (key("refund_rate"), 0.05, 0.20),
    (source_share("feed"), 0.45, 0.60),
    (source_share("short_video"), 0.08, 0.15),
    (source_share("follow"), 0.05, 0.12),
    (source_share("paid"), 0.10, 0.25),
    (source_share("search"), 0.02, 0.05),
    (source_share("share"), 0.01, 0.04),
    (key("ad_ctr"), 0.01, 0.04),
    (key("cpm"), 20, 60),
    (key("roi"), 1.5, 5),
    (key("peak_avg_ratio"), 1.3, 3),
    (explain_lift("clicks"), 2, 5),
    (explain_lift("orders"), 2, 5),
]


@pytest.mark.parametrize("metric,lo,hi", TARGETS, ids=[m.__name__ for m, _, _ in TARGETS])
def test_calibration(cat, metric, lo, hi):
    got = metric(cat)
    assert lo <= got <= hi, f"{metric.__name__} = {got:.4f} not in [{lo}, {hi}]"


def test_default_show_size(cat):
    assert 27_000 <= cat["uv"] <= 33_000


def test_online_curve_ramps_and_peaks(con, default_show):
    s0 = default_show.truth["sessions"][0]["start_ms"]
    snaps = dict(
        con.execute(f"SELECT (ts - {s0}) // 60000, count FROM ev WHERE type='online_snapshot'").fetchall()
    )
    med = sorted(snaps.values())[len(snaps) // 2]
    assert snaps[1] < 0.5 * med
    assert min(m for m, c in snaps.items() if c >= 0.8 * med) <= 10
    for f in default_show.truth["sessions"][0]["flash_deals"]:
        m = (f["start_ms"] - s0) // 60000
        before = snaps[m - 4]
        assert max(snaps[k] for k in range(m, m + 8)) >= 1.2 * before, f


def test_comment_intent_mix(con):
    texts = [r[0] for r in con.execute("SELECT text FROM ev WHERE type='comment'").fetchall()]
    intents = [pb.intent_of(t) for t in texts]
    n = len(intents)
    share = {k: intents.count(k) / n for k in pb.COMMENT_INTENTS}
    assert 0.25 <= share["question"] <= 0.35
    assert 0.35 <= share["reaction"] <= 0.45
    assert 0.07 <= share["complaint"] <= 0.13
    assert 0.15 <= share["chat"] <= 0.25
    assert intents.count("spam") == 0  # spam only from bots, and cheating is off by default


def test_repeated_enters_rare_and_open_visits_present(cat):
    assert 0 < cat["views"] - cat["visits"] <= 0.01 * cat["views"]
    assert 0 < cat["visits"] - cat["leaves"] <= 0.05 * cat["visits"]


def test_many_shows_returning_viewers_and_buyer_concentration():
    r = simulate(SimConfig(viewers=8_000, sessions=6, seed=3))
    c = duckdb.connect()
    c.register("ev", r.events)
    rates = c.execute("""
        WITH v AS (SELECT DISTINCT session_id, user_id FROM ev WHERE type = 'enter'),
        k AS (SELECT session_id, row_number() OVER (ORDER BY session_id) k FROM (SELECT DISTINCT session_id FROM v)),
        vk AS (SELECT v.user_id, k.k FROM v JOIN k USING (session_id))
        SELECT a.k, count(b.user_id) / count(*) FROM vk a LEFT JOIN vk b ON b.k = a.k + 1 AND b.user_id = a.user_id
        WHERE a.k < 6 GROUP BY 1 ORDER BY 1""").fetchall()
    for k, rate in rates:
        assert 0.08 <= rate <= 0.16, (k, rate)
    top = one(
        c,
        """
        WITH b AS (SELECT user_id, sum(amount) g FROM ev WHERE type = 'pay' GROUP BY 1),
        r AS (SELECT g, row_number() OVER (ORDER BY g DESC) rk, count(*) OVER () n FROM b)
        SELECT sum(g) FILTER (rk <= 0.18 * n) / sum(g) FROM r""",
    )
    assert 0.50 <= top <= 0.65
