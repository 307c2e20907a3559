"""The compliance scanner: normalisation, spans, allow-list, qualifiers, user rules, bad input.

Engine behaviour is specified on a small lexicon written here, so each test says exactly which rule
should fire; the packaged lexicon is measured in test_compliance_quality.py.
"""

from __future__ import annotations

import textwrap

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from liveops.compliance import (
    Lexicon,
    LexiconError,
    Scanner,
    diff_lexicons,
    normalise,
    scan,
    version_newer,
)

LEXICON = textwrap.dedent(
    r"""
    version: "2026.01.01"
    released: 2026-01-01
    categories:
      absolute_claim: {zh: 绝对化用语, en: Absolute claims, exemptable: true, law: 广告法第五十七条, fine_min: 200000, fine_max: 1000000}
      medical_claim: {zh: 医疗功效, en: Medical claims, exemptable: false, law: 广告法第五十八条, fine_min: 100000, fine_max: 200000}
      price_fraud: {zh: 价格违法, en: Price fraud, exemptable: true, law: 价格法, fine_min: 50000, fine_max: 500000}
      off_platform: {zh: 站外交易, en: Off-platform, exemptable: true, law: 办法, fine_min: 0, fine_max: 100000}
    homophones:
      微: [威, 薇, v]
      信: [芯, 心, x]
    rules:
      - {id: abs.best, category: absolute_claim, severity: block, patterns: [最好, 最佳], law: 广告法第九条, explanation: 绝对化, suggestion: 删除最高级}
      - {id: abs.first, category: absolute_claim, severity: block, qualifiable: true, patterns: [第一, no1, top1], law: 广告法第九条, explanation: 排名, suggestion: 注明时间与来源}
      - {id: abs.lowest, category: absolute_claim, severity: block, patterns: [全网最低价], law: 广告法第九条, explanation: 最低价, suggestion: 直播间专享价}
      - {id: med.cure, category: medical_claim, severity: block, pinyin: true, patterns: [治疗, 最好治疗], regex: ['(?<!没有)(?<!不是)根治\w{0,4}病'], law: 广告法第十七条, explanation: 医疗用语, suggestion: 日常护理}
      - {id: price.lowest, category: price_fraud, severity: review, patterns: [最低价, 全网最低价], law: 价格法第十四条, explanation: 价格比较, suggestion: 写明依据}
      - {id: off.wechat, category: off_platform, severity: block, homophones: true, patterns: [加微信], regex: ['1[3-9]\d{9}'], law: 办法第十八条, explanation: 私下交易, suggestion: 平台内下单}
    allow:
      - {id: allow.order, patterns: [第一次, 第一个链接, 第一时间], reason: 时间顺序}
      - {id: allow.self, patterns: [我们家最], reason: 自我比较}
      - {id: allow.tip, patterns: [最佳食用期], reason: 消费提示}
    qualifiers:
      patterns: [截至, 数据来源]
      regex: ['20\d\d年']
    """
)


@pytest.fixture(scope="module")
def scanner(tmp_path_factory) -> Scanner:
    p = tmp_path_factory.mktemp("lex") / "lex.yaml"
    p.write_text(LEXICON, encoding="utf-8")
    return Scanner(Lexicon.from_file(p))


def hits(scanner: Scanner, text: str) -> list[tuple[str, str, str]]:
    return [(h.matched, h.rule, h.severity) for h in scanner.scan([text])[0].hits]


# -- seeing through disguises: every variant hits, and the span is the disguised text itself -----


