"""The post-show review (复盘): one offline HTML file with charts, and an Excel workbook.

``build_review(ws, session_id)`` gathers everything a review needs (KPIs vs the previous show,
the per-minute timeline, the 五维四率 funnel, traffic sources, products, explain segments, the
most frequent viewer questions and complaints, and rule-based suggestions) into a :class:`Review`.
``write_html`` renders it as a single self-contained file (plotly.js embedded once, no external
URL); ``write_xlsx`` writes one sheet per table.
"""

from __future__ import annotations

import datetime as dt
import html
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd

from . import analysis as A
from . import compliance_store as CS
from . import output as O
from .comments import Comments
from .metrics import CATALOG
from .suggest import Suggestion, suggest

FONT_STACK = (
    '"Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "PingFang SC", "Hiragino Sans GB", '
    '"Microsoft YaHei", "WenQuanYi Micro Hei", "Helvetica Neue", Arial, sans-serif'
)

# ---------------------------------------------------------------------------------------------
# The review


@dataclass
class Review:
    session_id: str
    room_id: str
    title: str | None
    streamer_id: str | None
    start_local: pd.Timestamp
    end_local: pd.Timestamp
    duration_seconds: float
    tz: str
    metrics: dict[str, Any]
    prev_session_id: str | None
    prev_metrics: dict[str, Any] | None
    timeline: pd.DataFrame
    explain: pd.DataFrame  # product_id, name, start, end (local, tz-naive)
    funnel: A.Funnel
    sources: pd.DataFrame
    products: pd.DataFrame
    segments: A.Segments
    comments: Comments
    suggestions: list[Suggestion]
    alerts: pd.DataFrame  # time (local), severity, rule, message_zh, message_en
    compliance: Any = None  # liveops.compliance_store.ComplianceReview, when the store has one
    experiments: list = field(default_factory=list)  # liveops.experiments.ExperimentResult
    drivers: Any = None  # liveops.drivers.DriversResult
    generated_at: dt.datetime = field(default_factory=lambda: dt.datetime.now().astimezone())

    def product_name(self, pid: str | None) -> str:
        return _product_names(self.products).get(pid, pid or "—")


def _product_names(products: pd.DataFrame) -> dict[str, str]:
    if products is None or products.empty:
        return {}
    return {
        r.product_id: (r.name if isinstance(r.name, str) and r.name else r.product_id)
        for r in products[["product_id", "name"]].itertuples()
    }


def _naive_local(s: pd.Series, tz: str) -> pd.Series:
    """UTC-naive or tz-aware timestamps → wall-clock time in ``tz`` without a zone (for charts and Excel)."""
    s = pd.to_datetime(s)
    if s.dt.tz is None:
        s = s.dt.tz_localize("UTC")
    return s.dt.tz_convert(tz).dt.tz_localize(None)


def build_review(ws, session_id: str | None = None) -> Review:
    """Everything the 复盘 needs for one session of a :class:`liveops.api.Workspace`."""
    sid = ws.resolve_session(session_id)
    t = ws.events
    tz = ws.tz
    sess = ws.sessions()
    info = sess[sess["session_id"] == sid].iloc[0]
    metrics = ws.metric_values(sid)
    prev_ids = A.previous_sessions(t, sid, 1)
    prev_id = prev_ids[0] if prev_ids else None
    prev_metrics = ws.metric_values(prev_id) if prev_id else None
    timeline = ws.timeline(sid)
    funnel = ws.funnel_result(sid)
    sources = ws.sources(sid)
    products = ws.products(sid)
    segments = ws.segments(sid)
    win = ws.explain_windows(sid)
    names = _product_names(products)
    explain = pd.DataFrame(
        {
            "product_id": win["product_id"],
            "name": win["product_id"].map(lambda p: names.get(p, p)),
            "start": _naive_local(win["start"], tz) if len(win) else pd.Series(dtype="datetime64[ns]"),
            "end": _naive_local(win["end"], tz) if len(win) else pd.Series(dtype="datetime64[ns]"),
        }
    ).sort_values("start", ignore_index=True)
    comments = ws.comments(sid)
    seg_named = segments.segments.copy()
    if len(seg_named):
        seg_named["name"] = seg_named["product_id"].map(lambda p: names.get(p, p))
    suggestions = suggest(metrics, prev_metrics, funnel, seg_named)

    def _s(v):
        return None if v is None or (isinstance(v, float) and pd.isna(v)) else str(v)

    return Review(
        session_id=sid,
        room_id=str(info["room_id"]),
        title=_s(info["title"]),
        streamer_id=_s(info["streamer_id"]),
        start_local=pd.Timestamp(info["start_local"]),
        end_local=pd.Timestamp(info["end_local"]),
        duration_seconds=float(info["duration_seconds"]),
        tz=tz,
        metrics=metrics,
        prev_session_id=prev_id,
        prev_metrics=prev_metrics,
        timeline=timeline,
        explain=explain,
        funnel=funnel,
        sources=sources,
        products=products,
        segments=segments,
        comments=comments,
        suggestions=suggestions,
        alerts=_alerts_view(ws.alerts(sid), tz),
        compliance=ws.compliance(sid),
        experiments=ws.experiments(sid),
        drivers=ws.drivers(sid),
    )


def _alerts_view(alerts: pd.DataFrame, tz: str) -> pd.DataFrame:
    out = alerts[["minute", "severity", "rule", "message_zh", "message_en"]].copy()
    minute = out.pop("minute")
    out.insert(0, "time", _naive_local(minute, tz) if len(out) else pd.Series(dtype="datetime64[ns]"))
    return out


# ---------------------------------------------------------------------------------------------
# Values and deltas

