"""Compliance commands: `check`, `rules`, `compliance`, `audit`, `evidence`, `risk`.

Exit codes follow the rest of the CLI (0 ok, 2 usage/unreadable) plus 3 for a finding: a `block` hit
(`check`) or a broken audit chain (`audit verify`).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.table import Table

from . import output as O
from .cli_common import DbOpt, Fmt, _emit, _fail, err, open_store, out
from .compliance_context import KIND_ZH
from .store import EventLog, Settings, resolve_db

rules_app = typer.Typer(
    help="合规词库 Compliance lexicon: list rules, test a text, update to a newer release.",
    no_args_is_help=True,
)
compliance_app = typer.Typer(
    help="合规命中 Compliance hits of stored shows: list, judge, export as labels, rescan, streamer blacklist.",
    no_args_is_help=True,
)
audit_app = typer.Typer(help="审计日志 Hash-chained audit log: verify, list.", no_args_is_help=True)
evidence_app = typer.Typer(
    help="证据导出 Evidence export for a session's compliance hits.", no_args_is_help=True
)

LexOpt = Annotated[
    str | None,
    typer.Option("--lexicon", help="词库文件 a full lexicon file instead of the project's/packaged one"),
]
RulesOpt = Annotated[
    str | None, typer.Option("--rules", help="自定义规则 your own rules and allow-words file (YAML)")
]


def _scanner(lexicon: str | None, rules: str | None):
    from .compliance import LexiconError, project_scanner

    try:
        return project_scanner(lexicon, rules)
    except LexiconError as e:
        raise _fail(str(e)) from e


def _lexicon(lexicon: str | None = None, rules: str | None = None):
    """The lexicon in force, without compiling a scanner (for commands that only read rules)."""
    from .compliance import LexiconError, project_lexicon

    try:
        return project_lexicon(lexicon, rules)
    except LexiconError as e:
        raise _fail(str(e)) from e


def _read_lines(path: str) -> list[tuple[str, str | None]]:
    """Lines of a file as (text, problem); bad bytes are kept as replacement characters, never dropped."""
    try:
        data = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as e:
        raise _fail(f"{path}: 无法读取 cannot read: {e}") from e
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    raw = data.split(b"\n")
    if raw and raw[-1] == b"":
        raw.pop()
    lines = []
    for b in raw:
        b = b.removesuffix(b"\r")
        try:
            lines.append((b.decode("utf-8"), None))
        except UnicodeDecodeError as e:
            lines.append(
                (
                    b.decode("utf-8", "replace"),
                    f"第 {e.start + 1} 字节起不是有效的 UTF-8 invalid UTF-8 at byte {e.start + 1}",
                )
            )
    return lines


def check(
    text: Annotated[str | None, typer.Argument(help="要检查的文本 text to check")] = None,
    file: Annotated[
        str | None,
        typer.Option("--file", help="每行一条文本的文件 a file with one text per line ('-' = stdin)"),
    ] = None,
    fmt: Annotated[Fmt, typer.Option("--format", "-f")] = Fmt.table,
    lexicon: LexOpt = None,
    rules: RulesOpt = None,
    model: Annotated[
        bool, typer.Option("--model/--no-model", help="模型复核 also ask the n-gram model (review hits only)")
    ] = True,
) -> None:
    """合规检查 Check scripts, transcript lines or danmaku against the ad-law lexicon (exit 3 on any block hit)."""
    from .compliance import MAX_TEXT, SEVERITY_ZH, result_rows

    if (text is None) == (file is None):
        raise _fail("请给出文本或 --file give a TEXT or --file FILE (not both)")
    items = [(text, None)] if text is not None else _read_lines(file)
    scanner = _scanner(lexicon, rules)
    if model:
        from .compliance import LexiconError
        from .compliance_model import ModelScanner

        try:
            scanner = ModelScanner(scanner)
        except LexiconError as e:
            raise _fail(str(e)) from e
    results = scanner.scan([t for t, _ in items])
    for r, (_, problem) in zip(results, items, strict=True):
        if problem:
            r.error = problem + (f"; {r.error}" if r.error else "")
        elif r.text == "" and r.error is None:
            r.error = "空行，无内容可检查 empty line, nothing to check"
    if fmt == Fmt.json:
        O.print_json(result_rows(results))
    else:
        t = Table(title=f"合规检查 Compliance check · 词库 lexicon {scanner.lexicon.version}")
        for c in (
            "行 line",
            "命中 matched",
            "级别 severity",
            "类别 category",
            "规则 rule",
            "依据 law",
            "建议 suggestion",
        ):
            t.add_column(c)
        zh = {k: c.zh for k, c in scanner.lexicon.categories.items()}
        style = {"block": "red", "review": "yellow", "warn": "default"}
        sev = {k: f"[{style[k]}]{zh_} {k}[/]" for k, zh_ in SEVERITY_ZH.items()}
        for i, r in enumerate(results, 1):
            for h in r.hits:
                t.add_row(
                    str(i),
                    h.matched,
                    sev[h.severity],
                    zh.get(h.category, h.category),
                    h.rule,
                    h.law,
                    h.suggestion,
                )
        out.print(t)
        for i, r in enumerate(results, 1):
            if r.error:
                err.print(f"[yellow]第 {i} 行 line {i}:[/yellow] {r.error}")
        n_hits = sum(len(r.hits) for r in results)
        n_block = sum(r.blocked for r in results)
        long = sum(len(r.text) > MAX_TEXT for r in results)
        err.print(
            f"{len(results)} 行 lines · 命中 hits {n_hits} · 含拦截的行 lines with a block hit {n_block}"
            + (f" · 超长 over {MAX_TEXT} chars {long}" if long else "")
        )
    raise typer.Exit(3 if any(r.blocked for r in results) else 0)


@rules_app.command("list")
def rules_list(
    category: Annotated[
        str | None, typer.Option("--category", "-c", help="只看该类别 only this category")
    ] = None,
    fmt: Annotated[Fmt, typer.Option("--format", "-f")] = Fmt.table,
    lexicon: LexOpt = None,
    rules: RulesOpt = None,
) -> None:
    """列出规则 List the rules in force: the lexicon release plus your own rules and allow-words."""
    lex = _lexicon(lexicon, rules)
    rows = [
        {
            "id": r.id,
            "category": r.category,
            "severity": r.severity,
            "patterns": len(r.patterns) + len(r.regex),
            "examples": "、".join(r.patterns[:4]),
            "yields_to": "、".join(r.yields_to),
            "law": r.law,
            "source": r.source,
            "date": r.date,
            "origin": Path(r.origin).name,
        }
        for r in lex.rules
        if category is None or r.category == category
    ]
    allow = [
        {
            "id": a.id,
            "patterns": len(a.patterns) + len(a.regex),
            "examples": "、".join((*a.patterns, *a.regex)[:4]),
            "reason": a.reason,
            "origin": Path(a.origin).name,
        }
        for a in lex.allow
    ]
    if fmt == Fmt.json:
        O.print_json(
            {
                "version": lex.version,
                "released": lex.released,
                "patterns": lex.pattern_count,
                "files": lex.files,
                "rules": rows,
                "allow": allow,
                "context": {
                    "categories": {k: list(c.context) for k, c in lex.categories.items()},
                    "cues": {k: list(v) for k, v in lex.context.items()},
                },
            }
        )
        return
    _emit(pd.DataFrame(rows), fmt, f"合规规则 Rules · 词库 lexicon {lex.version} ({lex.released})")
    if fmt == Fmt.table:
        _emit(pd.DataFrame(allow), fmt, "白名单 Allow-list (evaluated first)")
        context = [
            {
                "category": k,
                "context": "、".join(f"{KIND_ZH[x]} {x}" for x in c.context) or "—",
                "exemptable": "清除 cleared" if c.exemptable else "降为提示 lowered to warn",
            }
            for k, c in lex.categories.items()
        ]
        _emit(pd.DataFrame(context), fmt, "语境 Contexts in which a match is no claim (after the allow-list)")
        err.print(
            f"{len(lex.rules)} 条规则 rules · {lex.pattern_count} 个模式 patterns · {len(lex.allow)} 条白名单 allow rules · "
            f"来自 from {', '.join(Path(f).name for f in lex.files)}"
        )


@rules_app.command("test")
def rules_test(
    text: Annotated[str, typer.Argument(help="要试的文本 the text to try")],
    lexicon: LexOpt = None,
    rules: RulesOpt = None,
) -> None:
    """试规则 Show how a text is normalised, which rules hit and which matches the allow-list cleared."""
    from .compliance import normalise

    scanner = _scanner(lexicon, rules)
    r = scanner.scan([text])[0]
    out.print(f"原文 text:       {text}")
    out.print(f"归一化 normalised: {normalise(text)}")
    for h in r.hits:
        out.print(
            f"[red]命中 hit[/red] [{h.start}:{h.end}] '{h.matched}' → {h.rule} ({h.category}, {h.severity}) · {h.law}"
        )
        out.print(f"    {h.explanation}  建议 suggestion: {h.suggestion}")
    for c in r.cleared:
        out.print(
            f"[green]放行 cleared[/green] [{c.start}:{c.end}] '{c.matched}' ({c.rule}) by {c.allowed_by}"
            + (f"（{KIND_ZH[c.allowed_by[8:]]}）" if c.allowed_by.startswith("context.") else "")
        )
    if not r.hits and not r.cleared:
        out.print("无命中 no match")
    raise typer.Exit(3 if r.blocked else 0)


@rules_app.command("eval")
def rules_eval(
    file: Annotated[
        str,
        typer.Argument(help="标注集 a labelled TSV: text<TAB>categories (comma-separated; empty = clean)"),
    ],
    fmt: Annotated[Fmt, typer.Option("--format", "-f")] = Fmt.table,
    mistakes: Annotated[
        int, typer.Option("--mistakes", help="列出前 N 条错判 list the first N lines judged wrongly")
    ] = 20,
    lexicon: LexOpt = None,
    rules: RulesOpt = None,
) -> None:
    """评估词库 Line-level precision and recall per category on your own labelled lines."""
    from .compliance import LexiconError, evaluate, read_labelled

    scanner = _scanner(lexicon, rules)
    try:
        items = read_labelled(file)
    except (OSError, LexiconError) as e:
        raise _fail(str(e)) from e
    ev = evaluate(items, scanner)
    rows = pd.DataFrame(
        [
            {
                "category": s.category,
                "labelled": s.labelled,
                "flagged": s.flagged,
                "correct": s.true_positive,
                "precision": round(s.precision, 4),
                "recall": round(s.recall, 4),
            }
            for s in ev.scores
        ]
    )
    if fmt == Fmt.json:
        O.print_json(
            {
                "lines": ev.lines,
                "lexicon": scanner.lexicon.version,
                "scores": rows,
                "mistakes": [
                    {"text": t, "labelled": sorted(w), "flagged": sorted(f)} for t, w, f in ev.mistakes
                ],
            }
        )
        return
    _emit(rows, fmt, f"词库评估 Lexicon {scanner.lexicon.version} on {ev.lines} labelled lines")
    if fmt == Fmt.table:
        for t, w, f in ev.mistakes[:mistakes]:
            out.print(f"  {t}  [dim]标注 labelled {sorted(w) or '—'} · 判定 flagged {sorted(f) or '—'}[/dim]")
        err.print(f"错判 lines judged wrongly: {len(ev.mistakes)} / {ev.lines}")


@rules_app.command("update")
def rules_update(
    file: Annotated[str, typer.Argument(help="新版词库文件 the newer lexicon release (YAML)")],
    into: Annotated[
        str | None,
        typer.Option("--into", help="写入位置 where the project's lexicon lives (default from liveops.toml)"),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="版本不更新也写入 write even if the version is not newer")
    ] = False,
    db: DbOpt = None,
) -> None:
    """更新词库 Replace the project's lexicon with a newer release; your own rules are kept. Reports what changed."""
    from .compliance import Lexicon, LexiconError, diff_lexicons, packaged_lexicon, read_yaml, version_newer

    s = Settings.load()
    target = Path(into or s.lexicon)
    try:
        new = Lexicon.from_file(file)
        old = Lexicon.from_file(target) if target.is_file() else packaged_lexicon()
        if Path(s.user_rules).is_file():
            new.with_user_rules(read_yaml(s.user_rules), s.user_rules)  # still loads beside the new release
    except LexiconError as e:
        raise _fail(str(e)) from e
    if not force and not version_newer(new.version, old.version):
        raise _fail(
            f"{file}: 版本 {new.version} 不比当前 {old.version} 新 is not newer than the current lexicon (use --force)"
        )
    d = diff_lexicons(old, new)
    target.write_text(Path(file).read_text(encoding="utf-8"), encoding="utf-8")
    path = resolve_db(db)
    if Path(path).exists():
        from . import audit

        with EventLog(path, for_ingest=False) as log, audit.transaction(log.con, path):
            rec = audit.Record("lexicon_update", new.version, {"from": old.version, **O.plain(d)})
            audit.append(log.con, [rec])
    out.print(f"词库已更新 lexicon updated {old.version} → {new.version} → {target}")
    for label, ids in (("新增 added", d.added), ("删除 removed", d.removed)):
        if ids:
            out.print(f"{label} ({len(ids)}): {', '.join(ids)}")
    for rid, fields in d.changed.items():
        out.print(f"修改 changed {rid}: {'; '.join(fields)}")
    if not (d.added or d.removed or d.changed):
        out.print("规则无变化 no rule changed")
    out.print(
        "自定义规则保留不变 your own rules file is kept as it is; run `liveops compliance scan --force` to rescan stored shows"
    )


