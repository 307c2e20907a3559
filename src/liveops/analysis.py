"""Analyses over one session, all built on the catalog: timeline, funnel (五维四率), sources, products, segments."""

from __future__ import annotations

from dataclasses import dataclass, field

import ibis
import ibis.expr.types as ir
import numpy as np
import orjson
import pandas as pd

from . import metrics as M
from .schema import SOURCES

TIMELINE_KEYS = (
    "views",
    "uv",
    "leaves",
    "comment_pv",
    "like_count",
    "interaction_uv",
    "product_click_uv",
    "product_impression_uv",
    "buyers",
    "pay_orders",
    "gmv",
    "refund_amount",
    "ad_cost",
    "ad_impressions",
    "ad_clicks",
    "room_impressions",
    "follow_uv",
    "gift_value",
)


def _session(t: ir.Table, session_id: str) -> ir.Table:
    return t.filter(t.session_id == session_id)


def _to_local(s: pd.Series, tz: str) -> pd.Series:
    return pd.to_datetime(s).dt.tz_localize("UTC").dt.tz_convert(tz)


# ---------------------------------------------------------------------------------------------
# Sessions


def sessions(t: ir.Table, tz: str = "Asia/Shanghai") -> pd.DataFrame:
    """One row per session: room, start, end, duration, title, streamer, event count."""
    b = M.session_bounds(t)
    meta = t.group_by("session_id").aggregate(
        events=t.count(),
        streamer_id=t.streamer_id.max(where=t.type == "session_start"),
        title_attrs=t.attrs.max(where=t.type == "session_start"),
    )
    df = b.join(meta, "session_id").execute()
    df["title"] = df["title_attrs"].map(_title)
    df["duration_seconds"] = (pd.to_datetime(df["end"]) - pd.to_datetime(df["start"])).dt.total_seconds()
    df["start_local"] = _to_local(df["start"], tz)
    df["end_local"] = _to_local(df["end"], tz)
    df = df.drop(columns=["title_attrs"]).sort_values(["start", "session_id"]).reset_index(drop=True)
    return df[
        [
            "session_id",
            "room_id",
            "start",
            "end",
            "start_local",
            "end_local",
            "duration_seconds",
            "title",
            "streamer_id",
            "events",
        ]
    ]


def _title(attrs: str | None) -> str | None:
    if not attrs:
        return None
    try:
        return orjson.loads(attrs).get("title")
    except orjson.JSONDecodeError:
        return None


def previous_sessions(t: ir.Table, session_id: str, n: int = 5) -> list[str]:
    """The room's sessions that started before this one, most recent first (the trailing baseline)."""
    s = sessions(t)
    row = s[s.session_id == session_id]
    if row.empty:
        raise KeyError(session_id)
    room, start = row.iloc[0]["room_id"], row.iloc[0]["start"]
    prev = s[(s.room_id == room) & (s.start < start)].sort_values("start", ascending=False)
    return prev["session_id"].head(n).tolist()


# ---------------------------------------------------------------------------------------------
# Timeline


def timeline(t: ir.Table, session_id: str, tz: str = "Asia/Shanghai") -> pd.DataFrame:
    """Per-minute series: online, entries, leaves, comments, likes, clicks, GMV … and per-minute ratios.

    Minutes are buckets of UTC time (every real time zone offset is whole minutes), shown in ``tz``.
    """
    return localise_timeline(timeline_utc(t, session_id), tz)


def localise_timeline(df: pd.DataFrame, tz: str) -> pd.DataFrame:
    """Add the display-zone minute to a UTC timeline (kept apart so stored timelines serve every zone)."""
    df = df.copy()
    df.insert(len(df.columns) - 1, "minute_local", _to_local(df["minute"], tz))
    return df