@pytest.mark.parametrize(
    "text, matched",
    [
        ("这是最好的面霜", "最好"),
        ("这是最*好的面霜", "最*好"),
        ("这是最 好的面霜", "最 好"),
        ("这是最✨好的面霜", "最✨好"),
        ("这是最最最好的面霜", "最最最好"),
        ("這是最好的面霜", "最好"),
        ("全网第一", "第一"),
        ("全网第1", "第1"),
        ("全网第壹", "第壹"),
        ("全网第１", "第１"),
        ("销量NO.1的单品", "NO.1"),
        ("销量ｎｏ．１的单品", "ｎｏ．１"),
        ("TOP1爆款", "TOP1"),
    ],
)
def test_disguised_absolute_terms_hit_with_original_spans(scanner, text, matched):
    r = scanner.scan([text])[0]
    assert [h.matched for h in r.hits] == [matched]
    h = r.hits[0]
    assert text[h.start : h.end] == matched
    assert h.category == "absolute_claim" and h.severity == "block"


@pytest.mark.parametrize(
    "text", ["加微信", "加威信", "加薇❤", "加 V 信", "加v x", "➕微信", "加微-信", "加威芯"]
)
def test_contact_word_homophones(scanner, text):
    assert [r for _, r, _ in hits(scanner, text)] == ["off.wechat"]


@pytest.mark.parametrize(
    "text", ["能zhiliao湿疹", "能zhi疗湿疹", "能治liao湿疹", "能 zhi liao 湿疹", "能zhìliáo湿疹"]
)
def test_pinyin_spellings_of_a_rule_with_pinyin(scanner, text):
    assert [r for _, r, _ in hits(scanner, text)] == ["med.cure"]
    assert hits(scanner, "zhiliaoxyz") == []  # not inside a longer Latin word


def test_regex_with_leading_lookbehind_keeps_its_meaning(scanner):
    assert [m for m, _, _ in hits(scanner, "坚持喝能根治胃病")] == ["根治胃病"]
    assert hits(scanner, "这个不是根治胃病的药，没有根治胃病的说法") == []


def test_regex_literals_are_read_as_normalised_text(tmp_path):
    """A rule's regex is written in plain Chinese; numerals and repeats in it match as the text's do
    (三高 → 3高, 爸爸妈妈 → 爸妈)."""
    p = tmp_path / "lex.yaml"
    extra = r"根治\w{0,4}病', '改善三高', '陆军专用', '让爸爸妈妈买']"
    p.write_text(LEXICON.replace(r"根治\w{0,4}病']", extra), encoding="utf-8")
    found = Scanner(Lexicon.from_file(p)).scan(["喝了能改善三高", "陸軍專用水壺", "快让爸爸妈妈买"])
    assert [[(h.matched, h.rule) for h in r.hits] for r in found] == [
        [("改善三高", "med.cure")],
        [("陸軍專用", "med.cure")],
        [("让爸爸妈妈买", "med.cure")],
    ]


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="到店上门拍完再收钱不返现好评", max_size=40))
def test_a_regex_tried_only_at_its_leads_finds_what_finditer_finds(text):
    """The automaton gives the positions of a regex's leading literals; trying the regex only there
    must find exactly the matches a full scan finds."""
    import numpy as np

    from liveops.compliance import _Regex

    for pattern in ["(?:到店|上门|拍完)[\u4e00-\u9fff]{0,3}?再收", "(?<=不)返现", "(?:好评|差评)(?:不)?返现"]:
        rx = _Regex(pattern)
        assert rx.leads
        starts = sorted({i for lead in rx.leads for i in range(len(text)) if text.startswith(lead, i)})
        assert rx.spans(text, np.array(starts, dtype=np.int64)) == rx.spans(text)


def test_phone_number_regex_on_normalised_text(scanner):
    r = scanner.scan(["有事打 138-1234-5678 找我"])[0]
    assert [(h.rule, h.matched) for h in r.hits] == [("off.wechat", "138-1234-5678")]


def test_latin_and_digit_edges(scanner):
    assert hits(scanner, "TOP10榜单") == []  # top1 is not inside top10
    assert hits(scanner, "第10个") == []
    assert hits(scanner, "第一百个") == []
    assert hits(scanner, "stop1") == []  # top1 inside a longer Latin word
    assert [r for _, r, _ in hits(scanner, "冲TOP1")] == ["abs.first"]


