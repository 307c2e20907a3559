"""What drives conversion: regressions over a show's viewers and minutes (seed 8.2).

Two models, both with intervals. *Per viewer*: did a viewer who entered buy in that show (logistic
regression; effects are average marginal effects in percentage points) — by traffic source, returning
viewer, when they entered, whether a product was being explained then, its price and whether it was a
promotion (福利款/秒杀), and the streamer on air. *Per minute*: GMV in each minute (OLS with
Newey–West HAC errors, as minutes are autocorrelated) — by online viewers, the product explained, its
price and promotion, the streamer and the minute of the show.

p-values are Holm-adjusted within each model: an effect is called *systematic* when the adjusted p is
below α, else it may be chance. These are associations inside the shows, not causal effects — a
driver worth acting on is worth an experiment (``liveops experiment``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import duckdb
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from . import analysis as A
from . import stats
from .metrics import session_bounds

PROMO = re.compile(r"福利|秒杀|特价|限时|福袋|引流|1元|9\.9")
SOURCE_ZH = {
    "feed": "推荐流量",
    "short_video": "短视频引流",
    "follow": "关注",
    "search": "搜索",
    "paid": "付费投放",
    "share": "分享",
    "other": "其他来源",
}
MIN_ROWS = 30


class DriversError(ValueError):
    pass


@dataclass
class Driver:
    model: str  # "conversion" (per viewer, percentage points) | "gmv_per_minute" (yuan per minute)
    factor: str
    label_zh: str
    label_en: str
    effect: float
    ci_low: float
    ci_high: float
    p_value: float
    p_adjusted: float
    systematic: bool
    sentence_zh: str
    sentence_en: str


@dataclass
class DriversResult:
    scope: str  # "session:<id>" | "room:<id>"
    sessions: list[str]
    viewers: int
    buyers: int
    minutes: int
    conversion: list[Driver]
    gmv_per_minute: list[Driver]
    alpha: float
    notes: list[str] = field(default_factory=list)

    @property
    def drivers(self) -> list[Driver]:
        return self.conversion + self.gmv_per_minute


# --- tables ------------------------------------------------------------------------------------------


def _products(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    return con.execute("SELECT product_id, name, CAST(price AS DOUBLE) AS price FROM products").df()


def _product_facts(con, t: ir.Table, sessions: Sequence[str]) -> pd.DataFrame:
    """Price and promotion flag per product: the product table, else the median paid amount per order."""
    dim = _products(con)
    s = t.filter(t.session_id.isin(list(sessions)) & (t.type == "order") & t.product_id.notnull())
    seen = (
        s.group_by("product_id")
        .aggregate(order_price=(s.amount.cast("float64") / s["count"].fill_null(1)).median())
        .execute()
    )
    df = seen.merge(dim, on="product_id", how="outer")
    df["price"] = df["price"].fillna(df["order_price"])
    df["promo"] = df["name"].fillna("").map(lambda n: bool(PROMO.search(n)))
    return df[["product_id", "price", "promo"]]


def _at_entry(windows: pd.DataFrame, v: pd.DataFrame) -> pd.DataFrame:
    """The explain window open when each viewer entered (the latest started, if it has not ended)."""
    w = windows.rename(columns={"start": "w_start", "end": "w_end"}).sort_values("w_start")
    v = v.sort_values("t_in")
    j = pd.merge_asof(v, w, left_on="t_in", right_on="w_start", by="session_id", direction="backward")
    open_ = j["w_end"].notna() & (j["t_in"] <= j["w_end"])
    j.loc[~open_, ["product_id", "streamer_window"]] = None
    return j


@dataclass
class _Shows:
    """What both tables need about the shows, read once: each show's streamer and each product's facts."""

    ids: list[str]
    streamers: pd.DataFrame  # session_id, streamer_id
    facts: pd.DataFrame  # product_id, price, promo

    @classmethod
    def of(cls, con, t: ir.Table, sessions: Sequence[str]) -> _Shows:
        ids = list(sessions)
        meta = A.sessions(t.filter(t.session_id.isin(ids)))[["session_id", "streamer_id"]]
        return cls(ids, meta, _product_facts(con, t, ids))


def viewer_table(con, t: ir.Table, sessions: Sequence[str], shows: _Shows | None = None) -> pd.DataFrame:
    """One row per (show, viewer who entered): bought, source, returning, entry minute, product at entry."""
    shows = shows or _Shows.of(con, t, sessions)
    ids = shows.ids
    s = t.filter(t.session_id.isin(ids))
    e = s.filter((s.type == "enter") & s.user_id.notnull())
    first = e.group_by(["session_id", "user_id"]).aggregate(
        t_in=e.ts.min(), source=e.source.argmin(e.ts), room_id=e.room_id.min()
    )
    pays = s.filter((s.type == "pay") & s.user_id.notnull())
    buyers = pays.group_by(["session_id", "user_id"]).aggregate(bought=pays.count())
    b = session_bounds(s)
    # returning: the viewer was in the same room before this show began
    seen = t.filter(t.user_id.notnull() & (t.type == "enter"))
    seen = seen.group_by(["room_id", "user_id"]).aggregate(first_seen=seen.ts.min())
    v = first.join(b, first.session_id == b.session_id).select(
        first.session_id, first.user_id, first.t_in, first.source, first.room_id, show_start=b.start
    )
    v = v.left_join(buyers, [v.session_id == buyers.session_id, v.user_id == buyers.user_id]).select(
        v.session_id, v.user_id, v.t_in, v.source, v.room_id, v.show_start, bought=buyers.bought.notnull()
    )
    v = v.left_join(seen, [v.room_id == seen.room_id, v.user_id == seen.user_id]).select(
        *[v[c] for c in v.columns], returning=seen.first_seen < v.show_start
    )
    df = v.execute()
    windows = A.explain_windows(s).execute().rename(columns={"streamer_id": "streamer_window"})
    df["t_in"] = pd.to_datetime(df["t_in"], utc=True)
    windows["start"] = pd.to_datetime(windows["start"], utc=True)
    windows["end"] = pd.to_datetime(windows["end"], utc=True)
    df = _at_entry(windows[["session_id", "product_id", "start", "end", "streamer_window"]], df)
    df = df.merge(shows.streamers, on="session_id", how="left")
    df["streamer"] = df["streamer_window"].fillna(df["streamer_id"]).fillna("—")
    df = df.merge(shows.facts, on="product_id", how="left")
    # the minute of the show at entry, in whole minutes: viewers alike in every factor share one fitted row
    df["entry_min"] = np.floor(
        (df["t_in"] - pd.to_datetime(df["show_start"], utc=True)).dt.total_seconds() / 60
    )
    df["returning"] = df["returning"].fillna(False).astype(bool)
    df["source"] = df["source"].fillna("other")
    return df


def minute_table(con, t: ir.Table, sessions: Sequence[str], shows: _Shows | None = None) -> pd.DataFrame:
    """One row per (show, minute): GMV, online, the product explained and its facts, the streamer."""
    shows = shows or _Shows.of(con, t, sessions)
    out = []
    for sid in shows.ids:
        tl = A.timeline_utc(t, sid)
        df = pd.DataFrame(
            {
                "session_id": sid,
                "minute": tl["minute"],
                "elapsed_min": tl["elapsed_min"],
                "gmv": pd.to_numeric(tl["gmv"], errors="coerce").fillna(0).astype(float),
                "online": pd.to_numeric(tl["online"], errors="coerce").fillna(0).astype(float),
                "product_id": tl["explaining"],
            }
        )
        on_air = A.explaining_per_minute(
            A.explain_table(t.filter(t.session_id == sid)), df, "streamer_id", "streamer"
        )
        streamer = shows.streamers.loc[shows.streamers["session_id"] == sid, "streamer_id"]
        df["streamer"] = on_air["streamer"].fillna(
            streamer.iloc[0] if len(streamer) and streamer.iloc[0] else "—"
        )
        out.append(df)
    return pd.concat(out, ignore_index=True).merge(shows.facts, on="product_id", how="left")


# --- models ------------------------------------------------------------------------------------------


def _design(df: pd.DataFrame, with_online: bool) -> tuple[pd.DataFrame, dict[str, tuple[str, str]]]:
    """Columns of the regression and each one's (Chinese, English) label."""
    x = pd.DataFrame(index=df.index)
    labels: dict[str, tuple[str, str]] = {}
    explaining = df["product_id"].notna()
    if explaining.any() and (~explaining).any():
        x["explaining"] = explaining.astype(float)
        labels["explaining"] = ("正在讲解商品时", "while a product is being explained")
    price = np.log2(df["price"].where(df["price"] > 0))
    if price.notna().sum() > 1 and price.std() > 0:
        x["log2_price"] = (price - price.mean()).fillna(0)
        labels["log2_price"] = ("讲解商品价格每翻一倍", "per doubling of the explained product's price")
    promo = df["promo"].fillna(False).astype(bool)
    if promo.any() and (~promo & explaining).any():
        x["promo"] = promo.astype(float)
        labels["promo"] = ("讲解福利款/秒杀商品时", "while a promotion (福利款/秒杀) is explained")
    if "source" in df:
        base = df["source"].value_counts().idxmax()
        for src in sorted(set(df["source"]) - {base}):
            if (df["source"] == src).sum() >= 20:
                x[f"source={src}"] = (df["source"] == src).astype(float)
                labels[f"source={src}"] = (
                    f"{SOURCE_ZH.get(src, src)}进入的观众（相对{SOURCE_ZH.get(base, base)}）",
                    f"viewers from {src} (vs {base})",
                )
    if "returning" in df and df["returning"].any() and (~df["returning"]).any():
        x["returning"] = df["returning"].astype(float)
        labels["returning"] = ("回访观众（相对首次来）", "returning viewers (vs first-time)")
    if "entry_min" in df:
        x["entry_10min"] = df["entry_min"] / 10
        labels["entry_10min"] = ("开播后每晚 10 分钟进入", "per 10 minutes later entry")
    if "elapsed_min" in df:
        x["minute_10"] = df["elapsed_min"] / 10
        labels["minute_10"] = ("开播后每过 10 分钟", "per 10 minutes into the show")
    if with_online:
        x["online_100"] = df["online"] / 100
        labels["online_100"] = ("在线人数每多 100 人", "per 100 more viewers online")
    streamers = df["streamer"].value_counts()
    if len(streamers) > 1:
        base = streamers.idxmax()
        for st in sorted(set(streamers.index) - {base}):
            if streamers[st] >= 20:
                x[f"streamer={st}"] = (df["streamer"] == st).astype(float)
                labels[f"streamer={st}"] = (f"主播 {st}（相对 {base}）", f"streamer {st} (vs {base})")
    keep = [c for c in x.columns if x[c].std() > 0]
    return x[keep], {k: labels[k] for k in keep}


