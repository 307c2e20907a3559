"""Experiments: who is in which arm, and what each arm did — per viewer or per switchback slice.

Two designs. *User-randomised*: a viewer's arm comes from the events (``variant`` with
``attrs.experiment`` on ``enter``) or from an assignment CSV, and each viewer is a unit from their
first exposure on. *Switchback*: a schedule gives each room's time slices an arm; everything in a slice
(after its burn-in) belongs to it, and the slice is the unit — viewers in one slice share its luck, so
treating them as independent understates the error (the result shows both).

Metric definitions come from the catalog: a catalog ratio num ÷ den becomes, per unit, a mean of num
when den is the viewer count and the unit is a viewer (conversion_rate is then a proportion, uv_value
GMV per viewer), else a ratio metric with delta-method variance. The database sums per arm; inference
is in ``liveops.stats``.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import ibis
import ibis.expr.types as ir
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import yaml

from . import stats
from .metrics import CATALOG, level0, measure_types, relevel0, session_bounds, unit_measures
from .metrics import _measures as _catalog_measures

DDL = """
CREATE TABLE IF NOT EXISTS experiment_assignments (
    experiment_id VARCHAR NOT NULL, user_id VARCHAR NOT NULL, arm VARCHAR NOT NULL,
    PRIMARY KEY (experiment_id, user_id));
CREATE TABLE IF NOT EXISTS experiment_slices (
    experiment_id VARCHAR NOT NULL, room_id VARCHAR NOT NULL, slice_id VARCHAR NOT NULL,
    start_ts TIMESTAMPTZ NOT NULL, end_ts TIMESTAMPTZ NOT NULL, arm VARCHAR NOT NULL,
    burn_in_s INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (experiment_id, slice_id));
