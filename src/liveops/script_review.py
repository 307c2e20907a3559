"""三审一检: the pre-broadcast review of show scripts (seed 7.3).

A script is checked automatically against the advertising-law lexicon when it is submitted (一检), then
signed by three people in a fixed order: 策划初审 planning → 运营复审 operations → 法务终审 legal (三审).
Only the latest version counts; a changed script is a new version and its review starts over. A script
may go on air only when all three stages approved the latest version in order and the check found no
``block`` hit. Every submission, check and decision is appended to the hash-chained audit log in the
same transaction as the row it records, so the evidence and the state cannot drift apart.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass
from typing import Any, Protocol

import duckdb

from . import audit
from .compliance import SEVERITIES, ScanResult

STAGES = ("planning", "operations", "legal")
STAGE_ZH = {"planning": "策划初审", "operations": "运营复审", "legal": "法务终审"}
STATE_ZH = {
    "in_review": "审核中",
    "rejected": "已驳回",
    "check_failed": "自动检查未通过",
    "approved": "可播出",
    "superseded": "已被新版本取代",
}

DDL = """
CREATE TABLE IF NOT EXISTS scripts (
    script_id       VARCHAR   NOT NULL,
    version         INTEGER   NOT NULL,
    title           VARCHAR   NOT NULL,
    text            VARCHAR   NOT NULL,
    sha256          VARCHAR   NOT NULL,
    submitted_at    TIMESTAMP NOT NULL,
    submitted_by    VARCHAR   NOT NULL,
    checked_at      TIMESTAMP NOT NULL,
    lexicon_version VARCHAR,
    PRIMARY KEY (script_id, version)
);
CREATE TABLE IF NOT EXISTS script_reviews (
    script_id VARCHAR   NOT NULL,
    version   INTEGER   NOT NULL,
    stage     VARCHAR   NOT NULL,
    decision  VARCHAR   NOT NULL,
    note      VARCHAR   NOT NULL,
    reviewer  VARCHAR   NOT NULL,
    ts        TIMESTAMP NOT NULL,
    PRIMARY KEY (script_id, version, stage)
);
CREATE TABLE IF NOT EXISTS script_checks (
    script_id  VARCHAR NOT NULL,
    version    INTEGER NOT NULL,
    line       INTEGER NOT NULL,
    char_start INTEGER NOT NULL,
    char_end   INTEGER NOT NULL,
    matched    VARCHAR NOT NULL,
    rule       VARCHAR NOT NULL,
    category   VARCHAR NOT NULL,
    severity   VARCHAR NOT NULL,
    law        VARCHAR,
    suggestion VARCHAR
);
"""


class ScriptError(ValueError):
    """A submission or decision that is refused; the message says why and what to do instead."""


class ScriptNotFound(ScriptError, LookupError):
    pass


class _Scanner(Protocol):
    def scan(self, texts: list[str]) -> list[ScanResult]: ...


# -- results --------------------------------------------------------------------------------------


@dataclass
class CheckHit:
    line: int  # 1-based line of the script
    start: int  # span within that line (code points)
    end: int
    matched: str
    rule: str
    category: str
    severity: str  # block | review | warn
    law: str | None
    suggestion: str | None


@dataclass
class CheckSummary:
    """The automatic check (一检) of one version."""

    blocked: bool
    counts: dict[str, int]  # per severity
    hits: list[CheckHit]
    lexicon_version: str | None
    checked_at: dt.datetime


@dataclass
class StageDecision:
    stage: str
    stage_zh: str
    decision: str | None  # approve | reject | None while pending
    reviewer: str | None = None
    note: str | None = None
    ts: dt.datetime | None = None


@dataclass
class VersionInfo:
    version: int
    sha256: str
    submitted_at: dt.datetime
    submitted_by: str
    state: str
    state_zh: str
    blocked: bool


@dataclass
class ScriptStatus:
    script_id: str
    title: str
    version: int
    sha256: str
    submitted_at: dt.datetime
    submitted_by: str
    state: str  # in_review | rejected | check_failed | approved
    state_zh: str
    next_stage: str | None  # the stage that may be decided now; None when rejected or all signed
    approved_for_broadcast: bool
    stages: list[StageDecision]
    check: CheckSummary
    versions: list[VersionInfo]
    text: str


@dataclass
class Submission:
    script_id: str
    version: int
    title: str
    sha256: str
    created: bool  # False: identical to the latest version, nothing stored
    previous_version: int | None
    message: str
    state: str
    state_zh: str
    next_stage: str | None
    check: CheckSummary


@dataclass
class ScriptSummary:
    script_id: str
    title: str
    version: int
    state: str
    state_zh: str
    next_stage: str | None
    approved_for_broadcast: bool
    block: int
    review: int
    warn: int
    submitted_at: dt.datetime
    submitted_by: str


# -- helpers --------------------------------------------------------------------------------------


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(DDL)


def _has_tables(con: duckdb.DuckDBPyConnection) -> bool:
    """Read-only connections cannot create tables; a store without them simply has no scripts."""
    n = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name IN ('scripts', 'script_reviews', 'script_checks')"
    ).fetchall()[0][0]
    return n == 3


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _utc(t: dt.datetime | None) -> dt.datetime | None:
    """Stored timestamps are naive UTC; results carry the zone so nobody reads them as local time."""
    return None if t is None else t.replace(tzinfo=dt.UTC)


def normalise_text(text: str) -> str:
    """One canonical form, so a re-save with other line endings or a BOM is not a new version."""
    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    return "\n".join(line.rstrip() for line in text.strip("\n").split("\n")).strip()


def normalise_id(script_id: str) -> str:
    """Accept ``s1`` or ``S0001`` for S0001 (ids are typed by hand)."""
    m = re.fullmatch(r"[sS]0*(\d+)", script_id.strip())
    return f"S{int(m.group(1)):04d}" if m else script_id.strip()


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _stage_label(stage: str) -> str:
    return f"{STAGE_ZH[stage]} {stage}"


def _latest(con: duckdb.DuckDBPyConnection, sid: str) -> tuple:
    rows = con.execute(
        """SELECT version, title, text, sha256, submitted_at, submitted_by, checked_at, lexicon_version
        FROM scripts WHERE script_id = ? ORDER BY version DESC LIMIT 1""",
        [sid],
    ).fetchall()
    if not rows:
        raise ScriptNotFound(f"未找到脚本 no such script: {sid} (`liveops script list` shows them)")
    return rows[0]


def _decisions(con: duckdb.DuckDBPyConnection, sid: str, version: int) -> dict[str, StageDecision]:
    rows = con.execute(
        "SELECT stage, decision, reviewer, note, ts FROM script_reviews WHERE script_id = ? AND version = ?",
        [sid, version],
    ).fetchall()
    return {s: StageDecision(s, STAGE_ZH.get(s, s), d, r, n, _utc(t)) for s, d, r, n, t in rows}


def _check(
    con: duckdb.DuckDBPyConnection, sid: str, version: int, checked_at: dt.datetime, lexicon: str | None
) -> CheckSummary:
    rows = con.execute(
        """SELECT line, char_start, char_end, matched, rule, category, severity, law, suggestion
        FROM script_checks WHERE script_id = ? AND version = ? ORDER BY line, char_start, rule""",
        [sid, version],
    ).fetchall()
    return _summary([CheckHit(*r) for r in rows], lexicon, _utc(checked_at))


def _summary(hits: list[CheckHit], lexicon: str | None, checked_at: dt.datetime) -> CheckSummary:
    counts = {s: sum(h.severity == s for h in hits) for s in SEVERITIES}
    return CheckSummary(counts["block"] > 0, counts, hits, lexicon, checked_at)


def _next_stage(decisions: dict[str, StageDecision]) -> str | None:
    if any(d.decision == "reject" for d in decisions.values()):
        return None
    return next((s for s in STAGES if s not in decisions), None)


def _approved_in_order(decisions: dict[str, StageDecision], submitted_at: dt.datetime) -> bool:
    """Re-derived from the rows, not trusted from how they were written: all three approve, each after the
    one before (and after the submission), by three different people."""
    ds = [decisions.get(s) for s in STAGES]
    if any(d is None or d.decision != "approve" or d.ts is None for d in ds):
        return False
    times = [_utc(submitted_at), *(d.ts for d in ds)]
    people = {(d.reviewer or "").casefold() for d in ds}
    return all(a <= b for a, b in zip(times, times[1:], strict=False)) and len(people) == 3


def _state(decisions: dict[str, StageDecision], blocked: bool, submitted_at: dt.datetime) -> tuple[str, bool]:
    if any(d.decision == "reject" for d in decisions.values()):
        return "rejected", False
    if blocked:
        return "check_failed", False
    if _approved_in_order(decisions, submitted_at):
        return "approved", True
    return "in_review", False


def _in_transaction(con: duckdb.DuckDBPyConnection, db_path: str, work) -> Any:
    with audit.transaction(con, db_path):
        return work()


# -- the workflow ---------------------------------------------------------------------------------


def submit(
    con: duckdb.DuckDBPyConnection,
    text: str,
    title: str,
    by: str,
    scanner: _Scanner,
    db_path: str = ":memory:",
) -> Submission:
    """Store a script (a new script, or a new version of the script with this title) and check it (一检).

    Identical content to the latest version stores nothing: its review and check stand as they are."""
    ensure_tables(con)
    text = normalise_text(text)
    title = title.strip()
    by = by.strip() or "unknown"
    if not text:
        raise ScriptError("脚本为空 the script is empty")
    if not title:
        raise ScriptError("缺少标题 the script needs a title (--title)")
    sha = _sha256(text)
    lines = text.split("\n")
    results = scanner.scan(lines)  # outside the transaction: scanning is the slow part
    hits = [
        CheckHit(i + 1, h.start, h.end, h.matched, h.rule, h.category, h.severity, h.law, h.suggestion)
        for i, r in enumerate(results)
        for h in r.hits
    ]
    lexicon = getattr(getattr(scanner, "lexicon", None), "version", None)

    def work() -> tuple[str, int, int | None, bool]:
        found = con.execute("SELECT script_id FROM scripts WHERE title = ? LIMIT 1", [title]).fetchall()
        if found:
            sid = found[0][0]
            latest = _latest(con, sid)
            if latest[3] == sha:
                return sid, latest[0], latest[0], False
            version, previous = latest[0] + 1, latest[0]
        else:
            n = con.execute(
                "SELECT coalesce(max(TRY_CAST(substr(script_id, 2) AS INTEGER)), 0) FROM scripts"
            ).fetchall()[0][0]
            sid, version, previous = f"S{n + 1:04d}", 1, None
        now = _now()
        con.execute(
            "INSERT INTO scripts VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [sid, version, title, text, sha, now, by, now, lexicon],
        )
        if hits:
            con.executemany(
                "INSERT INTO script_checks VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    [sid, version, h.line, h.start, h.end, h.matched, h.rule, h.category, h.severity]
                    + [h.law, h.suggestion]
                    for h in hits
                ],
            )
        summary = _summary(hits, lexicon, _utc(now))
        audit.append(
            con,
            [
                audit.Record(
                    "script_submit",
                    sid,
                    {
                        "script_id": sid,
                        "version": version,
                        "previous_version": previous,
                        "title": title,
                        "sha256": sha,
                        "lines": len(lines),
                        "submitted_by": by,
                        "submitted_at": now.isoformat(),
                    },
                ),
                audit.Record(
                    "script_check",
                    sid,
                    {
                        "script_id": sid,
                        "version": version,
                        "sha256": sha,
                        "lexicon_version": lexicon,
                        "blocked": summary.blocked,
                        "counts": summary.counts,
                        "hits": [
                            {"line": h.line, "start": h.start, "end": h.end, "matched": h.matched}
                            | {"rule": h.rule, "severity": h.severity}
                            for h in hits
                        ],
                    },
                ),
            ],
        )
        return sid, version, previous, True

    sid, version, previous, created = _in_transaction(con, db_path, work)
    st = status(con, sid)
    if not created:
        message = f"内容未变，未创建新版本 unchanged: identical to {sid} v{version}, no new version"
        if st.state == "rejected":
            message += "；该版本已被驳回，须修改后再提交 — that version was rejected: change the script first"
    elif previous is None:
        message = f"新脚本 new script {sid} v{version}"
    else:
        message = (
            f"新版本 new version {sid} v{version}（内容已修改，三审重新开始 content changed: "
            f"the review starts over; v{previous} no longer counts)"
        )
    return Submission(
        script_id=sid,
        version=version,
        title=st.title,
        sha256=sha,
        created=created,
        previous_version=previous if created else None,
        message=message,
        state=st.state,
        state_zh=st.state_zh,
        next_stage=st.next_stage,
        check=st.check,
    )


def review(
    con: duckdb.DuckDBPyConnection,
    script_id: str,
    stage: str,
    approve: bool,
    note: str | None,
    reviewer: str,
    db_path: str = ":memory:",
    version: int | None = None,
) -> ScriptStatus:
    """Record one stage's decision on the latest version; refuse anything out of order.

    ``version``, when given, must still be the latest: a reviewer who read v1 must not sign v2 unseen."""
    ensure_tables(con)
    sid = normalise_id(script_id)
    if stage not in STAGES:
        order = " → ".join(_stage_label(s) for s in STAGES)
        raise ScriptError(f"未知审核阶段 unknown stage {stage!r}; 顺序 in order: {order}")
    reviewer = (reviewer or "").strip()
    note = (note or "").strip()
    if not reviewer:
        raise ScriptError("缺少审核人 a decision needs a reviewer (--reviewer)")
    if not approve and not note:
        raise ScriptError("驳回须填写意见 a rejection needs a note (--note) saying what to change")

    def work() -> None:
        v, _, _, sha, *_ = _latest(con, sid)
        if version is not None and version != v:
            raise ScriptError(
                f"{sid} 已有新版本 v{v}，不能审核 v{version} — a newer version v{v} was submitted; "
                f"read it, then decide v{v}"
            )
        decisions = _decisions(con, sid, v)
        rejected = next((d for d in decisions.values() if d.decision == "reject"), None)
        if rejected is not None:
            raise ScriptError(
                f"{sid} v{v} 已在{rejected.stage_zh}被 {rejected.reviewer} 驳回 was rejected at {rejected.stage}: "
                "请修改脚本后重新提交 change the script and resubmit it (`liveops script submit`)"
            )
        nxt = _next_stage(decisions)
        if nxt is None:
            raise ScriptError(f"{sid} v{v} 三审均已通过 all three stages are already approved")
        if stage != nxt:
            why = "已审核 was already decided" if stage in decisions else "尚未轮到 is not yet due"
            raise ScriptError(
                f"{sid} v{v}: {_stage_label(stage)} {why}; 下一个待审阶段 the next stage is {_stage_label(nxt)}"
            )
        mine = [d for d in decisions.values() if (d.reviewer or "").casefold() == reviewer.casefold()]
        if mine:
            raise ScriptError(
                f"职责分离 separation of duties: {reviewer} 已签署 already signed {_stage_label(mine[0].stage)} "
                f"of {sid} v{v}; {_stage_label(stage)} 须由另一人审核 must be decided by someone else"
            )
        decision, now = ("approve" if approve else "reject"), _now()
        con.execute(
            "INSERT INTO script_reviews VALUES (?, ?, ?, ?, ?, ?, ?)",
            [sid, v, stage, decision, note, reviewer, now],
        )
        payload = {"script_id": sid, "version": v, "sha256": sha, "stage": stage, "decision": decision}
        payload |= {"note": note, "reviewer": reviewer, "ts": now.isoformat()}
        audit.append(con, [audit.Record("script_review", sid, payload)])

    try:
        _in_transaction(con, db_path, work)
    except duckdb.ConstraintException as e:  # another reviewer decided this stage a moment earlier
        raise ScriptError(
            f"{sid}: {_stage_label(stage)} 刚被他人审核 was just decided by someone else"
        ) from e
    return status(con, sid)


def status(con: duckdb.DuckDBPyConnection, script_id: str) -> ScriptStatus:
    """Where a script stands: the latest version's three stages, its check, and its version history."""
    sid = normalise_id(script_id)
    if not _has_tables(con):
        raise ScriptNotFound(f"未找到脚本 no such script: {sid} (no script has been submitted to this store)")
    v, title, text, sha, at, by, checked_at, lexicon = _latest(con, sid)
    decisions = _decisions(con, sid, v)
    check = _check(con, sid, v, checked_at, lexicon)
    state, ok = _state(decisions, check.blocked, at)
    stages = [decisions.get(s) or StageDecision(s, STAGE_ZH[s], None) for s in STAGES]
    versions = []
    rows = con.execute(
        """SELECT s.version, s.sha256, s.submitted_at, s.submitted_by,
                  bool_or(r.decision = 'reject'),
                  (SELECT count(*) FROM script_checks c
                   WHERE c.script_id = s.script_id AND c.version = s.version AND c.severity = 'block')
        FROM scripts s LEFT JOIN script_reviews r ON r.script_id = s.script_id AND r.version = s.version
        WHERE s.script_id = ? GROUP BY ALL ORDER BY s.version""",
        [sid],
    ).fetchall()
    for ver, vsha, vat, vby, was_rejected, blocks in rows:
        vstate = state if ver == v else "rejected" if was_rejected else "superseded"
        versions.append(VersionInfo(ver, vsha, _utc(vat), vby, vstate, STATE_ZH[vstate], blocks > 0))
    return ScriptStatus(
        script_id=sid,
        title=title,
        version=v,
        sha256=sha,
        submitted_at=_utc(at),
        submitted_by=by,
        state=state,
        state_zh=STATE_ZH[state],
        next_stage=_next_stage(decisions),
        approved_for_broadcast=ok,
        stages=stages,
        check=check,
        versions=versions,
        text=text,
    )


def list_scripts(con: duckdb.DuckDBPyConnection) -> list[ScriptSummary]:
    """Every script with its latest version's state, newest submission first."""
    if not _has_tables(con):
        return []
    ids = [
        r[0]
        for r in con.execute(
            "SELECT script_id FROM scripts GROUP BY script_id ORDER BY max(submitted_at) DESC, script_id"
        ).fetchall()
    ]
    out = []
    for sid in ids:
        st = status(con, sid)
        c = st.check.counts
        out.append(
            ScriptSummary(
                script_id=sid,
                title=st.title,
                version=st.version,
                state=st.state,
                state_zh=st.state_zh,
                next_stage=st.next_stage,
                approved_for_broadcast=st.approved_for_broadcast,
                block=c["block"],
                review=c["review"],
                warn=c["warn"],
                submitted_at=st.submitted_at,
                submitted_by=st.submitted_by,
            )
        )
    return out
