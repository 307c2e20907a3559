"""A learned second opinion beside the lexicon: character n-gram logistic regression per category.

The lexicon catches what it has words for; streamers paraphrase. A classifier trained on the labelled
lines shipped in ``compliance_data/`` (character 1–3-grams of the normalised text, TF-IDF, one logistic
regression per category) catches some of the rest. Its hits are only ever ``review`` — a person decides —
and are added only where the lexicon has no word of that category in that text: no hit, and no match it
cleared by context or the allow-list (the lexicon knows 不敢说全网最低 denies the claim; n-grams do not). It
costs about ten times as much per line as the lexicon (≈ 45 k lines/s), which a room's transcript and
comments afford: it reads scripts, ``liveops check`` and, at ingest, both the streamer's lines and the
viewers' comments (comments with the viewer tag and a higher threshold).
"""

from __future__ import annotations

import hashlib
import os
import pickle
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

import numpy as np

from .compliance import Hit, Lexicon, LexiconError, ScanResult, normalise_many, read_labelled

_DATA = resources.files("liveops").joinpath("compliance_data")
# Every labelled file shipped in compliance_data/ trains the model, in the order the sets were written
# (dev, holdout1, holdout2, train_a … train_z, train_aa …): drop a new set there and it is used.
TRAINING_SETS = tuple(
    sorted(
        (p.name for p in _DATA.iterdir() if p.name.endswith(".tsv")),
        key=lambda n: (n.startswith("train_"), len(n), n),
    )
)
THRESHOLD = 0.7  # chance a category applies above which the model flags a line for review
# A viewer's comment is read as the training lines mark one (弹幕：…), and flagged only when the model is
# surer: on the 1,310 labelled danmaku (cross-validated, benchmarks/tune_compliance_model.py) this keeps
# about the lexicon's precision (0.887 → 0.879) and lifts recall from 0.78 to 0.88.
VIEWER_TAG = "弹幕："
VIEWER_PREFIX = re.compile(r"^弹幕[：:]\s*")
VIEWER_THRESHOLD = 0.9
NGRAM = (1, 3)
C = 100.0


@dataclass
class TextModel:
    categories: list[str]
    vectorizer: object
    models: list[object]  # one classifier per category, None when the training data has one class only
    threshold: float = THRESHOLD
    viewer_threshold: float = VIEWER_THRESHOLD

    @classmethod
    def train(
        cls,
        items: Sequence[tuple[str, set[str]]],
        categories: Sequence[str],
        ngram: tuple[int, int] = NGRAM,
        reg: float = C,
    ) -> TextModel:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        vec = TfidfVectorizer(analyzer="char", ngram_range=ngram, sublinear_tf=True)
        x = vec.fit_transform(normalise_many([t for t, _ in items]))
        models = []
        for c in categories:
            y = np.array([c in want for _, want in items])
            if y.all() or not y.any():
                models.append(None)
                continue
            lr = LogisticRegression(C=reg, class_weight="balanced", solver="liblinear", max_iter=2000)
            models.append(lr.fit(x, y))
        return cls(list(categories), vec, models)

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        """texts × categories: the chance that each category applies."""
        out = np.zeros((len(texts), len(self.categories)))
        if not texts:
            return out
        x = self.vectorizer.transform(normalise_many(texts))
        for j, m in enumerate(self.models):
            if m is not None:
                out[:, j] = m.predict_proba(x)[:, 1]
        return out

    def review_hits(
        self,
        texts: Sequence[str],
        considered: Sequence[set[str]],
        lexicon: Lexicon,
        viewer: Sequence[bool] | None = None,
    ) -> list[list[Hit]]:
        """Per text, a ``review`` hit (the whole text) for each category the model sees above the threshold
        and the lexicon did not consider (``considered``: categories it hit, advised on or cleared).
        ``viewer[i]``: text i is a viewer's comment (read with the viewer tag, at the viewer threshold)."""
        viewer = [False] * len(texts) if viewer is None else viewer
        read = [as_viewer(t) if v else t for t, v in zip(texts, viewer, strict=True)]
        out: list[list[Hit]] = []
        for text, seen, row, v in zip(texts, considered, self.probabilities(read), viewer, strict=True):
            hits = []
            for j in np.flatnonzero(row >= (self.viewer_threshold if v else self.threshold)):
                cat = self.categories[j]
                if cat in seen or not text:
                    continue
                c = lexicon.categories[cat]
                hits.append(
                    Hit(
                        start=0,
                        end=len(text),
                        matched=text,
                        rule=f"model.{cat}",
                        category=cat,
                        severity="review",
                        law=c.law,
                        suggestion=f"词库未命中，模型判断可能属于「{c.zh}」（{row[j]:.0%}），请人工复核 "
                        f"— the model thinks this may be {c.en} ({row[j]:.0%}); a person should check it",
                        explanation="字符片段模型（在标注语料上训练）的判断，不是词库规则 a character n-gram "
                        "model trained on labelled lines, not a lexicon rule",
                    )
                )
            out.append(hits)
        return out

    def add_hits(self, results: list[ScanResult], lexicon: Lexicon) -> list[ScanResult]:
        considered = [r.considered for r in results]
        for r, extra in zip(
            results, self.review_hits([r.text for r in results], considered, lexicon), strict=True
        ):
            r.hits.extend(extra)
        return results


