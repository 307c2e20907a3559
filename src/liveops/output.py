"""Formatting results for people (Rich tables, Chinese first) and for scripts (JSON)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import sys
from decimal import Decimal
from typing import Any

import numpy as np
import orjson
import pandas as pd
from rich.table import Table

from .metrics import CATALOG, py_value


def plain(v: Any) -> Any:
    """A JSON-safe Python value: NaN → None, numpy → builtins, timestamps → ISO strings."""
    if v is None:
        return None
    if isinstance(v, pd.DataFrame):
        return records(v)
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return {
            f.name: plain(getattr(v, f.name)) for f in dataclasses.fields(v) if not f.metadata.get("internal")
        }
    if isinstance(v, dict):
        return {str(k): plain(x) for k, x in v.items()}
    if isinstance(v, list | tuple | np.ndarray):
        return [plain(x) for x in v]
    if isinstance(v, pd.Timestamp | dt.datetime):
        return v.isoformat()
    if isinstance(v, Decimal):
        return float(v)
    v = py_value(v)
    return None if isinstance(v, float) and math.isinf(v) else v


def records(df: pd.DataFrame) -> list[dict]:
    return [{k: plain(v) for k, v in row.items()} for row in df.to_dict(orient="records")]


def to_json(v: Any) -> str:
    return orjson.dumps(plain(v), option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode()


def fmt_value(key: str, v: Any) -> str:
    v = plain(v)
    if v is None:
        return "—"
    m = CATALOG.get(key)
    if isinstance(v, str):
        return v
    if m is not None and m.unit == "ratio" and key not in ("roi", "roi_net", "peak_avg_ratio"):
        return f"{v * 100:.2f}%"
    if m is not None and m.unit == "元":
        return f"¥{v:,.2f}"
    if isinstance(v, float):
        if key.endswith(("rate", "_share", "retention", "retained", "change")):
            return f"{v * 100:.2f}%"
        return f"{v:,.2f}" if not v.is_integer() else f"{int(v):,}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def label(key: str) -> str:
    m = CATALOG.get(key)
    return f"{m.zh} {m.en}" if m else key


def metrics_table(values: dict, title: str) -> Table:
    t = Table(title=title, show_lines=False)
    t.add_column("指标 Metric")
    t.add_column("key", style="dim")
    t.add_column("值 Value", justify="right")
    t.add_column("维度 Dimension", style="dim")
    for k, v in values.items():
        m = CATALOG.get(k)
        t.add_row(f"{m.zh}  {m.en}" if m else k, k, fmt_value(k, v), m.dimension if m else "")
    return t


def frame_table(df: pd.DataFrame, title: str, max_rows: int = 200) -> Table:
    t = Table(title=title)
    for c in df.columns:
        t.add_column(
            label(c) if c in CATALOG else c,
            justify="right" if pd.api.types.is_numeric_dtype(df[c]) else "left",
        )
    for row in df.head(max_rows).itertuples(index=False):
        t.add_row(*[fmt_value(c, v) for c, v in zip(df.columns, row, strict=True)])
    return t


def print_json(v: Any) -> None:
    sys.stdout.write(to_json(v) + "\n")
