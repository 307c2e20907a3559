"""`liveops` command line: parse, call the core, format. Exit codes: 0 ok, 1 some rows rejected, 2 usage/unreadable."""

from __future__ import annotations

import sys
import tempfile
import time
from contextlib import nullcontext
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from . import output as O
from .cli_common import DbOpt, Fmt, QuietOpt, SessionOpt, _emit, _fail, err, out
from .ingest import IngestError, IngestResult
from .store import EventLog, Settings, read_key, resolve_db

app = typer.Typer(
    help="LiveOps 直播间运营系统 — live-selling room operations: ingest, metrics, review (复盘).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
products_app = typer.Typer(
    help="商品 Products: per-product table of a session; `products import FILE` loads the product dimension.",
    invoke_without_command=True,
)
app.add_typer(products_app, name="products")
token_app = typer.Typer(
    help="令牌 Bearer tokens for the server: create (shown once), list, revoke. Works while the server runs.",
    no_args_is_help=True,
)
app.add_typer(token_app, name="token")


class By(StrEnum):
    minute = "minute"
    source = "source"
    product = "product"


def _workspace(db: str | None, backend: str = "duckdb", lake: str | None = None):
    from .api import Workspace

    if backend == "spark" or lake:
        if not lake:
            raise _fail("--backend spark 需要 --lake DIR (export one with `liveops export-lake`)")
        from .lake import open_lake

        lk = open_lake(lake, backend=backend)
        return Workspace(lk.events, getattr(lk, "products", None))
    path = resolve_db(db)
    if not Path(path).exists():
        raise _fail(f"没有这个存储 no such store: {path} (run `liveops ingest FILE --db {path}` first)")
    try:
        log = EventLog(path, read_only=True)
    except Exception as e:  # a locked or corrupt file
        raise _fail(f"无法打开存储 cannot open store {path}: {e}") from e
    return Workspace(log.events, log.products, log=log)


def _open_session(db: str | None, session: str | None, backend: str = "duckdb", lake: str | None = None):
    """The workspace and the session a command works on (the latest one when none is given)."""
    ws = _workspace(db, backend, lake)
    try:
        return ws, ws.resolve_session(session)
    except LookupError as e:
        raise _fail(str(e)) from e


# ---------------------------------------------------------------------------------------------
@app.command()
def ingest(
    files: Annotated[list[str], typer.Argument(help="JSONL / CSV / Parquet 文件; '-' 从标准输入读 JSONL")],
    db: DbOpt = None,
    quiet: QuietOpt = False,
    json_out: Annotated[
        bool, typer.Option("--json", help="以 JSON 输出汇总 print the summary as JSON")
    ] = False,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="只校验不入库 validate only: store nothing, list the first rejected rows"
        ),
    ] = False,
    pseudonymise_key: Annotated[
        str | None,
        typer.Option(
            "--pseudonymise-key",
            help="假名化密钥文件 key file: store user_id as HMAC-SHA256(key, user_id), never the raw id",
        ),
    ] = None,
    review_tables: Annotated[
        bool,
        typer.Option(
            "--review-tables/--no-review-tables",
            help="为已下播场次生成复盘表 build the stored review tables of ended shows whose events changed",
        ),
    ] = True,
) -> None:
    """导入事件 Ingest event files into the store: validate, keep good rows, dead-letter bad ones, skip duplicates."""
    tmp = tempfile.TemporaryDirectory() if dry_run else None
    path = ":memory:" if dry_run else resolve_db(db)
    try:
        key = read_key(pseudonymise_key or Settings.load().pseudonymise_key)
        log = EventLog(
            path, deadletter=Path(tmp.name) / "rejected.jsonl" if tmp else None, pseudonymise_key=key
        )
    except IngestError as e:
        raise _fail(str(e)) from e
    total = IngestResult(file="*")
    results = []
    t0 = time.perf_counter()
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=err,
        disable=quiet,
        transient=True,
    )
    code = 0
    with progress:
        for f in files:
            plain = f != "-" and not f.lower().endswith(".gz") and Path(f).is_file()
            size = Path(f).stat().st_size if plain else None
            task = progress.add_task(f"导入 {Path(f).name}", total=size)
            try:
                r = log.ingest(f, on_progress=lambda n, task=task: progress.advance(task, n))
            except IngestError as e:
                err.print(f"[red]错误 error:[/red] {e}")
                code = 2
                continue
            results.append(r)
            total.add(r)
    secs = time.perf_counter() - t0
    built: list[str] = []
    scanned = None
    if not dry_run and total.stored:  # before the review tables: block hits raise alerts they include
        scanned = _scan_compliance(log, quiet or json_out)
    t1 = time.perf_counter()
    if review_tables and not dry_run and total.stored:
        built = _refresh_review_tables(log, quiet or json_out)
    review_secs = time.perf_counter() - t1
    log.close()
    if json_out:
        O.print_json(
            {
                "files": results,
                "total": total,
                "seconds": round(secs, 3),
                "deadletter": None if dry_run else str(log.deadletter_path),
                "review_tables": {"sessions": built, "seconds": round(review_secs, 3)},
                "compliance": scanned,
            }
        )
    elif not quiet or total.rejected:
        for r in results:
            err.print(
                f"{r.file}: 读取 read {r.read:,} · 存储 stored {r.stored:,} · 重复 duplicate {r.duplicate:,} · "
                f"拒绝 rejected {r.rejected:,}"
            )
            for reason, n in sorted(r.errors_by_reason.items(), key=lambda x: -x[1])[:10]:
                err.print(f"    {n:,} × {reason}")
        if total.rejected and dry_run:
            _print_rejected(log.deadletter_path, limit=10)
        elif total.rejected:
            err.print(f"被拒绝的行见 rejected rows are in {log.deadletter_path}")
        dest = "试运行，未入库 dry run, nothing stored" if dry_run else path
        err.print(f"合计 total: {total.read:,} read, {total.stored:,} valid and new in {secs:.2f}s → {dest}")
    if tmp is not None:
        tmp.cleanup()
    if code == 0 and total.rejected:
        code = 1
    raise typer.Exit(code)


