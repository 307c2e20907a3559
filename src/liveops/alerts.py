"""Live alerts: rules from a YAML file, evaluated minute by minute on the show's per-minute series.

A rule's kind names a detector in ``DETECTORS``; a detector takes the minute frame (one row per whole
minute: the timeline's measures, online, the product explained and that product's GMV) and the rule, and
returns alerts. Because the frame is the same for the live room and the stored timeline, the alerts on the
big screen and in the review are the same. Detectors that look at events instead (compliance, anti-cheat)
raise alerts through :meth:`AlertLog.raise_alert`, the hook they share with the rules.
"""

from __future__ import annotations

import datetime as dt
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pandas as pd
import yaml

from . import audit
from .metrics import CATALOG

SEVERITIES = ("high", "medium", "low")


class RuleError(ValueError):
    pass


@dataclass(frozen=True)
class Rule:
    id: str
    kind: str
    severity: str
    params: dict[str, Any]
    message_zh: str
    message_en: str


@dataclass
class Alert:
    session_id: str
    rule: str
    severity: str
    minute: pd.Timestamp  # the whole minute (UTC) the alert is about
    message_zh: str
    message_en: str
    values: dict[str, Any] = field(default_factory=dict)
    source: str = "rule"  # or the raising detector's name

    @property
    def key(self) -> tuple[str, str, pd.Timestamp]:
        return self.session_id, self.rule, self.minute


# ---------------------------------------------------------------------------------------------
# Rules


def default_rules_path() -> Path:
    return Path(str(resources.files("liveops") / "alert_rules.yaml"))


def load_rules(path: str | Path | None = None) -> list[Rule]:
    """Rules from a YAML file (the packaged defaults when none is given); errors name the rule and field."""
    p = Path(path) if path else default_rules_path()
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as e:
        raise RuleError(f"{p}: 无法读取告警规则 cannot read alert rules: {e}") from e
    rules, seen = [], set()
    for i, r in enumerate(data.get("rules") or []):
        where = f"{p}: rules[{i}]"
        if not isinstance(r, dict):
            raise RuleError(f"{where}: 应为映射 expected a mapping")
        r = dict(r)
        rid, kind, sev = r.pop("id", None), r.pop("kind", None), r.pop("severity", "medium")
        if not rid or rid in seen:
            raise RuleError(f"{where}: id 缺失或重复 missing or duplicate id {rid!r}")
        if kind not in DETECTORS:
            raise RuleError(
                f"{where} ({rid}): 未知类型 unknown kind {kind!r} (one of {', '.join(DETECTORS)})"
            )
        if sev not in SEVERITIES:
            raise RuleError(f"{where} ({rid}): severity 应为 must be one of {', '.join(SEVERITIES)}")
        if kind == "window_drop":
            m = CATALOG.get(r.get("metric", ""))
            if m is None or not m.is_ratio:
                raise RuleError(
                    f"{where} ({rid}): metric 应为目录中的比率 must be a catalog ratio, got {r.get('metric')!r}"
                )
        zh, en = r.pop("message_zh", None), r.pop("message_en", None)
        if not zh or not en:
            raise RuleError(f"{where} ({rid}): 需要 message_zh 和 message_en")
        try:
            unknown = _unknown_placeholders(kind, zh, en)
        except ValueError as e:
            raise RuleError(f"{where} ({rid}): 消息模板有误 bad message template: {e}") from e
        if unknown:
            raise RuleError(
                f"{where} ({rid}): 消息中的未知占位符 unknown placeholders {sorted(unknown)} "
                f"(a {kind} rule can use {sorted(PLACEHOLDERS[kind])})"
            )
        seen.add(rid)
        rules.append(Rule(rid, kind, sev, r, zh, en))
    return rules


# ---------------------------------------------------------------------------------------------
# Detectors over the minute frame

Detector = Callable[[pd.DataFrame, Rule, str], list[Alert]]
DETECTORS: dict[str, Detector] = {}
PLACEHOLDERS: dict[str, frozenset[str]] = {}  # what each kind's messages may name


def detector(kind: str, placeholders: tuple[str, ...]):
    """Register a minute-frame detector under a rule kind, with the values its messages can use."""

    def wrap(fn: Detector) -> Detector:
        DETECTORS[kind] = fn
        PLACEHOLDERS[kind] = frozenset(placeholders)
        return fn

    return wrap


def _unknown_placeholders(kind: str, *templates: str) -> set[str]:
    named = {f for t in templates for _, f, _, _ in string.Formatter().parse(t) if f}
    return named - PLACEHOLDERS[kind]