"""

DEFAULT_METRICS = {
    "user": ["conversion_rate", "uv_value"],
    "slice": ["conversion_rate", "product_ctr", "gpm"],
}
PRE_PERIOD_DAYS = 30
PLANNED_UNITS = {"user": 5_000, "slice": 24}  # per arm, when a definition does not say


class ExperimentError(ValueError):
    """A problem the user can fix: an unknown metric, a bad definition or file."""


class UnknownExperiment(ExperimentError, LookupError):
    """No exposures, assignments or schedule under that id (a 404 over HTTP)."""


# --- definitions ----------------------------------------------------------------------------------


@dataclass
class Definition:
    id: str
    unit: str = "user"  # "user" | "slice"
    arms: list[str] = field(default_factory=list)
    control: str | None = None
    weights: list[float] | None = None
    primary: str | None = None
    secondary: list[str] = field(default_factory=list)
    guardrails: list[str] = field(default_factory=list)
    cuped: bool = True
    correction: str = "holm"  # across primary + secondary metrics; guardrails are not in the family
    alpha: float = 0.05
    planned_units: int | None = None  # per arm; tunes the always-valid (sequential) read-out

    @property
    def metrics(self) -> list[str]:
        out = [self.primary] if self.primary else []
        return out + [m for m in [*self.secondary, *self.guardrails] if m not in out]

    def role(self, metric: str) -> str:
        if metric == self.primary:
            return "primary"
        return "guardrail" if metric in self.guardrails else "secondary"


def load_definitions(path: str | Path) -> dict[str, Definition]:
    """Experiment definitions from YAML: ``experiments: [{id, unit, arms, control, weights, primary,
    secondary, guardrails, cuped, correction, alpha}]``; every problem names the entry and field."""
    try:
        doc = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as e:
        raise ExperimentError(f"{path}: 无法读取实验定义 cannot read experiment definitions: {e}") from e
    items = doc.get("experiments") if isinstance(doc, dict) else None
    if not isinstance(items, list):
        raise ExperimentError(f"{path}: 需要 experiments 列表 expected a list under 'experiments'")
    out: dict[str, Definition] = {}
    allowed = set(Definition.__dataclass_fields__)
    for i, item in enumerate(items):
        where = f"{path}: experiments[{i}]"
        if not isinstance(item, dict) or not item.get("id"):
            raise ExperimentError(f"{where}: 需要 id an entry needs an 'id'")
        unknown = set(item) - allowed
        if unknown:
            raise ExperimentError(f"{where}: 未知字段 unknown field(s) {sorted(unknown)}")
        d = Definition(**{**item, "id": str(item["id"])})
        if d.unit not in ("user", "slice"):
            raise ExperimentError(f"{where}.unit: 应为 user 或 slice, got {d.unit!r}")
        for m in d.metrics:
            if m not in CATALOG:
                raise ExperimentError(f"{where}: 指标不在目录中 metric {m!r} is not in the catalog")
        if d.weights is not None and (len(d.weights) != len(d.arms) or min(d.weights) <= 0):
            raise ExperimentError(f"{where}.weights: 每个分组一个正权重 one positive weight per arm")
        if d.correction not in ("holm", "bh"):
            raise ExperimentError(f"{where}.correction: holm 或 bh, got {d.correction!r}")
        if d.id in out:
            raise ExperimentError(f"{where}: 重复的实验 duplicate experiment id {d.id!r}")
        out[d.id] = d
    return out


DEFINITIONS_FILE = "liveops-experiments.yaml"


def project_definitions(path: str | Path | None = None) -> dict[str, Definition]:
    """The definitions in ``path``, else in ./liveops-experiments.yaml if there is one, else none."""
    p = Path(path) if path else Path(DEFINITIONS_FILE)
    if path is None and not p.exists():
        return {}
    return load_definitions(p)


# --- assignment and schedules -----------------------------------------------------------------------


def _unit_interval(key: str) -> float:
    h = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return int.from_bytes(h, "big") / 2**64


def assign(
    unit_ids: Sequence[str], experiment: str, arms: Sequence[str], weights: Sequence[float] | None = None
) -> list[str]:
    """Deterministic arm per unit: a hash of (experiment, unit) on [0, 1) cut by the weights. The same
    viewer always lands in the same arm of one experiment, independently across experiments."""
    if len(arms) < 2:
        raise ExperimentError("至少两个分组 at least two arms are needed")
    if weights is not None and (len(weights) != len(arms) or min(weights) <= 0):
        raise ExperimentError("每个分组一个正权重 one positive weight per arm")
    u = np.fromiter((_unit_interval(f"{experiment}\x1f{x}") for x in unit_ids), float, len(unit_ids))
    w = np.ones(len(arms)) if weights is None else np.asarray(weights, float)
    idx = np.minimum(np.searchsorted(np.cumsum(w / w.sum()), u, side="right"), len(arms) - 1)
    return [arms[i] for i in idx]


@dataclass(frozen=True)
class Slice:
    experiment_id: str
    room_id: str
    slice_id: str
    start: datetime
    end: datetime
    arm: str
    burn_in_s: int


def schedule(
    experiment: str,
    rooms: Sequence[str],
    start: datetime,
    end: datetime,
    slice_minutes: int,
    arms: Sequence[str] = ("control", "treatment"),
    burn_in_minutes: float = 0,
    seed: int = 0,
) -> list[Slice]:
    """A switchback schedule: each room's time cut into slices, arms randomised independently per room
    in blocks (every run of len(arms) consecutive slices holds each arm once, in random order), so arms
    stay balanced over the show and across hours. Deterministic in (experiment, seed)."""
    if len(arms) < 2:
        raise ExperimentError("至少两个分组 at least two arms are needed")
    if slice_minutes <= 0 or end <= start:
        raise ExperimentError("时间片须为正且结束晚于开始 slice length must be positive and end after start")
    if burn_in_minutes < 0 or burn_in_minutes >= slice_minutes:
        raise ExperimentError("预热须短于时间片 burn-in must be shorter than a slice")
    step = timedelta(minutes=slice_minutes)
    n = math.ceil((end - start) / step)
    out: list[Slice] = []
    for room in rooms:
        rng = np.random.default_rng(int(_unit_interval(f"{experiment}\x1f{room}\x1f{seed}") * 2**63))
        blocks = [rng.permutation(len(arms)) for _ in range(-(-n // len(arms)))]
        order = np.concatenate(blocks)[:n]
        for i in range(n):
            s = start + i * step
            out.append(
                Slice(
                    experiment,
                    room,
                    f"{room}#{i:04d}",
                    s,
                    min(end, s + step),
                    arms[order[i]],
                    round(burn_in_minutes * 60),
                )
            )
    return out


def slices_table(slices: Sequence[Slice]) -> pa.Table:
    return pa.table(
        {
            "experiment_id": [s.experiment_id for s in slices],
            "room_id": [s.room_id for s in slices],
            "slice_id": [s.slice_id for s in slices],
            "start_ts": pa.array([s.start for s in slices], pa.timestamp("ms", tz="UTC")),
            "end_ts": pa.array([s.end for s in slices], pa.timestamp("ms", tz="UTC")),
            "arm": [s.arm for s in slices],
            "burn_in_s": pa.array([s.burn_in_s for s in slices], pa.int32()),
        }
    )


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(DDL)


def import_csv(con: duckdb.DuckDBPyConnection, path: str | Path) -> tuple[str, int]:
    """Load an assignment CSV (experiment_id, user_id, arm) or a schedule CSV (experiment_id, room_id,
    slice_id, start_ts, end_ts, arm[, burn_in_s]) into the store; a re-import replaces matching rows.
    Rows with a missing field are refused with their line numbers; nothing is loaded then."""
    ensure_tables(con)
    try:
        rel = con.sql(
            "SELECT * FROM read_csv(?, header = true, all_varchar = true)", params=[str(path)]
        ).to_arrow_table()
    except duckdb.Error as e:
        raise ExperimentError(f"{path}: 无法读取 CSV unreadable CSV: {e}") from e
    cols = set(rel.column_names)
    if {"experiment_id", "user_id", "arm"} <= cols:
        kind, need, table = "assignments", ["experiment_id", "user_id", "arm"], "experiment_assignments"
    elif {"experiment_id", "room_id", "slice_id", "start_ts", "end_ts", "arm"} <= cols:
        kind, table = "slices", "experiment_slices"
        need = ["experiment_id", "room_id", "slice_id", "start_ts", "end_ts", "arm"]
    else:
        raise ExperimentError(
            f"{path}: 需要分组表 (experiment_id, user_id, arm) 或排期表 (experiment_id, room_id, slice_id, "
            "start_ts, end_ts, arm) — neither an assignment nor a schedule CSV"
        )
    missing = []  # (row, column position) of empty fields, found column by column
    for k, c in enumerate(need):
        col = rel.column(c)
        empty = pc.fill_null(pc.equal(pc.utf8_trim_whitespace(col), ""), True)
        missing += [(int(i), k) for i in np.flatnonzero(empty.to_numpy(zero_copy_only=False))]
    bad = [f"line {i + 2}: {need[k]}" for i, k in sorted(missing)]
    if kind == "slices":  # a schedule has tens or hundreds of rows
        for c in ("start_ts", "end_ts"):
            for i, v in enumerate(rel.column(c).to_pylist()):
                try:
                    if v:
                        datetime.fromisoformat(v)
                except ValueError:
                    bad.append(f"line {i + 2}: {c} is not an ISO time ({v!r})")
    if bad:
        raise ExperimentError(f"{path}: 缺失或无效字段 missing or invalid fields — " + "; ".join(bad[:20]))
    con.register("_exp_in", rel)
    try:
        if kind == "assignments":
            con.execute(
                f"INSERT OR REPLACE INTO {table} SELECT DISTINCT ON (experiment_id, user_id) "
                "experiment_id, user_id, arm FROM _exp_in"
            )
        else:
            burn = "CAST(burn_in_s AS INTEGER)" if "burn_in_s" in cols else "0"
            con.execute(
                f"INSERT OR REPLACE INTO {table} SELECT experiment_id, room_id, slice_id, "
                f"CAST(start_ts AS TIMESTAMPTZ), CAST(end_ts AS TIMESTAMPTZ), arm, {burn} FROM _exp_in"
            )
    finally:
        con.unregister("_exp_in")
    return kind, rel.num_rows


def store_slices(con: duckdb.DuckDBPyConnection, slices: Sequence[Slice]) -> None:
    ensure_tables(con)
    con.register("_exp_sl", slices_table(slices))
    try:
        con.execute("INSERT OR REPLACE INTO experiment_slices SELECT * FROM _exp_sl")
    finally:
        con.unregister("_exp_sl")


# --- finding experiments -----------------------------------------------------------------------------


@ibis.udf.scalar.builtin
def json_extract_string(doc: str, path: str) -> str: ...


def _has(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    return bool(
        con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [table]
        ).fetchall()[0][0]
    )


def _exposures(t: ir.Table) -> ir.Table:
    e = t.filter((t.type == "enter") & t.variant.notnull() & t.user_id.notnull() & t.attrs.notnull())
    return e.mutate(experiment_id=json_extract_string(e.attrs, "$.experiment")).filter(
        lambda x: x.experiment_id.notnull()
    )


@dataclass(frozen=True)
class Found:
    experiment_id: str
    unit: str
    source: str  # "events" | "assignments" | "schedule" | "definition"
    arms: list[str]
    units: int


def discover(
    con: duckdb.DuckDBPyConnection, t: ir.Table, defs: dict[str, Definition] | None = None
) -> list[Found]:
    """Every experiment the store or the definitions know of, with its arms and unit count."""
    out: dict[str, Found] = {}
    ex = _exposures(t)
    rows = (
        ex.group_by("experiment_id")
        .aggregate(arms=ex.variant.collect(distinct=True), n=ex.user_id.nunique())
        .to_pyarrow()
        .to_pylist()
    )
    for r in rows:  # units: distinct viewers, however many arms they were seen in
        out[r["experiment_id"]] = Found(r["experiment_id"], "user", "events", sorted(r["arms"]), r["n"])
    if _has(con, "experiment_assignments"):
        for eid, arms, n in con.execute(
            "SELECT experiment_id, list(DISTINCT arm ORDER BY arm), count(*) FROM experiment_assignments GROUP BY 1"
        ).fetchall():
            out.setdefault(eid, Found(eid, "user", "assignments", list(arms), n))
    if _has(con, "experiment_slices"):
        for eid, arms, n in con.execute(
            "SELECT experiment_id, list(DISTINCT arm ORDER BY arm), count(*) FROM experiment_slices GROUP BY 1"
        ).fetchall():
            out.setdefault(eid, Found(eid, "slice", "schedule", list(arms), n))
    for d in (defs or {}).values():
        out.setdefault(d.id, Found(d.id, d.unit, "definition", list(d.arms), 0))
    return sorted(out.values(), key=lambda f: f.experiment_id)


# --- analysis -------------------------------------------------------------------------------------------


@dataclass
class MetricResult:
    metric: str
    zh: str
    role: str
    arm: str
    control: str
    kind: str  # "proportion" | "mean" | "ratio"
    n: int
    n_control: int
    mean: float
    mean_control: float
    lift_abs: float
    lift_rel: float
    ci_low: float
    ci_high: float
    ci_rel_low: float
    ci_rel_high: float
    p_value: float
    p_adjusted: float | None
    chance_to_win: float
    risk_control: float
    risk_treatment: float
    seq_p_value: float | None
    seq_ci_low: float | None
    seq_ci_high: float | None
    cuped_variance_reduction: float | None
    naive_p_value: float | None = None  # switchback: viewers treated as independent (wrong; for contrast)
    naive_ci_low: float | None = None
    naive_ci_high: float | None = None
    permutation_p_value: float | None = None  # switchback: randomisation inference over the slices
    notes: list[str] = field(default_factory=list)


@dataclass
class ExperimentResult:
    experiment: str
    unit: str
    source: str
    arms: dict[str, int]  # units per arm
    control: str
    weights: list[float]
    srm_p: float
    srm_flag: bool
    correction: str
    alpha: float
    metrics: list[MetricResult]
    contaminated: int = 0  # viewers seen in more than one arm, left out
    notes: list[str] = field(default_factory=list)

    def frame(self):
        """The metric rows as a DataFrame (one row per metric × treatment arm), for notebooks."""
        import pandas as pd

        return pd.DataFrame(self.to_dict()["metrics"])

    def to_dict(self) -> dict:
        d = asdict(self)
        for m in d["metrics"]:
            for k, v in m.items():
                if isinstance(v, float) and not math.isfinite(v):
                    m[k] = None
        return d


_SHARED = [
    f
    for f in MetricResult.__dataclass_fields__
    if f in stats.Comparison.__dataclass_fields__ and f != "notes"
]


def _metric_parts(key: str, unit: str) -> tuple[str, str | None, str, float]:
    """(numerator measure, denominator measure or None for a per-unit mean, kind, scale)."""
    m = CATALOG.get(key)
    if m is None:
        raise ExperimentError(f"未知指标 unknown metric {key!r} (see `liveops catalog`)")
    if not m.is_ratio:
        return key, None, "mean", 1.0
    if unit == "user" and m.den == "uv":
        num = CATALOG[m.num]
        kind = "proportion" if num.agg is not None and num.agg.kind == "uv" and m.scale == 1 else "mean"
        return m.num, None, kind, m.scale
    return m.num, m.den, "ratio", m.scale


def _moment_aggs(u: ir.Table, num: str, den: str | None, x: str | None) -> dict[str, ir.Scalar]:
    y = u[num].cast("float64")
    out = {"n": u.count(), "m": y.sum(), "mm": (y * y).sum()}
    if den is None:  # a per-unit mean: d ≡ 1
        out |= {"d": u.count(), "dd": u.count(), "md": y.sum()}
    else:
        dd = u[den].cast("float64")
        out |= {"d": dd.sum(), "dd": (dd * dd).sum(), "md": (y * dd).sum()}
    if x is not None:
        xx = u[x].cast("float64")
        out |= {"x": xx.sum(), "xx": (xx * xx).sum(), "xm": (xx * y).sum()}
    return out


def _row_moments(r: dict, i: int, scale: float) -> stats.Moments:
    """Moments of metric i from one arm's row of prefixed sums."""
    return _moments({k[len(f"{i}__") :]: v for k, v in r.items() if k.startswith(f"{i}__")}, scale)


