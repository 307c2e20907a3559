"""Line-level precision and recall per category, lexicon alone and lexicon + n-gram model, on each
labelled set (printed as the Markdown tables of docs/compliance.md)."""

from __future__ import annotations

from pathlib import Path

from liveops.compliance import default_scanner, evaluate, read_labelled
from liveops.compliance_model import TRAINING_SETS, ModelScanner

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


if __name__ == "__main__":
    main()
