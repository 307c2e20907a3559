"""The n-gram model beside the lexicon: review hits only, whole-line spans, never a second hit for a
category the lexicon already flagged; at ingest it reads transcripts and (as a viewer's) comments."""

from __future__ import annotations

import json
import os

import numpy as np
from typer.testing import CliRunner

from liveops import compliance_model
from liveops.cli import app as cli
from liveops.compliance import Lexicon, default_scanner
from liveops.compliance_model import VIEWER_TAG, ModelScanner, TextModel, default_model

runner = CliRunner()

TRAIN = [
    ("运营自己下单把成交额撑上去", {"false_data"}),
    ("让小号都去下单把数据做好看", {"false_data"}),
    ("找人下几十单把销量撑起来", {"false_data"}),
    ("今天的羊毛大衣很暖和", set()),
    ("这件外套有三个颜色", set()),
    ("包邮到家，七天无理由", set()),
]


def test_a_small_model_learns_and_only_adds_review_hits():
    lex = Lexicon.packaged()
    m = TextModel.train(TRAIN, list(lex.categories))
    p = m.probabilities(["让运营自己下单撑成交额", "这件大衣有两个颜色"])
    j = m.categories.index("false_data")
    assert p[0, j] > p[1, j]
    m.threshold = (p[0, j] + p[1, j]) / 2
    hits = m.review_hits(["让运营自己下单撑成交额", "这件大衣有两个颜色"], [set(), set()], lex)
    assert [(h.rule, h.severity, h.start, h.end) for h in hits[0]] == [("model.false_data", "review", 0, 11)]
    assert hits[1] == []
    # a category the lexicon already flagged gets no second hit from the model
    assert m.review_hits(["让运营自己下单撑成交额"], [{"false_data"}], lex) == [[]]
    again = TextModel.train(TRAIN, list(lex.categories)).probabilities(["让运营自己下单撑成交额"])
    assert np.allclose(again, m.probabilities(["让运营自己下单撑成交额"]))  # training is deterministic


def test_a_comment_is_read_as_a_viewers_and_needs_more_certainty():
    lex = Lexicon.packaged()
    m = TextModel.train([*TRAIN, ("弹幕：让运营自己下单撑成交额吧", {"false_data"})], list(lex.categories))
    line = "让运营自己下单撑成交额"
    j = m.categories.index("false_data")
    assert m.probabilities([VIEWER_TAG + line])[0, j] != m.probabilities([line])[0, j]  # the tag is read
    m.threshold = m.viewer_threshold = 0.01
    assert [h.rule for h in m.review_hits([line], [set()], lex, [True])[0]] == ["model.false_data"]
    m.viewer_threshold = 1.01  # never sure enough for a comment; a transcript line is still flagged
    assert m.review_hits([line, line], [set(), set()], lex, [True, False]) == [
        [],
        m.review_hits([line], [set()], lex)[0],
    ]
    assert m.review_hits([line], [set()], lex)[0]


def test_model_scanner_keeps_lexicon_hits_and_never_blocks():
    sc = ModelScanner(default_scanner())
    texts = ["这是全网最低价", "今天的直播就到这里，晚安", "运营再自己拍五十单把成交额撑起来"]
    plain = default_scanner().scan(texts)
    both = sc.scan(texts)
    for a, b in zip(plain, both, strict=True):
        assert b.hits[: len(a.hits)] == a.hits
        extra = b.hits[len(a.hits) :]
        assert all(h.severity == "review" and h.rule.startswith("model.") for h in extra)
        assert not ({h.category for h in extra} & {h.category for h in a.hits if h.severity != "warn"})
    assert both[1].hits == []


def test_check_cli_model_switch():
    line = "运营再自己拍五十单把成交额撑起来"
    with_model = json.loads(runner.invoke(cli, ["check", line, "--format", "json"]).output)[0]["hits"]
    without = json.loads(runner.invoke(cli, ["check", line, "--format", "json", "--no-model"]).output)[0][
        "hits"
    ]
    assert [h for h in with_model if not h["rule"].startswith("model.")] == without
    assert default_model(tuple(Lexicon.packaged().categories)) is default_model(
        tuple(Lexicon.packaged().categories)
    )


def test_trained_model_is_cached_on_disk(tmp_path, monkeypatch):
    """A second process loads the model instead of training it (about ten seconds); of the models cached
    for other training lines only the most recently used are kept, and an unreadable one is ignored."""
    cats = tuple(Lexicon.packaged().categories)
    trained = default_model(cats)
    monkeypatch.setenv("LIVEOPS_CACHE_DIR", str(tmp_path))
    older = [tmp_path / f"compliance-model-{i:024d}.pkl" for i in range(compliance_model.KEEP)]
    for age, p in enumerate(older):
        p.write_bytes(b"an older release")
        os.utime(p, (1_000_000 + age, 1_000_000 + age))
    path = compliance_model._cache_path(cats)
    compliance_model._store(path, trained)
    kept = sorted(p.name for p in tmp_path.iterdir())
    assert kept == sorted([path.name] + [p.name for p in older[1:]])  # the least recently used went

    def no_training(*a, **k):
        raise AssertionError("trained again although a cached model was there")

    monkeypatch.setattr(TextModel, "train", no_training)
    default_model.cache_clear()
    try:
        loaded = default_model(cats)
        texts = ["这是全网最低价", "今天的直播就到这里，晚安", "运营再自己拍五十单把成交额撑起来"]
        assert np.array_equal(loaded.probabilities(texts), trained.probabilities(texts))
    finally:
        default_model.cache_clear()
    path.write_bytes(b"not a pickle")
    assert compliance_model._load(path) is None
    assert compliance_model._load(tmp_path / "missing.pkl") is None