def test_normalise_is_applied_to_patterns_and_text_alike():
    assert normalise("Ｗ Ｘ：１２３") == "wx123"
    assert normalise("這個最最最好！！") == "这个最好"
    assert normalise("第一") == normalise("第1") == normalise("第壹") == "第1"
    assert normalise("13800001111，100%") == "13800001111100%"  # digit runs are numbers: never collapsed
    assert normalise("薇❤") == "薇心"
    assert normalise("全网最dī") == "全网最di" and normalise("lǜ色") == "lv色"  # pinyin spells ü as v
    assert normalise("叁佰") == normalise("三百") == "3百"
    assert normalise("❶❸❾⓿ ➊➋") == "139012"  # circled digits spell phone numbers
    assert normalise("傻🐶主播") == "傻狗主播" and normalise("最✨好") == "最好"  # emoji for a word vs noise


# -- context: allow-list first, but never for medical claims ------------------------------------


@pytest.mark.parametrize(
    "text",
    ["第一次来直播间", "上第一个链接", "下次开播第一时间通知你", "最佳食用期三个月", "我们家最好的一款"],
)
def test_allow_list_clears_context(scanner, text):
    r = scanner.scan([text])[0]
    assert r.hits == []
    assert r.cleared and r.cleared[0].allowed_by.startswith("allow.")


def test_medical_claims_never_pass_by_context(scanner):
    assert hits(scanner, "我们家最好治疗湿疹") == [("最好治疗", "med.cure", "block")]


def test_qualifier_lowers_block_to_review(scanner):
    assert hits(scanner, "2025年双11类目销量第一") == [("第一", "abs.first", "review")]
    assert hits(scanner, "销量第一，数据来源：平台榜单") == [("第一", "abs.first", "review")]
    assert hits(scanner, "销量第一") == [("第一", "abs.first", "block")]


def test_nested_matches_keep_the_outermost_per_category(scanner):
    # 全网最低价 is an absolute claim and a price claim; within each category the longer match wins
    got = sorted(hits(scanner, "全网最低价"))
    assert got == [("全网最低价", "abs.lowest", "block"), ("全网最低价", "price.lowest", "review")]


def test_partly_overlapping_matches_of_one_category_become_one_hit():
    import numpy as np

    from liveops.compliance import HitColumns, _merge_overlaps

    # line 0: 能治 [0,1] and 治疗 [1,2] (medical, cat 1) overlap; 湿疹 [3,4] does not; 最好 [0,1] is cat 0
    h = HitColumns(
        *(np.array(x) for x in ([0, 0, 0, 0], [0, 1, 3, 0], [1, 2, 4, 1], [7, 8, 9, 3], [1, 0, 1, 0]))
    )
    m = _merge_overlaps(h, np.array([1, 1, 1, 0]))
    got = sorted(zip(m.start.tolist(), m.end.tolist(), m.rule.tolist(), m.severity.tolist(), strict=True))
    assert got == [
        (0, 1, 3, 0),
        (0, 2, 7, 0),
        (3, 4, 9, 1),
    ]  # merged span, first longest rule, worst severity


# -- batches: scanning many texts at once equals scanning each -----------------------------------


def test_batch_equals_one_by_one(scanner):
    texts = ["最好", "", "第一次来", "加威信\n13812345678", "全网最低价", "正常的话", "最*好"]
    batch = scanner.scan(texts)
    assert [r.hits for r in batch] == [scanner.scan([t])[0].hits for t in texts]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.text(
            alphabet=st.sampled_from(list("最好第一二1零加微信威心 .*✨TOPno治疗全网低价\n截至年")),
            max_size=30,
        ),
        max_size=8,
    )
)
def test_property_spans_are_valid_and_batch_independent(texts):
    sc = _property_scanner()
    batch = sc.scan(texts)
    for t, r in zip(texts, batch, strict=True):
        for h in r.hits:
            assert 0 <= h.start < h.end <= len(t)
            assert t[h.start : h.end] == h.matched
            assert normalise(h.matched)  # a hit is never only noise
        assert r.hits == sc.scan([t])[0].hits