@compliance_app.command("hits")
def compliance_hits(
    db: DbOpt = None,
    session: Annotated[
        str | None, typer.Option("--session", "-s", help="场次 session (default: all)")
    ] = None,
    severity: Annotated[str | None, typer.Option("--severity", help="block | review | warn")] = None,
    category: Annotated[str | None, typer.Option("--category", "-c")] = None,
    fmt: Annotated[Fmt, typer.Option("--format", "-f")] = Fmt.table,
) -> None:
    """合规命中 Compliance hits stored with the events (scanned at ingest)."""
    from . import compliance_store as CS

    with open_store(db) as log:
        df = CS.hits(log.con, session, severity, category)
    if fmt == Fmt.table:
        df = df.assign(hit_id=df["hit_id"].str[:12])
        cols = [
            "hit_id",
            "ts",
            "session_id",
            "kind",
            "matched",
            "severity",
            "category",
            "rule",
            "verdict",
            "text",
        ]
        df = df[cols]
    _emit(df, fmt, f"合规命中 Compliance hits ({len(df)})")


@compliance_app.command("verdict")
def compliance_verdict(
    hit: Annotated[
        str | None,
        typer.Argument(help="命中编号 a hit id from `liveops compliance hits` (≥ 8 characters)"),
    ] = None,
    confirm: Annotated[bool, typer.Option("--confirm", help="确认违规 the hit is a violation")] = False,
    dismiss: Annotated[bool, typer.Option("--dismiss", help="误报 the line is compliant")] = False,
    file: Annotated[
        str | None,
        typer.Option(
            "--file",
            help="批量 a CSV/TSV with hit_id and verdict columns (confirmed | dismissed, 确认违规 | 误报; empty "
            "= skip), optional note: `compliance hits --format csv` with its verdict column filled in",
        ),
    ] = None,
    reviewer: Annotated[str | None, typer.Option("--reviewer", help="复核人 (default: your login)")] = None,
    note: Annotated[str, typer.Option("--note")] = "",
    db: DbOpt = None,
) -> None:
    """人工复核 Record reviewers' verdicts on hits (audited); `labels` turns verdicts into training lines."""
    from . import compliance_store as CS
    from .cli_script import _login

    who = reviewer or _login()
    if file is not None:
        if hit is not None or confirm or dismiss:
            raise _fail("--file 与单条结论不能同用 give --file, or a HIT with --confirm/--dismiss, not both")
        items, where = _verdict_rows(file, who, note)
    else:
        if hit is None or confirm == dismiss:
            raise _fail(
                "请给出命中编号并选择 --confirm 或 --dismiss give a HIT and exactly one of --confirm, --dismiss"
            )
        items, where = [(hit, "confirmed" if confirm else "dismissed", who, note)], ["HIT"]
    with open_store(db) as log:
        done, refused = CS.record_verdicts(log.con, items, log.path)
    for r in done:
        same = " (不变 unchanged)" if r["unchanged"] else ""
        out.print(
            f"{CS.VERDICTS[r['verdict']]} {r['verdict']}{same}: {r['hit_id'][:12]} {r['category']} ({r['rule']}) — {r['text']}"
        )
    for i, e in refused:
        err.print(f"[red]{where[i]}: {e}[/red]")
    if refused:
        raise _fail(f"{len(refused)} 条未记录 verdicts refused, {len(done)} recorded")