KPI_CARDS = (
    "gmv",
    "uv",
    "peak_online",
    "avg_online",
    "avg_watch_seconds",
    "buyers",
    "conversion_rate",
    "aov",
    "uv_value",
    "gpm",
    "exposure_entry_rate",
    "interaction_rate",
    "product_ctr",
    "click_pay_rate",
    "refund_rate",
    "roi",
)
LOWER_IS_BETTER = {
    "refund_rate",
    "refund_order_rate",
    "refund_amount",
    "refund_orders",
    "lost_5min_rate",
    "lost_5min_uv",
    "ad_cost_ratio",
    "cpm",
    "cpc",
    "cost_per_viewer",
    "leaves",
    "unpaid_orders",
}
NEUTRAL = {"ad_cost", "ad_impressions", "ad_clicks", "duration_seconds", "peak_avg_ratio", "visits"}
PLAIN_RATIOS = {"roi", "roi_net", "peak_avg_ratio", "explain_lift_gmv", "explain_lift_clicks"}


def is_pct(key: str) -> bool:
    m = CATALOG.get(key)
    if key in PLAIN_RATIOS:
        return False
    if m is not None:
        return m.unit == "ratio"
    return key.endswith(("rate", "_share", "retention", "retained", "change"))


def is_money(key: str) -> bool:
    m = CATALOG.get(key)
    if m is not None:
        return m.unit == "元"
    return key in {"price", "gmv_in_explain", "gmv_per_min", "gmv_per_min_explain", "gmv_per_min_other"}


def fmt(key: str, v: Any) -> str:
    """A value for people: ¥ money, % rates, seconds, thousands separators; '—' when missing."""
    v = O.plain(v)
    if v is None:
        return "—"
    if isinstance(v, str):
        return v
    m = CATALOG.get(key)
    if (m is not None and m.unit == "秒") or key.endswith("seconds"):
        return f"{v:,.1f} 秒" if not float(v).is_integer() else f"{v:,.0f} 秒"
    if is_pct(key):
        return f"{v * 100:.2f}%"
    if is_money(key):
        return f"¥{v:,.2f}"
    if key in PLAIN_RATIOS:
        return f"{v:,.2f}"
    if isinstance(v, float):
        return f"{int(v):,}" if v.is_integer() else f"{v:,.2f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


@dataclass
class Delta:
    text: str  # "▲ 12.3%" / "▼ 1.20 pp" / "—"
    css: str  # good | bad | flat | none


def delta(key: str, cur: Any, prev: Any) -> Delta:
    cur, prev = O.plain(cur), O.plain(prev)
    if cur is None or prev is None or isinstance(cur, str) or isinstance(prev, str):
        return Delta("—", "none")
    diff = float(cur) - float(prev)
    if is_pct(key):
        text = f"{abs(diff) * 100:.2f} pp"
        rel = diff
    elif prev == 0:
        text, rel = ("新增 new" if diff else "0"), diff
    else:
        rel = diff / abs(float(prev))
        text = f"{abs(rel) * 100:.1f}%"
    if abs(rel) < 1e-12:
        return Delta("持平 =", "flat")
    arrow = "▲" if diff > 0 else "▼"
    if key in NEUTRAL:
        css = "flat"
    else:
        good = diff > 0
        if key in LOWER_IS_BETTER:
            good = not good
        css = "good" if good else "bad"
    return Delta(f"{arrow} {text}", css)


def _label(key: str) -> tuple[str, str]:
    m = CATALOG.get(key)
    return (m.zh, m.en) if m else (key, key)


# ---------------------------------------------------------------------------------------------
# Charts

PALETTE = ["#2563eb", "#f97316", "#10b981", "#a855f7", "#ef4444", "#0ea5e9", "#eab308", "#64748b"]
EXPLAIN_FILLS = ["#6366f1", "#f59e0b", "#10b981", "#ec4899", "#0ea5e9", "#84cc16"]


def _layout(fig, height: int, **kw) -> None:
    base = dict(
        template="plotly_white",
        height=height,
        margin=dict(l=60, r=60, t=40, b=50),
        font=dict(family=FONT_STACK, size=12, color="#1f2937"),
        legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="left", x=0),
        hoverlabel=dict(font_family=FONT_STACK),
    )
    fig.update_layout(**{**base, **kw})


def _fig_html(fig, height: int) -> str:
    return fig.to_html(
        full_html=False,
        include_plotlyjs=False,
        default_height=f"{height}px",
        default_width="100%",
        config={"displaylogo": False, "responsive": True, "modeBarButtonsToRemove": ["lasso2d", "select2d"]},
    )


def _short(s: str, n: int = 8) -> str:
    return s if len(s) <= n else s[: n - 1] + "…"


def _explain_shapes(fig, rv: Review, labels: bool) -> None:
    ex = rv.explain
    if ex.empty:
        return
    colours = {
        p: EXPLAIN_FILLS[i % len(EXPLAIN_FILLS)] for i, p in enumerate(dict.fromkeys(ex["product_id"]))
    }
    for i, r in enumerate(ex.itertuples()):
        fig.add_vrect(
            x0=r.start,
            x1=r.end,
            fillcolor=colours[r.product_id],
            opacity=0.13,
            line_width=0,
            layer="below",
        )
        if labels:
            fig.add_annotation(
                x=r.start + (r.end - r.start) / 2,
                y=1.0 - 0.09 * (i % 3),
                xref="x",
                yref="paper",
                text=html.escape(_short(str(r.name))),
                showarrow=False,
                yanchor="top",
                font=dict(size=10, color=colours[r.product_id]),
                bgcolor="rgba(255,255,255,0.75)",
            )


