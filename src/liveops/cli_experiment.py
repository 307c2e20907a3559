"""`liveops experiment …`: list, analyze, power, assign, schedule and import."""

from __future__ import annotations

import csv
import math
import sys
from datetime import datetime
from typing import Annotated

import pandas as pd
import typer

from . import output as O
from .cli_common import DbOpt, Fmt, _emit, _fail, err, open_store, out

experiment_app = typer.Typer(
    help="实验 A/B and switchback tests: analyse, plan, assign, schedule", no_args_is_help=True
)

DEFINITIONS = "liveops-experiments.yaml"
DefsOpt = Annotated[
    str | None,
    typer.Option(
        "--definitions", help=f"实验定义 experiment definitions YAML (default ./{DEFINITIONS} if present)"
    ),
]


def _defs(path: str | None):
    from .experiments import ExperimentError, project_definitions

    try:
        return project_definitions(path)
    except ExperimentError as e:
        raise _fail(str(e)) from e


def _csv_list(s: str | None) -> list[str] | None:
    return [x.strip() for x in s.split(",") if x.strip()] if s else None


@experiment_app.command("list")
def list_cmd(
    db: DbOpt = None,
    definitions: DefsOpt = None,
    fmt: Annotated[Fmt, typer.Option("--format", "-f")] = Fmt.table,
) -> None:
    """实验列表 Experiments found in the events, assignment and schedule tables, and the definitions."""
    from .api import Workspace

    defs = _defs(definitions)
    with open_store(db) as log:
        df = Workspace(log.events, log.products, log=log).experiment_list(defs)
    _emit(df, fmt, "实验 Experiments")


def _fmt_pct(v) -> str:
    return "—" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:+.2%}"


def _fmt_num(v, digits: int = 4) -> str:
    return "—" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.{digits}g}"


@experiment_app.command("analyze")
def analyze_cmd(
    experiment: Annotated[str, typer.Option("--experiment", "-e", help="实验 ID experiment id")],
    db: DbOpt = None,
    metrics: Annotated[
        str | None,
        typer.Option("--metrics", help="目录指标，逗号分隔 catalog keys, e.g. conversion_rate,uv_value"),
    ] = None,
    definitions: DefsOpt = None,
    alpha: Annotated[float | None, typer.Option("--alpha", help="显著性水平 significance level")] = None,
    correction: Annotated[str | None, typer.Option("--correction", help="holm | bh")] = None,
    test: Annotated[
        str, typer.Option("--test", help="welch (default) | ztest (pooled two-proportion)")
    ] = "welch",
    no_cuped: Annotated[
        bool, typer.Option("--no-cuped", help="不做 CUPED 方差缩减 no pre-period adjustment")
    ] = False,
    fmt: Annotated[Fmt, typer.Option("--format", "-f")] = Fmt.table,
) -> None:
    """实验分析 Analyse an experiment: SRM, lift with intervals, p-values (adjusted), chance to win, always-valid results."""
    from .experiments import ExperimentError, analyze

    if test not in ("welch", "ztest"):
        raise _fail(f"--test: welch 或 ztest, got {test!r}")
    if correction not in (None, "holm", "bh"):
        raise _fail(f"--correction: holm 或 bh, got {correction!r}")
    defs = _defs(definitions)
    with open_store(db) as log:
        try:
            res = analyze(
                log.con,
                log.events,
                experiment,
                _csv_list(metrics),
                defs.get(experiment),
                alpha=alpha,
                correction=correction,
                cuped=False if no_cuped else None,
                test=test,
            )
        except (ExperimentError, ValueError) as e:
            raise _fail(str(e)) from e
    if fmt == Fmt.json:
        O.print_json(res.to_dict())
        return
    rows = [m for m in res.to_dict()["metrics"]]
    if fmt == Fmt.csv:
        sys.stdout.write(pd.DataFrame(rows).to_csv(index=False))
        return
    unit = "观众 viewers" if res.unit == "user" else "时间片 slices"
    err.print(
        f"实验 {res.experiment} · 单元 {unit} · "
        + " / ".join(f"{a}: {n:,}" for a, n in res.arms.items())
        + f" · SRM p = {res.srm_p:.3g}"
        + (" [red]⚠ 样本比例失衡 SRM[/red]" if res.srm_flag else "")
    )
    table = pd.DataFrame(
        {
            "指标": [r["metric"] + (" ★" if r["role"] == "primary" else "") for r in rows],
            "组": [r["arm"] for r in rows],
            "对照→实验": [f"{_fmt_num(r['mean_control'])}→{_fmt_num(r['mean'])}" for r in rows],
            "提升 [95%CI]": [
                f"{_fmt_pct(r['lift_rel'])} [{_fmt_pct(r['ci_rel_low'])},{_fmt_pct(r['ci_rel_high'])}]"
                for r in rows
            ],
            f"p / {res.correction}": [
                f"{_fmt_num(r['p_value'], 2)}/{_fmt_num(r['p_adjusted'], 2)}" for r in rows
            ],
            "胜率": [f"{r['chance_to_win']:.0%}" for r in rows],
            "seq p": [_fmt_num(r["seq_p_value"], 2) for r in rows],
        }
    )
    if res.unit == "slice":
        table["perm p"] = [_fmt_num(r["permutation_p_value"], 2) for r in rows]
        table["naive p"] = [_fmt_num(r["naive_p_value"], 2) for r in rows]
    else:
        table["CUPED"] = [_fmt_pct(r["cuped_variance_reduction"]).lstrip("+") for r in rows]
    out.print(O.frame_table(table, f"实验结果 Experiment {res.experiment}"))
    err.print(
        "★ 主指标 primary · 提升为相对值 lift is relative · p / 校正后 p adjusted across primary+secondary · "
        "胜率 chance to win · seq p 随时可看的 p always-valid · CUPED 方差缩减 variance reduction"
    )
    for n in res.notes:
        err.print(f"注意 note: {n}")
    if res.unit == "slice":
        err.print(
            "时间片为单元：同一时间片内的观众共享其环境，不能当作独立样本；“朴素 p” 仅作对比。"
            " Slices are the units; the naive p treats viewers as independent and is shown only for contrast."
        )