_VERDICT_WORDS = {
    "confirmed": "confirmed",
    "dismissed": "dismissed",
    "确认违规": "confirmed",
    "误报": "dismissed",
}


def _verdict_rows(path: str, reviewer: str, note: str) -> tuple[list[tuple[str, str, str, str]], list[str]]:
    """(hit, verdict, reviewer, note) per filled-in row of a CSV/TSV, with where each came from."""
    import csv

    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise _fail(f"{path}: 无法读取 cannot read: {e}") from e
    lines = text.splitlines()
    rows = list(csv.DictReader(lines, delimiter="\t" if lines and "\t" in lines[0] else ","))
    if not rows or not {"hit_id", "verdict"} <= set(rows[0]):
        raise _fail(f"{path}: 需要 hit_id 与 verdict 列 columns hit_id and verdict are required")
    items, where = [], []
    for n, r in enumerate(rows, 2):
        v = (r.get("verdict") or "").strip()
        if not v:
            continue
        items.append(((r["hit_id"] or "").strip(), _VERDICT_WORDS.get(v, v), reviewer, r.get("note") or note))
        where.append(f"{path} line {n}, verdict {v!r}")
    if not items:
        raise _fail(f"{path}: 没有填写结论 no row has a verdict")
    return items, where


@compliance_app.command("verdicts")
def compliance_verdicts(
    db: DbOpt = None, fmt: Annotated[Fmt, typer.Option("--format", "-f")] = Fmt.table
) -> None:
    """复核统计 Per rule: hits judged, confirmed, dismissed — the precision your reviewers found."""
    from . import compliance_store as CS

    with open_store(db) as log:
        df = CS.verdict_summary(log.con)
    _emit(df, fmt, f"复核统计 Verdicts by rule ({int(df['judged'].sum()) if len(df) else 0} hits judged)")