def _sentence(model: str, zh: str, en: str, eff: float, lo: float, hi: float, sysm: bool) -> tuple[str, str]:
    if model == "conversion":
        v = f"{abs(eff) * 100:.2f} 个百分点"
        zh_s = f"{zh}：成交概率{'高' if eff > 0 else '低'} {v}（95% 区间 {lo * 100:+.2f} ～ {hi * 100:+.2f}）"
        en_s = f"{en}: {eff * 100:+.2f} pp chance to buy (95% CI {lo * 100:+.2f} to {hi * 100:+.2f})"
    else:
        zh_s = f"{zh}：每分钟成交额{'多' if eff > 0 else '少'} ¥{abs(eff):,.0f}（95% 区间 {lo:+,.0f} ～ {hi:+,.0f}）"
        en_s = f"{en}: {eff:+,.0f} yuan GMV per minute (95% CI {lo:+,.0f} to {hi:+,.0f})"
    if sysm:
        return zh_s + "，系统性差异。", en_s + "; systematic."
    return zh_s + "，可能只是偶然波动。", en_s + "; could be chance."


def _rank(model: str, names, eff, lo, hi, p, labels, alpha) -> list[Driver]:
    adj = stats.adjust(list(p), "holm")
    out = []
    for n, e, a, b, pv, pa in zip(names, eff, lo, hi, p, adj, strict=True):
        zh, en = labels[n]
        sysm = pa < alpha
        s_zh, s_en = _sentence(model, zh, en, e, a, b, sysm)
        out.append(
            Driver(model, n, zh, en, float(e), float(a), float(b), float(pv), float(pa), sysm, s_zh, s_en)
        )
    out.sort(key=lambda d: (not d.systematic, -abs(d.effect) / max(d.ci_high - d.ci_low, 1e-12)))
    return out


