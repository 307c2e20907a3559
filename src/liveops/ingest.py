"""The one door into the log: read JSONL / CSV / Parquet, validate in columns, store good rows once.

Every format is first turned into a *staged* relation with the same columns (typed values plus a
per-field format error), then one SQL pass applies the contract's rules. Rejected rows keep their
raw text and go to the dead-letter file; good rows of the same file are stored.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import numpy as np
import orjson
import pyarrow as pa
import pyarrow.csv as pacsv

from .schema import (
    ALWAYS_REQUIRED,
    EVENT_TYPES,
    FORMATS,
    INPUT_FIELDS,
    MAX_EVENT_ID,
    MAX_TEXT,
    SOURCES,
    STRING_FIELDS,
)

JSONL_CHUNK_BYTES = 256 * 1024 * 1024

TS_MIN = "2000-01-01"
TS_MAX = "2100-01-01"


class IngestError(Exception):
    """A file that cannot be read at all (missing, unknown format, unreadable container)."""


@dataclass
class IngestResult:
    file: str
    read: int = 0
    stored: int = 0
    duplicate: int = 0
    rejected: int = 0
    errors_by_reason: dict[str, int] = field(default_factory=dict)
    # Each rejected row (position, field, reason, all errors), kept only when the caller asks (HTTP replies).
    rejected_rows: list[dict] | None = field(default=None, metadata={"internal": True})
    # The rows this call stored, when the caller asks (the live room folds them in).
    stored_rows: pa.Table | None = field(default=None, repr=False, metadata={"internal": True})

    def add(self, other: IngestResult) -> None:
        self.read += other.read
        self.stored += other.stored
        self.duplicate += other.duplicate
        self.rejected += other.rejected
        for k, v in other.errors_by_reason.items():
            self.errors_by_reason[k] = self.errors_by_reason.get(k, 0) + v


def detect_format(path: str) -> str:
    if path == "-":
        return "jsonl"
    p = Path(path)
    gz = p.suffix.lower() == ".gz"
    fmt = FORMATS.get(Path(p.stem).suffix.lower() if gz else p.suffix.lower())
    if fmt is None or (gz and fmt == "parquet"):
        raise IngestError(
            f"{path}: 无法识别的文件格式 unknown file format (use .jsonl, .csv or .parquet; .jsonl.gz and .csv.gz work too)"
        )
    return fmt


def _open_binary(path: str):
    return gzip.open(path, "rb") if path.lower().endswith(".gz") else open(path, "rb")  # noqa: SIM115


# ---------------------------------------------------------------------------------------------
# Stage 1: each format becomes the staged relation.
# Staged columns: _pos (line or row), _raw (original text, NULL for Parquet), _fmt_bad and
# _fmt_errors (list of {field, reason}, only where _fmt_bad), and one typed column per input field.


def _q(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


@dataclass(frozen=True)
class Check:
    """One validation rule: a SQL condition that is true for a bad row, the field it blames, and why."""

    cond: str
    field: str
    reason: str

    def case(self) -> str:
        return f"CASE WHEN {self.cond} THEN {{'field': {_q(self.field)}, 'reason': {self.reason}}} END"


ERR_LIST_TYPE = "STRUCT(field VARCHAR, reason VARCHAR)[]"


def _error_columns(checks: list[Check], bad: str, errors: str) -> str:
    """A cheap boolean per row, and the list of {field, reason} built only for the rows where it is true."""
    if not checks:
        return f"FALSE AS {bad}, NULL::{ERR_LIST_TYPE} AS {errors}"
    any_bad = " OR ".join(f"coalesce({c.cond}, FALSE)" for c in checks)
    cases = ",\n      ".join(c.case() for c in checks)
    return f"({any_bad}) AS {bad},\n    CASE WHEN {bad} THEN list_filter([\n      {cases}\n    ], lambda x: x IS NOT NULL) END AS {errors}"


def _ts_from_text(col: str) -> str:
    """UTC at millisecond precision, as the contract stores time (finer digits are cut, not rounded)."""
    return f"date_trunc('millisecond', timezone('UTC', TRY_CAST({col} AS TIMESTAMPTZ)))"


_HAS_OFFSET = r"(Z|z|[+-]\d{2}:?\d{2})$"


def _text_field_exprs(
    val: Callable[[str], str], kind: Callable[[str], str], csv: bool
) -> tuple[list[str], list[Check]]:
    """Typed columns and format errors from a textual source (JSON or CSV).

    ``val(f)`` is the field's text (NULL when absent), ``kind(f)`` its JSON type name
    (VARCHAR for CSV text, NULL when absent). In CSV every value is text, so numbers may be text;
    in JSON a number given as a string is a type error.
    """
    text_ok = "TRUE" if csv else "FALSE"
    cols: list[str] = []
    errs: list[Check] = []
    for f in STRING_FIELDS:
        cols.append(f"CASE WHEN {kind(f)} = 'VARCHAR' THEN {val(f)} END AS {f}")
        errs.append(
            Check(
                f"{kind(f)} NOT IN ('VARCHAR', 'NULL')",
                f,
                "'应为字符串 expected a string, got ' || " + kind(f),
            )
        )
    # In CSV every value is text: an all-digit ts is epoch milliseconds there.
    ts_digits = f"({text_ok} AND regexp_full_match({val('ts')}, '-?[0-9]+'))"
    ts_text = f"({kind('ts')} = 'VARCHAR' AND NOT {ts_digits})"
    ts_int = f"({kind('ts')} IN ('BIGINT', 'UBIGINT') OR ({kind('ts')} = 'VARCHAR' AND {ts_digits}))"
    cols.append(
        f"CASE WHEN {ts_text} AND regexp_matches({val('ts')}, '{_HAS_OFFSET}') THEN {_ts_from_text(val('ts'))} "
        f"WHEN {ts_int} THEN TRY(epoch_ms(TRY_CAST({val('ts')} AS BIGINT))) END AS ts"
    )
    errs.append(
        Check(
            f"{ts_text} AND NOT regexp_matches({val('ts')}, '{_HAS_OFFSET}')",
            "ts",
            "'时间缺少时区 timestamp needs a UTC offset, e.g. 2026-11-24T20:00:01.250+08:00'",
        )
    )
    errs.append(
        Check(
            f"{ts_text} AND regexp_matches({val('ts')}, '{_HAS_OFFSET}') AND {_ts_from_text(val('ts'))} IS NULL",
            "ts",
            "'无法解析的时间 unparseable RFC 3339 timestamp: ' || left(" + val("ts") + ", 60)",
        )
    )
    errs.append(
        Check(
            f"{kind('ts')} NOT IN ('VARCHAR', 'BIGINT', 'UBIGINT', 'NULL')",
            "ts",
            "'时间应为 RFC 3339 字符串或毫秒整数 expected RFC 3339 string or epoch milliseconds, got ' || "
            + kind("ts"),
        )
    )
    num = "('BIGINT', 'UBIGINT', 'DOUBLE')"
    num_text = f"({kind('amount')} IN {num} OR ({kind('amount')} = 'VARCHAR' AND {text_ok}))"
    cols.append(f"CASE WHEN {num_text} THEN TRY_CAST({val('amount')} AS DOUBLE) END AS amount_f")
    cols.append("NULL::DECIMAL(18, 2) AS amount_d")
    errs.append(
        Check(
            f"{kind('amount')} IS NOT NULL AND {kind('amount')} <> 'NULL' AND NOT {num_text}",
            "amount",
            "'应为数字 expected a number, got ' || " + kind("amount"),
        )
    )
    errs.append(
        Check(
            f"{num_text} AND TRY_CAST({val('amount')} AS DOUBLE) IS NULL",
            "amount",
            "'不是数字 not a number: ' || left(" + val("amount") + ", 40)",
        )
    )
    count_text = f"({kind('count')} IN ('BIGINT', 'UBIGINT') OR ({kind('count')} = 'VARCHAR' AND {text_ok}))"
    cols.append(f"CASE WHEN {count_text} THEN TRY_CAST({val('count')} AS BIGINT) END AS count")
    errs.append(
        Check(
            f"{kind('count')} IS NOT NULL AND {kind('count')} <> 'NULL' AND NOT {count_text}",
            "count",
            "'应为整数 expected an integer, got ' || " + kind("count"),
        )
    )
    errs.append(
        Check(
            f"{count_text} AND TRY_CAST({val('count')} AS BIGINT) IS NULL",
            "count",
            "'不是整数 not an integer: ' || left(" + val("count") + ", 40)",
        )
    )
    return cols, errs


def _stage_jsonl_sql(src: str) -> str:
    paths = "[" + ", ".join(_q("$." + f) for f in INPUT_FIELDS) + "]"
    idx = {f: i + 1 for i, f in enumerate(INPUT_FIELDS)}

    def val(f: str) -> str:
        return f"_v[{idx[f]}]"

    def kind(f: str) -> str:
        return f"_k[{idx[f]}]"

    cols, errs = _text_field_exprs(val, kind, csv=False)
    cols.append(f"CASE WHEN {kind('attrs')} = 'OBJECT' THEN {val('attrs')} END AS attrs")
    errs.append(
        Check(
            f"{kind('attrs')} NOT IN ('OBJECT', 'NULL')",
            "attrs",
            "'应为 JSON 对象 expected a JSON object, got ' || " + kind("attrs"),
        )
    )
    line_errs = [
        Check("_s IS NULL", "_line", "'不是有效的 UTF-8 line is not valid UTF-8'"),
        Check(
            "_s IS NOT NULL AND _j IS NULL",
            "_line",
            "'不是 JSON 对象 line is not a JSON object: ' || left(_s, 60)",
        ),
    ]
    body = ",\n    ".join(cols)
    errcols = _error_columns(line_errs + errs, "_fmt_bad", "_fmt_errors")
    return f"""
