"""`liveops check` and `liveops rules`: the contract's JSON shape and exit codes, bad input, user rules,
lexicon releases."""

from __future__ import annotations

import json
import textwrap
from importlib import resources

import yaml
from typer.testing import CliRunner

from liveops.cli import app as cli
from liveops.compliance import Lexicon
from liveops.store import EventLog

runner = CliRunner()
HIT_KEYS = {"start", "end", "matched", "rule", "category", "severity", "law", "suggestion"}


def test_check_text_json_contract_and_exit_code():
    r = runner.invoke(cli, ["check", "这款面霜是全网最低价，想要的加威信", "--format", "json"])
    assert r.exit_code == 3
    rows = json.loads(r.output)
    assert len(rows) == 1 and rows[0]["text"] == "这款面霜是全网最低价，想要的加威信"
    hits = rows[0]["hits"]
    assert hits and all(set(h) >= HIT_KEYS for h in hits)
    text = rows[0]["text"]
    assert all(text[h["start"] : h["end"]] == h["matched"] for h in hits)
    assert {"absolute_claim", "off_platform"} <= {h["category"] for h in hits}
    clean = runner.invoke(cli, ["check", "上第一个链接，最多拍两件", "--format", "json"])
    assert clean.exit_code == 0 and json.loads(clean.output) == [
        {"text": "上第一个链接，最多拍两件", "hits": []}
    ]


def test_check_file_one_object_per_line_bad_lines_kept(tmp_path):
    long = "好" * 2100 + "国家级品质"
    f = tmp_path / "lines.txt"
    f.write_bytes(
        "欢迎来到直播间\n\n".encode()
        + "治疗".encode()
        + b"\xff"
        + "湿疹\n".encode()  # one bad byte inside the line
        + (long + "\r\n").encode()
        + "最*好的面霜\n".encode()
    )
    r = runner.invoke(cli, ["check", "--file", str(f), "--format", "json"])
    assert r.exit_code == 3
    rows = json.loads(r.output)
    assert len(rows) == 5  # every line, in order, none dropped
    assert rows[0] == {"text": "欢迎来到直播间", "hits": []}
    assert "empty line" in rows[1]["warning"]
    assert "UTF-8" in rows[2]["warning"] and rows[2]["hits"]  # the good part is still checked
    assert "2000" in rows[3]["warning"] and rows[3]["hits"][0]["start"] == 2100
    assert rows[4]["hits"][0]["matched"] == "最*好"


def test_check_usage_errors():
    assert runner.invoke(cli, ["check"]).exit_code == 2
    r = runner.invoke(cli, ["check", "--file", "/no/such/file"])
    assert r.exit_code == 2 and "cannot read" in r.output


def test_check_table_output():
    r = runner.invoke(cli, ["check", "这是最好的羽绒服"])
    assert r.exit_code == 3 and "拦截" in r.output and "lines with a block hit 1" in r.output


def test_rules_list_and_test():
    r = runner.invoke(cli, ["rules", "list", "--format", "json"])
    data = json.loads(r.output)
    assert data["patterns"] >= 300 and data["rules"] and data["allow"]
    assert {"id", "category", "severity", "law", "source", "date"} <= set(data["rules"][0])
    r = runner.invoke(cli, ["rules", "test", "我们家最新款，最 最 好的"])
    assert "归一化 normalised" in r.output and "放行 cleared" in r.output and "命中 hit" in r.output
    assert r.exit_code == 3
    assert data["context"]["categories"]["vulgar"] == ["mention", "refutation", "title"]
    assert "不" in data["context"]["cues"]["negation"]
    r = runner.invoke(cli, ["rules", "test", "我可不敢说全网最低"])
    assert r.exit_code == 0 and "context.negation（否定）" in r.output.replace("\n", "")


def test_user_rules_from_the_project_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "liveops-rules.yaml").write_text(
        textwrap.dedent(
            """
            rules:
              - {id: mine.rival, category: absolute_claim, severity: block, patterns: [吊打友商], law: 广告法第十三条, explanation: 贬低同行, suggestion: 只比较自己的参数}
            allow_words: [第一坊]
            """
        ),
        encoding="utf-8",
    )
    r = runner.invoke(cli, ["check", "我们吊打友商，第一坊出品", "--format", "json"])
    hits = json.loads(r.output)[0]["hits"]
    assert [h["rule"] for h in hits] == ["mine.rival"] and r.exit_code == 3
    (tmp_path / "liveops-rules.yaml").write_text("rules: [{id: x, category: nope}]\n", encoding="utf-8")
    r = runner.invoke(cli, ["check", "你好"])
    assert r.exit_code == 2 and "unknown category" in r.output


def test_rules_eval_on_a_labelled_file(tmp_path):
    f = tmp_path / "set.tsv"
    f.write_text(
        "text\tcategories\n这是全网最低价\tabsolute_claim,price_fraud\n上第一个链接\t\n", encoding="utf-8"
    )
    r = runner.invoke(cli, ["rules", "eval", str(f), "--format", "json"])
    data = json.loads(r.output)
    by = {s["category"]: s for s in data["scores"]}
    assert (
        data["lines"] == 2 and by["price_fraud"]["recall"] == 1.0 and by["absolute_claim"]["precision"] == 1.0
    )


def test_rules_update_reports_changes_and_refuses_older(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    current = Lexicon.packaged()
    data = yaml.safe_load(
        resources.files("liveops").joinpath("compliance_lexicon.yaml").read_text(encoding="utf-8")
    )
    data["version"] = current.version + ".9"
    data["rules"][0]["patterns"].append("宇宙无敌款")
    removed = data["rules"].pop(1)["id"]
    data["rules"].append(
        {
            "id": "abs.new_rule",
            "category": "absolute_claim",
            "severity": "review",
            "patterns": ["天花板级别"],
            "law": "广告法第九条",
            "explanation": "新增",
            "suggestion": "删除",
            "source": "test",
            "date": "2026-11-25",
        }
    )
    newer = tmp_path / "newer.yaml"
    newer.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    db = tmp_path / "s.duckdb"
    EventLog(db).close()
    r = runner.invoke(cli, ["rules", "update", str(newer), "--db", str(db)])
    assert r.exit_code == 0, r.output
    assert "abs.new_rule" in r.output and removed in r.output and "+宇宙无敌款" in r.output
    assert (tmp_path / "liveops-lexicon.yaml").is_file()
    r = runner.invoke(cli, ["check", "天花板级别的口红", "--format", "json"])
    assert [h["rule"] for h in json.loads(r.output)[0]["hits"]] == ["abs.new_rule"]
    r = runner.invoke(cli, ["rules", "update", str(newer), "--db", str(db)])  # same version again
    assert r.exit_code == 2 and "not newer" in r.output
    r = runner.invoke(cli, ["audit", "log", "--db", str(db), "--kind", "lexicon_update", "--format", "json"])
    assert [x["ref"] for x in json.loads(r.output)] == [data["version"]]