def conversion_drivers(df: pd.DataFrame, alpha: float = 0.05) -> list[Driver]:
    """Logistic regression of buying on the viewer's factors; effects are average marginal effects.

    Viewers with the same factors and outcome are one row with a frequency weight (a show of a million
    viewers has tens of thousands of distinct rows), which gives the same fit as one row per viewer. The
    marginal effects' intervals come from the delta method on the fitted coefficients."""
    import statsmodels.api as sm
    from scipy import stats as st

    y = df["bought"].astype(float)
    if len(df) < MIN_ROWS or y.nunique() < 2:
        return []
    x, labels = _design(df, with_online=False)
    if x.empty:
        return []
    cols = list(x.columns)
    g = x.assign(_y=y.to_numpy()).groupby([*cols, "_y"], sort=False).size().reset_index(name="_w")
    xm = sm.add_constant(g[cols].astype(float), has_constant="add")
    try:
        fit = sm.GLM(g["_y"], xm, family=sm.families.Binomial(), freq_weights=g["_w"]).fit()
    except (np.linalg.LinAlgError, ValueError):  # singular design or perfect separation: no answer
        return []
    beta = fit.params.to_numpy()
    xa = xm.to_numpy()
    w = g["_w"].to_numpy(float)
    p = 1 / (1 + np.exp(-xa @ beta))
    s1 = p * (1 - p)
    ame = beta * (w @ s1) / w.sum()
    # ∂AME_j/∂β_k = mean[1{j=k}·p(1−p) + β_j·p(1−p)(1−2p)·x_k]
    jac = np.diag(np.full(beta.size, (w @ s1) / w.sum())) + np.outer(
        beta, (w * s1 * (1 - 2 * p)) @ xa / w.sum()
    )
    se = np.sqrt(np.diag(jac @ fit.cov_params().to_numpy() @ jac.T))
    z = st.norm.ppf(1 - alpha / 2)
    pv = 2 * st.norm.sf(np.abs(ame / se))
    k = slice(1, None)  # not the constant
    return _rank("conversion", cols, ame[k], (ame - z * se)[k], (ame + z * se)[k], pv[k], labels, alpha)


