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


def _text_rows(res, sessions=None) -> pa.Table:
    ev = res.events.filter(
        pc.is_in(res.events["type"], value_set=pc.cast(["comment", "transcript"], "string"))
    )
    if sessions is not None:
        ev = ev.filter(pc.is_in(ev["session_id"], value_set=pa.array(sessions)))
    ev = ev.set_column(ev.schema.get_field_index("ts"), "ts", pc.cast(ev["ts"], pa.timestamp("ms")))
    return ev.append_column("streamer_id", pa.nulls(ev.num_rows, pa.string()))


def simulated_show(sc) -> None:
    """Flags on six simulated shows as ingest raises them (lexicon, then the model; comments read as a
    viewer's), against the violations the simulator injected: what a room's operator would see."""
    res = simulate(SimConfig(viewers=4000, minutes=120, seed=5, sessions=6))
    ev = _text_rows(res)
    print("#### Six simulated two-hour shows, as ingest flags them (block and review hits)\n")
    flag_table(ev, hits_of(sc, ev), {v["event_id"]: v["category"] for v in res.truth["violations"]})
    reviewed_room(sc, res)


def flag_table(ev: pa.Table, hits: pa.Table, truth: dict[str, str]) -> None:
    spam = set(pb.SPAM)
    hits = hits.filter(pc.not_equal(pc.field("severity"), "warn"))
    flagged: dict[str, set[str]] = {}
    by_model: set[str] = set()
    for e, c, r in zip(
        hits["event_id"].to_pylist(), hits["category"].to_pylist(), hits["rule"].to_pylist(), strict=True
    ):
        flagged.setdefault(e, set()).add(c)
        if r.startswith("model."):
            by_model.add(e)
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


def reviewed_room(sc, res) -> None:
    """The loop a room runs: a reviewer judges every flag of the first three shows (the simulator's truth
    stands in for the reviewer), `liveops compliance labels` writes the verdicts, and the project's model
    trains on them; the last three shows are then flagged by the packaged model and by the room's own."""
    import tempfile

    import duckdb

    from liveops import audit
    from liveops import compliance_store as CS
    from liveops.compliance_model import default_model

    sessions = sorted(set(res.events["session_id"].to_pylist()))
    first, last = sessions[:3], sessions[3:]
    truth = {v["event_id"]: v["category"] for v in res.truth["violations"]}
    cats = tuple(sc.lexicon.categories)
    packaged = default_model(cats)
    con = duckdb.connect()
    with audit.transaction(con):
        stored = CS.store_hits(con, hits_of(sc, _text_rows(res, first), packaged))
    judged = stored.filter(pc.not_equal(stored["severity"], "warn")).to_pylist()
    right = {h["hit_id"]: truth.get(h["event_id"]) == h["category"] for h in judged}
    CS.record_verdicts(
        con, [(k, "confirmed" if ok else "dismissed", "reviewer", "") for k, ok in right.items()]
    )
    lines = CS.reviewed_lines(con)
    with tempfile.NamedTemporaryFile("w", suffix=".tsv", delete=False, encoding="utf-8") as f:
        f.write(CS.labels_tsv(lines)[0])
    own = default_model(cats, ((f.name, Path(f.name).stat().st_mtime_ns),))
    Path(f.name).unlink()
    dismissed = sum(1 for _, c, _ in lines if not c)
    print(
        f"#### The next three shows, after a reviewer judged the {len(judged)} flags of the first three "
        f"({len(lines)} distinct lines, {dismissed} dismissed)\n"
    )
    ev = _text_rows(res, last)
    for name, model in (("packaged model", packaged), ("with the room's labels", own)):
        print(f"{name}:\n")
        flag_table(ev, hits_of(sc, ev, model), truth)


if __name__ == "__main__":
    main()
