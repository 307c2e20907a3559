"""The metric catalog: one definition per metric, as Ibis expressions that run on DuckDB or Spark.

Metrics are of two kinds. *Measures* are aggregations over the events of a group (a session, a
minute, a traffic source, a product). *Ratios* divide one measure by another after aggregation, so
they are never averaged across groups and a zero denominator gives null. Watch time and online
concurrency need visit intervals and come from ``visits()``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

DIMENSIONS = {
    "efficiency": ("效率", "Efficiency"),
    "effect": ("效果", "Effect"),
    "experience": ("体验", "Experience"),
    "paid": ("投放", "Paid traffic"),
    "risk": ("风险", "Risk"),
}

INTERACTION_TYPES = ("comment", "like", "share", "follow", "gift", "fanclub_join")


@dataclass(frozen=True)
class Metric:
    key: str
    zh: str
    en: str
    dimension: str
    unit: str
    definition: str
    num: str | None = None  # ratio: numerator measure key
    den: str | None = None  # ratio: denominator measure key
    scale: float = 1.0
    variant: str | None = None  # "uv" or "pv" where both exist
    agg: Agg | None = None  # measure: aggregation over events
    needs: tuple[str, ...] = ()  # measure derived from other measures
    visit_based: bool = False  # measure computed from visit intervals

    @property
    def is_ratio(self) -> bool:
        return self.num is not None


CATALOG: dict[str, Metric] = {}


def _m(key, zh, en, dim, unit, definition, agg=None, **kw) -> None:
    CATALOG[key] = Metric(key, zh, en, dim, unit, definition, agg=agg, **kw)


def _r(key, zh, en, dim, unit, definition, num, den, scale=1.0, **kw) -> None:
    CATALOG[key] = Metric(key, zh, en, dim, unit, definition, num=num, den=den, scale=scale, **kw)


def _is(t: ir.Table, *types: str) -> ir.BooleanValue:
    return t.type == types[0] if len(types) == 1 else t.type.isin(types)


@dataclass(frozen=True)
class Agg:
    """How a measure aggregates events of some types: distinct viewers, rows, a sum, or distinct values.

    Declared rather than written as one Ibis expression so every measure can be computed in two cheap
    steps (per viewer, then per group) instead of dozens of COUNT(DISTINCT …) over every event.
    """

    kind: str  # "uv" | "rows" | "sum" | "distinct"
    types: tuple[str, ...]
    col: str | None = None
    where: Callable[[ir.Table], ir.BooleanValue] | None = None
    default: int | None = None  # value for a null `col` in sums

    def cond(self, t: ir.Table) -> ir.BooleanValue:
        c = _is(t, *self.types)
        return c & self.where(t) if self.where is not None else c

    def expr(self, t: ir.Table) -> ir.Scalar:
        """The measure as a single aggregation over events (the definition; also used on tiny inputs)."""
        if self.kind == "uv":
            return t.user_id.nunique(where=self.cond(t))
        if self.kind == "rows":
            return self.cond(t).sum()
        if self.kind == "distinct":
            return t[self.col].nunique(where=self.cond(t))
        return self._value(t).sum(where=self.cond(t))

    def _value(self, t: ir.Table) -> ir.Value:
        return t[self.col] if self.default is None else t[self.col].fill_null(self.default)


def _uv(*types: str, where=None) -> Agg:
    return Agg("uv", types, where=where)


def _pv(*types: str) -> Agg:
    return Agg("rows", types)


def _sum_count(*types: str) -> Agg:
    return Agg("sum", types, "count")


def _sum_amount(*types: str) -> Agg:
    return Agg("sum", types, "amount")


def _distinct(col: str, *types: str) -> Agg:
    return Agg("distinct", types, col)


# --- traffic / efficiency -------------------------------------------------------------------
_m(
    "views",
    "观看次数",
    "Views (PV)",
    "efficiency",
    "次",
    "number of `enter` events",
    _pv("enter"),
    variant="pv",
)
_m(
    "uv",
    "观看人数",
    "Viewers (UV)",
    "efficiency",
    "人",
    "distinct `user_id` of `enter`",
    _uv("enter"),
    variant="uv",
)
_m(
    "room_impressions",
    "直播间曝光次数",
    "Room impressions",
    "efficiency",
    "次",
    "Σ `count` of `room_impression`",
    _sum_count("room_impression"),
)
_r(
    "exposure_entry_rate",
    "曝光进入率",
    "Exposure-entry rate",
    "efficiency",
    "ratio",
    "views ÷ Σ `count` of `room_impression`",
    "views",
    "room_impressions",
    variant="pv",
)
_m(
    "paid_uv",
    "付费流量观看人数",
    "Paid viewers",
    "paid",
    "人",
    "distinct users entering with source `paid`",
    _uv("enter", where=lambda t: t.source == "paid"),
)
_r(
    "paid_traffic_share",
    "付费流量占比",
    "Paid traffic share",
    "paid",
    "ratio",
    "paid_uv ÷ uv",
    "paid_uv",
    "uv",
)
_m("leaves", "离开次数", "Leaves", "efficiency", "次", "number of `leave` events", _pv("leave"))
_m(
    "peak_online",
    "最高在线",
    "Peak online (PCU)",
    "efficiency",
    "人",
    "max concurrent viewers: from `online_snapshot` if the session has any; else from enter/leave intervals",
    visit_based=True,
)
_m(
    "avg_online",
    "平均在线",
    "Average online",
    "efficiency",
    "人",
    "time-weighted mean of online viewers over the show (snapshots if any, else total watch seconds ÷ show seconds)",
    visit_based=True,
)
_m(
    "duration_seconds",
    "直播时长(秒)",
    "Show duration (s)",
    "efficiency",
    "秒",
    "session_end (or last event) − session_start (or first event)",
    visit_based=True,
)
_r(
    "peak_avg_ratio",
    "峰均比",
    "Peak ÷ average online",
    "efficiency",
    "ratio",
    "peak_online ÷ avg_online",
    "peak_online",
    "avg_online",
)

# --- experience / engagement ----------------------------------------------------------------
_m(
    "watch_seconds",
    "累计观看时长(秒)",
    "Total watch seconds",
    "experience",
    "秒",
    "Σ online seconds of all viewers: enter → leave (or session end); a repeated enter while online adds nothing",
    visit_based=True,
)
_r(
    "avg_watch_seconds",
    "人均观看时长",
    "Avg watch seconds",
    "experience",
    "秒",
    "watch_seconds ÷ uv",
    "watch_seconds",
    "uv",
)
_m(
    "visits",
    "观看段数",
    "Visits",
    "experience",
    "次",
    "online intervals (enter while offline → leave)",
    visit_based=True,
)
_m(
    "visits_1min",
    ">1分钟观看次数",
    "Visits ≥ 60 s",
    "experience",
    "次",
    "visits lasting at least 60 s",
    visit_based=True,
)
_r(
    "watch_1min_rate",
    ">1分钟观看占比",
    "Visits ≥ 1 min share",
    "experience",
    "ratio",
    "visits_1min ÷ visits",
    "visits_1min",
    "visits",
)
_m(
    "opening_uv",
    "开场5分钟进入人数",
    "Viewers entering in the opening 5 min",
    "experience",
    "人",
    "viewers whose first entry was within 300 s of the show's start",
    visit_based=True,
)
_m(
    "lost_5min_uv",
    "开场5分钟流失人数",
    "Opening viewers lost within 5 min",
    "experience",
    "人",
    "opening viewers whose first visit ended within 300 s of entering",
    visit_based=True,
)
_r(
    "lost_5min_rate",
    "开场5分钟流失率",
    "Opening 5-min loss",
    "experience",
    "ratio",
    "lost_5min_uv ÷ opening_uv: of the viewers who came in the first 5 minutes of the show, the share gone "
    "within 5 minutes (the 开场5分钟流失 practitioners judge an opening by; > 40 % = weak opening)",
    "lost_5min_uv",
    "opening_uv",
)
_m(
    "early_exit_uv",
    "5分钟内离开人数",
    "Viewers leaving within 5 min",
    "experience",
    "人",
    "viewers whose first visit ended within 300 s of entering, whenever they came",
    visit_based=True,
)
_r(
    "early_exit_rate",
    "5分钟内离开占比",
    "Left within 5 min of entering",
    "experience",
    "ratio",
    "early_exit_uv ÷ uv",
    "early_exit_uv",
    "uv",
)
_m(
    "interaction_uv",
    "互动人数",
    "Interacting viewers",
    "experience",
    "人",
    "distinct users with comment, like, share, follow, gift or fanclub_join",
    _uv(*INTERACTION_TYPES),
    variant="uv",
)
_r(
    "interaction_rate",
    "互动率",
    "Interaction rate",
    "experience",
    "ratio",
    "interaction_uv ÷ uv",
    "interaction_uv",
    "uv",
)
_m(
    "comment_pv",
    "评论次数",
    "Comments",
    "experience",
    "次",
    "number of `comment` events",
    _pv("comment"),
    variant="pv",
)
_m(
    "comment_uv",
    "评论人数",
    "Commenters",
    "experience",
    "人",
    "distinct users with comment",
    _uv("comment"),
    variant="uv",
)
_r("comment_rate", "评论率", "Comment rate", "experience", "ratio", "comment_uv ÷ uv", "comment_uv", "uv")
_m(
    "like_count",
    "点赞次数",
    "Likes",
    "experience",
    "次",
    "Σ `count` of `like`",
    _sum_count("like"),
    variant="pv",
)
_m("like_uv", "点赞人数", "Likers", "experience", "人", "distinct users with like", _uv("like"), variant="uv")
_r("like_rate", "点赞率", "Like rate", "experience", "ratio", "like_uv ÷ uv", "like_uv", "uv")
_m(
    "share_pv",
    "分享次数",
    "Shares",
    "experience",
    "次",
    "number of `share` events",
    _pv("share"),
    variant="pv",
)
_m(
    "share_uv",
    "分享人数",
    "Sharers",
    "experience",
    "人",
    "distinct users with share",
    _uv("share"),
    variant="uv",
)
_r("share_rate", "分享率", "Share rate", "experience", "ratio", "share_uv ÷ uv", "share_uv", "uv")
_m("follow_uv", "新增粉丝", "New followers", "experience", "人", "distinct users with follow", _uv("follow"))
_r(
    "follow_rate",
    "转粉率",
    "Follow rate",
    "experience",
    "ratio",
    "distinct users with follow ÷ uv",
    "follow_uv",
    "uv",
)
_m(
    "fanclub_uv",
    "新加团人数",
    "Fan-club joins",
    "experience",
    "人",
    "distinct users with fanclub_join",
    _uv("fanclub_join"),
)
_r(
    "fanclub_rate",
    "加团率",
    "Fan-club join rate",
    "experience",
    "ratio",
    "fanclub_uv ÷ uv",
    "fanclub_uv",
    "uv",
)
_m("gift_value", "打赏金额", "Gift value", "experience", "元", "Σ `amount` of `gift`", _sum_amount("gift"))
_m("gift_uv", "打赏人数", "Gifters", "experience", "人", "distinct users with gift", _uv("gift"))

# --- commerce / effect ----------------------------------------------------------------------
_m(
    "product_impression_uv",
    "商品曝光人数",
    "Product exposure UV",
    "effect",
    "人",
    "distinct users with product_impression",
    _uv("product_impression"),
    variant="uv",
)
_m(
    "product_impression_pv",
    "商品曝光次数",
    "Product exposures",
    "effect",
    "次",
    "number of product_impression events",
    _pv("product_impression"),
    variant="pv",
)
_r(
    "product_exposure_rate",
    "商品曝光率",
    "Product exposure rate",
    "effect",
    "ratio",
    "distinct users with product_impression ÷ uv",
    "product_impression_uv",
    "uv",
    variant="uv",
)
_m(
    "product_click_uv",
    "商品点击人数",
    "Product click UV",
    "effect",
    "人",
    "distinct users with product_click",
    _uv("product_click"),
    variant="uv",
)
_m(
    "product_click_pv",
    "商品点击次数",
    "Product clicks",
    "effect",
    "次",
    "number of product_click events",
    _pv("product_click"),
    variant="pv",
)
_r(
    "product_ctr",
    "商品点击率",
    "Product CTR",
    "effect",
    "ratio",
    "distinct users with product_click ÷ distinct users with product_impression",
    "product_click_uv",
    "product_impression_uv",
    variant="uv",
)
_r(
    "product_ctr_pv",
    "商品点击率(次数)",
    "Product CTR (PV)",
    "effect",
    "ratio",
    "product_click events ÷ product_impression events",
    "product_click_pv",
    "product_impression_pv",
    variant="pv",
)
_m(
    "cart_uv",
    "加购人数",
    "Add-to-cart UV",
    "effect",
    "人",
    "distinct users with add_to_cart",
    _uv("add_to_cart"),
)
_r(
    "add_to_cart_rate",
    "加购率",
    "Add-to-cart rate",
    "effect",
    "ratio",
    "cart_uv ÷ product_click_uv",
    "cart_uv",
    "product_click_uv",
)
_m("order_uv", "下单人数", "Ordering users", "effect", "人", "distinct users with order", _uv("order"))
_m(
    "orders",
    "创建订单数",
    "Orders created",
    "effect",
    "单",
    "distinct `order_id` of `order`",
    _distinct("order_id", "order"),
)
_m("order_amount", "下单金额", "Order amount", "effect", "元", "Σ `amount` of `order`", _sum_amount("order"))
_m(
    "items_ordered",
    "下单件数",
    "Items ordered",
    "effect",
    "件",
    "Σ `count` (default 1) of `order`",
    Agg("sum", ("order",), "count", default=1),
)
_m(
    "pay_orders",
    "成交订单数",
    "Paid orders",
    "effect",
    "单",
    "distinct `order_id` of `pay`",
    _distinct("order_id", "pay"),
)
_m("buyers", "成交人数", "Buyers", "effect", "人", "distinct `user_id` of `pay`", _uv("pay"))
_m("gmv", "成交金额", "GMV", "effect", "元", "Σ `amount` of `pay` (refunds not deducted)", _sum_amount("pay"))
_r(
    "order_pay_rate",
    "订单支付率",
    "Order-pay rate",
    "effect",
    "ratio",
    "pay_orders ÷ distinct `order_id` of `order`",
    "pay_orders",
    "orders",
)
_r(
    "click_pay_rate",
    "点击-成交转化率",
    "Click-to-pay rate",
    "effect",
    "ratio",
    "buyers ÷ distinct users with product_click",
    "buyers",
    "product_click_uv",
    variant="uv",
)
_r("conversion_rate", "成交转化率", "Conversion rate", "effect", "ratio", "buyers ÷ uv", "buyers", "uv")
_r("aov", "客单价", "Average order value (per buyer)", "effect", "元", "gmv ÷ buyers", "gmv", "buyers")
_r("aov_per_order", "笔单价", "Value per paid order", "effect", "元", "gmv ÷ pay_orders", "gmv", "pay_orders")
_r("uv_value", "UV价值", "UV value", "effect", "元", "gmv ÷ uv", "gmv", "uv")
_r(
    "gpm",
    "千次观看成交金额",
    "GPM",
    "effect",
    "元",
    "gmv ÷ views × 1000",
    "gmv",
    "views",
    scale=1000.0,
    variant="pv",
)
_r(
    "gpm_uv",
    "千人观看成交金额",
    "GPM (per 1000 viewers)",
    "effect",
    "元",
    "gmv ÷ uv × 1000",
    "gmv",
    "uv",
    scale=1000.0,
    variant="uv",
)
_r(
    "gmv_per_hour",
    "小时成交金额",
    "GMV per hour",
    "effect",
    "元",
    "gmv ÷ duration_seconds × 3600",
    "gmv",
    "duration_seconds",
    scale=3600.0,
)
_m(
    "explain_count",
    "讲解次数",
    "Explain segments",
    "effect",
    "次",
    "number of `explain_start` events",
    _pv("explain_start"),
)

# --- risk -----------------------------------------------------------------------------------
_m(
    "refund_amount",
    "退款金额",
    "Refund amount",
    "risk",
    "元",
    "Σ `amount` of `refund`",
    _sum_amount("refund"),
)
_m(
    "refund_orders",
    "退款订单数",
    "Refunded orders",
    "risk",
    "单",
    "distinct `order_id` of `refund`",
    _distinct("order_id", "refund"),
)
_r(
    "refund_rate",
    "退款率(金额)",
    "Refund rate (amount)",
    "risk",
    "ratio",
    "Σ `amount` of `refund` ÷ gmv",
    "refund_amount",
    "gmv",
)
_r(
    "refund_order_rate",
    "退款率(订单)",
    "Refund rate (orders)",
    "risk",
    "ratio",
    "refund_orders ÷ pay_orders",
    "refund_orders",
    "pay_orders",
)
_m(
    "net_gmv",
    "净成交金额",
    "Net GMV",
    "risk",
    "元",
    "gmv − Σ `amount` of `refund`",
    needs=("gmv", "refund_amount"),
)
_m(
    "unpaid_orders",
    "未支付订单数",
    "Unpaid orders",
    "risk",
    "单",
    "orders − pay_orders",
    None,
    visit_based=False,
)

# --- paid traffic ---------------------------------------------------------------------------
_m("ad_cost", "投放消耗", "Ad cost", "paid", "元", "Σ `amount` of `ad_spend`", _sum_amount("ad_spend"))
_m(
    "ad_impressions",
    "广告展示数",
    "Ad impressions",
    "paid",
    "次",
    "Σ `count` of `ad_spend`",
    _sum_count("ad_spend"),
)
_m(
    "ad_clicks",
    "广告点击数",
    "Ad clicks",
    "paid",
    "次",
    "Σ `attrs.clicks` of `ad_spend`",
    Agg("sum", ("ad_spend",), "clicks"),
)
_r("roi", "投产比(整体ROI)", "ROI (overall)", "paid", "ratio", "gmv ÷ ad_cost", "gmv", "ad_cost")
_r("roi_net", "净成交ROI", "Net ROI", "paid", "ratio", "net_gmv ÷ ad_cost", "net_gmv", "ad_cost")
_r("ad_cost_ratio", "费比", "Ad cost ratio (ACOS)", "paid", "ratio", "ad_cost ÷ gmv", "ad_cost", "gmv")
_r(
    "ad_ctr",
    "广告点击率",
    "Ad CTR",
    "paid",
    "ratio",
    "Σ `attrs.clicks` ÷ Σ `count` of `ad_spend`",
    "ad_clicks",
    "ad_impressions",
)
_r(
    "cpm",
    "千次展示成本",
    "CPM",
    "paid",
    "元",
    "ad_cost ÷ Σ `count` of `ad_spend` × 1000",
    "ad_cost",
    "ad_impressions",
    scale=1000.0,
)
_r("cpc", "单次点击成本", "CPC", "paid", "元", "ad_cost ÷ Σ `attrs.clicks`", "ad_cost", "ad_clicks")
_r(
    "cost_per_viewer",
    "获客成本(每观看人)",
    "Cost per paid viewer",
    "paid",
    "元",
    "ad_cost ÷ paid_uv",
    "ad_cost",
    "paid_uv",
)

# unpaid_orders is derived from two measures; give it a plain definition in code.
CATALOG.pop("unpaid_orders")

MEASURES = [m for m in CATALOG.values() if m.agg is not None]
RATIOS = [m for m in CATALOG.values() if m.is_ratio]
MONEY_KEYS = {m.key for m in CATALOG.values() if m.unit == "元"}


# ---------------------------------------------------------------------------------------------
# Building blocks shared by every breakdown


def _measures(keys: Sequence[str] | None) -> list[Metric]:
    if keys is None:
        return MEASURES
    wanted = set(keys)
    for k in keys:
        m = CATALOG.get(k)
        if m is not None and m.is_ratio:
            wanted |= {m.num, m.den}
    for k in list(wanted):
        wanted |= set(CATALOG[k].needs) if k in CATALOG else set()
    return [m for m in MEASURES if m.key in wanted]


_LEVEL0_SUMS = {
    ("count", None): "_cnt",
    ("count", 1): "_cnt1",
    ("amount", None): "_amount",
    ("clicks", None): "_clicks",
}


def _step2(l0: ir.Table, ms: Sequence[Metric], per_viewer: bool) -> dict[str, ir.Scalar]:
    """The second step over level-0 rows: per group, or per (group, viewer) when ``per_viewer`` — then a
    distinct-viewer measure is a 0/1 flag and sums are never null. Distinct-value measures are left out."""
    out: dict[str, ir.Scalar] = {}
    for m in ms:
        a = m.agg
        if a.kind == "distinct":
            continue
        cond = _is(l0, *a.types)
        if a.where is not None:  # the measure's extra condition travels as a per-(viewer, type) flag
            cond = cond & l0[f"_w_{m.key}"]
        if a.kind == "uv" and per_viewer:
            out[m.key] = (cond & l0.user_id.notnull()).any().cast("int64")
        elif a.kind == "uv":
            one_type = len(a.types) == 1
            out[m.key] = (cond & l0.user_id.notnull()).sum() if one_type else l0.user_id.nunique(where=cond)
        elif a.kind == "rows":
            out[m.key] = ibis.ifelse(cond, l0._n, 0).sum()
        else:
            total = l0[_LEVEL0_SUMS[(a.col, a.default)]].sum(where=cond)
            out[m.key] = total.cast("float64").fill_null(0) if per_viewer else total
    return out


def level0(t: ir.Table, by: Sequence[str], ms: Sequence[Metric]) -> ir.Table:
    """Per (group, viewer, event type): rows, the summed columns, and each measure's extra condition as a flag."""
    agg: dict[str, ir.Scalar] = {"_n": t.count()}
    for (col, default), name in _LEVEL0_SUMS.items():
        agg[name] = (t[col] if default is None else t[col].fill_null(default)).sum()
    for m in ms:
        if m.agg.where is not None:  # an extra condition travels as a per-(viewer, type) flag
            agg[f"_w_{m.key}"] = m.agg.where(t).any()
    return t.group_by([*by, "user_id", "type"]).aggregate(**agg)


