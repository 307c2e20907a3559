"""Write event tables as JSON Lines, CSV or Parquet (format chosen by the file extension).

* JSONL (``.jsonl`` / ``.ndjson``): one object per line in contract field order; null fields are
  omitted; ``ts`` is an RFC 3339 string in China time with milliseconds
  (``2026-11-24T20:00:01.250+08:00``); ``amount`` is a JSON number with two decimals; ``attrs``
  is embedded as a JSON object (the column must hold JSON object text, as the contract says).
* CSV (``.csv``): header row, same columns, ``ts`` as the same RFC 3339 string, ``attrs`` as a
  JSON string column.
* Parquet (``.parquet``): ``ts`` int64 epoch milliseconds, ``amount`` decimal128(18, 2).

Everything is columnar (Polars / Arrow); no Python loop runs over rows.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from liveops.schema import AMOUNT_TYPE, FORMATS, INPUT_FIELDS

__all__ = ["write_events", "jsonl_lines", "FORMATS", "format_of"]

_CST_OFFSET_MS = 8 * 3_600_000
_UNSAFE_JSON = r'["\\\x00-\x1f]'  # characters a JSON string must escape


def format_of(path: str | Path) -> str:
    ext = Path(path).suffix.lower()
    if ext not in FORMATS:
        raise ValueError(f"unknown event file extension {ext!r}: use one of {', '.join(FORMATS)}")
    return FORMATS[ext]


def _normalise(table: pa.Table) -> pa.Table:
    """Contract columns in contract order; ts as int64 epoch ms, amount as decimal128(18, 2)."""
    missing = [f for f in INPUT_FIELDS if f not in table.column_names]
    if missing:
        raise ValueError(f"event table lacks columns: {', '.join(missing)}")
    table = table.select(list(INPUT_FIELDS))
    ts = table.column("ts")
    if pa.types.is_timestamp(ts.type):
        ts = ts.cast(pa.timestamp("ms", tz=ts.type.tz)).cast(pa.int64())
    elif not pa.types.is_int64(ts.type):
        ts = ts.cast(pa.int64())
    table = table.set_column(INPUT_FIELDS.index("ts"), "ts", ts)
    amount = table.column("amount")
    if amount.type != AMOUNT_TYPE:
        table = table.set_column(INPUT_FIELDS.index("amount"), "amount", amount.cast(AMOUNT_TYPE))
    return table


def _ts_string() -> pl.Expr:
    """epoch ms → '2026-11-24T20:00:01.250+08:00'."""
    local = (pl.col("ts") + _CST_OFFSET_MS).cast(pl.Datetime("ms"))
    return local.dt.strftime("%Y-%m-%dT%H:%M:%S%.3f") + "+08:00"


def _jsonl_line(df: pl.DataFrame) -> pl.Expr:
    strings = [c for c in INPUT_FIELDS if df.schema[c] == pl.String and c != "attrs"]
    unsafe = df.select([pl.col(c).str.contains(_UNSAFE_JSON).any().alias(c) for c in strings]).row(
        0, named=True
    )
    frags: list[pl.Expr] = [pl.lit("{")]
    for i, c in enumerate(INPUT_FIELDS):
        col = pl.col(c)
        if c == "ts":
            v = '"' + _ts_string() + '"'
        elif c == "attrs":
            v = pl.when(col.str.len_bytes() > 0).then(col)
        elif c in unsafe:
            if unsafe[c]:  # escape through the JSON encoder: {"c":"…"} → "…"
                enc = pl.struct(col).struct.json_encode().str.slice(len(c) + 4).str.head(-1)
                v = pl.when(col.is_not_null()).then(enc)
            else:
                v = '"' + col + '"'
        else:  # amount (decimal: always two decimals), count
            v = col.cast(pl.String)
        frags.append(pl.lit(("" if i == 0 else ",") + f'"{c}":') + v)
    frags.append(pl.lit("}"))
    return pl.concat_str(frags, ignore_nulls=True)


def jsonl_lines(table: pa.Table) -> pa.Array:
    """Each event of ``table`` as its JSONL line (the same text ``write_events`` writes), columnar."""
    df = pl.from_arrow(_normalise(table))
    assert isinstance(df, pl.DataFrame)
    return df.select(_jsonl_line(df).alias("line")).to_arrow().column("line").combine_chunks()


def write_events(table: pa.Table, path: str | Path) -> None:
    """Write ``table`` (contract columns) to ``path``; the extension picks JSONL, CSV or Parquet."""
    path = Path(path)
    fmt = format_of(path)
    table = _normalise(table)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "parquet":
        pq.write_table(table, path, compression="zstd")
        return
    df = pl.from_arrow(table)
    assert isinstance(df, pl.DataFrame)
    # lazy sinks format and write in parallel, keeping row order
    if fmt == "csv":
        df.lazy().with_columns(_ts_string().alias("ts")).sink_csv(path)
        return
    lines = df.lazy().select(_jsonl_line(df).alias("line"))
    lines.sink_csv(path, include_header=False, quote_style="never")
