"""Live room state (直播大屏的数据): per session, updated batch by batch as events are stored.

Incremental, never a recompute of the session: each stored batch is reduced by DuckDB to the catalog's
first step (per viewer and event type, see :func:`liveops.metrics.level0`), and that small result is
folded into running sums and sets of viewer / order ids. Distinct counts stay exact because the sets are
unions, so at the end of a show every live value equals the catalog's batch value for the same events.
"""

from __future__ import annotations

from collections import deque
from decimal import Decimal
from typing import Any

import duckdb
import ibis
import numpy as np
import pandas as pd
import pyarrow as pa

from . import analysis as A
from . import metrics as M
from .alerts import Alert, alerts_frame, minute_frame
from .schema import SOURCES

# Catalog measures the live state keeps per session (all that do not need visit intervals), and per minute.
SESSION_MEASURES = M.MEASURES
MINUTE_MEASURES = [m for m in M.MEASURES if m.key in A.TIMELINE_KEYS]
TOP_WINDOW_MINUTES = 5
LATEST_COMMENTS = 30


def _exact_sum(values, money: bool):
    """Money as Decimal (to the fen, like the store), counts as int; missing values add nothing."""
    ok = [v for v in values if v is not None and not pd.isna(v)]
    return sum((Decimal(str(v)) for v in ok), Decimal(0)) if money else int(sum(ok))


class _Running:
    """Running values of catalog measures for groups (one session, or each minute of it)."""

    def __init__(self, ms: list[M.Metric]):
        self.ms = [m for m in ms if m.agg.kind != "distinct"]
        self.distinct = [m for m in ms if m.agg.kind == "distinct"]
        self.groups: dict[Any, dict[str, Any]] = {}

    def _new(self) -> dict[str, Any]:
        st: dict[str, Any] = {}
        for m in self.ms + self.distinct:
            a = m.agg
            st[m.key] = set() if a.kind in ("uv", "distinct") else (Decimal(0) if a.col == "amount" else 0)
        return st

    def fold(self, l0: pd.DataFrame, batch: pd.DataFrame, by: str) -> None:
        for g, part in l0.groupby(by, sort=False):
            st = self.groups.setdefault(g, self._new())
            typ = part["type"].to_numpy()
            users = part["user_id"].to_numpy()
            for m in self.ms:
                a = m.agg
                cond = np.isin(typ, a.types)
                if a.where is not None:
                    cond &= part[f"_w_{m.key}"].fillna(False).to_numpy(dtype=bool)
                if not cond.any():
                    continue
                if a.kind == "uv":
                    st[m.key].update(u for u in users[cond] if u is not None)
                elif a.kind == "rows":
                    st[m.key] += int(part["_n"].to_numpy()[cond].sum())
                else:
                    col = part[M._LEVEL0_SUMS[(a.col, a.default)]].to_numpy()[cond]
                    st[m.key] += _exact_sum(col, money=a.col == "amount")
        for m in self.distinct:
            a = m.agg
            rows = batch[batch["type"].isin(a.types) & batch[a.col].notna()]
            for g, vals in rows.groupby(by, sort=False)[a.col]:
                self.groups.setdefault(g, self._new())[m.key].update(vals)

    def values(self, g: Any) -> dict[str, Any]:
        st = self.groups.get(g) or self._new()
        return {k: len(v) if isinstance(v, set) else v for k, v in st.items()}