def timeline_utc(t: ir.Table, session_id: str, visits: ir.Table | None = None) -> pd.DataFrame:
    s = _session(t, session_id)
    s = s.mutate(minute=s.ts.truncate("m"))
    per = M.compute(s, by=("minute",), with_visits=False, keys=TIMELINE_KEYS)
    b = M.session_bounds(s).execute()
    if b.empty:
        raise KeyError(session_id)
    start = pd.Timestamp(b.iloc[0]["start"]).floor("min")
    end = pd.Timestamp(b.iloc[0]["end"]).floor("min")
    minutes = pd.DataFrame({"minute": pd.date_range(start, end, freq="min")})
    per["minute"] = pd.to_datetime(per["minute"])
    df = minutes.merge(per, on="minute", how="left")
    df = df.merge(_online_per_minute(s, minutes, visits), on="minute", how="left")
    df = df.merge(_explaining_per_minute(s, minutes), on="minute", how="left")
    for c in TIMELINE_KEYS:
        if c in df:
            df[c] = pd.to_numeric(df[c]).fillna(0)
    df = M.add_ratios(df)
    df["elapsed_min"] = np.arange(len(df))
    return df


def _online_per_minute(s: ir.Table, minutes: pd.DataFrame, visits: ir.Table | None = None) -> pd.DataFrame:
    """Online at each minute: the latest platform snapshot, else the peak of enter/leave concurrency."""
    snaps = s.filter(s.type == "online_snapshot")
    snap = snaps.group_by(minute=snaps.ts.truncate("m")).aggregate(online=snaps["count"].max()).execute()
    if len(snap):
        snap["minute"] = pd.to_datetime(snap["minute"])
        df = minutes.merge(snap, on="minute", how="left")
        df["online"] = df["online"].ffill().fillna(0)
        return df
    ch = M.online_changes(M.visits(s) if visits is None else visits)
    per = (
        ch.group_by(minute=ch.ts.truncate("m"))
        .aggregate(peak=ch.online.max(), last=ch.online.argmax(ch.ts))
        .execute()
    )
    per["minute"] = pd.to_datetime(per["minute"])
    df = minutes.merge(per, on="minute", how="left")
    carried = df["last"].ffill().shift(1).fillna(0)
    df["online"] = np.fmax(df["peak"].astype("float64"), carried.astype("float64"))
    return df[["minute", "online"]]


def explain_windows(s: ir.Table) -> ir.Table:
    """Explain segments: each explain_start paired with the next explain_end of the same product."""
    ex = s.filter(s.type.isin(("explain_start", "explain_end")) & s.product_id.notnull())
    w = ibis.window(group_by=[ex.session_id, ex.product_id], order_by=[ex.ts, ex.event_id])
    ex = ex.mutate(_next_type=ex.type.lead().over(w), _next_ts=ex.ts.lead().over(w))
    st = ex.filter(ex.type == "explain_start")
    b = M.session_bounds(s)
    j = st.join(b, st.session_id == b.session_id)
    end = ibis.ifelse(j._next_type == "explain_end", j._next_ts, j.end)
    return j.select(
        session_id=j.session_id, product_id=j.product_id, start=j.ts, end=end, streamer_id=j.streamer_id
    )


def explain_table(s: ir.Table) -> pd.DataFrame:
    """The explain windows of a session in start order."""
    return explain_windows(s).execute().sort_values(["start", "product_id"], ignore_index=True)


def _explaining_per_minute(s: ir.Table, minutes: pd.DataFrame) -> pd.DataFrame:
    return explaining_per_minute(explain_table(s), minutes)


def explaining_per_minute(
    windows: pd.DataFrame, minutes: pd.DataFrame, col: str = "product_id", name: str = "explaining"
) -> pd.DataFrame:
    """The product explained in each minute (or another column of the explain window, e.g. its streamer);
    windows in start order, so where one segment ends and the next begins in the same minute, the newer
    one shows. Shared by the timeline, the live room and the drivers."""
    out = minutes[["minute"]].copy()
    out[name] = None
    for r in windows.itertuples():  # a show has tens of segments, not millions
        v = getattr(r, col)
        if v is None or v != v:  # a window without the value leaves the minute as it was
            continue
        mask = (out["minute"] >= pd.Timestamp(r.start).floor("min")) & (
            out["minute"] <= pd.Timestamp(r.end).floor("min")
        )
        out.loc[mask, name] = v
    return out


