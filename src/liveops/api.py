"""The notebook face of LiveOps: ``liveops.open(db)`` and DataFrames back."""

from __future__ import annotations

from pathlib import Path

import ibis.expr.types as ir
import pandas as pd

from . import analysis as A
from . import metrics as M
from .store import EventLog, Settings, resolve_db


class Workspace:
    """A read view over one event log (a DuckDB file, or a Parquet lake on DuckDB or Spark)."""

    def __init__(self, events: ir.Table, products: ir.Table | None = None, tz: str | None = None, log=None):
        self.events = events
        self.products_dim = products
        self.tz = tz or Settings.load().timezone
        self._log = log

    # -- sessions ---------------------------------------------------------------------------
    def sessions(self) -> pd.DataFrame:
        return A.sessions(self.events, self.tz)

    def resolve_session(self, session_id: str | None) -> str:
        """The given session, or the most recent one when none is given."""
        if session_id is not None:
            # Every analysis call checks its session: look for one row, not the whole session list.
            e = self.events
            if not e.filter(e.session_id == session_id).limit(1).count().execute():
                raise LookupError(f"未找到场次 session not found: {session_id}")
            return session_id
        s = self.sessions()
        if s.empty:
            raise LookupError("日志中没有场次 the log has no sessions — ingest events first")
        return str(s.iloc[-1]["session_id"])

    # -- metrics ----------------------------------------------------------------------------
    def metric_values(self, session_id: str | None = None) -> dict:
        """Every catalog metric of a session as {key: value} (what `liveops metrics --format json` prints)."""
        return M.session_metrics(self.events, self.resolve_session(session_id))

    def metrics(self, session_id: str | None = None) -> pd.DataFrame:
        """Every catalog metric of a session, one row each: key, 中文名, English, dimension, unit, value."""
        values = self.metric_values(session_id)
        rows = [
            {
                "key": k,
                "zh": M.CATALOG[k].zh,
                "en": M.CATALOG[k].en,
                "dimension": M.CATALOG[k].dimension,
                "unit": M.CATALOG[k].unit,
                "value": v,
            }
            for k, v in values.items()
        ]
        return pd.DataFrame(rows).set_index("key")

    def timeline(self, session_id: str | None = None) -> pd.DataFrame:
        return A.timeline(self.events, self.resolve_session(session_id), self.tz)

    def funnel(self, session_id: str | None = None) -> pd.DataFrame:
        return self.funnel_result(session_id).steps

    def funnel_result(self, session_id: str | None = None) -> A.Funnel:
        return A.funnel(self.events, self.resolve_session(session_id))

    def sources(self, session_id: str | None = None) -> pd.DataFrame:
        return A.sources(self.events, self.resolve_session(session_id))

    def products(self, session_id: str | None = None) -> pd.DataFrame:
        return A.products(self.events, self.resolve_session(session_id), self.products_dim)

    def segments(self, session_id: str | None = None) -> A.Segments:
        return A.segments(self.events, self.resolve_session(session_id))

    def close(self) -> None:
        if self._log is not None:
            self._log.close()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open(db: str | Path | None = None, read_only: bool = True) -> Workspace:  # noqa: A001 - the public name
    """Open a LiveOps DuckDB store for analysis: ``ws = liveops.open("liveops.duckdb"); ws.metrics()``."""
    path = resolve_db(str(db) if db else None)
    if read_only and not Path(path).exists():
        raise FileNotFoundError(f"没有这个存储 no such store: {path}")
    log = EventLog(path, read_only=read_only)
    return Workspace(log.events, log.products, log=log)
