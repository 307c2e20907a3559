"""人工复核: a reviewer confirms or dismisses stored hits (audited); the verdicts become the room's own
labelled lines, which `rules eval` reads and the model trains on, so a dismissed false flag stops coming back."""

from __future__ import annotations

import csv
import io
import json

import duckdb
import pytest
from typer.testing import CliRunner

from liveops.cli import app as cli
from liveops.compliance import Lexicon, read_labelled
from liveops.compliance_model import default_model, project_model
from liveops.eventio import write_events
from liveops.simulate import SimConfig, simulate

runner = CliRunner()


@pytest.fixture(scope="module")
def room(tmp_path_factory):
    """A project directory with one ingested simulated show, its hits and the simulator's truth."""
    d = tmp_path_factory.mktemp("verdicts")
    res = simulate(SimConfig(viewers=3000, minutes=60, seed=5, sessions=1))
    write_events(res.events, d / "show.jsonl")
    db = str(d / "room.duckdb")
    r = runner.invoke(cli, ["ingest", str(d / "show.jsonl"), "--db", db])
    assert r.exit_code == 0, r.output
    r = runner.invoke(cli, ["compliance", "hits", "--db", db, "--format", "json"])
    assert r.exit_code == 0, r.output
    return d, db, json.loads(r.output), {v["event_id"]: v["category"] for v in res.truth["violations"]}


def _hits(db):
    return json.loads(runner.invoke(cli, ["compliance", "hits", "--db", db, "--format", "json"]).output)


@pytest.fixture(scope="module")
def judged(room):
    """A reviewer dismisses one of the model's flags on an ordinary transcript line and confirms a hit on
    an injected violation; the verdicts are then written as the project's labels file."""
    d, db, hits, truth = room
    false_flag = next(
        h
        for h in hits
        if h["rule"].startswith("model.") and h["kind"] == "transcript" and h["event_id"] not in truth
    )
    real = next(h for h in hits if truth.get(h["event_id"]) == h["category"])
    dismiss = runner.invoke(
        cli,
        ["compliance", "verdict", false_flag["hit_id"][:12], "--dismiss", "--reviewer", "张三", "--db", db]
        + ["--note", "口播互动，不是引流"],
    )
    confirm = runner.invoke(
        cli, ["compliance", "verdict", real["hit_id"], "--confirm", "--reviewer", "张三", "--db", db]
    )
    export = runner.invoke(cli, ["compliance", "labels", "--db", db, "--out", str(d / "liveops-labels.tsv")])
    return false_flag, real, (dismiss, confirm, export)


def test_reviewer_verdicts_are_stored_audited_and_become_labels(room, judged):
    d, db, _, _ = room
    false_flag, real, (dismiss, confirm, export) = judged
    assert dismiss.exit_code == 0 and "误报 dismissed" in dismiss.output, dismiss.output
    assert confirm.exit_code == 0 and "确认违规 confirmed" in confirm.output, confirm.output
    judged_now = {h["hit_id"]: (h["verdict"], h["reviewer"]) for h in _hits(db) if h["verdict"]}
    assert judged_now == {false_flag["hit_id"]: ("dismissed", "张三"), real["hit_id"]: ("confirmed", "张三")}
    con = duckdb.connect(db, read_only=True)
    logged = con.execute(
        "SELECT ref, payload FROM audit_log WHERE kind = 'hit_verdict' ORDER BY seq"
    ).fetchall()
    con.close()
    assert [ref for ref, _ in logged] == [false_flag["hit_id"], real["hit_id"]]
    assert json.loads(logged[0][1])["note"] == "口播互动，不是引流"
    assert runner.invoke(cli, ["audit", "verify", "--db", db]).exit_code == 0
    r = runner.invoke(cli, ["compliance", "verdicts", "--db", db, "--format", "json"])
    by_rule = {x["rule"]: (x["judged"], x["confirmed"], x["dismissed"]) for x in json.loads(r.output)}
    expect = {false_flag["rule"]: (1, 0, 1)}
    expect[real["rule"]] = (1, 1, 0) if real["rule"] != false_flag["rule"] else (2, 1, 1)
    assert by_rule == expect

    assert export.exit_code == 0, export.output
    assert "2 reviewed lines (1 violating, 1 compliant)" in export.output
    labels = dict(read_labelled(d / "liveops-labels.tsv"))
    assert labels == {false_flag["text"]: set(), real["text"]: {real["category"]}}


def test_the_review_report_shows_the_verdicts(room, judged):
    d, db, _, _ = room
    false_flag = judged[0]
    out = d / "review.html"
    r = runner.invoke(
        cli, ["report", "--db", db, "--session", false_flag["session_id"], "-o", str(out), "-q"]
    )
    assert r.exit_code == 0, r.output
    html = out.read_text(encoding="utf-8")
    assert "确认违规 confirmed 1 · 误报 dismissed 1" in html
    assert "<td>误报</td>" in html and "<td>确认违规</td>" in html


