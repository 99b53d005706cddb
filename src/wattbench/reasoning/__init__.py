"""Model families and how each switches reasoning on and off.

One typed `Family` per model family, with explicit On and Off switches and the model card each rule comes from;
the table itself is data, `families.toml` beside this file, so a change to it reads as a change of facts.
`resolve_mode(model_id, want_on, effort)` turns a request ("On (High)", "Off") into exactly what will be sent:
chat-template kwargs, a system prompt, a prefix before the user's prompt, a prefix that opens the assistant turn,
a Harmony reasoning effort, a token budget. A request the model cannot honour is still resolved (to the closest
thing it can do) and explained in `warnings`; nothing is dropped silently.

Controls (`reasoning_control`):
- `chat_template_kwargs`: a flag the chat template reads (`enable_thinking`, ...).
- `system_flag` / `prompt_flag`: `/think` or `/no_think` in the system prompt / before the user's prompt.
- `system_prompt`: reasoning is elicited by the card's system prompt (Magistral).
- `assistant_prefix`: the assistant turn is opened with `<think>\\n` (DeepSeek-R1).
- `harmony_effort`: gpt-oss's Harmony reasoning effort (low / medium / high); it always reasons.
- `always_on`: the model always reasons and has no switch. `none`: the model never reasons (or is unknown).
"""

from __future__ import annotations

import difflib
import re
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Literal

Control = Literal[
    "chat_template_kwargs",
    "system_flag",
    "prompt_flag",
    "system_prompt",
    "assistant_prefix",
    "harmony_effort",
    "always_on",
    "none",
]
EFFORTS = ("low", "medium", "high")
THINK_TAGS = ("<think>", "</think>")


@dataclass(frozen=True)
class Switch:
    """What is sent to put a model in one mode."""

    chat_template_kwargs: dict[str, Any] = field(default_factory=dict)
    system_prompt: str | None = None
    prompt_prefix: str | None = None  # put before the user's prompt
    assistant_prefix: str | None = None  # opens the assistant turn (the model continues from it)


@dataclass(frozen=True)
class Family:
    name: str
    pattern: str  # regex searched in the lower-cased "org/name"; the first family that matches wins
    control: Control
    thinks_by_default: bool  # what the model does when nothing is sent
    source: str  # where the rule comes from (model card) and what it says
    on: Switch | None = None  # None: the model cannot be switched into this mode
    off: Switch | None = None
    accepts: tuple[str, ...] = ()  # mechanisms the model honours, as CSV text names them (for confirmation)
    efforts: tuple[str, ...] = ()
    default_effort: str | None = None
    chat_variant: str | None = None  # regex a chat (instruct) checkpoint matches; others are base models
    think_end: str | None = "</think>"  # marker that ends the thinking part of an output


def _switch(table: dict[str, Any] | None) -> Switch | None:
    if table is None:
        return None
    return Switch(
        chat_template_kwargs=dict(table.get("chat_template_kwargs", {})),
        system_prompt=table.get("system_prompt"),
        prompt_prefix=table.get("prompt_prefix"),
        assistant_prefix=table.get("assistant_prefix"),
    )


def _family(entry: dict[str, Any]) -> Family:
    think_end = entry.get("think_end", "</think>")
    return Family(
        name=entry["name"],
        pattern=entry["pattern"],
        control=entry["control"],
        thinks_by_default=bool(entry["thinks_by_default"]),
        source=entry["source"],
        on=_switch(entry.get("on")),
        off=_switch(entry.get("off")),
        accepts=tuple(entry.get("accepts", ())),
        efforts=tuple(entry.get("efforts", ())),
        default_effort=entry.get("default_effort"),
        chat_variant=entry.get("chat_variant"),
        think_end=think_end or None,
    )


def _load_table() -> tuple[tuple[Family, ...], Family, tuple[str, ...]]:
    """families.toml beside this file: the reviewable data, each entry with its source."""
    text = resources.files("wattbench.reasoning").joinpath("families.toml").read_text(encoding="utf-8")
    table = tomllib.loads(text)
    return tuple(_family(e) for e in table["family"]), _family(table["unknown"]), tuple(table["known_ids"])


FAMILIES, UNKNOWN, KNOWN_IDS = _load_table()


def family_for(model_id: str) -> Family:
    key = model_id.strip().lower()
    for family in FAMILIES:
        if re.search(family.pattern, key):
            return family
    return UNKNOWN


def near_miss(model_id: str) -> str | None:
    """A known checkpoint the id is probably a misspelling of ('GLM-4.15-Air' → 'zai-org/GLM-4.5-Air')."""
    lowered = {k.lower(): k for k in KNOWN_IDS}
    close = difflib.get_close_matches(model_id.strip().lower(), list(lowered), n=1, cutoff=0.85)
    return lowered[close[0]] if close else None


@dataclass
class ReasoningMode:
    """Exactly what a run sends to get the mode it asked for, and what it should expect back."""

    family: str
    reasoning_control: Control
    reasoning: bool | None  # on / off as sent; None when the model has no switch
    expected_thinking: bool  # whether the output is expected to hold a thinking part
    effort: str | None = None
    harmony: bool = False
    chat_template_kwargs: dict[str, Any] = field(default_factory=dict)
    system_prompt: str | None = None
    prompt_prefix: str | None = None
    assistant_prefix: str | None = None
    use_chat_template: bool = True  # False: a base checkpoint, the prompt goes in as plain text
    max_new_tokens: int = 256
    fixed_length: bool = True  # min new tokens = max new tokens (non-reasoning runs)
    think_end: str | None = None
    source: str = ""
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "family": self.family,
            "reasoning_control": self.reasoning_control,
            "reasoning": self.reasoning,
            "expected_thinking": self.expected_thinking,
            "effort": self.effort,
            "harmony": self.harmony,
            "chat_template_kwargs": dict(self.chat_template_kwargs),
            "system_prompt": self.system_prompt,
            "prompt_prefix": self.prompt_prefix,
            "assistant_prefix": self.assistant_prefix,
            "use_chat_template": self.use_chat_template,
            "max_new_tokens": self.max_new_tokens,
            "fixed_length": self.fixed_length,
            "source": self.source,
            "notes": list(self.notes),
        }