def relevel0(l0: ir.Table, by: Sequence[str]) -> ir.Table:
    """Level-0 rows regrouped into coarser groups: rows and sums add, condition flags or."""
    agg: dict[str, ir.Scalar] = {"_n": l0._n.sum()}
    agg |= {name: l0[name].sum() for name in _LEVEL0_SUMS.values()}
    agg |= {c: l0[c].any() for c in l0.columns if c.startswith("_w_")}
    return l0.group_by([*by, "user_id", "type"]).aggregate(**agg)


def aggregate(t: ir.Table, by: Sequence[str], keys: Sequence[str] | None = None) -> pd.DataFrame:
    """Measures per group in two steps: per (group, viewer, event type) counts and sums, then per group.

    After the first step a (viewer, type) pair is one row, so "distinct viewers with a pay" is a plain
    count of rows and no COUNT(DISTINCT) runs over the raw events; only measures spanning several
    types count distinct viewers, on the much smaller first-step rows. Distinct order ids are counted
    on the few order/pay/refund rows only.
    """
    by = list(by)
    ms = _measures(keys)
    l0 = level0(t, by, ms)
    step2 = _step2(l0, ms, per_viewer=False)
    df = l0.group_by(by).aggregate(**step2).execute() if step2 else t.select(*by).distinct().execute()
    distinct = [m for m in ms if m.agg.kind == "distinct"]
    if distinct:
        types = sorted({ty for m in distinct for ty in m.agg.types})
        f = t.filter(t.type.isin(types))
        d = f.group_by(by).aggregate(**{m.key: m.agg.expr(f) for m in distinct}).execute()
        df = df.merge(d, on=by, how="left")
        for m in distinct:
            df[m.key] = df[m.key].fillna(0).astype("int64")
    return df


