"""Events in: nothing lost, nothing doubled, every rejected row explained."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import ev, fixture_events, write_jsonl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from liveops.ingest import IngestError
from liveops.schema import INPUT_FIELDS
from liveops.store import EventLog


def deadletter(log: EventLog) -> list[dict]:
    p = log.deadletter_path
    return [orjson.loads(x) for x in p.read_bytes().splitlines()] if p.exists() else []


@pytest.fixture
def log(tmp_path: Path):
    lg = EventLog(tmp_path / "t.duckdb")
    yield lg
    lg.close()


GOOD = ev("g1", 1, "enter", user_id="u1", source="feed")

BAD_CASES = [
    ("not json at all", "_line", "JSON"),
    ('{"event_id": "x1", "ts": 1764000000000', "_line", "JSON"),
    ('["a", "list"]', "_line", "JSON"),
    ({k: v for k, v in GOOD.items() if k != "room_id"} | {"event_id": "m1"}, "room_id", "missing"),
    (GOOD | {"event_id": "m2", "type": "teleport"}, "type", "unknown type"),
    (GOOD | {"event_id": "m3", "source": "tv"}, "source", "unknown source"),
    (
        {k: v for k, v in GOOD.items() if k != "source"} | {"event_id": "m4"},
        "source",
        "required for type enter",
    ),
    (ev("m5", 1, "pay", user_id="u", order_id="o", amount=-5), "amount", "≥ 0"),
    (ev("m6", 1, "like", user_id="u", count=0), "count", "≥ 1"),
    (ev("m7", 1, "like", user_id="u", count=2.5), "count", "integer"),
    (ev("m8", 1, "pay", user_id="u", order_id="o", amount="12"), "amount", "number"),
    (ev("m9", 1, "pay", user_id="u", order_id="o", amount=1.234), "amount", "2 decimals"),
    (GOOD | {"event_id": "m10", "ts": "yesterday evening+08:00"}, "ts", "unparseable"),
    (GOOD | {"event_id": "m11", "ts": "2026-11-24T20:00:00"}, "ts", "offset"),
    (GOOD | {"event_id": "m12", "ts": 1764000000}, "ts", "epoch seconds"),
    (GOOD | {"event_id": "m13", "ts": True}, "ts", "RFC 3339"),
    (ev("m14", 1, "comment", user_id="u", text="长" * 2001), "text", "longer than 2000"),
    (GOOD | {"event_id": "m15", "user_id": 12345}, "user_id", "string"),
    (GOOD | {"event_id": "x" * 129}, "event_id", "1–128"),
    (GOOD | {"event_id": "m16", "attrs": "a string"}, "attrs", "object"),
    (
        ev("m17", 1, "ad_spend", campaign_id="c", amount=1, attrs={"clicks": -3}),
        "attrs.clicks",
        "non-negative",
    ),
    (ev("m18", 1, "order", user_id="u", product_id="p", amount=9), "order_id", "required for type order"),
]


@pytest.mark.parametrize(("row", "field", "reason"), BAD_CASES, ids=[c[1] + ":" + c[2] for c in BAD_CASES])
def test_bad_row_rejected_with_field_and_reason_and_good_rows_kept(log, tmp_path, row, field, reason):
    f = write_jsonl(tmp_path / "in.jsonl", [GOOD, row, ev("g2", 2, "leave", user_id="u1")])
    res = log.ingest(str(f))
    assert (res.read, res.stored, res.rejected) == (3, 2, 1)
    (dl,) = deadletter(log)
    assert dl["line"] == 2
    assert dl["file"] == str(f)
    assert dl["field"] == field
    assert reason in dl["reason"]
    assert dl["raw"] is not None  # the original text is kept: nothing is lost


def test_non_utf8_line(log, tmp_path):
    f = tmp_path / "bin.jsonl"
    f.write_bytes(json.dumps(GOOD).encode() + b"\n" + b'{"event_id": "\xff\xfe"}\n')
    res = log.ingest(str(f))
    assert (res.stored, res.rejected) == (1, 1)
    assert "UTF-8" in deadletter(log)[0]["reason"]


def test_same_file_twice_is_stored_once(log, tmp_path):
    f = write_jsonl(tmp_path / "a.jsonl", fixture_events())
    first = log.ingest(str(f))
    second = log.ingest(str(f))
    assert first.stored == len(fixture_events()) and first.duplicate == 0
    assert second.stored == 0 and second.duplicate == len(fixture_events())
    assert log.count() == len(fixture_events())


def test_overlapping_files_and_duplicates_inside_one_file(log, tmp_path):
    rows = fixture_events()
    a = write_jsonl(tmp_path / "a.jsonl", rows[:30])
    b = write_jsonl(tmp_path / "b.jsonl", rows[20:] + rows[20:25])
    log.ingest(str(a))
    res = log.ingest(str(b))
    assert res.stored == len(rows) - 30
    assert res.duplicate == 10 + 5
    assert log.count() == len(rows)


def test_empty_file_and_all_bad_file(log, tmp_path):
    empty = tmp_path / "e.jsonl"
    empty.write_text("")
    res = log.ingest(str(empty))
    assert (res.read, res.stored, res.rejected) == (0, 0, 0)
    bad = write_jsonl(tmp_path / "bad.jsonl", ["nope", "{}", '{"type": "enter"}'])
    res = log.ingest(str(bad))
    assert (res.read, res.stored, res.rejected) == (3, 0, 3)
    assert [d["line"] for d in deadletter(log)] == [1, 2, 3]


def test_unknown_format_and_missing_file(log, tmp_path):
    with pytest.raises(IngestError, match="unknown file format"):
        log.ingest(str(tmp_path / "x.xml"))
    with pytest.raises(IngestError, match="no such file"):
        log.ingest(str(tmp_path / "nope.jsonl"))


def test_csv_with_bad_rows(log, tmp_path):
    f = tmp_path / "in.csv"
    lines = [
        "event_id,ts,room_id,session_id,user_id,type,source,amount,order_id,attrs",
        "c1,2026-11-24T20:00:00+08:00,r,s,u1,enter,feed,,,",
        'c2,2026-11-24T20:00:01+08:00,r,s,u1,pay,,19.90,o1,"{""k"": 1}"',
        "c3,2026-11-24T20:00:02+08:00,r,s,u1,pay,,abc,o2,",
        "c4,only,three",
        "c5,1764000002000,r,s,u1,leave,,,,",
    ]
    f.write_bytes(("\n".join(lines) + "\n").encode() + b"c6,2026-11-24T20:00:03+08:00,r,s,\xff,leave,,,,\n")
    res = log.ingest(str(f))
    assert (res.read, res.stored, res.rejected) == (6, 3, 3)
    reasons = " | ".join(d["reason"] for d in deadletter(log))
    assert "not a number" in reasons and "wrong number of columns" in reasons and "UTF-8" in reasons
    assert any("\\xFF" in d["raw"] for d in deadletter(log))
    got = log.con.execute("SELECT event_id, amount, attrs FROM events ORDER BY event_id").fetchall()
    assert str(got[1][1]) == "19.90" and json.loads(got[1][2]) == {"k": 1}


def test_parquet_typed_columns(log, tmp_path):
    t = pa.table(
        {
            "event_id": ["p1", "p2", "p3"],
            "ts": pa.array([1764000000000, 1764000001000, 1764000002000], pa.int64()),
            "room_id": ["r"] * 3,
            "session_id": ["s"] * 3,
            "user_id": ["u1", "u1", None],
            "type": ["enter", "pay", "pay"],
            "source": ["feed", None, None],
            "order_id": [None, "o1", "o2"],
            "amount": pa.array([None, 19.9, -1.0], pa.float64()),
        }
    )
    pq.write_table(t, tmp_path / "in.parquet")
    res = log.ingest(str(tmp_path / "in.parquet"))
    assert (res.read, res.stored, res.rejected) == (3, 2, 1)
    (dl,) = deadletter(log)
    assert dl["row"] == 3 and dl["field"] in ("user_id", "amount")


def test_stored_types_are_exact(log, tmp_path):
    rows = [ev(f"m{i}", i, "pay", user_id="u", order_id=f"o{i}", amount=0.1) for i in range(10)]
    log.ingest(str(write_jsonl(tmp_path / "m.jsonl", rows)))
    (total,) = log.con.execute("SELECT sum(amount)::VARCHAR FROM events").fetchall()[0]
    assert total == "1.00"  # 10 × 0.1 as binary floats would not be exactly 1
    (ts,) = log.con.execute("SELECT ts::VARCHAR FROM events WHERE event_id = 'm1'").fetchall()[0]
    assert ts == "2026-11-24 12:00:01"  # stored in UTC
    fine = ev("us", 0, "session_start") | {"ts": "2026-11-24T20:00:01.250999+08:00"}
    log.ingest(str(write_jsonl(tmp_path / "us.jsonl", [fine])))
    (ts,) = log.con.execute("SELECT ts::VARCHAR FROM events WHERE event_id = 'us'").fetchall()[0]
    assert ts == "2026-11-24 12:00:01.25"  # milliseconds, as the contract says


# --- property tests for the readers ------------------------------------------------------------

json_values = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**60), 2**60), st.floats(allow_nan=False), st.text(max_size=30)
)
event_like = st.fixed_dictionaries(
    {},
    optional={f: json_values for f in INPUT_FIELDS}
    | {
        "type": st.sampled_from(["enter", "leave", "pay", "like", "bogus"]),
        "event_id": st.text(min_size=0, max_size=10),
        "ts": st.one_of(st.integers(0, 2**45), st.just("2026-11-24T20:00:00+08:00"), st.text(max_size=12)),
    },
)
lines = st.lists(
    st.one_of(event_like.map(json.dumps), st.text(max_size=40), st.binary(max_size=30)), max_size=25
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines)
def test_every_line_is_stored_duplicate_or_dead_lettered(tmp_path_factory, raw_lines):
    """Whatever arrives, read = stored + duplicate + rejected, and each rejection is written down."""
    d = tmp_path_factory.mktemp("prop")
    f = d / "in.jsonl"
    body = b"\n".join(x.encode() if isinstance(x, str) else x.replace(b"\n", b" ") for x in raw_lines)
    f.write_bytes(body)
    with EventLog(d / "p.duckdb") as lg:
        res = lg.ingest(str(f))
        nonblank = sum(1 for x in body.split(b"\n") if x.strip())  # whitespace-only lines are blank
        assert res.read == nonblank
        assert res.read == res.stored + res.duplicate + res.rejected
        assert len(deadletter(lg)) == res.rejected
        assert lg.count() == res.stored


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(st.integers(1, 10**7), st.sampled_from(["enter", "leave"])), min_size=1, max_size=30)
)
def test_valid_rows_all_stored_once(tmp_path_factory, spec):
    d = tmp_path_factory.mktemp("valid")
    rows = [ev(f"id{n}", n / 1000, t, user_id="u", source="feed") for n, t in spec]
    f = write_jsonl(d / "v.jsonl", rows)
    with EventLog(d / "v.duckdb") as lg:
        res = lg.ingest(str(f))
        assert res.rejected == 0
        assert lg.count() == len({n for n, _ in spec}) == res.stored


def test_gzipped_jsonl_and_csv(log, tmp_path):
    import gzip

    rows = fixture_events()[:10]
    with gzip.open(tmp_path / "a.jsonl.gz", "wt", encoding="utf-8") as fh:
        fh.write("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\nnot json\n")
    res = log.ingest(str(tmp_path / "a.jsonl.gz"))
    assert (res.stored, res.rejected) == (10, 1)
    assert deadletter(log)[0]["line"] == 11
    with gzip.open(tmp_path / "b.csv.gz", "wt", encoding="utf-8") as fh:
        fh.write("event_id,ts,room_id,session_id,type\nz1,1764000000000,r,s,session_start\n")
    assert log.ingest(str(tmp_path / "b.csv.gz")).stored == 1
    with pytest.raises(IngestError, match="unknown file format"):
        log.ingest(str(tmp_path / "c.parquet.gz"))


def test_clean_and_line_by_line_paths_store_the_same_rows(tmp_path):
    """A clean JSONL file takes DuckDB's whole-file reader; one bad line sends it line by line."""
    rows = fixture_events()
    clean = write_jsonl(tmp_path / "clean.jsonl", rows)
    dirty = write_jsonl(tmp_path / "dirty.jsonl", rows[:20] + ["{not json"] + rows[20:] + [rows[0]])
    stored = []
    for f in (clean, dirty):
        with EventLog(tmp_path / f"{f.stem}.duckdb") as lg:
            res = lg.ingest(str(f))
            stored.append(lg.con.execute("SELECT * FROM events ORDER BY event_id").fetchall())
            if f is dirty:
                assert (res.stored, res.duplicate, res.rejected) == (len(rows), 1, 1)
                assert deadletter(lg)[0]["line"] == 21
    assert stored[0] == stored[1]
