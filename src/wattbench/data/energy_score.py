"""The AI Energy Score models CSV: one row per (model, reasoning state) to benchmark.

Columns (as published): an unnamed index, `Models to Add` (a Hugging Face URL, sometimes with trailing spaces),
`Priority (1=hi)`, `Class` (A/B/C, may be empty for image tasks), `Task` (`text_gen`, `image_gen`),
`Reasoning State` (`On`, `Off`, `On (High|Medium|Low)`, `Off (N/A)`, empty) and `Chat Template` (free text).
This module reads the cells into typed values and reads what the free text claims; deciding what to send is
`reasoning.resolve_mode`'s job.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from wattbench.data.textio import read_csv_table
from wattbench.errors import DataError

MODEL_COLUMN = "Models to Add"
PRIORITY_COLUMN = "Priority (1=hi)"
CLASS_COLUMN = "Class"
TASK_COLUMN = "Task"
STATE_COLUMN = "Reasoning State"
TEMPLATE_COLUMN = "Chat Template"
REQUIRED_COLUMNS = (MODEL_COLUMN, TASK_COLUMN, STATE_COLUMN)
HF_PREFIXES = ("https://huggingface.co/", "http://huggingface.co/", "huggingface.co/", "hf.co/")
TEXT_TASKS = ("text_gen",)
_STATE = re.compile(r"^(on|off)\s*(?:\(\s*(high|medium|low|n/?a)\s*\))?$", re.IGNORECASE)
# "/think" as a typed flag, not the inside of a "</think>" tag.
_THINK_FLAG = re.compile(r"(?<![<\w])/think\b")
_NO_THINK_FLAG = re.compile(r"(?<![<\w])/no_think\b")
_NO_CLAIM = re.compile(r"^(n/?a\b.*|default|none|)$", re.IGNORECASE)


@dataclass(frozen=True)
class ReasoningState:
    label: str  # as written, whitespace collapsed ("On (High)")
    on: bool | None  # None: empty or unreadable
    effort: str | None = None
    readable: bool = True


@dataclass(frozen=True)
class TemplateClaim:
    """What the `Chat Template` text says, if anything: on/off, an effort, and the mechanism it names."""

    text: str
    on: bool | None = None
    effort: str | None = None
    mechanism: str | None = None  # enable_thinking, /think, /no_think, <think>, reasoning_effort, system prompt
    understood: bool = True


@dataclass
class ModelRow:
    line: int  # CSV row number (header = 1)
    model_id: str  # Hugging Face id ("openai/gpt-oss-20b") or a local path
    priority: int | None
    model_class: str | None
    task: str
    state: ReasoningState
    claim: TemplateClaim
    problems: list[str] = field(default_factory=list)  # cells that could not be read


def model_id_from_cell(cell: str) -> str:
    value = cell.strip()
    for prefix in HF_PREFIXES:
        if value.lower().startswith(prefix):
            value = value[len(prefix) :]
            break
    value = value.split("?")[0].rstrip("/")
    # A URL to a file or a revision (…/tree/main) still names the repository first.
    parts = value.split("/")
    return "/".join(parts[:2]) if len(parts) > 2 and parts[2] in ("tree", "blob", "resolve") else value


def parse_state(cell: str) -> ReasoningState:
    label = " ".join(cell.split())
    if not label:
        return ReasoningState(label="", on=None)
    match = _STATE.match(label)
    if not match:
        return ReasoningState(label=label, on=None, readable=False)
    qualifier = (match.group(2) or "").lower()
    effort = qualifier if qualifier in ("high", "medium", "low") else None
    return ReasoningState(label=label, on=match.group(1).lower() == "on", effort=effort)


def parse_claim(cell: str) -> TemplateClaim:
    text = " ".join(cell.split())
    lowered = text.lower()
    if _NO_CLAIM.match(lowered):
        return TemplateClaim(text=text)
    effort_match = re.search(r"reasoning_effort\W*(low|medium|high)\b", lowered)
    effort = effort_match.group(1) if effort_match else None
    flag = re.search(r"enable_thinking\s*[=:]\s*(true|false)", lowered)
    generic = re.search(r"\breasoning\s*:\s*(true|false)", lowered)
    if flag:
        return TemplateClaim(text, on=flag.group(1) == "true", effort=effort, mechanism="enable_thinking")
    if _NO_THINK_FLAG.search(lowered):
        return TemplateClaim(text, on=False, effort=effort, mechanism="/no_think")
    if _THINK_FLAG.search(lowered):
        return TemplateClaim(text, on=True, effort=effort, mechanism="/think")
    if "only thinking mode" in lowered:
        return TemplateClaim(text, on=True)
    if "non-thinking" in lowered and "only" in lowered:
        return TemplateClaim(text, on=False)
    if "<think>" in lowered and ("prepend" in lowered or "start" in lowered):
        return TemplateClaim(text, on=True, effort=effort, mechanism="<think>")
    if effort:
        return TemplateClaim(text, on=True, effort=effort, mechanism="reasoning_effort")
    if generic:
        return TemplateClaim(text, on=generic.group(1) == "true")
    return TemplateClaim(text, understood=False)


def _priority(cell: str, problems: list[str]) -> int | None:
    value = cell.strip()
    if not value:
        return None
    try:
        return int(float(value))
    except ValueError:
        problems.append(f"'{PRIORITY_COLUMN}' is '{value}', not a number; the row has no priority")
        return None


def load_models_csv(path: Path) -> list[ModelRow]:
    """Every non-blank row of a models CSV, cells read; a missing required column is a one-line error."""
    table = read_csv_table(path)
    table.require(*REQUIRED_COLUMNS)
    rows: list[ModelRow] = []
    for line, cells in zip(table.line_numbers, table.rows):
        problems: list[str] = []
        model_id = model_id_from_cell(cells[MODEL_COLUMN])
        if not model_id:
            problems.append(f"'{MODEL_COLUMN}' is empty")
        rows.append(
            ModelRow(
                line=line,
                model_id=model_id,
                priority=_priority(cells.get(PRIORITY_COLUMN, ""), problems),
                model_class=cells.get(CLASS_COLUMN, "").strip() or None,
                task=cells[TASK_COLUMN].strip(),
                state=parse_state(cells[STATE_COLUMN]),
                claim=parse_claim(cells.get(TEMPLATE_COLUMN, "")),
                problems=problems,
            )
        )
    if not rows:
        raise DataError(f"{path}: no model rows; add rows under the header")
    return rows
