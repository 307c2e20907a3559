"""What every `liveops` command module shares: consoles, common options, formats, errors."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from . import output as O

err = Console(stderr=True)
out = Console()

DbOpt = Annotated[
    str | None,
    typer.Option("--db", help="DuckDB 存储文件 store file (default $LIVEOPS_DB or ./liveops.duckdb)"),
]
SessionOpt = Annotated[
    str | None, typer.Option("--session", "-s", help="场次 ID session id (default: the latest)")
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="不显示进度 no progress output")]


class Fmt(StrEnum):
    json = "json"
    table = "table"
    csv = "csv"


def _fail(msg: str, code: int = 2) -> typer.Exit:
    err.print(f"[red]错误 error:[/red] {escape(msg)}")
    return typer.Exit(code)


def _emit(df, fmt: Fmt, title: str) -> None:
    if fmt == Fmt.json:
        O.print_json(df)
    elif fmt == Fmt.csv:
        sys.stdout.write(df.to_csv(index=False))
    else:
        out.print(O.frame_table(df, title))


def open_store(db: str | None, must_exist: bool = True, read_only: bool = False):
    """The store for work that writes no events (compliance, scripts, audit): no pseudonymisation key
    needed; a missing, locked or foreign file is a clear error."""
    from .store import EventLog, resolve_db

    path = resolve_db(db)
    if must_exist and not Path(path).exists():
        raise _fail(f"没有这个存储 no such store: {path}")
    try:
        return EventLog(path, read_only=read_only, for_ingest=False)
    except Exception as e:  # a locked, corrupt or foreign file
        raise _fail(f"无法打开存储 cannot open store {path}: {e}") from e
