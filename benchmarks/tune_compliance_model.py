"""Choose the n-gram model's settings by 5-fold cross-validation on the training lines only.

The blind sets are not read here. For each setting, the model is trained on four folds and the
lexicon + model is scored on the fifth; counts are pooled over folds (micro precision and recall).
As in production, the model adds a category only where the lexicon did not consider it in that line
(``ScanResult.considered``: no hit of any severity, no match cleared by the allow-list or context).
``veto`` (tried, not adopted) is the chance below which the model would turn a lexicon hit of an
exemptable category into a ``warn``; 0 turns it off. Last, the labelled danmaku are scored as ingest reads
a comment, to choose the model's threshold for viewers' lines.
"""

from __future__ import annotations

import itertools

import numpy as np

from liveops.compliance import default_scanner
from liveops.compliance_model import VIEWER_PREFIX, TextModel, as_viewer, training_items


def main() -> None:
    items = training_items()
    sc = default_scanner()
    cats = list(sc.lexicon.categories)
    exemptable = np.array([sc.lexicon.categories[c].exemptable for c in cats])
    lex = sc.scan([t for t, _ in items])
    want = np.array([[c in w for c in cats] for _, w in items])
    got_lex = np.array([[c in r.flagged for c in cats] for r in lex])
    considered = np.array([[c in r.considered for c in cats] for r in lex])
    folds = np.random.default_rng(0).permutation(len(items)) % 5
    print(f"{len(items)} training lines; lexicon alone: {score(got_lex, want)}")
    for ngram, c_reg in itertools.product([(1, 3), (1, 4)], [3.0, 10.0, 30.0, 100.0]):
        probs = np.zeros(want.shape)
        for k in range(5):
            tr, te = folds != k, folds == k
            m = TextModel.train([items[i] for i in np.flatnonzero(tr)], cats, ngram=ngram, reg=c_reg)
            probs[te] = m.probabilities([items[i][0] for i in np.flatnonzero(te)])
        for thr, veto in itertools.product([0.4, 0.5, 0.6, 0.7], [0.0, 0.05, 0.1, 0.2]):
            got = got_lex | ((probs >= thr) & ~considered)
            if veto:
                got &= ~(got_lex & (probs < veto) & exemptable[None, :])
            print(f"ngram={ngram} C={c_reg:g} threshold={thr} veto={veto}: {score(got, want)}")
    viewer_lines(items, cats, folds)


def viewer_lines(items, cats, folds) -> None:
    """The labelled danmaku (lines starting 弹幕：) as ingest sees a comment: the lexicon reads the bare text,
    the model reads it with the viewer tag; which threshold keeps the lexicon's precision."""
    idx = [i for i, (t, _) in enumerate(items) if VIEWER_PREFIX.match(t)]
    bare = [VIEWER_PREFIX.sub("", items[i][0]) for i in idx]
    sc = default_scanner()
    lex = sc.scan(bare)
    want = np.array([[c in items[i][1] for c in cats] for i in idx])
    got_lex = np.array([[c in r.flagged for c in cats] for r in lex])
    considered = np.array([[c in r.considered for c in cats] for r in lex])
    probs = np.zeros(want.shape)
    pos = {i: k for k, i in enumerate(idx)}
    for k in range(5):
        m = TextModel.train([items[i] for i in np.flatnonzero(folds != k)], cats)
        te = [i for i in idx if folds[i] == k]
        probs[[pos[i] for i in te]] = m.probabilities([as_viewer(bare[pos[i]]) for i in te])
    print(f"\n{len(idx)} labelled danmaku; lexicon alone: {score(got_lex, want)}")
    for thr in (0.7, 0.8, 0.9, 0.95):
        print(f"  + model at threshold {thr}: {score(got_lex | ((probs >= thr) & ~considered), want)}")


def score(got: np.ndarray, want: np.ndarray) -> str:
    tp = (got & want).sum()
    return f"P={tp / got.sum():.3f} R={tp / want.sum():.3f}"


if __name__ == "__main__":
    main()