def _scan_compliance(log: EventLog, quiet: bool):
    """Scan the comments and transcripts of sessions whose events changed; hits go to the audit log too."""
    from . import compliance_store as CS
    from .compliance import LexiconError, project_scanner
    from .compliance_model import project_model

    try:
        scanner = project_scanner()
        model = project_model(tuple(scanner.lexicon.categories))
    except LexiconError as e:  # the events are stored; `liveops compliance scan` scans them once it is fixed
        err.print(
            f"[red]合规词库或标注文件错误，未扫描 compliance lexicon or labels error, nothing scanned:[/red] {e}"
        )
        return None
    t = time.perf_counter()
    res = CS.refresh(log.con, scanner, log.path, model=model)
    if not quiet and res.sessions:
        err.print(
            f"合规扫描 compliance scan: {res.text_events:,} 条弹幕/口播 text events in {res.sessions} 场次 sessions · "
            f"新命中 new hits {res.hits:,} (拦截 block {res.blocks:,}, 告警 alerts {res.alerts}) · {time.perf_counter() - t:.1f}s"
        )
    return res


def _refresh_review_tables(
    log: EventLog, quiet: bool, session_ids: list[str] | None = None, ended_only: bool = True
) -> list[str]:
    from . import review_tables as RT

    with err.status("生成复盘表 building review tables…", spinner="dots") if not quiet else nullcontext():
        return RT.refresh(
            log,
            session_ids,
            ended_only,
            on_session=None
            if quiet
            else lambda sid, sec: err.print(f"复盘表已生成 review tables built: {sid} ({sec:.1f}s)"),
        )


