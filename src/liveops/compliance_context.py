"""语境判断 Is a matched word a claim at all? A streamer who says 我们不说全网最低, a viewer who asks
这个能治失眠吗, a script note that reads “降血糖”不能说, a warning 千万别加私人微信都是骗子 and a book
called 《最好的告别》 all contain a lexicon word and make no claim.

After the allow-list, each remaining hit is read in its clause and line: denied, asked, doubted, named as
a word, someone else's words refuted, or a title — no claim; compared within one's own shop or given as a
personal opinion — permitted for absolute terms (SAMR 2023); a disease named to send people to a doctor;
or backed by a checkable basis. The cue words are data in the lexicon's ``context`` section, and each
category (or rule) lists the kinds that apply to it: an insult stays an insult when asked as a question.
A hit in such a context is cleared when its category is exemptable and lowered to ``warn`` (shown, not
flagged) when it is not (medical, finance); ``evidence`` and ``filed`` only ever lower to ``warn``.

It runs only on the few lines with hits, on the batch's normalised text, so the scanner stays columnar.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

KINDS = (
    "negation",
    "question",
    "doubt",
    "mention",
    "refutation",
    "title",
    "own_scope",
    "opinion",
    "referral",
    "self_report",
    "evidence",
    "filed",
)
# what a category accepts unless it lists its own: the kinds in which no claim is made at all
DEFAULT_KINDS = ("negation", "question", "mention", "refutation", "title")
KIND_ZH = {
    "negation": "否定",
    "question": "提问",
    "doubt": "质疑",
    "mention": "引述词语",
    "refutation": "转述并驳斥",
    "title": "书名/名称",
    "own_scope": "本店/本品牌内比较",
    "opinion": "个人感受",
    "referral": "建议就医",
    "self_report": "自述病情并提问",
    "evidence": "给出可核查依据",
    "filed": "按注册/批准内容表述",
}
CUE_LISTS = (
    "negation",
    "negation_keeps",
    "negation_bridge",
    "negation_after",
    "after_bridge",
    "mention",
    "refusal",
    "question_final",
    "question_inner",
    "question_wh",
    "question_doubt",
    "question_tag",
    "question_off",
    "doubt_next",
    "rhetorical",
    "answer_yes",
    "answer_no",
    "answer_lead",
    "contrast",
    "implied",
    "definition",
    "name",
    "name_evidence",
    "own",
    "own_limit",
    "external_scope",
    "opinion",
    "evidence",
    "filed",
    "referral",
    "referral_off",
    "referral_after_off",
    "self_report",
    "self_report_off",
    "reporter",
    "refuter",
    "refuter_after",
    "warning",
    "list_header",
)
# clause boundaries in the original text (normalisation drops them, so they are read from the original)
_BOUNDARY = re.compile(r"[，。！？；,.!?;…~～:：\s]+")
_QUESTION_MARKS = ("？", "?")
_OPEN_CLOSE = {"“": "”", "「": "」", "『": "』", "‘": "’", "《": "》", "〈": "〉"}
_SYMMETRIC = ('"', "'")
_COORDINATION = ("", "和", "或", "跟", "与", "及", "或者", "以及", "还有", "也不", "不")
# kinds that lower a hit to warn even where context may clear it
DEMOTE_ONLY = frozenset({"evidence", "filed"})
WARNING_REACH = 12  # characters between a warning (千万别) and the hit it covers
WH_REACH = 6  # characters between a question word (哪个) and the hit it asks about
SELF_REPORT_REACH = 6  # characters between the person (我妈) and the illness (有糖尿病, 得过乳腺结节)
_A_NOT_A = re.compile(r"(.)[不没]\1")  # 能不能, 有没有: a question, not a negation
# 跟近视没关系 denies a link; 用妈妈手机没关系 ("never mind") does not, so 跟/和/与 must come before the hit
_UNRELATED = re.compile(r"(?:没|没有|没什么|毫无)关系|无关")


def _alternation(words: Sequence[str], reverse: bool = False) -> str:
    ws = sorted({w[::-1] if reverse else w for w in words if w}, key=len, reverse=True)
    return "|".join(map(re.escape, ws)) or "(?!)"


class Cues:
    """The ``context`` section of a lexicon, normalised like the text and compiled to regexes."""

    def __init__(self, words: Mapping[str, tuple[str, ...]]):
        def alt(key: str, reverse: bool = False) -> str:
            return _alternation(words.get(key, ()), reverse)

        c = re.compile
        # matched on the reversed clause prefix: bridges then a negation, ending right before the hit
        self._neg_before = c(rf"(?:{alt('negation_bridge', True)})*(?:{alt('negation', True)})")
        self._keeps = c(alt("negation_keeps"))
        self._neg_after = c(rf"(?:{alt('after_bridge')})*(?:{alt('negation_after')})")
        self._mention = c(rf"(?:这|那)?(?:{alt('mention')})")
        self._refusal = c(alt("refusal"))
        self._q_inner = c(alt("question_inner"))
        self._q_wh = c(rf"(?:{alt('question_wh')}).{{0,{WH_REACH}}}$")
        # 你们家最好卖的是哪款: the question word after the hit ends the clause (哪里都 is not a question)
        self._q_wh_after = c(rf"(?:{alt('question_wh')})(?![都也人])\S{{0,4}}$")
        self._q_doubt = c(alt("question_doubt"))
        self._q_tag = c(rf"(?:{alt('question_tag')})(?:啊|呀|哈|嘛)?$")
        self._q_final = c(rf"(?:{alt('question_final')})(?:啊|呀|哈)?$")
        self._rhetorical = c(alt("rhetorical"))
        self._question_off = c(alt("question_off"))
        # 医生都推荐 真的假的: the next clause doubts the one before
        self._doubt_next = c(rf"(?:{alt('doubt_next')})(?:啊|呀|哈)?$")
        # 绝对不能 answers no: a yes-word followed by a negation is not a yes
        self._answer_yes = c(rf"(?:{alt('answer_yes')})(?![不没别])")
        self._answered = c(
            rf"(?:{_alternation([w for w in words.get('answer_yes', ()) if len(w) > 1])})(?![不没别])"
        )
        # 有人问电子烟能不能卖给学生 不能: a question answered no denies the claim (also where asking does not clear)
        self._answer_no = c(rf"(?:{alt('answer_lead')})?(?:{alt('answer_no')})(?:啊|哦|呀|哈|的)?$")
        self._contrast = c(alt("contrast"))
        self._implied = c(alt("implied"))
        self._definition = c(rf".{{0,2}}?(?:的)?(?:{alt('definition')})")
        self._name = c(rf"(?:{alt('name')}).{{0,2}}$")
        self._name_evidence = c(alt("name_evidence"))
        self._own = c(alt("own"))
        self._own_limit = c(alt("own_limit"))
        self._external = c(alt("external_scope"))
        self._opinion = c(alt("opinion"))
        self._evidence = c(alt("evidence"))
        self._filed = c(alt("filed"))
        self._referral = c(alt("referral"))
        self._referral_off = c(rf"(?:{alt('referral_off')})\S{{0,2}}$")
        # 皮肤科专家推荐的: the doctor endorses the goods, nobody is sent to one
        self._referral_after_off = c(rf"\S{{0,4}}?(?:{alt('referral_after_off')})")
        self._self_report = c(rf"(?:{alt('self_report')}).{{0,{SELF_REPORT_REACH}}}$")
        self._self_report_off = c(alt("self_report_off"))
        self._asks = c(rf"{alt('question_inner')}|{alt('question_wh')}|吗|嘛")
        self._reporter = c(alt("reporter"))
        self._refuter = c(alt("refuter"))
        # 禁用词：第一、最好、顶级 — a list of words under a header names them, it does not use them
        self._list_header = c(rf"(?:{alt('list_header')})(?:是|有|包括|加上|比如|如)?$")
        self._refuter_after = c(rf"(?:{alt('after_bridge')})*(?:的)?(?:{alt('refuter_after')})")
        # 说吃了能治病的都是骗子: the whole phrase ending in the hit is what is refuted
        self._refuted_phrase = c(rf"的(?:{alt('after_bridge')})*(?:{alt('refuter_after')})")
        self._warning = c(alt("warning"))

    @classmethod
    def from_mapping(
        cls, data: Mapping[str, Sequence[str]], normalise_many: Callable[[Sequence[str]], list[str]]
    ) -> Cues:
        words = {}
        for key in CUE_LISTS:
            ws = [str(x) for x in data.get(key) or ()]
            words[key] = tuple(n for n in normalise_many(ws) if n) if ws else ()
        return cls(words)

    # -- one hit --
    def kinds(self, h: _HitView, earlier_negated: bool, strict: bool) -> Iterator[str]:
        """The contexts in which this hit is no claim, most specific first. A denial or a refused word followed
        by the claim made another way (反正, 换个说法, 心里有数, 照说) does not count; ``strict``: the category
        never passes by context (medical, finance), so any contrast (但是) after the denial keeps it too."""
        prefix, suffix = h.prefix, h.listed_suffix
        # 能不能, 是不是 (also 防不 + 防脱) read as question marks, not negations
        plain = _A_NOT_A.sub("?", prefix + h.matched[:1])[:-1]
        question = self._is_question(h)
        answered_no = question and self._answer_no.match(h.next_clause) is not None
        rhetorical_neg = question and ("不是" in plain or "不就" in plain)
        # 不敢说治病，但是我妈吃了血压真下来了: denied in words, claimed in the next breath
        hedged = self._implied.search(h.line_after) is not None or (
            strict and self._contrast.search(h.line_after) is not None
        )
        before = not self._keeps.match(h.matched) and self._neg_before.match(plain[::-1])
        unrelated = prefix.endswith(("跟", "和", "与")) and _UNRELATED.match(suffix) is not None
        if (
            not rhetorical_neg
            and not hedged
            and (earlier_negated or before or unrelated or answered_no or self._neg_after.match(suffix))
        ):
            yield "negation"
        # 能加个微信吗 想私下拿几件: asked, but with the intent to do it said in the same line
        asked = question and not rhetorical_neg and not self._question_off.search(h.line_without_hit)
        doubted = not asked and self._doubt_next.match(h.next_clause) is not None
        if asked or doubted:
            if doubted or self._q_doubt.search(prefix):
                yield "doubt"
            yield "question"
        if not hedged and (self._mention.match(suffix) or h.quoted) and self._refusal.search(h.line_after):
            yield "mention"
        if not hedged and h.listed_from and self._list_header.search(h.line_before[: h.listed_from]):
            yield "mention"
        rest = h.line_without_hit
        line = _A_NOT_A.sub("?", rest)
        warning = _last(self._warning, h.line_before)
        warned = (
            warning is not None
            and h.line_before_clause_start <= warning.start()
            and len(h.line_before) - warning.end() <= WARNING_REACH
        )
        if (
            self._refuter_after.match(suffix)
            or self._refuter_after.match(h.suffix)  # 百家乐那条删了: the refuting words are a hit themselves
            or self._refuted_phrase.search(suffix)
            or (self._reporter.search(prefix) and self._refuter.search(line))
            or warned
        ):
            yield "refutation"
        if self._definition.match(h.suffix):
            yield "mention"  # 终身保修指的是人工费: a term being defined
        if h.titled or (self._name.search(prefix) and self._name_evidence.search(rest)):
            yield "title"
        if not self._external.search(h.matched):
            own = _last(self._own, h.line_before)
            if own is not None:
                between = h.line_before[own.start() :]
                if self._own_limit.search(between) and not self._external.search(rest):
                    yield "own_scope"  # 我们店今年卖得最好的一款: compared within one's own shop
            if self._opinion.search(prefix) and not self._external.search(prefix):
                yield "opinion"  # 我个人觉得雾霾蓝最好看
        if any(
            not self._referral_off.search(line, 0, r.start())
            and not self._referral_after_off.match(line, r.end())
            for r in self._referral.finditer(line)
        ):
            yield "referral"  # 糖尿病的朋友一切听医生的: a disease named to send people to a doctor
        if (
            not h.suffix
            and self._self_report.search(prefix)
            and not self._self_report_off.search(h.line_after)
            and (h.line_asked or self._asks.search(h.line_without_hit))
        ):
            yield "self_report"  # 能给我爸用吗 他高血压: one's own illness, asked about (not: 我有鼻炎 用了就通了)
        if self._evidence.search(rest):
            yield "evidence"  # 原价是上个月的成交价，价格曲线可查: a checkable basis, shown as advice
        if self._filed.search(rest):
            yield "filed"  # 国妆特字的祛斑霜, 保健功能是增强免疫力: a registered claim, to check against the filing

    def _is_question(self, h: _HitView) -> bool:
        clause = h.prefix + h.matched + h.suffix
        if self._rhetorical.search(clause):
            return False
        asked = (
            self._q_inner.search(h.prefix + h.matched) is not None  # 能不能治: the hit may end the A-not-A
            or self._q_wh.search(h.prefix) is not None
            or self._q_wh_after.search(h.suffix) is not None
        )
        if not asked:
            if self._q_tag.search(clause):
                return False  # 全网最低对不对: the streamer asks for agreement, not a question
            asked = h.question_mark or self._q_final.search(clause) is not None
        # answered yes: 能补血吗？当然能 — or in one breath, 能不能补血当然能
        # 是不是高仿的？有专柜小票吗: a clause that is itself a question does not answer yes
        answered = self._answer_yes.match(h.next_clause) and not self._asks.search(h.next_clause)
        return asked and not answered and not self._answered.match(h.suffix)


@dataclass
class _HitView:
    """A hit in its line, as normalised text pieces (the clause before and after it, the next clause)."""

    matched: str
    prefix: str  # the clause before the hit
    suffix: str  # the clause after the hit
    listed_suffix: str  # … after the hits listed right after this one (高仿、A货、原单这类词不能说)
    listed_from: int  # where in line_before the run of hits listed right before this one starts
    next_clause: str
    question_mark: bool  # the clause ends with ？
    line_asked: bool  # some clause of the line ends with ？
    line_before: str  # the whole line before the hit
    line_before_clause_start: int  # where the hit's clause starts within line_before
    line_after: str
    quoted: bool
    titled: bool

    @property
    def line_without_hit(self) -> str:
        return self.line_before + "\x00" + self.line_after


def _last(rx: re.Pattern, text: str) -> re.Match | None:
    m = None
    for m in rx.finditer(text):  # noqa: B007 — the last match is wanted
        pass
    return m


def _inside(t: str, lo: int, hi: int, opens: Sequence[str]) -> bool:
    """Whether original span [lo, hi) sits inside a pair of the given brackets or quotes."""
    for o in opens:
        c = _OPEN_CLOSE.get(o, o)
        if o in _SYMMETRIC:
            if t.count(o, 0, lo) % 2 == 1 and t.find(c, hi) != -1:
                return True
            continue
        i = t.rfind(o, 0, lo)
        if i != -1 and t.rfind(c, i, lo) == -1 and t.find(c, hi) != -1:
            return True
    return False


_LIST_JOINERS = ("和", "或", "及", "以及", "还有", "跟")


def _listed(spans: Sequence[tuple[int, int]], hs: int, he: int, s: str) -> tuple[int, int]:
    """The run of hits written as a list around hit [hs, he] (separators like 、 are gone after
    normalisation, so listed words touch, or are joined by 和 / 或): where the run ends after the hit
    (exclusive) and where it starts before it."""
    end, moved = he + 1, True
    while moved:
        moved = False
        for a, b in spans:
            gap = s[end:a]
            if a >= end and b >= a and (gap == "" or gap in _LIST_JOINERS):
                end, moved = b + 1, True
                break
    begin, moved = hs, True
    while moved:
        moved = False
        for a, b in spans:
            gap = s[b + 1 : begin]
            if b < begin and (gap == "" or gap in _LIST_JOINERS):
                begin, moved = a, True
                break
    return end, begin


def classify(
    cues: Cues,
    texts: Sequence[str],
    s: str,
    first: np.ndarray,
    last: np.ndarray,
    line_starts: np.ndarray,
    line: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
    applies: Sequence[frozenset[str]],
    strict: np.ndarray,
) -> np.ndarray:
    """Per hit (normalised span start..end inclusive, in batch line ``line``), 1 + the index into ``KINDS``
    of the first context that applies to it, or 0. ``applies[i]``: the kinds hit i's rule or category
    accepts; ``strict[i]``: its category is not exemptable."""
    out = np.zeros(line.size, dtype=np.int8)
    if not line.size:
        return out
    order = np.lexsort((start, line))
    by_line = line[order]
    cur, runs, ln0, ln1, t, base, line_asked = -1, [], 0, 0, "", 0, False
    negated: list[tuple[int, int, int]] = []  # (clause start, hit start, hit end) of negated hits in the line
    for i in order.tolist():
        li = int(line[i])
        if li != cur:
            cur, t, base = li, texts[li], int(line_starts[li])
            ln0 = int(np.searchsorted(first, base))
            ln1 = int(np.searchsorted(first, base + len(t)))
            runs = [
                (int(np.searchsorted(first, base + m.start())), any(q in m.group() for q in _QUESTION_MARKS))
                for m in _BOUNDARY.finditer(t)
            ]
            line_asked = any(q for _, q in runs)
            negated = []
            here = order[np.searchsorted(by_line, li) : np.searchsorted(by_line, li, side="right")]
            spans = list(zip(start[here].tolist(), end[here].tolist(), strict=True))  # sorted by start
        if not applies[i]:
            continue
        hs, he = int(start[i]), int(end[i])
        c0 = max((nb for nb, _ in runs if nb <= hs), default=ln0)
        after = [(nb, q) for nb, q in runs if nb > he]
        c1, qmark = after[0] if after else (ln1, False)
        c2 = next((nb for nb, _ in after[1:] if nb > c1), ln1)
        lo, hi = int(first[hs]) - base, int(last[he]) - base + 1
        after_list, before_list = _listed(spans, hs, he, s)
        view = _HitView(
            matched=s[hs : he + 1],
            prefix=s[c0:hs],
            suffix=s[he + 1 : c1],
            listed_suffix=s[min(after_list, c1) : c1],
            listed_from=before_list - ln0,
            next_clause=s[c1:c2],
            question_mark=qmark,
            line_asked=line_asked,
            line_before=s[ln0:hs],
            line_before_clause_start=c0 - ln0,
            line_after=s[he + 1 : ln1],
            quoted=_inside(t, lo, hi, ("“", "「", "『", "‘", '"')),
            titled=_inside(t, lo, hi, ("《", "〈")),
        )
        earlier = any(c == c0 and s[e + 1 : hs] in _COORDINATION for c, _, e in negated)
        found = list(cues.kinds(view, earlier, bool(strict[i])))
        if found[:1] == ["negation"]:
            negated.append((c0, hs, he))
        k = next((k for k in found if k in applies[i]), None)
        if k is not None:
            out[i] = KINDS.index(k) + 1
    return out