SELECT _pos, _s AS _raw,
    {errcols},
    {body}
FROM (
  SELECT _pos, _s, _j,
    json_extract_string(_j, {paths}) AS _v,
    json_type(_j, {paths}) AS _k
  FROM (
    SELECT _pos, _s, CASE WHEN json_valid(_s) AND json_type(_s) = 'OBJECT' THEN _s::JSON END AS _j
    FROM (SELECT _pos, rtrim(TRY(decode(_line)), chr(10) || chr(13)) AS _s FROM {src} WHERE NOT _blank)
  )
)
"""


def _stage_csv_sql(src: str, columns: list[str]) -> str:
    present = set(columns)

    def val(f: str) -> str:
        return f"nullif(_d_{f}, '')" if f in present else "NULL"

    def kind(f: str) -> str:
        return (
            f"CASE WHEN nullif(_d_{f}, '') IS NULL THEN NULL ELSE 'VARCHAR' END" if f in present else "NULL"
        )

    cols, errs = _text_field_exprs(val, kind, csv=True)
    attrs_val = val("attrs")
    cols.append(
        f"CASE WHEN json_valid({attrs_val}) AND json_type({attrs_val}) = 'OBJECT' THEN {attrs_val} END AS attrs"
    )
    errs.append(
        Check(
            f"{attrs_val} IS NOT NULL AND NOT (json_valid({attrs_val}) AND json_type({attrs_val}) = 'OBJECT')",
            "attrs",
            "'应为 JSON 对象 expected a JSON object string'",
        )
    )
    for f in INPUT_FIELDS:
        if f in present:
            errs.append(
                Check(f"_b_{f} IS NOT NULL AND _d_{f} IS NULL", f, "'不是有效的 UTF-8 not valid UTF-8'")
            )
    decoded = ", ".join(
        f"{_ident(f)} AS _b_{f}, TRY(decode({_ident(f)})) AS _d_{f}" for f in INPUT_FIELDS if f in present
    )
    # The raw row in the file's column order; undecodable bytes kept as \xNN escapes.
    raw_parts = (
        " || ',' || ".join(f"coalesce(_d_{f}, _b_{f}::VARCHAR, '')" for f in columns if f in INPUT_FIELDS)
        or "''"
    )
    body = ",\n    ".join(cols)
    errcols = _error_columns(errs, "_fmt_bad", "_fmt_errors")
    return f"""
