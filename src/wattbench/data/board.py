"""The published AI Energy Score board: per-(task, class) GPU-energy ranges and per-model figures.

The packaged table (aienergyscore_board.json) holds only what public sources state, each figure with its source;
`--board FILE` reads a fuller one: the same JSON, or a CSV export of the leaderboard (columns `model`, `class`,
`task`, `reasoning_state`, and `wh_per_1000_queries` or the leaderboard's `total_gpu_energy` in kWh per 1,000
queries). A full board's group ranges are the lowest and highest figure in each group, as the board computes them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from wattbench.data.textio import read_csv_table
from wattbench.errors import DataError

PACKAGED = "aienergyscore_board.json"
GroupKey = tuple[str, str, bool]
"""(task, class, reasoning)."""


@dataclass(frozen=True)
class BoardEntry:
    model: str
    model_class: str
    task: str
    reasoning_state: str
    reasoning: bool
    wh_per_1000_queries: float
    source: str = ""

    @property
    def key(self) -> GroupKey:
        return (self.task, self.model_class.upper(), self.reasoning)


@dataclass(frozen=True)
class GroupRange:
    low_wh: float | None
    high_wh: float | None
    source: str

    @property
    def complete(self) -> bool:
        return self.low_wh is not None and self.high_wh is not None


@dataclass
class Board:
    name: str
    release: str
    path: str
    """Where the table came from (the packaged file or --board)."""
    gpu: str = "NVIDIA H100 80GB"
    entries: list[BoardEntry] = field(default_factory=list)
    ranges: dict[GroupKey, GroupRange] = field(default_factory=dict)
    excluded: list[dict[str, Any]] = field(default_factory=list)

    def label(self) -> str:
        return f"{self.name} {self.release}".strip()

    def find(self, model: str, state: str, effort: str | None, reasoning: bool) -> BoardEntry | None:
        """The board's figure for a run: the same model (org/name, or name alone), then its state."""
        wanted = model.lower()
        same = [e for e in self.entries if e.model.lower() == wanted]
        same = same or [e for e in self.entries if e.model.lower().rsplit("/", 1)[-1] == wanted.rsplit("/", 1)[-1]]
        same = [e for e in same if e.reasoning == reasoning]
        if len(same) <= 1:
            return same[0] if same else None
        by_state = [e for e in same if e.reasoning_state.lower() == (state or "").lower()]
        by_effort = [e for e in same if effort and effort.lower() in e.reasoning_state.lower()]
        chosen = by_state or by_effort
        return chosen[0] if chosen else None

    def excluded_note(self, model: str) -> str | None:
        name = model.lower().rsplit("/", 1)[-1]
        for item in self.excluded:
            if str(item.get("model", "")).lower().rsplit("/", 1)[-1] == name:
                return f"its {item.get('figure_wh')} Wh figure is left out: {item.get('why')}"
        return None


def reasoning_of(state: str) -> bool:
    lowered = state.strip().lower()
    return bool(lowered) and not lowered.startswith(("off", "n/a", "none", "no"))


def _ranges_from_entries(entries: list[BoardEntry]) -> dict[GroupKey, GroupRange]:
    groups: dict[GroupKey, list[float]] = {}
    for entry in entries:
        groups.setdefault(entry.key, []).append(entry.wh_per_1000_queries)
    return {k: GroupRange(min(v), max(v), "lowest and highest figure on the board") for k, v in groups.items()}


def _from_json(data: dict[str, Any], path: str) -> Board:
    try:
        entries = [
            BoardEntry(str(m["model"]), str(m["class"]), str(m.get("task", "text_gen")),
                       str(m.get("reasoning_state", "")),
                       bool(m.get("reasoning", reasoning_of(str(m.get("reasoning_state", ""))))),
                       float(m["wh_per_1000_queries"]), str(m.get("source", "")))
            for m in data.get("models", [])
        ]  # fmt: skip
        ranges = {
            (str(g.get("task", "text_gen")), str(g["class"]).upper(), bool(g.get("reasoning", False))): GroupRange(
                None if g.get("min_wh") is None else float(g["min_wh"]),
                None if g.get("max_wh") is None else float(g["max_wh"]),
                str(g.get("source", "")),
            )
            for g in data.get("groups", [])
        }
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(
            f"{path}: a board entry lacks or mistypes {exc}; see the packaged {PACKAGED} for the form"
        ) from None
    if data.get("complete", True):
        ranges = {**_ranges_from_entries(entries), **ranges}
    name, release = str(data.get("board", "AI Energy Score leaderboard")), str(data.get("release", ""))
    gpu, excluded = str(data.get("gpu", "NVIDIA H100 80GB")), list(data.get("not_included", []))
    return Board(name, release, path, gpu, entries, ranges, excluded)


def _from_csv(path: Path) -> Board:
    table = read_csv_table(path)
    columns = {c.strip().lower(): c for c in table.columns}
    name_col = columns.get("model") or columns.get("model_name")
    energy_col = columns.get("wh_per_1000_queries") or columns.get("total_gpu_energy")
    if name_col is None or energy_col is None or "class" not in columns:
        raise DataError(
            f"{path}: a board CSV needs the columns model, class and wh_per_1000_queries (or total_gpu_energy, "
            f"kWh per 1,000 queries); it has {', '.join(table.columns)}"
        )
    scale = 1000.0 if energy_col.strip().lower() == "total_gpu_energy" else 1.0
    entries = []
    for line, record in zip(table.line_numbers, table.rows, strict=True):
        state = record.get(columns.get("reasoning_state", ""), "") or ""
        try:
            value = float(record[energy_col]) * scale
        except (KeyError, ValueError):
            raise DataError(f"{path}: row {line}: '{energy_col}' is not a number") from None
        entries.append(BoardEntry(record[name_col].strip(), record[columns["class"]].strip(),
                                  (record.get(columns.get("task", ""), "") or "text_gen").strip(), state.strip(),
                                  reasoning_of(state), value, str(path)))  # fmt: skip
    return Board("AI Energy Score leaderboard", path.stem, str(path), entries=entries,
                 ranges=_ranges_from_entries(entries))  # fmt: skip


def load_board(path: Path | None = None) -> Board:
    """The packaged board table, or the one at `path` (.json in the packaged form, or a .csv export)."""
    if path is None:
        text = resources.files("wattbench.data").joinpath(PACKAGED).read_text(encoding="utf-8")
        return _from_json(json.loads(text), f"packaged {PACKAGED}")
    if not path.exists():
        raise DataError(f"{path}: board table not found; pass a .json or .csv board file, or leave --board out")
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}: not JSON ({exc.msg} at line {exc.lineno})") from None
        return _from_json(data, str(path))
    return _from_csv(path)