def fig_online(rv: Review) -> str:
    import plotly.graph_objects as go

    tl = rv.timeline
    x = _naive_local(tl["minute_local"], rv.tz)
    fig = go.Figure()
    fig.add_trace(
        go.Bar(
            x=x,
            y=tl["views"],
            name="进入 Entries/min",
            marker_color="#bfdbfe",
            opacity=0.7,
            yaxis="y2",
            hovertemplate="%{y:,} 次<extra>进入 Entries</extra>",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=x,
            y=tl["online"],
            name="在线人数 Online",
            mode="lines",
            line=dict(color=PALETTE[0], width=2.5, shape="spline", smoothing=0.4),
            fill="tozeroy",
            fillcolor="rgba(37,99,235,0.08)",
            hovertemplate="%{y:,.0f} 人<extra>在线 Online</extra>",
        )
    )
    ex = rv.explain
    if not ex.empty:
        mid = ex["start"] + (ex["end"] - ex["start"]) / 2
        fig.add_trace(
            go.Scatter(
                x=mid,
                y=[0] * len(ex),
                mode="markers",
                marker=dict(symbol="triangle-up", size=9, color="#6366f1"),
                name="讲解 Explaining",
                text=[
                    f"{html.escape(str(r.name))} ({html.escape(str(r.product_id))})<br>{r.start:%H:%M}–{r.end:%H:%M}"
                    for r in ex.itertuples()
                ],
                hovertemplate="%{text}<extra>讲解 Explain</extra>",
            )
        )
    if len(tl) and tl["online"].max() > 0:
        i = int(tl["online"].to_numpy().argmax())
        fig.add_annotation(
            x=x.iloc[i],
            y=float(tl["online"].iloc[i]),
            text=f"峰值 Peak {tl['online'].iloc[i]:,.0f}",
            showarrow=True,
            arrowhead=2,
            ax=0,
            ay=-22,
            font=dict(size=11, color=PALETTE[0]),
            bgcolor="rgba(255,255,255,0.85)",
        )
    _explain_shapes(fig, rv, labels=True)
    top = float(tl["online"].max() or 1)
    vtop = float(tl["views"].max() or 1)
    _layout(
        fig,
        440,
        hovermode="x unified",
        xaxis=dict(title=f"时间 Time ({rv.tz})", tickformat="%H:%M"),
        # Headroom above the curve for the explain labels; entry bars kept to the lower half.
        yaxis=dict(title="在线人数 Online", range=[0, top * 1.6]),
        yaxis2=dict(
            title="进入/分钟 Entries/min", overlaying="y", side="right", showgrid=False, range=[0, vtop * 2.2]
        ),
    )
    return _fig_html(fig, 440)


def fig_gmv(rv: Review) -> str:
    import plotly.graph_objects as go

    tl = rv.timeline
    x = _naive_local(tl["minute_local"], rv.tz)
    fig = go.Figure()
    fig.add_trace(
        go.Bar(
            x=x,
            y=tl["gmv"],
            name="每分钟成交 GMV/min",
            marker_color=PALETTE[1],
            hovertemplate="¥%{y:,.2f}<extra>GMV/min</extra>",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=x,
            y=tl["gmv"].cumsum(),
            name="累计成交 Cumulative GMV",
            mode="lines",
            yaxis="y2",
            line=dict(color=PALETTE[2], width=2),
            hovertemplate="¥%{y:,.2f}<extra>累计 Cumulative</extra>",
        )
    )
    _explain_shapes(fig, rv, labels=False)
    _layout(
        fig,
        360,
        hovermode="x unified",
        xaxis=dict(title=f"时间 Time ({rv.tz})", tickformat="%H:%M"),
        yaxis=dict(title="成交金额/分钟 GMV per min (¥)", rangemode="tozero"),
        yaxis2=dict(
            title="累计 Cumulative (¥)", overlaying="y", side="right", showgrid=False, rangemode="tozero"
        ),
    )
    return _fig_html(fig, 360)


def fig_compliance(rv: Review) -> str | None:
    """Compliance hits (block and review) per minute, stacked by category."""
    import plotly.graph_objects as go

    cp = rv.compliance
    if cp is None or cp.per_minute.empty:
        return None
    pm = cp.per_minute.assign(minute=_naive_local(cp.per_minute["minute"], rv.tz))
    fig = go.Figure()
    for i, (cat, g) in enumerate(pm.groupby("category", sort=True)):
        zh, en = cp.categories.get(cat, (cat, cat))
        fig.add_trace(
            go.Bar(x=g["minute"], y=g["hits"], name=f"{zh} {en}", marker_color=PALETTE[i % len(PALETTE)])
        )
    _layout(
        fig,
        300,
        barmode="stack",
        showlegend=True,
        xaxis=dict(title=f"时间 Time ({rv.tz})", tickformat="%H:%M"),
        yaxis=dict(title="命中 Hits", rangemode="tozero"),
    )
    return _fig_html(fig, 300)


def fig_funnel(rv: Review) -> str:
    """五维 funnel drawn Compass-style: widths are illustrative (impressions dwarf buyers), labels are actual."""
    import plotly.graph_objects as go

    st = rv.funnel.steps
    uv = [float(x) for x in st["uv"]]
    rates = [None] + [uv[i] / uv[i - 1] if uv[i - 1] else None for i in range(1, len(uv))]
    text = [
        f"<b>{v:,.0f}</b>" + ("" if r is None else f"  ·  {r:.2%}") for v, r in zip(uv, rates, strict=True)
    ]
    widths = [100 - 15 * i for i in range(len(uv))]
    fig = go.Figure(
        go.Funnel(
            y=[f"{r.zh}<br>{r.en}" for r in st.itertuples()],
            x=widths,
            text=text,
            textinfo="text",
            textposition="inside",
            textfont=dict(color="#ffffff", size=13),
            customdata=uv,
            marker=dict(color=PALETTE[:5]),
            connector=dict(line=dict(color="#cbd5e1", width=1), fillcolor="#eef2ff"),
            hovertemplate="%{y}<br>%{customdata:,.0f} 人 UV<extra></extra>",
        )
    )
    fig.add_annotation(
        x=1,
        y=-0.06,
        xref="paper",
        yref="paper",
        showarrow=False,
        xanchor="right",
        text="宽度为示意，数字为实际人数 · 逐级转化率 Widths illustrative; numbers are UV · step rate",
        font=dict(size=10.5, color="#6b7280"),
    )
    _layout(fig, 380, margin=dict(l=150, r=20, t=10, b=40), showlegend=False)
    return _fig_html(fig, 380)