@app.command()
def refresh(
    db: DbOpt = None,
    session: Annotated[
        list[str] | None, typer.Option("--session", "-s", help="只重建这些场次 only these sessions")
    ] = None,
    all_sessions: Annotated[
        bool, typer.Option("--all", help="包括未下播的场次 include shows that have not ended")
    ] = False,
    quiet: QuietOpt = False,
) -> None:
    """重建复盘表 Build the stored review tables of sessions whose events changed (ingest does this for ended shows)."""
    path = resolve_db(db)
    if not Path(path).exists():
        raise _fail(f"没有这个存储 no such store: {path}")
    with EventLog(path) as log:
        for sid in session or []:
            if not log.con.execute("SELECT count(*) FROM events WHERE session_id = ?", [sid]).fetchall()[0][
                0
            ]:
                raise _fail(f"未找到场次 session not found: {sid}")
        built = _refresh_review_tables(log, quiet, session or None, ended_only=not all_sessions)
    if not quiet:
        err.print(f"合计 total: {len(built)} 场次 sessions built")


def _print_rejected(deadletter: Path, limit: int) -> None:
    import orjson

    lines = deadletter.read_bytes().splitlines()
    for raw in lines[:limit]:
        d = orjson.loads(raw)
        where = f"line {d['line']}" if "line" in d else f"row {d.get('row')}"
        err.print(
            f"  {escape(d['file'])} {where}: [bold]{escape(d['field'])}[/bold] {escape(d['reason'])}",
            highlight=False,
        )
    if len(lines) > limit:
        err.print(f"  … {len(lines) - limit:,} more")


@products_app.callback()
def products(
    ctx: typer.Context,
    db: DbOpt = None,
    session: SessionOpt = None,
    fmt: Annotated[Fmt, typer.Option("--format", "-f")] = Fmt.table,
) -> None:
    """商品 Products: exposure, clicks, CTR, orders, GMV, explain time and explain lift."""
    if ctx.invoked_subcommand is not None:
        return
    ws, sid = _open_session(db, session)
    _emit(ws.products(sid), fmt, f"商品 Products · {sid}")


@products_app.command("import")
def products_import(file: str, db: DbOpt = None) -> None:
    """导入商品维表 Import products (product_id, name, price, category) from CSV."""
    log = EventLog(resolve_db(db))
    try:
        n = log.import_products(file)
    except IngestError as e:
        raise _fail(str(e)) from e
    finally:
        log.close()
    err.print(f"已导入 imported {n:,} products")


@app.command()
def sessions(db: DbOpt = None, fmt: Annotated[Fmt, typer.Option("--format", "-f")] = Fmt.table) -> None:
    """场次列表 List sessions (shows) in the store."""
    ws = _workspace(db)
    df = ws.sessions()
    _emit(df, fmt, "场次 Sessions")


@app.command()
def metrics(
    db: DbOpt = None,
    session: SessionOpt = None,
    fmt: Annotated[Fmt, typer.Option("--format", "-f", help="json | table | csv")] = Fmt.table,
    by: Annotated[By | None, typer.Option("--by", help="minute | source | product 分组")] = None,
    list_: Annotated[bool, typer.Option("--list", help="列出指标目录 print the metric catalog")] = False,
    markdown: Annotated[
        bool, typer.Option("--markdown", help="with --list: Markdown (docs/metrics.md)")
    ] = False,
    backend: Annotated[str, typer.Option("--backend", help="duckdb | spark")] = "duckdb",
    lake: Annotated[str | None, typer.Option("--lake", help="Parquet lake dir (from export-lake)")] = None,
) -> None:
    """指标 Metrics of a session from the catalog; --by for per-minute / per-source / per-product breakdowns."""
    if list_:
        _print_catalog(fmt, markdown)
        return
    if backend not in ("duckdb", "spark"):
        raise _fail("--backend 只能是 must be duckdb or spark")
    ws, sid = _open_session(db, session, backend, lake)
    if by is None:
        values = ws.metric_values(sid)
        if fmt == Fmt.json:
            O.print_json(values)
        elif fmt == Fmt.csv:
            sys.stdout.write(
                "metric,value\n" + "".join(f"{k},{'' if v is None else v}\n" for k, v in values.items())
            )
        else:
            out.print(O.metrics_table(values, f"场次 {sid} 指标 Metrics"))
        return
    df = {By.minute: ws.timeline, By.source: ws.sources, By.product: ws.products}[by](sid)
    _emit(df, fmt, f"场次 {sid} · {by.value}")