_PROP: list[Scanner] = []


def _property_scanner() -> Scanner:
    if not _PROP:
        import tempfile
        from pathlib import Path

        p = Path(tempfile.mkdtemp()) / "lex.yaml"
        p.write_text(LEXICON, encoding="utf-8")
        _PROP.append(Scanner(Lexicon.from_file(p)))
    return _PROP[0]


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(["最好", "治疗", "加微信", "全网最低价"]),
    st.lists(st.sampled_from([" ", "*", "✨", "、", "-", "~", "\u200b", "\ufe0f"]), min_size=1, max_size=4),
    st.text(alphabet="今天的衣服很漂亮", max_size=6),
)
def test_property_noise_between_characters_is_seen_through(word, noise, prefix):
    disguised = (
        noise[0].join(word)
        if len(noise) == 1
        else "".join(c + noise[i % len(noise)] for i, c in enumerate(word))
    )
    text = prefix + disguised
    r = _property_scanner().scan([text])[0]
    assert r.hits, text
    assert any(normalise(h.matched) == normalise(word) for h in r.hits)


# -- bad input -----------------------------------------------------------------------------------


def test_bad_input_is_reported_and_still_scanned(scanner):
    long = "好" * 2500 + "最好"
    broken = b"\xff\xfe\xe6\x9c\x80\xe5\xa5\xbd".decode(
        "utf-8", "surrogateescape"
    )  # two bad bytes, then 最好
    res = scanner.scan([None, "", long, broken])
    assert "not a text" in res[0].error and res[0].hits == []
    assert res[1].error is None and res[1].hits == []
    assert "2000" in res[2].error and [h.matched for h in res[2].hits] == ["最好"]
    assert res[2].hits[0].start == 2500
    assert "UTF-8" in res[3].error and [h.matched for h in res[3].hits] == ["最好"]
    assert res[3].text == "\ufffd\ufffd最好"


# -- lexicon files: clear errors, user rules, releases ------------------------------------------


@pytest.mark.parametrize(
    "patch, message",
    [
        ("category: absolute_claim", "unknown category"),
        ("severity: block", "severity must be one of"),
        ("patterns: [最好, 最佳]", "shorter than 2 characters"),
        ("regex: ['1[3-9]\\d{9}']", "invalid regex"),
    ],
)
def test_lexicon_errors_name_the_rule_and_field(tmp_path, patch, message):
    bad = {
        "category: absolute_claim": "category: nonsense",
        "severity: block": "severity: fatal",
        "patterns: [最好, 最佳]": "patterns: [最好, 最最]",
        "regex: ['1[3-9]\\d{9}']": "regex: ['1[3-9']",
    }[patch]
    p = tmp_path / "lex.yaml"
    p.write_text(LEXICON.replace(patch, bad, 1), encoding="utf-8")
    with pytest.raises(LexiconError, match=message) as e:
        Lexicon.from_file(p)
    assert str(p) in str(e.value)


def test_a_rule_yields_to_the_category_that_names_the_violation(tmp_path):
    """yields_to: 批发价 beside 加微信 is the off-platform deal — the price hit stays visible as warn with the
    reason, the line stays flagged under off_platform; without an off-platform hit the price rule flags as
    before. A rule may not yield to its own or an unknown category."""
    p = tmp_path / "lex.yaml"
    p.write_text(
        LEXICON.replace(
            "\nallow:\n",
            "\n  - {id: price.wholesale, category: price_fraud, severity: review, yields_to: [off_platform], "
            "patterns: [批发价], law: 价格法, explanation: 价格用语, suggestion: 写明依据}\nallow:\n",
            1,
        ),
        encoding="utf-8",
    )
    sc = Scanner(Lexicon.from_file(p))
    lured, plain = sc.scan(["要批发价的加微信", "今天直接给大家批发价"])
    assert lured.flagged == {"off_platform"}
    (price,) = [h for h in lured.hits if h.category == "price_fraud"]
    assert price.severity == "warn" and "并入同句另一类违规" in price.explanation
    assert plain.flagged == {"price_fraud"}
    for bad in ("[price_fraud]", "[nonsense]"):
        p.write_text(
            p.read_text(encoding="utf-8").replace("yields_to: [off_platform]", f"yields_to: {bad}"), "utf-8"
        )
        with pytest.raises(LexiconError, match="yields_to"):
            Lexicon.from_file(p)
        p.write_text(
            p.read_text(encoding="utf-8").replace(f"yields_to: {bad}", "yields_to: [off_platform]"), "utf-8"
        )


