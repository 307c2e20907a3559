"""Line-level precision and recall per category, lexicon alone and lexicon + n-gram model, on each
labelled set (printed as the Markdown tables of docs/compliance.md)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from liveops import phrasebank as pb
from liveops.compliance import default_scanner, evaluate, read_labelled
from liveops.compliance_model import TRAINING_SETS, ModelScanner
from liveops.compliance_store import hits_of
from liveops.simulate import SimConfig, simulate

ROOT = Path(__file__).resolve().parent.parent
SETS = [
    (ROOT / "src/liveops/compliance_data/dev.tsv", "lexicon tuned on it; model trained on it"),
    (ROOT / "src/liveops/compliance_data/holdout1.tsv", "lexicon tuned on it later; model trained on it"),
    (
        ROOT / "src/liveops/compliance_data/holdout2.tsv",
        "viewed after the lexicon was final; model trained on it",
    ),
    *[
        (ROOT / "src/liveops/compliance_data" / name, "written for the model; model trained on it")
        for name in TRAINING_SETS
        if name.startswith("train_")
    ],
    (
        ROOT / "tests/data/compliance_holdout3.tsv",
        "written blind; mistakes read once, never tuned or trained on",
    ),
    (
        ROOT / "tests/data/compliance_holdout4.tsv",
        "written blind, never read, tuned or trained on; scored after each final change",
    ),
    (
        ROOT / "tests/data/compliance_holdout5.tsv",
        "written blind, never read, tuned or trained on",
    ),
    (
        ROOT / "tests/data/compliance_holdout6.tsv",
        "written blind, never read, tuned or trained on",
    ),
    (
        ROOT / "tests/data/compliance_holdout7.tsv",
        "written blind, never read, tuned or trained on",
    ),
    (
        ROOT / "tests/data/compliance_holdout8.tsv",
        "written blind, never read, tuned or trained on",
    ),
    (
        ROOT / "tests/data/compliance_holdout9.tsv",
        "written blind, never read, tuned or trained on",
    ),
]


def table(ev) -> None:
    print("| category | labelled | flagged | correct | precision | recall |")
    print("|---|---:|---:|---:|---:|---:|")
    for s in ev.scores:
        print(
            f"| {s.category} | {s.labelled} | {s.flagged} | {s.true_positive} | {s.precision:.3f} | {s.recall:.3f} |"
        )
    tp = sum(s.true_positive for s in ev.scores)
    fl = sum(s.flagged for s in ev.scores)
    lab = sum(s.labelled for s in ev.scores)
    print(f"| **all (micro)** | {lab} | {fl} | {tp} | {tp / fl:.3f} | {tp / lab:.3f} |")


def main() -> None:
    sc = default_scanner()
    both = ModelScanner(sc)
    print(f"lexicon {sc.lexicon.version}: {len(sc.rules)} rules, {sc.lexicon.pattern_count} patterns\n")
    simulated_show(sc)
    for path, what in SETS:
        if not path.exists():
            continue
        items = read_labelled(path)
        for label, scanner in (("lexicon", sc), ("lexicon + model", both)):
            ev = evaluate(items, scanner)
            print(f"#### `{path.name}` — {label} ({ev.lines} lines; {what})\n")
            table(ev)
            wrong = sum(1 for _, w, _ in ev.mistakes if not w)
            clean = sum(1 for _, w in items if not w)
            print(
                f"\nClean lines flagged: {wrong} of {clean}. Lines judged wrongly: {len(ev.mistakes)} of {ev.lines}.\n"
            )


def simulated_show(sc) -> None:
    """Flags on six simulated shows as ingest raises them (lexicon, then the model; comments read as a
    viewer's), against the violations the simulator injected: what a room's operator would see."""
    res = simulate(SimConfig(viewers=4000, minutes=120, seed=5, sessions=6))
    ev = res.events.filter(
        pc.is_in(res.events["type"], value_set=pc.cast(["comment", "transcript"], "string"))
    )
    truth = {v["event_id"]: v["category"] for v in res.truth["violations"]}
    spam = set(pb.SPAM)
    hits = hits_of(sc, ev.append_column("streamer_id", pa.nulls(ev.num_rows, pa.string()))).filter(
        pc.not_equal(pc.field("severity"), "warn")
    )
    flagged: dict[str, set[str]] = {}
    by_model: set[str] = set()
    for e, c, r in zip(
        hits["event_id"].to_pylist(), hits["category"].to_pylist(), hits["rule"].to_pylist(), strict=True
    ):
        flagged.setdefault(e, set()).add(c)
        if r.startswith("model."):
            by_model.add(e)
    print("#### Six simulated two-hour shows, as ingest flags them (block and review hits)\n")
    print(
        "| lines | kind | injected violations | found | ordinary lines | ordinary lines flagged | of them by the model |"
    )
    print("|---|---|---:|---:|---:|---:|---:|")
    for kind in ("transcript", "comment"):
        rows = ev.filter(pc.equal(ev["type"], kind))
        ids, texts = rows["event_id"].to_pylist(), rows["text"].to_pylist()
        bad = [e for e in ids if e in truth]
        found = sum(truth[e] in flagged.get(e, ()) for e in bad)
        ordinary = [e for e, t in zip(ids, texts, strict=True) if e not in truth and t not in spam]
        false = [e for e in ordinary if e in flagged]
        print(
            f"| {len(ids):,} | {kind} | {len(bad)} | {found} | {len(ordinary):,} | {len(false)} ({len(false) / max(len(ordinary), 1):.1%}) | {sum(e in by_model for e in false)} |"
        )
    print()


if __name__ == "__main__":
    main()
