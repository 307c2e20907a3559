"""Compliance hits kept with the events: scanning ingested comments and transcripts, the evidence
export, the per-session summary the report shows, and the streamer blacklist.

A hit is identified by (event, rule, position), so scanning the same events twice stores nothing twice;
every newly stored hit is also appended to the audit log in the same transaction.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from . import audit
from . import output as O
from .alerts import Alert, AlertLog
from .compliance import SEVERITIES, Lexicon, Scanner, context_note, labelled_rows

if TYPE_CHECKING:
    from .compliance_model import TextModel

TEXT_TYPES = ("comment", "transcript")

HITS_DDL = """
CREATE TABLE IF NOT EXISTS compliance_hits (
    hit_id VARCHAR PRIMARY KEY,
    event_id VARCHAR NOT NULL,
    session_id VARCHAR NOT NULL,
    room_id VARCHAR,
    ts TIMESTAMP,
    kind VARCHAR,
    user_id VARCHAR,
    streamer_id VARCHAR,
    text VARCHAR,
    "start" INTEGER,
    "end" INTEGER,
    matched VARCHAR,
    rule VARCHAR,
    category VARCHAR,
    severity VARCHAR,
    law VARCHAR,
    suggestion VARCHAR,
    lexicon VARCHAR,
    scanned_at TIMESTAMP
);
CREATE TABLE IF NOT EXISTS compliance_verdicts (
    hit_id VARCHAR PRIMARY KEY,
    verdict VARCHAR NOT NULL,
    reviewer VARCHAR NOT NULL,
    note VARCHAR,
    decided_at TIMESTAMP
);
CREATE TABLE IF NOT EXISTS compliance_scans (
    session_id VARCHAR PRIMARY KEY,
    text_events BIGINT,
    lexicon VARCHAR,
    scanned_at TIMESTAMP
);
"""

TOP_COLUMNS = ("ts", "kind", "matched", "text", "rule", "category", "severity", "suggestion")
HIT_COLUMNS = (
    "hit_id",
    "event_id",
    "session_id",
    "room_id",
    "ts",
    "kind",
    "user_id",
    "streamer_id",
    "text",
    "start",
    "end",
    "matched",
    "rule",
    "category",
    "severity",
    "law",
    "suggestion",
    "lexicon",
    "scanned_at",
)

# the text events of some sessions, with the streamer of the show when the line does not name one
_TEXT_EVENTS_SQL = """
SELECT e.event_id, e.session_id, e.room_id, e.ts, e.type, e.user_id, e.text,
       coalesce(e.streamer_id, s.streamer_id) AS streamer_id
FROM events e
LEFT JOIN (SELECT session_id, max(streamer_id) AS streamer_id FROM events
           WHERE type = 'session_start' GROUP BY session_id) s USING (session_id)
