"""Danmaku questions and complaints: a small keyword rule set, evaluated in SQL (Ibis) and mirrored in Python."""

from __future__ import annotations

import re
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir
import pandas as pd

QUESTION_RE = r"多少|多久|价格|什么价|尺码|码|发货|快递|库存|有货|怎么|什么|吗|几|多大|还是|能不能|有没有|\?"
# Complaint words that mark a complaint even in a question ("质量太差了吧?").
COMPLAINT_STRONG_RE = r"差|假|骗|慢|不好|坑|投诉|涨价|拍不了|没到|不准|卡顿|一直卡|太卡|好卡|很卡|不值|不回|不一样|破|用不了|垃圾"
# Weak complaint words: a complaint only when the text is not a question and not praise ("能退吗", "质量很好").
COMPLAINT_WEAK_RE = r"退|贵|质量|抢不到|起球"
PRAISE_RE = r"(很|真|挺|超|非常|特别|也)(好|不错|棒)|不错"
_TRAILING_RE = r"[?!.。~～…,，、]+$"


def _norm_py(text: str) -> str:
    s = text.strip().lower().replace("？", "?").replace("！", "!")
    return re.sub(r"\s+", "", s)


def classify_comment(text: str | None) -> str | None:
    """'complaint', 'question' or None — the same rules the SQL in :func:`comment_summary` applies."""
    if not text:
        return None
    s = _norm_py(text)
    q = re.search(QUESTION_RE, s) is not None
    strong = re.search(COMPLAINT_STRONG_RE, s) is not None
    weak = re.search(COMPLAINT_WEAK_RE, s) is not None and not q and re.search(PRAISE_RE, s) is None
    if strong or weak:
        return "complaint"
    return "question" if q else None


def normalise_comment(text: str) -> str:
    """The grouping key of a comment: trimmed, lower-case, no spaces, no trailing punctuation."""
    return re.sub(_TRAILING_RE, "", _norm_py(text))


@dataclass
class Comments:
    total: int  # comment events in the session
    n_questions: int
    n_complaints: int
    questions: pd.DataFrame  # text, count (most frequent first)
    complaints: pd.DataFrame


def comment_summary(t: ir.Table, session_id: str, top: int = 10) -> Comments:
    """Classify danmaku and count the most frequent normalised texts per class, all in one SQL group-by."""
    c = t.filter((t.session_id == session_id) & (t.type == "comment") & t.text.notnull())
    n = c.text.strip().lower().replace("？", "?").replace("！", "!").re_replace(r"\s+", "")
    q = n.re_search(QUESTION_RE)
    strong = n.re_search(COMPLAINT_STRONG_RE)
    weak = n.re_search(COMPLAINT_WEAK_RE) & ~q & ~n.re_search(PRAISE_RE)
    cls = ibis.cases((strong | weak, "complaint"), (q, "question"), else_="other")
    rows = c.select(key=n.re_replace(_TRAILING_RE, ""), cls=cls)
    rows = rows.filter(rows.key != "")
    per = rows.group_by("key").aggregate(
        count=rows.count(),
        complaint=(rows.cls == "complaint").sum(),
        question=(rows.cls == "question").sum(),
    )
    df = per.execute()
    total = int(c.count().execute())
    df["cls"] = "other"
    df.loc[df["question"] > 0, "cls"] = "question"
    df.loc[df["complaint"] > 0, "cls"] = "complaint"

    def top_of(k: str) -> pd.DataFrame:
        d = df[df["cls"] == k].sort_values(["count", "key"], ascending=[False, True]).head(top)
        return d[["key", "count"]].rename(columns={"key": "text"}).reset_index(drop=True)

    return Comments(
        total=total,
        n_questions=int(df.loc[df["cls"] == "question", "question"].sum()),
        n_complaints=int(df.loc[df["cls"] == "complaint", "complaint"].sum()),
        questions=top_of("question"),
        complaints=top_of("complaint"),
    )