def _print_catalog(fmt: Fmt, markdown: bool) -> None:
    from .metrics import CATALOG, DIMENSIONS

    rows = [
        {
            "key": m.key,
            "zh": m.zh,
            "en": m.en,
            "dimension": m.dimension,
            "unit": m.unit,
            "variant": m.variant,
            "definition": m.definition,
        }
        for m in CATALOG.values()
    ]
    if markdown:
        lines = [
            "# 指标目录 Metric catalog",
            "",
            "Generated by `liveops metrics --list --markdown`; the single definition every screen, report and API reads.",
            "A ratio whose denominator is 0 is null. Money is in yuan (元), exact to the fen.",
            "",
        ]
        for dim, (zh, en) in DIMENSIONS.items():
            lines += [
                f"## {zh} {en}",
                "",
                "| key | 中文 | English | unit | definition |",
                "|---|---|---|---|---|",
            ]
            lines += [
                f"| `{r['key']}` | {r['zh']} | {r['en']} | {r['unit']} | {r['definition'].replace('|', '/')} |"
                for r in rows
                if r["dimension"] == dim
            ]
            lines.append("")
        sys.stdout.write("\n".join(lines))
        return
    import pandas as pd

    _emit(pd.DataFrame(rows), fmt, f"指标目录 Metric catalog ({len(rows)})")


@app.command()
def funnel(
    db: DbOpt = None,
    session: SessionOpt = None,
    fmt: Annotated[Fmt, typer.Option("--format", "-f")] = Fmt.table,
) -> None:
    """五维四率漏斗 Funnel: impressions → entries → product exposure → clicks → buyers, vs the room's baseline."""
    ws, sid = _open_session(db, session)
    f = ws.funnel_result(sid)
    if fmt == Fmt.json:
        O.print_json(f)
        return
    _emit(f.steps, fmt, f"五维 Funnel steps · {f.session_id}")
    _emit(f.rates, fmt, "四率 Step rates")
    if fmt == Fmt.table:
        cols = [
            "source_zh",
            "impressions_pv",
            "entries_uv",
            "product_exposure_uv",
            "product_click_uv",
            "purchase_uv",
            "exposure_entry_pv_rate",
            "entry_exposure_uv_rate",
            "exposure_click_uv_rate",
            "click_pay_uv_rate",
        ]
        _emit(f.by_source[cols] if len(f.by_source) else f.by_source, fmt, "分来源 By traffic source")
        if f.weakest:
            w = f.weakest
            out.print(
                f"最弱环节 Weakest step: [bold]{w.zh} {w.en}[/bold] {w.value:.2%} vs 基线 baseline {w.baseline:.2%} "
                f"({w.change:+.1%}, {len(f.baseline_sessions)} previous sessions)"
            )


@app.command()
def sources(
    db: DbOpt = None,
    session: SessionOpt = None,
    fmt: Annotated[Fmt, typer.Option("--format", "-f")] = Fmt.table,
) -> None:
    """流量来源 Traffic sources: views, UV, GMV, UV value, conversion, watch time per source."""
    ws, sid = _open_session(db, session)
    _emit(ws.sources(sid), fmt, f"流量来源 Traffic sources · {sid}")


