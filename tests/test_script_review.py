"""三审一检: a script goes on air only after the automatic check and three sign-offs, in order, on its latest
version; every step is evidence in the hash-chained audit log."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from liveops import audit
from liveops import script_review as SR
from liveops.cli import app
from liveops.compliance import default_scanner
from liveops.store import EventLog

runner = CliRunner()

CLEAN = "家人们晚上好，欢迎来到直播间\n今天给大家带来一款保温杯\n容量五百毫升，可以放进背包"
BLOCKED = "家人们晚上好，欢迎来到直播间\n这是全网最低价，国家级品质\n容量五百毫升，可以放进背包"


@pytest.fixture
def store(tmp_path):
    path = str(tmp_path / "scripts.duckdb")
    log = EventLog(path)
    yield log
    log.close()


def submit(log: EventLog, text: str = CLEAN, title: str = "保温杯专场", by: str = "小王") -> SR.Submission:
    return SR.submit(log.con, text, title, by, default_scanner(), log.path)


def review(log: EventLog, sid: str, stage: str, reviewer: str, approve: bool = True, note: str = "", **kw):
    return SR.review(log.con, sid, stage, approve, note, reviewer, log.path, **kw)


def approve_all(log: EventLog, sid: str) -> SR.ScriptStatus:
    review(log, sid, "planning", "策划-李")
    review(log, sid, "operations", "运营-张")
    return review(log, sid, "legal", "法务-赵")


# -- the workflow -------------------------------------------------------------------------------


def test_clean_script_approved_in_order_is_approved_for_broadcast(store):
    sub = submit(store)
    assert (sub.script_id, sub.version, sub.created) == ("S0001", 1, True)
    assert not sub.check.blocked and sub.check.hits == []
    assert (sub.state, sub.next_stage) == ("in_review", "planning")

    st = review(store, "S0001", "planning", "策划-李")
    assert (st.state, st.next_stage, st.approved_for_broadcast) == ("in_review", "operations", False)
    st = review(store, "s1", "operations", "运营-张")  # ids are typed by hand: s1 is S0001
    assert st.next_stage == "legal"
    st = review(store, "S0001", "legal", "法务-赵", note="可以播")

    assert st.state == "approved" and st.state_zh == "可播出"
    assert st.approved_for_broadcast and st.next_stage is None
    assert [(d.stage, d.decision, d.reviewer) for d in st.stages] == [
        ("planning", "approve", "策划-李"),
        ("operations", "approve", "运营-张"),
        ("legal", "approve", "法务-赵"),
    ]
    assert st.stages[2].note == "可以播"
    assert st.stages[0].ts <= st.stages[1].ts <= st.stages[2].ts


def test_a_new_title_is_a_new_script(store):
    assert submit(store).script_id == "S0001"
    assert submit(store, title="零食专场").script_id == "S0002"
    assert [s.script_id for s in SR.list_scripts(store.con)] == ["S0002", "S0001"]


def test_only_the_next_stage_may_be_decided(store):
    submit(store)
    with pytest.raises(SR.ScriptError, match="next stage is 策划初审 planning"):
        review(store, "S0001", "legal", "法务-赵")
    review(store, "S0001", "planning", "策划-李")
    with pytest.raises(SR.ScriptError, match="already decided.*next stage is 运营复审 operations"):
        review(store, "S0001", "planning", "策划-钱")
    with pytest.raises(SR.ScriptError, match="unknown stage"):
        review(store, "S0001", "marketing", "某人")
    assert SR.status(store.con, "S0001").next_stage == "operations"


def test_once_approved_no_further_decisions(store):
    submit(store)
    approve_all(store, "S0001")
    with pytest.raises(SR.ScriptError, match="already approved"):
        review(store, "S0001", "legal", "法务-孙", approve=False, note="改主意了")


def test_one_reviewer_may_not_sign_two_stages_of_a_version(store):
    submit(store)
    review(store, "S0001", "planning", "李雷")
    with pytest.raises(SR.ScriptError, match="separation of duties"):
        review(store, "S0001", "operations", "李雷")
    with pytest.raises(SR.ScriptError, match="separation of duties"):
        review(store, "S0001", "operations", " 李雷 ", approve=False, note="x")
    st = review(store, "S0001", "operations", "韩梅梅")
    assert st.next_stage == "legal"


def test_rejection_needs_a_note_and_ends_the_version(store):
    submit(store)
    review(store, "S0001", "planning", "策划-李")
    with pytest.raises(SR.ScriptError, match="needs a note"):
        review(store, "S0001", "operations", "运营-张", approve=False, note="  ")

    st = review(store, "S0001", "operations", "运营-张", approve=False, note="第三行口径需改")
    assert (st.state, st.state_zh, st.next_stage) == ("rejected", "已驳回", None)
    assert not st.approved_for_broadcast
    for stage in SR.STAGES:
        with pytest.raises(SR.ScriptError, match="rejected.*resubmit"):
            review(store, "S0001", stage, "法务-赵")

    same = submit(store)  # resubmitting it unchanged does not reopen it
    assert not same.created and same.state == "rejected" and "change the script" in same.message
    new = submit(store, CLEAN + "\n下单前请看清规格")
    assert (new.version, new.state, new.next_stage) == (2, "in_review", "planning")


def test_block_hit_can_collect_approvals_but_never_goes_on_air(store):
    sub = submit(store, BLOCKED)
    assert sub.check.blocked and sub.check.counts["block"] >= 1
    blocks = [h for h in sub.check.hits if h.severity == "block"]
    assert {h.line for h in blocks} == {2}  # stored with the script's line number
    assert all(BLOCKED.split("\n")[1][h.start : h.end] == h.matched for h in blocks)
    assert sub.state == "check_failed"

    st = approve_all(store, "S0001")
    assert all(d.decision == "approve" for d in st.stages)
    assert st.state == "check_failed" and st.state_zh == "自动检查未通过"
    assert not st.approved_for_broadcast


def test_a_changed_script_starts_over(store):
    submit(store)
    approve_all(store, "S0001")
    new = submit(store, CLEAN.replace("五百", "六百"))
    assert (new.script_id, new.version, new.previous_version, new.created) == ("S0001", 2, 1, True)
    assert "starts over" in new.message

    st = SR.status(store.con, "S0001")
    assert (st.version, st.state, st.next_stage, st.approved_for_broadcast) == (
        2,
        "in_review",
        "planning",
        False,
    )
    assert [d.decision for d in st.stages] == [None, None, None]  # v1's approvals do not carry over
    assert [(v.version, v.state) for v in st.versions] == [(1, "superseded"), (2, "in_review")]
    # the same people may sign the new version
    assert approve_all(store, "S0001").approved_for_broadcast


def test_identical_content_is_not_a_new_version(store):
    first = submit(store)
    review(store, "S0001", "planning", "策划-李")
    # the same words re-saved with Windows line endings, a BOM and trailing spaces are the same script
    again = submit(store, "\ufeff" + CLEAN.replace("\n", "  \r\n") + "\r\n", by="小张")
    assert not again.created
    assert (again.version, again.sha256) == (1, first.sha256)
    assert "no new version" in again.message
    st = SR.status(store.con, "S0001")
    assert len(st.versions) == 1 and st.next_stage == "operations"  # its review carries on


def test_a_reviewer_who_read_an_older_version_cannot_sign_the_new_one(store):
    submit(store)
    submit(store, CLEAN + "\n限时福利")
    with pytest.raises(SR.ScriptError, match="newer version v2"):
        review(store, "S0001", "planning", "策划-李", version=1)
    assert review(store, "S0001", "planning", "策划-李", version=2).next_stage == "operations"


def test_broadcast_approval_is_rederived_from_the_rows(store):
    """Approvals written out of order (by hand, behind the workflow's back) do not count."""
    submit(store)
    approve_all(store, "S0001")
    store.con.execute(
        "UPDATE script_reviews SET ts = ts - INTERVAL 1 HOUR WHERE script_id = 'S0001' AND stage = 'legal'"
    )
    st = SR.status(store.con, "S0001")
    assert st.state == "in_review" and not st.approved_for_broadcast


def test_empty_script_or_title_is_refused(store):
    with pytest.raises(SR.ScriptError, match="empty"):
        submit(store, " \n\n  \n")
    with pytest.raises(SR.ScriptError, match="title"):
        submit(store, title="  ")
    with pytest.raises(SR.ScriptNotFound):
        SR.status(store.con, "S0042")


# -- audit --------------------------------------------------------------------------------------


def test_every_step_is_in_the_audit_log_and_the_chain_verifies(store):
    submit(store, BLOCKED)
    review(store, "S0001", "planning", "策划-李")
    review(store, "S0001", "operations", "运营-张", approve=False, note="删去绝对化用语")

    recs = audit.records(store.con, ref="S0001")
    assert [r["kind"] for r in recs] == ["script_submit", "script_check", "script_review", "script_review"]
    sub, check, r1, r2 = (r["payload"] for r in recs)
    assert (sub["version"], sub["title"], sub["submitted_by"]) == (1, "保温杯专场", "小王")
    assert check["blocked"] and check["counts"]["block"] >= 1
    assert any(h["line"] == 2 and h["severity"] == "block" for h in check["hits"])
    assert (r1["stage"], r1["decision"], r1["reviewer"]) == ("planning", "approve", "策划-李")
    assert (r2["stage"], r2["decision"], r2["note"]) == ("operations", "reject", "删去绝对化用语")
    assert sub["sha256"] == check["sha256"] == r2["sha256"] == SR.status(store.con, "S0001").sha256
    assert audit.verify(store.con, store.path).ok


def test_editing_a_review_record_breaks_the_chain(store):
    submit(store)
    review(store, "S0001", "planning", "策划-李", approve=False, note="重写开场")
    store.con.execute(
        "UPDATE audit_log SET payload = replace(payload, '\"reject\"', '\"approve\"') WHERE kind = 'script_review'"
    )
    v = audit.verify(store.con, store.path)
    assert not v.ok
    assert [p.kind for p in v.problems] == ["edited"]


def test_a_refused_decision_leaves_no_trace(store):
    submit(store)
    n = len(audit.records(store.con))
    with pytest.raises(SR.ScriptError):
        review(store, "S0001", "legal", "法务-赵")
    assert len(audit.records(store.con)) == n
    assert store.con.execute("SELECT count(*) FROM script_reviews").fetchall()[0][0] == 0


# -- the command line ---------------------------------------------------------------------------


@pytest.fixture
def cli(tmp_path, monkeypatch):
    """Run `liveops …` in an empty directory (no liveops.toml: the packaged lexicon) against one store."""
    monkeypatch.chdir(tmp_path)
    db = str(tmp_path / "cli.duckdb")

    def run(*args: str):
        return runner.invoke(app, [*args, "--db", db])

    return run


def write(tmp_path, name: str, text: str | bytes):
    p = tmp_path / name
    p.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return str(p)


def test_cli_submit_review_status_list(cli, tmp_path):
    f = write(tmp_path, "clean.txt", CLEAN)
    r = cli("script", "submit", f, "--title", "保温杯专场", "--by", "小王", "--format", "json")
    assert r.exit_code == 0, r.output
    sub = json.loads(r.stdout)
    assert {"script_id", "version", "created", "message", "state", "next_stage", "check"} <= sub.keys()
    assert (sub["script_id"], sub["version"], sub["state"], sub["next_stage"]) == (
        "S0001",
        1,
        "in_review",
        "planning",
    )
    assert sub["check"] == {
        "blocked": False,
        "counts": {"block": 0, "review": 0, "warn": 0},
        "hits": [],
        "lexicon_version": sub["check"]["lexicon_version"],
        "checked_at": sub["check"]["checked_at"],
    }

    for stage, who in [("planning", "策划-李"), ("operations", "运营-张"), ("legal", "法务-赵")]:
        r = cli("script", "review", "S0001", "--stage", stage, "--approve", "--reviewer", who, "--note", "ok")
        assert r.exit_code == 0, r.output
    assert "可播出" in r.stdout

    r = cli("script", "status", "S0001", "--format", "json")
    assert r.exit_code == 0, r.output
    st = json.loads(r.stdout)
    assert (st["state"], st["approved_for_broadcast"], st["version"]) == ("approved", True, 1)
    assert [s["decision"] for s in st["stages"]] == ["approve"] * 3
    assert st["stages"][0] | {"ts": None} == {
        "stage": "planning",
        "stage_zh": "策划初审",
        "decision": "approve",
        "reviewer": "策划-李",
        "note": "ok",
        "ts": None,
    }
    assert [v["version"] for v in st["versions"]] == [1]
    assert st["text"] == CLEAN

    r = cli("script", "list", "--format", "json")
    assert r.exit_code == 0, r.output
    [row] = json.loads(r.stdout)
    assert (row["script_id"], row["state"], row["approved_for_broadcast"]) == ("S0001", "approved", True)

    for args in (["status", "S0001"], ["list"]):  # the tables render
        r = cli("script", *args)
        assert r.exit_code == 0, r.output
        assert "可播出" in r.stdout


def test_cli_submit_exits_3_on_a_block_hit(cli, tmp_path):
    f = write(tmp_path, "bad.txt", BLOCKED)
    r = cli("script", "submit", f, "--title", "保温杯专场", "--format", "json")
    assert r.exit_code == 3, r.output
    sub = json.loads(r.stdout)
    assert sub["check"]["blocked"] and sub["state"] == "check_failed"
    hit = next(h for h in sub["check"]["hits"] if h["severity"] == "block")
    assert hit["line"] == 2 and hit["matched"] in "这是全网最低价，国家级品质"
    assert {"line", "start", "end", "matched", "rule", "severity", "suggestion"} <= hit.keys()

    r = cli("script", "submit", f, "--title", "保温杯专场")  # unchanged: still blocked
    assert r.exit_code == 3 and "no new version" in r.stdout
    assert "block" in r.stdout


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.txt", None, "cannot read"),
        ("gbk.txt", "这是脚本".encode("gbk"), "not UTF-8"),
        ("empty.txt", "\n  \n", "empty"),
    ],
)
def test_cli_submit_unreadable_or_empty_exits_2(cli, tmp_path, name, content, message):
    f = str(tmp_path / name) if content is None else write(tmp_path, name, content)
    r = cli("script", "submit", f, "--title", "保温杯专场")
    assert r.exit_code == 2
    assert message in r.stderr