def measure_types(keys: Sequence[str]) -> list[str]:
    """The event types the measures behind ``keys`` read (to filter events before joins)."""
    return sorted({ty for m in _measures(keys) if m.agg is not None for ty in m.agg.types})


def unit_measures(
    t: ir.Table, by: Sequence[str], keys: Sequence[str], l0: ir.Table | None = None
) -> ir.Table:
    """Measures per (group, viewer), lazily: the catalog's own two steps stopped one level early, so an
    experiment can sum units up (or take Σy² over them) in the same query. Room-level events fall in
    the null viewer. Visit-based measures are not available this way. ``l0``: level-0 rows already built
    (e.g. pre-aggregated before a join); ``t`` then serves only the distinct-count measures."""
    ms = _measures(keys)
    missing = [m.key for m in ms if m.agg is None]
    if missing:
        raise ValueError(f"not available per unit: {', '.join(missing)}")
    by = [c for c in by if c != "user_id"]
    if l0 is None:
        l0 = level0(t, by, [m for m in ms if m.agg.kind != "distinct"])
    out = l0.group_by([*by, "user_id"]).aggregate(**_step2(l0, ms, per_viewer=True))
    distinct = [m for m in ms if m.agg.kind == "distinct"]
    if distinct:
        types = sorted({ty for m in distinct for ty in m.agg.types})
        f = t.filter(t.type.isin(types))
        d = f.group_by([*by, "user_id"]).aggregate(**{m.key: m.agg.expr(f) for m in distinct})
        keys_ = [*by, "user_id"]
        out = out.left_join(d, [out[k].identical_to(d[k]) for k in keys_]).drop(
            *[f"{k}_right" for k in keys_]
        )
        out = out.mutate(**{m.key: out[m.key].fill_null(0) for m in distinct})
    return out