@app.command()
def segments(
    db: DbOpt = None,
    session: SessionOpt = None,
    fmt: Annotated[Fmt, typer.Option("--format", "-f")] = Fmt.table,
) -> None:
    """讲解片段 Content segments: viewers, retention, interaction, clicks, GMV per minute, score; retention curve."""
    ws, sid = _open_session(db, session)
    s = ws.segments(sid)
    if fmt == Fmt.json:
        O.print_json(s)
        return
    _emit(s.segments, fmt, f"讲解片段 Segments · {sid}")
    if fmt == Fmt.table:
        _emit(s.retention, fmt, "留存曲线 Retention since entering (minutes)")
        if s.lost_5min_rate is not None:
            out.print(f"5分钟内流失 Lost within 5 minutes: {s.lost_5min_rate:.1%}")


@app.command()
def alerts(
    db: DbOpt = None,
    session: SessionOpt = None,
    fmt: Annotated[Fmt, typer.Option("--format", "-f")] = Fmt.table,
) -> None:
    """告警 Alerts of a session: the live alert rules over its minutes, and alerts other detectors raised."""
    ws, sid = _open_session(db, session)
    _emit(ws.alerts(sid), fmt, f"告警 Alerts · {sid}")


@app.command()
def simulate(
    out_file: Annotated[str, typer.Option("--out", "-o", help="输出文件 .jsonl / .csv / .parquet")],
    viewers: Annotated[int, typer.Option(help="每场观众数 distinct viewers per session")] = 30_000,
    minutes: Annotated[int, typer.Option(help="每场时长(分钟) show length")] = 120,
    seed: Annotated[int, typer.Option(help="随机种子")] = 0,
    rooms: Annotated[int, typer.Option(help="直播间数")] = 1,
    sessions_: Annotated[int, typer.Option("--sessions", help="每个直播间场次数 sessions per room")] = 1,
    cheating: Annotated[
        bool,
        typer.Option(
            "--cheating/--no-cheating", help="注入作弊账号 inject bots (labelled in the truth file)"
        ),
    ] = False,
    ab_lift: Annotated[
        float, typer.Option(help="A/B 实验的真实相对提升 true lift of arm B on ordering (0 = an A/A test)")
    ] = 0.15,
    ab_from_session: Annotated[
        int, typer.Option(help="A/B 实验从第几场开始 (之前为 CUPED 前期) first show of the A/B test")
    ] = 0,
    switchback_effect: Annotated[
        float, typer.Option(help="轮换实验的真实效果 true effect of switchback treatment slots on clicks")
    ] = 0.20,
    quiet: QuietOpt = False,
) -> None:
    """模拟直播 Simulate shows with ground truth (events + FILE.truth.json + FILE.products.csv
    + FILE.schedule.csv, the switchback schedule)."""
    from .simulate import SimConfig, write_simulation
    from .simulate import simulate as run

    t0 = time.perf_counter()
    with err.status("模拟中 simulating…", spinner="dots") if not quiet else nullcontext():
        res = run(
            SimConfig(
                viewers=viewers,
                minutes=minutes,
                seed=seed,
                rooms=rooms,
                sessions=sessions_,
                cheating=cheating,
                ab_lift=ab_lift,
                ab_from_session=ab_from_session,
                switchback_effect=switchback_effect,
            )
        )
        write_simulation(res, out_file)
    if not quiet:
        err.print(
            f"已生成 wrote {res.events.num_rows:,} events → {out_file} ({time.perf_counter() - t0:.1f}s)"
        )


@app.command("export-lake")
def export_lake_cmd(
    out_dir: Annotated[str, typer.Option("--out", help="Parquet 湖目录 lake directory")],
    db: DbOpt = None,
) -> None:
    """导出 Parquet 湖 Export the log as Parquet partitioned by date and room (for Spark)."""
    from .lake import export_lake

    log = EventLog(resolve_db(db), read_only=True)
    try:
        r = export_lake(log, out_dir)
    finally:
        log.close()
    err.print(f"已导出 exported → {out_dir}: {O.to_json(r)}")