def product_gmv_per_minute(t: ir.Table, session_id: str) -> pd.DataFrame:
    """GMV per (minute, product) of a session; pays without a product take their order's."""
    p = with_product(_session(t, session_id))
    p = p.filter((p.type == "pay") & p.product_id.notnull())
    df = (
        p.group_by(minute=p.ts.truncate("m"), product_id=p.product_id).aggregate(gmv=p.amount.sum()).execute()
    )
    df["minute"] = pd.to_datetime(df["minute"])
    df["gmv"] = pd.to_numeric(df["gmv"]).astype(float)
    return df


# ---------------------------------------------------------------------------------------------
# Funnel 五维四率

FUNNEL_STEPS = (
    ("impressions", "直播间曝光", "Room impressions", "room_impressions", "room_impressions"),
    ("entries", "进入直播间", "Entries", "uv", "views"),
    ("product_exposure", "商品曝光", "Product exposure", "product_impression_uv", "product_impression_pv"),
    ("product_click", "商品点击", "Product clicks", "product_click_uv", "product_click_pv"),
    ("purchase", "成交", "Purchases", "buyers", "pay_orders"),
)
FUNNEL_RATES = (
    ("exposure_entry", "曝光-观看率", "Impression → entry"),
    ("entry_exposure", "观看-商品曝光率", "Entry → product exposure"),
    ("exposure_click", "商品曝光-点击率", "Product exposure → click"),
    ("click_pay", "点击-成交转化率", "Click → purchase"),
)


@dataclass
class WeakStep:
    rate: str
    zh: str
    en: str
    value: float
    baseline: float
    change: float  # relative: value / baseline − 1


@dataclass
class Funnel:
    session_id: str
    steps: pd.DataFrame  # step, zh, en, uv, pv
    rates: pd.DataFrame  # rate, zh, en, uv_rate, pv_rate, baseline_uv_rate, change
    by_source: pd.DataFrame  # source rows × step counts and rates (UV and PV)
    baseline_sessions: list[str] = field(default_factory=list)
    weakest: WeakStep | None = None


def _funnel_rows(row: pd.Series) -> tuple[list[float], list[float]]:
    uv = [_num(row.get(u)) for *_, u, _ in FUNNEL_STEPS]
    pv = [_num(row.get(p)) for *_, p in FUNNEL_STEPS]
    # Impressions arrive as aggregated counts (no viewer ids): the UV chain starts from that count.
    uv_rates = [_div(uv[i + 1], uv[i]) for i in range(4)]
    pv_rates = [_div(pv[i + 1], pv[i]) for i in range(4)]
    return uv_rates, pv_rates


def _num(v) -> float:
    try:
        return float(v) if v is not None and not pd.isna(v) else 0.0
    except (TypeError, ValueError):
        return 0.0


def _div(a: float, b: float) -> float | None:
    return a / b if b else None


FUNNEL_KEYS = tuple({k for *_, u, p in FUNNEL_STEPS for k in (u, p)})


def funnel(t: ir.Table, session_id: str, baseline_n: int = 5) -> Funnel:
    s = _session(t, session_id)
    row = M.compute(s, with_visits=False, keys=FUNNEL_KEYS)
    if row.empty:
        raise KeyError(session_id)
    prev = previous_sessions(t, session_id, baseline_n)
    base = funnel_measures(t, prev) if prev else None
    return funnel_from(session_id, row.iloc[0], funnel_by_source(source_measures(s)), prev, base)


def funnel_measures(t: ir.Table, session_ids: list[str]) -> pd.DataFrame:
    """The funnel's counts per session, for the trailing baseline."""
    return M.compute(t.filter(t.session_id.isin(session_ids)), with_visits=False, keys=FUNNEL_KEYS)