@experiment_app.command("power")
def power_cmd(
    baseline: Annotated[
        float, typer.Option("--baseline", help="对照组基线 baseline (a rate, or a mean with --sd)")
    ],
    mde: Annotated[
        float | None, typer.Option("--mde", help="最小可检测相对提升 relative MDE, e.g. 0.1 = +10 %")
    ] = None,
    units: Annotated[
        int | None, typer.Option("--units", help="每组单元数 units per arm → the smallest detectable lift")
    ] = None,
    alpha: Annotated[float, typer.Option("--alpha")] = 0.05,
    power: Annotated[float, typer.Option("--power")] = 0.8,
    sd: Annotated[
        float | None, typer.Option("--sd", help="均值指标的标准差 standard deviation of a mean metric")
    ] = None,
    arms: Annotated[int, typer.Option("--arms", help="分组数 number of arms")] = 2,
    daily_units: Annotated[
        int | None, typer.Option("--daily-units", help="每天进入实验的单元数 units per day → days needed")
    ] = None,
    fmt: Annotated[Fmt, typer.Option("--format", "-f")] = Fmt.table,
) -> None:
    """样本量计算 Sample size per arm to detect a relative lift (two-sided test)."""
    from .stats import mde_for, sample_size

    if (mde is None) == (units is None):
        raise _fail("需要 --mde 或 --units 之一 give exactly one of --mde (→ units) or --units (→ MDE)")
    if units is not None:
        if (
            units < 2
            or not 0 < alpha < 1
            or not 0 < power < 1
            or baseline <= 0
            or (sd is None and baseline >= 1)
        ):
            raise _fail(
                "--units ≥ 2, alpha/power in (0, 1), and a baseline rate in (0, 1) (or a mean with --sd)"
            )
        rel = mde_for(units, baseline, alpha, power, sd)
        if fmt == Fmt.json:
            O.print_json(
                {"baseline": baseline, "units_per_arm": units, "alpha": alpha, "power": power, "mde_rel": rel}
            )
        else:
            out.print(
                f"每组 {units:,} 个单元时，以 {power:.0%} 的把握可检出的最小相对变化约为 [bold]{rel:.1%}[/bold] "
                f"— with {units:,} units per arm the smallest detectable relative lift is about {rel:.1%}"
            )
        return
    try:
        plan = sample_size(baseline, mde, alpha, power, sd, arms)
    except ValueError as e:
        raise _fail(str(e)) from e
    d = O.plain(plan) | ({"days": math.ceil(plan.n_total / daily_units)} if daily_units else {})
    if fmt == Fmt.json:
        O.print_json(d)
        return
    if fmt == Fmt.csv:
        _emit(pd.DataFrame([d]), fmt, "")
        return
    out.print(
        f"每组需要 [bold]{plan.n_per_arm:,}[/bold] 个单元 units per arm (合计 total {plan.n_total:,}) 以 "
        f"{power:.0%} 的把握检出 {mde:+.1%} 的相对变化 ({baseline:g} → {baseline * (1 + mde):g}), α = {alpha:g}"
        + (f"；约需 about {d['days']} 天 days" if daily_units else "")
    )