SELECT _pos, {raw_parts} AS _raw,
    {errcols},
    {body}
FROM (SELECT _pos, {decoded} FROM {src})
"""


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _stage_parquet_sql(src: str, types: dict[str, str]) -> str:
    """Typed columns are taken as they are; text columns are parsed like JSON text."""
    cols, errs = [], []
    for f in STRING_FIELDS:
        t = types.get(f)
        cols.append(f"{_ident(f)}::VARCHAR AS {f}" if t else f"NULL::VARCHAR AS {f}")
    t = types.get("ts")
    if t is None:
        cols.append("NULL::TIMESTAMP AS ts")
    elif t.startswith("TIMESTAMP WITH TIME ZONE"):
        cols.append("date_trunc('millisecond', timezone('UTC', ts)) AS ts")
    elif t.startswith("TIMESTAMP"):
        cols.append("date_trunc('millisecond', ts::TIMESTAMP) AS ts")
    elif t in ("BIGINT", "INTEGER", "UBIGINT", "HUGEINT"):
        cols.append("TRY(epoch_ms(ts::BIGINT)) AS ts")
    elif t == "VARCHAR":
        cols.append(f"CASE WHEN regexp_matches(ts, '{_HAS_OFFSET}') THEN {_ts_from_text('ts')} END AS ts")
        errs.append(
            Check(
                f"ts IS NOT NULL AND NOT regexp_matches(ts, '{_HAS_OFFSET}')",
                "ts",
                "'时间缺少时区 timestamp needs a UTC offset'",
            )
        )
        errs.append(
            Check(
                f"regexp_matches(ts, '{_HAS_OFFSET}') AND {_ts_from_text('ts')} IS NULL",
                "ts",
                "'无法解析的时间 unparseable RFC 3339 timestamp: ' || left(ts, 60)",
            )
        )
    else:
        raise IngestError(f"ts 列类型不支持 unsupported Parquet type for ts: {t}")
    t = types.get("amount")
    if t is None:
        cols.append("NULL::DOUBLE AS amount_f, NULL::DECIMAL(18,2) AS amount_d")
    elif t.startswith("DECIMAL") and _decimal_scale(t) <= 2:
        cols.append("NULL::DOUBLE AS amount_f, amount::DECIMAL(18,2) AS amount_d")
    else:
        cols.append("TRY_CAST(amount AS DOUBLE) AS amount_f, NULL::DECIMAL(18,2) AS amount_d")
        errs.append(
            Check(
                "amount IS NOT NULL AND TRY_CAST(amount AS DOUBLE) IS NULL",
                "amount",
                "'不是数字 not a number'",
            )
        )
    t = types.get("count")
    if t is None:
        cols.append("NULL::BIGINT AS count")
    elif t in ("DOUBLE", "FLOAT") or t.startswith("DECIMAL") or t == "VARCHAR":
        cols.append(
            "CASE WHEN TRY_CAST(count AS DOUBLE) = round(TRY_CAST(count AS DOUBLE)) THEN TRY_CAST(count AS BIGINT) END AS count"
        )
        errs.append(
            Check(
                "count IS NOT NULL AND (TRY_CAST(count AS DOUBLE) IS NULL OR TRY_CAST(count AS DOUBLE) <> round(TRY_CAST(count AS DOUBLE)))",
                "count",
                "'不是整数 not an integer'",
            )
        )
    else:
        cols.append("count::BIGINT AS count")
    t = types.get("attrs")
    if t is None:
        cols.append("NULL::VARCHAR AS attrs")
    elif t == "VARCHAR":
        cols.append("CASE WHEN json_valid(attrs) AND json_type(attrs) = 'OBJECT' THEN attrs END AS attrs")
        errs.append(
            Check(
                "attrs IS NOT NULL AND NOT (json_valid(attrs) AND json_type(attrs) = 'OBJECT')",
                "attrs",
                "'应为 JSON 对象 expected a JSON object string'",
            )
        )
    else:
        cols.append("to_json(attrs)::VARCHAR AS attrs")
    errcols = _error_columns(errs, "_fmt_bad", "_fmt_errors")
    body = ",\n    ".join(cols)
    return f"""