def test_duplicate_rule_id_is_refused(tmp_path):
    lex = tmp_path / "lex.yaml"
    lex.write_text(LEXICON, encoding="utf-8")
    user = tmp_path / "mine.yaml"
    user.write_text(
        "rules:\n  - {id: abs.best, category: absolute_claim, severity: warn, patterns: [顶配], law: x, explanation: y, suggestion: z}\n",
        encoding="utf-8",
    )
    with pytest.raises(LexiconError, match="duplicate rule id 'abs.best'"):
        Lexicon.load(lex, user)


def test_user_rules_and_allow_words(tmp_path):
    lex = tmp_path / "lex.yaml"
    lex.write_text(LEXICON, encoding="utf-8")
    user = tmp_path / "mine.yaml"
    user.write_text(
        textwrap.dedent(
            """
            rules:
              - {id: mine.rival, category: absolute_claim, severity: review, patterns: [吊打], law: 广告法第十三条, explanation: 贬低同行, suggestion: 只比自己的参数}
            allow_words: [最好喝牌, 第一坊]
            """
        ),
        encoding="utf-8",
    )
    sc = Scanner(Lexicon.load(lex, user))
    assert hits(sc, "我们吊打别家") == [("吊打", "mine.rival", "review")]
    assert hits(sc, "最好喝牌奶茶") == []  # a registered trademark containing 最好
    assert hits(sc, "第一坊的点心") == []
    assert hits(sc, "最好的点心") == [("最好", "abs.best", "block")]
    with pytest.raises(LexiconError, match="unknown field"):
        (tmp_path / "bad.yaml").write_text("rulez: []\n", encoding="utf-8")
        Lexicon.load(lex, tmp_path / "bad.yaml")


def test_release_diff_and_version_order(tmp_path):
    p1, p2 = tmp_path / "a.yaml", tmp_path / "b.yaml"
    p1.write_text(LEXICON, encoding="utf-8")
    newer = LEXICON.replace('version: "2026.01.01"', 'version: "2026.02.01"').replace(
        "patterns: [最好, 最佳]", "patterns: [最好, 最佳, 最优]"
    )
    newer = newer.replace(
        "  - {id: abs.lowest",
        "  - {id: abs.only, category: absolute_claim, severity: block, patterns: [唯一], law: 广告法第九条, explanation: e, suggestion: s}\n  - {id: abs.lowest",
    )
    p2.write_text(newer, encoding="utf-8")
    d = diff_lexicons(Lexicon.from_file(p1), Lexicon.from_file(p2))
    assert d.added == ["abs.only"] and d.removed == []
    assert d.changed == {"abs.best": ["patterns +最优"]}
    assert version_newer("2026.02.01", "2026.01.01")
    assert version_newer("2026.11.25.1", "2026.11.25")
    assert not version_newer("2026.1.1", "2026.01.01")


def test_packaged_lexicon_loads_and_scan_uses_it():
    lex = Lexicon.packaged()
    assert lex.pattern_count >= 300
    assert {"absolute_claim", "medical_claim", "price_fraud", "off_platform", "false_data", "vulgar"} <= set(
        lex.categories
    )
    for r in lex.rules:
        assert r.law and r.source and r.date, r.id
    assert scan(["这是全网最低价"])[0].blocked
