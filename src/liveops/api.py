"""The notebook face of LiveOps: ``liveops.open(db)`` and DataFrames back."""

from __future__ import annotations

from pathlib import Path

import ibis.expr.types as ir
import pandas as pd

from . import alerts as AL
from . import analysis as A
from . import metrics as M
from . import review_tables as RT
from .comments import Comments, comment_summary
from .store import EventLog, Settings, resolve_db


class Workspace:
    """A read view over one event log (a DuckDB file, or a Parquet lake on DuckDB or Spark).

    A session whose review tables are stored and current (see :mod:`liveops.review_tables`) is read
    from them; any other is computed from the events.
    """

    def __init__(self, events: ir.Table, products: ir.Table | None = None, tz: str | None = None, log=None):
        self.events = events
        self.products_dim = products
        self.tz = tz or Settings.load().timezone
        self._log = log
        self._stored: dict[str, RT.ReviewTables] = {}

    def review_tables(self, session_id: str) -> RT.ReviewTables | None:
        """The session's stored review tables if they are current, else None."""
        if self._log is None:
            return None
        n = RT.event_count(self.events, session_id)
        rt = self._stored.get(session_id)
        if rt is None or rt.events != n:
            rt = RT.load(self._log.con, session_id, n)
            if rt is None:
                return None
            self._stored[session_id] = rt
        return rt

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
        sid = self.resolve_session(session_id)
        rt = self.review_tables(sid)
        return rt.metric_values() if rt else M.session_metrics(self.events, sid)

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
        sid = self.resolve_session(session_id)
        rt = self.review_tables(sid)
        return A.localise_timeline(rt.timeline, self.tz) if rt else A.timeline(self.events, sid, self.tz)

    def funnel(self, session_id: str | None = None) -> pd.DataFrame:
        return self.funnel_result(session_id).steps

    def funnel_result(self, session_id: str | None = None, baseline_n: int = 5) -> A.Funnel:
        sid = self.resolve_session(session_id)
        rt = self.review_tables(sid)
        if rt is None:
            return A.funnel(self.events, sid, baseline_n)
        prev = A.previous_sessions(self.events, sid, baseline_n)
        return A.funnel_from(sid, rt.metrics.iloc[0], rt.funnel_by_source, prev, self._funnel_measures(prev))

    def _funnel_measures(self, session_ids: list[str]) -> pd.DataFrame | None:
        """Funnel counts of earlier sessions: stored where current, computed for the rest."""
        if not session_ids:
            return None
        parts, missing = [], []
        for sid in session_ids:
            rt = self.review_tables(sid)
            if rt is None:
                missing.append(sid)
            else:
                parts.append(rt.metrics[["session_id", *A.FUNNEL_KEYS]])
        if missing:
            parts.append(A.funnel_measures(self.events, missing))
        return pd.concat(parts, ignore_index=True)

    def sources(self, session_id: str | None = None) -> pd.DataFrame:
        sid = self.resolve_session(session_id)
        rt = self.review_tables(sid)
        return rt.sources if rt else A.sources(self.events, sid)

    def products(self, session_id: str | None = None) -> pd.DataFrame:
        sid = self.resolve_session(session_id)
        rt = self.review_tables(sid)
        if rt is None:
            return A.products(self.events, sid, self.products_dim)
        return A.name_products(rt.products, self.products_dim)

    def segments(self, session_id: str | None = None) -> A.Segments:
        sid = self.resolve_session(session_id)
        rt = self.review_tables(sid)
        return rt.segments_result() if rt else A.segments(self.events, sid)

    def explain_windows(self, session_id: str | None = None) -> pd.DataFrame:
        sid = self.resolve_session(session_id)
        rt = self.review_tables(sid)
        e = self.events
        return rt.windows if rt else A.explain_table(e.filter(e.session_id == sid))

    def comments(self, session_id: str | None = None) -> Comments:
        """The most frequent viewer questions and complaints of a session."""
        sid = self.resolve_session(session_id)
        rt = self.review_tables(sid)
        return rt.comments() if rt else comment_summary(self.events, sid)

    def alerts(self, session_id: str | None = None) -> pd.DataFrame:
        """Alerts of a session: the alert rules over its minutes, and alerts other detectors stored."""
        sid = self.resolve_session(session_id)
        rt = self.review_tables(sid)
        if rt is not None:
            return rt.alerts
        stored = AL.AlertLog(self._log.con, create=False).of(sid) if self._log is not None else []
        frame = AL.minute_frame(A.timeline_utc(self.events, sid), A.product_gmv_per_minute(self.events, sid))
        rules = AL.load_rules(Settings.load().alert_rules)
        return AL.alerts_frame(AL.merge(AL.evaluate(frame, rules, sid), stored))

    def compliance(self, session_id: str | None = None):
        """The session's compliance hits summarised (None when the workspace has no DuckDB store)."""
        if self._log is None:
            return None
        from . import compliance_store as CS
        from .compliance import project_lexicon

        return CS.review(self._log.con, self.resolve_session(session_id), project_lexicon())

    def experiments(self, session_id: str | None = None, definitions: dict | None = None) -> list:
        """Every experiment that ran in the session, analysed over all its data so far
        (``liveops.experiments.ExperimentResult``); empty without a DuckDB store."""
        if self._log is None:
            return []
        from . import experiments as X

        defs = X.project_definitions() if definitions is None else definitions
        return X.results_for_session(self._log.con, self.events, self.resolve_session(session_id), defs)

    def experiment_list(self, definitions: dict | None = None) -> pd.DataFrame:
        """Experiments known from events, assignment and schedule tables, and definitions."""
        from dataclasses import asdict

        from . import experiments as X

        cols = ["experiment_id", "unit", "source", "arms", "units"]
        if self._log is None:
            return pd.DataFrame(columns=cols)
        found = X.discover(self._log.con, self.events, definitions)
        return pd.DataFrame([asdict(f) for f in found], columns=cols)

    def experiment(
        self, experiment_id: str, metrics: list[str] | None = None, definitions: dict | None = None
    ):
        """One experiment analysed (``liveops.experiments.ExperimentResult``); LookupError if unknown."""
        from . import experiments as X

        if self._log is None:
            raise LookupError("experiments need a DuckDB store")
        d = (definitions or {}).get(experiment_id)
        return X.analyze(self._log.con, self.events, experiment_id, metrics, d)

    def drivers(self, session_id: str | None = None):
        """What drove conversion and GMV in the session (``liveops.drivers.DriversResult``), or None."""
        if self._log is None:
            return None
        from .drivers import drivers

        return drivers(self._log.con, self.events, session=self.resolve_session(session_id))

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