SELECT _pos, NULL::VARCHAR AS _raw,
    {errcols},
    {body}
FROM {src}
"""


def _decimal_scale(t: str) -> int:
    try:
        return int(t.split(",")[1].rstrip(") "))
    except (IndexError, ValueError):
        return 99


# ---------------------------------------------------------------------------------------------
# Stage 2: the contract's rules over the staged relation.


def _rules() -> list[Check]:
    r = []
    for f in ALWAYS_REQUIRED:
        r.append(
            Check(
                f"{f} IS NULL AND NOT list_has_any(_fmt_fields, [{_q(f)}, '_line'])",
                f,
                "'缺少必填字段 missing required field'",
            )
        )
    by_field: dict[str, list[str]] = {}
    for t in EVENT_TYPES.values():
        for f in t.required:
            by_field.setdefault(f, []).append(t.name)
    for f, types in by_field.items():
        in_list = ", ".join(_q(t) for t in types)
        value = "amount" if f == "amount" else f
        r.append(
            Check(
                f"type IN ({in_list}) AND {value} IS NULL AND NOT amount_subfen IS TRUE"
                f" AND NOT list_has_any(_fmt_fields, [{_q(f)}, '_line'])",
                f,
                "'缺少必填字段 missing: required for type ' || type",
            )
        )
    type_list = ", ".join(_q(t) for t in EVENT_TYPES)
    r.append(
        Check(
            f"type IS NOT NULL AND type NOT IN ({type_list})",
            "type",
            "'未知事件类型 unknown type: ' || left(type, 40)",
        )
    )
    src_list = ", ".join(_q(s) for s in SOURCES)
    r.append(
        Check(
            f"source IS NOT NULL AND source NOT IN ({src_list})",
            "source",
            f"'未知流量来源 unknown source: ' || left(source, 40) || ' (one of {', '.join(SOURCES)})'",
        )
    )
    r.append(
        Check(
            f"length(event_id) > {MAX_EVENT_ID} OR event_id = ''",
            "event_id",
            f"'event_id 长度应为 1–{MAX_EVENT_ID} length must be 1–{MAX_EVENT_ID}'",
        )
    )
    r.append(
        Check(
            f"length(text) > {MAX_TEXT}",
            "text",
            f"'文本过长 text longer than {MAX_TEXT} characters: ' || length(text)::VARCHAR",
        )
    )
    r.append(Check("amount < 0", "amount", "'金额不能为负 amount must be ≥ 0: ' || amount::VARCHAR"))
    r.append(Check("amount_subfen", "amount", "'金额精度超过分 amount has more than 2 decimals'"))
    r.append(Check("amount >= 1e16", "amount", "'金额过大 amount too large'"))
    r.append(Check("count < 1", "count", "'数量应 ≥ 1 count must be ≥ 1: ' || count::VARCHAR"))
    r.append(
        Check(
            f"ts IS NOT NULL AND (ts < TIMESTAMP '{TS_MIN}' OR ts >= TIMESTAMP '{TS_MAX}')",
            "ts",
            f"'时间超出范围 timestamp outside {TS_MIN}..{TS_MAX} (epoch seconds instead of milliseconds?): ' || ts::VARCHAR",
        )
    )
    r.append(
        Check(
            "clicks_raw IS NOT NULL AND clicks IS NULL",
            "attrs.clicks",
            "'应为非负整数 must be a non-negative integer'",
        )
    )
    return r


def _validated_sql(staged: str) -> str:
    return f"""