def test_the_project_model_learns_the_rooms_dismissals(room, judged, monkeypatch):
    """The project's model trains on its labels file beside the packaged lines: the dismissed line is no
    longer flagged, a textbook violation still is, and the packaged model is untouched."""
    d, _, _, _ = room
    false_flag = judged[0]
    monkeypatch.chdir(d)  # liveops.toml's default labels file is liveops-labels.tsv in the project
    cats = tuple(Lexicon.packaged().categories)
    j = cats.index(false_flag["category"])
    own, packaged = project_model(cats), default_model(cats)
    assert own is not packaged
    assert packaged.probabilities([false_flag["text"]])[0, j] >= packaged.threshold
    assert own.probabilities([false_flag["text"]])[0, j] < own.threshold
    assert (
        own.probabilities(["原价九百九十九 今天只要九十九 全网最低"])[0, cats.index("price_fraud")]
        >= own.threshold
    )


def test_bad_verdicts_are_refused_with_the_reason(room):
    _, db, hits, _ = room
    before = _hits(db)
    cases = [
        (["0123456789abcdef", "--dismiss"], "没有这条命中"),
        ([hits[0]["hit_id"][:6], "--dismiss"], "8–32"),
        ([hits[0]["hit_id"], "--dismiss", "--confirm"], "exactly one"),
        ([hits[0]["hit_id"]], "exactly one"),
        ([hits[0]["hit_id"], "--dismiss", "--reviewer", " "], "reviewer"),
    ]
    for args, reason in cases:
        r = runner.invoke(cli, ["compliance", "verdict", *args, "--db", db])
        said = "".join(r.output.split())  # the terminal wraps long lines
        assert r.exit_code != 0 and reason.replace(" ", "") in said, (args, r.output)
    assert _hits(db) == before


def test_labels_without_verdicts_is_a_clear_error(tmp_path):
    db = str(tmp_path / "empty.duckdb")
    res = simulate(SimConfig(viewers=500, minutes=10, seed=2, sessions=1))
    write_events(res.events, tmp_path / "s.jsonl")
    assert runner.invoke(cli, ["ingest", str(tmp_path / "s.jsonl"), "--db", db]).exit_code == 0
    r = runner.invoke(cli, ["compliance", "labels", "--db", db, "--out", str(tmp_path / "l.tsv")])
    assert r.exit_code != 0 and "no verdicts yet" in r.output
    assert not (tmp_path / "l.tsv").exists()


def test_a_broken_labels_file_is_named_and_loses_no_events(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "liveops-labels.tsv").write_text("words\tonly\n全网最低\t\n", encoding="utf-8")
    res = simulate(SimConfig(viewers=500, minutes=10, seed=3, sessions=1))
    write_events(res.events, tmp_path / "s.jsonl")
    db = str(tmp_path / "r.duckdb")
    r = runner.invoke(cli, ["ingest", "s.jsonl", "--db", db])
    said = "".join(r.output.split())  # the terminal wraps long lines
    assert r.exit_code == 0 and "liveops-labels.tsv" in said and "nothingscanned" in said, r.output
    con = duckdb.connect(db, read_only=True)
    assert con.execute("SELECT count(*) FROM events").fetchall()[0][0] == res.events.num_rows
    con.close()
    for args in (["compliance", "scan", "--db", db], ["check", "全网最低价"]):
        r = runner.invoke(cli, args)
        assert r.exit_code != 0 and "text与categories" in "".join(r.output.split()), (args, r.output)
    (tmp_path / "liveops-labels.tsv").unlink()  # fixed: the stored show is scanned then
    r = runner.invoke(cli, ["compliance", "scan", "--db", db])
    assert r.exit_code == 0 and "scanned" in r.output