def fig_sources(rv: Review) -> str:
    import plotly.graph_objects as go

    s = rv.sources
    s = s[(s["uv"] > 0) | (s["gmv"] > 0)]
    names = [f"{r.source_zh}<br>{r.source_en}" for r in s.itertuples()]
    fig = go.Figure()
    fig.add_trace(
        go.Bar(
            x=names,
            y=s["uv_share"],
            name="观看人数占比 UV share",
            marker_color=PALETTE[0],
            texttemplate="%{y:.1%}",
            textposition="outside",
        )
    )
    fig.add_trace(
        go.Bar(
            x=names,
            y=s["gmv_share"],
            name="成交金额占比 GMV share",
            marker_color=PALETTE[1],
            texttemplate="%{y:.1%}",
            textposition="outside",
        )
    )
    _layout(fig, 360, barmode="group", yaxis=dict(tickformat=".0%", rangemode="tozero"))
    return _fig_html(fig, 360)


def fig_retention(rv: Review) -> str:
    import plotly.graph_objects as go

    r = rv.segments.retention
    fig = go.Figure(
        go.Scatter(
            x=r["minute"],
            y=r["retained"],
            mode="lines+markers",
            name="仍在线 Still watching",
            line=dict(color=PALETTE[3], width=2.5),
            marker=dict(size=5),
            fill="tozeroy",
            fillcolor="rgba(168,85,247,0.08)",
            hovertemplate="第 %{x} 分钟 minute %{x}: %{y:.1%}<extra></extra>",
        )
    )
    fig.add_vline(x=5, line_dash="dot", line_color="#ef4444")
    fig.add_annotation(
        x=5,
        y=1,
        yref="paper",
        text="5分钟 5 min",
        showarrow=False,
        xanchor="left",
        yanchor="top",
        font=dict(color="#ef4444", size=11),
    )
    _layout(
        fig,
        340,
        showlegend=False,
        xaxis=dict(title="进入后分钟数 Minutes since entering", dtick=5),
        yaxis=dict(title="留存 Retained", tickformat=".0%", range=[0, 1.05]),
    )
    return _fig_html(fig, 340)


# ---------------------------------------------------------------------------------------------
# HTML


def _kpi_cards(rv: Review) -> list[dict]:
    cards = []
    for k in KPI_CARDS:
        zh, en = _label(k)
        prev = rv.prev_metrics.get(k) if rv.prev_metrics else None
        d = delta(k, rv.metrics.get(k), prev)
        cards.append(
            {
                "key": k,
                "zh": zh,
                "en": en,
                "value": fmt(k, rv.metrics.get(k)),
                "prev": fmt(k, prev) if rv.prev_metrics else None,
                "delta": d.text,
                "css": d.css,
            }
        )
    return cards


def _all_metrics(rv: Review) -> list[dict]:
    rows = []
    for k, m in CATALOG.items():
        if k not in rv.metrics:
            continue
        prev = rv.prev_metrics.get(k) if rv.prev_metrics else None
        d = delta(k, rv.metrics.get(k), prev)
        rows.append(
            {
                "key": k,
                "zh": m.zh,
                "en": m.en,
                "dim": m.dimension,
                "value": fmt(k, rv.metrics.get(k)),
                "prev": fmt(k, prev),
                "delta": d.text,
                "css": d.css,
                "definition": m.definition,
            }
        )
    return rows


def _rate_rows(rv: Review) -> list[dict]:
    pm = rv.prev_metrics or {}

    def ratio(a, b):
        a, b = O.plain(pm.get(a)), O.plain(pm.get(b))
        return a / b if a is not None and b else None

    prev_rates = {
        "exposure_entry": ratio("uv", "room_impressions"),
        "entry_exposure": ratio("product_impression_uv", "uv"),
        "exposure_click": ratio("product_click_uv", "product_impression_uv"),
        "click_pay": ratio("buyers", "product_click_uv"),
    }
    weakest = rv.funnel.weakest.rate if rv.funnel.weakest else None
    rows = []
    for r in rv.funnel.rates.itertuples():
        ch = O.plain(r.change)
        rows.append(
            {
                "zh": r.zh,
                "en": r.en,
                "uv": fmt("rate", r.uv_rate),
                "pv": fmt("rate", r.pv_rate),
                "prev": fmt("rate", prev_rates.get(r.rate)) if rv.prev_metrics else "—",
                "baseline": fmt("rate", r.baseline_uv_rate),
                "change": "—" if ch is None else f"{ch:+.1%}",
                "css": "none" if ch is None else ("bad" if ch < 0 else "good"),
                "weakest": r.rate == weakest,
            }
        )
    return rows


DECIMALS = {"score": 1, "minutes": 1, "explain_minutes": 1}


def _col_formatter(df: pd.DataFrame, c: str):
    """One format per column, so a column never mixes '4' and '4.97'."""
    if (
        c not in df
        or not pd.api.types.is_numeric_dtype(df[c])
        or is_pct(c)
        or is_money(c)
        or c.endswith("seconds")
    ):
        return lambda v: fmt(c, v)
    vals = pd.to_numeric(df[c], errors="coerce").dropna()
    if c not in DECIMALS and c not in PLAIN_RATIOS and (vals == vals.round()).all():
        return lambda v: fmt(c, v) if v is None else f"{v:,.0f}"
    d = DECIMALS.get(c, 2)
    return lambda v: "—" if v is None else f"{v:,.{d}f}"


def _table(df: pd.DataFrame, cols: list[tuple[str, str, str]], bar: str | None = None) -> dict:
    """Formatted cells for the template's table macro: cols = (column, 中文, English)."""
    rows = []
    maxbar = float(pd.to_numeric(df[bar], errors="coerce").max()) if bar and len(df) else 0.0
    numeric = {c: c in df and pd.api.types.is_numeric_dtype(df[c]) for c, _, _ in cols}
    formatters = {c: _col_formatter(df, c) for c, _, _ in cols}
    for rec in df.to_dict(orient="records"):
        cells = []
        for c, _, _ in cols:
            v = O.plain(rec.get(c))
            cell = {"text": formatters[c](v), "num": numeric[c], "bar": None, "score": None}
            if c == bar and maxbar > 0 and v is not None:
                cell["bar"] = round(float(v) / maxbar * 100, 1)
            if c == "score" and v is not None:
                cell["score"] = "lo" if v < 40 else "mid" if v < 70 else "hi"
            cells.append(cell)
        rows.append(cells)
    head = [{"zh": zh, "en": en, "num": numeric[c]} for c, zh, en in cols]
    return {"head": head, "rows": rows}