SELECT *, _fmt_bad OR _rule_bad AS _bad,
    CASE WHEN _fmt_bad OR _rule_bad
         THEN list_concat(coalesce(_fmt_errors, []::{ERR_LIST_TYPE}), coalesce(_rule_errors, []::{ERR_LIST_TYPE})) END
      AS _errors
FROM (
SELECT *, {_error_columns(_rules(), "_rule_bad", "_rule_errors")}
FROM (
  SELECT *,
    CASE WHEN amount_d IS NOT NULL THEN amount_d
         WHEN abs(amount_f * 100 - round(amount_f * 100)) <= 1e-6 * greatest(1, abs(amount_f * 100))
              AND abs(amount_f) < 1e16 THEN round(amount_f, 2)::DECIMAL(18, 2) END AS amount,
    amount_f IS NOT NULL AND abs(amount_f) < 1e16
      AND abs(amount_f * 100 - round(amount_f * 100)) > 1e-6 * greatest(1, abs(amount_f * 100)) AS amount_subfen,
    json_extract(attrs, '$.clicks') AS clicks_raw,
    CASE WHEN json_type(attrs, '$.clicks') IN ('BIGINT', 'UBIGINT')
         THEN TRY_CAST(json_extract_string(attrs, '$.clicks') AS BIGINT) END AS clicks0,
    CASE WHEN clicks0 >= 0 THEN clicks0 END AS clicks,
    json_extract_string(attrs, '$.streamer_id') AS streamer_id,
    CASE WHEN _fmt_bad THEN list_transform(_fmt_errors, lambda e: e.field) ELSE []::VARCHAR[] END AS _fmt_fields
  FROM ({staged})
))
"""


# user_id passes through _uid(): the identity, or a keyed hash when the store pseudonymises (see pseudonymise()).
STORED_COLUMNS = (
    "event_id, ts, room_id, session_id, _uid(user_id) AS user_id, type, source, product_id, order_id, "
    "campaign_id, amount, count, text, variant, attrs, clicks, streamer_id"
)


def define_uid(con: duckdb.DuckDBPyConnection, key: bytes | None) -> None:
    """Define how user ids are stored on this connection: as given, or as HMAC-SHA256(key, user_id).

    The hash is computed in SQL on the staged rows, so raw platform ids never reach the store; the key
    lives only in this connection's memory (a temporary macro), never on disk. Stored ids read
    ``p_`` + the first 32 hex digits of the HMAC, the same as Python's
    ``hmac.new(key, user_id.encode(), "sha256").hexdigest()[:32]`` — whoever holds the key can map a known
    id to its pseudonym, nobody can go back.
    """
    if key is None:
        con.execute("CREATE OR REPLACE TEMP MACRO _uid(u) AS u")
        con.execute("SET VARIABLE liveops_pseudonymise = false")
        return
    if len(key) < 16:
        raise IngestError("假名化密钥太短 pseudonymisation key must be at least 16 bytes")
    k = (hashlib.sha256(key).digest() if len(key) > 64 else key).ljust(64, b"\0")
    ipad, opad = bytes(b ^ 0x36 for b in k).hex(), bytes(b ^ 0x5C for b in k).hex()
    con.execute(
        "CREATE OR REPLACE TEMP MACRO _uid(u) AS CASE WHEN u IS NULL THEN NULL ELSE 'p_' || left(sha256("
        f"unhex('{opad}') || unhex(sha256(unhex('{ipad}') || encode(u)))), 32) END"
    )
    con.execute("SET VARIABLE liveops_pseudonymise = true")


def _store(
    con: duckdb.DuckDBPyConnection,
    staged_sql: str,
    file_label: str,
    deadletter: Path | None,
    keep_rejected: bool = False,
    returning: bool = False,
) -> IngestResult:
    """Validate the staged relation, store good rows once, write rejected rows to the dead-letter file.

    One pass inserts the valid rows whose event_id is not stored yet. Duplicates inside the batch are
    looked for on a 64-bit hash first, so the exact keep-the-first-row step runs only when there are
    any; rejected rows are fetched only when the counts say some rows were not stored.
    """
    res = IngestResult(file=file_label, rejected_rows=[] if keep_rejected else None)
    con.execute(f"CREATE OR REPLACE TEMP VIEW _checked AS {_validated_sql(staged_sql)}")
    res.read = _scalar(con, f"SELECT count(*) FROM ({staged_sql})")
    before = _scalar(con, "SELECT count(*) FROM events")
    batch_dups = _scalar(
        con,
        f"""SELECT count(*) FROM (SELECT hash(event_id) AS h FROM ({staged_sql}) WHERE event_id IS NOT NULL
            GROUP BY h HAVING count(*) > 1)""",
    )
    good = "SELECT * FROM _checked WHERE NOT _bad"
    if batch_dups:
        good += " QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY _pos) = 1"
    seen = "ANTI JOIN events e ON c.event_id = e.event_id" if before else ""
    insert = f"INSERT INTO events SELECT {STORED_COLUMNS} FROM ({good}) c {seen}"
    if returning:
        with warnings.catch_warnings():  # the "extra copy" warning: a request's rows, at most 10k
            warnings.simplefilter("ignore", UserWarning)
            res.stored_rows = con.execute(insert + " RETURNING *").to_arrow_table()
        res.stored = res.stored_rows.num_rows
    else:
        con.execute(insert)
        res.stored = _scalar(con, "SELECT count(*) FROM events") - before
    if res.read > res.stored:
        rejected = con.sql(
            "SELECT _pos, _raw, _errors FROM _checked WHERE _bad ORDER BY _pos"
        ).to_arrow_table()
        res.rejected = rejected.num_rows
        if res.rejected:
            _write_deadletter(con, rejected, file_label, deadletter, res)
    res.duplicate = res.read - res.rejected - res.stored
    con.execute("DROP VIEW _checked")
    return res


def _scalar(con: duckdb.DuckDBPyConnection, sql: str):
    return con.execute(sql).fetchall()[0][0]


def _write_deadletter(
    con: duckdb.DuckDBPyConnection,
    rejected: pa.Table,
    file_label: str,
    deadletter: Path | None,
    res: IngestResult,
) -> None:
    now = datetime.now(UTC).isoformat(timespec="seconds")
    # With pseudonymised ids the raw text (which holds the platform id) stays out of the dead-letter file.
    private = bool(con.execute("SELECT getvariable('liveops_pseudonymise')").fetchall()[0][0])
    try:  # JSONL positions are line numbers; CSV, Parquet and in-memory tables count rows
        pos_kind = "line" if detect_format(file_label) == "jsonl" else "row"
    except IngestError:
        pos_kind = "row"
    lines = []
    for pos, raw, errs in zip(
        rejected.column("_pos").to_pylist(),
        rejected.column("_raw").to_pylist(),
        rejected.column("_errors").to_pylist(),
        strict=True,
    ):
        first = errs[0]
        key = f"{first['field']}: {first['reason'].split(': ')[0]}"
        res.errors_by_reason[key] = res.errors_by_reason.get(key, 0) + 1
        if res.rejected_rows is not None:
            res.rejected_rows.append(
                {pos_kind: pos, "field": first["field"], "reason": first["reason"], "errors": errs}
            )
        lines.append(
            orjson.dumps(
                {
                    "file": file_label,
                    pos_kind: pos,
                    "field": first["field"],
                    "reason": first["reason"],
                    "errors": errs,
                    "raw": None if private else raw,
                    "at": now,
                }
            )
        )
    if deadletter is not None:
        with open(deadletter, "ab") as fh:
            fh.write(b"\n".join(lines) + b"\n")
            fh.flush()
            os.fsync(fh.fileno())


# ---------------------------------------------------------------------------------------------
# Readers


def _split_lines(data: bytes, first_line: int) -> pa.Table:
    """Lines of a byte buffer as an Arrow binary column over the same bytes (no copy, no Python loop).

    Each line keeps its trailing newline (stripped in SQL).
    """
    arr = np.frombuffer(data, np.uint8)
    nl = np.flatnonzero(arr == 10)
    offsets = np.concatenate([[0], nl + 1]).astype(np.int64)
    if offsets[-1] != len(data):
        offsets = np.append(offsets, np.int64(len(data)))
    n = len(offsets) - 1
    lines = pa.LargeBinaryArray.from_buffers(
        pa.large_binary(), n, [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    )
    pos = np.arange(first_line, first_line + n, dtype=np.int64)
    return pa.table({"_pos": pos, "_line": lines, "_blank": _blank_lines(arr, offsets)})


_WHITESPACE = np.zeros(256, bool)
_WHITESPACE[[9, 10, 11, 12, 13, 32]] = True


def _blank_lines(arr: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Lines holding nothing but whitespace, found on the byte buffer rather than per line in SQL.

    Only lines that start with whitespace can be blank; those few are checked one by one.
    """
    starts, ends = offsets[:-1], offsets[1:]
    blank = ends == starts
    if len(arr) == 0:
        return blank
    candidates = np.flatnonzero(~blank & _WHITESPACE[arr[np.minimum(starts, len(arr) - 1)]])
    raw = arr.data.cast("B")
    for i in candidates:
        blank[i] = not bytes(raw[starts[i] : ends[i]]).strip()
    return blank