def funnel_from(
    session_id: str,
    r: pd.Series,
    by_source: pd.DataFrame,
    prev: list[str],
    baseline: pd.DataFrame | None,
) -> Funnel:
    """The funnel of one session's measures ``r``; the baseline pools the previous sessions' counts."""
    steps = pd.DataFrame(
        [
            {"step": k, "zh": zh, "en": en, "uv": _num(r[u]), "pv": _num(r[p])}
            for k, zh, en, u, p in FUNNEL_STEPS
        ]
    )
    uv_rates, pv_rates = _funnel_rows(r)
    base_rates: list[float | None] = [None] * 4
    if baseline is not None and len(baseline):
        pooled = baseline[list(FUNNEL_KEYS)].apply(pd.to_numeric).sum()
        base_rates, _ = _funnel_rows(pooled)
    rates = pd.DataFrame(
        [
            {
                "rate": k,
                "zh": zh,
                "en": en,
                "uv_rate": uv_rates[i],
                "pv_rate": pv_rates[i],
                "baseline_uv_rate": base_rates[i],
                "change": (uv_rates[i] / base_rates[i] - 1)
                if uv_rates[i] is not None and base_rates[i]
                else None,
            }
            for i, (k, zh, en) in enumerate(FUNNEL_RATES)
        ]
    )
    weakest = None
    cand = rates.dropna(subset=["change"])
    if len(cand):
        w = cand.loc[cand["change"].astype(float).idxmin()]
        weakest = WeakStep(w["rate"], w["zh"], w["en"], w["uv_rate"], w["baseline_uv_rate"], w["change"])
    return Funnel(session_id, steps, rates, by_source, prev, weakest)


def with_source(s: ir.Table) -> ir.Table:
    """Each event with a traffic source: its own for enter/room_impression, else the viewer's first entry source."""
    enters = s.filter((s.type == "enter") & s.user_id.notnull())
    w = ibis.window(group_by=[enters.session_id, enters.user_id], order_by=[enters.ts, enters.event_id])
    first = enters.mutate(_rn=ibis.row_number().over(w)).filter(lambda x: x._rn == 0)
    first = first.select(_sid=first.session_id, _uid=first.user_id, _first_source=first.source)
    j = s.left_join(first, (s.session_id == first._sid) & (s.user_id == first._uid))
    src = ibis.ifelse(j.type.isin(("enter", "room_impression")), j.source, j._first_source)
    return j.mutate(src=src.fill_null("other")).drop("_sid", "_uid", "_first_source")


def source_measures(s: ir.Table) -> pd.DataFrame:
    """Catalog measures per traffic source of one session, for both the sources table and the funnel."""
    return M.compute(with_source(s), by=("src",), with_visits=False, keys=(*SOURCE_KEYS, *FUNNEL_KEYS))


