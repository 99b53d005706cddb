"""AI Energy Score star ratings: 1 to 5 stars from Wh per 1,000 queries.

Within each (task, class) group, the range between the lowest and highest energy is cut into five bands of
equal width; the least energy gets 5 stars. A group of one model, or of equal energies, rates every run 5 stars.
Runs without a measured energy, or that did not complete, are left out and listed as such.

A row measured over several passes has a 95% interval of its energy (runs/textgen_repeats.py); when the interval
reaches across a band edge, the row's stars are the range its interval allows ("3-4 stars"), not one number the
noise could change.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from wattbench.store.schema import MasterRow

BANDS = 5


@dataclass
class Rating:
    model_name: str
    reasoning_state: str
    task: str
    model_class: str
    wh_per_1000_queries: float
    stars: int
    wh_ci95: list[float] | None = None
    """95% interval of the Wh per 1,000 queries across the row's passes; None with one pass."""
    stars_range: list[int] | None = None
    """[fewest, most] stars the interval allows, when they differ; None when the stars are certain."""

    @property
    def stars_label(self) -> str:
        return star_text(self.stars, self.stars_range)


def star_text(stars: int, stars_range: list[int] | None) -> str:
    return f"{stars_range[0]}-{stars_range[1]}" if stars_range else str(stars)


def energy_interval(row: MasterRow) -> list[float] | None:
    """The row's Wh per 1,000 queries interval across passes (its energy per prompt's, times 1,000)."""
    low, high = row.repeat_energy_per_prompt_wh_ci95_low, row.repeat_energy_per_prompt_wh_ci95_high
    return None if low is None or high is None else [1000 * low, 1000 * high]


def stars_between(interval: list[float] | None, rule) -> list[int] | None:  # noqa: ANN001 — value -> stars
    """[fewest, most] stars over the interval's two ends under `rule`, or None when both ends get the same."""
    if interval is None:
        return None
    ends = sorted((rule(interval[0]), rule(interval[1])))
    return ends if ends[0] != ends[1] else None


@dataclass
class GroupBounds:
    task: str
    model_class: str
    min_wh_per_1000: float
    max_wh_per_1000: float
    band_edges: list[float]  # BANDS + 1 edges, low to high; 5 stars between the first two


@dataclass
class RatingReport:
    ratings: list[Rating] = field(default_factory=list)
    bounds: list[GroupBounds] = field(default_factory=list)
    left_out: list[tuple[str, str, str]] = field(default_factory=list)  # (model, state, why)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ratings": [r.__dict__ | {"stars_label": r.stars_label} for r in self.ratings],
            "bounds": [b.__dict__ for b in self.bounds],
            "left_out": [{"model_name": m, "reasoning_state": s, "reason": w} for m, s, w in self.left_out],
        }


def stars_for(value: float, low: float, high: float) -> int:
    if high <= low:
        return BANDS
    band = math.floor((value - low) / ((high - low) / BANDS))
    return BANDS - min(BANDS - 1, max(0, band))


def _energy(row: MasterRow) -> float | None:
    if row.wh_per_1000_queries is not None:
        return row.wh_per_1000_queries
    if row.gpu_energy_wh is not None and row.successful_prompts:
        return 1000 * row.gpu_energy_wh / row.successful_prompts
    return None


def rate(rows: list[MasterRow]) -> RatingReport:
    report = RatingReport()
    groups: dict[tuple[str, str], list[tuple[MasterRow, float]]] = {}
    for row in rows:
        model, state = row.model_name, row.reasoning_state or ""
        if (row.status or "completed") != "completed":
            report.left_out.append((model, state, f"run {row.status}"))
            continue
        value = _energy(row)
        if value is None:
            report.left_out.append((model, state, "no measured energy"))
            continue
        groups.setdefault((row.task or "", row.model_class or ""), []).append((row, value))
    for (task, model_class), members in sorted(groups.items()):
        values = [v for _, v in members]
        low, high = min(values), max(values)
        width = (high - low) / BANDS
        report.bounds.append(GroupBounds(task, model_class, low, high, [low + i * width for i in range(BANDS + 1)]))
        for row, value in sorted(members, key=lambda m: m[1]):
            interval = energy_interval(row)
            report.ratings.append(
                Rating(
                    row.model_name,
                    row.reasoning_state or "",
                    task,
                    model_class,
                    value,
                    stars_for(value, low, high),
                    interval,
                    stars_between(interval, lambda v: stars_for(v, low, high)),
                )
            )
    return report