def _moments(row: dict, scale: float) -> stats.Moments:
    f = {k: float(row.get(k) or 0) for k in ("m", "mm", "d", "dd", "md", "x", "xx", "xm")}
    s = scale
    return stats.Moments(
        int(row["n"]),
        f["m"] * s,
        f["mm"] * s * s,
        f["d"],
        f["dd"],
        f["md"] * s,
        f["x"] * s,
        f["xx"] * s * s,
        f["xm"] * s * s,
    )


def _user_units(con, t: ir.Table, experiment: str) -> tuple[ir.Table, str, int]:
    """(units with user_id, arm, first_ts; source; viewers seen in several arms)."""
    ex = _exposures(t).filter(lambda x: x.experiment_id == experiment)
    per = ex.group_by("user_id").aggregate(
        arm=ex.variant.min(), n_arms=ex.variant.nunique(), first_ts=ex.ts.min()
    )
    counts = per.aggregate(n=per.count(), bad=(per.n_arms > 1).sum()).to_pyarrow().to_pylist()[0]
    if counts["n"]:
        return (
            per.filter(per.n_arms == 1).select("user_id", "arm", "first_ts"),
            "events",
            int(counts["bad"] or 0),
        )
    if _has(con, "experiment_assignments"):
        a = ibis.duckdb.from_connection(con).table("experiment_assignments")
        a = a.filter(a.experiment_id == experiment)
        if a.count().to_pyarrow().as_py():
            return a.select("user_id", "arm", first_ts=ibis.null("timestamp('UTC')")), "assignments", 0
    raise UnknownExperiment(f"未找到实验 experiment {experiment!r} has no exposures, assignments or schedule")