def funnel_by_source(per: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for _, r in per.iterrows():
        uv_rates, pv_rates = _funnel_rows(r)
        d = {"source": r["src"], "source_zh": SOURCES.get(r["src"], (r["src"], ""))[0]}
        for k, *_rest, u, p in FUNNEL_STEPS:
            d[f"{k}_uv"], d[f"{k}_pv"] = _num(r[u]), _num(r[p])
        for i, (k, *_x) in enumerate(FUNNEL_RATES):
            d[f"{k}_uv_rate"], d[f"{k}_pv_rate"] = uv_rates[i], pv_rates[i]
        rows.append(d)
    return _order_sources(pd.DataFrame(rows))


def _order_sources(df: pd.DataFrame) -> pd.DataFrame:
    if df.empty:
        return df
    order = {s: i for i, s in enumerate(SOURCES)}
    return df.sort_values("source", key=lambda c: c.map(lambda x: order.get(x, 99))).reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# Traffic sources

SOURCE_KEYS = (
    "views",
    "uv",
    "buyers",
    "gmv",
    "pay_orders",
    "room_impressions",
    "interaction_uv",
    "follow_uv",
)


def sources(t: ir.Table, session_id: str) -> pd.DataFrame:
    """Views, UV, GMV, UV value, conversion and watch time per traffic source (first-touch for purchases)."""
    s = _session(t, session_id)
    return sources_from(source_measures(s), source_watch(M.visits(s)))


def source_watch(v: ir.Table) -> pd.DataFrame:
    """Watch time and visits per entry source."""
    return (
        v.group_by(source=v.source.fill_null("other"))
        .aggregate(watch_seconds=v.seconds.sum(), visits=v.count())
        .execute()
    )


def sources_from(per: pd.DataFrame, watch: pd.DataFrame) -> pd.DataFrame:
    per = per[["src", *SOURCE_KEYS]].rename(columns={"src": "source"})
    df = per.merge(watch, on="source", how="outer")
    for c in (*SOURCE_KEYS, "watch_seconds", "visits"):
        df[c] = pd.to_numeric(df[c]).fillna(0)
    df = M.add_ratios(df)
    total_uv, total_gmv = df["uv"].sum(), df["gmv"].sum()
    df["uv_share"] = df["uv"] / total_uv if total_uv else None
    df["gmv_share"] = df["gmv"] / total_gmv if total_gmv else None
    df["source_zh"] = df["source"].map(lambda x: SOURCES.get(x, (x, ""))[0])
    df["source_en"] = df["source"].map(lambda x: SOURCES.get(x, ("", x))[1])
    cols = [
        "source",
        "source_zh",
        "source_en",
        "views",
        "uv",
        "uv_share",
        "buyers",
        "gmv",
        "gmv_share",
        "uv_value",
        "conversion_rate",
        "avg_watch_seconds",
        "interaction_rate",
        "follow_rate",
        "pay_orders",
    ]
    return _order_sources(df[cols])


# ---------------------------------------------------------------------------------------------
# Products


def with_product(s: ir.Table) -> ir.Table:
    """Pays and refunds without a product_id take the product of their order."""
    o = s.filter((s.type == "order") & s.order_id.notnull())
    o = o.group_by(_sid=o.session_id, _oid=o.order_id).aggregate(_op=o.product_id.min())
    j = s.left_join(o, (s.session_id == o._sid) & (s.order_id == o._oid))
    return j.mutate(product_id=j.product_id.fill_null(j._op)).drop("_sid", "_oid", "_op")


PRODUCT_KEYS = (
    "product_impression_uv",
    "product_impression_pv",
    "product_click_uv",
    "product_click_pv",
    "cart_uv",
    "orders",
    "order_uv",
    "pay_orders",
    "buyers",
    "gmv",
    "refund_amount",
    "items_ordered",
)


def products(t: ir.Table, session_id: str, dim: ir.Table | None = None) -> pd.DataFrame:
    """Per product: exposure, clicks, CTR, orders, GMV, explain count and time, GMV per minute in vs out of explain."""
    return name_products(product_measures(t, session_id), dim)


def product_measures(t: ir.Table, session_id: str) -> pd.DataFrame:
    """The product table without the product dimension (which can be re-imported at any time)."""
    s = with_product(_session(t, session_id))
    s = s.filter(s.product_id.notnull())
    per = M.compute(s, by=("product_id",), with_visits=False, keys=PRODUCT_KEYS)
    win = explain_windows(_session(t, session_id))
    wdf = win.execute()
    b = M.session_bounds(_session(t, session_id)).execute()
    dur_min = (
        (pd.Timestamp(b.iloc[0]["end"]) - pd.Timestamp(b.iloc[0]["start"])).total_seconds() / 60
        if len(b)
        else 0
    )
    inside = _inside_explain(s, win)
    df = per.merge(inside, on="product_id", how="left")
    if len(wdf):
        wdf["minutes"] = (pd.to_datetime(wdf["end"]) - pd.to_datetime(wdf["start"])).dt.total_seconds() / 60
        ex = wdf.groupby("product_id").agg(
            explain_count=("start", "size"), explain_minutes=("minutes", "sum")
        )
        df = df.merge(ex.reset_index(), on="product_id", how="outer")
    else:
        df["explain_count"], df["explain_minutes"] = 0, 0.0
    for c in (
        *PRODUCT_KEYS,
        "gmv_in_explain",
        "clicks_in_explain",
        "orders_in_explain",
        "explain_count",
        "explain_minutes",
    ):
        df[c] = pd.to_numeric(df[c]).fillna(0)
    df = M.add_ratios(df)
    out_min = (dur_min - df["explain_minutes"]).where(lambda x: x > 0)
    ex_min = df["explain_minutes"].where(lambda x: x > 0)
    df["gmv_per_min_explain"] = df["gmv_in_explain"] / ex_min
    df["gmv_per_min_other"] = (df["gmv"] - df["gmv_in_explain"]) / out_min
    df["clicks_per_min_explain"] = df["clicks_in_explain"] / ex_min
    df["clicks_per_min_other"] = (df["product_click_pv"] - df["clicks_in_explain"]) / out_min
    df["explain_lift_gmv"] = df["gmv_per_min_explain"] / df["gmv_per_min_other"].where(lambda x: x > 0)
    df["explain_lift_clicks"] = df["clicks_per_min_explain"] / df["clicks_per_min_other"].where(
        lambda x: x > 0
    )
    order = df.sort_values("product_id").sort_values(
        ["gmv", "product_click_uv"], ascending=False, kind="stable"
    )
    return order.reset_index(drop=True)


def name_products(df: pd.DataFrame, dim: ir.Table | None) -> pd.DataFrame:
    """Join names, prices and categories from the product dimension."""
    if dim is not None:
        d = dim.execute()
        if len(d):
            d["price"] = pd.to_numeric(d["price"]).astype(float)
            df = df.merge(d, on="product_id", how="left")
    for c in ("name", "price", "category"):
        if c not in df:
            df[c] = None
    return df[PRODUCT_COLUMNS]


PRODUCT_COLUMNS = [
    "product_id",
    "name",
    "category",
    "price",
    "product_impression_uv",
    "product_impression_pv",
    "product_click_uv",
    "product_click_pv",
    "product_ctr",
    "cart_uv",
    "orders",
    "pay_orders",
    "buyers",
    "gmv",
    "refund_amount",
    "click_pay_rate",
    "order_pay_rate",
    "explain_count",
    "explain_minutes",
    "gmv_in_explain",
    "clicks_in_explain",
    "orders_in_explain",
    "gmv_per_min_explain",
    "gmv_per_min_other",
    "explain_lift_gmv",
    "clicks_per_min_explain",
    "clicks_per_min_other",
    "explain_lift_clicks",
]


def _inside_explain(s: ir.Table, win: ir.Table) -> pd.DataFrame:
    """GMV, clicks and orders of each product that happened while that product was being explained."""
    ev = s.filter(s.type.isin(("pay", "product_click", "order")))
    w = win.select(_pid=win.product_id, _ws=win.start, _we=win.end)
    j = ev.join(w, (ev.product_id == w._pid) & (ev.ts >= w._ws) & (ev.ts < w._we))
    # An event inside two overlapping windows of the same product counts once.
    j = j.select("event_id", "product_id", "type", "amount").distinct()
    return (
        j.group_by("product_id")
        .aggregate(
            gmv_in_explain=j.amount.sum(where=j.type == "pay"),
            clicks_in_explain=(j.type == "product_click").sum(),
            orders_in_explain=(j.type == "order").sum(),
        )
        .execute()
    )


# ---------------------------------------------------------------------------------------------
# Content segments


@dataclass
class Segments:
    session_id: str
    segments: pd.DataFrame
    retention: pd.DataFrame  # minute since entering → share of viewers still online
    lost_5min_rate: float | None


SEGMENT_COLUMNS = [
    "segment",
    "product_id",
    "start",
    "end",
    "minutes",
    "viewers_at_start",
    "retention",
    "interactions_per_min",
    "clicks",
    "product_clicks",
    "orders",
    "gmv",
    "gmv_per_min",
    "clicks_per_min",
    "score",
]


def segments(t: ir.Table, session_id: str, max_minutes: int = 30, visits: ir.Table | None = None) -> Segments:
    """Each explain segment scored on retention, interaction, clicks and GMV; and the retention curve."""
    s = _session(t, session_id)
    win = explain_table(s)
    v = M.visits(s) if visits is None else visits
    vdf = v.select("user_id", "start", "end", "seconds", "first", "since_start_ms").execute()
    ev = s.filter(s.type.isin((*M.INTERACTION_TYPES, "product_click", "pay", "order")))
    ev = with_product(ev)
    ev = ev.select("ts", "type", "product_id", amount=ev.amount.cast("float64")).execute()
    rows = []
    vs = pd.to_datetime(vdf["start"]).to_numpy()
    ve = pd.to_datetime(vdf["end"]).to_numpy()
    ucode = pd.factorize(vdf["user_id"])[0]  # integer viewer ids: distinct counts per segment stay cheap
    typ = ev["type"].to_numpy()
    prod = ev["product_id"].to_numpy()
    is_inter = np.isin(typ, M.INTERACTION_TYPES)
    ets = pd.to_datetime(ev["ts"]).to_numpy()
    amt = pd.to_numeric(ev["amount"]).astype(float).fillna(0).to_numpy()
    for i, r in win.iterrows():
        st, en = np.datetime64(pd.Timestamp(r["start"])), np.datetime64(pd.Timestamp(r["end"]))
        minutes = max((en - st) / np.timedelta64(1, "s") / 60, 1e-9)
        online_start = (vs <= st) & (ve > st)
        viewers = len(np.unique(ucode[online_start]))
        stayed = len(np.unique(ucode[online_start & (ve >= en)]))
        inside = (ets >= st) & (ets < en)
        rows.append(
            {
                "segment": i + 1,
                "product_id": r["product_id"],
                "start": r["start"],
                "end": r["end"],
                "minutes": minutes,
                "viewers_at_start": viewers,
                "retention": stayed / viewers if viewers else None,
                "interactions_per_min": int((inside & is_inter).sum()) / minutes,
                "clicks": int((inside & (typ == "product_click")).sum()),
                "product_clicks": int((inside & (typ == "product_click") & (prod == r["product_id"])).sum()),
                "orders": int((inside & (typ == "order")).sum()),
                "gmv": float(amt[inside & (typ == "pay")].sum()),
            }
        )
    seg = pd.DataFrame(rows, columns=SEGMENT_COLUMNS[:-3])
    seg["gmv_per_min"] = seg["gmv"] / seg["minutes"]
    seg["clicks_per_min"] = seg["clicks"] / seg["minutes"]
    parts = [
        seg[c].astype(float).rank(pct=True)
        for c in ("retention", "interactions_per_min", "clicks_per_min", "gmv_per_min")
    ]
    seg["score"] = (sum(p.fillna(0) for p in parts) / len(parts) * 100).round(1)
    first = vdf[vdf["first"]]
    n = len(first)
    secs = first["seconds"].to_numpy(dtype=float)
    ks = np.arange(0, max_minutes + 1)
    retention = pd.DataFrame(
        {"minute": ks, "retained": [(secs >= k * 60).sum() / n if n else None for k in ks]}
    )
    opening = first[first["since_start_ms"] < 300_000]
    lost = float((opening["seconds"] < 300).mean()) if len(opening) else None  # same rule as lost_5min_rate
    return Segments(session_id, seg, retention, lost)
