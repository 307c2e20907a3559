"""Rule-based suggestions for the post-show review (复盘建议).

Each rule is a small function over a :class:`Context` (this show's metrics, the previous show's
metrics, the funnel with its trailing baseline, the explain segments) that returns one
:class:`Suggestion` or ``None``. Every suggestion names its metric, the value, the baseline it was
compared with and where that baseline came from (previous session, trailing funnel baseline, this
show's own median, or a benchmark constant from metrics-reference.md §3 when there is no history),
and a concrete action. Add a rule with ``@rule``; the registry is ``RULES``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from .metrics import CATALOG

SEVERITY = {"high": ("高", "High"), "medium": ("中", "Medium"), "low": ("低", "Low")}
_SEV_ORDER = {"high": 0, "medium": 1, "low": 2}


@dataclass(frozen=True)
class Benchmark:
    value: float
    source: str


# Defaults used when the room has no history. Low-authority figures (metrics-reference.md §3, the
# seed §1.2): override per category by passing ``benchmarks=`` to :func:`suggest`.
BENCHMARKS: dict[str, Benchmark] = {
    "exposure_entry_rate": Benchmark(0.032, "§3 曝光进入率 example 3.2 % (a real export: 3.68 %)"),
    "lost_5min_rate": Benchmark(0.40, "§3 开场5分钟流失 > 40 % → fix the opening"),
    "product_ctr": Benchmark(0.20, "seed §1.2: 商品点击率 under 20 % is the common problem"),
    "click_pay_rate": Benchmark(0.16, "seed §1.2: 3.2 % room conversion ÷ 20 % click rate ≈ 16 %"),
    "product_exposure_rate": Benchmark(
        0.50, "default: half the viewers see a product card (no public figure)"
    ),
    "interaction_rate": Benchmark(0.05, "§3 点赞率 > 5 % for e-commerce; interaction includes likes"),
    "comment_rate": Benchmark(0.015, "§3 评论率 > 1.5 % good, < 0.5 % weak"),
    "refund_rate": Benchmark(0.15, "default: > 15 % of GMV refunded is high (no public figure)"),
    "roi": Benchmark(1.5, "ROI floor 1.5: below it paid traffic rarely covers product cost"),
    "avg_watch_seconds": Benchmark(
        60.0, "< 60 s: viewers leave before a full pitch; §3 < 3 min = weak pacing"
    ),
    "segment_score": Benchmark(40.0, "segment score below 40 of 100 (rank within the show)"),
}

# Relative change vs the previous session that counts as a real drop (or rise, for bad-when-high metrics).
DROP = 0.15

BASELINE_LABEL = {
    "previous": ("上一场", "previous session"),
    "trailing": ("近期场次基线", "trailing baseline"),
    "benchmark": ("参考值", "benchmark"),
    "show": ("本场中位数", "this show's median"),
}


@dataclass
class Suggestion:
    rule: str
    severity: str  # high | medium | low
    title_zh: str
    title_en: str
    metric: str
    value: float
    baseline: float
    baseline_kind: str  # previous | trailing | benchmark | show
    action_zh: str
    action_en: str
    note: str = ""  # where a benchmark comes from, or extra detail
    items: list[str] = field(default_factory=list)  # products, segments … the suggestion is about

    @property
    def severity_zh(self) -> str:
        return SEVERITY[self.severity][0]

    @property
    def metric_label(self) -> tuple[str, str]:
        m = CATALOG.get(self.metric)
        if m is not None:
            return m.zh, m.en
        return _EXTRA_LABELS.get(self.metric, (self.metric, self.metric))

    @property
    def baseline_label(self) -> tuple[str, str]:
        return BASELINE_LABEL[self.baseline_kind]

    @property
    def evidence_zh(self) -> str:
        zh, _ = self.metric_label
        b = self.baseline_label[0]
        return f"{zh} {fmt(self.metric, self.value)}，{b} {fmt(self.metric, self.baseline)}"

    @property
    def evidence_en(self) -> str:
        _, en = self.metric_label
        b = self.baseline_label[1]
        return f"{en} {fmt(self.metric, self.value)} vs {b} {fmt(self.metric, self.baseline)}"

    @property
    def text_zh(self) -> str:
        return f"{self.title_zh}：{self.evidence_zh}。{self.action_zh}"

    @property
    def text_en(self) -> str:
        return f"{self.title_en}: {self.evidence_en}. {self.action_en}"


_EXTRA_LABELS = {"segment_score": ("讲解片段得分", "Segment score")}
_PLAIN_RATIO = {"roi", "roi_net", "peak_avg_ratio"}


def fmt(key: str, v: float | None) -> str:
    """A metric value for a sentence: percentages, yuan, seconds or a plain number."""
    if v is None:
        return "—"
    m = CATALOG.get(key)
    if m is not None and m.unit == "ratio" and key not in _PLAIN_RATIO:
        return f"{v * 100:.2f}%"
    if m is not None and m.unit == "元":
        return f"¥{v:,.2f}"
    if key.endswith("seconds"):
        return f"{v:.0f}s"
    if key in _PLAIN_RATIO:
        return f"{v:.2f}"
    return f"{v:,.1f}" if isinstance(v, float) and not float(v).is_integer() else f"{v:,.0f}"


@dataclass
class Context:
    metrics: dict[str, Any]
    prev: dict[str, Any] | None = None
    funnel: Any = None  # analysis.Funnel
    segments: Any = None  # analysis.Segments or a DataFrame of segments
    benchmarks: dict[str, Benchmark] = field(default_factory=lambda: dict(BENCHMARKS))

    def value(self, key: str) -> float | None:
        return _num(self.metrics.get(key))

    def previous(self, key: str) -> float | None:
        return _num(self.prev.get(key)) if self.prev else None

    def bench(self, key: str) -> Benchmark:
        return self.benchmarks[key]


def _num(v: Any) -> float | None:
    if v is None:
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if pd.isna(f) else f


@dataclass
class Check:
    """The outcome of comparing one metric with its previous value and its benchmark."""

    fires: bool
    value: float | None
    baseline: float | None = None
    kind: str = "benchmark"
    note: str = ""
    fell: bool = False  # worse than the previous session by more than DROP


def low(ctx: Context, key: str, drop: float = DROP) -> Check:
    """Fires when the value fell by more than ``drop`` vs the previous session, or is below the benchmark."""
    return _compare(ctx, key, drop, higher_is_bad=False)


def high(ctx: Context, key: str, drop: float = DROP) -> Check:
    """Fires when the value rose by more than ``drop`` vs the previous session, or is above the benchmark."""
    return _compare(ctx, key, drop, higher_is_bad=True)


def _compare(ctx: Context, key: str, drop: float, higher_is_bad: bool) -> Check:
    v = ctx.value(key)
    if v is None:
        return Check(False, None)
    b = ctx.bench(key)
    p = ctx.previous(key)
    if higher_is_bad:
        fell = p is not None and v > p * (1 + drop) and v > p
        bad_bench = v > b.value
    else:
        fell = p is not None and p > 0 and v < p * (1 - drop)
        bad_bench = v < b.value
    if fell:
        note = f"参考值 benchmark {fmt(key, b.value)} ({b.source})"
        return Check(True, v, p, "previous", note, fell=True)
    if bad_bench:
        note = b.source
        if p is not None:
            note = f"上一场 previous {fmt(key, p)}; {b.source}"
        return Check(True, v, b.value, "benchmark", note)
    return Check(False, v)


RuleFn = Callable[[Context], "Suggestion | None"]
RULES: list[RuleFn] = []


def rule(fn: RuleFn) -> RuleFn:
    RULES.append(fn)
    return fn


def _sev(c: Check, higher_is_bad: bool = False) -> str:
    """High when the value is off by half (or double, for bad-when-high metrics); low when only slightly off."""
    if c.value is None or not c.baseline:
        return "medium"
    ratio = c.value / c.baseline
    if higher_is_bad:
        return "high" if ratio > 2 else "medium"
    if ratio < 0.5:
        return "high"
    return "medium" if c.fell or ratio < 0.85 else "low"


def _make(rule_name: str, c: Check, key: str, sev: str, title: tuple[str, str], action: tuple[str, str]):
    return Suggestion(
        rule=rule_name,
        severity=sev,
        title_zh=title[0],
        title_en=title[1],
        metric=key,
        value=float(c.value),
        baseline=float(c.baseline),
        baseline_kind=c.kind,
        action_zh=action[0],
        action_en=action[1],
        note=c.note,
    )


# ---------------------------------------------------------------------------------------------
# The rules


@rule
def entry_rate_low(ctx: Context) -> Suggestion | None:
    key = "exposure_entry_rate"
    c = low(ctx, key)
    if not c.fires:
        return None
    return _make(
        "entry_rate_low",
        c,
        key,
        _sev(c),
        ("曝光进入率偏低", "Few impressions turn into entries"),
        (
            "优化直播间封面、标题和开场前3秒画面：主推品与价格上屏、真人出镜、场景明亮；准备2–3套封面做A/B测试。",
            "Rework the cover, title and the first seconds of the stream (hero product and price on screen, "
            "a person in frame, a bright set); A/B test two or three covers.",
        ),
    )


@rule
def opening_loss(ctx: Context) -> Suggestion | None:
    key = "lost_5min_rate"
    v = ctx.value(key)
    b = ctx.bench(key)
    if v is None or v <= b.value:
        return None
    p = ctx.previous(key)
    note = b.source + (f"; 上一场 previous {fmt(key, p)}" if p is not None else "")
    c = Check(True, v, b.value, "benchmark", note)
    return _make(
        "opening_loss",
        c,
        key,
        "high" if v > 0.6 else "medium",
        ("开场留人不足", "Viewers leave in the first five minutes"),
        (
            "重做开场钩子：前30秒亮出今日福利和爆款价格，预告整点福袋/秒杀，用“先别走”类留人话术；新进观众多时重复一次福利介绍。",
            "Rebuild the opening hook: show today's deal and hero price in the first 30 seconds, announce the "
            "next lucky bag / flash sale, and repeat the welcome offer when many new viewers arrive.",
        ),
    )


@rule
def ctr_high_pay_low(ctx: Context) -> Suggestion | None:
    ctr = ctx.value("product_ctr")
    if ctr is None:
        return None
    p_ctr = ctx.previous("product_ctr")
    ctr_ok = ctr >= ctx.bench("product_ctr").value or (p_ctr is not None and ctr >= p_ctr)
    if not ctr_ok:
        return None
    key = "click_pay_rate"
    c = low(ctx, key)
    if not c.fires:
        return None
    c.note = f"商品点击率 product CTR {fmt('product_ctr', ctr)}; " + c.note
    return _make(
        "ctr_high_pay_low",
        c,
        key,
        _sev(c),
        ("点击多、成交少", "Many clicks, few purchases"),
        (
            "观众有兴趣但没下单：核对价格是否有竞争力、库存和规格是否充足、优惠券能否正常领取和叠加，缩短下单路径并在讲解中口播到手价。",
            "Viewers are interested but do not buy: check the price against competitors, stock and sizes, "
            "that coupons can be claimed and stacked; shorten checkout and state the final price on air.",
        ),
    )


@rule
def product_exposure_low(ctx: Context) -> Suggestion | None:
    key = "product_exposure_rate"
    c = low(ctx, key)
    if not c.fires:
        return None
    return _make(
        "product_exposure_low",
        c,
        key,
        _sev(c),
        ("商品曝光不足", "Too few viewers see a product"),
        (
            "更频繁地弹出商品卡、置顶讲解中的商品，口播引导点击小黄车（每3–5分钟一次），新进观众高峰时及时挂车。",
            "Pop product cards and pin the product being explained more often, prompt viewers to open the "
            "shopping cart (小黄车) every 3–5 minutes, and pin a product whenever new viewers flow in.",
        ),
    )


@rule
def interaction_low(ctx: Context) -> Suggestion | None:
    for key in ("interaction_rate", "comment_rate"):
        c = low(ctx, key)
        if c.fires:
            break
    else:
        return None
    other = "comment_rate" if key == "interaction_rate" else "interaction_rate"
    ov = ctx.value(other)
    if ov is not None:
        c.note = f"{CATALOG[other].zh} {CATALOG[other].en} {fmt(other, ov)}; " + c.note
    return _make(
        "interaction_low",
        c,
        key,
        _sev(c),
        ("互动不足", "Low interaction"),
        (
            "增加互动指令：定时福袋（评论口令参与）、抛出选择题让观众扣1/扣2、点名回答弹幕提问、点赞达标解锁福利。",
            "Add interaction prompts: timed lucky bags (comment a keyword to join), either-or questions "
            "('type 1 or 2'), answer danmaku questions by name, unlock a perk at a like target.",
        ),
    )


_STEP_ACTIONS = {
    "exposure_entry": (
        "进入环节变弱：优化封面、标题和开场画面，检查投放人群是否偏离。",
        "The entry step weakened: rework cover, title and opening frames; check the paid audience targeting.",
    ),
    "entry_exposure": (
        "商品曝光环节变弱：更频繁地弹出商品卡、置顶小黄车，讲解时同步挂车。",
        "The product-exposure step weakened: pop product cards and pin the cart more often, pin while explaining.",
    ),
    "exposure_click": (
        "点击环节变弱：强化卖点讲解和上身/使用演示，商品卡标题和主图突出利益点。",
        "The click step weakened: sharpen the pitch and live demos; make the product card title and image show the benefit.",
    ),
    "click_pay": (
        "成交环节变弱：核对价格、库存、规格和优惠券，口播到手价并逼单（限时限量）。",
        "The purchase step weakened: check price, stock, sizes and coupons; state the final price and close with limited-time offers.",
    ),
}


@rule
def funnel_weakest(ctx: Context) -> Suggestion | None:
    f = ctx.funnel
    w = getattr(f, "weakest", None)
    if w is None or w.change is None or pd.isna(w.change) or w.change > -0.10:
        return None
    key = {
        "exposure_entry": "exposure_entry_rate",
        "entry_exposure": "product_exposure_rate",
        "exposure_click": "product_ctr",
        "click_pay": "click_pay_rate",
    }.get(w.rate, "conversion_rate")
    n = len(getattr(f, "baseline_sessions", []) or [])
    zh, en = _STEP_ACTIONS.get(w.rate, ("", ""))
    return Suggestion(
        rule="funnel_weakest",
        severity="high" if w.change <= -0.3 else "medium",
        title_zh=f"漏斗最弱环节：{w.zh}",
        title_en=f"Weakest funnel step: {w.en}",
        metric=key,
        value=float(w.value),
        baseline=float(w.baseline),
        baseline_kind="trailing",
        action_zh=zh,
        action_en=en,
        note=f"{w.change:+.1%} vs 近{n}场 the last {n} sessions (UV, step to step)",
    )


@rule
def refund_high(ctx: Context) -> Suggestion | None:
    key = "refund_rate"
    c = high(ctx, key, drop=0.25)
    if not c.fires:
        return None
    return _make(
        "refund_high",
        c,
        key,
        _sev(c, higher_is_bad=True),
        ("退款率偏高", "High refund rate"),
        (
            "排查退款原因：核对商品质量与批次，讲解中如实描述尺码、材质和色差，避免夸大宣传；对退款集中的商品暂停主推。",
            "Find why people refund: check product quality and batches, describe size, material and colour "
            "honestly on air, avoid overclaiming; stop pushing the products with the most refunds.",
        ),
    )


@rule
def roi_low(ctx: Context) -> Suggestion | None:
    key = "roi"
    if not ctx.value("ad_cost"):
        return None
    c = low(ctx, key)
    if not c.fires:
        return None
    return _make(
        "roi_low",
        c,
        key,
        "high" if c.value < 1.0 else "medium",
        (
            "投放ROI偏低" if not c.fell else "投放ROI下滑",
            "Paid ROI is low" if not c.fell else "Paid ROI fell",
        ),
        (
            "调整投放预算：暂停低ROI计划，把预算集中到转化好的人群和时段，先用约10%预算小额测试新素材和定向。",
            "Rebalance the budget: pause low-ROI campaigns, concentrate spend on the audiences and hours that "
            "convert, and test new creatives and targeting with ~10 % of the budget first.",
        ),
    )


@rule
def segments_low_score(ctx: Context) -> Suggestion | None:
    seg = ctx.segments
    df = getattr(seg, "segments", seg)
    if not isinstance(df, pd.DataFrame) or len(df) < 3 or "score" not in df:
        return None
    limit = ctx.bench("segment_score").value
    scores = pd.to_numeric(df["score"], errors="coerce")
    weak = df[scores < limit].assign(low_score=scores[scores < limit]).sort_values("low_score")
    if weak.empty:
        return None
    worst = weak.iloc[0]
    names = weak["name"] if "name" in weak else weak["product_id"]
    items = [
        f"#{int(seg)} {name} ({sc:.0f})"
        for seg, name, sc in zip(weak["segment"], names, weak["low_score"], strict=True)
    ]
    return Suggestion(
        rule="segments_low_score",
        severity="medium" if len(weak) < len(df) / 2 else "high",
        title_zh=f"{len(weak)}个讲解片段表现差",
        title_en=f"{len(weak)} weak explain segments",
        metric="segment_score",
        value=float(worst["low_score"]),
        baseline=float(scores.median()),
        baseline_kind="show",
        action_zh="重写这些商品的讲解话术：先讲痛点和利益点，再做演示和对比，最后给到手价和限时理由；参考本场高分片段的结构。",
        action_en="Rework the talk track for these products: pain point and benefit first, then demo and "
        "comparison, then the final price and a reason to buy now; copy the structure of the best segments.",
        note=f"score < {limit:.0f}: " + ", ".join(items[:8]),
        items=items,
    )


@rule
def watch_time_low(ctx: Context) -> Suggestion | None:
    key = "avg_watch_seconds"
    c = low(ctx, key, drop=0.2)
    if not c.fires:
        return None
    return _make(
        "watch_time_low",
        c,
        key,
        "high" if c.value < 30 else "medium",
        ("人均停留时间短", "Short average watch time"),
        (
            "加快节奏并设置留人点：每10–15分钟一个福利或秒杀节点并提前预告，缩短单品讲解时间，用倒计时福袋留住观众。",
            "Tighten the pacing and give reasons to stay: a deal or flash sale every 10–15 minutes announced "
            "ahead, shorter product explains, countdown lucky bags.",
        ),
    )


def suggest(
    metrics: dict[str, Any],
    prev: dict[str, Any] | None = None,
    funnel: Any = None,
    segments: Any = None,
    benchmarks: dict[str, Benchmark] | None = None,
) -> list[Suggestion]:
    """Run every rule; suggestions sorted by severity (high first), then in rule order."""
    ctx = Context(metrics, prev, funnel, segments, {**BENCHMARKS, **(benchmarks or {})})
    out = [s for r in RULES if (s := r(ctx)) is not None]
    return sorted(out, key=lambda s: _SEV_ORDER[s.severity])