def session_bounds(t: ir.Table) -> ir.Table:
    """Start and end of each session: the session_start/end events, else the first/last event."""
    return (
        t.group_by("session_id")
        .aggregate(
            room_id=t.room_id.min(),
            first_ts=t.ts.min(),
            last_ts=t.ts.max(),
            start_ts=t.ts.min(where=t.type == "session_start"),
            end_ts=t.ts.max(where=t.type == "session_end"),
        )
        .mutate(
            start=lambda s: s.start_ts.fill_null(s.first_ts),
            end=lambda s: s.end_ts.fill_null(s.last_ts),
        )
        .drop("first_ts", "last_ts", "start_ts", "end_ts")
    )


def visits(t: ir.Table) -> ir.Table:
    """Online intervals per viewer: an enter while offline opens one, the next leave closes it.

    A viewer with no leave stays online until the session's end. Columns: session_id, user_id,
    source (of the opening enter), campaign_id, variant, start, end, seconds, first (first visit),
    since_start_ms (entry time after the show's start).
    """
    ev = t.filter(t.type.isin(("enter", "leave")) & t.user_id.notnull())
    ev = ev.mutate(_rank=ibis.ifelse(ev.type == "enter", 0, 1))
    w = ibis.window(group_by=[ev.session_id, ev.user_id], order_by=[ev.ts, ev._rank])
    ev = ev.mutate(_prev=ev.type.lag().over(w))
    ch = ev.filter(
        ((ev.type == "enter") & (ev._prev.isnull() | (ev._prev == "leave")))
        | ((ev.type == "leave") & (ev._prev == "enter"))
    )
    w2 = ibis.window(group_by=[ch.session_id, ch.user_id], order_by=[ch.ts, ch._rank])
    ch = ch.mutate(_next_ts=ch.ts.lead().over(w2), _n=ibis.row_number().over(w2))
    starts = ch.filter(ch.type == "enter")
    b = session_bounds(t)
    j = starts.join(b, starts.session_id == b.session_id)
    end = j._next_ts.fill_null(ibis.greatest(j.end, j.ts))
    out = j.select(
        session_id=j.session_id,
        room_id=j.room_id,
        user_id=j.user_id,
        source=j.source,
        campaign_id=j.campaign_id,
        variant=j.variant,
        start=j.ts,
        end=end,
        first=j._n == 0,
        since_start_ms=j.ts.delta(j.start, unit="millisecond"),
    )
    return out.mutate(seconds=out.end.delta(out.start, unit="millisecond").cast("float64") / 1000.0)


