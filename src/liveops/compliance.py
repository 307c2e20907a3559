"""Advertising-law scanner: a lexicon of rules as data, normalisation that sees through disguises, and
an allow-list evaluated before the deny-list.

The hot path is columnar: a batch of texts is joined into one string, normalised with one lookup
table over its code points (NumPy), matched with one Aho-Corasick pass, and every hit is mapped back to
its span in the original text through the kept-position arrays. Repeated characters collapse to one
(最最最好 ≡ 最好), except ASCII digits, whose runs are numbers. Normalisation is applied to the
lexicon's patterns and to the text alike, so 第一 ≡ 第1 ≡ ＮＯ.1-style variants meet in the middle.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import ahocorasick
import numpy as np
import yaml

from .compliance_context import CUE_LISTS, DEFAULT_KINDS, DEMOTE_ONLY, KIND_ZH, KINDS, Cues, classify

SEVERITIES = ("block", "review", "warn")
SEVERITY_ZH = {"block": "拦截", "review": "复核", "warn": "提示"}
MAX_TEXT = 2000  # the event contract's limit for one comment or transcript line
SEP = "\n"
_DEL = np.uint32(0xFFFFFFFF)
_HEARTS = "❤♥♡❥💗💓💕💖💘💙💚💛💜🖤🤍🤎🧡💝💞❣"
# symbols written for a character: emoji for a word (傻🐶, 👑中之👑), and the circled digits NFKC leaves
# alone (❶❸❾ for a phone number; ① and ⑴ it maps itself)
_STANDS_FOR = {
    "🐶": "狗",
    "🐕": "狗",
    "🐷": "猪",
    "🐖": "猪",
    "🚬": "烟",
    "👑": "王",
    "🐴": "马",
    "⓿": "0",
    "🄌": "0",
}
_STANDS_FOR.update({chr(b + i): str(i + 1) for b in (0x2776, 0x2780, 0x278A, 0x24F5) for i in range(9)})
_NUMERALS = dict(zip("零〇一二三四五六七八九", "00123456789", strict=True))
_NUMERALS.update(dict(zip("壹贰叁肆伍陆柒捌玖", "123456789", strict=True)))
_NUMERALS.update({"佰": "百", "仟": "千"})  # 拾 stays: 收拾
_DIGITISH = set("0123456789十百千万亿")


class LexiconError(ValueError):
    """A lexicon or user-rule file that cannot be used; the message names the file, rule and field."""


# -- normalisation ------------------------------------------------------------------------------


@cache
def _table() -> np.ndarray:
    """Code point → normalised code point, or _DEL for noise (punctuation, symbols, spaces, emoji)."""
    import opencc

    n = 0x110000
    out = np.full(n, _DEL, dtype=np.uint32)
    out[0xE0100:0xE01F0] = _DEL  # variation selectors supplement
    t2s = opencc.OpenCC("t2s")
    cjk = [
        c
        for r in ((0x3400, 0x4DC0), (0x4E00, 0xA000), (0xF900, 0xFB00), (0x20000, 0x2A6E0))
        for c in range(*r)
    ]
    simplified = t2s.convert(SEP.join(chr(c) for c in cjk)).split(SEP)
    simp = {chr(c): s for c, s in zip(cjk, simplified, strict=True) if len(s) == 1}

    def keep(ch: str) -> bool:
        cat = unicodedata.category(ch)
        return cat[0] in "LN" or ch == "%"

    for c in range(0x30000):
        ch = chr(c)
        if unicodedata.category(ch) == "Cn":
            continue
        m = unicodedata.normalize("NFKC", ch).lower()
        if len(m) != 1:
            m = "".join(x for x in m if keep(x))
            if len(m) != 1:
                m = ch.lower() if len(ch.lower()) == 1 and keep(ch) else ""
        if m:
            m = simp.get(m, m)
            m = _NUMERALS.get(m, m)
            m = _untoned(m)
        if m and keep(m):
            out[c] = ord(m)
    for ch in _HEARTS:
        out[ord(ch)] = ord("心")
    for ch, stands in _STANDS_FOR.items():
        out[ord(ch)] = ord(stands)
    for ch in "+➕＋":
        out[ord(ch)] = ord("加")
    out[ord(SEP)] = ord(SEP)
    return out


def _untoned(ch: str) -> str:
    """A Latin letter with a tone mark or accent as the bare letter pinyin patterns use: dī → di, lǜ → lv."""
    if ch in "üǖǘǚǜ":
        return "v"
    base = unicodedata.normalize("NFD", ch)[0]
    return base if base != ch and "a" <= base <= "z" else ch


@cache
def _classes() -> np.ndarray:
    """Per normalised code point: 1 Latin letter, 2 digit-like (for edge checks), else 0."""
    cls = np.zeros(0x110000, dtype=np.uint8)
    cls[ord("a") : ord("z") + 1] = 1
    for ch in _DIGITISH:
        cls[ord(ch)] = 2
    return cls


@dataclass
class Normalised:
    """A batch of texts joined and normalised, with the way back to each original character."""

    text: str  # normalised; texts separated by SEP
    codes: np.ndarray  # its code points
    first: np.ndarray  # normalised index → index of the first original character it stands for
    last: np.ndarray  # … and of the last one (a collapsed run covers all of its characters)
    line_starts: np.ndarray  # offset of each text in the joined original


def normalise_batch(texts: Sequence[str]) -> Normalised:
    joined = SEP.join(texts)
    if joined.count(SEP) != len(texts) - 1:  # a text with line breaks of its own (a script): blank them
        joined = SEP.join(t.replace(SEP, " ") for t in texts)
    raw = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    line_starts = np.empty(len(texts), dtype=np.int64)
    if len(texts):
        line_starts[0] = 0
        line_starts[1:] = np.flatnonzero(raw == ord(SEP)) + 1
    mapped = _table()[raw]
    kept = np.flatnonzero(mapped != _DEL)
    codes = mapped[kept]
    if codes.size:
        head = np.empty(codes.size, dtype=bool)
        head[0] = True
        np.not_equal(codes[1:], codes[:-1], out=head[1:])
        head |= (codes >= 0x30) & (codes <= 0x39)  # digit runs are numbers (phone, 100%), never collapsed
        head |= codes == ord(SEP)  # one separator per text, even when a text normalises to nothing
        runs = np.flatnonzero(head)
        tail = np.empty_like(runs)
        tail[:-1] = runs[1:] - 1
        tail[-1] = codes.size - 1
        codes, first, last = codes[runs], kept[runs], kept[tail]
    else:
        first = last = kept
    return Normalised(codes.tobytes().decode("utf-32-le"), codes, first, last, line_starts)


def normalise(text: str) -> str:
    """The normalised form of one text (what the lexicon's patterns are matched against)."""
    return normalise_batch([text]).text


def normalise_regex(pattern: str) -> str:
    """A lexicon regex in the alphabet it is matched against: its non-ASCII literals mapped and their runs
    collapsed as text's are (三高 → 3高, 陆军 → 6军, 爸爸妈妈 → 爸妈), so a rule's author writes plain
    Chinese. ASCII is regex syntax and stays; characters normalisation drops stay too (they never match)."""
    t = _table()
    out: list[str] = []
    for c in pattern:
        if ord(c) < 0x80 or t[ord(c)] == _DEL:
            out.append(c)
            continue
        m = chr(t[ord(c)])
        if not (out and out[-1] == m and not m.isdigit()):
            out.append(m)
    return "".join(out)


def normalise_many(texts: Sequence[str]) -> list[str]:
    """The normalised form of each text, in one pass."""
    return normalise_batch(list(texts)).text.split(SEP) if texts else []


# -- lexicon ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Category:
    key: str
    zh: str
    en: str
    exemptable: bool  # whether context (the allow-list) may clear a hit
    law: str
    fine_min: float
    fine_max: float
    note: str = ""
    context: tuple[str, ...] = DEFAULT_KINDS  # contexts in which a hit is no claim (compliance_context)


@dataclass(frozen=True)
class Rule:
    id: str
    category: str
    severity: str
    patterns: tuple[str, ...]
    regex: tuple[str, ...]
    law: str
    explanation: str
    suggestion: str
    source: str
    date: str
    qualifiable: bool = False  # a time/place/source qualifier in the text lowers block → review
    homophones: bool = False
    pinyin: bool = False  # also match characters spelled in pinyin (mian检, sha bi)
    origin: str = "lexicon"  # or the user-rule file it came from
    context: tuple[str, ...] | None = None  # the contexts that apply, when not the category's
    # categories that, flagged in the same line, cover this rule's hit (批发价 beside 加微信 is the off-platform deal)
    yields_to: tuple[str, ...] = ()


@dataclass(frozen=True)
class AllowRule:
    id: str
    patterns: tuple[str, ...]
    reason: str
    regex: tuple[str, ...] = ()
    source: str = ""
    date: str = ""
    origin: str = "lexicon"
    categories: tuple[str, ...] = ()  # the categories it may clear; empty: every exemptable one


@dataclass
class Lexicon:
    version: str
    released: str
    categories: dict[str, Category]
    rules: list[Rule]
    allow: list[AllowRule]
    homophones: dict[str, tuple[str, ...]] = field(default_factory=dict)
    qualifier_patterns: tuple[str, ...] = ()
    qualifier_regex: tuple[str, ...] = ()
    context: dict[str, tuple[str, ...]] = field(default_factory=dict)  # cue words by list name
    files: tuple[str, ...] = ()

    @property
    def pattern_count(self) -> int:
        return sum(len(r.patterns) + len(r.regex) for r in self.rules)

    @classmethod
    def packaged(cls) -> Lexicon:
        text = resources.files("liveops").joinpath("compliance_lexicon.yaml").read_text(encoding="utf-8")
        return cls.from_dict(yaml.safe_load(text), "compliance_lexicon.yaml")

    @classmethod
    def from_file(cls, path: str | Path) -> Lexicon:
        return cls.from_dict(read_yaml(path), str(path))

    @classmethod
    def load(cls, lexicon: str | Path | None = None, user_rules: str | Path | None = None) -> Lexicon:
        """The packaged lexicon (or a newer release file), plus the user's own rules and allow-words."""
        lex = cls.from_file(lexicon) if lexicon else cls.packaged()
        if user_rules:
            lex = lex.with_user_rules(read_yaml(user_rules), str(user_rules))
        return lex

    @classmethod
    def from_dict(cls, data: Any, origin: str) -> Lexicon:
        if not isinstance(data, dict):
            raise LexiconError(f"{origin}: 词库应为 YAML 映射 the lexicon must be a YAML mapping")
        for key in ("version", "categories", "rules"):
            if key not in data:
                raise LexiconError(f"{origin}: 缺少字段 missing field '{key}'")
        cats = {}
        for key, c in (data["categories"] or {}).items():
            where = f"{origin}: category {key}"
            c = _mapping(c, where)
            try:
                cats[key] = Category(
                    key=key,
                    zh=str(c["zh"]),
                    en=str(c["en"]),
                    exemptable=bool(c.get("exemptable", True)),
                    law=str(c.get("law", "")),
                    fine_min=float(c.get("fine_min", 0)),
                    fine_max=float(c.get("fine_max", 0)),
                    note=str(c.get("note", "")),
                    context=_context_kinds(c.get("context", list(DEFAULT_KINDS)), where),
                )
            except KeyError as e:
                raise LexiconError(f"{where}: 缺少字段 missing field {e}") from None
            except (TypeError, ValueError) as e:
                raise LexiconError(
                    f"{where}: 罚款金额须为数字 fine_min/fine_max must be numbers ({e})"
                ) from None
        homophones = {
            str(k): tuple(str(x) for x in (v or [])) for k, v in (data.get("homophones") or {}).items()
        }
        q = data.get("qualifiers") or {}
        lex = cls(
            version=str(data["version"]),
            released=str(data.get("released", "")),
            categories=cats,
            rules=[],
            allow=[],
            homophones=homophones,
            qualifier_patterns=tuple(str(p) for p in q.get("patterns") or ()),
            qualifier_regex=tuple(str(p) for p in q.get("regex") or ()),
            context=_context_words(data.get("context") or {}, origin),
            files=(origin,),
        )
        lex.rules = [_rule(r, origin, cats, i) for i, r in enumerate(data["rules"] or [])]
        lex.allow = [_allow(a, origin, i, cats) for i, a in enumerate(data.get("allow") or [])]
        lex.check()
        return lex

    def with_user_rules(self, data: Any, origin: str) -> Lexicon:
        """Add a user file's ``rules``, ``allow`` and ``allow_words`` (trademarks, product names)."""
        data = _mapping(data or {}, origin)
        unknown = set(data) - {"rules", "allow", "allow_words"}
        if unknown:
            raise LexiconError(
                f"{origin}: 未知字段 unknown field(s) {sorted(unknown)}; expected rules, allow, allow_words"
            )
        rules = [_rule(r, origin, self.categories, i) for i, r in enumerate(data.get("rules") or [])]
        allow = [_allow(a, origin, i, self.categories) for i, a in enumerate(data.get("allow") or [])]
        words = data.get("allow_words") or []
        if not isinstance(words, list):
            raise LexiconError(f"{origin}: allow_words 应为列表 must be a list of words")
        if words:
            allow.append(
                AllowRule(
                    "user.allow_words",
                    tuple(str(w) for w in words),
                    "用户登记的商标、品牌或商品名",
                    origin=origin,
                )
            )
        lex = Lexicon(
            version=self.version,
            released=self.released,
            categories=self.categories,
            rules=[*self.rules, *rules],
            allow=[*self.allow, *allow],
            homophones=self.homophones,
            qualifier_patterns=self.qualifier_patterns,
            qualifier_regex=self.qualifier_regex,
            context=self.context,
            files=(*self.files, origin),
        )
        lex.check()
        return lex

    def check(self) -> None:
        """Unique ids, and every pattern long enough after normalisation to mean something."""
        seen: dict[str, str] = {}
        for r in [*self.rules, *self.allow]:
            if r.id in seen:
                raise LexiconError(
                    f"{r.origin}: 规则 ID 重复 duplicate rule id '{r.id}' (also in {seen[r.id]})"
                )
            seen[r.id] = r.origin
        pairs = [(r, p) for r in [*self.rules, *self.allow] for p in r.patterns]
        for (r, p), n in zip(pairs, normalise_many([p for _, p in pairs]), strict=True):
            if len(n) < 2:
                raise LexiconError(
                    f"{r.origin}: rule {r.id}: 模式 '{p}' 归一化后不足两个字 pattern normalises to "
                    f"'{n}', shorter than 2 characters (symbols are dropped, repeats collapsed)"
                )


def read_yaml(path: str | Path) -> Any:
    try:
        return yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as e:
        raise LexiconError(f"{path}: 无法读取 cannot read: {e}") from None
    except UnicodeDecodeError as e:
        raise LexiconError(f"{path}: 不是 UTF-8 not UTF-8 ({e})") from None
    except yaml.YAMLError as e:
        raise LexiconError(f"{path}: YAML 格式错误 invalid YAML: {e}") from None


def _mapping(x: Any, where: str) -> dict:
    if not isinstance(x, dict):
        raise LexiconError(f"{where}: 应为映射 must be a mapping, got {type(x).__name__}")
    return x


def _strings(x: Any, where: str) -> tuple[str, ...]:
    if x is None:
        return ()
    if isinstance(x, str) or not isinstance(x, list):
        raise LexiconError(f"{where}: 应为字符串列表 must be a list of strings")
    return tuple(str(p) for p in x)


def _context_kinds(x: Any, where: str) -> tuple[str, ...]:
    kinds = _strings(x, f"{where}: context")
    bad = [k for k in kinds if k not in KINDS]
    if bad:
        raise LexiconError(f"{where}: 未知语境 unknown context kind(s) {bad}; known: {list(KINDS)}")
    return kinds


def _context_words(x: Any, origin: str) -> dict[str, tuple[str, ...]]:
    x = _mapping(x, f"{origin}: context")
    bad = sorted(set(x) - set(CUE_LISTS))
    if bad:
        raise LexiconError(f"{origin}: context: 未知词表 unknown cue list(s) {bad}; known: {list(CUE_LISTS)}")
    return {k: _strings(v, f"{origin}: context: {k}") for k, v in x.items()}


def _check_regex(regex: tuple[str, ...], where: str) -> None:
    for p in regex:
        try:
            re.compile(p)
        except re.error as e:
            raise LexiconError(f"{where}: 正则无效 invalid regex {p!r}: {e}") from None


def _rule(r: Any, origin: str, cats: dict[str, Category], i: int) -> Rule:
    r = _mapping(r, f"{origin}: rules[{i}]")
    rid = str(r.get("id") or "")
    where = f"{origin}: rule {rid or f'#{i + 1}'}"
    if not rid:
        raise LexiconError(f"{where}: 缺少 id missing field 'id'")
    if r.get("category") not in cats:
        raise LexiconError(f"{where}: 未知类别 unknown category {r.get('category')!r}; known: {sorted(cats)}")
    if r.get("severity") not in SEVERITIES:
        raise LexiconError(f"{where}: severity must be one of {SEVERITIES}, got {r.get('severity')!r}")
    patterns = _strings(r.get("patterns"), f"{where}: patterns")
    regex = _strings(r.get("regex"), f"{where}: regex")
    if not patterns and not regex:
        raise LexiconError(f"{where}: 没有模式 needs patterns or regex")
    _check_regex(regex, where)
    for key in ("law", "explanation", "suggestion"):
        if not r.get(key):
            raise LexiconError(f"{where}: 缺少字段 missing field '{key}'")
    yields_to = _strings(r.get("yields_to"), f"{where}: yields_to")
    bad = [c for c in yields_to if c not in cats or c == r["category"]]
    if bad:
        raise LexiconError(f"{where}: yields_to 需为其他已知类别 must name other known categories, got {bad}")
    date = r.get("date", "")
    return Rule(
        id=rid,
        category=r["category"],
        severity=r["severity"],
        patterns=patterns,
        regex=regex,
        law=str(r["law"]),
        explanation=str(r["explanation"]),
        suggestion=str(r["suggestion"]),
        source=str(r.get("source", "")),
        date=date.isoformat() if isinstance(date, dt.date) else str(date),
        qualifiable=bool(r.get("qualifiable", False)),
        homophones=bool(r.get("homophones", False)),
        pinyin=bool(r.get("pinyin", False)),
        origin=origin,
        context=_context_kinds(r["context"], where) if "context" in r else None,
        yields_to=yields_to,
    )


def _allow(a: Any, origin: str, i: int, cats: dict[str, Category]) -> AllowRule:
    a = _mapping(a, f"{origin}: allow[{i}]")
    aid = str(a.get("id") or "")
    where = f"{origin}: allow {aid or f'#{i + 1}'}"
    if not aid:
        raise LexiconError(f"{where}: 缺少 id missing field 'id'")
    patterns = _strings(a.get("patterns"), f"{where}: patterns")
    regex = _strings(a.get("regex"), f"{where}: regex")
    if not patterns and not regex:
        raise LexiconError(f"{where}: 没有模式 needs patterns or regex")
    _check_regex(regex, where)
    scope = _strings(a.get("categories"), f"{where}: categories")
    bad = [c for c in scope if c not in cats or not cats[c].exemptable]
    if bad:
        raise LexiconError(
            f"{where}: categories {bad} 不是可放行的类别 are not categories context may clear; "
            f"known: {[k for k, c in cats.items() if c.exemptable]}"
        )
    date = a.get("date", "")
    return AllowRule(
        id=aid,
        patterns=patterns,
        regex=regex,
        categories=scope,
        reason=str(a.get("reason", "")),
        source=str(a.get("source", "")),
        date=date.isoformat() if isinstance(date, dt.date) else str(date),
        origin=origin,
    )


@dataclass
class LexiconDiff:
    added: list[str]
    removed: list[str]
    changed: dict[str, list[str]]  # rule id → what changed


def diff_lexicons(old: Lexicon, new: Lexicon) -> LexiconDiff:
    """What a lexicon release changes, rule by rule (allow rules included)."""
    a = {r.id: r for r in [*old.rules, *old.allow] if r.origin == old.files[0]}
    b = {r.id: r for r in [*new.rules, *new.allow] if r.origin == new.files[0]}
    changed: dict[str, list[str]] = {}
    for rid in sorted(a.keys() & b.keys()):
        notes = []
        for f in (
            "category",
            "severity",
            "law",
            "explanation",
            "suggestion",
            "source",
            "date",
            "qualifiable",
            "reason",
            "context",
            "categories",
            "yields_to",
        ):
            x, y = getattr(a[rid], f, None), getattr(b[rid], f, None)
            if x != y:
                notes.append(f"{f}: {x} → {y}")
        for f in ("patterns", "regex"):
            x, y = set(getattr(a[rid], f, ())), set(getattr(b[rid], f, ()))
            if x != y:
                plus, minus = sorted(y - x), sorted(x - y)
                notes.append(f"{f} " + " ".join([*(f"+{p}" for p in plus), *(f"-{p}" for p in minus)]))
        if notes:
            changed[rid] = notes
    # the context step's word lists and the kinds each category accepts
    for key in sorted(old.context.keys() | new.context.keys()):
        x, y = set(old.context.get(key, ())), set(new.context.get(key, ()))
        if x != y:
            changed[f"context.{key}"] = [
                " ".join([*(f"+{w}" for w in sorted(y - x)), *(f"-{w}" for w in sorted(x - y))])
            ]
    for key in sorted(old.categories.keys() & new.categories.keys()):
        x, y = old.categories[key].context, new.categories[key].context
        if x != y:
            changed[f"category.{key}"] = [f"context: {list(x)} → {list(y)}"]
    return LexiconDiff(sorted(b.keys() - a.keys()), sorted(a.keys() - b.keys()), changed)


def version_newer(new: str, old: str) -> bool:
    """Date-like release ids (2026.11.25, 2026.11.25.1) compare part by part as numbers."""

    def key(v: str) -> tuple:
        return tuple((0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"[.\-]", v))

    return key(new) > key(old)


# -- scanning -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Hit:
    start: int  # span in the original text (code points)
    end: int
    matched: str
    rule: str
    category: str
    severity: str
    law: str
    suggestion: str
    explanation: str


@dataclass(frozen=True)
class Cleared:
    """A deny match the allow-list cleared (shown by ``liveops rules test``)."""

    start: int
    end: int
    matched: str
    rule: str
    allowed_by: str  # an allow rule's id, or context.<kind>
    category: str = ""


@dataclass
class ScanResult:
    text: str
    hits: list[Hit]
    error: str | None = None  # input that could not be read as given (the text is scanned as far as possible)
    cleared: list[Cleared] = field(default_factory=list)

    @property
    def blocked(self) -> bool:
        return any(h.severity == "block" for h in self.hits)

    @property
    def flagged(self) -> set[str]:
        """Categories with a block or review hit: what a person must look at (warn hits are advice)."""
        return {h.category for h in self.hits if h.severity != "warn"}

    @property
    def considered(self) -> set[str]:
        """Categories the lexicon has a word for in this text, flagged, advised or cleared by context: the
        n-gram model adds nothing there (it cannot see that 不敢说全网最低 denies the claim)."""
        return {h.category for h in self.hits} | {c.category for c in self.cleared}


SUBSUMED = len(KINDS) + 1  # HitColumns.context: lowered because another category of the line covers it


def context_note(code: int) -> str:
    """Why a hit was lowered to warn (``HitColumns.context``), to put before its text; empty when not."""
    if not code:
        return ""
    if code == SUBSUMED:
        return (
            "并入同句另一类违规，降为提示 covered by another category flagged in the line, lowered to warn。"
        )
    k = KINDS[code - 1]
    return f"语境：{KIND_ZH[k]}，降为提示 context: {k}, lowered to warn。"


def result_rows(results: Sequence[ScanResult]) -> list[dict[str, Any]]:
    """The JSON contract of ``liveops check`` and ``POST /v1/check``: one object per text."""
    keys = ("start", "end", "matched", "rule", "category", "severity", "law", "suggestion", "explanation")
    rows = []
    for r in results:
        row: dict[str, Any] = {"text": r.text, "hits": [{k: getattr(h, k) for k in keys} for h in r.hits]}
        if r.error:
            row["warning"] = r.error
        rows.append(row)
    return rows


@dataclass
class HitColumns:
    """Hits of a batch as arrays (the storage path); ``rule`` indexes ``Scanner.rules``."""

    line: np.ndarray
    start: np.ndarray
    end: np.ndarray
    rule: np.ndarray
    severity: np.ndarray  # index into SEVERITIES, after qualifiers and context
    context: np.ndarray | None = None  # 1 + index into compliance_context.KINDS that lowered it to warn, or 0


_KIND_DENY, _KIND_ALLOW, _KIND_QUAL, _KIND_LEAD = 0, 1, 2, 3


class Scanner:
    """A lexicon compiled once into one automaton (deny, allow and qualifier patterns together)."""

    def __init__(self, lexicon: Lexicon | None = None):
        self.lexicon = lexicon or packaged_lexicon()
        lex = self.lexicon
        self.rules = lex.rules
        self.allow = lex.allow
        self._sev = np.array([SEVERITIES.index(r.severity) for r in self.rules], dtype=np.int8)
        self._qualifiable = np.array([r.qualifiable for r in self.rules], dtype=bool)
        self._exempt = np.array([lex.categories[r.category].exemptable for r in self.rules], dtype=bool)
        cat_keys = list(lex.categories)
        self._cat = np.array([cat_keys.index(r.category) for r in self.rules], dtype=np.int16)
        self._yields = np.array(
            [[c in r.yields_to for c in cat_keys] for r in self.rules], dtype=bool
        ).reshape(len(self.rules), len(cat_keys))
        self._cues = Cues.from_mapping(lex.context, normalise_many)
        self._demote_only = np.array([KINDS.index(k) + 1 for k in DEMOTE_ONLY], dtype=np.int8)
        self._applies = [
            frozenset(lex.categories[r.category].context if r.context is None else r.context)
            for r in self.rules
        ]
        raw: list[tuple[str, int, int]] = []

        def add(pattern: str, kind: int, idx: int) -> None:
            raw.append((pattern.replace(SEP, " "), kind, idx))

        for i, r in enumerate(self.rules):
            for p in r.patterns:
                variants = {p}
                if r.homophones:
                    variants.update(self._variants(p))
                if r.pinyin:
                    variants.update(_pinyin_variants(p))
                for v in variants:
                    add(v, _KIND_DENY, i)
        for i, a in enumerate(self.allow):
            for p in a.patterns:
                add(p, _KIND_ALLOW, i)
        for p in lex.qualifier_patterns:
            add(p, _KIND_QUAL, 0)
        self._regex = [(i, _Regex(x)) for i, r in enumerate(self.rules) for x in r.regex]
        self._allow_regex = [(i, _Regex(x)) for i, a in enumerate(self.allow) for x in a.regex]
        # a regex that can only start at one of a few literals is tried only where the automaton found one
        for slot, (_, rx) in enumerate(self._regex + self._allow_regex):
            for lead in rx.leads or ():
                add(lead, _KIND_LEAD, slot)
        entries: dict[str, list[tuple[int, int]]] = {}
        for (_, kind, idx), p in zip(raw, normalise_many([p for p, _, _ in raw]), strict=True):
            if len(p) >= 2:
                entries.setdefault(p, []).append((kind, idx))
        self._patterns = list(entries)
        targets = [entries[p] for p in self._patterns]
        self._plen = np.array([len(p) for p in self._patterns], dtype=np.int64)
        cls = _classes()
        self._edge_start = np.array([cls[ord(p[0])] for p in self._patterns], dtype=np.uint8)
        self._edge_end = np.array([cls[ord(p[-1])] for p in self._patterns], dtype=np.uint8)
        self._automaton = ahocorasick.Automaton()
        for pid, p in enumerate(self._patterns):
            self._automaton.add_word(p, pid)
        if self._patterns:
            self._automaton.make_automaton()
        # allow rules grouped by the categories they may clear (exemptable ones, within their own scope)
        clears = np.array(
            [
                [c.exemptable and (not a.categories or k in a.categories) for k, c in lex.categories.items()]
                for a in self.allow
            ],
            dtype=bool,
        ).reshape(len(self.allow), len(lex.categories))
        self._group_clears, group = np.unique(clears, axis=0, return_inverse=True)
        self._allow_group = group.reshape(-1)
        self._qual_regex = [re.compile(normalise_regex(x)) for x in lex.qualifier_regex]
        # flat (pattern → kind, rule) pairs in pattern order, for the vectorised join from matches to rules
        flat = [(kind, idx) for ts in targets for kind, idx in ts]
        self._t_kind = np.array([k for k, _ in flat], dtype=np.int8)
        self._t_idx = np.array([i for _, i in flat], dtype=np.int64)
        self._t_count = np.array([len(t) for t in targets], dtype=np.int64)
        self._t_first = np.cumsum(self._t_count) - self._t_count

    def _variants(self, pattern: str) -> list[str]:
        return _expand([(ch, *self.lexicon.homophones.get(ch, ())) for ch in pattern], cap=512)

    # -- the columnar core --
    def scan_columns(self, texts: Sequence[str]) -> tuple[HitColumns, Normalised, tuple]:
        """Deny hits of a batch after allow-list, qualifiers, overlap resolution and context, as arrays."""
        norm = normalise_batch(texts)
        s = norm.text
        found = np.array(list(self._automaton.iter(s)) if self._patterns else [], dtype=np.int64).reshape(
            -1, 2
        )
        end, pid = found[:, 0], found[:, 1]
        start = end - self._plen[pid] + 1
        ok = self._edges_ok(norm.codes, start, end, self._edge_start[pid], self._edge_end[pid])
        start, end, pid = start[ok], end[ok], pid[ok]
        # expand each matched pattern to every (kind, rule) it stands for
        reps = self._t_count[pid]
        row = np.repeat(np.arange(pid.size), reps)
        off = np.arange(row.size) - np.repeat(np.cumsum(reps) - reps, reps)
        t = self._t_first[pid][row] + off
        kind, idx = self._t_kind[t], self._t_idx[t]
        start, end = start[row], end[row]
        deny = kind == _KIND_DENY
        d_start, d_end, d_rule = start[deny], end[deny], idx[deny]
        lead = kind == _KIND_LEAD
        leads = _by_slot(idx[lead], start[lead], len(self._regex) + len(self._allow_regex))
        spans = [
            (a, b - 1, i) for slot, (i, rx) in enumerate(self._regex) for a, b in rx.spans(s, leads[slot])
        ]
        if spans:
            extra = np.array(spans, dtype=np.int64)
            d_start, d_end = np.append(d_start, extra[:, 0]), np.append(d_end, extra[:, 1])
            d_rule = np.append(d_rule, extra[:, 2])
        allow = kind == _KIND_ALLOW
        a_start, a_end, a_rule = start[allow], end[allow], idx[allow]
        n = len(self._regex)
        spans = [
            (a, b - 1, i)
            for slot, (i, rx) in enumerate(self._allow_regex)
            for a, b in rx.spans(s, leads[n + slot])
        ]
        if spans:
            extra = np.array(spans, dtype=np.int64)
            a_start, a_end = np.append(a_start, extra[:, 0]), np.append(a_end, extra[:, 1])
            a_rule = np.append(a_rule, extra[:, 2])
        # the allow-list: a deny hit overlapping an allowed span is cleared when that allow rule may clear its
        # category (exemptable, and within the rule's own categories if it names some)
        clear = np.zeros(d_rule.size, dtype=bool)
        by = np.zeros(d_rule.size, dtype=np.int64)  # the allow rule that cleared it
        a_group = self._allow_group[a_rule]
        for g in np.unique(a_group).tolist():
            m = a_group == g
            gs, ge = a_start[m], a_end[m]
            covered = np.zeros(len(s) + 2, dtype=np.int64)
            np.add.at(covered, gs, 1)
            np.add.at(covered, ge + 1, -1)
            cov = np.concatenate([[0], np.cumsum(np.cumsum(covered)[:-1] > 0)])
            new = (cov[d_end + 1] - cov[d_start] > 0) & self._group_clears[g][self._cat[d_rule]] & ~clear
            if new.any():
                by[new] = _reaching(gs, ge, a_rule[m], d_end[new])
                clear |= new
        cleared = (d_start[clear], d_end[clear], d_rule[clear], by[clear])
        d_start, d_end, d_rule = d_start[~clear], d_end[~clear], d_rule[~clear]
        line = (
            np.searchsorted(norm.line_starts, norm.first[d_start], side="right") - 1
            if d_start.size
            else d_start
        )
        sev = self._sev[d_rule].copy()
        lower = self._qualifiable[d_rule] & (sev == 0)
        if lower.any():
            qual_lines = self._qualified_lines(s, norm, kind == _KIND_QUAL, start, len(texts))
            sev[lower & qual_lines[line]] = 1
        cols = _merge_overlaps(HitColumns(line, d_start, d_end, d_rule, sev), self._cat[d_rule])
        # a hit that is denied, asked, named as a word, refuted or a title is no claim
        ctx = classify(
            self._cues,
            texts,
            s,
            norm.first,
            norm.last,
            norm.line_starts,
            cols.line,
            cols.start,
            cols.end,
            [self._applies[r] for r in cols.rule.tolist()],
            ~self._exempt[cols.rule],
        )
        gone = (ctx > 0) & self._exempt[cols.rule] & ~np.isin(ctx, self._demote_only)
        context_cleared = HitColumns(
            *(a[gone] for a in (cols.line, cols.start, cols.end, cols.rule, cols.severity)), ctx[gone]
        )
        keep = ~gone
        sev = np.where(ctx[keep] > 0, np.int8(SEVERITIES.index("warn")), cols.severity[keep])
        cols = self._yield(
            HitColumns(cols.line[keep], cols.start[keep], cols.end[keep], cols.rule[keep], sev, ctx[keep])
        )
        order = np.lexsort((cols.rule, cols.start, cols.line))
        return (
            HitColumns(
                *(a[order] for a in (cols.line, cols.start, cols.end, cols.rule, cols.severity, cols.context))
            ),
            norm,
            (*cleared, context_cleared),
        )

    def _yield(self, cols: HitColumns) -> HitColumns:
        """Lower to warn a flagged hit whose rule ``yields_to`` a category the line is flagged for by a rule
        that yields to nothing: the line is still flagged, under the category that names the violation."""
        warn = SEVERITIES.index("warn")
        y = self._yields[cols.rule]
        flag = cols.severity < warn
        yielding = flag & y.any(axis=1)
        if not yielding.any():
            return cols
        firm = flag & ~yielding
        lines, at = np.unique(cols.line, return_inverse=True)  # only the lines with hits
        flagged = np.zeros((lines.size, self._yields.shape[1]), dtype=bool)
        flagged[at[firm], self._cat[cols.rule[firm]]] = True
        low = yielding & (flagged[at] & y).any(axis=1)
        return HitColumns(
            cols.line,
            cols.start,
            cols.end,
            cols.rule,
            np.where(low, np.int8(warn), cols.severity),
            np.where(low, np.int8(SUBSUMED), cols.context),
        )

    def _qualified_lines(
        self, s: str, norm: Normalised, is_qual: np.ndarray, start: np.ndarray, n: int
    ) -> np.ndarray:
        pos = list(start[is_qual])
        for rx in self._qual_regex:
            pos += [m.start() for m in rx.finditer(s)]
        out = np.zeros(n, dtype=bool)
        if pos:
            out[np.searchsorted(norm.line_starts, norm.first[np.array(pos)], side="right") - 1] = True
        return out

    @staticmethod
    def _edges_ok(codes, start, end, es, ee) -> np.ndarray:
        """A pattern that starts (ends) with a Latin letter or digit may not continue a word of that kind."""
        cls = _classes()
        n = codes.size
        before = np.where(start > 0, cls[codes[np.maximum(start - 1, 0)]], 0) if n else start
        after = np.where(end + 1 < n, cls[codes[np.minimum(end + 1, n - 1)]], 0) if n else end
        return ~(((es > 0) & (before == es)) | ((ee > 0) & (after == ee)))

    # -- typed results --
    def scan(self, texts: Iterable[str | None]) -> list[ScanResult]:
        texts = list(texts)
        errors: dict[int, str] = {}
        safe: list[str] = []
        for i, t in enumerate(texts):
            if t is None or not isinstance(t, str):
                errors[i] = f"不是文本 not a text ({type(t).__name__})"
                safe.append("")
                continue
            try:
                t.encode("utf-8")
            except UnicodeEncodeError:
                errors[i] = (
                    "含无效的 UTF-8 字节，已按替换字符处理 invalid UTF-8 bytes, scanned with replacement characters"
                )
                t = "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in t)  # offsets unchanged
            if len(t) > MAX_TEXT:
                errors[i] = (
                    f"超过 {MAX_TEXT} 字（{len(t)} 字），已完整扫描 longer than {MAX_TEXT} characters ({len(t)}), scanned in full"
                )
            safe.append(t)
        cols, norm, cleared = self.scan_columns(safe)
        results = [
            ScanResult(text=t if isinstance(t, str) else "", hits=[], error=errors.get(i))
            for i, t in enumerate(safe)
        ]
        ls = norm.line_starts
        for li, a, b, r, sv, cx in zip(
            cols.line, cols.start, cols.end, cols.rule, cols.severity, cols.context, strict=True
        ):
            rule = self.rules[r]
            lo, hi = int(norm.first[a] - ls[li]), int(norm.last[b] - ls[li] + 1)
            explanation = context_note(cx) + rule.explanation
            results[li].hits.append(
                Hit(
                    lo,
                    hi,
                    safe[li][lo:hi],
                    rule.id,
                    rule.category,
                    SEVERITIES[sv],
                    rule.law,
                    rule.suggestion,
                    explanation,
                )
            )
        c_start, c_end, c_rule, c_allow, by_context = cleared
        for li, a, b, r, cx in zip(
            by_context.line,
            by_context.start,
            by_context.end,
            by_context.rule,
            by_context.context,
            strict=True,
        ):
            lo, hi = int(norm.first[a] - ls[li]), int(norm.last[b] - ls[li] + 1)
            results[li].cleared.append(
                Cleared(
                    lo,
                    hi,
                    safe[li][lo:hi],
                    self.rules[r].id,
                    f"context.{KINDS[cx - 1]}",
                    self.rules[r].category,
                )
            )
        lines = np.searchsorted(ls, norm.first[c_start], side="right") - 1
        for li, a, b, r, ar in zip(lines, c_start, c_end, c_rule, c_allow, strict=True):
            lo, hi = int(norm.first[a] - ls[li]), int(norm.last[b] - ls[li] + 1)
            results[li].cleared.append(
                Cleared(lo, hi, safe[li][lo:hi], self.rules[r].id, self.allow[ar].id, self.rules[r].category)
            )
        return results

    def considered(self, cols: HitColumns, norm: Normalised, cleared: tuple) -> dict[int, set[str]]:
        """Per batch line, the categories the lexicon hit or cleared (``ScanResult.considered``, columnar)."""
        c_start, _, c_rule, _, by_context = cleared
        lines = np.concatenate(
            [
                cols.line,
                np.searchsorted(norm.line_starts, norm.first[c_start], side="right") - 1,
                by_context.line,
            ]
        ).astype(np.int64)
        rules = np.concatenate([cols.rule, c_rule, by_context.rule]).astype(np.int64)
        out: dict[int, set[str]] = {}
        for li, r in zip(lines.tolist(), rules.tolist(), strict=True):
            out.setdefault(li, set()).add(self.rules[r].category)
        return out


def _reaching(a_start: np.ndarray, a_end: np.ndarray, a_rule: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """For deny matches ending at ``ends`` and known to overlap an allowed span: the rule of the allowed span
    that starts before each end and reaches furthest (it is one that overlaps)."""
    order = np.argsort(a_start, kind="stable")
    s_start, s_end, s_rule = a_start[order], a_end[order], a_rule[order]
    reach = np.maximum.accumulate(s_end)
    holder = np.maximum.accumulate(np.where(s_end == reach, np.arange(s_end.size), 0))
    return s_rule[holder[np.searchsorted(s_start, ends, side="right") - 1]]


_LOOKBEHIND = re.compile(r"\(\?<[!=](?:[^()\\]|\\.)*\)")


class _Regex:
    """A lexicon regex, scanned fast. Leading lookbehinds stop ``re`` from jumping to the first literal, so
    the rest is searched alone and each candidate is confirmed with the whole pattern at its start. A regex
    that must begin with one of a few literals (``(?:到店|上门|拍完)…``) has them as ``leads``: the scanner's
    automaton finds them with the patterns, and the regex is tried only there."""

    def __init__(self, pattern: str):
        pattern = normalise_regex(pattern)
        self.full = re.compile(pattern)
        rest, n = pattern, 0
        while m := _LOOKBEHIND.match(rest):
            rest, n = rest[m.end() :], n + 1
        self.rest = re.compile(rest) if n and rest else None
        leads = _leading_literals(pattern)
        self.leads = leads if leads and normalise_many(leads) == list(leads) else None

    def spans(self, s: str, starts: np.ndarray | None = None) -> list[tuple[int, int]]:
        """Non-overlapping matches, leftmost first (as ``finditer``); ``starts``: where the leads occur."""
        if self.leads is not None and starts is not None:
            out, pos = [], 0
            for a in starts.tolist():
                if a >= pos and (m := self.full.match(s, a)) is not None and m.end() > a:
                    out.append(m.span())
                    pos = m.end()
            return out
        if self.rest is None:
            return [m.span() for m in self.full.finditer(s) if m.end() > m.start()]
        out, pos = [], 0
        while (m := self.rest.search(s, pos)) is not None:
            full = self.full.match(s, m.start())
            if full is not None and full.end() > full.start():
                out.append(full.span())
                pos = full.end()
            else:
                pos = m.start() + 1
        return out


_EDGE_CHAR = re.compile(r"[a-z0-9]")


def _leading_literals(pattern: str) -> tuple[str, ...] | None:
    """The literals every match of ``pattern`` starts with (after zero-width assertions), when there are
    a few and each is at least two characters of the normalised alphabet that is not a Latin letter or
    digit at either end (the automaton's word-edge rules would otherwise apply); else None."""
    from re import _constants as c  # type: ignore[attr-defined]
    from re import _parser  # type: ignore[attr-defined]

    def first(tokens: list) -> list[str] | None:
        if not tokens:
            return None
        op, av = tokens[0]
        if op is c.LITERAL:
            lit = []
            for op2, av2 in tokens:
                if op2 is not c.LITERAL:
                    break
                lit.append(chr(av2))
            return ["".join(lit)]
        if op is c.SUBPATTERN and not av[1] and not av[2]:
            return first(list(av[3]))
        if op is c.BRANCH:
            out: list[str] = []
            for b in av[1]:
                r = first(list(b))
                if r is None:
                    return None
                out += r
            return out
        return None

    try:
        tokens = list(_parser.parse(pattern))
    except re.error:
        return None
    while tokens and tokens[0][0] in (c.ASSERT, c.ASSERT_NOT):
        tokens = tokens[1:]
    leads = first(tokens)
    if not leads or len(leads) > 64:
        return None
    if any(len(x) < 2 or _EDGE_CHAR.match(x[0]) or _EDGE_CHAR.match(x[-1]) for x in leads):
        return None
    return tuple(dict.fromkeys(leads))


def _by_slot(slot: np.ndarray, start: np.ndarray, n: int) -> list[np.ndarray]:
    """Start positions of lead literals found by the automaton, sorted, per regex slot."""
    order = np.lexsort((start, slot))
    slot, start = slot[order], start[order]
    bounds = np.searchsorted(slot, np.arange(n + 1))
    return [np.unique(start[bounds[k] : bounds[k + 1]]) for k in range(n)]


@cache
def _spell(ch: str) -> str:
    from pypinyin import lazy_pinyin

    return lazy_pinyin(ch)[0]


def _pinyin_variants(pattern: str, cap: int = 64) -> list[str]:
    """The pattern with any of its Chinese characters written in toneless pinyin (免检 → mian检, mianjian)."""
    spelled = [_spell(ch) if "\u4e00" <= ch <= "\u9fff" else ch for ch in pattern]
    return _expand([(ch,) if sp == ch else (ch, sp) for ch, sp in zip(pattern, spelled, strict=True)], cap)


def _expand(options: list[tuple[str, ...]], cap: int) -> list[str]:
    """Every string taking one option per position, at most ``cap`` of them."""
    return ["".join(v) for v in itertools.islice(itertools.product(*options), cap)]


def _merge_overlaps(h: HitColumns, cat: np.ndarray) -> HitColumns:
    """Within one line and category, overlapping matches are one hit: 全网最低价 over 最低价, 能治疗 rather
    than 能治 + 治疗. The merged hit spans them all, keeps the longest match's rule and the worst severity."""
    if h.line.size < 2:
        return h
    out: list[list[int]] = []  # line, start, end, rule, severity, longest length
    group = None
    for i in np.lexsort((-(h.end - h.start), h.start, cat, h.line)):
        li, a, b, r, sv = int(h.line[i]), int(h.start[i]), int(h.end[i]), int(h.rule[i]), int(h.severity[i])
        if (li, cat[i]) == group and a <= out[-1][2]:
            m = out[-1]
            if b - a > m[5]:
                m[3], m[5] = r, b - a
            m[2], m[4] = max(m[2], b), min(m[4], sv)
        else:
            group = (li, cat[i])
            out.append([li, a, b, r, sv, b - a])
    arr = np.array(out, dtype=np.int64)
    return HitColumns(arr[:, 0], arr[:, 1], arr[:, 2], arr[:, 3], arr[:, 4].astype(np.int8))


@dataclass
class Score:
    category: str
    labelled: int  # lines labelled with the category
    flagged: int  # lines the scanner flagged (block or review) with it
    true_positive: int

    @property
    def precision(self) -> float:
        return self.true_positive / self.flagged if self.flagged else 1.0

    @property
    def recall(self) -> float:
        return self.true_positive / self.labelled if self.labelled else 1.0


@dataclass
class Evaluation:
    lines: int
    scores: list[Score]
    mistakes: list[tuple[str, set[str], set[str]]]  # text, labelled, flagged — where they differ


def labelled_rows(lines: Iterable[str], origin: str) -> list[dict[str, str]]:
    """The rows of a labelled set (TSV with a header: text, categories — comma-separated, empty = clean —
    and optionally kind and note), each a dict of its columns."""
    import csv

    rows = list(csv.DictReader(lines, delimiter="\t", quoting=csv.QUOTE_NONE))
    if not rows or "text" not in rows[0] or "categories" not in rows[0]:
        raise LexiconError(
            f"{origin}: 需要表头 text 与 categories a TSV with columns 'text' and 'categories' is expected"
        )
    return rows


def read_labelled(path: str | Path) -> list[tuple[str, set[str]]]:
    """A labelled set's lines as (text, categories)."""
    with open(path, encoding="utf-8", newline="") as fh:
        rows = labelled_rows(fh, str(path))
    return [(r["text"], {c.strip() for c in (r["categories"] or "").split(",") if c.strip()}) for r in rows]


def evaluate(items: Sequence[tuple[str, set[str]]], scanner: Scanner) -> Evaluation:
    """Line-level precision and recall per category; a line counts as flagged for a category when it has
    a block or review hit of that category (warn hits are advice, not flags)."""
    results = scanner.scan([t for t, _ in items])
    flagged = [r.flagged for r in results]
    scores = []
    for cat in scanner.lexicon.categories:
        lab = sum(cat in want for _, want in items)
        got = sum(cat in f for f in flagged)
        tp = sum(cat in f and cat in want for (_, want), f in zip(items, flagged, strict=True))
        scores.append(Score(cat, lab, got, tp))
    mistakes = [(t, want, f) for (t, want), f in zip(items, flagged, strict=True) if want != f]
    return Evaluation(len(items), scores, mistakes)


@cache
def default_scanner() -> Scanner:
    return Scanner(packaged_lexicon())


@cache
def packaged_lexicon() -> Lexicon:
    """The lexicon shipped with the package, read once per process."""
    return Lexicon.packaged()


def project_lexicon(lexicon: str | None = None, user_rules: str | None = None) -> Lexicon:
    """The lexicon this project uses: liveops.toml's [compliance] lexicon and rules files when they exist
    (a newer lexicon release, the user's own rules and allow-words), else the packaged one."""
    from .store import Settings

    s = Settings.load()
    lex_file = lexicon or (s.lexicon if Path(s.lexicon).is_file() else None)
    rules_file = user_rules or (s.user_rules if Path(s.user_rules).is_file() else None)
    if not lex_file and not rules_file:
        return packaged_lexicon()
    return Lexicon.load(lex_file, rules_file)


def project_scanner(lexicon: str | None = None, user_rules: str | None = None) -> Scanner:
    """The scanner over :func:`project_lexicon` (the packaged one is compiled once per process)."""
    lex = project_lexicon(lexicon, user_rules)
    return default_scanner() if lex is packaged_lexicon() else Scanner(lex)


def scan(texts: Iterable[str | None], scanner: Scanner | None = None) -> list[ScanResult]:
    """Scan texts (scripts, transcript lines, danmaku) with the packaged lexicon unless a scanner is given."""
    return (scanner or default_scanner()).scan(texts)