SOURCE_COLS = [
    ("source_zh", "来源", "Source"),
    ("views", "观看次数", "Views"),
    ("uv", "观看人数", "UV"),
    ("uv_share", "人数占比", "UV share"),
    ("buyers", "成交人数", "Buyers"),
    ("gmv", "成交金额", "GMV"),
    ("gmv_share", "金额占比", "GMV share"),
    ("uv_value", "UV价值", "UV value"),
    ("conversion_rate", "成交转化率", "Conversion"),
    ("avg_watch_seconds", "人均观看", "Avg watch"),
    ("interaction_rate", "互动率", "Interaction"),
]
BY_SOURCE_COLS = [
    ("source_zh", "来源", "Source"),
    ("impressions_uv", "曝光", "Impressions"),
    ("entries_uv", "进入", "Entries"),
    ("product_exposure_uv", "商品曝光", "Product exp."),
    ("product_click_uv", "商品点击", "Clicks"),
    ("purchase_uv", "成交", "Buyers"),
    ("exposure_entry_uv_rate", "曝光-观看率", "Imp.→entry"),
    ("entry_exposure_uv_rate", "观看-商品曝光率", "Entry→exp."),
    ("exposure_click_uv_rate", "商品曝光-点击率", "Exp.→click"),
    ("click_pay_uv_rate", "点击-成交率", "Click→pay"),
]
PRODUCT_COLS = [
    ("label", "商品", "Product"),
    ("price", "价格", "Price"),
    ("product_impression_uv", "曝光人数", "Exposure UV"),
    ("product_click_uv", "点击人数", "Click UV"),
    ("product_ctr", "点击率", "CTR"),
    ("orders", "订单数", "Orders"),
    ("buyers", "成交人数", "Buyers"),
    ("gmv", "成交金额", "GMV"),
    ("click_pay_rate", "点击-成交率", "Click→pay"),
    ("refund_amount", "退款金额", "Refunds"),
    ("explain_count", "讲解次数", "Explains"),
    ("explain_minutes", "讲解分钟", "Explain min"),
    ("explain_lift_gmv", "讲解提升", "Explain lift"),
]
SEGMENT_COLS = [
    ("segment", "#", "#"),
    ("label", "商品", "Product"),
    ("time", "时间", "Time"),
    ("minutes", "分钟", "Minutes"),
    ("viewers_at_start", "开始在线", "Viewers"),
    ("retention", "留存率", "Retention"),
    ("interactions_per_min", "互动/分", "Interact/min"),
    ("clicks_per_min", "点击/分", "Clicks/min"),
    ("orders", "订单", "Orders"),
    ("gmv", "成交金额", "GMV"),
    ("gmv_per_min", "成交/分", "GMV/min"),
    ("score", "得分", "Score"),
]


def _products_view(rv: Review, limit: int = 30) -> pd.DataFrame:
    p = rv.products.head(limit).copy()
    p["label"] = [
        f"{n} ({pid})" if isinstance(n, str) and n and n != pid else pid
        for pid, n in zip(p["product_id"], p["name"], strict=True)
    ]
    return p


def _segments_view(rv: Review) -> pd.DataFrame:
    s = rv.segments.segments.copy()
    if s.empty:
        return s
    st, en = _naive_local(s["start"], rv.tz), _naive_local(s["end"], rv.tz)
    s["time"] = [f"{a:%H:%M}–{b:%H:%M}" for a, b in zip(st, en, strict=True)]
    names = _product_names(rv.products)
    s["label"] = s["product_id"].map(lambda p: names.get(p, p))
    return s


def _highlights(rv: Review) -> list[str]:
    out = []
    m = rv.metrics
    out.append(
        f"成交金额 GMV {fmt('gmv', m.get('gmv'))}，成交 {fmt('buyers', m.get('buyers'))} 人 buyers，"
        f"观看 {fmt('uv', m.get('uv'))} 人 viewers"
    )
    p = rv.products
    if len(p) and float(p["gmv"].iloc[0] or 0) > 0:
        top = p.iloc[0]
        out.append(f"成交最高商品 Top product: {rv.product_name(top['product_id'])} {fmt('gmv', top['gmv'])}")
    s = rv.sources
    if len(s) and s["gmv"].sum() > 0:
        top = s.sort_values("gmv", ascending=False).iloc[0]
        out.append(
            f"成交最多来源 Top source: {top['source_zh']} {top['source_en']} {fmt('gmv', top['gmv'])} "
            f"({fmt('gmv_share', top['gmv_share'])})"
        )
    tl = rv.timeline
    if len(tl) and tl["online"].max() > 0:
        i = int(tl["online"].to_numpy().argmax())
        t = _naive_local(tl["minute_local"], rv.tz).iloc[i]
        out.append(f"在线峰值 Peak online {tl['online'].iloc[i]:,.0f} @ {t:%H:%M}")
    w = rv.funnel.weakest
    if w is not None:
        out.append(f"最弱环节 Weakest step: {w.zh} {w.en} {w.value:.2%} vs 基线 baseline {w.baseline:.2%}")
    return out


def _template():
    import jinja2

    src = resources.files("liveops").joinpath("templates/report.html.j2").read_text(encoding="utf-8")
    env = jinja2.Environment(
        autoescape=True, trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined
    )
    return env.from_string(src)