def _count_event_lines(data: bytes) -> int:
    arr = np.frombuffer(data, np.uint8)
    nl = np.flatnonzero(arr == 10)
    offsets = np.concatenate([[0], nl + 1]).astype(np.int64)
    if offsets[-1] != len(data):
        offsets = np.append(offsets, np.int64(len(data)))
    return int((~_blank_lines(arr, offsets)).sum())


FAST_JSONL_MAX_BYTES = 1 << 30


class _NotClean(Exception):
    """The whole-file JSONL path met a line it cannot vouch for; the line-by-line path takes over."""


def _ingest_clean_jsonl(con: duckdb.DuckDBPyConnection, path: str) -> IngestResult | None:
    """Fast path for a clean JSONL file: DuckDB's JSON reader parses every line once.

    It stores only if every non-blank line became a row and no row is rejected; otherwise it rolls
    back and returns None, and the line-by-line path (exact line numbers, raw text in the dead-letter
    file) runs instead. So results never depend on which path ran.
    """
    if path == "-" or path.lower().endswith(".gz") or os.path.getsize(path) > FAST_JSONL_MAX_BYTES:
        return None
    with open(path, "rb") as fh:
        expected = sum(_count_event_lines(chunk) for chunk, _ in _chunks_on_newlines(fh))
    columns = "{" + ", ".join(f"{_q(f)}: 'JSON'" for f in INPUT_FIELDS) + "}"
    all_null = " AND ".join(f"{_ident(f)} IS NULL" for f in INPUT_FIELDS)
    try:
        with _transaction(con):
            con.execute(
                f"""CREATE OR REPLACE TEMP TABLE _fast AS SELECT * FROM read_json({_q(path)},
                    format = 'newline_delimited', columns = {columns}, ignore_errors = true)"""
            )
            n, unparsed = con.execute(f"SELECT count(*), count(*) FILTER ({all_null}) FROM _fast").fetchall()[
                0
            ]
            if n != expected or unparsed:
                raise _NotClean
            res = _store(con, _stage_json_columns_sql("_fast"), path, None)
            if res.rejected:
                raise _NotClean
            con.execute("DROP TABLE _fast")
            return res
    except (_NotClean, duckdb.Error):
        con.execute("DROP TABLE IF EXISTS _fast")
        return None