def online_changes(v: ir.Table) -> ir.Table:
    """Concurrency after each instant: +1 at every visit start, −1 at every end, summed per instant."""
    plus = v.select(v.session_id, ts=v.start, d=ibis.literal(1))
    minus = v.select(v.session_id, ts=v.end, d=ibis.literal(-1))
    u = plus.union(minus)
    per = u.group_by(["session_id", "ts"]).aggregate(d=u.d.sum())
    w = ibis.window(group_by=per.session_id, order_by=per.ts, preceding=None, following=0)
    return per.mutate(online=per.d.sum().over(w))


def visit_measures(t: ir.Table) -> pd.DataFrame:
    """Watch time, visits and online figures per session."""
    with visits(t).cache() as v:  # computed once, read by the aggregates and the concurrency curve
        return _visit_measures(t, v)


def _visit_measures(t: ir.Table, v: ir.Table) -> pd.DataFrame:
    agg = (
        v.group_by("session_id")
        .aggregate(
            watch_seconds=v.seconds.sum(),
            visits=v.count(),
            visits_1min=(v.seconds >= 60).sum(),
            # each viewer has exactly one first visit, so counting first visits counts viewers
            opening_uv=(v.first & (v.since_start_ms < 300_000)).sum(),
            lost_5min_uv=(v.first & (v.since_start_ms < 300_000) & (v.seconds < 300)).sum(),
            early_exit_uv=(v.first & (v.seconds < 300)).sum(),
        )
        .execute()
    )
    b = session_bounds(t)
    bounds = b.mutate(
        duration_seconds=b.end.delta(b.start, unit="millisecond").cast("float64") / 1000.0
    ).execute()
    snaps = t.filter(t.type == "online_snapshot")
    snap_agg = snaps.group_by("session_id").aggregate(snap_peak=snaps["count"].max()).execute()
    snap_avg = _snapshot_time_weighted(t).execute()
    if set(bounds["session_id"]) <= set(snap_agg["session_id"]):
        peak_iv = pd.DataFrame({"session_id": bounds["session_id"], "iv_peak": np.nan})  # snapshots rule
    else:
        peak_iv = online_changes(v)
        peak_iv = peak_iv.group_by("session_id").aggregate(iv_peak=peak_iv.online.max()).execute()
    df = bounds[["session_id", "duration_seconds"]].merge(agg, on="session_id", how="left")
    df = df.merge(snap_agg, on="session_id", how="left").merge(peak_iv, on="session_id", how="left")
    df = df.merge(snap_avg, on="session_id", how="left")
    df["peak_online"] = df["snap_peak"].where(df["snap_peak"].notna(), df["iv_peak"])
    dur = df["duration_seconds"].where(df["duration_seconds"] > 0)
    df["avg_online"] = df["snap_avg"].where(df["snap_peak"].notna(), df["watch_seconds"] / dur)
    return df.drop(columns=["snap_peak", "iv_peak", "snap_avg"])