def test_verdicts_from_a_filled_in_hits_sheet(tmp_path):
    """An analyst exports the hits (`--format csv`), fills in the verdict column and imports it: good rows
    are recorded, bad ones are named by line and reason, and a re-import changes nothing."""
    res = simulate(SimConfig(viewers=2000, minutes=30, seed=8, sessions=1, violation_rate=0.2))
    write_events(res.events, tmp_path / "s.jsonl")
    db = str(tmp_path / "r.duckdb")
    assert runner.invoke(cli, ["ingest", str(tmp_path / "s.jsonl"), "--db", db]).exit_code == 0
    sheet = runner.invoke(cli, ["compliance", "hits", "--db", db, "--format", "csv"]).output.splitlines()
    assert len(sheet) >= 4, sheet
    header = sheet[0].split(",")
    v = header.index("verdict")

    def filled(row: str, verdict: str) -> str:
        cells = next(csv.reader([row]))
        cells[v] = verdict
        buf = io.StringIO()
        csv.writer(buf, lineterminator="").writerow(cells)
        return buf.getvalue()

    rows = [sheet[0], filled(sheet[1], "误报"), filled(sheet[2], "maybe"), sheet[3]]  # the last left blank
    rows.append(filled(sheet[3], "confirmed").replace(next(csv.reader([sheet[3]]))[0], "0123456789abcdef", 1))
    path = tmp_path / "judged.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    r = runner.invoke(cli, ["compliance", "verdict", "--file", str(path), "--reviewer", "赵六", "--db", db])
    said = "".join(r.output.split())
    assert r.exit_code != 0 and "2条未记录" in said and "1recorded" in said, r.output
    assert "line3,verdict'maybe'" in said and "line5" in said and "nostoredhit" in said
    judged = [h for h in _hits(db) if h["verdict"]]
    assert [(h["hit_id"], h["verdict"], h["reviewer"]) for h in judged] == [
        (next(csv.reader([sheet[1]]))[0], "dismissed", "赵六")
    ]
    con = duckdb.connect(db, read_only=True)
    before = con.execute("SELECT count(*) FROM audit_log WHERE kind = 'hit_verdict'").fetchall()[0][0]
    con.close()
    path.write_text("\n".join(rows[:2]) + "\n", encoding="utf-8")
    r = runner.invoke(cli, ["compliance", "verdict", "--file", str(path), "--reviewer", "别人", "--db", db])
    assert r.exit_code == 0 and "unchanged" in r.output, r.output
    assert [h["reviewer"] for h in _hits(db) if h["verdict"]] == ["赵六"]  # who decided first is kept
    con = duckdb.connect(db, read_only=True)
    assert con.execute("SELECT count(*) FROM audit_log WHERE kind = 'hit_verdict'").fetchall()[0][0] == before
    con.close()


def test_labels_keep_the_lines_a_person_added(room, judged, tmp_path):
    """`compliance labels` rewrites only the lines it wrote from verdicts: lines a person added (a miss,
    say) are kept, win over a reviewed line with the same text, and a second run changes nothing."""
    _, db, _, _ = room
    false_flag, real = judged[0], judged[1]
    path = tmp_path / "labels.tsv"
    path.write_text(
        "text\tcategories\tkind\tnote\n"
        "加我v信 私下给你便宜\toff_platform\tdisguised\tmissed at ingest\n"
        f"{real['text']}\t{real['category']},absolute_claim\tplain\tlegal: two categories\n",
        encoding="utf-8",
    )
    r = runner.invoke(cli, ["compliance", "labels", "--db", db, "--out", str(path)])
    assert r.exit_code == 0 and "kept 2 lines of your own" in " ".join(r.output.split()), r.output
    first = path.read_text(encoding="utf-8")
    labels = dict(read_labelled(path))
    assert labels["加我v信 私下给你便宜"] == {"off_platform"}
    assert labels[real["text"]] == {real["category"], "absolute_claim"}  # the person's line stands
    assert labels[false_flag["text"]] == set()
    assert len(labels) == 3 and first.count(real["text"]) == 1
    assert runner.invoke(cli, ["compliance", "labels", "--db", db, "--out", str(path)]).exit_code == 0
    assert path.read_text(encoding="utf-8") == first

    notes = tmp_path / "notes.txt"  # not a labelled set: refused, and left as it was
    notes.write_text("my notes\n", encoding="utf-8")
    r = runner.invoke(cli, ["compliance", "labels", "--db", db, "--out", str(notes)])
    assert r.exit_code != 0 and "not a labelled set" in " ".join(r.output.split())
    assert notes.read_text(encoding="utf-8") == "my notes\n"


def test_a_hit_judged_twice_in_one_batch_keeps_the_last_verdict():
    from liveops import compliance_store as CS

    con = duckdb.connect()
    CS.ensure_tables(con)
    con.execute(
        "INSERT INTO compliance_hits SELECT md5(i::VARCHAR), 'e' || i, 's1', 'r1', now()::TIMESTAMP, 'transcript',"
        " NULL, NULL, '全网最低', 0, 4, '全网最低', 'abs.lowest_price', 'absolute_claim', 'block', '', '', 'v',"
        " now()::TIMESTAMP FROM range(3) t(i)"
    )
    hit = con.execute("SELECT hit_id FROM compliance_hits ORDER BY hit_id LIMIT 1").fetchall()[0][0]
    done, refused = CS.record_verdicts(
        con,
        [
            (hit, "dismissed", "甲", ""),
            (hit[:10], "confirmed", "乙", ""),
            ("ffffffffffff", "confirmed", "乙", ""),
        ],
    )
    assert len(done) == 2 and [(i, type(e)) for i, e in refused] == [(2, CS.UnknownHit)]
    assert con.execute("SELECT verdict, reviewer FROM compliance_verdicts").fetchall() == [
        ("confirmed", "乙")
    ]
    logged = con.execute("SELECT payload FROM audit_log WHERE kind = 'hit_verdict' ORDER BY seq").fetchall()
    assert [json.loads(p)["verdict"] for (p,) in logged] == ["dismissed", "confirmed"]