@compliance_app.command("labels")
def compliance_labels(
    to: Annotated[
        str | None,
        typer.Option("--out", "-o", help="写到 TSV file (default: liveops.toml [compliance] labels)"),
    ] = None,
    db: DbOpt = None,
) -> None:
    """复核结果导出为标注 Write the reviewed lines as a labelled TSV: `rules eval` measures the scanner on
    them, and the model trains on the project's labels file beside the packaged lines."""
    from . import compliance_store as CS

    project = Path(Settings.load().labels)
    path = Path(to) if to else project
    with open_store(db) as log:
        lines = CS.reviewed_lines(log.con)
    if not lines:
        raise _fail("还没有复核结论 no verdicts yet: judge hits with `liveops compliance verdict`")
    try:
        old = path.read_text(encoding="utf-8") if path.exists() else None
        text, kept = CS.labels_tsv(lines, old)
        path.write_text(text, encoding="utf-8")
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise _fail(f"{path}: {e}") from e
    bad = sum(1 for _, cats, _ in lines if cats)
    out.print(
        f"已写出 wrote {len(lines)} reviewed lines ({bad} violating, {len(lines) - bad} compliant) → {path}"
        + (f"; 保留你自己的 {kept} 行 kept {kept} lines of your own" if kept else "")
    )
    if path.resolve() == project.resolve():
        out.print(
            "模型下次使用时会在这些行上重新训练 the model retrains on them when next used (ingest, check, scan)"
        )