def analyze(
    con: duckdb.DuckDBPyConnection,
    t: ir.Table,
    experiment: str,
    metrics: Sequence[str] | None = None,
    definition: Definition | None = None,
    *,
    alpha: float | None = None,
    correction: str | None = None,
    cuped: bool | None = None,
    test: str = "welch",
    permutations: int = 2_000,
) -> ExperimentResult:
    """Analyse one experiment: SRM on the units, then each metric for each non-control arm."""
    d = definition or Definition(experiment)
    alpha = alpha if alpha is not None else d.alpha
    correction = correction or d.correction
    use_cuped = d.cuped if cuped is None else cuped
    unit = d.unit
    if definition is None and _has(con, "experiment_slices"):
        n = con.execute(
            "SELECT count(*) FROM experiment_slices WHERE experiment_id = ?", [experiment]
        ).fetchall()
        unit = "slice" if n[0][0] else unit
    keys = list(metrics or d.metrics or DEFAULT_METRICS[unit])
    parts = {k: _metric_parts(k, unit) for k in keys}
    measures = sorted({p for num, den, _, _ in parts.values() for p in (num, den) if p})
    notes: list[str] = []
    contaminated = 0
    if unit == "user":
        units, source, contaminated = _user_units(con, t, experiment)
        if contaminated:
            notes.append(
                f"{contaminated} 名观众出现在多个分组，已排除 viewers seen in several arms were left out"
            )
        res = _analyze_users(t, units, keys, parts, measures, use_cuped)
    else:
        source = "schedule"
        res = _analyze_slices(con, t, experiment, keys, parts, measures)
    arm_counts = res["counts"]
    if not arm_counts:
        raise ExperimentError(f"实验 {experiment!r} 没有单元 has no units")
    arms = d.arms or sorted(arm_counts)
    control = d.control or ("control" if "control" in arms else sorted(arms)[0])
    if control not in arm_counts:
        raise ExperimentError(f"对照组 control arm {control!r} has no units (arms: {sorted(arm_counts)})")
    weights = d.weights or [1.0] * len(arms)
    srm_p = stats.srm([arm_counts.get(a, 0) for a in arms], weights)
    rows: list[MetricResult] = []
    for k in keys:
        num, den, kind, scale = parts[k]
        mom = res["moments"][k]
        for arm in arms:
            if arm == control or arm not in mom:
                continue
            c = stats.compare(
                mom[control],
                mom[arm],
                alpha=alpha,
                proportion=kind == "proportion",
                test=test if kind == "proportion" else "welch",  # the pooled z is for proportions only
                cuped=use_cuped and unit == "user" and kind != "ratio",
                tune_n=d.planned_units or PLANNED_UNITS[unit],
            )
            r = MetricResult(
                metric=k,
                zh=CATALOG[k].zh,
                role=d.role(k) if d.metrics else ("primary" if k == keys[0] else "secondary"),
                arm=arm,
                control=control,
                kind=kind,
                n=c.n_treatment,
                mean=c.mean_treatment,
                p_adjusted=None,
                notes=list(c.notes),
                **{f: getattr(c, f) for f in _SHARED},
            )
            if unit == "slice":
                naive = res["naive"][k]
                if control in naive and arm in naive:
                    nc = stats.compare(
                        naive[control],
                        naive[arm],
                        alpha=alpha,
                        proportion=kind != "ratio" and naive[arm].mm == naive[arm].m,
                    )
                    r.naive_p_value, r.naive_ci_low, r.naive_ci_high = nc.p_value, nc.ci_low, nc.ci_high
                arrs = res["arrays"][k]
                sel = np.isin(arrs["arm"], [control, arm])
                r.permutation_p_value = stats.permutation_p(
                    arrs["m"][sel],
                    arrs["d"][sel],
                    arrs["arm"][sel] == arm,
                    arrs["room"][sel],
                    draws=permutations,
                )
            rows.append(r)
    family = [i for i, r in enumerate(rows) if r.role != "guardrail" and np.isfinite(r.p_value)]
    for i, p in zip(family, stats.adjust([rows[i].p_value for i in family], correction), strict=True):
        rows[i].p_adjusted = p
    srm_flag = srm_p < stats.SRM_THRESHOLD
    if srm_flag:
        notes.append(
            "样本比例失衡 (SRM)：分组人数与设计不符，结果不可信 — sample ratio mismatch, do not trust the results"
        )
    return ExperimentResult(
        experiment,
        unit,
        source,
        {a: int(arm_counts.get(a, 0)) for a in arms},
        control,
        list(weights),
        srm_p,
        srm_flag,
        correction,
        alpha,
        rows,
        contaminated,
        notes,
    )