def render_html(rv: Review) -> str:
    from markupsafe import Markup
    from plotly.offline import get_plotlyjs

    m = rv.metrics
    figs = {
        "online": fig_online(rv),
        "gmv": fig_gmv(rv),
        "funnel": fig_funnel(rv),
        "sources": fig_sources(rv),
        "retention": fig_retention(rv),
    }
    if (fc := fig_compliance(rv)) is not None:
        figs["compliance"] = fc
    seg = _segments_view(rv)
    ctx = {
        "rv": rv,
        "font_stack": Markup(FONT_STACK),
        "plotlyjs": Markup(get_plotlyjs()),
        "figs": {k: Markup(v) for k, v in figs.items()},
        "title": rv.title or rv.session_id,
        "start": f"{rv.start_local:%Y-%m-%d %H:%M}",
        "end": f"{rv.end_local:%H:%M}",
        "duration": _duration(rv.duration_seconds),
        "generated": f"{rv.generated_at:%Y-%m-%d %H:%M}",
        "cards": _kpi_cards(rv),
        "all_metrics": _all_metrics(rv),
        "highlights": _highlights(rv),
        "rates": _rate_rows(rv),
        "baseline_n": len(rv.funnel.baseline_sessions),
        "by_source": _table(rv.funnel.by_source, BY_SOURCE_COLS) if len(rv.funnel.by_source) else None,
        "sources": _table(rv.sources, SOURCE_COLS, bar="gmv"),
        "products": _table(_products_view(rv), PRODUCT_COLS, bar="gmv"),
        "n_products": len(rv.products),
        "segments": _table(seg, SEGMENT_COLS, bar="gmv") if len(seg) else None,
        "lost_5min": fmt("lost_5min_rate", rv.segments.lost_5min_rate),
        "comments": rv.comments,
        "alerts": rv.alerts,
        "q_max": int(rv.comments.questions["count"].max()) if len(rv.comments.questions) else 1,
        "c_max": int(rv.comments.complaints["count"].max()) if len(rv.comments.complaints) else 1,
        "share": lambda n: f"{n / rv.comments.total:.1%}" if rv.comments.total else "—",
        "suggestions": rv.suggestions,
        "cp": rv.compliance,
        "experiments": rv.experiments,
        "drivers": rv.drivers,
        "pct": lambda v: "—" if v is None or v != v else f"{v:+.2%}",
        "num": lambda v: "—" if v is None or v != v else f"{v:.4g}",
        "fmt_time": lambda ts: f"{_naive_local(pd.Series([ts]), rv.tz).iloc[0]:%H:%M:%S}",
        "fmt": fmt,
        "m": m,
    }
    return _template().render(**ctx)


def _duration(secs: float) -> str:
    secs = int(round(secs or 0))
    h, rem = divmod(secs, 3600)
    mi, s = divmod(rem, 60)
    zh = (f"{h}小时" if h else "") + f"{mi}分" + (f"{s}秒" if s and not h else "")
    en = (f"{h} h " if h else "") + f"{mi} min" + (f" {s} s" if s and not h else "")
    return f"{zh} {en}"


def write_html(rv: Review, path: str | Path) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(render_html(rv), encoding="utf-8")
    return p


# ---------------------------------------------------------------------------------------------
# Excel

SHEETS = {
    "kpis": "指标 KPIs",
    "timeline": "时间线 Timeline",
    "funnel_steps": "漏斗步骤 Funnel steps",
    "funnel_rates": "漏斗转化率 Funnel rates",
    "by_source": "分来源漏斗 Funnel by source",
    "sources": "流量来源 Sources",
    "products": "商品 Products",
    "segments": "讲解片段 Segments",
    "retention": "留存曲线 Retention",
    "comments": "弹幕 Comments",
    "alerts": "告警 Alerts",
    "compliance": "合规 Compliance",
    "experiments": "实验 Experiments",
    "drivers": "驱动因素 Drivers",
    "suggestions": "建议 Suggestions",
}

_COL_LABELS = {
    "minute_local": ("时间", "Time"),
    "elapsed_min": ("开播分钟", "Minute #"),
    "online": ("在线人数", "Online"),
    "explaining": ("讲解商品", "Explaining"),
    "step": ("步骤", "Step"),
    "step_uv": ("人数", "UV"),
    "step_pv": ("次数", "PV"),
    "rate": ("转化率", "Rate"),
    "zh": ("中文", "Chinese"),
    "en": ("英文", "English"),
    "uv_rate": ("人数转化率", "UV rate"),
    "pv_rate": ("次数转化率", "PV rate"),
    "baseline_uv_rate": ("基线", "Baseline UV rate"),
    "change": ("较基线变化", "Change vs baseline"),
    "source": ("来源", "Source"),
    "source_zh": ("来源", "Source (zh)"),
    "source_en": ("来源英文", "Source (en)"),
    "uv_share": ("人数占比", "UV share"),
    "gmv_share": ("金额占比", "GMV share"),
    "product_id": ("商品ID", "Product ID"),
    "name": ("商品名称", "Name"),
    "category": ("类目", "Category"),
    "price": ("价格", "Price"),
    "segment": ("片段", "Segment"),
    "start": ("开始", "Start"),
    "end": ("结束", "End"),
    "minutes": ("分钟", "Minutes"),
    "minute": ("进入后分钟", "Minutes since entering"),
    "retained": ("留存", "Retained"),
    "viewers_at_start": ("开始在线", "Viewers at start"),
    "retention": ("留存率", "Retention"),
    "interactions_per_min": ("互动/分钟", "Interactions/min"),
    "clicks": ("点击", "Clicks"),
    "product_clicks": ("本品点击", "Own-product clicks"),
    "clicks_per_min": ("点击/分钟", "Clicks/min"),
    "gmv_per_min": ("成交/分钟", "GMV/min"),
    "score": ("得分", "Score"),
    "explain_count": ("讲解次数", "Explain count"),
    "explain_minutes": ("讲解分钟", "Explain minutes"),
    "gmv_in_explain": ("讲解期成交", "GMV while explained"),
    "gmv_per_min_explain": ("讲解期成交/分", "GMV/min explained"),
    "gmv_per_min_other": ("非讲解成交/分", "GMV/min otherwise"),
    "explain_lift_gmv": ("讲解成交提升", "Explain lift (GMV)"),
    "clicks_per_min_explain": ("讲解期点击/分", "Clicks/min explained"),
    "clicks_per_min_other": ("非讲解点击/分", "Clicks/min otherwise"),
    "explain_lift_clicks": ("讲解点击提升", "Explain lift (clicks)"),
}