def _pct(x: float) -> str:
    return f"{x:.0%}"


def _alert(rule: Rule, sid: str, minute, **values) -> Alert:
    return Alert(
        sid,
        rule.id,
        rule.severity,
        pd.Timestamp(minute),
        rule.message_zh.format(**values),
        rule.message_en.format(**values),
        values,
    )


def _cooled(fired: list[int], i: int, gap: int) -> bool:
    """True when no alert of this rule fired within the last ``gap`` minutes (one alert per episode)."""
    return not fired or i - fired[-1] > gap


@detector("online_drop", ("minutes", "before", "after", "drop_pct"))
def online_drop(f: pd.DataFrame, rule: Rule, sid: str) -> list[Alert]:
    n, drop, floor = (
        int(rule.params.get("minutes", 3)),
        float(rule.params.get("drop", 0.3)),
        rule.params.get("min_online", 50),
    )
    online = f["online"].astype(float).to_numpy()
    out, fired = [], []
    for i in range(n, len(f)):
        before = online[i - n : i].max()
        if before >= floor and before > 0 and 1 - online[i] / before >= drop and _cooled(fired, i, n):
            fired.append(i)
            out.append(
                _alert(
                    rule,
                    sid,
                    f["minute"].iloc[i],
                    minutes=n,
                    before=int(before),
                    after=int(online[i]),
                    drop_pct=_pct(1 - online[i] / before),
                )
            )
    return out


@detector("window_drop", ("minutes", "before", "after", "drop_pct", "metric_zh", "metric_en"))
def window_drop(f: pd.DataFrame, rule: Rule, sid: str) -> list[Alert]:
    """Last N minutes vs the N before (WeChat Channels' comparison index); the window pools the minutes' counts."""
    m = CATALOG[rule.params["metric"]]
    n, drop, floor = (
        int(rule.params.get("minutes", 5)),
        float(rule.params.get("drop", 0.3)),
        float(rule.params.get("min_denominator", 100)),
    )
    num = f[m.num].astype(float).rolling(n).sum().to_numpy()
    den = f[m.den].astype(float).rolling(n).sum().to_numpy()
    out, fired = [], []
    for i in range(2 * n - 1, len(f)):
        cur_d, prev_d = den[i], den[i - n]
        if cur_d < floor or prev_d < floor:
            continue
        cur, prev = num[i] / cur_d * m.scale, num[i - n] / prev_d * m.scale
        if prev > 0 and cur / prev - 1 <= -drop and _cooled(fired, i, n):
            fired.append(i)
            fmt = (lambda v: f"{v:.2%}") if m.unit == "ratio" else (lambda v: f"{v:,.2f}")
            out.append(
                _alert(
                    rule,
                    sid,
                    f["minute"].iloc[i],
                    minutes=n,
                    before=fmt(prev),
                    after=fmt(cur),
                    drop_pct=_pct(1 - cur / prev),
                    metric_zh=m.zh,
                    metric_en=m.en,
                )
            )
    return out


@detector("explain_no_sale", ("minutes", "product"))
def explain_no_sale(f: pd.DataFrame, rule: Rule, sid: str) -> list[Alert]:
    n = int(rule.params.get("minutes", 5))
    out = []
    run_product, run_len, run_gmv, done = None, 0, 0.0, False
    for i in range(len(f)):
        p = f["explaining"].iloc[i]
        if p != run_product:
            run_product, run_len, run_gmv, done = p, 0, 0.0, False
        if p is None or pd.isna(p):
            continue
        run_len += 1
        run_gmv += float(f["explain_gmv"].iloc[i])
        if run_len >= n and run_gmv == 0 and not done:
            done = True
            out.append(_alert(rule, sid, f["minute"].iloc[i], minutes=n, product=p))
    return out


@detector("leave_surge", ("leaves", "baseline", "ratio"))
def leave_surge(f: pd.DataFrame, rule: Rule, sid: str) -> list[Alert]:
    k = int(rule.params.get("baseline_minutes", 5))
    factor, floor = float(rule.params.get("factor", 2.0)), float(rule.params.get("min_leaves", 30))
    leaves = f["leaves"].astype(float).to_numpy()
    out, fired = [], []
    for i in range(k, len(f)):
        base = leaves[i - k : i].mean()
        if leaves[i] >= floor and leaves[i] >= factor * base and _cooled(fired, i, k):
            fired.append(i)
            out.append(
                _alert(
                    rule,
                    sid,
                    f["minute"].iloc[i],
                    leaves=int(leaves[i]),
                    baseline=f"{base:.0f}",
                    ratio=f"{leaves[i] / base:.1f}" if base else "∞",
                )
            )
    return out