class LiveSession:
    """The live state of one session, fed stored batches in time order."""

    def __init__(self, session_id: str, room_id: str | None = None):
        self.session_id = session_id
        self.room_id = room_id
        self.events = 0
        self.first_ts: pd.Timestamp | None = None
        self.last_ts: pd.Timestamp | None = None
        self.start_ts: pd.Timestamp | None = None  # session_start, when seen
        self.end_ts: pd.Timestamp | None = None  # session_end, when seen
        self._session = _Running(SESSION_MEASURES)
        self._minutes = _Running(MINUTE_MEASURES)
        self._snap_peak: int | None = None
        self._snap_last: tuple[pd.Timestamp, int] | None = None
        self._snap_minute: dict[pd.Timestamp, int] = {}
        self._online: set[str] = set()
        self._online_peak = 0
        self._online_minute: dict[pd.Timestamp, tuple[int, int]] = {}  # minute → (peak, level at its end)
        self._explain_events: dict[str, list[tuple[pd.Timestamp, str]]] = {}  # product → (ts, type), in order
        self.alerts: list[Alert] = []
        self._explaining: str | None = None
        self._explain_since: pd.Timestamp | None = None
        self._order_product: dict[str, str] = {}
        self._product_minute: dict[tuple[pd.Timestamp, str], list] = {}
        self._comments: deque = deque(maxlen=LATEST_COMMENTS)
        self._sources: dict[str, list] = {}  # entry source → [views, viewer ids]
        self._hits: deque = deque(maxlen=LATEST_COMMENTS)  # latest compliance hits
        self._hit_counts: dict[tuple[str, str], int] = {}  # (category, severity) → hits

    # -- folding a batch -------------------------------------------------------------------
    def fold(self, batch: pd.DataFrame, l0_session: pd.DataFrame, l0_minute: pd.DataFrame) -> None:
        """Fold one stored batch (this session's rows, sorted by ts) and its first-step aggregates."""
        if batch.empty:
            return
        self.events += len(batch)
        self.room_id = self.room_id or batch["room_id"].iloc[0]
        ts = batch["ts"]
        self.first_ts = min(filter(None, (self.first_ts, ts.iloc[0])))
        self.last_ts = max(filter(None, (self.last_ts, ts.iloc[-1])))
        starts, ends = ts[batch["type"] == "session_start"], ts[batch["type"] == "session_end"]
        if len(starts):
            self.start_ts = min(filter(None, (self.start_ts, starts.min())))
        if len(ends):
            self.end_ts = max(filter(None, (self.end_ts, ends.max())))
        self._session.fold(l0_session, batch, "session_id")
        self._minutes.fold(l0_minute, batch, "minute")
        self._fold_online(batch)
        self._fold_explain(batch)
        self._fold_products(batch)
        enters = batch[batch["type"] == "enter"]
        for src, g in enters.groupby(enters["source"].fillna("other"), sort=False):
            cur = self._sources.setdefault(src, [0, set()])
            cur[0] += len(g)
            cur[1].update(u for u in g["user_id"] if u is not None)
        c = batch[batch["type"] == "comment"].tail(LATEST_COMMENTS)  # only the latest are kept
        for r in c[["ts", "user_id", "text"]].itertuples(index=False):
            self._comments.append({"ts": r.ts, "user_id": r.user_id, "text": r.text})

    def _fold_online(self, b: pd.DataFrame) -> None:
        snaps = b[b["type"] == "online_snapshot"]
        if len(snaps):
            peak = int(snaps["count"].max())
            self._snap_peak = peak if self._snap_peak is None else max(self._snap_peak, peak)
            last = snaps.iloc[-1]
            if self._snap_last is None or last["ts"] >= self._snap_last[0]:
                self._snap_last = (last["ts"], int(last["count"]))
            for minute, cnt in snaps.groupby("minute")["count"].max().items():
                self._snap_minute[minute] = max(int(cnt), self._snap_minute.get(minute, 0))
        # Enter/leave concurrency, the catalog's rule: an enter while offline opens a visit, a leave closes it;
        # changes at one instant are summed before the peak is taken.
        el = b[b["type"].isin(("enter", "leave")) & b["user_id"].notna()]
        if el.empty:
            return
        el = el.assign(_rank=(el["type"] == "leave").astype(int)).sort_values(["ts", "_rank"], kind="stable")
        deltas = np.zeros(len(el), dtype=np.int64)
        online = self._online
        for i, (typ, uid) in enumerate(zip(el["type"].to_numpy(), el["user_id"].to_numpy(), strict=True)):
            if typ == "enter" and uid not in online:
                online.add(uid)
                deltas[i] = 1
            elif typ == "leave" and uid in online:
                online.discard(uid)
                deltas[i] = -1
        per_ts = pd.Series(deltas).groupby(el["ts"].to_numpy()).sum()
        level = len(online) - int(deltas.sum()) + per_ts.cumsum()
        self._online_peak = max(self._online_peak, int(level.max()))
        minutes = pd.Series(level.to_numpy(), index=pd.DatetimeIndex(level.index).floor("min"))
        g = minutes.groupby(level=0)
        for minute, peak, last in zip(g.max().index, g.max().to_numpy(), g.last().to_numpy(), strict=True):
            prev = self._online_minute.get(minute, (0, 0))
            self._online_minute[minute] = (max(int(peak), prev[0]), int(last))

    def _fold_explain(self, b: pd.DataFrame) -> None:
        ex = b[b["type"].isin(("explain_start", "explain_end")) & b["product_id"].notna()]
        for r in ex[["ts", "type", "product_id"]].itertuples(index=False):
            self._explain_events.setdefault(r.product_id, []).append((r.ts, r.type))
            if r.type == "explain_start":
                self._explaining, self._explain_since = r.product_id, r.ts
            elif r.product_id == self._explaining:
                self._explaining, self._explain_since = None, None

    def _fold_products(self, b: pd.DataFrame) -> None:
        orders = b[(b["type"] == "order") & b["order_id"].notna() & b["product_id"].notna()]
        for oid, pid in zip(orders["order_id"], orders["product_id"], strict=True):
            self._order_product.setdefault(
                oid, pid
            )  # min() in the catalog; one product per order in practice
        rel = b[b["type"].isin(("product_click", "pay"))]
        if rel.empty:
            return
        pid = rel["product_id"].where(rel["product_id"].notna(), rel["order_id"].map(self._order_product))
        rel = rel.assign(_pid=pid)[pid.notna()]
        amt = rel["amount"].map(lambda v: Decimal(0) if v is None or pd.isna(v) else Decimal(str(v)))
        rel = rel.assign(
            _click=(rel["type"] == "product_click").astype(int),
            _gmv=amt.where(rel["type"] == "pay", Decimal(0)),
        )
        for (minute, p), g in rel.groupby(["minute", "_pid"], sort=False):
            cur = self._product_minute.setdefault((minute, p), [0, Decimal(0)])
            cur[0] += int(g["_click"].sum())
            cur[1] += sum(g["_gmv"], Decimal(0))

    # -- reading ----------------------------------------------------------------------------
    @property
    def ended(self) -> bool:
        return self.end_ts is not None

    def clock(self) -> tuple[pd.Timestamp, pd.Timestamp] | None:
        """The show's span so far, the catalog's rule: session_start/end when seen, else first/last event."""
        if self.first_ts is None:
            return None
        return self.start_ts or self.first_ts, self.end_ts or self.last_ts

    def metrics(self) -> dict[str, Any]:
        """Every catalog metric that does not need visit intervals, plus online now and peak."""
        df = M._normalise(M.add_ratios(pd.DataFrame([self._session.values(self.session_id)])))
        out = {k: M.py_value(df.iloc[0][k]) for k in M.CATALOG if k in df.columns}
        out["peak_online"] = self._snap_peak if self._snap_peak is not None else self._online_peak
        out["online_now"] = self._snap_last[1] if self._snap_last is not None else len(self._online)
        return out

    def minutes(self) -> pd.DataFrame:
        """The per-minute series so far: the timeline's measures and online (snapshots, else concurrency)."""
        span = self.clock()
        if span is None:
            return pd.DataFrame(columns=["minute", "online", *A.TIMELINE_KEYS])
        idx = pd.date_range(span[0].floor("min"), span[1].floor("min"), freq="min")
        rows = [{"minute": m, **self._minutes.values(m)} for m in idx]
        df = M.add_ratios(pd.DataFrame(rows))
        if self._snap_minute:
            df["online"] = df["minute"].map(self._snap_minute).ffill().fillna(0)
        else:
            # The timeline's rule: the minute's peak, or the level carried from the last change before it.
            peak = df["minute"].map(lambda m: self._online_minute.get(m, (np.nan, np.nan))[0])
            last = df["minute"].map(lambda m: self._online_minute.get(m, (np.nan, np.nan))[1])
            df["online"] = np.fmax(peak.astype(float), last.ffill().shift(1).fillna(0).astype(float))
        for c in A.TIMELINE_KEYS:
            if c in df:
                df[c] = pd.to_numeric(df[c]).astype(float)
        return df

    def windows(self) -> pd.DataFrame:
        """Explain windows so far, the catalog's rule: a start runs to the product's next event if that is an
        end, else to the show's end (so far)."""
        end = self.clock()[1] if self.first_ts is not None else None
        rows = []
        for pid, evs in self._explain_events.items():
            for i, (ts, typ) in enumerate(evs):
                if typ != "explain_start":
                    continue
                nxt = evs[i + 1] if i + 1 < len(evs) else None
                rows.append((pid, ts, nxt[0] if nxt and nxt[1] == "explain_end" else max(end, ts)))
        df = pd.DataFrame(rows, columns=["product_id", "start", "end"])
        return df.sort_values(["start", "product_id"], ignore_index=True)

    def whole_minutes(self) -> int:
        """How many minutes of the show are over (the last one counts once the show has ended)."""
        span = self.clock()
        if span is None:
            return 0
        n = int((span[1].floor("min") - span[0].floor("min")) / pd.Timedelta(minutes=1))
        return n + 1 if self.ended else n

    def minute_frame(self) -> pd.DataFrame:
        """The alert detectors' input over whole minutes: the last minute counts only once the show ended."""
        m = self.minutes()
        m = m.merge(A.explaining_per_minute(self.windows(), m), on="minute", how="left")
        gmv = pd.DataFrame(
            [(minute, p, float(v[1])) for (minute, p), v in self._product_minute.items()],
            columns=["minute", "product_id", "gmv"],
        )
        return minute_frame(m, gmv).iloc[: self.whole_minutes()]

    def top_products(self, n: int = 10) -> pd.DataFrame:
        """Clicks and GMV per product over the last five minutes (by event time)."""
        cols = ["product_id", "clicks", "gmv"]
        span = self.clock()
        if span is None:
            return pd.DataFrame(columns=cols)
        since = span[1].floor("min") - pd.Timedelta(minutes=TOP_WINDOW_MINUTES - 1)
        acc: dict[str, list] = {}
        for (minute, pid), (clicks, gmv) in self._product_minute.items():
            if minute >= since:
                a = acc.setdefault(pid, [0, Decimal(0)])
                a[0] += clicks
                a[1] += gmv
        df = pd.DataFrame([(p, c, float(g)) for p, (c, g) in acc.items()], columns=cols)
        return (
            df.sort_values(["gmv", "clicks", "product_id"], ascending=[False, False, True])
            .head(n)
            .reset_index(drop=True)
        )

    def sources(self) -> pd.DataFrame:
        """Views and viewers per entry source (each enter counts under its own source, as in the catalog)."""
        rows = [(src, views, len(users)) for src, (views, users) in self._sources.items()]
        df = pd.DataFrame(rows, columns=["source", "views", "uv"])
        total = df["uv"].sum()
        df["uv_share"] = df["uv"] / total if total else None
        df["source_zh"] = df["source"].map(lambda x: SOURCES.get(x, (x, ""))[0])
        df["source_en"] = df["source"].map(lambda x: SOURCES.get(x, ("", x))[1])
        order = {k: i for i, k in enumerate(SOURCES)}
        return df.sort_values("source", key=lambda c: c.map(lambda x: order.get(x, 99))).reset_index(
            drop=True
        )

    def add_hits(self, hits: pa.Table) -> None:
        """Compliance hits of this session's newly stored comments and transcripts (with a reviewer's
        verdict when they were stored before and judged)."""
        cols = ["hit_id", "ts", "kind", "start", "end", "matched", "text", "rule", "category", "severity"]
        cols += ["suggestion"] + (["verdict"] if "verdict" in hits.column_names else [])
        for h in hits.select(cols).to_pylist():
            h.setdefault("verdict", "")
            self._hits.append(h)
            key = (h["category"], h["severity"])
            self._hit_counts[key] = self._hit_counts.get(key, 0) + 1

    def set_verdict(self, hit_id: str, verdict: str) -> None:
        for h in self._hits:
            if h["hit_id"] == hit_id:
                h["verdict"] = verdict

    def compliance(self) -> dict[str, Any]:
        by_cat: dict[str, dict[str, int]] = {}
        for (cat, sev), n in self._hit_counts.items():
            by_cat.setdefault(cat, {"category": cat, "block": 0, "review": 0, "warn": 0})[sev] = n
        counts = sorted(by_cat.values(), key=lambda r: (-r["block"], -r["review"], r["category"]))
        return {"counts": counts, "latest": list(self._hits)[::-1]}

    def state(self) -> dict[str, Any]:
        """Everything the big screen shows, as plain JSON-able values."""
        return {
            "session_id": self.session_id,
            "room_id": self.room_id,
            "events": self.events,
            "first_ts": self.first_ts,
            "last_ts": self.last_ts,
            "start_ts": self.start_ts,
            "end_ts": self.end_ts,
            "ended": self.ended,
            "metrics": self.metrics(),
            "explaining": {"product_id": self._explaining, "since": self._explain_since}
            if self._explaining
            else None,
            "top_products": self.top_products(),
            "sources": self.sources(),
            "comments": list(self._comments)[::-1],
            "alerts": alerts_frame(self.alerts[::-1]),
            "compliance": self.compliance(),
            "minutes": self.minutes(),
        }


