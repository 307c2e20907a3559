"""`liveops script …`: the 三审一检 pre-broadcast review of show scripts (core: ``liveops.script_review``).

Exit codes: 0 ok, 2 refused or unreadable, 3 submitted but the automatic check found a ``block`` hit.
The small helpers below mirror ``liveops.cli``'s; they are not imported from it because ``cli`` imports
this module while it is still loading.
"""

from __future__ import annotations

import getpass
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from . import output as O
from . import script_review as SR
from .cli_common import DbOpt, Fmt, _fail, err, open_store, out
from .compliance import SEVERITY_ZH
from .compliance_model import ModelScanner
from .store import resolve_db

script_app = typer.Typer(
    help="脚本三审一检 Script review: submit (with the automatic check), review (planning → operations → legal), "
    "status, list.",
    no_args_is_help=True,
)

FmtOpt = Annotated[Fmt, typer.Option("--format", "-f", help="json | table")]


class Stage(StrEnum):
    planning = "planning"
    operations = "operations"
    legal = "legal"


SEV_STYLE = {"block": "bold red", "review": "yellow", "warn": "cyan"}
STATE_STYLE = {
    "approved": "bold green",
    "in_review": "yellow",
    "rejected": "bold red",
    "check_failed": "bold red",
}


def _open(db: str | None, write: bool):
    """Submitting may start a new store (like ingest); reading needs one that exists."""
    return open_store(db, must_exist=not write, read_only=not write)


def _read_script(file: str) -> str:
    if file == "-":
        raw = sys.stdin.buffer.read()
    else:
        try:
            raw = Path(file).read_bytes()
        except OSError as e:
            raise _fail(f"{file}: 无法读取 cannot read: {e.strerror or e}") from e
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise _fail(f"{file}: 不是 UTF-8 文本 not UTF-8 text (byte {e.start}); save it as UTF-8") from e


# -- rendering ------------------------------------------------------------------------------------


def _ts(t) -> str:
    return t.astimezone().strftime("%Y-%m-%d %H:%M:%S") if t else "—"


def _state_line(sid: str, version: int, state: str, state_zh: str, next_stage: str | None) -> str:
    s = f"[{STATE_STYLE.get(state, '')}]{state_zh} {state}[/]"
    if next_stage:
        s += f" · 下一步 next: {SR.STAGE_ZH[next_stage]} {next_stage}"
    return f"{escape(sid)} v{version}: {s}"


def _print_check(check: SR.CheckSummary) -> None:
    c = check.counts
    head = "未通过 failed" if check.blocked else "通过 passed"
    style = "bold red" if check.blocked else "green"
    out.print(
        f"自动检查 automatic check (一检): [{style}]{head}[/] — "
        f"拦截 block {c['block']} · 复核 review {c['review']} · 提示 warn {c['warn']}"
        + (f" (词库 lexicon {escape(check.lexicon_version)})" if check.lexicon_version else "")
    )
    if not check.hits:
        return
    t = Table()
    for col in ("行 Line", "命中 Matched", "规则 Rule", "级别 Severity", "建议 Suggestion"):
        t.add_column(col, justify="right" if col.startswith("行") else "left")
    for h in check.hits:
        sev = f"[{SEV_STYLE.get(h.severity, '')}]{SEVERITY_ZH.get(h.severity, '')} {h.severity}[/]"
        t.add_row(str(h.line), escape(h.matched), escape(h.rule), sev, escape(h.suggestion or ""))
    out.print(t)


def _print_status(st: SR.ScriptStatus, show_text: bool) -> None:
    out.print(
        f"[bold]{escape(st.title)}[/bold]  {escape(st.script_id)} v{st.version}  sha256 {st.sha256[:12]}…"
    )
    out.print(_state_line(st.script_id, st.version, st.state, st.state_zh, st.next_stage))
    ok = "[bold green]是 yes[/]" if st.approved_for_broadcast else "[bold red]否 no[/]"
    out.print(f"可播出 approved for broadcast: {ok}")
    t = Table(title="三审 Review stages")
    for col in ("阶段 Stage", "结论 Decision", "审核人 Reviewer", "意见 Note", "时间 Time"):
        t.add_column(col)
    for d in st.stages:
        dec = {"approve": "[green]通过 approve[/]", "reject": "[red]驳回 reject[/]"}.get(
            d.decision or "", "待审 pending"
        )
        t.add_row(f"{d.stage_zh} {d.stage}", dec, escape(d.reviewer or "—"), escape(d.note or ""), _ts(d.ts))
    out.print(t)
    _print_check(st.check)
    if len(st.versions) > 1:
        t = Table(title="版本 Versions")
        for col in ("版本 Version", "状态 State", "提交人 By", "提交时间 Submitted", "sha256"):
            t.add_column(col)
        for v in st.versions:
            t.add_row(
                f"v{v.version}",
                f"{v.state_zh} {v.state}",
                escape(v.submitted_by),
                _ts(v.submitted_at),
                v.sha256[:12],
            )
        out.print(t)
    if show_text:
        out.print("脚本 Script:")
        for i, line in enumerate(st.text.split("\n"), 1):
            out.print(f"[dim]{i:>4}[/dim]  {escape(line)}", highlight=False)


# -- commands -------------------------------------------------------------------------------------


