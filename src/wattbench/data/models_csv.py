"""A models CSV turned into the runs of a batch: each row's resolved reasoning mode, its warnings, the filters.

The `Reasoning State` cell decides on/off and effort; the `Chat Template` text only confirms it. Whatever the
two disagree on, or whatever a model cannot do, is a warning that names the row.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from wattbench.config import BatchConfig
from wattbench.data.energy_score import TEXT_TASKS, ModelRow, ReasoningState, TemplateClaim, load_models_csv
from wattbench.errors import DataError
from wattbench.reasoning import ReasoningMode, family_for, resolve_mode


@dataclass
class ModelSpec:
    row: ModelRow
    mode: ReasoningMode | None  # None: not a text-generation row
    warnings: list[str] = field(default_factory=list)
    unsupported_reason: str | None = None

    @property
    def supported(self) -> bool:
        return self.unsupported_reason is None

    @property
    def model_id(self) -> str:
        return self.row.model_id

    @property
    def state_label(self) -> str:
        return self.row.state.label

    @property
    def run_key(self) -> str:
        """`<model>_<state>`: the name of its run dir and log ("openai_gpt-oss-20b_On_High")."""
        model = re.sub(r"[^A-Za-z0-9._-]+", "_", self.model_id).strip("_")
        state = re.sub(r"[^A-Za-z0-9]+", "_", self.state_label or "default").strip("_")
        return f"{model}_{state}"

    def to_dict(self) -> dict[str, Any]:
        mode = self.mode.to_dict() if self.mode else {}
        return {
            "row": self.row.line,
            "model": self.model_id,
            "class": self.row.model_class,
            "task": self.row.task,
            "priority": self.row.priority,
            "reasoning_state": self.state_label,
            "reasoning": mode.get("reasoning"),
            "effort": mode.get("effort"),
            "chat_template_kwargs": mode.get("chat_template_kwargs", {}),
            "system_prompt": mode.get("system_prompt"),
            "prompt_prefix": mode.get("prompt_prefix"),
            "harmony": mode.get("harmony", False),
            "supported": self.supported,
            "warnings": list(self.warnings),
            "assistant_prefix": mode.get("assistant_prefix"),
            "family": mode.get("family"),
            "reasoning_control": mode.get("reasoning_control"),
            "expected_thinking": mode.get("expected_thinking"),
            "max_new_tokens": mode.get("max_new_tokens"),
            "fixed_length": mode.get("fixed_length"),
            "use_chat_template": mode.get("use_chat_template"),
            "unsupported_reason": self.unsupported_reason,
            "notes": mode.get("notes", []),
            "source": mode.get("source"),
            "sent": describe_sent(self.mode, with_budget=False) if self.mode else None,
        }

    def to_plan(self) -> dict[str, Any]:
        """Everything the spec holds, as JSON: a batch job carries it, so a child never plans the row again."""
        return asdict(self)

    @classmethod
    def from_plan(cls, data: dict[str, Any]) -> ModelSpec:
        """The spec `to_plan` wrote (read by the child that runs it)."""
        row = dict(data["row"])
        row["state"], row["claim"] = ReasoningState(**row["state"]), TemplateClaim(**row["claim"])
        mode = ReasoningMode(**data["mode"]) if data.get("mode") else None
        return cls(ModelRow(**row), mode, list(data.get("warnings") or []), data.get("unsupported_reason"))


def _confirm(row: ModelRow, mode: ReasoningMode) -> list[str]:
    """Warnings where the Chat Template text disagrees with the state, or names a switch the model ignores."""
    claim, state = row.claim, row.state
    out: list[str] = []
    if not claim.understood:
        out.append(f"Chat Template text not understood ({claim.text[:60]!r}); the Reasoning State decides")
    if claim.on is not None and state.on is not None and claim.on != state.on:
        said = "on" if claim.on else "off"
        out.append(
            f"Chat Template says reasoning {said} ({claim.text[:60]!r}) but Reasoning State is "
            f"'{state.label}'; the state decides"
        )
    if claim.effort and state.effort and claim.effort != state.effort:
        out.append(
            f"Chat Template effort '{claim.effort}' differs from the state's '{state.effort}'; the state decides"
        )
    if claim.effort and not state.effort and mode.effort and claim.effort != mode.effort:
        out.append(
            f"Chat Template effort '{claim.effort}' is ignored: the state names none, so '{mode.effort}' is used"
        )
    family = family_for(row.model_id)
    if claim.mechanism and family.accepts and claim.mechanism not in family.accepts:
        sent = describe_sent(mode)
        out.append(f"Chat Template names '{claim.mechanism}', which {family.name} models ignore; sent instead: {sent}")
    return out


def describe_sent(mode: ReasoningMode, with_budget: bool = True) -> str:
    """What a run sends, in one line (the `--list` table and the warnings both use it)."""
    parts = []
    if mode.chat_template_kwargs:
        parts.append(" ".join(f"{k}={v}" for k, v in mode.chat_template_kwargs.items()))
    if mode.system_prompt:
        text = mode.system_prompt
        parts.append(f"system:{text if len(text) <= 12 else text[:10] + '..'}")
    if mode.prompt_prefix:
        parts.append(f"prefix:{mode.prompt_prefix}")
    if mode.assistant_prefix:
        parts.append(f"assistant:{mode.assistant_prefix!r}")
    if mode.effort:
        parts.append(f"harmony effort={mode.effort}" if mode.harmony else f"effort={mode.effort}")
    if not mode.use_chat_template:
        parts.append("plain prompt")
    if with_budget:
        parts.append(f"{'at most' if not mode.fixed_length else 'exactly'} {mode.max_new_tokens} new tokens")
    return ", ".join(parts) or "-"


def _default(field: str) -> int:
    return int(BatchConfig.model_fields[field].default)  # each default is written once, in the config model


def resolve_row(row: ModelRow, answer_tokens: int | None = None, reasoning_tokens: int | None = None) -> ModelSpec:
    if row.task not in TEXT_TASKS:
        reason = f"task '{row.task or '(empty)'}' is not text generation; the batch runner only generates text"
        return ModelSpec(row=row, mode=None, warnings=list(row.problems), unsupported_reason=reason)
    warnings = list(row.problems)
    if not row.state.readable:
        warnings.append(
            f"Reasoning State '{row.state.label}' not understood (expected On, Off, On (High|Medium|Low), "
            "Off (N/A)); the model's default is used"
        )
    elif row.state.on is None:
        warnings.append("Reasoning State is empty; the model's default is used")
    mode, mode_warnings = resolve_mode(
        row.model_id,
        row.state.on,
        row.state.effort,
        answer_tokens=answer_tokens or _default("max_new_tokens"),
        reasoning_tokens=reasoning_tokens or _default("reasoning_max_new_tokens"),
    )
    warnings += mode_warnings + _confirm(row, mode)
    return ModelSpec(row=row, mode=mode, warnings=warnings)


def load_plan(path: Path, answer_tokens: int | None = None, reasoning_tokens: int | None = None) -> list[ModelSpec]:
    return [resolve_row(row, answer_tokens, reasoning_tokens) for row in load_models_csv(path)]


def check_distinct(specs: list[ModelSpec], path: Path) -> None:
    """Two rows that would run the same (model, reasoning state) are an error: they would share one run dir and
    one master row, the later silently replacing the earlier (its class too). Rows that differ in the model or
    the state are distinct runs."""
    seen: dict[str, ModelSpec] = {}
    for spec in specs:
        if not spec.supported:
            continue
        first = seen.setdefault(spec.run_key, spec)
        if first is spec:
            continue
        differs = [f"{name} {a!r} vs {b!r}" for name, a, b in (
            ("class", first.row.model_class, spec.row.model_class), ("task", first.row.task, spec.row.task),
            ("priority", first.row.priority, spec.row.priority)) if a != b]  # fmt: skip
        how = f"they differ only in {', '.join(differs)}, which does not make another run" if differs else "identical"
        raise DataError(
            f"{path}: rows {first.row.line} and {spec.row.line} are the same run ({spec.model_id}, "
            f"'{spec.state_label or 'default'}'; {how}); delete one of them, or give one another reasoning state"
        )


@dataclass(frozen=True)
class Filters:
    """AND of all given filters; None means no filter."""

    model_name: str | None = None  # substring, case-insensitive
    model_class: str | None = None  # exact, case-insensitive
    task: str | None = None  # exact
    reasoning_state: str | None = None  # exact or substring, case-insensitive ("High", "Off")
    priority: int | None = None  # exact

    def keep(self, spec: ModelSpec) -> bool:
        row = spec.row
        if self.model_name and self.model_name.lower() not in row.model_id.lower():
            return False
        if self.model_class and (row.model_class or "").lower() != self.model_class.lower():
            return False
        if self.task and row.task != self.task:
            return False
        if self.reasoning_state:
            wanted, label = self.reasoning_state.lower(), row.state.label.lower()
            if wanted != label and wanted not in label:
                return False
        return not (self.priority is not None and row.priority != self.priority)


def select(specs: list[ModelSpec], filters: Filters) -> list[ModelSpec]:
    return [s for s in specs if filters.keep(s)]


def check_strict(specs: list[ModelSpec], path: Path) -> None:
    """--strict: the first row with a warning is an error."""
    for spec in specs:
        if spec.warnings:
            more = sum(1 for s in specs if s.warnings) - 1
            raise DataError(
                f"{path}: row {spec.row.line} ({spec.model_id}, '{spec.state_label}'): {spec.warnings[0]}"
                + (f" (and {more} more rows with warnings; see --list)" if more > 0 else "")
            )