class LiveHub:
    """Live sessions of one store. ``fold(rows)`` takes the rows a write just stored."""

    def __init__(self) -> None:
        self.sessions: dict[str, LiveSession] = {}
        self._con = duckdb.connect()
        self._con.execute("SET TimeZone = 'UTC'")
        self._sql: dict[
            tuple, tuple[str, str, str]
        ] = {}  # per batch schema: the three queries, compiled once

    def _queries(self, schema: pa.Schema) -> tuple[str, str, str]:
        """The catalog's first step per session and per minute, and the batch in time order, as SQL.

        Compiled from the same Ibis expressions as the batch catalog, once per schema: compiling costs more
        than running them on a batch.
        """
        key = tuple((f.name, str(f.type)) for f in schema)
        if key not in self._sql:
            t = ibis.table(ibis.Schema.from_pyarrow(schema), name="_live_batch")
            t = t.mutate(minute=t.ts.truncate("m"))
            exprs = (
                M.level0(t, ["session_id"], SESSION_MEASURES),
                M.level0(t, ["session_id", "minute"], MINUTE_MEASURES),
                t.order_by(["ts", "event_id"]),
            )
            self._sql[key] = tuple(ibis.to_sql(e, dialect="duckdb") for e in exprs)
        return self._sql[key]

    def _frame(self, sql: str) -> pd.DataFrame:
        df = self._con.sql(sql).to_arrow_table().to_pandas()
        for c in df.columns:  # text as Python str with None for missing, as the catalog's frames hold it
            if pd.api.types.is_string_dtype(df[c]) and df[c].dtype != object:
                df[c] = df[c].astype(object).where(df[c].notna(), None)
        return df

    def fold(self, rows: pa.Table) -> list[str]:
        """Fold stored rows into their sessions' state; returns the sessions that changed."""
        if rows.num_rows == 0:
            return []
        q_session, q_minute, q_batch = self._queries(rows.schema)
        self._con.register("_live_batch", rows)
        try:
            l0_s, l0_m, batch = self._frame(q_session), self._frame(q_minute), self._frame(q_batch)
        finally:
            self._con.unregister("_live_batch")
        for df in (batch, l0_m):
            df["minute"] = pd.to_datetime(df["minute"])
        batch["ts"] = pd.to_datetime(batch["ts"])
        changed = []
        for sid, part in batch.groupby("session_id", sort=False):
            s = self.sessions.get(sid) or self.sessions.setdefault(sid, LiveSession(sid))
            s.fold(part, l0_s[l0_s["session_id"] == sid], l0_m[l0_m["session_id"] == sid])
            changed.append(sid)
        return changed

    def close(self) -> None:
        self._con.close()