def _snapshot_time_weighted(t: ir.Table) -> ir.Table:
    """Time-weighted mean of online snapshots: each snapshot holds until the next one (or the show's end)."""
    s = t.filter(t.type == "online_snapshot")
    b = session_bounds(t)
    w = ibis.window(group_by=s.session_id, order_by=[s.ts, s.event_id])
    s = s.mutate(_next=s.ts.lead().over(w))
    j = s.join(b, s.session_id == b.session_id)
    nxt = j._next.fill_null(ibis.greatest(j.end, j.ts))
    j = j.select(session_id=j.session_id, c=j["count"], ms=nxt.delta(j.ts, unit="millisecond"))
    a = j.group_by("session_id").aggregate(num=(j.c * j.ms).sum(), den=j.ms.sum())
    return a.select(a.session_id, snap_avg=ibis.ifelse(a.den > 0, a.num / a.den, ibis.null()))


def add_ratios(df: pd.DataFrame) -> pd.DataFrame:
    """Ratios from summed measures; a zero or missing denominator gives null."""
    df = df.copy()
    if "orders" in df and "pay_orders" in df:
        df["unpaid_orders"] = df["orders"] - df["pay_orders"]
    if "gmv" in df and "refund_amount" in df:
        df["net_gmv"] = [_dec(g) - _dec(r) for g, r in zip(df["gmv"], df["refund_amount"], strict=True)]
    for m in RATIOS:
        if m.num in df and m.den in df:
            num = pd.to_numeric(df[m.num], errors="coerce").astype("float64")
            den = pd.to_numeric(df[m.den], errors="coerce").astype("float64")
            df[m.key] = (num / den.where(den != 0)) * m.scale
    return df