def gmv_drivers(df: pd.DataFrame, alpha: float = 0.05) -> list[Driver]:
    """OLS of GMV per minute on the minute's factors, with Newey–West (HAC) standard errors."""
    import statsmodels.api as sm

    if len(df) < MIN_ROWS:
        return []
    x, labels = _design(df, with_online=True)
    if x.empty:
        return []
    lags = max(1, math.floor(4 * (len(df) / 100) ** (2 / 9)))
    try:
        fit = sm.OLS(df["gmv"].astype(float), sm.add_constant(x, has_constant="add")).fit(
            cov_type="HAC", cov_kwds={"maxlags": lags}
        )
    except (np.linalg.LinAlgError, ValueError):
        return []
    ci = fit.conf_int(alpha).loc[x.columns].to_numpy()
    return _rank(
        "gmv_per_minute",
        list(x.columns),
        fit.params[x.columns],
        ci[:, 0],
        ci[:, 1],
        fit.pvalues[x.columns],
        labels,
        alpha,
    )


def drivers(
    con, t: ir.Table, session: str | None = None, room: str | None = None, alpha: float = 0.05
) -> DriversResult:
    """Both models over one show, or over every show of a room."""
    if (session is None) == (room is None):
        raise DriversError("需要 --session 或 --room 之一 give exactly one of session or room")
    if session is not None:
        found = t.filter(t.session_id == session).count().execute()
        if not found:
            raise DriversError(f"没有这个场次 no such session: {session}")
        sessions, scope = [session], f"session:{session}"
    else:
        r = t.filter(t.room_id == room)
        sessions = sorted(r.select("session_id").distinct().execute()["session_id"].tolist())
        if not sessions:
            raise DriversError(f"没有这个直播间 no such room: {room}")
        scope = f"room:{room}"
    shows = _Shows.of(con, t, sessions)
    v = viewer_table(con, t, sessions, shows)
    m = minute_table(con, t, sessions, shows)
    notes = [
        "回归给出的是场内的关联，不是因果；值得行动的因素请用实验验证。Associations within the shows, not causal "
        "effects — test a driver worth acting on with an experiment.",
        "p 值在每个模型内做 Holm 校正；校正后 p < α 为系统性影响，其余可能是偶然。p-values are Holm-adjusted "
        "within each model; adjusted p < α is called systematic, the rest may be chance.",
    ]
    conv = conversion_drivers(v, alpha)
    gmv = gmv_drivers(m, alpha)
    if not conv:
        notes.append("观众或成交太少，未拟合转化模型 too few viewers or buyers for the conversion model")
    if not gmv:
        notes.append("分钟数太少，未拟合成交额模型 too few minutes for the GMV model")
    return DriversResult(scope, sessions, len(v), int(v["bought"].sum()), len(m), conv, gmv, alpha, notes)
