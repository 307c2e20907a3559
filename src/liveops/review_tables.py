"""Review tables (复盘表), materialised: every table of a session's review computed once and kept in the store.

Aggregating a 10 M-event session from raw events takes tens of seconds on two cores, and the same
numbers are read again and again (the report, the CLI tables, notebooks, the funnel baseline of later
shows). So once a show has ended its review tables are computed in one go — sharing the visit
intervals and the per-source measures between tables — and stored beside the log. They are keyed by
the session's event count at build time: the log is append-only and idempotent by ``event_id``, so a
session's events can only change by growing, and a changed count marks the copy stale.

Display-time choices (time zone, product names) are applied on read, so one stored copy serves all.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, fields

import duckdb
import ibis.expr.types as ir
import orjson
import pandas as pd
import pyarrow as pa

from . import alerts as AL
from . import analysis as A
from . import metrics as M
from .comments import Comments, comment_summary
from .store import Settings

# Bump when a stored table changes shape (a new column, a new metric): older copies are then rebuilt.
VERSION = 2

DDL = """
CREATE TABLE IF NOT EXISTS review_tables (
    session_id VARCHAR NOT NULL,
    name       VARCHAR NOT NULL,
    version    INTEGER NOT NULL,
    events     BIGINT  NOT NULL,
    built_at   TIMESTAMP NOT NULL,
    data       BLOB    NOT NULL
)
"""


@dataclass
class ReviewTables:
    """Every table of one session's review, before display-time choices."""

    session_id: str
    events: int  # the session's event count these were computed from
    metrics: pd.DataFrame  # one row: every catalog metric
    timeline: pd.DataFrame  # per minute, UTC
    sources: pd.DataFrame
    funnel_by_source: pd.DataFrame
    products: pd.DataFrame  # without the product dimension
    segments: pd.DataFrame
    retention: pd.DataFrame
    windows: pd.DataFrame  # explain windows
    questions: pd.DataFrame
    complaints: pd.DataFrame
    alerts: pd.DataFrame  # the alert rules over the show's minutes, and alerts other detectors stored
    scalars: pd.DataFrame  # one row: lost_5min_rate, comment counts

    def metric_values(self) -> dict[str, float | int | None]:
        row = self.metrics.iloc[0]
        return {k: M.py_value(row[k]) for k in M.CATALOG if k in row.index}

    def segments_result(self) -> A.Segments:
        lost = M.py_value(self.scalars["lost_5min_rate"].iloc[0])
        return A.Segments(self.session_id, self.segments, self.retention, lost)

    def comments(self) -> Comments:
        sc = self.scalars.iloc[0]
        return Comments(
            int(sc["comments"]),
            int(sc["n_questions"]),
            int(sc["n_complaints"]),
            self.questions,
            self.complaints,
        )


_FRAMES = [f.name for f in fields(ReviewTables) if f.name not in ("session_id", "events")]


def event_count(t: ir.Table, session_id: str) -> int:
    return int(t.filter(t.session_id == session_id).count().execute())


def build(
    t: ir.Table,
    session_id: str,
    events: int | None = None,
    rules: list[AL.Rule] | None = None,
    stored_alerts: list[AL.Alert] | None = None,
) -> ReviewTables:
    """Compute every review table of one session from the log."""
    s = t.filter(t.session_id == session_id)
    n = event_count(t, session_id) if events is None else events
    if not n:
        raise KeyError(session_id)
    with M.visits(s).cache() as v:  # one set of visit intervals for metrics, sources, timeline, segments
        metrics = M.compute(s, visits=v)
        timeline = A.timeline_utc(t, session_id, visits=v)
        per_source = A.source_measures(s)
        sources = A.sources_from(per_source, A.source_watch(v))
        seg = A.segments(t, session_id, visits=v)
    comments = comment_summary(t, session_id)
    rule_alerts = AL.evaluate(
        AL.minute_frame(timeline, A.product_gmv_per_minute(t, session_id)),
        AL.load_rules(Settings.load().alert_rules) if rules is None else rules,
        session_id,
    )
    return ReviewTables(
        session_id=session_id,
        events=n,
        metrics=metrics,
        timeline=timeline,
        sources=sources,
        funnel_by_source=A.funnel_by_source(per_source),
        products=A.product_measures(t, session_id),
        segments=seg.segments,
        retention=seg.retention,
        windows=A.explain_table(s),
        questions=comments.questions,
        complaints=comments.complaints,
        alerts=AL.alerts_frame(AL.merge(rule_alerts, stored_alerts or [])),
        scalars=pd.DataFrame(
            {
                "lost_5min_rate": [seg.lost_5min_rate],
                "comments": [comments.total],
                "n_questions": [comments.n_questions],
                "n_complaints": [comments.n_complaints],
            }
        ),
    )


