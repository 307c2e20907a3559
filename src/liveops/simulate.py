"""Seeded, vectorised live-room simulator: the test oracle for every metric, detector and report.

``simulate(SimConfig(...))`` returns the events of one or more shows as an Arrow table in the
contract's column order (``schema.INPUT_FIELDS``), the ground truth as a JSON-serialisable dict
and the product catalogue. The numbers are not written in: they emerge from a behavioural model.

* Traffic: per-source arrival curves over the show (ramp, notification burst of followers at the
  start, peaks at flash deals, a slow random drift); paid traffic comes from an ad model per
  campaign (impressions → clicks → landings) that also yields ``ad_spend`` rows.
* Viewers: persistent per-room user pools with stable propensities (patience, interest, buying
  power, activity, loyalty) and experiment arm; fans and buyers come back to later shows.
* Stay: a swipe-or-stay mixture per visit (source, time and patience dependent), lucky-bag draws
  that hold viewers, re-entries, rare repeated enters while online, no leave for viewers still
  online at the end.
* Commerce: product impressions as a Poisson process while watching (weighted to the product
  being explained), clicks, carts, orders, payments and refunds thinned by user and product
  propensities; explain windows, flash deals, an A/B arm and switchback slots move them.
* Engagement: likes in bursts, comments from the phrase bank by intent, gifts, shares,
  follows, fan-club joins, as Poisson processes scaled by each viewer's activity.
* Room: session start/end, explain segments, ASR transcript lines, online snapshots, impressions.
* Optional cheating (bot accounts of four kinds) and injected violations, all in the truth.

No Python loop runs per event or per viewer: loops are per session, per minute-sized schedule
item, per visit rank or per product.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa

from liveops import phrasebank as pb
from liveops.schema import AMOUNT_TYPE, EVENT_TYPES, INPUT_FIELDS, SOURCES

__all__ = ["SimConfig", "SimResult", "simulate", "write_simulation", "BOT_KINDS"]

TYPES = tuple(EVENT_TYPES)
_T = {n: i for i, n in enumerate(TYPES)}
SRC = tuple(SOURCES)
_S = {n: i for i, n in enumerate(SRC)}
CST = timezone(timedelta(hours=8))
BOT_KINDS = ("viewer_bot", "like_farm", "comment_spam", "fake_order")
_BOT_SPLIT = (0.5, 0.2, 0.15, 0.15)
VARIANTS = ("A", "B", "control", "treatment")
AB_EXPERIMENT = "checkout_flow_v2"  # user-randomised; arm in `variant`, id in enter attrs.experiment
SWITCHBACK_EXPERIMENT = "talk_track_v2"  # switchback over time slots; schedule in <out>.schedule.csv

# --- behavioural parameters (the model; calibration targets are in shared/docs) -----------------
# First-visit source shares of organic viewers (paid comes from the ad model).
_ORGANIC_SHARE = {
    "feed": 0.535,
    "short_video": 0.115,
    "follow": 0.08,
    "search": 0.035,
    "share": 0.022,
    "other": 0.05,
}
# Per source: probability a visit is a swipe-through, median stay of a staying visit (s),
# probability an impression of the room leads to an enter.
_SWIPE = {
    "feed": 0.62,
    "short_video": 0.5,
    "follow": 0.2,
    "search": 0.35,
    "paid": 0.6,
    "share": 0.4,
    "other": 0.55,
}
_STAY_MEDIAN = {
    "feed": 100.0,
    "short_video": 120.0,
    "follow": 240.0,
    "search": 160.0,
    "paid": 90.0,
    "share": 140.0,
    "other": 95.0,
}
_ENTER_PROB = {
    "feed": 0.12,
    "short_video": 0.15,
    "follow": 0.32,
    "search": 0.22,
    "share": 0.28,
    "other": 0.13,
}
_STAY_SIGMA = 1.0
_SWIPE_MEAN_S = 11.0
_REENTER_P = 0.13
_REPEAT_ENTER_P = 0.004

_IMP_RATE = 1 / 24.0  # product impressions per second of watching
_EXPLAIN_IMP_MULT = 2.6  # weight of the explained product among impressions
_EXPLAIN_CLICK_MULT = 1.25
_EXPLAIN_ORDER_MULT = 1.05
_FLASH_IMP_MULT = 5.0
_CLICK_BASE = 0.021
_ORDER_BASE = 0.185
_PAY_P = 0.93
_TYPICAL_PRICE = 72.0  # yuan: purchase-weighted mean price of the regular catalogue
_BUY_SIGMA = 1.3  # spread of buying power: heavy-tailed buyer value
_CART_GIVEN_ORDER = 0.45
_CART_NO_ORDER = 0.12

_LIKE_RATE = 0.045 / 60  # bursts per second of watching at activity 1
_COMMENT_RATE = 0.007 / 60
_GIFT_RATE = 0.0022 / 60
_SHARE_RATE = 0.0025 / 60
_FOLLOW_RATE = 0.0075 / 60
_FANCLUB_AFTER_FOLLOW = 0.3
_FANCLUB_FAN_RATE = 0.004 / 60
_COMMENT_INTENT_P = (0.30, 0.40, 0.10, 0.20)  # question, reaction, complaint, chat


@dataclass
class SimConfig:
    """What to simulate. Defaults give one realistic two-hour show of ~30 k viewers."""

    viewers: int = 30_000  # distinct human viewers per session (before bots)
    minutes: int = 120
    seed: int = 0
    rooms: int = 1
    sessions: int = 1  # per room
    start: str | datetime = "2026-11-24T20:00:00+08:00"
    session_gap_days: float = 7.0
    products: int = 30
    campaigns: int = 3  # paid campaigns per room
    flash_deals: int = 3
    paid_share: float = 0.19  # expected share of viewers arriving through paid campaigns
    snapshots: bool = True  # emit online_snapshot rows every minute
    cheating: bool = False
    cheat_rate: float = 0.03  # bot accounts ÷ human viewers
    violations: bool = True
    violation_rate: float = 0.03  # share of transcript lines that break a rule
    comment_violation_rate: float = 0.003  # share of human comments that break a rule
    experiments: bool = True
    ab_lift: float = 0.15  # true relative lift of arm B on the order probability per click
    ab_from_session: int = (
        0  # each room's shows before this one run without the A/B test (a CUPED pre-period)
    )
    switchback_effect: float = 0.20  # true relative lift of treatment slots on the click probability
    switchback_minutes: int = 10
    refunds_after_end: bool = True  # most refunds arrive hours after the show (else all in the show)


@dataclass
class SimResult:
    events: pa.Table
    truth: dict
    products: pa.Table
    config: SimConfig = field(default_factory=SimConfig)


# --- small vectorised helpers --------------------------------------------------------------------

_D3 = np.frombuffer("".join(f"{i:03d}" for i in range(1000)).encode(), dtype="V3")  # "000".."999"


def _put_digits(out: np.ndarray, col: int, x: np.ndarray, width: int) -> None:
    """Write x zero-padded to ``width`` (a multiple of 3) into out[:, col:col + width]."""
    x = np.asarray(x, dtype=np.int64)
    for k in range(width // 3):
        c = col + width - 3 * (k + 1)
        out[:, c : c + 3] = _D3[x % 1000].view(np.uint8).reshape(-1, 3)
        x = x // 1000


def _strings_from_rows(mat: np.ndarray) -> pa.Array:
    """Rows of an (n, w) ASCII byte matrix as an Arrow string array, without Python strings."""
    n, w = mat.shape
    offsets = np.arange(n + 1, dtype=np.int32) * w
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(mat)))


def _rows(mat: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """mat[idx] for an (m, w) byte matrix, gathering whole rows at once."""
    w = mat.shape[1]
    v = np.ascontiguousarray(mat).view(f"V{w}").ravel()
    return v[idx].view(np.uint8).reshape(-1, w)


def _rows_strings(mat: np.ndarray, idx: np.ndarray) -> pa.Array:
    """Strings from the rows of a fixed-width byte matrix; idx < 0 → null (zero-length slot)."""
    idx = np.asarray(idx, dtype=np.int64)
    valid = idx >= 0
    n, w = idx.size, mat.shape[1]
    if valid.all():
        return _strings_from_rows(_rows(mat, idx))
    data = _rows(mat, idx[valid]) if valid.any() else np.zeros((0, w), np.uint8)
    offsets = np.zeros(n + 1, np.int32)
    np.cumsum(valid * np.int32(w), out=offsets[1:])
    bitmap = pa.py_buffer(np.packbits(valid, bitorder="little"))
    return pa.StringArray.from_buffers(
        n, pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(data)), bitmap, n - int(valid.sum())
    )


def _take(pool: pa.Array, idx: np.ndarray) -> pa.Array:
    """pool[idx] as a string array, idx < 0 → null; sparse columns only touch their valid rows."""
    idx = np.asarray(idx)
    valid = idx >= 0
    nv = int(valid.sum())
    n = idx.size
    if nv == n:
        return pool.take(pa.array(idx.astype(np.int64)))
    if nv == 0:
        return pa.nulls(n, pa.string())
    vals = pool.take(pa.array(idx[valid].astype(np.int64)))
    vo = np.frombuffer(vals.buffers()[1], np.int32)[vals.offset : vals.offset + nv + 1]
    lens = np.zeros(n, np.int32)
    lens[valid] = np.diff(vo)
    offsets = np.zeros(n + 1, np.int32)
    np.cumsum(lens, out=offsets[1:])
    offsets += vo[0]
    bitmap = pa.py_buffer(np.packbits(valid, bitorder="little"))
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), vals.buffers()[2], bitmap, n - nv)


def _seq_ids(prefix: bytes, count: int) -> np.ndarray:
    """(count, len(prefix) + 9) bytes: prefix + 000000000, 000000001, … built 1000 rows at a time."""
    p = len(prefix)
    w = p + 9
    nb = -(-count // 1000)
    mat = np.empty((nb * 1000, w), np.uint8)
    tmpl = np.empty((1000, w), np.uint8)
    tmpl[:, :p] = np.frombuffer(prefix, np.uint8)
    tmpl[:, p + 6 :] = _D3.view(np.uint8).reshape(1000, 3)
    hi = _D3.view(np.uint8).reshape(1000, 3)
    for b in range(nb):  # one step per thousand ids
        tmpl[:, p : p + 3] = hi[b // 1000 % 1000]
        tmpl[:, p + 3 : p + 6] = hi[b % 1000]
        mat[b * 1000 : (b + 1) * 1000] = tmpl
    return mat[:count]


def _bitmap(n: int, pos: np.ndarray) -> pa.Buffer:
    valid = np.zeros(n, bool)
    valid[pos] = True
    return pa.py_buffer(np.packbits(valid, bitorder="little"))


def _sparse_take(pool: pa.Array, n: int, pos: np.ndarray, vals: np.ndarray) -> pa.Array:
    """A string column of n rows: pool[vals] at rows pos (ascending), null elsewhere."""
    if pos.size == 0:
        return pa.nulls(n, pa.string())
    v = pool.take(pa.array(vals))
    vo = np.frombuffer(v.buffers()[1], np.int32)[v.offset : v.offset + pos.size + 1]
    lens = np.zeros(n, np.int32)
    lens[pos] = np.diff(vo)
    offsets = np.empty(n + 1, np.int32)
    offsets[0] = vo[0]
    np.cumsum(lens, out=offsets[1:])
    offsets[1:] += vo[0]
    return pa.StringArray.from_buffers(
        n, pa.py_buffer(offsets), v.buffers()[2], _bitmap(n, pos), n - pos.size
    )


def _sparse_rows(mat: np.ndarray, n: int, pos: np.ndarray, vals: np.ndarray) -> pa.Array:
    """Fixed-width strings (rows of mat) at rows pos, null elsewhere."""
    if pos.size == 0:
        return pa.nulls(n, pa.string())
    w = mat.shape[1]
    lens = np.zeros(n, np.int32)
    lens[pos] = w
    offsets = np.zeros(n + 1, np.int32)
    np.cumsum(lens, out=offsets[1:])
    data = np.ascontiguousarray(_rows(mat, vals))
    return pa.StringArray.from_buffers(
        n, pa.py_buffer(offsets), pa.py_buffer(data), _bitmap(n, pos), n - pos.size
    )


def _sparse_decimal(n: int, pos: np.ndarray, cents: np.ndarray) -> pa.Array:
    words = np.zeros((n, 2), np.int64)
    words[pos, 0] = cents
    return pa.Array.from_buffers(AMOUNT_TYPE, n, [_bitmap(n, pos), pa.py_buffer(words)], n - pos.size)


def _sparse_int(n: int, pos: np.ndarray, vals: np.ndarray) -> pa.Array:
    x = np.zeros(n, np.int64)
    x[pos] = vals
    return pa.Array.from_buffers(pa.int64(), n, [_bitmap(n, pos), pa.py_buffer(x)], n - pos.size)


def _decimal_from_cents(cents: np.ndarray) -> pa.Array:
    """decimal128(18, 2) from int64 cents (negative = null), built from buffers."""
    cents = np.asarray(cents, dtype=np.int64)
    valid = cents >= 0
    words = np.zeros((cents.size, 2), np.int64)
    words[:, 0] = cents
    words[~valid, 0] = 0
    n_null = cents.size - int(valid.sum())
    bitmap = pa.py_buffer(np.packbits(valid, bitorder="little")) if n_null else None
    return pa.Array.from_buffers(AMOUNT_TYPE, cents.size, [bitmap, pa.py_buffer(words)], n_null)


def _radix_argsort(x: np.ndarray) -> np.ndarray:
    """Stable argsort of non-negative int64 keys by 16-bit LSD radix passes (O(n) per pass)."""
    top = int(x.max()) if x.size else 0
    order = None
    shift = 0
    while True:
        key = ((x if order is None else x[order]) >> shift & 0xFFFF).astype(np.uint16)
        o = np.argsort(key, kind="stable")
        order = o if order is None else order[o]
        shift += 16
        if top >> shift == 0:
            return order


class _Pool:
    """Interned strings: index → string, built into one Arrow array at the end."""

    def __init__(self, items=()):
        self.items: list[str] = []
        self.index: dict[str, int] = {}
        for s in items:
            self.add(s)

    def add(self, s: str) -> int:
        i = self.index.get(s)
        if i is None:
            i = self.index[s] = len(self.items)
            self.items.append(s)
        return i

    def array(self) -> pa.Array:
        return pa.array(self.items, pa.string())


def _dumps(obj: dict) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


# --- event buffer ----------------------------------------------------------------------------------

_SPARSE = ("source", "campaign", "order", "amount", "count", "text", "attrs", "tag")


class _Events:
    """Parts of columns as added; assembled once, sorted by time, in ``_Sim._finish``."""

    def __init__(self):
        self.parts: list[tuple[int, int, int, np.ndarray, dict]] = []
        self.n = 0

    def add(self, type_: str, t_ms: np.ndarray, sess: int, **cols) -> None:
        t_ms = np.asarray(t_ms, dtype=np.int64)
        if t_ms.size == 0:
            return
        self.parts.append((_T[type_], sess, self.n, t_ms, cols))
        self.n += t_ms.size

    def dense(self, name: str, dtype=np.int64) -> np.ndarray:
        out = np.full(self.n, -1, dtype)
        for _, _, start, t, cols in self.parts:
            v = cols.get(name)
            if v is not None:
                out[start : start + t.size] = v
        return out

    def sparse(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        rows, vals = [], []
        for _, _, start, t, cols in self.parts:
            v = cols.get(name)
            if v is not None:
                v = np.broadcast_to(np.asarray(v, np.int64), t.shape)
                ok = np.flatnonzero(v >= 0)
                rows.append(start + ok)
                vals.append(v[ok])
        if not rows:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        return np.concatenate(rows), np.concatenate(vals)


# --- the simulator -------------------------------------------------------------------------------


@dataclass
class _RoomPool:
    """Persistent viewers of one room (global user ids and stable traits)."""

    gid: np.ndarray
    patience: np.ndarray
    interest: np.ndarray
    buy: np.ndarray
    activity: np.ndarray
    loyalty: np.ndarray
    fan: np.ndarray
    club: np.ndarray
    bot: np.ndarray  # 0 human, 1.. index into BOT_KINDS + 1
    last_seen: np.ndarray
    spent: np.ndarray  # cents paid so far


def _empty_pool() -> _RoomPool:
    f = np.zeros(0)
    return _RoomPool(
        np.zeros(0, np.int64),
        f,
        f,
        f,
        f,
        f,
        np.zeros(0, bool),
        np.zeros(0, bool),
        np.zeros(0, np.int8),
        np.zeros(0, np.int32),
        np.zeros(0, np.int64),
    )


def _parse_start(start: str | datetime) -> datetime:
    dt = start if isinstance(start, datetime) else datetime.fromisoformat(start)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=CST)
    return dt


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, CST).isoformat(timespec="milliseconds")


class _Sim:
    def __init__(self, cfg: SimConfig):
        if cfg.minutes < 2:
            raise ValueError("minutes must be at least 2")
        self.cfg = cfg
        self.rng = np.random.default_rng(np.random.PCG64(cfg.seed))
        self.ev = _Events()
        self.texts = _Pool()
        self.attrs = _Pool()
        self.n_users = 0
        self.user_arm: list[np.ndarray] = []
        self.truth_sessions: list[dict] = []
        self.violations: list[dict] = []
        self.bot_accounts: dict[int, int] = {}
        self.fake_orders: list[int] = []
        self.order_sess: list[np.ndarray] = []
        self.order_t: list[np.ndarray] = []
        self.n_orders = 0
        self.session_ids: list[str] = []
        self.session_room: list[int] = []
        self.session_t0: list[int] = []
        self.slot_arms: list[np.ndarray] = []
        self.session_ab: list[bool] = []  # the A/B test ran in this show
        self._ab_on = False
        self.ab_stats = {"A": [0, 0], "B": [0, 0]}
        self.ab_expected = {"b_exp_treated": 0.0, "b_exp_control": 0.0}
        self.intent_counts = dict.fromkeys((*pb.COMMENT_INTENTS, "spam"), 0)
        self._catalogue()
        self._comment_bank()
        self._enter_attrs()
        self.rooms: list[dict] = []
        self.camp_truth: list[dict] = []

    # ----- static data ------------------------------------------------------------------------
    def _catalogue(self) -> None:
        cfg, rng = self.cfg, self.rng
        P = max(4, cfg.products)
        cats = list(pb.CATEGORIES)
        cw = np.array([pb.CATEGORIES[c]["weight"] for c in cats])
        n_flash = min(max(cfg.flash_deals, 1), P // 4)
        names, cat_of, price, flash = [], [], [], []
        used: set[str] = set()
        for k in range(P):
            c = cats[int(rng.choice(len(cats), p=cw / cw.sum()))]
            spec = pb.CATEGORIES[c]
            for _ in range(50):
                nm = (
                    pb.BRAND_WORDS[int(rng.integers(len(pb.BRAND_WORDS)))]
                    + spec["items"][int(rng.integers(len(spec["items"])))]
                )
                if nm not in used:
                    break
            used.add(nm)
            is_flash = k < n_flash
            if is_flash:
                p = pb.FLASH_PRICES[int(rng.integers(len(pb.FLASH_PRICES)))]
                nm = nm + "（福利款）"
            else:
                lo, hi = spec["price"]
                p = math.exp(rng.uniform(math.log(lo), math.log(hi)))
                p = max(9.9, round(p / 10) * 10 - 0.1) if p > 20 else round(p, 1)
            names.append(nm)
            cat_of.append(c)
            price.append(round(p, 2))
            flash.append(is_flash)
        self.P = P
        w = len(str(P))
        self.product_ids = [f"p{k + 1:0{max(3, w)}d}" for k in range(P)]
        self.product_names = names
        self.product_cat = cat_of
        self.price_cents = np.round(np.array(price) * 100).astype(np.int64)
        self.is_flash = np.array(flash)
        self.refund_p = np.array([pb.CATEGORIES[c]["refund"] for c in cat_of])
        pop = np.exp(rng.normal(0, 0.8, P))
        pop[self.is_flash] = np.median(pop) * 0.25
        self.pop = pop / pop.sum()
        self.pop_cdf = np.cumsum(self.pop)
        appeal = np.exp(rng.normal(0, 0.25, P))
        self.appeal = appeal / float((self.pop * appeal).sum())
        # the shop's price level: regular prices scaled so a typical order is ~_TYPICAL_PRICE yuan
        reg = ~self.is_flash
        w = self.pop * (self.price_cents / 10_000.0) ** -0.5
        level = float((w * self.price_cents)[reg].sum() / w[reg].sum()) / 100
        scaled = np.array(price) * np.where(reg, _TYPICAL_PRICE / level, 1.0)
        scaled = np.where(reg & (scaled > 20), np.maximum(np.round(scaled / 10) * 10 - 0.1, 9.9), scaled)
        self.price_cents = np.round(scaled * 100).astype(np.int64)
        pf = (self.price_cents / 10_000.0) ** -0.5
        self.price_factor = pf / float((self.pop * pf).sum())  # cheaper sells more; catalogue-neutral

    def _comment_bank(self) -> None:
        bank = pb.comment_pool(self.P)
        self.comment_text = np.array([self.texts.add(t) for t, _, _ in bank], np.int32)
        intents = [i for _, i, _ in bank]
        self.comment_by_intent = {
            k: self.comment_text[[j for j, i in enumerate(intents) if i == k]]
            for k in (*pb.COMMENT_INTENTS, "spam")
        }
        self.viol_comment = [
            (cat, self.texts.add(t)) for cat, ts in pb.VIOLATING_COMMENTS.items() for t in ts
        ]

    def _enter_attrs(self) -> None:
        def enter_attrs(extra: dict) -> np.ndarray:
            pairs = [(d, r) for d in pb.DEVICES for r in pb.REGIONS]
            return np.array(
                [self.attrs.add(_dumps({"device": d, "region": r, **extra})) for d, r in pairs], np.int32
            )

        self.enter_attrs_plain = enter_attrs({})
        self.enter_attrs = (
            enter_attrs({"experiment": AB_EXPERIMENT}) if self.cfg.experiments else self.enter_attrs_plain
        )
        self.gift_attrs = np.array([self.attrs.add(_dumps({"gift_name": g[0]})) for g in pb.GIFTS], np.int32)
        self.gift_cents = np.array([round(g[1] * 100) for g in pb.GIFTS], np.int64)
        gw = np.array([g[2] for g in pb.GIFTS])
        self.gift_cdf = np.cumsum(gw / gw.sum())

    # ----- users -------------------------------------------------------------------------------
    def _new_users(self, pool: _RoomPool, n: int, bot: int = 0) -> np.ndarray:
        """Append n users to the pool; returns their pool indices."""
        rng = self.rng
        z = rng.normal(size=n)
        e = rng.normal(size=(5, n))
        gid = np.arange(self.n_users, self.n_users + n, dtype=np.int64)
        self.n_users += n
        self.user_arm.append(rng.integers(0, 2, n).astype(np.int8))
        start = pool.gid.size
        pool.gid = np.concatenate([pool.gid, gid])
        pool.patience = np.concatenate([pool.patience, np.exp(0.45 * (0.6 * z + 0.8 * e[0]))])
        pool.interest = np.concatenate([pool.interest, np.exp(0.55 * (0.4 * z + 0.917 * e[1]))])
        pool.buy = np.concatenate(
            [pool.buy, np.exp(_BUY_SIGMA * (0.3 * z + 0.954 * e[2]) - _BUY_SIGMA**2 / 2)]
        )
        pool.activity = np.concatenate([pool.activity, np.exp(1.0 * (0.5 * z + 0.866 * e[3]) - 0.5)])
        pool.loyalty = np.concatenate([pool.loyalty, np.exp(0.5 * e[4] - 0.125)])
        pool.fan = np.concatenate([pool.fan, np.zeros(n, bool)])
        pool.club = np.concatenate([pool.club, np.zeros(n, bool)])
        pool.bot = np.concatenate([pool.bot, np.full(n, bot, np.int8)])
        pool.last_seen = np.concatenate([pool.last_seen, np.full(n, -1, np.int32)])
        pool.spent = np.concatenate([pool.spent, np.zeros(n, np.int64)])
        return np.arange(start, start + n)

    # ----- run ---------------------------------------------------------------------------------
    def run(self) -> SimResult:
        cfg = self.cfg
        t_start = _parse_start(cfg.start)
        base_ms = int(t_start.timestamp() * 1000)
        rw = max(2, len(str(cfg.rooms)))
        sw = max(3, len(str(cfg.sessions)))
        for r in range(cfg.rooms):
            room_id = f"room{r + 1:0{rw}d}"
            streamers = [f"st{r + 1:0{rw}d}{c}" for c in "ab"]
            room = {
                "room_id": room_id,
                "index": r,
                "streamer_ids": streamers,
                "streamer_names": [pb.STREAMER_NAMES[(2 * r + j) % len(pb.STREAMER_NAMES)] for j in range(2)],
                "pool": _empty_pool(),
                "campaigns": self._campaigns(room_id),
            }
            self.rooms.append(room)
        # sessions in time order per room; rooms share the calendar
        for k in range(cfg.sessions):
            for room in self.rooms:
                sid = f"{room['room_id']}-s{k + 1:0{sw}d}"
                t0 = base_ms + int(round(k * cfg.session_gap_days * 86_400_000))
                self._session(room, k, sid, t0)
        return self._finish()

    def _campaigns(self, room_id: str) -> list[dict]:
        rng, cfg = self.rng, self.cfg
        out = []
        n = max(0, cfg.campaigns)
        if n == 0 or cfg.paid_share <= 0:
            return out
        alloc = rng.dirichlet(np.full(n, 4.0))
        for c in range(n):
            ctr = float(rng.uniform(0.015, 0.028))
            cpm = float(rng.uniform(42.0, 58.0))
            landing = float(rng.uniform(0.35, 0.5))
            quality = float(np.exp(rng.normal(0, 0.25)))
            # window as fractions of the show: the first campaign runs all show
            a, b = (0.0, 1.0) if c == 0 else sorted(rng.uniform(0.0, 1.0, 2))
            if b - a < 0.3:
                a, b = max(0.0, a - 0.15), min(1.0, b + 0.15)
            out.append(
                {
                    "campaign_id": f"qc-{room_id}-{c + 1}",
                    "ctr": ctr,
                    "cpm": cpm,
                    "landing": landing,
                    "quality": quality,
                    "alloc": float(alloc[c]),
                    "window": (float(a), float(b)),
                    "stats": {
                        "impressions": 0,
                        "clicks": 0,
                        "cost_cents": 0,
                        "viewers": 0,
                        "buyers": 0,
                        "gmv_cents": 0,
                        "exp_conv": 0.0,
                    },
                }
            )
        return out

    # ----- one show ----------------------------------------------------------------------------
    def _session(self, room: dict, k: int, sid: str, t0: int) -> None:
        cfg, rng = self.cfg, self.rng
        sess = len(self.session_ids)
        self.session_ids.append(sid)
        self.session_room.append(room["index"])
        self.session_t0.append(t0)
        self._ab_on = cfg.experiments and k >= cfg.ab_from_session
        self.session_ab.append(self._ab_on)
        S = cfg.minutes * 60
        self.S = S
        grid = np.arange(S + 1, dtype=np.float64)
        self.grid = grid
        tt = grid[:-1] + 0.5
        pool: _RoomPool = room["pool"]

        def ms(t):
            return t0 + np.clip((np.asarray(t) * 1000).astype(np.int64), 1, S * 1000 - 1)

        # --- schedule: flash deals, lucky bags, explain segments, switchback slots -------------
        n_flash = cfg.flash_deals if S >= 1800 else min(cfg.flash_deals, S // 1800)
        flash_t = np.array(
            [
                float(np.clip((j + 1) / (n_flash + 1) * S + rng.uniform(-180, 180), 0.12 * S, 0.9 * S))
                for j in range(n_flash)
            ]
        )
        flash_prods = np.flatnonzero(self.is_flash)
        flash_p = np.array([int(flash_prods[j % flash_prods.size]) for j in range(n_flash)], np.int64)
        flash_len = 240.0
        bags = [min(600.0 + rng.uniform(-30, 30), 0.5 * S)] + [float(f) + 120.0 for f in flash_t]
        seg_s, seg_e, seg_p = self._explain_schedule(S, flash_t, flash_p, flash_len)
        exp_at = np.full(S, -1, np.int64)
        for a, b, p in zip(seg_s, seg_e, seg_p, strict=True):
            exp_at[int(a) : int(b)] = p
        flash_at = np.zeros(S, bool)
        for f in flash_t:
            flash_at[int(f) : int(min(S, f + flash_len))] = True
        slot_len = max(1, cfg.switchback_minutes) * 60
        n_slots = -(-S // slot_len)
        slot_arm = rng.permutation(np.resize(np.array([0, 1], np.int8), n_slots))
        self.slot_arms.append(slot_arm)
        treat_at = np.repeat(slot_arm, slot_len)[:S].astype(bool) & cfg.experiments

        # --- traffic curves ---------------------------------------------------------------------
        ramp = 1 - np.exp(-tt / 200)
        bump = np.zeros(S)
        for f in flash_t:
            x = tt - f
            amp = rng.uniform(1.0, 1.6)
            bump += amp * np.where(x >= 0, np.exp(-x / 300), np.exp(x / 90))
        mins = cfg.minutes
        walk = np.cumsum(rng.normal(0, 0.06, mins + 2))
        walk = np.exp(walk - walk.mean())
        drift = np.interp(tt / 60, np.arange(mins + 2), walk)
        prof = {
            "feed": ramp * drift * (1 + bump),
            "short_video": ramp * (1.3 - 0.6 * tt / S) * np.sqrt(drift) * (1 + 0.3 * bump),
            "follow": (1 - np.exp(-tt / 45)) * (0.3 + 3.2 * np.exp(-tt / 400)),
            "search": ramp * (1 + 0.3 * bump),
            "share": ramp * (0.35 + 1.6 * bump),
            "other": ramp * drift * (1 + 0.5 * bump),
        }
        n_target = cfg.viewers * math.exp(rng.normal(0, 0.05)) if k else float(cfg.viewers)
        n_target = max(10.0, n_target)

        # --- paid: ad model per campaign ------------------------------------------------------------
        camps = room["campaigns"]
        paid_first_t, paid_camp = [], []
        ad_rows = []  # (minute, campaign, impressions, clicks, cost_cents)
        paid_target = n_target * cfg.paid_share
        mi = np.arange(mins)
        for ci, c in enumerate(camps):
            a, b = c["window"]
            act = ((tt >= a * S) & (tt < b * S)) * ramp * (1 + 0.5 * bump)
            if act.sum() <= 0:
                continue
            per_s = act / act.sum() * paid_target * c["alloc"] / (c["ctr"] * c["landing"])
            lam = per_s.reshape(mins, 60).sum(1) * np.exp(rng.normal(0, 0.12, mins))
            imp = rng.poisson(lam)
            ctr_m = np.clip(c["ctr"] * np.exp(rng.normal(0, 0.08, mins)), 0, 1)
            clicks = rng.binomial(imp, ctr_m)
            land = rng.binomial(clicks, c["landing"])
            cost = np.round(imp * c["cpm"] / 10 * np.exp(rng.normal(0, 0.05, mins))).astype(np.int64)
            on = imp > 0
            for m_, i_, c_, co_ in zip(mi[on], imp[on], clicks[on], cost[on], strict=True):
                ad_rows.append((int(m_), ci, int(i_), int(c_), int(co_)))
            st = c["stats"]
            st["impressions"] += int(imp.sum())
            st["clicks"] += int(clicks.sum())
            st["cost_cents"] += int(cost.sum())
            st["viewers"] += int(land.sum())
            lt = np.repeat(mi * 60.0, land) + rng.random(int(land.sum())) * 60.0
            paid_first_t.append(lt)
            paid_camp.append(np.full(lt.size, ci, np.int64))
        paid_first_t = np.concatenate(paid_first_t) if paid_first_t else np.zeros(0)
        paid_camp = np.concatenate(paid_camp) if paid_camp else np.zeros(0, np.int64)

        # --- organic viewers ----------------------------------------------------------------------
        n_org = int(round(n_target * (1 - cfg.paid_share if camps else 1.0)))
        names = list(_ORGANIC_SHARE)
        sh = np.array([_ORGANIC_SHARE[s] for s in names])
        counts = rng.multinomial(n_org, sh / sh.sum())
        src_l, first_l = [], []
        for s, n in zip(names, counts, strict=True):
            cdf = np.cumsum(prof[s])
            cdf /= cdf[-1]
            sec = np.minimum(np.searchsorted(cdf, rng.random(n)), S - 1)
            first_l.append(sec + rng.random(n))
            src_l.append(np.full(n, _S[s], np.int64))
        src = np.concatenate([*src_l, np.full(paid_first_t.size, _S["paid"], np.int64)])
        first_t = np.concatenate([*first_l, paid_first_t])
        camp = np.concatenate([np.full(n_org, -1, np.int64), paid_camp])
        N = src.size

        # --- identities: returning users from the room pool, the rest new ---------------------------
        who = np.full(N, -1, np.int64)
        human_seen = np.flatnonzero((pool.bot == 0) & (pool.last_seen >= 0))
        if human_seen.size:
            gap = k - pool.last_seen[human_seen]
            bought = pool.spent[human_seen] > 0
            p_ret = (
                (0.055 + 0.36 * pool.fan[human_seen] + 0.12 * pool.club[human_seen] + 0.22 * bought)
                * pool.loyalty[human_seen]
                * 0.75 ** (gap - 1)
            )
            ret = human_seen[rng.random(human_seen.size) < np.clip(p_ret, 0, 0.9)]
            ret = ret[: int(0.6 * N)]
            fans = ret[pool.fan[ret]]
            others = ret[~pool.fan[ret]]
            fslots = rng.permutation(np.flatnonzero(src == _S["follow"]))
            nf = min(fans.size, fslots.size)
            who[fslots[:nf]] = fans[:nf]
            rest = np.concatenate([others, fans[nf:]])
            free = np.flatnonzero(who < 0)
            pick = rng.choice(free, size=min(rest.size, free.size), replace=False)
            who[pick] = rest[: pick.size]
        new = np.flatnonzero(who < 0)
        who[new] = self._new_users(pool, new.size)
        pool.fan[who[src == _S["follow"]]] = True  # follow-source viewers follow the room already

        patience = pool.patience[who]
        interest = pool.interest[who]
        buy = pool.buy[who]
        activity = pool.activity[who]
        arm = np.concatenate(self.user_arm)[pool.gid[who]] if self._ab_on else np.zeros(N, np.int8)

        # --- visits -------------------------------------------------------------------------------
        hold_swipe = np.ones(S)
        hold_med = np.ones(S)
        hold_swipe[: min(S, 300)] = 0.75
        hold_med[: min(S, 300)] = 1.5
        for f in flash_t:
            lo, hi = int(max(0, f - 120)), int(min(S, f + 180))
            hold_swipe[lo:hi] *= 0.85
            hold_med[lo:hi] *= 1.25
        extra = rng.geometric(1 - _REENTER_P, N) - 1
        v_view, v_start, v_dur, v_src = [], [], [], []
        cur_start = first_t.copy()
        alive = np.arange(N)
        j = 0
        while alive.size:
            s0 = cur_start[alive]
            srcj = src[alive].copy()
            if j > 0:  # re-entries: back through feed/other, never a new paid click
                r = rng.random(alive.size)
                srcj = np.where(
                    (srcj == _S["paid"]) | (r < 0.3), np.where(r < 0.65, _S["other"], _S["feed"]), srcj
                )
            dur = self._stay(srcj, s0, patience[alive], j > 0, hold_swipe, hold_med, bags)
            v_view.append(alive)
            v_start.append(s0)
            v_dur.append(dur)
            v_src.append(srcj)
            nxt = s0 + dur + 5 + rng.exponential(540, alive.size)
            keep = (extra[alive] > j) & (nxt < S - 2)
            cur_start[alive[keep]] = nxt[keep]
            alive = alive[keep]
            j += 1
        v_view = np.concatenate(v_view)
        v_start = np.concatenate(v_start)
        v_dur = np.concatenate(v_dur)
        v_src = np.concatenate(v_src)
        v_first = np.zeros(v_view.size, bool)
        v_first[:N] = True
        v_camp = np.where(v_first, camp[v_view], -1)
        v_end = v_start + v_dur
        v_endc = np.minimum(v_end, S)
        v_user = pool.gid[who[v_view]]

        # enters (+ rare repeated enters while online), leaves
        enter_attrs = self.enter_attrs if self._ab_on else self.enter_attrs_plain
        dev = enter_attrs[(v_user * 2654435761 >> 8) % enter_attrs.size]
        self.ev.add(
            "enter",
            ms(v_start),
            sess,
            user=v_user,
            source=v_src,
            campaign=v_camp,
            attrs=dev,
        )
        dup = (rng.random(v_view.size) < _REPEAT_ENTER_P) & (v_endc - v_start > 10)
        dt = v_start[dup] + 2 + rng.random(int(dup.sum())) * (v_endc[dup] - v_start[dup] - 4)
        self.ev.add(
            "enter", ms(dt), sess, user=v_user[dup], source=v_src[dup], campaign=v_camp[dup], attrs=dev[dup]
        )
        lv = v_end < S - 0.5
        self.ev.add("leave", ms(v_end[lv]), sess, user=v_user[lv])

        # room impressions per minute per organic source; paid impressions per campaign-minute
        minute = np.minimum(v_start // 60, mins - 1).astype(np.int64)
        views = np.bincount(minute * len(SRC) + v_src, minlength=mins * len(SRC)).reshape(mins, len(SRC))
        for s in names:
            vs = views[:, _S[s]]
            p = np.clip(_ENTER_PROB[s] * np.exp(rng.normal(0, 0.1, mins)), 0.005, 0.9)
            fails = np.where(vs > 0, rng.negative_binomial(np.maximum(vs, 1), p), rng.poisson(3, mins))
            cnt = vs + fails
            on = cnt > 0
            self.ev.add(
                "room_impression",
                ms(mi[on] * 60.0 + 59.9),
                sess,
                source=_S[s],
                count=cnt[on],
            )
        if ad_rows:
            ar = np.array(ad_rows, np.int64)
            self.ev.add(
                "room_impression",
                ms(ar[:, 0] * 60.0 + 59.9),
                sess,
                source=_S["paid"],
                campaign=ar[:, 1] + room["index"] * 1000,
                count=ar[:, 2],
            )
            ad_attrs = np.array([self.attrs.add(_dumps({"clicks": int(c)})) for c in ar[:, 3]], np.int32)
            self.ev.add(
                "ad_spend",
                ms(ar[:, 0] * 60.0 + 59.95),
                sess,
                campaign=ar[:, 1] + room["index"] * 1000,
                amount=ar[:, 4],
                count=ar[:, 2],
                attrs=ad_attrs,
            )

        # --- commerce -------------------------------------------------------------------------------
        imp_prof = 1 + 0.5 * flash_at
        vi, t_imp = self._poisson_in(v_start, v_endc, _IMP_RATE * interest[v_view] ** 0.3, imp_prof)
        sec = np.minimum(t_imp.astype(np.int64), S - 1)
        e_safe = np.maximum(exp_at, 0)
        mult = np.where(flash_at & self.is_flash[e_safe], _FLASH_IMP_MULT, _EXPLAIN_IMP_MULT)
        we = np.where(exp_at >= 0, self.pop[e_safe], 0.0)
        q_at = (mult - 1) * we / (1 + (mult - 1) * we)
        prod = self._pick_products(sec, q_at, exp_at)
        iv = v_view[vi]
        self.ev.add("product_impression", ms(t_imp), sess, user=v_user[vi], product=prod)

        explained = exp_at[sec] == prod
        flash_hit = flash_at[sec] & self.is_flash[prod]
        p_click = (
            _CLICK_BASE
            * interest[iv]
            * self.appeal[prod]
            * np.where(explained, _EXPLAIN_CLICK_MULT, 1.0)
            * np.where(treat_at[sec], 1 + cfg.switchback_effect, 1.0)
            * np.where(flash_hit, 2.0, 1.0)
        )
        ck = rng.random(t_imp.size) < np.clip(p_click, 0, 0.8)
        t_click = t_imp[ck] + 1.5 + rng.exponential(8, int(ck.sum()))
        ok = t_click < v_endc[vi[ck]]
        c_vis = vi[ck][ok]
        c_t = t_click[ok]
        c_prod = prod[ck][ok]
        c_view = v_view[c_vis]
        c_explained = explained[ck][ok]
        c_flash = flash_hit[ck][ok]
        self.ev.add("product_click", ms(c_t), sess, user=v_user[c_vis], product=c_prod)

        camp_q = np.array([c["quality"] for c in camps] + [1.0])
        cam_of_viewer = camp[c_view]
        p_order = (
            _ORDER_BASE
            * buy[c_view]
            * self.price_factor[c_prod]
            * np.where(c_explained, _EXPLAIN_ORDER_MULT, 1.0)
            * np.where(c_flash, 1.3, 1.0)
            * np.where(arm[c_view] == 1, 1 + cfg.ab_lift, 1.0)
            * camp_q[cam_of_viewer]
        )
        p_order = np.clip(p_order, 0, 0.9)
        if self._ab_on:  # expected buyers of arm B with and without the treatment (true lift)
            b_click = arm[c_view] == 1
            p_ctrl = np.where(b_click, np.clip(p_order / (1 + cfg.ab_lift), 0, 0.9), p_order)
            for key, pp in (("b_exp_treated", p_order), ("b_exp_control", p_ctrl)):
                surv = np.bincount(c_view[b_click], np.log1p(-pp[b_click] * _PAY_P), minlength=N)
                self.ab_expected[key] += float(-np.expm1(surv).sum())
        for ci in range(len(camps)):
            camps[ci]["stats"]["exp_conv"] += float((p_order * _PAY_P)[cam_of_viewer == ci].sum())
        od = rng.random(c_t.size) < p_order
        t_ord = c_t + 3 + rng.exponential(25, c_t.size)
        od &= t_ord < S - 3
        # carts: before most orders, and some abandoned
        cart_o = od & (rng.random(c_t.size) < _CART_GIVEN_ORDER)
        t_cart_o = c_t + rng.random(c_t.size) * (t_ord - c_t)
        t_cart_n = c_t + 1 + rng.exponential(10, c_t.size)
        cart_n = ~od & (rng.random(c_t.size) < _CART_NO_ORDER) & (t_cart_n < v_endc[c_vis])
        cart = cart_o | cart_n
        self.ev.add(
            "add_to_cart",
            ms(np.where(cart_o, t_cart_o, t_cart_n)[cart]),
            sess,
            user=v_user[c_vis][cart],
            product=c_prod[cart],
        )
        o_view = c_view[od]
        o_user = v_user[c_vis][od]
        o_prod = c_prod[od]
        o_t = t_ord[od]
        qty_p = np.clip(0.06 * buy[o_view], 0.01, 0.45)  # big spenders take more than one
        qty = np.where(self.is_flash[o_prod], 1, 1 + rng.binomial(2, qty_p))
        o_amt = self.price_cents[o_prod] * qty
        self._orders(sess, room, pool, who, camp, arm, o_view, o_user, o_prod, o_t, qty, o_amt, ms, N)

        # --- engagement -----------------------------------------------------------------------------
        self._engagement(sess, pool, who, v_view, v_user, v_start, v_endc, activity, bump, exp_at, ms, bags)

        # --- room-level: start/end, explain, transcript --------------------------------------------
        self._room_events(sess, room, k, sid, t0, S, seg_s, seg_e, seg_p, flash_t, flash_p, exp_at, ms)

        # --- bots -----------------------------------------------------------------------------------
        bot_v = (np.zeros(0), np.zeros(0))
        n_bots = 0
        if cfg.cheating and cfg.cheat_rate > 0:
            bot_v, n_bots = self._bots(sess, room, pool, N, S, ms, flash_t, exp_at)

        # --- online snapshots ---------------------------------------------------------------------
        if cfg.snapshots:
            starts = np.sort(np.concatenate([v_start, bot_v[0]]))
            ends = np.sort(np.concatenate([v_endc, bot_v[1]]))
            marks = np.arange(1, mins) * 60.0
            online = np.searchsorted(starts, marks, "right") - np.searchsorted(ends, marks, "right")
            self.ev.add("online_snapshot", ms(marks), sess, count=np.maximum(online, 0))

        # --- pool state and truth -------------------------------------------------------------------
        pool.last_seen[who] = k
        ab = self.ab_stats
        if self._ab_on:
            for a, nm in ((0, "A"), (1, "B")):
                ab[nm][0] += int((arm == a).sum())
        self.truth_sessions.append(
            {
                "session_id": sid,
                "room_id": room["room_id"],
                "streamer_id": room["streamer_ids"][0],
                "start_ms": t0,
                "end_ms": t0 + S * 1000,
                "start": _iso(t0),
                "end": _iso(t0 + S * 1000),
                "viewers": int(N),
                "returning_viewers": int(N - new.size),
                "bots": int(n_bots),
                "flash_deals": [
                    {
                        "product_id": self.product_ids[int(p)],
                        "start_ms": t0 + int(f * 1000),
                        "end_ms": t0 + int(min(S, f + flash_len) * 1000),
                    }
                    for f, p in zip(flash_t, flash_p, strict=True)
                ],
                "lucky_bag_draws_ms": [t0 + int(b * 1000) for b in bags],
                "explain_segments": [
                    {
                        "product_id": self.product_ids[int(p)],
                        "start_ms": t0 + int(a * 1000),
                        "end_ms": t0 + int(b * 1000),
                    }
                    for a, b, p in zip(seg_s, seg_e, seg_p, strict=True)
                ],
                "switchback_slots": [
                    {
                        "start_ms": t0 + i * slot_len * 1000,
                        "end_ms": t0 + min(S, (i + 1) * slot_len) * 1000,
                        "arm": VARIANTS[2 + int(a)],
                    }
                    for i, a in enumerate(slot_arm)
                ]
                if cfg.experiments
                else [],
            }
        )

    # ----- pieces ------------------------------------------------------------------------------
    def _explain_schedule(self, S, flash_t, flash_p, flash_len):
        rng = self.rng
        regular = np.flatnonzero(~self.is_flash)
        order = []
        seg_s, seg_e, seg_p = [], [], []
        fl = sorted(zip(flash_t.tolist(), flash_p.tolist(), strict=True))
        t = min(90.0, 0.1 * S)
        fi = 0
        while t < S - 60:
            if fi < len(fl) and t + 150 > fl[fi][0] - 10:
                f, p = fl[fi]
                a = max(t, f)
                b = min(S - 30.0, a + flash_len)
                seg_s.append(a)
                seg_e.append(b)
                seg_p.append(p)
                t = b + rng.uniform(5, 40)
                fi += 1
                continue
            if not order:
                w = self.pop[regular] ** 0.5
                order = list(rng.choice(regular, size=regular.size, replace=False, p=w / w.sum()))
            p = order.pop(0)
            d = rng.uniform(150, 330)
            b = min(t + d, S - 30.0)
            if fi < len(fl):
                b = min(b, fl[fi][0] - 5)
            if b - t < 45:
                t = b + 5
                continue
            seg_s.append(t)
            seg_e.append(b)
            seg_p.append(int(p))
            t = b + rng.uniform(5, 40)
        return np.array(seg_s), np.array(seg_e), np.array(seg_p, np.int64)

    def _stay(self, src, s0, patience, reentry, hold_swipe, hold_med, bags):
        rng = self.rng
        n = src.size
        sec = np.minimum(s0.astype(np.int64), self.S - 1)
        swipe_p = np.array([_SWIPE[s] for s in SRC])[src] * hold_swipe[sec] * np.where(reentry, 0.75, 1.0)
        swipe_p = np.clip(swipe_p / patience**0.3, 0.02, 0.95)
        med = np.array([_STAY_MEDIAN[s] for s in SRC])[src] * patience * hold_med[sec]
        stay = med * np.exp(_STAY_SIGMA * rng.normal(size=n))
        swipe = rng.random(n) < swipe_p
        dur = np.where(swipe, 1.5 + rng.exponential(_SWIPE_MEAN_S, n), stay)
        # lucky bags: some staying viewers wait for the draw
        for j, b in enumerate(bags):
            wait = (~swipe) & (s0 < b) & (s0 > b - 600) & (rng.random(n) < (0.45 if j == 0 else 0.2))
            dur = np.where(wait, np.maximum(dur, b - s0 + rng.uniform(3, 40, n)), dur)
        return dur

    def _poisson_in(self, vs, ve, rate, prof=None):
        """Poisson events inside [vs, ve) with intensity rate × prof(t), by thinning (prof per second)."""
        rng = self.rng
        vs = np.asarray(vs, dtype=np.float64)
        span = np.maximum(np.asarray(ve, dtype=np.float64) - vs, 0.0)
        pmax = 1.0 if prof is None else float(prof.max())
        n = rng.poisson(rate * pmax * span)
        idx = np.repeat(np.arange(vs.size), n)
        t = vs[idx] + rng.random(idx.size) * span[idx]
        if prof is not None:
            keep = rng.random(idx.size) * pmax < prof[np.minimum(t.astype(np.int64), self.S - 1)]
            idx, t = idx[keep], t[keep]
        return idx, t

    def _once_in(self, vs, ve, rate, prof=None):
        """At most one event per interval (the process's first point: probability 1 − e^−μ)."""
        idx, t = self._poisson_in(vs, ve, rate, prof)
        if idx.size == 0:
            return idx, t
        first = np.ones(idx.size, bool)
        first[1:] = idx[1:] != idx[:-1]
        return idx[first], t[first]

    def _pick_products(self, sec, q_at, exp_at):
        """Product of each impression: the explained one with probability q_at, else by popularity."""
        rng = self.rng
        n = sec.size
        base = np.searchsorted(self.pop_cdf, rng.random(n) * self.pop_cdf[-1])
        base = np.minimum(base, self.P - 1)
        return np.where(rng.random(n) < q_at[sec], exp_at[sec], base)

    def _orders(self, sess, room, pool, who, camp, arm, o_view, o_user, o_prod, o_t, qty, o_amt, ms, N):
        cfg, rng = self.cfg, self.rng
        S = self.S
        n = o_t.size
        oid = self.n_orders + np.arange(n)
        self.n_orders += n
        self.order_sess.append(np.full(n, sess, np.int32))
        self.order_t.append(o_t)
        self.ev.add("order", ms(o_t), sess, user=o_user, product=o_prod, order=oid, amount=o_amt, count=qty)
        t_pay = o_t + 2 + rng.exponential(40, n)
        paid = (rng.random(n) < _PAY_P) & (t_pay < S - 1)
        self.ev.add(
            "pay",
            ms(t_pay[paid]),
            sess,
            user=o_user[paid],
            product=o_prod[paid],
            order=oid[paid],
            amount=o_amt[paid],
        )
        # refunds: category risk; some during the show, most hours later
        rp = self.refund_p[o_prod] * np.where(qty > 1, 1.3, 1.0)
        rf = paid & (rng.random(n) < rp)
        partial = rf & (qty > 1) & (rng.random(n) < 0.4)
        r_amt = np.where(partial, self.price_cents[o_prod], o_amt)
        in_show = rng.random(n) < 0.3
        t_in = t_pay + 60 + rng.exponential(900, n)
        t_post = S + 1800 + rng.exponential(8 * 3600, n)
        if cfg.refunds_after_end:
            t_ref = np.where(in_show & (t_in < S - 1), t_in, np.minimum(t_post, S + 72 * 3600))
        else:
            t_ref = np.minimum(t_in, t_pay + rng.random(n) * (S - 1 - t_pay))
        t0 = self.session_t0[sess]
        ref_ms = t0 + (t_ref * 1000).astype(np.int64)
        ref_ms = np.where(t_ref < S, ms(t_ref), ref_ms)
        self.ev.add("refund", ref_ms[rf], sess, user=o_user[rf], order=oid[rf], amount=r_amt[rf])
        # pool and truth bookkeeping
        pv = o_view[paid]
        np.add.at(pool.spent, who[pv], o_amt[paid])
        if self._ab_on:
            buyers = np.unique(pv)
            for a, nm in ((0, "A"), (1, "B")):
                self.ab_stats[nm][1] += int((arm[buyers] == a).sum())
        cam = camp[pv]
        for ci, c in enumerate(room["campaigns"]):
            sel = cam == ci
            c["stats"]["buyers"] += int(np.unique(pv[sel]).size)
            c["stats"]["gmv_cents"] += int(o_amt[paid][sel].sum())

    def _engagement(self, sess, pool, who, v_view, v_user, v_start, v_endc, activity, bump, exp_at, ms, bags):
        cfg, rng = self.cfg, self.rng
        act = activity[v_view]
        # likes: bursts, more around flash deals
        i, t = self._poisson_in(v_start, v_endc, _LIKE_RATE * act, 1 + 1.2 * bump)
        cnt = 1 + np.floor(np.exp(rng.normal(1.1, 1.1, i.size))).astype(np.int64)
        self.ev.add("like", ms(t), sess, user=v_user[i], count=cnt)
        # comments: text by intent from the phrase bank; livelier while a product is explained
        cm_prof = 1 + 0.6 * bump + 0.3 * (exp_at >= 0)
        i, t = self._poisson_in(v_start, v_endc, _COMMENT_RATE * act, cm_prof)
        intents = np.searchsorted(np.cumsum(_COMMENT_INTENT_P), rng.random(i.size) * sum(_COMMENT_INTENT_P))
        text = np.empty(i.size, np.int32)
        for j, nm in enumerate(pb.COMMENT_INTENTS):
            sel = np.flatnonzero(intents == j)
            bank = self.comment_by_intent[nm]
            text[sel] = bank[rng.integers(0, bank.size, sel.size)]
            self.intent_counts[nm] += int(sel.size)
        tag = np.full(i.size, -1, np.int32)
        if cfg.violations and cfg.comment_violation_rate > 0 and i.size:
            vi = np.flatnonzero(rng.random(i.size) < cfg.comment_violation_rate)
            for j in vi:  # a handful per show
                cat, tx = self.viol_comment[int(rng.integers(len(self.viol_comment)))]
                self.intent_counts[pb.COMMENT_INTENTS[intents[j]]] -= 1
                text[j] = tx
                tag[j] = len(self.violations)
                self.violations.append(
                    {"kind": "comment", "category": cat, "text": self.texts.items[tx], "session": sess}
                )
        self.ev.add("comment", ms(t), sess, user=v_user[i], text=text, tag=tag)
        # gifts
        i, t = self._poisson_in(v_start, v_endc, _GIFT_RATE * act**1.2)
        g = np.minimum(np.searchsorted(self.gift_cdf, rng.random(i.size)), len(pb.GIFTS) - 1)
        gc = np.where(self.gift_cents[g] <= 100, rng.geometric(0.35, i.size), 1)
        self.ev.add(
            "gift",
            ms(t),
            sess,
            user=v_user[i],
            amount=self.gift_cents[g] * gc,
            count=gc,
            attrs=self.gift_attrs[g],
        )
        # shares: share-for-coupon pushes them at flash deals
        i, t = self._once_in(v_start, v_endc, _SHARE_RATE * act, 1 + 3 * bump)
        self.ev.add("share", ms(t), sess, user=v_user[i])
        # follows: non-fans only, once per user per show
        u_pool = who[v_view]
        nonfan = ~pool.fan[u_pool]
        i, t = self._once_in(v_start, v_endc, _FOLLOW_RATE * np.sqrt(act) * nonfan, 1 + 0.5 * bump)
        i, t = _first_per_user(u_pool[i], i, t)
        self.ev.add("follow", ms(t), sess, user=v_user[i])
        # fan club: some new followers right away, some existing fans during the show
        sel = rng.random(i.size) < _FANCLUB_AFTER_FOLLOW
        new_f = i[sel]
        tf = t[sel] + 5 + rng.exponential(60, new_f.size)
        ok = tf < v_endc[new_f]
        fans_now = pool.fan[u_pool] & ~pool.club[u_pool]
        j, tj = self._once_in(v_start, v_endc, _FANCLUB_FAN_RATE * np.sqrt(act) * fans_now)
        ci = np.concatenate([new_f[ok], j])
        ct = np.concatenate([tf[ok], tj])
        ci, ct = _first_per_user(u_pool[ci], ci, ct)
        self.ev.add("fanclub_join", ms(ct), sess, user=v_user[ci])
        pool.fan[u_pool[i]] = True
        pool.club[u_pool[ci]] = True

    def _room_events(self, sess, room, k, sid, t0, S, seg_s, seg_e, seg_p, flash_t, flash_p, exp_at, ms):
        cfg, rng = self.cfg, self.rng
        st = room["streamer_ids"]
        title = pb.TITLES[(room["index"] + k) % len(pb.TITLES)]
        a_start = self.attrs.add(_dumps({"title": title, "streamer_id": st[0]}))
        self.ev.add("session_start", np.array([t0]), sess, attrs=a_start)
        a_st = self.attrs.add(_dumps({"streamer_id": st[0]}))
        self.ev.add("explain_start", ms(seg_s), sess, product=seg_p, attrs=a_st)
        self.ev.add("explain_end", ms(seg_e), sess, product=seg_p, attrs=a_st)
        # transcript: roughly one ASR line a minute, mostly the main streamer
        lt = np.arange(20.0, S - 5, 60.0)
        lt = lt + rng.uniform(-15, 15, lt.size)
        lt = np.sort(lt[(lt > 1) & (lt < S - 1)])
        fl_windows = [(f, f + 240, p) for f, p in zip(flash_t, flash_p, strict=True)]
        texts = np.empty(lt.size, np.int32)
        attrs = np.empty(lt.size, np.int32)
        tags = np.full(lt.size, -1, np.int32)
        a_st2 = self.attrs.add(_dumps({"streamer_id": st[1]}))
        cats = list(pb.VIOLATING_TRANSCRIPT)
        for j, t in enumerate(lt):  # one line per minute
            e = int(exp_at[min(int(t), S - 1)])
            name, price = "这款产品", "99"
            if e >= 0:
                name = self.product_names[e].replace("（福利款）", "")
                price = f"{self.price_cents[e] / 100:g}"
            flash = next((p for a, b, p in fl_windows if a <= t < b), None)
            if t > S - 180:
                line = _pick(rng, pb.TRANSCRIPT_CLOSING)
            elif t < 300:
                line = _pick(rng, pb.TRANSCRIPT_OPENING)
            elif flash is not None and e >= 0:
                line = _pick(rng, pb.TRANSCRIPT_FLASH)
            elif e >= 0:
                r = rng.random()
                if r < 0.65:
                    line = _pick(rng, pb.TRANSCRIPT_PITCH[self.product_cat[e]])
                elif r < 0.83:
                    line = _pick(rng, pb.TRANSCRIPT_ANSWER)
                else:
                    line = _pick(rng, pb.TRANSCRIPT_INTERACTION)
            else:
                line = _pick(rng, pb.TRANSCRIPT_INTERACTION + pb.TRANSCRIPT_ANSWER)
            if e < 0 and "{name}" in line:
                line = _pick(rng, pb.TRANSCRIPT_INTERACTION)
            if cfg.violations and rng.random() < cfg.violation_rate:
                cat = cats[int(rng.integers(len(cats)))]
                bad = _pick(rng, pb.VIOLATING_TRANSCRIPT[cat])
                if "{name}" in bad and e < 0:
                    bad = bad.replace("{name}", "这款产品")
                bad = bad.format(name=name, price=price)
                line = line.format(name=name, price=price) + "，" + bad
                tags[j] = len(self.violations)
                self.violations.append({"kind": "transcript", "category": cat, "text": bad, "session": sess})
            else:
                line = line.format(name=name, price=price)
            texts[j] = self.texts.add(line)
            attrs[j] = a_st if rng.random() < 0.85 else a_st2
        self.ev.add("transcript", ms(lt), sess, text=texts, attrs=attrs, tag=tags)
        self.ev.add("session_end", np.array([t0 + S * 1000]), sess)

    def _bots(self, sess, room, pool, N, S, ms, flash_t, exp_at):
        cfg, rng = self.cfg, self.rng
        n_bots = int(round(cfg.cheat_rate * N))
        kinds = rng.multinomial(n_bots, _BOT_SPLIT)
        starts, ends = [], []
        for kind_i, n in enumerate(kinds):
            if n == 0:
                continue
            kind = kind_i + 1
            # farms reuse accounts across shows
            have = np.flatnonzero(pool.bot == kind)
            reuse = rng.choice(have, size=min(have.size, int(n * 0.6)), replace=False) if have.size else have
            fresh = self._new_users(pool, n - reuse.size, bot=kind)
            acc = np.concatenate([reuse, fresh]).astype(np.int64)
            gid = pool.gid[acc]
            for g in gid.tolist():
                self.bot_accounts[g] = kind_i
            name = BOT_KINDS[kind_i]
            if name == "viewer_bot":
                # waves of accounts entering and leaving within seconds, several times each
                waves = rng.uniform(0.05 * S, 0.95 * S, 3)
                reps = rng.integers(2, 6, n)
                u = np.repeat(gid, reps)
                s0 = waves[rng.integers(0, 3, u.size)] + rng.uniform(0, 90, u.size)
                d = rng.uniform(1, 6, u.size)
            elif name == "like_farm":
                u = gid
                s0 = rng.uniform(60, 0.7 * S, n)
                d = np.minimum(rng.uniform(1200, 3600, n), S - s0 - 1)
            elif name == "comment_spam":
                u = gid
                s0 = rng.uniform(60, 0.8 * S, n)
                d = np.minimum(rng.uniform(300, 1200, n), S - s0 - 1)
            else:  # fake_order
                u = gid
                s0 = rng.uniform(120, 0.9 * S, n)
                d = np.minimum(rng.uniform(90, 400, n), S - s0 - 1)
            s0 = np.minimum(s0, S - 3)
            e = s0 + np.maximum(d, 1)
            src = np.where(rng.random(u.size) < 0.7, _S["feed"], _S["other"])
            dev = self.enter_attrs[(u * 2654435761 >> 8) % self.enter_attrs.size]
            self.ev.add("enter", ms(s0), sess, user=u, source=src, attrs=dev)
            lv = e < S - 0.5
            self.ev.add("leave", ms(e[lv]), sess, user=u[lv])
            starts.append(s0)
            ends.append(np.minimum(e, S))
            if name == "like_farm":
                i, t = self._poisson_in(s0, np.minimum(e, S), 1 / 6)
                self.ev.add("like", ms(t), sess, user=u[i], count=rng.integers(100, 1000, i.size))
            elif name == "comment_spam":
                i, t = self._poisson_in(s0, np.minimum(e, S), 1 / 25)
                bank = self.comment_by_intent["spam"]
                own = bank[rng.integers(0, bank.size, u.size)]
                tx = np.where(rng.random(i.size) < 0.8, own[i], bank[rng.integers(0, bank.size, i.size)])
                self.intent_counts["spam"] += int(i.size)
                self.ev.add("comment", ms(t), sess, user=u[i], text=tx)
            elif name == "fake_order":
                prod = np.where(
                    rng.random(n) < 0.5,
                    np.argsort(-self.price_cents)[rng.integers(0, 5, n)],
                    rng.integers(0, self.P, n),
                )
                ti = s0 + rng.uniform(1, 10, n)
                tc = ti + rng.uniform(1, 5, n)
                to = np.minimum(tc + rng.uniform(2, 15, n), S - 3)
                tp = np.minimum(to + rng.uniform(2, 20, n), S - 2)
                self.ev.add("product_impression", ms(ti), sess, user=u, product=prod)
                self.ev.add("product_click", ms(tc), sess, user=u, product=prod)
                oid = self.n_orders + np.arange(n)
                self.n_orders += n
                self.order_sess.append(np.full(n, sess, np.int32))
                self.order_t.append(to)
                self.fake_orders += oid.tolist()
                amt = self.price_cents[prod]
                self.ev.add("order", ms(to), sess, user=u, product=prod, order=oid, amount=amt, count=1)
                self.ev.add("pay", ms(tp), sess, user=u, product=prod, order=oid, amount=amt)
                t0 = self.session_t0[sess]
                tr = S + rng.uniform(3600, 36 * 3600, n)
                if not cfg.refunds_after_end:
                    tr = np.minimum(tp + rng.uniform(60, 1800, n), S - 1)
                r_ms = np.where(tr < S, ms(tr), t0 + (tr * 1000).astype(np.int64))
                self.ev.add("refund", r_ms, sess, user=u, order=oid, amount=amt)
        if not starts:
            return (np.zeros(0), np.zeros(0)), 0
        return (np.concatenate(starts), np.concatenate(ends)), n_bots

    # ----- assemble ----------------------------------------------------------------------------
    def _finish(self) -> SimResult:
        cfg, ev = self.cfg, self.ev
        n = ev.n
        n_sess = len(self.session_ids)
        sizes = np.array([p[3].size for p in ev.parts], np.int64)
        ts = np.concatenate([p[3] for p in ev.parts])
        typ = np.repeat(np.array([p[0] for p in ev.parts], np.int64), sizes)
        sess = np.repeat(np.array([p[1] for p in ev.parts], np.int64), sizes)
        # dense columns travel packed through the sort; sparse ones as (row, value) pairs
        pack_a = typ | (ev.dense("product") + 1) << 5
        pack_u = (ev.dense("user") + 1) | (sess << 36)
        del typ, sess
        order = _radix_argsort(ts - ts.min())
        ts = ts[order]
        pack_a = pack_a[order]
        pack_u = pack_u[order]
        inv = np.empty(n, np.int64)
        inv[order] = np.arange(n)
        del order
        typ = pack_a & 31
        product = (pack_a >> 5) - 1
        user = (pack_u & (1 << 36) - 1) - 1
        sess = pack_u >> 36
        del pack_a, pack_u
        sp = {}
        for name in _SPARSE:
            rows, vals = ev.sparse(name)
            pos = inv[rows]
            o = np.argsort(pos)
            sp[name] = (pos[o], vals[o])
        del inv
        # campaign codes (room * 1000 + index) → position in the campaign list
        camp_ids, camp_codes = [], []
        for r in self.rooms:
            for ci, cc in enumerate(r["campaigns"]):
                camp_ids.append(cc["campaign_id"])
                camp_codes.append(r["index"] * 1000 + ci)
        code_to_pos = np.zeros(max(camp_codes, default=0) + 1, np.int64)
        code_to_pos[camp_codes] = np.arange(len(camp_codes))
        cpos, cval = sp["campaign"]
        sp["campaign"] = (cpos, code_to_pos[cval])
        # variant: the viewer's A/B arm on viewer events, the switchback slot's arm on room events
        if cfg.experiments:
            arms = np.concatenate(self.user_arm)
            variant = arms[np.maximum(user, 0)].astype(np.int8)
            variant[(user >= 0) & ~np.array(self.session_ab, bool)[sess]] = -1  # shows before the A/B test
            room_rows = np.flatnonzero(user < 0)
            rs = sess[room_rows]
            slot_ms = max(1, cfg.switchback_minutes) * 60_000
            lens = np.array([a.size for a in self.slot_arms], np.int64)
            offs = np.concatenate([[0], np.cumsum(lens)[:-1]])
            t0s = np.array(self.session_t0, np.int64)[rs]
            slot = np.clip((ts[room_rows] - t0s) // slot_ms, 0, lens[rs] - 1)
            variant[room_rows] = np.concatenate(self.slot_arms)[offs[rs] + slot] + 2
        else:
            variant = np.full(n, -1, np.int8)
        # event ids "<session_id>-<running number in the session>", order ids "<session_id>-o<n>"
        event_id = self._event_ids(sess)
        order_mat = self._order_ids()
        user_mat = self._user_ids()
        if n_sess == 1:
            room_col = pa.repeat(self.rooms[self.session_room[0]]["room_id"], n)
            sess_col = pa.repeat(self.session_ids[0], n)
        else:
            room_col = pa.array([r["room_id"] for r in self.rooms]).take(
                pa.array(np.array(self.session_room, np.int64)[sess])
            )
            sess_col = pa.array(self.session_ids).take(pa.array(sess))
        cols = {
            "event_id": event_id,
            "ts": pa.array(ts, pa.int64()),
            "room_id": room_col,
            "session_id": sess_col,
            "user_id": _rows_strings(user_mat, user),
            "type": pa.array(TYPES).take(pa.array(typ)),
            "source": _sparse_take(pa.array(SRC), n, *sp["source"]),
            "product_id": _take(pa.array(self.product_ids), product),
            "order_id": _sparse_rows(order_mat, n, *sp["order"]),
            "campaign_id": _sparse_take(pa.array(camp_ids, pa.string()), n, *sp["campaign"]),
            "amount": _sparse_decimal(n, *sp["amount"]),
            "count": _sparse_int(n, *sp["count"]),
            "text": _sparse_take(self.texts.array(), n, *sp["text"]),
            "variant": _take(pa.array(VARIANTS), variant),
            "attrs": _sparse_take(self.attrs.array(), n, *sp["attrs"]),
        }
        table = pa.table([cols[f] for f in INPUT_FIELDS], names=list(INPUT_FIELDS))
        tpos, tval = sp["tag"]
        tag_ids = dict(zip(tval.tolist(), event_id.take(pa.array(tpos)).to_pylist(), strict=True))
        truth = self._truth(tag_ids, user_mat, order_mat)
        products = pa.table(
            {
                "product_id": pa.array(self.product_ids),
                "name": pa.array(self.product_names),
                "price": _decimal_from_cents(self.price_cents),
                "category": pa.array(self.product_cat),
            }
        )
        return SimResult(events=table, truth=truth, products=products, config=cfg)

    def _event_ids(self, sess: np.ndarray) -> pa.Array:
        n_sess = len(self.session_ids)
        if n_sess == 1:
            return _strings_from_rows(_seq_ids((self.session_ids[0] + "-").encode(), sess.size))
        counts = np.bincount(sess, minlength=n_sess)
        blocks = [_seq_ids((s + "-").encode(), int(c)) for s, c in zip(self.session_ids, counts, strict=True)]
        by_sess = _radix_argsort(sess)
        row = np.empty(sess.size, np.int64)
        row[by_sess] = np.arange(sess.size)  # rows of the stacked blocks, in time order
        return _strings_from_rows(_rows(np.concatenate(blocks), row))

    def _user_ids(self) -> np.ndarray:
        """ "u" + 9 digits: a fixed bijection of the running user number, so ids look random."""
        gids = np.arange(self.n_users, dtype=np.int64)
        mat = np.empty((gids.size, 10), np.uint8)
        mat[:, 0] = ord("u")
        _put_digits(mat, 1, (gids * 387_420_489 + 123_456_789) % 1_000_000_000, 9)
        return mat

    def _order_ids(self) -> np.ndarray:
        n_sess = len(self.session_ids)
        if not self.n_orders:
            return np.zeros((0, 1), np.uint8)
        o_sess = np.concatenate(self.order_sess).astype(np.int64)
        o_t = np.concatenate(self.order_t)
        by = np.lexsort((o_t, o_sess))
        counts = np.bincount(o_sess, minlength=n_sess)
        first = np.concatenate([[0], np.cumsum(counts)[:-1]])
        num = np.empty(self.n_orders, np.int64)
        num[by] = np.arange(self.n_orders) - np.repeat(first, counts) + 1
        pre = np.frombuffer("".join(s + "-o" for s in self.session_ids).encode(), np.uint8).reshape(
            n_sess, -1
        )
        p = pre.shape[1]
        mat = np.empty((self.n_orders, p + 6), np.uint8)
        mat[:, :p] = pre[o_sess]
        _put_digits(mat, p, num, 6)
        return mat

    def _truth(self, tag_ids: dict[int, str], user_mat: np.ndarray, order_mat: np.ndarray) -> dict:
        cfg = self.cfg

        def row_str(mat, i):
            return bytes(mat[i]).decode()

        viol = []
        for k, v in enumerate(self.violations):
            viol.append(
                {
                    "event_id": tag_ids[k],
                    "session_id": self.session_ids[v["session"]],
                    "kind": v["kind"],
                    "category": v["category"],
                    "category_zh": pb.VIOLATION_CATEGORIES[v["category"]][0],
                    "text": v["text"],
                }
            )
        accounts = {row_str(user_mat, g): BOT_KINDS[k] for g, k in sorted(self.bot_accounts.items())}
        counts = dict.fromkeys(BOT_KINDS, 0)
        for kind in accounts.values():
            counts[kind] += 1
        fake = [row_str(order_mat, o) for o in self.fake_orders]
        camps = []
        for r in self.rooms:
            for cc in r["campaigns"]:
                st = cc["stats"]
                camps.append(
                    {
                        "campaign_id": cc["campaign_id"],
                        "room_id": r["room_id"],
                        "true_ctr": round(cc["ctr"], 6),
                        "true_cvr": round(st["exp_conv"] / st["clicks"], 6) if st["clicks"] else None,
                        "cpm": round(cc["cpm"], 4),
                        "landing_rate": round(cc["landing"], 6),
                        "quality": round(cc["quality"], 6),
                        "window": [round(x, 4) for x in cc["window"]],
                        "realized": {
                            "impressions": st["impressions"],
                            "clicks": st["clicks"],
                            "cost": st["cost_cents"] / 100,
                            "viewers": st["viewers"],
                            "buyers": st["buyers"],
                            "gmv": st["gmv_cents"] / 100,
                        },
                    }
                )
        conf = asdict(cfg)
        conf["start"] = _parse_start(cfg.start).isoformat()
        ab = {
            nm: {
                "viewer_sessions": v[0],
                "buyer_sessions": v[1],
                "conversion": (v[1] / v[0]) if v[0] else None,
            }
            for nm, v in self.ab_stats.items()
        }
        return {
            "schema": "liveops.simulate/1",
            "config": conf,
            "rooms": [
                {
                    "room_id": r["room_id"],
                    "streamer_ids": r["streamer_ids"],
                    "streamer_names": r["streamer_names"],
                }
                for r in self.rooms
            ],
            "sessions": self.truth_sessions,
            "experiments": {
                "ab": {
                    "enabled": cfg.experiments,
                    "name": AB_EXPERIMENT,
                    "unit": "user",
                    "arms": ["A", "B"],
                    "control": "A",
                    "affects": "order probability per product click; true_conversion_lift is the expected "
                    "relative lift of buyers ÷ viewers it causes for arm B's viewers",
                    "true_relative_lift": cfg.ab_lift if cfg.experiments else 0.0,
                    "from_session": cfg.ab_from_session,
                    "true_conversion_lift": (
                        round(self.ab_expected["b_exp_treated"] / self.ab_expected["b_exp_control"] - 1, 6)
                        if cfg.experiments and self.ab_expected["b_exp_control"] > 0
                        else 0.0
                    ),
                    "realized": ab if cfg.experiments else {},
                },
                "switchback": {
                    "enabled": cfg.experiments,
                    "name": SWITCHBACK_EXPERIMENT,
                    "unit": "time_slot",
                    "slot_minutes": cfg.switchback_minutes,
                    "arms": ["control", "treatment"],
                    "control": "control",
                    "affects": "product click probability per impression (product_ctr)",
                    "true_relative_effect": cfg.switchback_effect if cfg.experiments else 0.0,
                    "slots": "see sessions[].switchback_slots; room-level events carry the slot arm",
                },
            },
            "campaigns": camps,
            "bots": {
                "enabled": cfg.cheating,
                "rate": cfg.cheat_rate,
                "kinds": list(BOT_KINDS),
                "accounts": accounts,
                "counts": counts,
                "fake_order_ids": fake,
            },
            "violations": viol,
            "comments": {
                "intent_counts": self.intent_counts,
                "intent_of_text": "liveops.phrasebank.intent_of(text); violations are listed above",
            },
            "products": [
                {
                    "product_id": pid,
                    "name": nm,
                    "category": cat,
                    "price": int(pc) / 100,
                    "flash": bool(f),
                    "popularity": round(float(w), 6),
                    "refund_prob": float(rp),
                }
                for pid, nm, cat, pc, f, w, rp in zip(
                    self.product_ids,
                    self.product_names,
                    self.product_cat,
                    self.price_cents,
                    self.is_flash,
                    self.pop,
                    self.refund_p,
                    strict=True,
                )
            ],
        }


def _pick(rng: np.random.Generator, seq):
    return seq[int(rng.integers(len(seq)))]


def _first_per_user(users: np.ndarray, idx: np.ndarray, t: np.ndarray):
    """Keep each user's earliest event."""
    if users.size == 0:
        return idx, t
    o = np.lexsort((t, users))
    keep = np.ones(o.size, bool)
    keep[1:] = users[o][1:] != users[o][:-1]
    sel = o[keep]
    return idx[sel], t[sel]


# --- public API ----------------------------------------------------------------------------------


def simulate(cfg: SimConfig | None = None) -> SimResult:
    """Simulate the configured rooms and shows; same config (seed) → identical result."""
    return _Sim(cfg or SimConfig()).run()


def write_simulation(result: SimResult, out_path: str | Path) -> dict[str, Path]:
    """Write the events (format by extension), ``<out>.truth.json`` and ``<out>.products.csv``.

    ``show.parquet`` → ``show.parquet``, ``show.parquet.truth.json``, ``show.parquet.products.csv``.
    """
    import polars as pl

    from liveops.eventio import write_events

    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_events(result.events, out)
    truth_path = out.with_name(out.name + ".truth.json")
    products_path = out.with_name(out.name + ".products.csv")
    truth_path.write_text(json.dumps(result.truth, ensure_ascii=False, indent=1), encoding="utf-8")
    pl.from_arrow(result.products).write_csv(products_path)
    paths = {"events": out, "truth": truth_path, "products": products_path}
    sched = switchback_schedule(result.truth)
    if sched.num_rows:
        paths["schedule"] = out.with_name(out.name + ".schedule.csv")
        pl.from_arrow(sched).write_csv(paths["schedule"])
    return paths


def switchback_schedule(truth: dict) -> pa.Table:
    """The switchback slots the simulator used, as a schedule (``liveops experiment import`` reads it)."""
    rows = [
        (s["room_id"], s["session_id"], i, slot)
        for s in truth["sessions"]
        for i, slot in enumerate(s.get("switchback_slots", []))
    ]

    def ts(ms: int) -> str:
        return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")

    return pa.table(
        {
            "experiment_id": [SWITCHBACK_EXPERIMENT] * len(rows),
            "room_id": [r for r, _, _, _ in rows],
            "slice_id": [f"{sid}#{i:03d}" for _, sid, i, _ in rows],
            "start_ts": [ts(x["start_ms"]) for *_, x in rows],
            "end_ts": [ts(x["end_ms"]) for *_, x in rows],
            "arm": [x["arm"] for *_, x in rows],
            "burn_in_s": pa.array([0] * len(rows), pa.int32()),
        }
    )


def main(argv: list[str] | None = None) -> None:
    """``python -m liveops.simulate --out show.parquet [--viewers N --rooms R --sessions K --seed S …]``"""
    import argparse

    ap = argparse.ArgumentParser(description="Simulate live-selling shows (events + ground truth).")
    ap.add_argument("--out", required=True, help="events file: .jsonl, .ndjson, .csv or .parquet")
    for f in SimConfig.__dataclass_fields__.values():
        if f.type in ("int", "float"):
            kind = int if f.type == "int" else float
            ap.add_argument("--" + f.name.replace("_", "-"), type=kind, default=f.default)
        elif f.type == "bool":
            ap.add_argument(
                "--" + f.name.replace("_", "-"), action=argparse.BooleanOptionalAction, default=f.default
            )
    ap.add_argument("--start", default=SimConfig.start)
    args = vars(ap.parse_args(argv))
    out = args.pop("out")
    res = simulate(SimConfig(**args))
    paths = write_simulation(res, out)
    print(json.dumps({k: str(v) for k, v in paths.items()} | {"events_rows": res.events.num_rows}))


if __name__ == "__main__":
    main()
