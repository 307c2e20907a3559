"""The post-show review (复盘): HTML that opens offline, the Excel workbook, comment rules, suggestion rules."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import ibis
import openpyxl
import pandas as pd
import pytest
from typer.testing import CliRunner

from liveops.analysis import WeakStep
from liveops.api import Workspace
from liveops.cli import app
from liveops.comments import classify_comment, comment_summary, normalise_comment
from liveops.metrics import CATALOG
from liveops.report import SHEETS, build_review, render_html, write_html, write_xlsx
from liveops.store import EventLog
from liveops.suggest import BENCHMARKS, RULES, Suggestion, fmt, suggest

SECTION_TITLES = [
    "核心指标",
    "KPI summary",
    "在线人数与讲解",
    "每分钟成交",
    "GMV per minute",
    "转化漏斗",
    "五维四率",
    "流量来源",
    "Traffic sources",
    "商品表现",
    "讲解片段与留存",
    "观众提问与吐槽",
    "直播中告警",
    "Alerts during the show",
    "优化建议",
    "Suggestions",
]


@pytest.fixture
def ws(fixture_log) -> Workspace:
    return Workspace(fixture_log.events, fixture_log.products)


@pytest.fixture
def review(ws):
    return build_review(ws, "s1")


def _without_plotlyjs(text: str) -> str:
    from plotly.offline import get_plotlyjs

    js = get_plotlyjs()
    assert text.count(js) == 1, "plotly.js must be embedded exactly once"
    return text.replace(js, "")


class _Refs(HTMLParser):
    """Every src/href attribute of a real element (script bodies are not parsed as markup)."""

    def __init__(self) -> None:
        super().__init__()
        self.refs: list[tuple[str, str, str]] = []

    def handle_starttag(self, tag, attrs):
        self.refs += [(tag, k, v or "") for k, v in attrs if k in ("src", "href", "srcset", "data", "action")]
        if tag == "link":
            self.refs.append((tag, "link", dict(attrs).get("href") or ""))


def assert_offline(text: str) -> None:
    """No element loads anything external, and outside the embedded plotly.js bundle no URL at all."""
    p = _Refs()
    p.feed(text)
    assert not [r for r in p.refs if r[1] == "link"], "no <link> elements"
    external = [r for r in p.refs if re.match(r"\s*(https?:)?//", r[2], re.I)]
    assert not external, external
    assert all(r[2].startswith("#") for r in p.refs if r[1] == "href"), p.refs  # in-page anchors only
    assert not re.search(r"<script[^>]+src=", text, re.I), "no <script src=…>"
    rest = _without_plotlyjs(text).lower()
    for pat in ('src="http', "src='http", 'href="http', "href='http", "url(", "@import"):
        assert pat not in rest, pat
    assert "http://" not in rest and "https://" not in rest
    assert "cdn" not in rest


# ---------------------------------------------------------------------------------------------
# The review object


def test_review_fields(review):
    assert review.session_id == "s1" and review.room_id == "r1"
    assert review.title == "双十一专场" and review.streamer_id == "st1"
    assert review.prev_session_id is None and review.prev_metrics is None
    assert review.metrics["gmv"] == pytest.approx(150.50)
    assert review.metrics["uv"] == 4
    assert str(review.start_local.tz) == "Asia/Shanghai"
    assert f"{review.start_local:%H:%M}" == "20:00"  # 12:00 UTC
    assert len(review.timeline) == 11
    assert list(review.explain["product_id"]) == ["p1"]
    assert f"{review.explain['start'].iloc[0]:%H:%M:%S}" == "20:00:15"  # local, tz-naive
    assert review.comments.total == 1 and review.comments.n_questions == 1
    assert list(review.comments.questions["text"]) == ["多少钱"]
    rules = {s.rule for s in review.suggestions}
    assert {"opening_loss", "refund_high"} <= rules  # 75 % lost in 5 min; 33.6 % refunded
    assert "roi_low" not in rules and "watch_time_low" not in rules


def test_second_session_compares_with_the_first(ws):
    rv = build_review(ws, "s2")
    assert rv.prev_session_id == "s1"
    assert rv.prev_metrics["gmv"] == pytest.approx(150.50)
    assert rv.funnel.weakest is not None and rv.funnel.weakest.rate == "entry_exposure"
    rules = {s.rule for s in rv.suggestions}
    assert "funnel_weakest" in rules  # product exposure 0 % vs 75 % in s1
    assert "product_exposure_low" in rules
    fw = next(s for s in rv.suggestions if s.rule == "funnel_weakest")
    assert fw.baseline_kind == "trailing" and fw.baseline == pytest.approx(0.75)
    text = render_html(rv)
    assert "上一场 previous s1" in text
    assert "▼" in text and "▲" in text  # deltas vs the previous session


# ---------------------------------------------------------------------------------------------
# HTML


def test_html_is_offline_and_complete(review, tmp_path):
    out = write_html(review, tmp_path / "r.html")
    text = out.read_text(encoding="utf-8")
    assert_offline(text)
    assert text.startswith("<!DOCTYPE html>") or "<!DOCTYPE html>" in text[:2000]
    for title in SECTION_TITLES:
        assert title in text, title
    # KPI cards: GMV 150.50 and 4 viewers
    assert "¥150.50" in text
    assert re.search(r'data-key="gmv".*?<div class="val">¥150\.50</div>', text, re.S)
    assert re.search(r'data-key="uv".*?<div class="val">4</div>', text, re.S)
    assert re.search(r'data-key="conversion_rate".*?<div class="val">50\.00%</div>', text, re.S)
    # five charts, each drawn from inline data
    assert text.count('class="plotly-graph-div"') == 5
    assert text.count("Plotly.newPlot(") == 5
    # local time, funnel numbers, products, comments, suggestions
    assert "2026-11-24 20:00" in text and "Asia/Shanghai" in text
    assert "150" in text and "直播间曝光" in text and "点击-成交转化率" in text
    assert "p1" in text and "p2" in text
    assert "多少钱" in text
    assert 'data-rule="opening_loss"' in text and 'data-rule="refund_high"' in text
    assert "Noto Sans CJK SC" in text


def test_html_escapes_untrusted_text(ws, fixture_log, tmp_path):
    fixture_log.con.execute(
        "INSERT INTO events (event_id, ts, room_id, session_id, user_id, type, text) "
        "SELECT 'x1', ts + INTERVAL 5 SECOND, room_id, session_id, 'u9', 'comment', "
        "'<script>alert(1)</script>怎么买?' FROM events WHERE event_id = 'a14'"
    )
    fixture_log.con.execute(
        "INSERT INTO products VALUES ('p1', '<script>alert(2)</script>毛衣', 99.00, '服饰'), "
        "('p2', 'Tom & Jerry\"s <b>杯</b>', 19.90, NULL)"
    )
    rv = build_review(ws, "s1")
    assert rv.explain["name"].tolist() == ["<script>alert(2)</script>毛衣"]
    text = render_html(rv)
    body = _without_plotlyjs(text)
    assert "<script>alert(1)</script>" not in body and "alert(2)</script>" not in body
    assert "<b>杯</b>" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;怎么买" in body
    assert "&lt;script&gt;alert(2)&lt;/script&gt;毛衣" in body  # products table


# ---------------------------------------------------------------------------------------------
# Excel


def test_xlsx_sheets_rows_and_formats(review, tmp_path):
    out = write_xlsx(review, tmp_path / "r.xlsx")
    wb = openpyxl.load_workbook(out)
    assert wb.sheetnames == list(SHEETS.values())
    n_kpis = sum(1 for k in CATALOG if k in review.metrics)
    expected_rows = {
        "kpis": n_kpis,
        "timeline": 11,
        "funnel_steps": 5,
        "funnel_rates": 4,
        "by_source": len(review.funnel.by_source),
        "sources": len(review.sources),
        "products": 2,
        "segments": 1,
        "retention": 31,
        "comments": 1,
        "alerts": len(review.alerts),
        "suggestions": len(review.suggestions),
    }
    for key, n in expected_rows.items():
        assert wb[SHEETS[key]].max_row == n + 1, key  # + header row

    kpi = wb[SHEETS["kpis"]]
    rows = {r[0].value: r for r in kpi.iter_rows(min_row=2)}
    assert rows["gmv"][4].value == pytest.approx(150.50)
    assert "¥" in rows["gmv"][4].number_format
    assert rows["conversion_rate"][4].number_format == "0.00%"
    assert rows["uv"][4].value == 4
    assert kpi["A1"].font.bold

    tl = wb[SHEETS["timeline"]]
    assert tl["A1"].value.startswith("时间")
    first = tl["A2"].value
    assert first.tzinfo is None and (first.hour, first.minute) == (20, 0)  # local wall-clock time

    prod = wb[SHEETS["products"]]
    head = [c.value for c in prod[1]]
    gmv_col = head.index("成交金额 GMV")
    assert prod.cell(row=2, column=gmv_col + 1).value == pytest.approx(150.50)
    assert "¥" in prod.cell(row=2, column=gmv_col + 1).number_format

    seg = wb[SHEETS["segments"]]
    head = [c.value for c in seg[1]]
    start = seg.cell(row=2, column=head.index("开始 Start") + 1).value
    assert start.tzinfo is None and f"{start:%H:%M:%S}" == "20:00:15"

    com = wb[SHEETS["comments"]]
    assert [c.value for c in com[2]] == ["提问 question", "多少钱", 1]

    sug = wb[SHEETS["suggestions"]]
    titles = {sug.cell(row=r, column=2).value for r in range(2, sug.max_row + 1)}
    assert "开场留人不足" in titles


# ---------------------------------------------------------------------------------------------
# CLI end to end


def test_cli_report(fixture_log, tmp_path):
    db = fixture_log.path
    fixture_log.close()  # DuckDB locks a file per writing process
    html, xlsx = tmp_path / "cli.html", tmp_path / "cli.xlsx"
    r = CliRunner().invoke(
        app, ["report", "--db", db, "--session", "s1", "--out", str(html), "--xlsx", str(xlsx)]
    )
    assert r.exit_code == 0, r.output
    text = html.read_text(encoding="utf-8")
    assert_offline(text)
    assert "¥150.50" in text and "双十一专场" in text
    assert openpyxl.load_workbook(xlsx).sheetnames == list(SHEETS.values())


def test_cli_report_unknown_session(fixture_log, tmp_path):
    db = fixture_log.path
    fixture_log.close()
    r = CliRunner().invoke(
        app, ["report", "--db", db, "--session", "nope", "--out", str(tmp_path / "x.html")]
    )
    assert r.exit_code == 2
    assert not (tmp_path / "x.html").exists()


# ---------------------------------------------------------------------------------------------
# Comments


@pytest.mark.parametrize(
    ("text", "cls"),
    [
        ("多少钱?", "question"),
        ("这个多少钱", "question"),
        ("有S码吗", "question"),
        ("什么时候发货", "question"),
        ("还有货吗？", "question"),
        ("能退吗", "question"),  # a weak complaint word inside a question
        ("质量怎么样", "question"),
        ("抢不到怎么办", "question"),
        ("发货太慢了", "complaint"),  # 发货 is a question word, 慢 a complaint
        ("太贵了", "complaint"),
        ("退款还没到账", "complaint"),
        ("上次买的质量不好", "complaint"),
        ("是不是假货?", "complaint"),  # a strong complaint word wins over a question mark
        ("骗人的吧", "complaint"),
        ("画面一直卡", "complaint"),
        ("上次买过质量很好", None),  # praise
        ("好看", None),
        ("打卡", None),
        ("666", None),
        ("", None),
        (None, None),
    ],
)
def test_classify_comment(text, cls):
    assert classify_comment(text) == cls


def test_normalise_comment():
    assert normalise_comment(" 多少钱？？ ") == "多少钱"
    assert normalise_comment("包 邮 吗!") == "包邮吗"
    assert normalise_comment("OK啦～") == "ok啦"


def _comment_table(texts: list[str | None]) -> ibis.Table:
    n = len(texts)
    return ibis.memtable(
        pd.DataFrame(
            {
                "session_id": ["s"] * n,
                "type": ["comment"] * n,
                "text": texts,
                "user_id": [f"u{i}" for i in range(n)],
            }
        )
    )


def test_comment_summary_sql_matches_python_rules():
    texts = [
        "多少钱?",
        "多少钱",
        " 多少钱？？ ",
        "有S码吗",
        "发货太慢了",
        "发货太慢了!!",
        "太贵了",
        "能退吗",
        "质量很好",
        "666",
        "   ",
        None,
    ]
    cs = comment_summary(_comment_table(texts), "s", top=10)
    assert cs.total == 11  # null text is not a comment to classify; blank is counted but never listed
    assert cs.questions.to_dict("records")[0] == {"text": "多少钱", "count": 3}
    assert set(cs.questions["text"]) == {"多少钱", "有s码吗", "能退吗"}
    assert cs.complaints.to_dict("records") == [
        {"text": "发货太慢了", "count": 2},
        {"text": "太贵了", "count": 1},
    ]
    assert cs.n_questions == 5 and cs.n_complaints == 3
    # the SQL classification agrees with the Python mirror on every text
    for t in texts:
        if t and t.strip():
            want = classify_comment(t)
            key = normalise_comment(t)
            got = (
                "question"
                if key in set(cs.questions["text"])
                else "complaint"
                if key in set(cs.complaints["text"])
                else None
            )
            assert got == want, t


def test_comment_rules_on_the_simulator_phrase_bank():
    phrasebank = pytest.importorskip("liveops.phrasebank")
    pool = phrasebank.comment_pool(30)
    for intent in ("question", "complaint"):
        texts = [t for t, i, _ in pool if i == intent]
        hit = sum(classify_comment(t) == intent for t in texts) / len(texts)
        assert hit >= 0.95, (intent, hit)
    for intent in ("reaction", "spam"):
        texts = [t for t, i, _ in pool if i == intent]
        assert all(classify_comment(t) is None for t in texts), intent


# ---------------------------------------------------------------------------------------------
# Suggestion rules on crafted metric dicts

HEALTHY = {
    "exposure_entry_rate": 0.06,
    "lost_5min_rate": 0.30,
    "product_ctr": 0.25,
    "click_pay_rate": 0.25,
    "product_exposure_rate": 0.65,
    "interaction_rate": 0.10,
    "comment_rate": 0.03,
    "refund_rate": 0.05,
    "roi": 3.0,
    "ad_cost": 1000.0,
    "avg_watch_seconds": 150.0,
}


def rules_of(metrics, prev=None, **kw) -> dict[str, Suggestion]:
    return {s.rule: s for s in suggest(metrics, prev, **kw)}


def test_healthy_show_fires_nothing():
    assert rules_of(HEALTHY) == {}
    assert rules_of(HEALTHY, dict(HEALTHY)) == {}
    assert rules_of({}) == {}  # missing metrics never fire


def test_registry_has_every_rule():
    names = {r.__name__ for r in RULES}
    assert {
        "entry_rate_low",
        "opening_loss",
        "ctr_high_pay_low",
        "product_exposure_low",
        "interaction_low",
        "funnel_weakest",
        "refund_high",
        "roi_low",
        "segments_low_score",
        "watch_time_low",
    } <= names


def _only(rule: str, changes: dict, prev: dict | None = None, **kw) -> Suggestion:
    got = rules_of({**HEALTHY, **changes}, prev, **kw)
    assert set(got) == {rule}, set(got)
    s = got[rule]
    # every suggestion cites its metric, value and baseline
    assert fmt(s.metric, s.value) in s.text_zh and fmt(s.metric, s.baseline) in s.text_zh
    assert fmt(s.metric, s.value) in s.text_en and fmt(s.metric, s.baseline) in s.text_en
    assert s.action_zh and s.action_en and s.severity in ("high", "medium", "low")
    return s


def test_entry_rate_low_vs_benchmark_and_previous():
    s = _only("entry_rate_low", {"exposure_entry_rate": 0.01})
    assert s.baseline_kind == "benchmark" and s.baseline == BENCHMARKS["exposure_entry_rate"].value
    assert "1.00%" in s.text_zh and "3.20%" in s.text_zh and "封面" in s.action_zh
    assert s.severity == "high"
    # above the benchmark but a real drop vs the previous show
    s = _only("entry_rate_low", {"exposure_entry_rate": 0.05}, {**HEALTHY, "exposure_entry_rate": 0.08})
    assert s.baseline_kind == "previous" and s.baseline == pytest.approx(0.08)
    assert "上一场 8.00%" in s.text_zh
    # a small dip is noise
    assert "entry_rate_low" not in rules_of(
        {**HEALTHY, "exposure_entry_rate": 0.075}, {"exposure_entry_rate": 0.08}
    )


def test_opening_loss():
    s = _only("opening_loss", {"lost_5min_rate": 0.45})
    assert s.baseline == pytest.approx(0.40) and "开场" in s.action_zh and s.severity == "medium"
    assert _only("opening_loss", {"lost_5min_rate": 0.7}).severity == "high"
    assert "opening_loss" not in rules_of({**HEALTHY, "lost_5min_rate": 0.40})


def test_ctr_high_pay_low():
    s = _only("ctr_high_pay_low", {"product_ctr": 0.30, "click_pay_rate": 0.05})
    assert s.metric == "click_pay_rate" and "优惠券" in s.action_zh and "库存" in s.action_zh
    assert "30.00%" in s.note  # cites the CTR too
    # low CTR: a different problem, the rule stays quiet
    assert "ctr_high_pay_low" not in rules_of({**HEALTHY, "product_ctr": 0.05, "click_pay_rate": 0.05})
    assert "ctr_high_pay_low" not in rules_of({**HEALTHY, "product_ctr": 0.30, "click_pay_rate": 0.30})


def test_product_exposure_low():
    s = _only("product_exposure_low", {"product_exposure_rate": 0.20})
    assert "小黄车" in s.action_zh
    assert "product_exposure_low" not in rules_of({**HEALTHY, "product_exposure_rate": 0.55})


def test_interaction_low():
    s = _only("interaction_low", {"interaction_rate": 0.02})
    assert s.metric == "interaction_rate" and "福袋" in s.action_zh
    s = _only("interaction_low", {"comment_rate": 0.004})
    assert s.metric == "comment_rate" and s.baseline == pytest.approx(0.015)


def test_funnel_weakest():
    class F:
        baseline_sessions = ["a", "b", "c"]
        weakest = WeakStep("click_pay", "点击-成交转化率", "Click → purchase", 0.10, 0.20, -0.5)

    s = _only("funnel_weakest", {}, funnel=F())
    assert s.baseline_kind == "trailing" and s.metric == "click_pay_rate"
    assert "10.00%" in s.text_zh and "20.00%" in s.text_zh and "近期场次基线" in s.text_zh
    assert s.severity == "high" and "点击-成交转化率" in s.title_zh

    F.weakest = WeakStep("click_pay", "点击-成交转化率", "Click → purchase", 0.19, 0.20, -0.05)
    assert "funnel_weakest" not in rules_of(HEALTHY, funnel=F())
    F.weakest = None
    assert "funnel_weakest" not in rules_of(HEALTHY, funnel=F())


def test_refund_high():
    s = _only("refund_high", {"refund_rate": 0.30})
    assert "质量" in s.action_zh and s.baseline_kind == "benchmark"
    s = _only("refund_high", {"refund_rate": 0.08}, {**HEALTHY, "refund_rate": 0.02})
    assert s.baseline_kind == "previous"
    assert "refund_high" not in rules_of({**HEALTHY, "refund_rate": 0.05}, {**HEALTHY, "refund_rate": 0.045})


def test_roi_low_or_falling():
    s = _only("roi_low", {"roi": 1.2})
    assert s.baseline == pytest.approx(1.5) and "预算" in s.action_zh
    s = _only("roi_low", {"roi": 2.0}, {**HEALTHY, "roi": 3.0})
    assert s.baseline_kind == "previous" and s.title_zh == "投放ROI下滑"
    assert "roi_low" not in rules_of({**HEALTHY, "roi": None, "ad_cost": None})  # no paid traffic
    assert "roi_low" not in rules_of({**HEALTHY, "roi": 0.5, "ad_cost": 0})


def test_segments_low_score():
    seg = pd.DataFrame(
        {"segment": [1, 2, 3, 4], "product_id": ["p1", "p2", "p3", "p4"], "score": [20.0, 60.0, 80.0, 90.0]}
    )
    s = _only("segments_low_score", {}, segments=seg)
    assert s.value == 20 and s.baseline == 70 and s.baseline_kind == "show"
    assert s.items == ["#1 p1 (20)"] and "话术" in s.action_zh
    assert "segments_low_score" not in rules_of(HEALTHY, segments=seg.assign(score=[50.0, 60, 70, 80]))
    assert "segments_low_score" not in rules_of(HEALTHY, segments=seg.head(2))  # too few to rank


def test_watch_time_low():
    s = _only("watch_time_low", {"avg_watch_seconds": 45})
    assert s.baseline == 60 and "45s" in s.text_en
    assert "watch_time_low" not in rules_of({**HEALTHY, "avg_watch_seconds": 90})


def test_suggestions_sorted_by_severity():
    got = suggest({**HEALTHY, "lost_5min_rate": 0.8, "refund_rate": 0.2, "exposure_entry_rate": 0.03})
    order = {"high": 0, "medium": 1, "low": 2}
    assert [order[s.severity] for s in got] == sorted(order[s.severity] for s in got)
    assert {s.rule for s in got} == {"opening_loss", "refund_high", "entry_rate_low"}


# ---------------------------------------------------------------------------------------------
# A small simulated show (when the simulator is present)


def simulated_workspace(tmp_path: Path, viewers: int = 1500, minutes: int = 30) -> tuple[EventLog, Workspace]:
    sim = pytest.importorskip("liveops.simulate")
    import pyarrow.csv as pcsv

    res = sim.simulate(sim.SimConfig(viewers=viewers, minutes=minutes, seed=11, sessions=2))
    log = EventLog(tmp_path / "sim.duckdb")
    log.ingest_arrow(res.events)
    pcsv.write_csv(res.products, tmp_path / "products.csv")
    log.import_products(str(tmp_path / "products.csv"))
    return log, Workspace(log.events, log.products)


def test_simulated_show_review(tmp_path):
    log, ws = simulated_workspace(tmp_path)
    try:
        sid = ws.sessions().iloc[-1]["session_id"]
        rv = build_review(ws, sid)
        assert rv.prev_session_id is not None and rv.prev_metrics is not None
        assert len(rv.timeline) >= 30 and rv.timeline["online"].max() > 0
        assert len(rv.explain) > 0 and rv.explain["name"].notna().all()
        assert rv.comments.total > 0 and len(rv.comments.questions) > 0
        text = write_html(rv, tmp_path / "sim.html").read_text(encoding="utf-8")
        assert_offline(text)
        for title in SECTION_TITLES:
            assert title in text
        # explain windows are drawn as shaded rectangles labelled with product names
        assert text.count('"type":"rect"') >= len(rv.explain)
        assert str(rv.explain["name"].iloc[0])[:5] in text
        wb = openpyxl.load_workbook(write_xlsx(rv, tmp_path / "sim.xlsx"))
        assert wb[SHEETS["products"]].max_row == len(rv.products) + 1
        assert wb[SHEETS["timeline"]].max_row == len(rv.timeline) + 1
    finally:
        log.close()