@app.command()
def report(
    out_file: Annotated[str, typer.Option("--out", "-o", help="HTML 复盘报告 report file")],
    db: DbOpt = None,
    session: SessionOpt = None,
    xlsx: Annotated[
        str | None, typer.Option("--xlsx", help="同时导出 Excel also write an Excel workbook")
    ] = None,
    quiet: QuietOpt = False,
) -> None:
    """复盘报告 Post-show review: one offline HTML file (and Excel) with KPIs, charts, funnel and suggestions."""
    from .report import build_review, write_html, write_xlsx

    ws, sid = _open_session(db, session)
    with err.status("生成复盘 building the review…", spinner="dots") if not quiet else nullcontext():
        rv = build_review(ws, sid)
        write_html(rv, out_file)
        if xlsx:
            write_xlsx(rv, xlsx)
    err.print(f"复盘报告 review → {out_file}")
    if xlsx:
        err.print(f"Excel → {xlsx}")


# ---------------------------------------------------------------------------------------------
# Server and tokens


class Role(StrEnum):
    ingest = "ingest"
    viewer = "viewer"
    analyst = "analyst"
    admin = "admin"


def _token_store(db: str | None):
    from .tokens import TokenStore, tokens_path

    return TokenStore(tokens_path(resolve_db(db)))


@token_app.command("create")
def token_create(
    role: Annotated[Role, typer.Option("--role", help="ingest 只能导入 / viewer, analyst 只读 / admin 全部")],
    name: Annotated[str | None, typer.Option("--name", help="名称 a name to recognise it by")] = None,
    db: DbOpt = None,
) -> None:
    """创建令牌 Create a token; the secret is printed once and stored only as a hash."""
    tok, secret = _token_store(db).create(role.value, name)
    err.print(
        f"令牌已创建 token created: id={tok.id} name={tok.name} role={tok.role} (只显示一次 shown once)"
    )
    out.print(secret, soft_wrap=True)


@token_app.command("list")
def token_list(db: DbOpt = None, fmt: Annotated[Fmt, typer.Option("--format", "-f")] = Fmt.table) -> None:
    """列出令牌 List tokens (never their secrets)."""
    import pandas as pd

    rows = [
        {"id": t.id, "name": t.name, "role": t.role, "created_at": t.created_at, "revoked_at": t.revoked_at}
        for t in _token_store(db).list()
    ]
    _emit(pd.DataFrame(rows, columns=["id", "name", "role", "created_at", "revoked_at"]), fmt, "令牌 Tokens")


@token_app.command("revoke")
def token_revoke(
    id_or_name: Annotated[str, typer.Argument(help="令牌 id 或名称 token id or name")], db: DbOpt = None
) -> None:
    """吊销令牌 Revoke a token (takes effect on the server's next request)."""
    from .tokens import TokenError

    try:
        tok = _token_store(db).revoke(id_or_name)
    except TokenError as e:
        raise _fail(str(e)) from e
    err.print(f"已吊销 revoked: id={tok.id} name={tok.name}")


@app.command()
def replay(
    file: Annotated[
        str, typer.Argument(help="录制或模拟的直播 a recorded or simulated show (.jsonl[.gz] / .parquet)")
    ],
    url: Annotated[str, typer.Option("--url", help="服务地址 server URL, e.g. http://127.0.0.1:8000")],
    token: Annotated[
        str, typer.Option("--token", help="ingest 令牌 an ingest token", envvar="LIVEOPS_TOKEN")
    ],
    speed: Annotated[float, typer.Option(help="倍速 times real time (0 = as fast as possible)")] = 10.0,
    batch: Annotated[int, typer.Option(help="每批最多事件数 events per request at most")] = 2_000,
    max_gap: Annotated[
        float,
        typer.Option(
            help="压缩空档(秒，直播时间) quiet stretches longer than this many show seconds are shortened"
        ),
    ] = 60.0,
    quiet: QuietOpt = False,
) -> None:
    """回放直播 Send a show to a server in time order, batched, at --speed × real time."""
    from .replay import ReplayError, load_show
    from .replay import replay as run

    try:
        show = load_show(file)
    except (ReplayError, OSError) as e:
        raise _fail(str(e)) from e
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,}/{task.total:,}"),
        TimeRemainingColumn(),
        console=err,
        disable=quiet,
        transient=True,
    )
    try:
        with progress:
            task = progress.add_task(f"回放 replay ×{speed:g}", total=len(show))
            res = run(
                show, url, token, speed, batch, max_gap, on_progress=lambda n: progress.advance(task, n)
            )
    except ReplayError as e:
        raise _fail(str(e)) from e
    err.print(
        f"已发送 sent {res.sent:,} in {res.batches:,} batches, {res.seconds:.1f}s · 接收 accepted {res.accepted:,} · "
        f"重复 duplicate {res.duplicate:,} · 拒绝 rejected {res.rejected:,}"
    )
    for e in res.errors[:10]:
        err.print(f"    line {e['line']}: {e['field']}: {e['reason']}")
    raise typer.Exit(1 if res.rejected else 0)