FRAME_COLUMNS = ("minute", "online", "leaves", "explaining", "explain_gmv")


def minute_frame(timeline: pd.DataFrame, product_gmv: pd.DataFrame) -> pd.DataFrame:
    """The detectors' input: the per-minute series plus the GMV of the product being explained each minute."""
    f = timeline.copy()
    f["minute"] = pd.to_datetime(f["minute"])
    if f["minute"].dt.tz is not None:
        f["minute"] = f["minute"].dt.tz_convert("UTC").dt.tz_localize(None)
    g = product_gmv.rename(columns={"product_id": "explaining", "gmv": "explain_gmv"})
    f = f.merge(g, on=["minute", "explaining"], how="left")
    f["explain_gmv"] = f["explain_gmv"].fillna(0.0)
    f["online"] = f["online"].fillna(0)
    return f


def evaluate(frame: pd.DataFrame, rules: list[Rule], session_id: str) -> list[Alert]:
    """Every rule over every whole minute of the frame, in minute order."""
    out = [a for r in rules for a in DETECTORS[r.kind](frame.reset_index(drop=True), r, session_id)]
    return sorted(out, key=lambda a: (a.minute, a.rule))


def merge(*groups: list[Alert]) -> list[Alert]:
    """Alerts of several origins, each (session, rule, minute) once (the first seen wins), in minute order."""
    seen: dict[tuple, Alert] = {}
    for g in groups:
        for a in g:
            seen.setdefault(a.key, a)
    return sorted(seen.values(), key=lambda a: (a.minute, a.rule))


def alerts_frame(alerts: list[Alert]) -> pd.DataFrame:
    cols = ["minute", "severity", "rule", "message_zh", "message_en", "source", "values"]
    return pd.DataFrame(
        [
            [
                a.minute,
                a.severity,
                a.rule,
                a.message_zh,
                a.message_en,
                a.source,
                orjson.dumps(a.values, default=str).decode(),
            ]
            for a in alerts
        ],
        columns=cols,
    )


# ---------------------------------------------------------------------------------------------
# Storage and the hook for other detectors

DDL = """
CREATE TABLE IF NOT EXISTS alerts (
    session_id VARCHAR NOT NULL,
    rule       VARCHAR NOT NULL,
    severity   VARCHAR NOT NULL,
    minute     TIMESTAMP NOT NULL,
    message_zh VARCHAR NOT NULL,
    message_en VARCHAR NOT NULL,
    "values"   JSON,
    source     VARCHAR NOT NULL,
    raised_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (session_id, rule, minute)
)
"""


class AlertLog:
    """Alerts kept with their session in the store; each (session, rule, minute) once."""

    def __init__(self, con: duckdb.DuckDBPyConnection, create: bool = True, db_path: str = ":memory:"):
        self.con = con
        self.db_path = db_path
        if create:
            con.execute(DDL)

    def raise_alert(self, alert: Alert) -> bool:
        """Store an alert (from a rule or any detector); False when it was already stored."""
        if alert.severity not in SEVERITIES:
            raise RuleError(f"severity 应为 must be one of {', '.join(SEVERITIES)}")
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        with audit.transaction(self.con, self.db_path):
            n = self.con.execute(
                "INSERT INTO alerts VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING 1",
                [
                    alert.session_id,
                    alert.rule,
                    alert.severity,
                    alert.minute.to_pydatetime(),
                    alert.message_zh,
                    alert.message_en,
                    orjson.dumps(alert.values, default=str).decode(),
                    alert.source,
                    now,
                ],
            ).fetchall()
            if n:  # every alert is evidence too
                keys = ("session_id", "rule", "severity", "minute", "message_zh", "values", "source")
                ref = f"{alert.session_id}/{alert.rule}/{alert.minute.isoformat()}"
                audit.append(self.con, [audit.Record("alert", ref, {k: getattr(alert, k) for k in keys})])
        return bool(n)

    def of(self, session_id: str) -> list[Alert]:
        exists = "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'alerts' AND schema_name = 'main'"
        if not self.con.execute(exists).fetchall()[0][0]:
            return []
        rows = self.con.execute(
            'SELECT rule, severity, minute, message_zh, message_en, "values", source FROM alerts '
            "WHERE session_id = ? ORDER BY minute, rule",
            [session_id],
        ).fetchall()
        return [
            Alert(session_id, r, s, pd.Timestamp(m), zh, en, orjson.loads(v) if v else {}, src)
            for r, s, m, zh, en, v, src in rows
        ]
