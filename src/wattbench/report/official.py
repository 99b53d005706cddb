"""Our batch figures against the published AI Energy Score board: stars inside the board's bands, and a side by
side of each run whose model is on the board, with the protocol differences that explain a gap."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from wattbench.backends.registry import engine_fact
from wattbench.data.board import Board, BoardEntry, GroupKey
from wattbench.report.ratings import BANDS, energy_interval, star_text, stars_between, stars_for
from wattbench.store.schema import MasterRow

OFFICIAL_TOKENS, OFFICIAL_REASONING_TOKENS, OFFICIAL_PROMPTS = 10, 8192, 1000


def row_reasoning(row: MasterRow) -> bool:
    """Whether a row ran reasoning: its switch, or (no switch) a capped rather than fixed answer length."""
    return bool(row.reasoning) if row.reasoning is not None else row.fixed_length is False


def row_key(row: MasterRow) -> GroupKey:
    return (row.task or "text_gen", (row.model_class or "").upper(), row_reasoning(row))


def _energy(row: MasterRow) -> float | None:
    if row.wh_per_1000_queries is not None:
        return row.wh_per_1000_queries
    if row.gpu_energy_wh is not None and row.successful_prompts:
        return 1000 * row.gpu_energy_wh / row.successful_prompts
    return None


@dataclass
class OfficialRating:
    model_name: str
    reasoning_state: str
    group: str
    wh_per_1000_queries: float
    stars: int
    band_edges: list[float]
    note: str | None = None
    """Set when the run falls outside the board's range, or is not comparable."""
    wh_ci95: list[float] | None = None
    stars_range: list[int] | None = None
    """[fewest, most] stars the row's energy interval allows, when they differ."""

    @property
    def stars_label(self) -> str:
        return star_text(self.stars, self.stars_range)


@dataclass
class OfficialReport:
    board: str
    ratings: list[OfficialRating] = field(default_factory=list)
    left_out: list[tuple[str, str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        left_out = [{"model_name": m, "reasoning_state": s, "reason": w} for m, s, w in self.left_out]
        ratings = [r.__dict__ | {"stars_label": r.stars_label} for r in self.ratings]
        return {"board": self.board, "ratings": ratings, "left_out": left_out}


def group_name(key: GroupKey) -> str:
    task, model_class, reasoning = key
    return f"{task} class {model_class or '-'}{' reasoning' if reasoning else ''}"


def rate_against(rows: list[MasterRow], board: Board) -> OfficialReport:
    """Each completed, measured run rated inside the board's bands for its (task, class, reasoning) group."""
    report = OfficialReport(board.label())
    for row in rows:
        model, state = row.model_name, row.reasoning_state or ""
        value = _energy(row)
        if (row.status or "completed") != "completed" or value is None:
            why = f"run {row.status}" if (row.status or "completed") != "completed" else "no GPU energy"
            report.left_out.append((model, state, why))
            continue
        key = row_key(row)
        span = board.ranges.get(key)
        if span is None or not span.complete:
            known = "" if span is None else f" (known: lowest {span.low_wh}, highest {span.high_wh})"
            report.left_out.append((model, state, f"{board.path} has no complete range for {group_name(key)}{known}; "
                                                  "pass --board FILE with the full board"))  # fmt: skip
            continue
        low, high = float(span.low_wh or 0.0), float(span.high_wh or 0.0)
        width = (high - low) / BANDS
        notes = []
        if value < low:
            notes.append(f"below the board's lowest ({low:g} Wh): outside its range")
        elif value > high:
            notes.append(f"above the board's highest ({high:g} Wh): outside its range")
        if row.comparable is False:
            notes.append(f"not comparable: {row.not_comparable_reason}")
        elif row.protocol != "aienergyscore":
            notes.append(f"measured with protocol {row.protocol or 'wattbench'}, not the board's")
        edges = [low + i * width for i in range(BANDS + 1)]

        # Outside the range the bands end: above the highest is the last band, below the lowest the first, even
        # for a group of one figure (whose equal-width bands have no width).
        def rule(v: float, low: float = low, high: float = high) -> int:
            return 1 if v > high else 5 if v < low else stars_for(v, low, high)

        interval = energy_interval(row)
        report.ratings.append(
            OfficialRating(
                model,
                state,
                group_name(key),
                value,
                rule(value),
                edges,
                "; ".join(notes) or None,
                interval,
                stars_between(interval, rule),
            )  # fmt: skip
        )
    return report


@dataclass
class Comparison:
    row: MasterRow
    entry: BoardEntry
    ours_wh: float | None
    ratio: float | None
    differences: list[str]
    ours_ci95: list[float] | None = None
    """Our Wh per 1,000 queries' 95% interval across passes (None with one pass)."""

    @property
    def board_inside(self) -> bool | None:
        """Whether the board's figure lies inside our interval (None without an interval)."""
        if self.ours_ci95 is None:
            return None
        return self.ours_ci95[0] <= self.entry.wh_per_1000_queries <= self.ours_ci95[1]


def differences(row: MasterRow, entry: BoardEntry, board: Board) -> list[str]:
    """What in the run's protocol differs from how the board measured the model."""
    found = []
    if (row.protocol or "wattbench") != "aienergyscore":
        found.append(f"protocol {row.protocol or 'wattbench'}: another prompt set and answer length")
    expected = OFFICIAL_REASONING_TOKENS if entry.reasoning else OFFICIAL_TOKENS
    if row.max_new_tokens is not None and row.max_new_tokens != expected:
        found.append(f"{row.max_new_tokens} new tokens {'at most' if entry.reasoning else 'per answer'}; the "
                     f"board's {expected}")  # fmt: skip
    prompts = (row.total_prompts or 0) // max(row.repeats or 1, 1)
    if prompts and prompts != OFFICIAL_PROMPTS:
        found.append(f"{prompts} prompts; the board's {OFFICIAL_PROMPTS}")
    if row.not_comparable_reason:
        found += row.not_comparable_reason.split("; ")
    elif row.gpu_name and "h100" not in row.gpu_name.lower():
        found.append(f"GPU {row.gpu_name}; the board's {board.gpu}")
    if row.backend is not None and not engine_fact(row.backend, lambda engine: engine.native_weights, False):
        found.append(f"engine {row.engine_version or row.backend} ({row.dtype or 'dtype unknown'}); the board runs "
                     "transformers or vLLM at the model's own precision")  # fmt: skip
    return found


def compare(rows: list[MasterRow], board: Board) -> tuple[list[Comparison], list[tuple[MasterRow, str]]]:
    """(each run whose model is on the board, side by side; the others, each with why it is not)."""
    matched, unmatched = [], []
    for row in rows:
        entry = board.find(row.model_name, row.reasoning_state or "", row.effort, row_reasoning(row))
        if entry is None:
            why = board.excluded_note(row.model_name) or "not on the board table"
            unmatched.append((row, why))
            continue
        ours = _energy(row) if (row.status or "completed") == "completed" else None
        ratio = ours / entry.wh_per_1000_queries if ours is not None and entry.wh_per_1000_queries else None
        interval = energy_interval(row) if ours is not None else None
        matched.append(Comparison(row, entry, ours, ratio, differences(row, entry, board), interval))
    return matched, unmatched