def _stage_json_columns_sql(src: str) -> str:
    """Staging for rows whose fields are JSON values already (DuckDB's JSON reader)."""

    def val(f: str) -> str:
        return f"json_extract_string({_ident(f)}, '$')"

    def kind(f: str) -> str:
        return f"json_type({_ident(f)})"

    cols, errs = _text_field_exprs(val, kind, csv=False)
    cols.append("CASE WHEN json_type(attrs) = 'OBJECT' THEN attrs::VARCHAR END AS attrs")
    errs.append(
        Check(
            "json_type(attrs) NOT IN ('OBJECT', 'NULL')",
            "attrs",
            "'应为 JSON 对象 expected a JSON object, got ' || json_type(attrs)",
        )
    )
    body = ",\n    ".join(cols)
    return f"""
SELECT rowid + 1 AS _pos, NULL::VARCHAR AS _raw,
    {_error_columns(errs, "_fmt_bad", "_fmt_errors")},
    {body}
FROM {src}
"""


def _chunks_on_newlines(fh) -> Iterator[tuple[bytes, int]]:
    """Yield (bytes, first line number) in chunks of about JSONL_CHUNK_BYTES that end on a newline."""
    line_no = 1
    rest = b""
    while True:
        block = fh.read(JSONL_CHUNK_BYTES)
        if not block:
            break
        block = rest + block
        cut = block.rfind(b"\n")
        if cut < 0:
            rest = block
            continue
        chunk, rest = block[: cut + 1], block[cut + 1 :]
        yield chunk, line_no
        line_no += chunk.count(b"\n")
    if rest:
        yield rest, line_no


def _jsonl_chunks(path: str) -> Iterator[tuple[bytes, int]]:
    fh = sys.stdin.buffer if path == "-" else _open_binary(path)
    try:
        yield from _chunks_on_newlines(fh)
    finally:
        if fh is not sys.stdin.buffer:
            fh.close()


def ingest_file(
    con: duckdb.DuckDBPyConnection,
    path: str,
    deadletter: Path | None,
    on_progress: Callable[[int], None] | None = None,
) -> IngestResult:
    fmt = detect_format(path)
    if path != "-" and not os.path.isfile(path):
        raise IngestError(f"{path}: 文件不存在 no such file")
    if fmt == "jsonl":
        fast = _ingest_clean_jsonl(con, path)
        if fast is not None:
            if on_progress:
                on_progress(os.path.getsize(path))
            return fast
        total = IngestResult(file=path)
        for chunk, first in _jsonl_chunks(path):
            lines = _split_lines(chunk, first)
            con.register("_lines", lines)
            try:
                with _transaction(con):
                    # JSON is parsed once into a typed temp table; validation and insert read that.
                    con.execute(f"CREATE OR REPLACE TEMP TABLE _staged AS {_stage_jsonl_sql('_lines')}")
                    total.add(_store(con, "SELECT * FROM _staged", path, deadletter))
                    con.execute("DROP TABLE _staged")
            finally:
                con.unregister("_lines")
            if on_progress:
                on_progress(len(chunk))
        return total
    if fmt == "csv":
        table, skipped = _read_csv(path)
        con.register("_csv", table)
        try:
            res = ingest_relation(con, _stage_csv_sql("_csv", table.column_names), path, deadletter)
        finally:
            con.unregister("_csv")
        if skipped:
            _write_csv_skipped(path, skipped, deadletter, res)
        if on_progress:
            on_progress(os.path.getsize(path))
        return res
    # parquet
    try:
        desc = con.execute(f"DESCRIBE SELECT * FROM read_parquet({_q(path)})").fetchall()
    except duckdb.Error as e:
        raise IngestError(f"{path}: 无法读取 Parquet unreadable Parquet file: {e}") from e
    types = {name: t for name, t, *_ in desc}
    src = f"(SELECT file_row_number + 1 AS _pos, * FROM read_parquet({_q(path)}, file_row_number = true))"
    res = ingest_relation(con, _stage_parquet_sql(src, types), path, deadletter)
    if on_progress:
        on_progress(os.path.getsize(path))
    return res