@compliance_app.command("scan")
def compliance_scan(
    db: DbOpt = None,
    session: Annotated[list[str] | None, typer.Option("--session", "-s")] = None,
    force: Annotated[bool, typer.Option("--force", help="全部重扫 rescan even if nothing changed")] = False,
) -> None:
    """重新扫描 Scan stored comments and transcripts again (after a lexicon or rules change)."""
    from . import compliance_store as CS
    from .compliance import LexiconError
    from .compliance_model import project_model

    scanner = _scanner(None, None)
    try:
        model = project_model(tuple(scanner.lexicon.categories))
    except LexiconError as e:
        raise _fail(str(e)) from e
    with open_store(db) as log:
        r = CS.refresh(log.con, scanner, log.path, session or None, force=force, model=model)
    out.print(
        f"已扫描 scanned {r.text_events:,} text events in {r.sessions} sessions with lexicon {scanner.lexicon.version}: "
        f"新命中 new hits {r.hits:,} (拦截 block {r.blocks:,})"
    )


@compliance_app.command("blacklist")
def compliance_blacklist(
    db: DbOpt = None,
    min_shows: Annotated[
        int, typer.Option("--min-shows", help="至少几场有拦截级命中 block hits in at least this many shows")
    ] = 2,
    fmt: Annotated[Fmt, typer.Option("--format", "-f")] = Fmt.table,
) -> None:
    """主播违规黑名单 Streamers with block-level hits in repeated shows, with their record."""
    from . import compliance_store as CS

    with open_store(db) as log:
        df = CS.blacklist(log.con, min_shows)
    _emit(df, fmt, f"主播违规黑名单 Streamer blacklist (≥ {min_shows} shows with block hits)")