def as_viewer(text: str) -> str:
    """A comment written as the training lines write a viewer's line (弹幕：…)."""
    return text if VIEWER_PREFIX.match(text) else VIEWER_TAG + text


def cache_dir() -> Path:
    """Where the trained model is kept between processes: $LIVEOPS_CACHE_DIR, else $XDG_CACHE_HOME/liveops,
    else ~/.cache/liveops."""
    if d := os.environ.get("LIVEOPS_CACHE_DIR"):
        return Path(d)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "liveops"


def _load(path: Path) -> TextModel | None:
    """A cached model, or None when there is none or it cannot be read (it is then trained again)."""
    try:
        with path.open("rb") as f:
            model = pickle.load(f)  # our own file in the user's cache directory
        os.utime(path)  # most recently used: kept when older models are dropped
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError, ValueError, TypeError):
        return None
    return model if isinstance(model, TextModel) else None


KEEP = 3  # cached models kept: the packaged one and a project's own, without retraining in turn


def _store(path: Path, model: TextModel) -> None:
    """Write atomically and drop all but the most recently used cached models; a read-only or full disk
    only costs the next process the training again."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".tmp", delete=False) as f:
            pickle.dump(model, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(f.name, path)
        cached = sorted(path.parent.glob("compliance-model-*.pkl"), key=lambda p: p.stat().st_mtime)
        for old in cached[:-KEEP]:
            if old != path:
                old.unlink(missing_ok=True)
    except OSError:
        pass


def _cache_path(categories: tuple[str, ...], extra: Sequence[Path] = ()) -> Path:
    """The cache file for the packaged training files (and a project's own), these settings and this
    scikit-learn."""
    import sklearn

    key = hashlib.sha256(repr((categories, NGRAM, C, TRAINING_SETS, sklearn.__version__)).encode())
    for name in TRAINING_SETS:
        key.update(hashlib.sha256(_DATA.joinpath(name).read_bytes()).digest())
    for p in extra:
        key.update(hashlib.sha256(p.read_bytes()).digest())
    return cache_dir() / f"compliance-model-{key.hexdigest()[:24]}.pkl"


def training_items() -> list[tuple[str, set[str]]]:
    """The labelled lines of every training set, in ``TRAINING_SETS`` order."""
    items = []
    for name in TRAINING_SETS:
        with resources.as_file(_DATA.joinpath(name)) as p:
            items += read_labelled(p)
    return items


@cache
def default_model(categories: tuple[str, ...], extra: tuple[tuple[str, int], ...] = ()) -> TextModel:
    """The model trained on the labelled lines shipped with the package, and on a project's own labelled
    files when ``extra`` names them ((path, modification time): a changed file is a new model). Training
    takes about ten seconds, so the result is cached on disk (``cache_dir()``), keyed by the training
    files, the settings and the scikit-learn version: any change to them trains afresh."""
    files = [Path(p) for p, _ in extra]
    try:
        path = _cache_path(categories, files)
        own = [it for f in files for it in read_labelled(f)]
    except (OSError, UnicodeDecodeError) as e:
        raise LexiconError(f"标注文件无法读取 cannot read the labels file: {e}") from e
    if (model := _load(path)) is not None:
        return model
    items = training_items() + own
    model = TextModel.train(items, categories)
    _store(path, model)
    return model


def project_model(categories: tuple[str, ...]) -> TextModel:
    """The model this project uses: trained also on the room's own reviewed lines (liveops.toml's
    [compliance] labels file, written by ``liveops compliance labels``) when that file exists."""
    from .store import Settings

    p = Path(Settings.load().labels)
    return default_model(categories, ((str(p.resolve()), p.stat().st_mtime_ns),) if p.is_file() else ())


class ModelScanner:
    """A scanner whose ``scan`` adds the model's review hits to the lexicon's (same interface); the model
    is the project's (:func:`project_model`) unless one is given."""

    def __init__(self, scanner, model: TextModel | None = None):
        self.scanner = scanner
        self.lexicon = scanner.lexicon
        self.model = model or project_model(tuple(scanner.lexicon.categories))

    def scan(self, texts: Sequence[str | None]) -> list[ScanResult]:
        return self.model.add_hits(self.scanner.scan(texts), self.lexicon)
