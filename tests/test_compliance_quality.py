"""The packaged lexicon held to its development set (compliance_data/dev.tsv, on which it was tuned: a
regression guard, not a quality estimate) and to the simulator's injected violations. The honest figures,
on a set never used for tuning, are in docs/compliance.md (benchmarks/quality_compliance.py)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from liveops import phrasebank as pb
from liveops.compliance import default_scanner, evaluate, read_labelled
from liveops.simulate import SimConfig, simulate

DATA = Path(__file__).parent.parent / "src" / "liveops" / "compliance_data"


@pytest.fixture(scope="module")
def labelled():
    return read_labelled(DATA / "dev.tsv")


def test_labelled_set_covers_every_category(labelled):
    cats = set(default_scanner().lexicon.categories)
    assert len(labelled) >= 300
    seen = {c for _, want in labelled for c in want}
    assert seen == cats
    assert sum(not want for _, want in labelled) >= 100  # clean lines, many with trap characters


def test_precision_and_recall_per_category_at_least_95_percent(labelled):
    ev = evaluate(labelled, default_scanner())
    low = [
        (s.category, round(s.precision, 3), round(s.recall, 3))
        for s in ev.scores
        if s.precision < 0.95 or s.recall < 0.95
    ]
    assert not low, (low, [m for m in ev.mistakes if m[1] ^ m[2]][:15])


def test_every_injected_violation_of_a_simulated_show_is_found():
    res = simulate(
        SimConfig(
            viewers=4000, minutes=60, seed=5, sessions=3, violation_rate=0.1, comment_violation_rate=0.01
        )
    )
    truth = res.truth["violations"]
    assert len(truth) >= 10
    ev = res.events
    text = dict(zip(ev["event_id"].to_pylist(), ev["text"].to_pylist(), strict=True))
    scanner = default_scanner()
    found = scanner.scan([text[v["event_id"]] for v in truth])
    for v, r in zip(truth, found, strict=True):
        cats = {h.category for h in r.hits if h.severity != "warn"}
        assert v["category"] in cats, (v["text"], cats)
    # and the simulator's ordinary lines (clean by construction) get no block hit
    is_text = pc.is_in(ev["type"], pa.array(["comment", "transcript"]))
    bad = {v["event_id"] for v in truth}
    clean = [
        t
        for e, t, ok in zip(
            ev["event_id"].to_pylist(), ev["text"].to_pylist(), is_text.to_pylist(), strict=True
        )
        if ok and e not in bad
    ]
    spam = set(pb.SPAM)
    clean = sorted(set(clean) - spam)
    blocked = [r.text for r in scanner.scan(clean) if r.blocked]
    assert blocked == []