def ingest_lines(
    con: duckdb.DuckDBPyConnection, data: bytes, label: str, deadletter: Path | None
) -> IngestResult:
    """Ingest NDJSON bytes held in memory (an HTTP request), in one transaction, listing every rejected line."""
    lines = _split_lines(data, 1)
    con.register("_lines", lines)
    try:
        with _transaction(con):
            return _store(
                con, _stage_jsonl_sql("_lines"), label, deadletter, keep_rejected=True, returning=True
            )
    finally:
        con.unregister("_lines")


def ingest_relation(
    con: duckdb.DuckDBPyConnection, staged_sql: str, label: str, deadletter: Path | None
) -> IngestResult:
    with _transaction(con):
        return _store(con, staged_sql, label, deadletter)


@contextmanager
def _transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """All of a file (or JSONL chunk) is stored, or none of it."""
    con.execute("BEGIN")
    try:
        yield
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def ingest_arrow(
    con: duckdb.DuckDBPyConnection, table: pa.Table, label: str, deadletter: Path | None
) -> IngestResult:
    """Ingest an in-memory Arrow table with the contract's columns (the simulator's output)."""
    table = table.append_column("_pos", pa.array(np.arange(1, table.num_rows + 1, dtype=np.int64)))
    con.register("_arrow_in", table)
    try:
        types = {name: t for name, t, *_ in con.execute("DESCRIBE SELECT * FROM _arrow_in").fetchall()}
        return ingest_relation(con, _stage_parquet_sql("_arrow_in", types), label, deadletter)
    finally:
        con.unregister("_arrow_in")


def _read_csv(path: str) -> tuple[pa.Table, list[tuple[int | None, str]]]:
    skipped: list[tuple[int | None, str]] = []

    def on_bad(row: pacsv.InvalidRow) -> str:
        skipped.append((row.number, row.text))
        return "skip"

    try:
        with _open_binary(path) as fh:
            header = fh.readline()
        names = (
            pacsv.read_csv(
                io.BytesIO(header), read_options=pacsv.ReadOptions(autogenerate_column_names=False)
            ).column_names
            if header.strip()
            else []
        )
    except (pa.ArrowInvalid, UnicodeDecodeError) as e:
        raise IngestError(f"{path}: 无法读取表头 unreadable CSV header: {e}") from e
    if not names:
        return pa.table({"_pos": pa.array([], pa.int64())}), skipped
    unknown = [n for n in names if n not in INPUT_FIELDS]
    if unknown:
        raise IngestError(
            f"{path}: 未知列 unknown CSV columns {unknown} (expected {', '.join(INPUT_FIELDS)})"
        )
    table = pacsv.read_csv(
        path,
        read_options=pacsv.ReadOptions(use_threads=False),
        parse_options=pacsv.ParseOptions(invalid_row_handler=on_bad, newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(
            column_types={n: pa.binary() for n in names},
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )
    table = table.append_column("_pos", pa.array(np.arange(1, table.num_rows + 1, dtype=np.int64)))
    return table, skipped


def _write_csv_skipped(
    path: str, skipped: list[tuple[int | None, str]], deadletter: Path | None, res: IngestResult
) -> None:
    res.read += len(skipped)
    res.rejected += len(skipped)
    key = "_row: 列数不符 wrong number of columns"
    res.errors_by_reason[key] = res.errors_by_reason.get(key, 0) + len(skipped)
    if deadletter is None:
        return
    with open(deadletter, "ab") as fh:
        for line, text in skipped:
            reason = "列数不符 wrong number of columns"
            fh.write(
                orjson.dumps(
                    {
                        "file": path,
                        "line": line,
                        "field": "_row",
                        "reason": reason,
                        "errors": [{"field": "_row", "reason": reason}],
                        "raw": text,
                    }
                )
                + b"\n"
            )
        fh.flush()
        os.fsync(fh.fileno())