@script_app.command("submit")
def submit_cmd(
    file: Annotated[
        str, typer.Argument(help="脚本文件 script file (UTF-8 text, one spoken line per line; '-' stdin)")
    ],
    title: Annotated[
        str, typer.Option("--title", "-t", help="标题 title; the same title again = a new version")
    ],
    by: Annotated[str | None, typer.Option("--by", help="提交人 submitted by (default: your login)")] = None,
    db: DbOpt = None,
    fmt: FmtOpt = Fmt.table,
) -> None:
    """提交脚本 Submit a script: stored as a new script or version, checked at once (一检); exit 3 on a block hit."""
    text = _read_script(file)
    if not SR.normalise_text(text):
        raise _fail(f"{file}: 脚本为空 the script is empty")
    from .compliance import LexiconError, project_scanner

    try:
        scanner = ModelScanner(project_scanner())  # the lexicon, and the model for what it misses
    except LexiconError as e:
        raise _fail(f"合规词库错误 compliance lexicon error: {e}") from e
    with _open(db, write=True) as log:
        try:
            sub = SR.submit(log.con, text, title, by or _login(), scanner, log.path)
        except SR.ScriptError as e:
            raise _fail(str(e)) from e
    if fmt == Fmt.json:
        O.print_json(sub)
    else:
        out.print(escape(sub.message))
        out.print(_state_line(sub.script_id, sub.version, sub.state, sub.state_zh, sub.next_stage))
        _print_check(sub.check)
        if sub.check.blocked:
            out.print(
                "[bold red]含拦截级命中，此版本不能播出 a block hit: this version cannot be approved for broadcast — "
                "修改后重新提交 change the script and resubmit[/]"
            )
    raise typer.Exit(3 if sub.check.blocked else 0)


def _login() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name in a container
        return "unknown"


@script_app.command("review")
def review_cmd(
    script_id: Annotated[str, typer.Argument(help="脚本 ID script id, e.g. S0001")],
    stage: Annotated[
        Stage, typer.Option("--stage", help="planning 策划初审 | operations 运营复审 | legal 法务终审")
    ],
    reviewer: Annotated[str, typer.Option("--reviewer", help="审核人 reviewer name")],
    approve: Annotated[
        bool | None,
        typer.Option("--approve/--reject", help="通过或驳回 approve or reject (reject needs --note)"),
    ] = None,
    note: Annotated[str, typer.Option("--note", help="审核意见 note (required on --reject)")] = "",
    version: Annotated[
        int | None, typer.Option("--version", help="只审核此版本 refuse if a newer version was submitted")
    ] = None,
    db: DbOpt = None,
    fmt: FmtOpt = Fmt.table,
) -> None:
    """审核脚本 Decide the next stage of a script's latest version (--approve or --reject)."""
    if approve is None:
        raise _fail("请给出 --approve 或 --reject give --approve or --reject")
    if not Path(resolve_db(db)).exists():
        raise _fail(f"没有这个存储 no such store: {resolve_db(db)}")
    with _open(db, write=True) as log:
        try:
            st = SR.review(log.con, script_id, stage.value, approve, note, reviewer, log.path, version)
        except SR.ScriptError as e:
            raise _fail(str(e)) from e
    if fmt == Fmt.json:
        O.print_json(st)
        return
    d = next(x for x in st.stages if x.stage == stage.value)
    verb = "通过 approved" if d.decision == "approve" else "驳回 rejected"
    out.print(f"{d.stage_zh} {d.stage}: {verb} by {escape(d.reviewer or '')}")
    out.print(_state_line(st.script_id, st.version, st.state, st.state_zh, st.next_stage))
    if st.approved_for_broadcast:
        out.print("[bold green]三审一检完成，可播出 all checks done: approved for broadcast[/]")
    elif st.state == "check_failed":
        out.print(
            "[bold red]自动检查有拦截级命中，不能播出 the automatic check has a block hit: not for broadcast[/]"
        )


@script_app.command("status")
def status_cmd(
    script_id: Annotated[str, typer.Argument(help="脚本 ID script id, e.g. S0001")],
    db: DbOpt = None,
    fmt: FmtOpt = Fmt.table,
    text: Annotated[bool, typer.Option("--text", help="显示脚本全文 also print the script")] = False,
) -> None:
    """脚本状态 A script's stages, automatic check, broadcast approval and versions."""
    with _open(db, write=False) as log:
        try:
            st = SR.status(log.con, script_id)
        except SR.ScriptError as e:
            raise _fail(str(e)) from e
    if fmt == Fmt.json:
        O.print_json(st)
    else:
        _print_status(st, text)


@script_app.command("list")
def list_cmd(db: DbOpt = None, fmt: FmtOpt = Fmt.table) -> None:
    """脚本列表 All scripts with their latest version's state."""
    with _open(db, write=False) as log:
        rows = SR.list_scripts(log.con)
    if fmt == Fmt.json:
        O.print_json(rows)
        return
    if not rows:
        err.print("还没有脚本 no scripts yet (`liveops script submit FILE --title T`)")
        return
    t = Table(title=f"脚本 Scripts ({len(rows)})")
    for col in (
        "ID",
        "标题 Title",
        "版本 Ver",
        "状态 State",
        "下一步 Next",
        "可播出 On air",
        "命中 Hits B/R/W",
    ):
        t.add_column(col, overflow="fold")
    for r in rows:
        t.add_row(
            r.script_id,
            escape(r.title),
            f"v{r.version}",
            f"[{STATE_STYLE.get(r.state, '')}]{r.state_zh} {r.state}[/]",
            f"{SR.STAGE_ZH[r.next_stage]} {r.next_stage}" if r.next_stage else "—",
            "是 yes" if r.approved_for_broadcast else "否 no",
            f"{r.block}/{r.review}/{r.warn}",
        )
    out.print(t)