@experiment_app.command("assign")
def assign_cmd(
    experiment: Annotated[str, typer.Option("--experiment", "-e")],
    arms: Annotated[str, typer.Option("--arms", help="分组 e.g. control,treatment")],
    weights: Annotated[str | None, typer.Option("--weights", help="权重 e.g. 50,50")] = None,
    users: Annotated[
        str | None,
        typer.Option(
            "--users", help="用户 ID 文件，每行一个 file of user ids, one per line (default: stdin)"
        ),
    ] = None,
    out_path: Annotated[str | None, typer.Option("--out", help="写出 CSV (default: stdout)")] = None,
    db: Annotated[
        str | None, typer.Option("--db", help="同时存入该存储 also store the assignments here")
    ] = None,
) -> None:
    """分组 Deterministic hash assignment of user ids to arms → CSV experiment_id,user_id,arm."""
    from .experiments import ExperimentError, assign, import_csv

    arm_list = _csv_list(arms) or []
    try:
        w = [float(x) for x in _csv_list(weights)] if weights else None
    except ValueError as e:
        raise _fail(f"--weights: 需要数字 numbers expected ({weights})") from e
    src = open(users, encoding="utf-8") if users else sys.stdin  # noqa: SIM115
    try:
        ids = [line.strip() for line in src if line.strip()]
    finally:
        if users:
            src.close()
    try:
        got = assign(ids, experiment, arm_list, w)
    except ExperimentError as e:
        raise _fail(str(e)) from e
    fh = open(out_path, "w", encoding="utf-8", newline="") if out_path else sys.stdout  # noqa: SIM115
    try:
        wr = csv.writer(fh)
        wr.writerow(["experiment_id", "user_id", "arm"])
        wr.writerows((experiment, u, a) for u, a in zip(ids, got, strict=True))
    finally:
        if out_path:
            fh.close()
    if db and out_path:
        with open_store(db, must_exist=False) as log:
            import_csv(log.con, out_path)
    counts = pd.Series(got).value_counts().to_dict() if got else {}
    err.print(f"已分组 assigned {len(ids):,}: " + ", ".join(f"{a} {counts.get(a, 0):,}" for a in arm_list))


def _time(s: str, name: str) -> datetime:
    try:
        t = datetime.fromisoformat(s)
    except ValueError as e:
        raise _fail(f"{name}: 需要 ISO 时间 an ISO time like 2026-11-24T20:00:00+08:00, got {s!r}") from e
    if t.tzinfo is None:
        raise _fail(f"{name}: 需要时区 include the UTC offset, e.g. +08:00")
    return t