@app.command()
def serve(
    db: DbOpt = None,
    host: Annotated[str, typer.Option(help="监听地址 bind address")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="端口 port")] = 8000,
    max_events: Annotated[int, typer.Option(help="每个请求最多事件数 events per request")] = 10_000,
    max_mb: Annotated[float, typer.Option(help="每个请求最大 MB request size limit")] = 5.0,
    ingest_rate: Annotated[
        float, typer.Option(help="每个令牌每秒事件数上限 events/s per ingest token (0 = unlimited)")
    ] = 50_000.0,
    cors_origin: Annotated[
        list[str] | None,
        typer.Option("--cors-origin", help="允许的跨域来源 allowed CORS origin (closed by default)"),
    ] = None,
    alert_rules: Annotated[
        str | None,
        typer.Option("--alert-rules", help="告警规则 YAML alert rule file (default: built-in rules)"),
    ] = None,
    pseudonymise_key: Annotated[
        str | None,
        typer.Option(
            "--pseudonymise-key", help="假名化密钥文件 key file: user ids stored as keyed hashes (HMAC)"
        ),
    ] = None,
) -> None:
    """启动服务 Serve the ingest and query API (OpenAPI at /docs) on uvicorn."""
    import uvicorn

    from .alerts import RuleError
    from .compliance import LexiconError
    from .web import ServerConfig, create_app

    path = resolve_db(db)
    cfg = ServerConfig(
        max_events=max_events,
        max_bytes=int(max_mb * 1024 * 1024),
        ingest_rate=ingest_rate,
        cors_origins=list(cors_origin or []),
        alert_rules=alert_rules,
    )
    try:
        cfg.pseudonymise_key = read_key(pseudonymise_key or Settings.load().pseudonymise_key)
        app_ = create_app(path, cfg)
    except (RuleError, IngestError, LexiconError) as e:
        raise _fail(str(e)) from e
    except Exception as e:  # a store locked by another process
        raise _fail(f"无法打开存储 cannot open store {path}: {e}") from e
    store = _token_store(db)
    if not any(t.can("admin") for t in store.list()):
        tok, secret = store.create("admin", "admin")
        err.print(f"首次启动，已创建管理员令牌 first start: admin token created (id={tok.id}), shown once:")
        out.print(secret, soft_wrap=True)
    err.print(f"LiveOps 服务 serving {path} on http://{host}:{port}  (API docs: /docs)")
    uvicorn.run(app_, host=host, port=port, log_level="warning", timeout_graceful_shutdown=5)


# the compliance commands live in their own modules; they reuse the helpers above
from .cli_compliance import register as _register_compliance  # noqa: E402
from .cli_experiment import drivers_cmd, experiment_app  # noqa: E402
from .cli_script import script_app  # noqa: E402

_register_compliance(app)
app.add_typer(script_app, name="script")
app.add_typer(experiment_app, name="experiment")
app.command("drivers")(drivers_cmd)


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