@audit_app.command("verify")
def audit_verify(db: DbOpt = None, fmt: Annotated[Fmt, typer.Option("--format", "-f")] = Fmt.table) -> None:
    """校验审计链 Recompute the hash chain; name any edited, inserted or deleted record (exit 3)."""
    from . import audit

    with open_store(db) as log:
        v = audit.verify(log.con, log.path)
    if fmt == Fmt.json:
        O.print_json(
            {
                "ok": v.ok,
                "records": v.records,
                "head_seq": v.head_seq,
                "head_hash": v.head_hash,
                "problems": v.problems,
            }
        )
    elif v.ok:
        out.print(
            f"[green]审计链完整 audit chain intact[/green]: {v.records:,} records, head #{v.head_seq} {v.head_hash}"
        )
    else:
        for p in v.problems:
            out.print(f"[red]{p.kind}[/red] {p.message}")
        out.print(
            f"[red]审计链被篡改 audit chain broken[/red]: {len(v.problems)} problem(s) in {v.records:,} records"
        )
    raise typer.Exit(0 if v.ok else 3)


@audit_app.command("log")
def audit_log(
    db: DbOpt = None,
    kind: Annotated[
        str | None,
        typer.Option(
            "--kind", help="hit | alert | script_submit | script_check | script_review | lexicon_update"
        ),
    ] = None,
    ref: Annotated[str | None, typer.Option("--ref")] = None,
    limit: Annotated[int, typer.Option("--limit", help="最近几条 the newest N records")] = 50,
    fmt: Annotated[Fmt, typer.Option("--format", "-f")] = Fmt.table,
) -> None:
    """审计记录 List audit records (newest last)."""
    from . import audit

    with open_store(db) as log:
        recs = audit.records(log.con, kind, ref)[-limit:]
    if fmt == Fmt.json:
        O.print_json(recs)
        return
    df = pd.DataFrame(
        [{**{k: r[k] for k in ("seq", "ts", "kind", "ref")}, "hash": r["hash"][:16]} for r in recs]
    )
    _emit(df, fmt, "审计记录 Audit log")


