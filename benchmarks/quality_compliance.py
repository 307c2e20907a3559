"""Line-level precision and recall of the packaged lexicon per category, on each labelled set in
tests/data (printed as the Markdown tables of docs/compliance.md)."""

from __future__ import annotations

from pathlib import Path

from liveops.compliance import default_scanner, evaluate, read_labelled

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
SETS = [
    ("compliance_labelled.tsv", "dev — the lexicon was tuned on it"),
    ("compliance_holdout.tsv", "held-out 1 — written blind; its misses were later looked at"),
    ("compliance_holdout2.tsv", "held-out 2 — written blind, never used for tuning"),
]


def main() -> None:
    sc = default_scanner()
    print(f"lexicon {sc.lexicon.version}: {len(sc.rules)} rules, {sc.lexicon.pattern_count} patterns\n")
    for name, what in SETS:
        path = DATA / name
        if not path.exists():
            continue
        items = read_labelled(path)
        ev = evaluate(items, sc)
        print(f"### `{name}` ({ev.lines} lines; {what})\n")
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
        clean = [(t, w) for t, w in items if not w]
        wrong = sum(1 for t, w, f in ev.mistakes if not w)
        print(
            f"\nClean lines flagged: {wrong} of {len(clean)}. Lines judged wrongly: {len(ev.mistakes)} of {ev.lines}.\n"
        )


if __name__ == "__main__":
    main()