def _dec(v) -> Decimal:
    """Money as an exact Decimal (a missing sum is 0)."""
    if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA:
        return Decimal(0)
    return v if isinstance(v, Decimal) else Decimal(str(v))


def _normalise(df: pd.DataFrame) -> pd.DataFrame:
    """Money as float rounded to the fen, counts as ints; NaN → None happens at output."""
    for col in df.columns:
        if col in MONEY_KEYS and not CATALOG[col].is_ratio:
            df[col] = pd.to_numeric(df[col], errors="coerce").astype("float64").round(2)
    return df


def compute(
    t: ir.Table,
    by: Sequence[str] = ("session_id",),
    with_visits: bool = True,
    keys: Sequence[str] | None = None,
    visits: ir.Table | None = None,
) -> pd.DataFrame:
    """Every catalog metric per group of ``by`` columns (which must exist on ``t``)."""
    gcols = list(by)
    agg = aggregate(t, gcols, keys)
    if with_visits and gcols == ["session_id"]:
        vm = visit_measures(t) if visits is None else _visit_measures(t, visits)
        agg = agg.merge(vm, on="session_id", how="left")
    return _normalise(add_ratios(agg))


def session_metrics(t: ir.Table, session_id: str) -> dict[str, float | int | None]:
    """All catalog metrics of one session as a plain dict (what `liveops metrics --format json` prints)."""
    s = t.filter(t.session_id == session_id)
    df = compute(s)
    if df.empty:
        raise KeyError(session_id)
    row = df.iloc[0]
    return {k: py_value(row[k]) for k in CATALOG if k in row.index}


def py_value(v):
    """A result cell as a plain Python value: NaN, NA and NaT become None, numpy scalars builtins."""
    if v is None:
        return None
    try:
        if pd.isna(v):
            return None
    except (TypeError, ValueError):  # lists, dicts: never missing as a whole
        pass
    return v.item() if hasattr(v, "item") else v