@experiment_app.command("schedule")
def schedule_cmd(
    experiment: Annotated[str, typer.Option("--experiment", "-e")],
    rooms: Annotated[str, typer.Option("--rooms", help="直播间，逗号分隔 room ids")],
    start: Annotated[str, typer.Option("--start", help="开始 ISO time with offset")],
    end: Annotated[str, typer.Option("--end", help="结束 ISO time with offset")],
    slice_minutes: Annotated[int, typer.Option("--slice-minutes", help="时间片长度 minutes per slice")] = 30,
    burn_in_minutes: Annotated[
        float, typer.Option("--burn-in-minutes", help="每片预热，不计入分析 burn-in")
    ] = 5,
    arms: Annotated[str, typer.Option("--arms")] = "control,treatment",
    seed: Annotated[int, typer.Option("--seed")] = 0,
    out_path: Annotated[str | None, typer.Option("--out", help="写出 CSV (default: stdout)")] = None,
    db: Annotated[
        str | None, typer.Option("--db", help="同时存入该存储 also store the schedule here")
    ] = None,
) -> None:
    """轮换排期 Switchback schedule: time slices per room with randomised, balanced arms and burn-in."""
    from .experiments import ExperimentError, schedule, slices_table, store_slices

    try:
        sl = schedule(
            experiment,
            _csv_list(rooms) or [],
            _time(start, "--start"),
            _time(end, "--end"),
            slice_minutes,
            _csv_list(arms) or [],
            burn_in_minutes,
            seed,
        )
    except ExperimentError as e:
        raise _fail(str(e)) from e
    df = slices_table(sl).to_pandas()
    for c in ("start_ts", "end_ts"):
        df[c] = df[c].map(lambda t: t.isoformat())
    if out_path:
        df.to_csv(out_path, index=False)
    else:
        sys.stdout.write(df.to_csv(index=False))
    if db:
        with open_store(db, must_exist=False) as log:
            store_slices(log.con, sl)
    err.print(
        f"已排期 scheduled {len(sl)} slices: "
        + ", ".join(f"{a} {n}" for a, n in df["arm"].value_counts().items())
    )


@experiment_app.command("import")
def import_cmd(
    path: Annotated[
        str,
        typer.Argument(
            help="分组 CSV (experiment_id,user_id,arm) 或排期 CSV (…slice_id,start_ts,end_ts,arm)"
        ),
    ],
    db: DbOpt = None,
) -> None:
    """导入分组或排期 Load an assignment or switchback schedule CSV into the store."""
    from .experiments import ExperimentError, import_csv

    with open_store(db, must_exist=False) as log:
        try:
            kind, n = import_csv(log.con, path)
        except ExperimentError as e:
            raise _fail(str(e)) from e
    err.print(f"已导入 imported {n:,} {kind}")


def drivers_cmd(
    db: DbOpt = None,
    session: Annotated[str | None, typer.Option("--session", "-s", help="场次 one show")] = None,
    room: Annotated[str | None, typer.Option("--room", help="直播间 every show of a room")] = None,
    alpha: Annotated[float, typer.Option("--alpha")] = 0.05,
    fmt: Annotated[Fmt, typer.Option("--format", "-f")] = Fmt.table,
) -> None:
    """成交驱动因素 What drives conversion and GMV: per-viewer logistic and per-minute OLS (HAC), ranked."""
    from dataclasses import asdict

    from .drivers import DriversError, drivers

    with open_store(db) as log:
        try:
            res = drivers(log.con, log.events, session=session, room=room, alpha=alpha)
        except DriversError as e:
            raise _fail(str(e)) from e
    if fmt == Fmt.json:
        d = asdict(res)
        O.print_json(d)
        return
    rows = pd.DataFrame([asdict(x) for x in res.drivers])
    if fmt == Fmt.csv:
        sys.stdout.write(rows.to_csv(index=False))
        return
    err.print(
        f"{res.scope} · {len(res.sessions)} 场 shows · {res.viewers:,} 观众 viewers · {res.buyers:,} 成交 buyers · "
        f"{res.minutes} 分钟 minutes"
    )
    for model, title in (
        ("conversion", "成交转化 Conversion (per viewer)"),
        ("gmv_per_minute", "每分钟成交额 GMV per minute"),
    ):
        out.print(f"\n[bold]{title}[/bold]")
        for x in res.drivers:
            if x.model == model:
                mark = "●" if x.systematic else "○"
                out.print(f" {mark} {x.sentence_zh}")
    out.print("")
    for n in res.notes:
        err.print(f"注意 note: {n}")