def col_label(c: str) -> str:
    if c in _COL_LABELS:
        zh, en = _COL_LABELS[c]
        return f"{zh} {en}"
    for step, zh, en, *_ in A.FUNNEL_STEPS:
        for v in ("uv", "pv"):
            if c == f"{step}_{v}":
                return f"{zh}{'人数' if v == 'uv' else '次数'} {en} ({v.upper()})"
    for rate, zh, en in A.FUNNEL_RATES:
        for v in ("uv", "pv"):
            if c == f"{rate}_{v}_rate":
                return f"{zh}({v.upper()}) {en}"
    m = CATALOG.get(c)
    return f"{m.zh} {m.en}" if m else c


def _excel_frame(df: pd.DataFrame, tz: str) -> pd.DataFrame:
    """Tz-naive local timestamps (Excel has no zones), plain floats, no NaN objects."""
    df = df.copy()
    for c in df.columns:
        s = df[c]
        if isinstance(s.dtype, pd.DatetimeTZDtype):
            df[c] = s.dt.tz_convert(tz).dt.tz_localize(None)
        elif pd.api.types.is_datetime64_any_dtype(s):
            df[c] = _naive_local(s, tz)
        elif s.dtype == object and len(s) and s.map(lambda v: isinstance(v, float | int) or v is None).all():
            df[c] = pd.to_numeric(s, errors="coerce")
    return df


def write_xlsx(rv: Review, path: str | Path) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    with pd.ExcelWriter(p, engine="xlsxwriter", datetime_format="yyyy-mm-dd hh:mm:ss") as xw:
        wb = xw.book
        f = {
            "head": wb.add_format(
                {
                    "bold": True,
                    "font_color": "#ffffff",
                    "bg_color": "#1e3a8a",
                    "text_wrap": True,
                    "valign": "vcenter",
                    "border": 1,
                    "border_color": "#cbd5e1",
                }
            ),
            "money": wb.add_format({"num_format": "¥#,##0.00"}),
            "pct": wb.add_format({"num_format": "0.00%"}),
            "int": wb.add_format({"num_format": "#,##0"}),
            "num": wb.add_format({"num_format": "#,##0.00"}),
            "time": wb.add_format({"num_format": "yyyy-mm-dd hh:mm"}),
            "wrap": wb.add_format({"text_wrap": True, "valign": "top"}),
            "text": wb.add_format({}),
        }
        _kpi_sheet(xw, rv, f)
        tl = rv.timeline.drop(columns=["minute"]).copy()
        tl = tl[
            ["minute_local", "elapsed_min", "online", "explaining"]
            + [c for c in tl.columns if c not in ("minute_local", "elapsed_min", "online", "explaining")]
        ]
        _frame_sheet(xw, "timeline", tl, rv.tz, f)
        steps = rv.funnel.steps.rename(columns={"uv": "step_uv", "pv": "step_pv"})
        _frame_sheet(xw, "funnel_steps", steps, rv.tz, f)
        _frame_sheet(xw, "funnel_rates", rv.funnel.rates, rv.tz, f)
        _frame_sheet(xw, "by_source", rv.funnel.by_source, rv.tz, f)
        _frame_sheet(xw, "sources", rv.sources, rv.tz, f)
        _frame_sheet(xw, "products", rv.products, rv.tz, f)
        _frame_sheet(xw, "segments", rv.segments.segments, rv.tz, f)
        _frame_sheet(xw, "retention", rv.segments.retention, rv.tz, f)
        c = rv.comments
        com = pd.concat(
            [
                c.questions.assign(kind="提问 question"),
                c.complaints.assign(kind="吐槽 complaint"),
            ],
            ignore_index=True,
        )[["kind", "text", "count"]]
        com.columns = ["类别 Class", "弹幕 Text", "次数 Count"]
        _frame_sheet(xw, "comments", com, rv.tz, f, labels=False)
        al = rv.alerts.copy()
        al.columns = ["时间 Time", "级别 Severity", "规则 Rule", "告警 Alert", "Alert (English)"]
        _frame_sheet(xw, "alerts", al, rv.tz, f, labels=False)
        # the compliance sheet is always there, empty when the store has no hits
        hits = (
            rv.compliance.top.copy()
            if rv.compliance is not None
            else pd.DataFrame(columns=[*CS.TOP_COLUMNS, "verdict"])
        )
        hits["ts"] = _naive_local(hits["ts"], rv.tz) if len(hits) else hits["ts"]
        hits.columns = [
            "时间 Time",
            "来源 Kind",
            "命中 Matched",
            "原文 Text",
            "规则 Rule",
            "类别 Category",
            "级别 Severity",
            "建议 Suggestion",
            "复核 Verdict",
        ]
        _frame_sheet(xw, "compliance", hits, rv.tz, f, labels=False)
        _frame_sheet(xw, "experiments", _experiment_rows(rv), rv.tz, f, labels=False)
        drv = pd.DataFrame([O.plain(d) for d in rv.drivers.drivers]) if rv.drivers else pd.DataFrame()
        _frame_sheet(xw, "drivers", drv, rv.tz, f, labels=False)
        _suggestion_sheet(xw, rv, f)
    return p