def test_cli_refused_reviews_exit_2_with_the_reason(cli, tmp_path):
    cli("script", "submit", write(tmp_path, "s.txt", CLEAN), "--title", "保温杯专场")
    r = cli("script", "review", "S0001", "--stage", "legal", "--approve", "--reviewer", "法务-赵")
    assert r.exit_code == 2 and "next stage is 策划初审 planning" in r.stderr
    r = cli("script", "review", "S0001", "--stage", "planning", "--reject", "--reviewer", "策划-李")
    assert r.exit_code == 2 and "needs a note" in r.stderr
    r = cli("script", "review", "S0001", "--stage", "planning", "--reviewer", "策划-李")
    assert r.exit_code == 2 and "--approve" in r.stderr
    r = cli("script", "review", "S0099", "--stage", "planning", "--approve", "--reviewer", "策划-李")
    assert r.exit_code == 2 and "no such script" in r.stderr

    r = cli(
        "script",
        "review",
        "S0001",
        "--stage",
        "planning",
        "--reject",
        "--reviewer",
        "策划-李",
        "--note",
        "重写",
    )
    assert r.exit_code == 0 and "rejected" in r.stdout
    r = cli("script", "review", "S0001", "--stage", "operations", "--approve", "--reviewer", "运营-张")
    assert r.exit_code == 2 and "resubmit" in r.stderr


def test_cli_status_of_unknown_script_or_store_exits_2(cli, tmp_path):
    r = runner.invoke(app, ["script", "status", "S0001", "--db", str(tmp_path / "nothing.duckdb")])
    assert r.exit_code == 2 and "no such store" in r.stderr
    cli("script", "submit", write(tmp_path, "s.txt", CLEAN), "--title", "保温杯专场")
    r = cli("script", "status", "S0002")
    assert r.exit_code == 2 and "no such script" in r.stderr