def resolve_mode(
    model_id: str,
    want_on: bool | None,
    effort: str | None = None,
    *,
    answer_tokens: int,
    reasoning_tokens: int,
) -> tuple[ReasoningMode, list[str]]:
    """The mode sent for a request (`want_on` None: the model's default), and warnings for what cannot be honoured.

    Non-reasoning runs generate exactly `answer_tokens` (fixed length, comparable energy per token); runs expected
    to think get a cap of `reasoning_tokens` and stop when the model does.
    """
    family = family_for(model_id)
    warnings: list[str] = []
    notes: list[str] = []
    name = model_id.strip().split("/")[-1]
    if family is UNKNOWN:
        hint = near_miss(model_id)
        warnings.append(
            f"unknown model family for '{model_id}': no reasoning switch is sent (reasoning_control: none)"
            + (f"; did you mean {hint}?" if hint else "")
        )
    wanted = family.thinks_by_default if want_on is None else want_on
    switch, thinking = _switch_for(family, wanted, name, warnings)
    chosen_effort = _effort_for(family, want_on, effort, name, warnings, notes)
    small_budget = False
    if family.name in ("deepseek-r1", "deepseek-r1-distill") and not wanted:
        small_budget = True  # the rule for R1: no forced <think>, and no room for a long chain
        warnings.append(
            f"{name} has no off switch: Off sends no <think> prefix and caps output at {answer_tokens} tokens; "
            "it may still think"
        )
        thinking = True
    if family.thinks_by_default and wanted is False and switch.chat_template_kwargs:
        notes.append(f"{name} thinks unless told not to: Off is sent explicitly")
    use_chat_template = family.chat_variant is None or re.search(family.chat_variant, model_id.lower()) is not None
    if not use_chat_template:
        notes.append("pretrained (base) checkpoint: the prompt is sent as plain text, without a chat template")
    budget_reasoning = thinking and not small_budget
    mode = ReasoningMode(
        family=family.name,
        reasoning_control=family.control,
        reasoning=_reasoning_sent(family, wanted),
        expected_thinking=thinking,
        effort=chosen_effort,
        harmony=family.control == "harmony_effort",
        chat_template_kwargs=dict(switch.chat_template_kwargs),
        system_prompt=switch.system_prompt,
        prompt_prefix=switch.prompt_prefix,
        assistant_prefix=switch.assistant_prefix,
        use_chat_template=use_chat_template,
        max_new_tokens=reasoning_tokens if budget_reasoning else answer_tokens,
        fixed_length=not thinking,
        think_end=family.think_end if thinking else None,
        source=family.source,
        notes=notes,
    )
    return mode, warnings


def _switch_for(family: Family, wanted: bool, name: str, warnings: list[str]) -> tuple[Switch, bool]:
    """(what is sent, whether the model is expected to think): the mode asked for, or, when the model cannot be
    put in it, the one it has, with a warning."""
    switch = family.on if wanted else family.off
    if switch is not None:
        return switch, wanted
    if wanted and family is not UNKNOWN:
        warnings.append(f"asked for reasoning On, but {name} never reasons ({family.name}); it runs without")
    elif not wanted:
        warnings.append(f"asked for reasoning Off, but {name} always reasons ({family.name}); it still reasons")
    switch = family.off if wanted else family.on
    assert switch is not None
    return switch, not wanted


def _effort_for(
    family: Family, want_on: bool | None, effort: str | None, name: str, warnings: list[str], notes: list[str]
) -> str | None:
    """The reasoning effort sent (gpt-oss): the one asked for, the lowest for Off, else the family's default."""
    if not family.efforts:
        if effort:
            warnings.append(f"effort '{effort}' requested, but {name} has no reasoning effort setting; ignored")
        return None
    chosen = (effort or "").lower() or None
    if chosen is None:
        if want_on is False:
            notes.append("the lowest effort (low) is the closest gpt-oss gets to Off")
            return "low"
        return family.default_effort
    if chosen not in family.efforts:
        warnings.append(f"effort '{effort}' is not one of {', '.join(family.efforts)}; using {family.default_effort}")
        return family.default_effort
    return chosen


def _reasoning_sent(family: Family, wanted: bool) -> bool | None:
    """The reasoning flag as sent; None when nothing switches it and the model does what it always does."""
    if family.control in ("none", "always_on"):
        return None
    return True if family.control == "harmony_effort" else wanted


def split_thinking(text: str, think_end: str | None) -> tuple[str, str, bool]:
    """(thinking, answer, answer_reached) of an output. Without the end marker, an output expected to think is all
    thinking (the cap was reached first); an output not expected to think is all answer."""
    if not think_end:
        return "", text, True
    if think_end in text:
        thinking, answer = text.split(think_end, 1)
        return thinking.replace(THINK_TAGS[0], "", 1), answer.strip(), True
    return text, "", False