def _analyze_users(t, units, keys, parts, measures, use_cuped) -> dict:
    """Per-viewer measures from first exposure on (and over the pre-period for CUPED), summed per arm."""
    e = t.filter(t.user_id.notnull())
    j = e.join(units, e.user_id == units.user_id)
    post = j.filter(units.first_ts.isnull() | (j.ts >= units.first_ts))
    per = unit_measures(post, ["arm"], measures)
    u = units.left_join(per, [units.user_id == per.user_id, units.arm == per.arm])
    u = u.select(units.user_id, units.arm, *[u[m].fill_null(0).name(m) for m in measures])
    pre_keys = sorted({parts[k][0] for k in keys if parts[k][2] != "ratio"}) if use_cuped else []
    if pre_keys:
        lookback = ibis.interval(days=PRE_PERIOD_DAYS)
        pre = j.filter((j.ts < units.first_ts) & (j.ts >= units.first_ts - lookback))
        xp = unit_measures(pre, ["arm"], pre_keys)
        xp = xp.select("user_id", **{f"_x_{m}": xp[m] for m in pre_keys})
        u = u.left_join(xp, u.user_id == xp.user_id)
        u = u.select(
            *[c for c in u.columns if not c.endswith("_right") and not c.startswith("_x_")],
            **{f"_x_{m}": u[f"_x_{m}"].fill_null(0) for m in pre_keys},
        )
    aggs: dict[str, ir.Scalar] = {"_units": u.count()}
    for i, k in enumerate(keys):
        num, den, kind, _ = parts[k]
        x = f"_x_{num}" if num in pre_keys else None
        for name, a in _moment_aggs(u, num, den, x).items():
            aggs[f"{i}__{name}"] = a
    rows = u.group_by("arm").aggregate(**aggs).to_pyarrow().to_pylist()
    counts = {r["arm"]: int(r["_units"]) for r in rows}
    moments = {k: {r["arm"]: _row_moments(r, i, parts[k][3]) for r in rows} for i, k in enumerate(keys)}
    return {"counts": counts, "moments": moments}