# ---------------------------------------------------------------------------------------------
# Storage: one row per (session, table), the table as Arrow IPC bytes (exact types round-trip)


def _to_bytes(df: pd.DataFrame) -> bytes:
    table = pa.Table.from_pandas(df, preserve_index=False)
    objects = [str(c) for c in df.columns if df[c].dtype == object]
    table = table.replace_schema_metadata({**table.schema.metadata, b"object_columns": orjson.dumps(objects)})
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as w:
        w.write_table(table)
    return sink.getvalue().to_pybytes()


def _from_bytes(b: bytes) -> pd.DataFrame:
    table = pa.ipc.open_stream(b).read_all()
    df = table.to_pandas()
    for c in orjson.loads(table.schema.metadata[b"object_columns"]):  # as computed: Python objects, None
        if df[c].dtype != object:
            df[c] = df[c].astype(object).where(df[c].notna(), None)
    return df


def save(con: duckdb.DuckDBPyConnection, rt: ReviewTables) -> None:
    con.execute(DDL)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    rows = [(rt.session_id, name, VERSION, rt.events, now, _to_bytes(getattr(rt, name))) for name in _FRAMES]
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute("DELETE FROM review_tables WHERE session_id = ?", [rt.session_id])
        con.executemany("INSERT INTO review_tables VALUES (?, ?, ?, ?, ?, ?)", rows)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def _has_table(con: duckdb.DuckDBPyConnection) -> bool:
    q = "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'review_tables' AND schema_name = 'main'"
    return bool(con.execute(q).fetchall()[0][0])


def load(con: duckdb.DuckDBPyConnection, session_id: str, events: int) -> ReviewTables | None:
    """The stored tables of a session if they were built from exactly ``events`` events, else None."""
    if not _has_table(con):
        return None
    got = con.execute(
        "SELECT name, data FROM review_tables WHERE session_id = ? AND version = ? AND events = ?",
        [session_id, VERSION, events],
    ).fetchall()
    frames = {name: _from_bytes(data) for name, data in got}
    if set(frames) != set(_FRAMES):
        return None
    return ReviewTables(session_id=session_id, events=events, **frames)


def stale_sessions(con: duckdb.DuckDBPyConnection, ended_only: bool = True) -> list[tuple[str, int]]:
    """Sessions (and their event counts) with no current stored review tables; by default only ended shows."""
    ended = "HAVING bool_or(type = 'session_end')" if ended_only else ""
    stored = (
        "SELECT session_id, max(events) AS n FROM review_tables WHERE version = ? GROUP BY 1"
        if _has_table(con)
        else "SELECT NULL::VARCHAR AS session_id, NULL::BIGINT AS n WHERE false"
    )
    q = f"""
        WITH cur AS (SELECT session_id, count(*) AS n FROM events GROUP BY 1 {ended}),
             st AS ({stored})
        SELECT cur.session_id, cur.n FROM cur LEFT JOIN st USING (session_id)
        WHERE st.n IS DISTINCT FROM cur.n ORDER BY 1
    """
    params = [VERSION] if _has_table(con) else []
    return [(sid, int(n)) for sid, n in con.execute(q, params).fetchall()]


def refresh(
    log,
    session_ids: list[str] | None = None,
    ended_only: bool = True,
    on_session: Callable[[str, float], None] | None = None,
    rules: list[AL.Rule] | None = None,
) -> list[str]:
    """Build and store the review tables of stale sessions (or of the given ones); returns what was built."""
    rules = AL.load_rules(Settings.load().alert_rules) if rules is None else rules
    if session_ids is None:
        todo = stale_sessions(log.con, ended_only)
    else:
        todo = [(sid, event_count(log.events, sid)) for sid in session_ids]
    built = []
    for sid, n in todo:
        t0 = time.perf_counter()
        stored = AL.AlertLog(log.con, create=False).of(sid)
        save(log.con, build(log.events, sid, n, rules, stored))
        built.append(sid)
        if on_session is not None:
            on_session(sid, time.perf_counter() - t0)
    return built