WHERE e.type IN ('comment', 'transcript') AND e.text IS NOT NULL AND e.session_id IN ({sessions})
"""


_EMPTY_HITS = (
    "SELECT "
    + ", ".join(
        f'NULL::{"TIMESTAMP" if c in ("ts", "scanned_at") else "INTEGER" if c in ("start", "end") else "VARCHAR"} AS "{c}"'
        for c in HIT_COLUMNS
    )
    + " WHERE false"
)


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(HITS_DDL)
    con.execute(audit.AUDIT_DDL)


def hits_of(scanner: Scanner, rows: pa.Table, model: bool | TextModel = True) -> pa.Table:
    """Scan the ``text`` of event rows (event_id, session_id, room_id, ts, type, user_id, text,
    streamer_id) and return one row per hit, columns as ``compliance_hits``.

    Every line goes through the lexicon and then the n-gram model (comments read as a viewer's), whose
    hits (review only) cover the whole line. ``model``: True for the project's model, or a model to use."""
    texts = ["" if t is None else t for t in rows.column("text").to_pylist()]
    cols, norm, cleared = scanner.scan_columns(texts)
    ls = norm.line_starts[cols.line]
    rules = scanner.rules
    line = cols.line.tolist()
    start = (norm.first[cols.start] - ls).tolist()
    end = (norm.last[cols.end] - ls + 1).tolist()
    rule_ids = [rules[r].id for r in cols.rule]
    cats = [rules[r].category for r in cols.rule]
    sevs = [SEVERITIES[v] for v in cols.severity]
    laws = [rules[r].law for r in cols.rule]
    suggestions = [
        context_note(c) + rules[r].suggestion for r, c in zip(cols.rule, cols.context, strict=True)
    ]
    if model and texts:
        if model is True:
            from .compliance_model import project_model

            model = project_model(tuple(scanner.lexicon.categories))
        considered = scanner.considered(cols, norm, cleared)
        viewer = np.asarray(pc.equal(rows.column("type"), "comment").to_numpy(zero_copy_only=False))
        extra = model.review_hits(
            texts, [considered.get(k, set()) for k in range(len(texts))], scanner.lexicon, viewer.tolist()
        )
        for k, hs in enumerate(extra):
            for h in hs:
                line.append(k)
                start.append(h.start)
                end.append(h.end)
                rule_ids.append(h.rule)
                cats.append(h.category)
                sevs.append(h.severity)
                laws.append(h.law)
                suggestions.append(h.suggestion)
    take = pa.array(line, pa.int64())
    picked = {
        k: rows.column(k).take(take)
        for k in ("event_id", "session_id", "room_id", "ts", "type", "user_id", "streamer_id", "text")
    }
    event_ids = picked["event_id"].to_pylist()
    hit_ids = [
        hashlib.sha256(f"{e}\x1f{r}\x1f{a}".encode()).hexdigest()[:32]
        for e, r, a in zip(event_ids, rule_ids, start, strict=True)
    ]
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    return pa.table(
        {
            "hit_id": pa.array(hit_ids, pa.string()),
            "event_id": picked["event_id"],
            "session_id": picked["session_id"],
            "room_id": picked["room_id"],
            "ts": picked["ts"],
            "kind": picked["type"],
            "user_id": picked["user_id"],
            "streamer_id": picked["streamer_id"],
            "text": picked["text"],
            "start": pa.array(start, pa.int32()),
            "end": pa.array(end, pa.int32()),
            "matched": pa.array(
                [texts[k][a:b] for k, a, b in zip(line, start, end, strict=True)], pa.string()
            ),
            "rule": pa.array(rule_ids, pa.string()),
            "category": pa.array(cats, pa.string()),
            "severity": pa.array(sevs, pa.string()),
            "law": pa.array(laws, pa.string()),
            "suggestion": pa.array(suggestions, pa.string()),
            "lexicon": pa.array([scanner.lexicon.version] * len(rule_ids), pa.string()),
            "scanned_at": pa.array([now] * len(rule_ids), pa.timestamp("us")),
        }
    )


def store_hits(con: duckdb.DuckDBPyConnection, hits: pa.Table) -> pa.Table:
    """Insert hits not stored yet and append each to the audit log (inside ``audit.transaction``)."""
    if hits.num_rows == 0:
        return hits
    ensure_tables(con)
    con.register("_hits_new", hits)
    try:
        cols = ", ".join(f'"{c}"' for c in HIT_COLUMNS)
        with warnings.catch_warnings():  # the "extra copy" warning: only the new hits come back
            warnings.simplefilter("ignore", UserWarning)
            new = con.execute(
                f"INSERT INTO compliance_hits SELECT {cols} FROM _hits_new ON CONFLICT DO NOTHING RETURNING *"
            ).to_arrow_table()
    finally:
        con.unregister("_hits_new")
    if new.num_rows:
        audit.append(con, [_hit_record(r) for r in new.to_pylist()])
    return new


def _hit_record(r: dict) -> audit.Record:
    payload = {k: r[k] for k in HIT_COLUMNS if k not in ("hit_id", "scanned_at")}
    return audit.Record("hit", r["hit_id"], payload)


def scan_rows(
    con: duckdb.DuckDBPyConnection,
    scanner: Scanner,
    rows: pa.Table,
    db_path: str = ":memory:",
    model: bool | TextModel = True,
) -> pa.Table:
    """Scan newly stored event rows (the server's batches) in one transaction; returns the hits stored.

    The session's scan record counts these rows too, so the scan at show end finds nothing left to do;
    if a crash came between storing the events and this, the counts differ and that scan catches up.
    """
    ensure_tables(con)
    is_text = pc.and_(pc.is_in(rows.column("type"), pa.array(TEXT_TYPES)), pc.is_valid(rows.column("text")))
    text_rows = rows.filter(is_text)
    if text_rows.num_rows == 0:
        return pa.table({c: pa.array([], pa.string()) for c in HIT_COLUMNS})
    if "streamer_id" not in text_rows.column_names:
        text_rows = text_rows.append_column("streamer_id", pa.nulls(text_rows.num_rows, pa.string()))
    counts = pc.value_counts(text_rows.column("session_id")).to_pylist()
    with audit.transaction(con, db_path):
        new = store_hits(con, hits_of(scanner, text_rows, model))
        for c in counts:
            con.execute(
                """INSERT INTO compliance_scans VALUES (?, ?, ?, now()::TIMESTAMP)
                   ON CONFLICT DO UPDATE SET text_events = compliance_scans.text_events + excluded.text_events,
                                             scanned_at = excluded.scanned_at
                   WHERE compliance_scans.lexicon = excluded.lexicon""",
                [c["values"], c["counts"], scanner.lexicon.version],
            )
    return new


def hits_table(con: duckdb.DuckDBPyConnection, session_id: str) -> pa.Table:
    """A session's stored hits, each with the latest verdict on it ('' when nobody has judged it)."""
    ensure_tables(con)
    return con.sql(
        """SELECT h.*, coalesce(v.verdict, '') AS verdict
           FROM compliance_hits h LEFT JOIN compliance_verdicts v USING (hit_id)
           WHERE h.session_id = ? ORDER BY h.ts, h.event_id, h.start""",
        params=[session_id],
    ).to_arrow_table()


def compliance_alert(hit: dict, category_zh: str) -> Alert:
    """The alert a ``block`` hit raises: one per session, category and minute."""
    return Alert(
        session_id=hit["session_id"],
        rule=f"compliance.{hit['category']}",
        severity="high",
        minute=pd.Timestamp(hit["ts"]).floor("min"),
        message_zh=f"合规拦截：{'口播' if hit['kind'] == 'transcript' else '弹幕'}“{hit['matched']}”（{category_zh}）— {hit['suggestion']}",
        message_en=f'Compliance block: {hit["kind"]} "{hit["matched"]}" ({hit["category"]}, rule {hit["rule"]})',
        values={"event_id": hit["event_id"], "rule": hit["rule"], "text": hit["text"], "law": hit["law"]},
        source="compliance",
    )


@dataclass
class ScanSummary:
    sessions: int
    text_events: int
    hits: int  # newly stored
    blocks: int
    alerts: int = 0


def refresh(
    con: duckdb.DuckDBPyConnection,
    scanner: Scanner,
    db_path: str = ":memory:",
    sessions: list[str] | None = None,
    force: bool = False,
    model: bool | TextModel = True,
) -> ScanSummary:
    """Scan the text events of every session whose events or lexicon changed since its last scan."""
    ensure_tables(con)
    version = scanner.lexicon.version
    where = "" if sessions is None else "AND session_id IN (SELECT unnest(?))"
    todo = con.execute(
        f"""SELECT n.session_id, n.n FROM (
                SELECT session_id, count(*) FILTER (WHERE type IN ('comment', 'transcript') AND text IS NOT NULL) AS n
                FROM events WHERE true {where} GROUP BY session_id) n
            LEFT JOIN compliance_scans s USING (session_id)
            WHERE ? OR s.session_id IS NULL OR s.text_events <> n.n OR s.lexicon <> ?""",
        ([sessions] if sessions is not None else []) + [force, version],
    ).fetchall()
    summary = ScanSummary(0, 0, 0, 0)
    for sid, n in todo:
        rows = con.sql(_TEXT_EVENTS_SQL.format(sessions="?"), params=[sid]).to_arrow_table()
        with audit.transaction(con, db_path):
            new = store_hits(con, hits_of(scanner, rows, model)) if rows.num_rows else rows.slice(0, 0)
            con.execute(
                "INSERT OR REPLACE INTO compliance_scans VALUES (?, ?, ?, now()::TIMESTAMP)",
                [sid, n, version],
            )
        summary.sessions += 1
        summary.text_events += n
        summary.hits += new.num_rows
        if new.num_rows:
            summary.blocks += sum(1 for s in new.column("severity").to_pylist() if s == "block")
            log = AlertLog(con, db_path=db_path)
            summary.alerts += sum(log.raise_alert(a) for a in block_alerts(new, scanner))
    return summary


# -- a person's verdict on a hit (人工复核) -------------------------------------------------------

VERDICTS = {"confirmed": "确认违规", "dismissed": "误报"}


class VerdictError(ValueError):
    """A verdict that cannot be recorded (unknown or ambiguous hit, bad value); the message says which."""


class UnknownHit(VerdictError):
    """No stored hit has that id."""


_VERDICT_KEYS = ("hit_id", "event_id", "session_id", "rule", "category", "severity", "text")


def _bad_verdict(hit: str, verdict: str, reviewer: str) -> str | None:
    """Why a verdict is malformed, before any hit is looked up (None when it is well formed)."""
    if verdict not in VERDICTS:
        return f"结论应为 verdict must be one of {sorted(VERDICTS)}, got {verdict!r}"
    if not reviewer.strip():
        return "需要复核人 a reviewer's name is required (--reviewer)"
    if not re.fullmatch(r"[0-9a-f]{8,32}", hit):
        return f"命中编号应为 8–32 位十六进制 a hit id is 8–32 hex characters, got {hit!r}"
    return None


def record_verdicts(
    con: duckdb.DuckDBPyConnection, items: Sequence[tuple[str, str, str, str]], db_path: str = ":memory:"
) -> tuple[list[dict[str, Any]], list[tuple[int, VerdictError]]]:
    """Record reviewers' verdicts, each (hit id or an unambiguous prefix of at least eight characters,
    verdict, reviewer, note), in one transaction. Returns the rows and, for each refused item, (its index,
    the error saying why); the others are kept. The latest verdict on a hit stands; every one is appended to
    the audit log, except one that repeats the standing verdict (``unchanged``: a re-imported sheet keeps
    who decided first)."""
    ensure_tables(con)
    refused: list[tuple[int, VerdictError]] = []
    asked = []
    for i, (hit, verdict, reviewer, _) in enumerate(items):
        if problem := _bad_verdict(hit, verdict, reviewer):
            refused.append((i, VerdictError(problem)))
        else:
            asked.append((i, hit, verdict))
    # every id or prefix looked up in one join: the ids starting with p are those in [p, p + "g"), as ids are hex
    q = pa.table(
        {
            "i": pa.array([a[0] for a in asked], pa.int64()),
            "hit": pa.array([a[1] for a in asked], pa.string()),
            "verdict": pa.array([a[2] for a in asked], pa.string()),
        }
    )
    con.register("_asked", q)
    try:
        found = con.execute(
            f"""SELECT q.i, {", ".join("h." + k for k in _VERDICT_KEYS)}, coalesce(v.verdict, '') = q.verdict
                FROM _asked q JOIN compliance_hits h ON h.hit_id >= q.hit AND h.hit_id < q.hit || 'g'
                LEFT JOIN compliance_verdicts v USING (hit_id)"""
        ).fetchall()
    finally:
        con.unregister("_asked")
    matches: dict[int, list[tuple]] = {}
    for r in found:
        matches.setdefault(r[0], []).append(r[1:])
    done = []
    for i, hit, _ in asked:
        rows = matches.get(i, [])
        if not rows:
            refused.append(
                (i, UnknownHit(f"没有这条命中 no stored hit {hit!r} (see `liveops compliance hits`)"))
            )
        elif len(rows) > 1:
            refused.append(
                (i, VerdictError(f"编号不唯一 {hit!r} names more than one hit; give more characters"))
            )
        else:
            _, verdict, reviewer, note = items[i]
            row = dict(zip(_VERDICT_KEYS, rows[0][:-1], strict=True))
            done.append(
                row | {"verdict": verdict, "reviewer": reviewer, "note": note, "unchanged": rows[0][-1]}
            )
    refused.sort(key=lambda r: r[0])
    new = [r for r in done if not r["unchanged"]]
    if new:
        with audit.transaction(con, db_path):
            cols = ("hit_id", "verdict", "reviewer", "note")
            latest = {
                r["hit_id"]: r for r in new
            }.values()  # a hit judged twice in one batch: the last stands
            con.register(
                "_verdicts", pa.table({c: pa.array([r[c] for r in latest], pa.string()) for c in cols})
            )
            try:
                con.execute(
                    "INSERT OR REPLACE INTO compliance_verdicts SELECT *, now()::TIMESTAMP FROM _verdicts"
                )
            finally:
                con.unregister("_verdicts")
            keys = [*_VERDICT_KEYS[1:], "verdict", "reviewer", "note"]
            audit.append(
                con, [audit.Record("hit_verdict", r["hit_id"], {k: r[k] for k in keys}) for r in new]
            )
    return done, refused


def record_verdict(
    con: duckdb.DuckDBPyConnection,
    hit: str,
    verdict: str,
    reviewer: str,
    note: str = "",
    db_path: str = ":memory:",
) -> dict[str, Any]:
    """One verdict (see :func:`record_verdicts`); a refusal raises VerdictError (UnknownHit: no such hit)."""
    done, refused = record_verdicts(con, [(hit, verdict, reviewer, note)], db_path)
    if refused:
        raise refused[0][1]
    return done[0]


def reviewed_lines(con: duckdb.DuckDBPyConnection) -> list[tuple[str, list[str], str]]:
    """The room's reviewed lines as labelled lines (text, categories, note), in the labelling guide's
    format: a line's categories are those whose latest verdict confirmed a violation; a line whose every
    verdict dismissed its hits is compliant. Only what a person judged is labelled."""
    ensure_tables(con)
    rows = con.execute(
        """WITH latest AS (
               SELECT h.text, h.category, v.verdict, v.reviewer,
                      row_number() OVER (PARTITION BY h.text, h.category ORDER BY v.decided_at DESC) AS k
               FROM compliance_verdicts v JOIN compliance_hits h USING (hit_id)
               WHERE h.text IS NOT NULL)
           SELECT text,
                  list_sort(list(category) FILTER (WHERE verdict = 'confirmed')),
                  string_agg(DISTINCT reviewer, ',' ORDER BY reviewer)
           FROM latest WHERE k = 1 GROUP BY text ORDER BY text"""
    ).fetchall()
    return [(t, cats or [], who) for t, cats, who in rows]


def verdict_summary(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Per rule, how its judged hits fared: the precision reviewers found in this room. A rule many
    verdicts dismiss is one for the legal team to narrow (or an allow-word to add)."""
    ensure_tables(con)
    return con.execute(
        """SELECT h.category, h.rule, count(*) AS judged,
                  count(*) FILTER (WHERE v.verdict = 'confirmed') AS confirmed,
                  count(*) FILTER (WHERE v.verdict = 'dismissed') AS dismissed,
                  round(confirmed / judged, 3) AS precision
           FROM compliance_verdicts v JOIN compliance_hits h USING (hit_id)
           GROUP BY ALL ORDER BY dismissed DESC, judged DESC, rule"""
    ).df()


REVIEWED = "复核 reviewed by "  # the note of a line written from verdicts


def labels_tsv(lines: list[tuple[str, list[str], str]], existing: str | None = None) -> tuple[str, int]:
    """The labels file in the labelled-set format (text, categories, kind, note), as `rules eval` and the
    model read it: the reviewed lines, and every line of the ``existing`` file that was not written from
    verdicts — a person's own labelled lines (a miss they added, say) are kept, and where one has the text
    of a reviewed line it stands. Returns the text and the number of own lines kept; an existing file that
    is not a labelled set raises LexiconError (it is not overwritten)."""
    own: list[tuple[str, str, str, str]] = []
    if existing is not None and existing.strip():
        for r in labelled_rows(existing.splitlines(), "不是标注文件 not a labelled set"):
            if not (r.get("note") or "").startswith(REVIEWED):
                cats = r["categories"] or ""
                kind = r.get("kind") or ("plain" if cats.strip() else "trap")
                own.append((r["text"] or "", cats, kind, r.get("note") or ""))
    mine = {t for t, *_ in own}
    body = []
    for t, cats, who in lines:
        t = " ".join(t.split())
        if t not in mine:
            body.append((t, ",".join(cats), "plain" if cats else "trap", REVIEWED + who))
    text = "\n".join(["text\tcategories\tkind\tnote", *("\t".join(r) for r in [*own, *body])]) + "\n"
    return text, len(own)


def block_alerts(hits: pa.Table, scanner: Scanner) -> list[Alert]:
    """The alerts a batch of new hits raises: one per session, category and minute with a block hit."""
    cats = scanner.lexicon.categories
    out: dict[tuple, Alert] = {}
    for h in hits.filter(pc.equal(hits["severity"], "block")).to_pylist():
        a = compliance_alert(h, cats[h["category"]].zh if h["category"] in cats else h["category"])
        out.setdefault(a.key, a)
    return list(out.values())


# -- reading -------------------------------------------------------------------------------------


def hits(
    con: duckdb.DuckDBPyConnection,
    session_id: str | None = None,
    severity: str | None = None,
    category: str | None = None,
) -> pd.DataFrame:
    """Stored hits, each with the latest reviewer's verdict on it (empty when nobody has judged it)."""
    ensure_tables(con)
    where, args = ["true"], []
    for col, val in (("session_id", session_id), ("severity", severity), ("category", category)):
        if val:
            where.append(f"h.{col} = ?")
            args.append(val)
    return con.execute(
        f"""SELECT h.* EXCLUDE (scanned_at), coalesce(v.verdict, '') AS verdict,
                   coalesce(v.reviewer, '') AS reviewer
            FROM compliance_hits h LEFT JOIN compliance_verdicts v USING (hit_id)
            WHERE {" AND ".join(where)} ORDER BY h.ts, h.event_id, h.start""",
        args,
    ).df()


def evidence(con: duckdb.DuckDBPyConnection, session_id: str, context: int = 3) -> pd.DataFrame:
    """Each hit of a session with the text events just before and after it (what was said around it)."""
    ensure_tables(con)
    df = con.execute(
        f"""WITH t AS (
                SELECT event_id, ts, type, user_id, text,
                       row_number() OVER (ORDER BY ts, event_id) AS k
                FROM events WHERE session_id = ? AND type IN ('comment', 'transcript') AND text IS NOT NULL),
            h AS (SELECT h.*, t.k FROM compliance_hits h JOIN t USING (event_id) WHERE h.session_id = ?)
            SELECT h.* EXCLUDE (k),
                   (SELECT list({{'ts': strftime(c.ts, '%Y-%m-%dT%H:%M:%S.%g'), 'type': c.type,
                                  'event_id': c.event_id, 'text': c.text}} ORDER BY c.k)
                    FROM t c WHERE c.k BETWEEN h.k - {int(context)} AND h.k - 1) AS before,
                   (SELECT list({{'ts': strftime(c.ts, '%Y-%m-%dT%H:%M:%S.%g'), 'type': c.type,
                                  'event_id': c.event_id, 'text': c.text}} ORDER BY c.k)
                    FROM t c WHERE c.k BETWEEN h.k + 1 AND h.k + {int(context)}) AS after,
                   a.seq AS audit_seq, a.hash AS audit_hash
            FROM h LEFT JOIN audit_log a ON a.kind = 'hit' AND a.ref = h.hit_id
            ORDER BY h.ts, h.event_id, h.start""",
        [session_id, session_id],
    ).df()
    return df


def export_evidence(con: duckdb.DuckDBPyConnection, session_id: str, out_dir: str | Path) -> dict[str, str]:
    """Write hits.json, hits.csv and a manifest (with each file's SHA-256) for one session."""
    df = evidence(con, session_id)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    df["before"] = df["before"].map(lambda v: [] if v is None else list(v))
    df["after"] = df["after"].map(lambda v: [] if v is None else list(v))
    df = df.drop(columns=["scanned_at"])
    records = O.records(df)
    for r in records:  # timestamps as UTC with a zone, so nobody reads them as local time
        r["ts"] = r["ts"] and r["ts"] + "Z"
    files = {"json": out / "hits.json", "csv": out / "hits.csv"}
    files["json"].write_bytes(
        orjson.dumps(
            {"session_id": session_id, "hits": records},
            option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY,
        )
    )
    with files["csv"].open("w", encoding="utf-8-sig", newline="") as fh:
        w = csv.writer(fh)
        head = [c for c in df.columns if c not in ("before", "after")] + ["context_before", "context_after"]
        w.writerow(head)
        for r in records:
            ctx = [
                " / ".join(f"[{c['ts']} {c['type']}] {c['text']}" for c in r[k]) for k in ("before", "after")
            ]
            w.writerow([r[c] for c in head[:-2]] + ctx)
    manifest = {
        "session_id": session_id,
        "hits": len(records),
        "exported_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "files": {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in files.values()},
    }
    (out / "manifest.json").write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
    return {k: str(v) for k, v in files.items()} | {"manifest": str(out / "manifest.json")}


def has_tables(con: duckdb.DuckDBPyConnection, table: str = "compliance_hits") -> bool:
    sql = "SELECT count(*) FROM duckdb_tables() WHERE table_name = ? AND schema_name = 'main'"
    return bool(con.execute(sql, [table]).fetchall()[0][0])


def hits_relation(con: duckdb.DuckDBPyConnection) -> str:
    """``compliance_hits``, or an empty relation of its shape in a read-only store from before scanning."""
    return "compliance_hits" if has_tables(con) else f"({_EMPTY_HITS})"


@dataclass
class ComplianceReview:
    """The review report's compliance section for one session."""

    lexicon: str
    categories: dict[str, tuple[str, str]]  # key → (zh, en)
    by_category: pd.DataFrame  # category, block, review, warn, transcript, comment
    per_minute: pd.DataFrame  # minute (UTC), category, hits (block and review)
    by_streamer: pd.DataFrame  # streamer_id, block, review, top_category
    top: pd.DataFrame  # the block hits first, then review, in time order, with the reviewer's verdict
    verdicts: pd.DataFrame  # verdict, hits: what reviewers judged of this show's hits
    risk: object | None = None  # liveops.risk.RiskMatrix over the room's history

    @property
    def total(self) -> int:
        return (
            int(self.by_category[["block", "review", "warn"]].to_numpy().sum())
            if len(self.by_category)
            else 0
        )


def review(con: duckdb.DuckDBPyConnection, session_id: str, lex: Lexicon) -> ComplianceReview:
    from .risk import Assumptions, risk_matrix

    parts = summary(con, session_id)
    room = con.execute("SELECT any_value(room_id) FROM events WHERE session_id = ?", [session_id]).fetchall()[
        0
    ][0]
    risk = risk_matrix(con, lex, Assumptions.load(), room) if has_tables(con) else None
    return ComplianceReview(
        lexicon=lex.version,
        categories={k: (c.zh, c.en) for k, c in lex.categories.items()},
        risk=risk,
        **parts,
    )


def summary(con: duckdb.DuckDBPyConnection, session_id: str) -> dict[str, pd.DataFrame]:
    """The report's compliance section: by category and severity, per minute, by streamer."""
    table = hits_relation(con)
    verdicts = (
        "compliance_verdicts"
        if has_tables(con, "compliance_verdicts")  # a read-only store from before verdicts existed
        else "(SELECT NULL::VARCHAR AS hit_id, NULL::VARCHAR AS verdict WHERE false)"
    )
    q = lambda sql: con.execute(  # noqa: E731
        sql.replace("compliance_verdicts", verdicts).replace("compliance_hits", table), [session_id]
    ).df()
    return {
        "by_category": q(
            """SELECT category,
                      count(*) FILTER (WHERE severity = 'block') AS block,
                      count(*) FILTER (WHERE severity = 'review') AS review,
                      count(*) FILTER (WHERE severity = 'warn') AS warn,
                      count(*) FILTER (WHERE kind = 'transcript') AS transcript,
                      count(*) FILTER (WHERE kind = 'comment') AS comment
               FROM compliance_hits WHERE session_id = ? GROUP BY category ORDER BY block DESC, review DESC, category"""
        ),
        "per_minute": q(
            """SELECT date_trunc('minute', ts) AS minute, category, count(*) AS hits
               FROM compliance_hits WHERE session_id = ? AND severity <> 'warn'
               GROUP BY ALL ORDER BY minute, category"""
        ),
        "by_streamer": q(
            """SELECT coalesce(streamer_id, '—') AS streamer_id,
                      count(*) FILTER (WHERE severity = 'block') AS block,
                      count(*) FILTER (WHERE severity = 'review') AS review,
                      mode(category) AS top_category
               FROM compliance_hits WHERE session_id = ? AND kind = 'transcript' GROUP BY ALL ORDER BY block DESC"""
        ),
        "top": q(
            f"""SELECT {", ".join("h." + c for c in TOP_COLUMNS)}, coalesce(v.verdict, '') AS verdict
               FROM compliance_hits h LEFT JOIN compliance_verdicts v USING (hit_id)
               WHERE h.session_id = ? AND h.severity <> 'warn'
               ORDER BY CASE h.severity WHEN 'block' THEN 0 ELSE 1 END, h.ts LIMIT 30"""
        ),
        "verdicts": q(
            """SELECT v.verdict, count(*) AS hits FROM compliance_verdicts v JOIN compliance_hits h USING (hit_id)
               WHERE h.session_id = ? GROUP BY ALL ORDER BY v.verdict"""
        ),
    }


def blacklist(con: duckdb.DuckDBPyConnection, min_shows: int = 2) -> pd.DataFrame:
    """Streamers with ``block`` hits in at least ``min_shows`` shows, with their record."""
    ensure_tables(con)
    return con.execute(
        """SELECT streamer_id,
                  count(DISTINCT session_id) AS shows_with_blocks,
                  count(*) AS block_hits,
                  (SELECT count(DISTINCT session_id) FROM events e
                   WHERE e.type IN ('transcript', 'session_start') AND e.streamer_id = h.streamer_id) AS shows_on_air,
                  list(DISTINCT category ORDER BY category) AS categories,
                  min(ts) AS first_hit, max(ts) AS last_hit,
                  arg_max(matched, ts) AS latest_matched
           FROM compliance_hits h
           WHERE severity = 'block' AND kind = 'transcript' AND streamer_id IS NOT NULL
           GROUP BY streamer_id HAVING count(DISTINCT session_id) >= ?
           ORDER BY shows_with_blocks DESC, block_hits DESC""",
        [min_shows],
    ).df()