def _slices(con, experiment: str) -> ir.Table:
    if not _has(con, "experiment_slices"):
        raise ExperimentError(f"实验 {experiment!r} 没有排期 has no switchback schedule")
    sl = ibis.duckdb.from_connection(con).table("experiment_slices")
    return sl.filter(sl.experiment_id == experiment)


def _bucket_seconds(sl: ir.Table) -> int | None:
    """The largest whole number of seconds dividing every slice boundary (after burn-in), if any: events
    in one such bucket all fall in the same slice, so they can be summed before the join."""
    b = sl.select(
        f=sl._from.epoch_seconds(), e=sl.end_ts.epoch_seconds(), fm=sl._from, em=sl.end_ts
    ).to_pyarrow()
    secs = [*b["f"].to_pylist(), *b["e"].to_pylist()]
    whole = all(t.microsecond == 0 for t in [*b["fm"].to_pylist(), *b["em"].to_pylist()] if t is not None)
    if not secs or not whole:
        return None
    g = 0
    for x in secs:
        g = math.gcd(g, int(x))
    return g or None


def slice_units(con, t: ir.Table, experiment: str, measures: Sequence[str]) -> ir.Table:
    """Measures per (room, slice, arm, viewer) over each slice's events after its burn-in (lazy).
    Room-level events are the null viewer; summing over viewers gives the slice.

    When the slice boundaries fall on whole multiples of some bucket (a minute, ten minutes), events are
    first summed per (room, viewer, type, bucket) and only those sums go through the time-range join."""
    sl = _slices(con, experiment)
    sl = sl.mutate(_from=sl.start_ts + sl.burn_in_s.cast("int64").as_interval("s"))
    t = t.filter(t.type.isin(measure_types(measures)))  # fewer rows through the range join
    keys = ["room_id", "slice_id", "arm"]
    every = _catalog_measures(measures)
    ms = [m for m in every if m.agg.kind != "distinct"]

    def on_slices(x: ir.Table) -> ir.Table:
        """Events joined to the slice they fall in (after burn-in), with its id and arm."""
        j = x.join(sl, [x.room_id == sl.room_id, x.ts >= sl._from, x.ts < sl.end_ts])
        return j.select(
            *[c for c in x.columns if c != "room_id"], room_id=x.room_id, slice_id=sl.slice_id, arm=sl.arm
        )

    g = _bucket_seconds(sl)
    if g is None:
        return unit_measures(on_slices(t), keys, measures)
    pre = level0(t.mutate(_b=t.ts.epoch_seconds() // g), ["room_id", "_b"], ms)
    sb = sl.mutate(_fb=sl._from.epoch_seconds() // g, _eb=sl.end_ts.epoch_seconds() // g)
    j = pre.join(sb, [pre.room_id == sb.room_id, pre._b >= sb._fb, pre._b < sb._eb])
    j = j.select(
        *[c for c in pre.columns if c not in ("room_id", "_b")],
        room_id=pre.room_id,
        slice_id=sb.slice_id,
        arm=sb.arm,
    )
    l0 = relevel0(j, keys)
    distinct_types = sorted({ty for m in every if m.agg.kind == "distinct" for ty in m.agg.types})
    d = t.filter(t.type.isin(distinct_types or ["-"]))
    return unit_measures(on_slices(d), keys, measures, l0=l0)


def _analyze_slices(con, t, experiment, keys, parts, measures) -> dict:
    """Events of each room inside each slice (after burn-in) → per-slice sums; slices are the units."""
    sl = _slices(con, experiment)
    per_user = slice_units(con, t, experiment, measures).cache()
    try:
        per_slice = per_user.group_by(["room_id", "slice_id", "arm"]).aggregate(
            **{m: per_user[m].sum() for m in measures}
        )
        allsl = sl.select("room_id", "slice_id", "arm")
        ps = allsl.left_join(per_slice, allsl.slice_id == per_slice.slice_id)
        ps = ps.select(
            allsl.room_id, allsl.slice_id, allsl.arm, *[ps[m].fill_null(0).name(m) for m in measures]
        )
        df = ps.to_pyarrow()
        viewers = per_user.filter(per_user.user_id.notnull())
        naive_aggs = {}
        for i, k in enumerate(keys):
            num, den, kind, _ = parts[k]
            for name, a in _moment_aggs(viewers, num, den if den != "uv" else None, None).items():
                naive_aggs[f"{i}__{name}"] = a
        naive_rows = viewers.group_by("arm").aggregate(**naive_aggs).to_pyarrow().to_pylist()
    finally:
        per_user.release()
    arm_arr = np.asarray(df["arm"].to_pylist(), dtype=object)
    room_arr = np.asarray(df["room_id"].to_pylist(), dtype=object)
    counts = {a: int((arm_arr == a).sum()) for a in np.unique(arm_arr)}
    moments: dict[str, dict[str, stats.Moments]] = {}
    arrays: dict[str, dict] = {}
    naive: dict[str, dict[str, stats.Moments]] = {}
    for i, k in enumerate(keys):
        num, den, kind, scale = parts[k]
        m = np.asarray(df[num].to_numpy(zero_copy_only=False), float) * scale
        dv = np.ones_like(m) if den is None else np.asarray(df[den].to_numpy(zero_copy_only=False), float)
        moments[k] = {}
        for a in counts:
            s = arm_arr == a
            moments[k][a] = stats.Moments.of_ratio(m[s], dv[s])
        arrays[k] = {"m": m, "d": dv, "arm": arm_arr, "room": room_arr}
        naive[k] = {r["arm"]: _row_moments(r, i, scale) for r in naive_rows}
    return {"counts": counts, "moments": moments, "arrays": arrays, "naive": naive}


def active_in_session(con: duckdb.DuckDBPyConnection, t: ir.Table, session_id: str) -> list[str]:
    """Experiments with exposures in the session, or with switchback slices in its room and time."""
    ex = _exposures(t.filter(t.session_id == session_id))
    found = set(ex.select("experiment_id").distinct().to_pyarrow()["experiment_id"].to_pylist())
    if _has(con, "experiment_slices"):
        b = session_bounds(t.filter(t.session_id == session_id)).to_pyarrow().to_pylist()
        if b:
            rows = con.execute(
                "SELECT DISTINCT experiment_id FROM experiment_slices WHERE room_id = ? AND start_ts < ? AND end_ts > ?",
                [b[0]["room_id"], b[0]["end"], b[0]["start"]],
            ).fetchall()
            found |= {r[0] for r in rows}
    return sorted(found)


def results_for_session(
    con: duckdb.DuckDBPyConnection,
    t: ir.Table,
    session_id: str,
    definitions: dict[str, Definition] | None = None,
) -> list[ExperimentResult]:
    """Each experiment active in the session, analysed over all its data so far (what the review shows);
    an experiment that cannot be analysed yet is left out rather than failing the report."""
    out = []
    for eid in active_in_session(con, t, session_id):
        try:
            out.append(analyze(con, t, eid, definition=(definitions or {}).get(eid), permutations=500))
        except (ExperimentError, ValueError):
            continue
    return out