@evidence_app.command("export")
def evidence_export(
    session: Annotated[str, typer.Option("--session", "-s", help="场次 session id")],
    out_dir: Annotated[str, typer.Option("--out", help="输出目录 output directory")],
    db: DbOpt = None,
) -> None:
    """导出证据 Write a session's hits with context, timestamps, event ids and audit hashes (JSON + CSV)."""
    from . import compliance_store as CS

    with open_store(db) as log:
        if not log.con.execute("SELECT count(*) FROM events WHERE session_id = ?", [session]).fetchall()[0][
            0
        ]:
            raise _fail(f"未找到场次 session not found: {session}")
        files = CS.export_evidence(log.con, session, out_dir)
    out.print(f"证据已导出 evidence written: {', '.join(files.values())}")


def risk(
    db: DbOpt = None,
    room: Annotated[str | None, typer.Option("--room", help="只看该直播间 only this room")] = None,
    controls: Annotated[
        str | None,
        typer.Option(
            "--controls",
            help="风险假设文件 your assumptions (YAML; see the packaged compliance_controls.yaml)",
        ),
    ] = None,
    fmt: Annotated[Fmt, typer.Option("--format", "-f")] = Fmt.table,
) -> None:
    """风险矩阵 Compliance risk matrix (likelihood from past hits × statutory fines) and the return of each control."""
    from .compliance import LexiconError
    from .risk import Assumptions, risk_matrix

    lex = _lexicon()
    try:
        a = Assumptions.load(controls)
    except LexiconError as e:
        raise _fail(str(e)) from e
    with open_store(db) as log:
        m = risk_matrix(log.con, lex, a, room)
    if fmt == Fmt.json:
        O.print_json({"shows": m.shows, "rows": m.rows, "controls": m.controls})
        return
    if fmt == Fmt.csv:
        _emit(pd.DataFrame([O.plain(r) for r in m.rows]), fmt, "")
        return
    rows = pd.DataFrame(
        {
            "类别 Category": [f"{r.zh} {r.category}" for r in m.rows],
            "有命中场次 Shows hit": [f"{r.shows_with_hits}/{r.shows}" for r in m.rows],
            "拦截/复核 Block/review": [f"{r.block_hits}/{r.review_hits}" for r in m.rows],
            "可能性 Likelihood": [f"{r.likelihood:.1%} ({r.likelihood_level})" for r in m.rows],
            "影响 Impact": [f"¥{r.fine_min:,.0f}–{r.fine_max:,.0f} ({r.impact_level})" for r in m.rows],
            "L×I": [r.score for r in m.rows],
            "年期望损失 Loss/yr": [f"¥{r.expected_loss_per_year:,.0f}" for r in m.rows],
        }
    )
    out.print(O.frame_table(rows, f"合规风险矩阵 Compliance risk matrix · {m.shows} shows"))
    ctl = pd.DataFrame(
        {
            "控制措施 Control": [c.zh for c in m.controls],
            "年成本 Cost/yr": [f"¥{c.cost_per_year:,.0f}" for c in m.controls],
            "年避免损失 Avoided/yr": [f"¥{c.loss_avoided_per_year:,.0f}" for c in m.controls],
            "投入产出 Return": [f"{c.roi:.1f}×" for c in m.controls],
        }
    )
    out.print(O.frame_table(ctl, "控制措施投入产出 Controls: expected loss avoided ÷ cost"))
    if fmt == Fmt.table:
        grid = m.grid()
        t = Table(title="矩阵 Matrix (行 likelihood 5→1 × 列 impact 1→5)")
        t.add_column("L\\I")
        for i in range(1, 6):
            t.add_column(str(i))
        for li in range(5, 0, -1):
            t.add_row(str(li), *["、".join(grid.get((li, im), [])) for im in range(1, 6)])
        out.print(t)
        err.print(
            f"假设 assumptions: 执法概率 enforcement rate {a.enforcement_rate:.0%}, {a.shows_per_year:.0f} shows/year; "
            "可能性用 Beta(1,1) 平滑 likelihood is smoothed with a Beta(1,1) prior"
        )


def register(app: typer.Typer) -> None:
    app.command()(check)
    app.add_typer(rules_app, name="rules")
    app.add_typer(compliance_app, name="compliance")
    app.add_typer(audit_app, name="audit")
    app.add_typer(evidence_app, name="evidence")
    app.command()(risk)