def _experiment_rows(rv: Review) -> pd.DataFrame:
    """One row per experiment × metric × arm, with the experiment's unit and SRM beside the result."""
    cols = [
        "experiment",
        "unit",
        "srm_p",
        "metric",
        "arm",
        "control",
        "n",
        "n_control",
        "mean_control",
        "mean",
        "lift_abs",
        "lift_rel",
        "ci_low",
        "ci_high",
        "ci_rel_low",
        "ci_rel_high",
        "p_value",
        "p_adjusted",
        "chance_to_win",
        "seq_p_value",
        "cuped_variance_reduction",
        "permutation_p_value",
    ]
    rows = [
        {"experiment": x.experiment, "unit": x.unit, "srm_p": x.srm_p} | O.plain(m)
        for x in rv.experiments
        for m in x.metrics
    ]
    return pd.DataFrame(rows, columns=cols) if rows else pd.DataFrame(columns=cols)


def _col_format(c: str, s: pd.Series, f: dict):
    if pd.api.types.is_datetime64_any_dtype(s):
        return f["time"], 17
    if not pd.api.types.is_numeric_dtype(s):
        return f["text"], None
    if is_pct(c):
        return f["pct"], 11
    if is_money(c):
        return f["money"], 13
    if pd.api.types.is_integer_dtype(s) or (s.dropna() == s.dropna().round()).all():
        return f["int"], 11
    return f["num"], 11


def _frame_sheet(xw, key: str, df: pd.DataFrame, tz: str, f: dict, labels: bool = True) -> None:
    name = SHEETS[key]
    df = _excel_frame(df, tz)
    heads = [col_label(c) for c in df.columns] if labels else list(df.columns)
    df.to_excel(xw, sheet_name=name, index=False, header=False, startrow=1)
    ws = xw.sheets[name]
    for i, (c, h) in enumerate(zip(df.columns, heads, strict=True)):
        ws.write(0, i, h, f["head"])
        fmt_, width = _col_format(c, df[c], f)
        if width is None:
            lens = df[c].astype(str).str.len()
            width = int(min(max(lens.max() if len(lens) else 8, 8) * 1.6 + 2, 50))
        ws.set_column(i, i, max(width, min(len(h), 22)), fmt_)
    ws.set_row(0, 32)
    ws.freeze_panes(1, 0)
    if len(df.columns):
        ws.autofilter(0, 0, max(len(df), 1), len(df.columns) - 1)


def _kpi_sheet(xw, rv: Review, f: dict) -> None:
    name = SHEETS["kpis"]
    ws = xw.book.add_worksheet(name)
    xw.sheets[name] = ws
    heads = [
        "指标键 Key",
        "指标 Metric",
        "英文 English",
        "维度 Dimension",
        "本场 This session",
        "上一场 Previous",
        "变化 Change",
        "单位 Unit",
    ]
    for i, h in enumerate(heads):
        ws.write(0, i, h, f["head"])
    prev = rv.prev_metrics or {}
    row = 1
    for k, m in CATALOG.items():
        if k not in rv.metrics:
            continue
        v, pv = O.plain(rv.metrics.get(k)), O.plain(prev.get(k))
        whole = all(x is None or float(x).is_integer() for x in (v, pv))
        vf = f["pct"] if is_pct(k) else f["money"] if is_money(k) else f["int"] if whole else f["num"]
        ws.write(row, 0, k)
        ws.write(row, 1, m.zh)
        ws.write(row, 2, m.en)
        ws.write(row, 3, m.dimension)
        for col, val in ((4, v), (5, pv)):
            if val is None:
                ws.write_blank(row, col, None)
            else:
                ws.write_number(row, col, float(val), vf)
        if v is not None and pv is not None:
            if is_pct(k):
                ws.write_number(row, 6, float(v) - float(pv), f["pct"])  # percentage points
            elif pv:
                ws.write_number(row, 6, (float(v) - float(pv)) / abs(float(pv)), f["pct"])
        ws.write(row, 7, m.unit)
        row += 1
    ws.set_column(0, 0, 22)
    ws.set_column(1, 2, 26)
    ws.set_column(3, 3, 12)
    ws.set_column(4, 6, 16)
    ws.set_column(7, 7, 8)
    ws.set_row(0, 32)
    ws.freeze_panes(1, 2)
    ws.autofilter(0, 0, row - 1, len(heads) - 1)


def _suggestion_sheet(xw, rv: Review, f: dict) -> None:
    name = SHEETS["suggestions"]
    ws = xw.book.add_worksheet(name)
    xw.sheets[name] = ws
    heads = [
        "严重度 Severity",
        "建议 Title",
        "Title",
        "指标 Metric",
        "本场值 Value",
        "基线 Baseline",
        "基线来源 Baseline kind",
        "行动 Action",
        "Action",
        "依据 Evidence",
        "备注 Note",
    ]
    for i, h in enumerate(heads):
        ws.write(0, i, h, f["head"])
    for r, s in enumerate(rv.suggestions, start=1):
        vf = f["pct"] if is_pct(s.metric) else f["money"] if is_money(s.metric) else f["num"]
        ws.write(r, 0, f"{s.severity_zh} {s.severity}")
        ws.write(r, 1, s.title_zh)
        ws.write(r, 2, s.title_en)
        ws.write(r, 3, f"{s.metric_label[0]} {s.metric}")
        ws.write_number(r, 4, s.value, vf)
        ws.write_number(r, 5, s.baseline, vf)
        ws.write(r, 6, " ".join(s.baseline_label))
        ws.write(r, 7, s.action_zh, f["wrap"])
        ws.write(r, 8, s.action_en, f["wrap"])
        ws.write(r, 9, f"{s.evidence_zh}\n{s.evidence_en}", f["wrap"])
        ws.write(r, 10, s.note, f["wrap"])
    ws.set_column(0, 0, 12)
    ws.set_column(1, 2, 22)
    ws.set_column(3, 3, 22)
    ws.set_column(4, 5, 12)
    ws.set_column(6, 6, 20)
    ws.set_column(7, 9, 48)
    ws.set_column(10, 10, 40)
    ws.set_row(0, 32)
    ws.freeze_panes(1, 0)


__all__ = [
    "Review",
    "build_review",
    "render_html",
    "write_html",
    "write_xlsx",
]
