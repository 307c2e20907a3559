"""Compliance risk matrix and cost-benefit of controls (seed 7.4).

Likelihood is the chance that a show has a violation of a category, from the history of ``block`` and
``review`` hits, as the posterior mean of a Beta(1, 1) prior — so a category never seen in three shows
is not called impossible. Impact is the category's statutory fine range from the lexicon. Expected loss
per show = likelihood × enforcement rate × mid fine; a control's return is the expected loss it avoids
in a year divided by its cost. Every assumption lives in a YAML file the user can replace.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb
import yaml

from .compliance import Lexicon, LexiconError


@dataclass(frozen=True)
class Control:
    id: str
    zh: str
    en: str
    cost_per_year: float
    reduces: dict[str, float]


@dataclass(frozen=True)
class Assumptions:
    shows_per_year: float
    enforcement_rate: float
    likelihood_levels: tuple[float, ...]
    impact_levels: tuple[float, ...]
    controls: tuple[Control, ...]

    @classmethod
    def load(cls, path: str | Path | None = None) -> Assumptions:
        src = (
            Path(path).read_text(encoding="utf-8")
            if path
            else (resources.files("liveops").joinpath("compliance_controls.yaml").read_text(encoding="utf-8"))
        )
        where = str(path or "compliance_controls.yaml")
        try:
            d: dict[str, Any] = yaml.safe_load(src)
            controls = tuple(
                Control(
                    id=str(c["id"]),
                    zh=str(c.get("zh", c["id"])),
                    en=str(c.get("en", "")),
                    cost_per_year=float(c["cost_per_year"]),
                    reduces={str(k): float(v) for k, v in (c.get("reduces") or {}).items()},
                )
                for c in d.get("controls") or []
            )
            out = cls(
                shows_per_year=float(d["shows_per_year"]),
                enforcement_rate=float(d["enforcement_rate"]),
                likelihood_levels=tuple(float(x) for x in d["likelihood_levels"]),
                impact_levels=tuple(float(x) for x in d["impact_levels"]),
                controls=controls,
            )
        except (KeyError, TypeError, ValueError, AttributeError, yaml.YAMLError) as e:
            raise LexiconError(f"{where}: 风险假设文件无效 invalid risk assumptions: {e!r}") from None
        for c in controls:
            bad = {k: v for k, v in c.reduces.items() if not 0 <= v <= 1}
            if bad or c.cost_per_year <= 0:
                raise LexiconError(
                    f"{where}: control {c.id}: reduces must be within 0–1 and cost > 0 ({bad})"
                )
        return out


@dataclass
class RiskRow:
    category: str
    zh: str
    shows: int
    shows_with_hits: int
    block_hits: int
    review_hits: int
    likelihood: float  # chance of a violation per show (Beta(1,1) posterior mean)
    likelihood_level: int  # 1–5
    law: str
    fine_min: float
    fine_max: float
    impact_level: int  # 1–5
    score: int  # likelihood level × impact level
    expected_loss_per_show: float
    expected_loss_per_year: float


@dataclass
class ControlValue:
    id: str
    zh: str
    cost_per_year: float
    loss_avoided_per_year: float
    roi: float  # loss avoided ÷ cost


@dataclass
class RiskMatrix:
    shows: int
    rows: list[RiskRow]
    controls: list[ControlValue]
    assumptions: Assumptions = field(repr=False)

    def grid(self) -> dict[tuple[int, int], list[str]]:
        """(likelihood level, impact level) → categories, the matrix as drawn."""
        g: dict[tuple[int, int], list[str]] = {}
        for r in self.rows:
            g.setdefault((r.likelihood_level, r.impact_level), []).append(r.category)
        return g


def _level(x: float, cuts: tuple[float, ...]) -> int:
    return 1 + sum(x >= c for c in cuts)


def risk_matrix(
    con: duckdb.DuckDBPyConnection,
    lexicon: Lexicon,
    assumptions: Assumptions,
    room_id: str | None = None,
) -> RiskMatrix:
    from .compliance_store import hits_relation

    room = "AND room_id = ?" if room_id else ""
    args = [room_id] if room_id else []
    shows = con.execute(f"SELECT count(DISTINCT session_id) FROM events WHERE true {room}", args).fetchall()[
        0
    ][0]
    hits = hits_relation(con)
    stats = {
        c: (s, b, r)
        for c, s, b, r in con.execute(
            f"""SELECT category, count(DISTINCT session_id) FILTER (WHERE severity IN ('block', 'review')),
                       count(*) FILTER (WHERE severity = 'block'), count(*) FILTER (WHERE severity = 'review')
                FROM {hits} WHERE true {room} GROUP BY category""",
            args,
        ).fetchall()
    }
    a = assumptions
    rows = []
    for key, cat in lexicon.categories.items():
        s, b, r = stats.get(key, (0, 0, 0))
        p = (s + 1) / (shows + 2)
        mid = (cat.fine_min + cat.fine_max) / 2
        li, im = _level(p, a.likelihood_levels), _level(cat.fine_max, a.impact_levels)
        loss = p * a.enforcement_rate * mid
        rows.append(
            RiskRow(
                key,
                cat.zh,
                shows,
                s,
                b,
                r,
                p,
                li,
                cat.law,
                cat.fine_min,
                cat.fine_max,
                im,
                li * im,
                loss,
                loss * a.shows_per_year,
            )
        )
    rows.sort(key=lambda x: (-x.expected_loss_per_year, -x.score, x.category))
    yearly = {r.category: r.expected_loss_per_year for r in rows}
    controls = [
        ControlValue(
            c.id,
            c.zh,
            c.cost_per_year,
            avoided := sum(yearly.get(k, 0.0) * v for k, v in c.reduces.items()),
            avoided / c.cost_per_year,
        )
        for c in a.controls
    ]
    controls.sort(key=lambda x: -x.roi)
    return RiskMatrix(shows, rows, controls, a)
