"""Model families and how each switches reasoning on and off.

One typed `Family` per model family, with explicit On and Off switches and the model card each rule comes from.
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
from dataclasses import dataclass, field
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

# Magistral's reasoning system prompt, as its model card gives it (shortened to the instruction that matters).
MAGISTRAL_REASONING_PROMPT = (
    "First draft your thinking process (inner monologue) until you arrive at a response. Format your response "
    "using Markdown. Write both your thoughts and the response in the same language as the input.\n\n"
    "Your thinking process must follow the template below:[THINK]Your thoughts or/and draft, like working through "
    "an exercise on scratch paper. Be as casual and as long as you want until you are confident to generate the "
    "response.[/THINK]Here, provide a self-contained response."
)
PLAIN_SYSTEM_PROMPT = "You are a helpful assistant. Answer directly."


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


def _kwargs(key: str, on: bool) -> Switch:
    return Switch(chat_template_kwargs={key: on})


FAMILIES: tuple[Family, ...] = (
    Family(
        "gpt-oss",
        r"gpt-oss",
        "harmony_effort",
        True,
        "huggingface.co/openai/gpt-oss-20b: Harmony format; reasoning effort low/medium/high in the system message "
        "(chat template kwarg `reasoning_effort`, vLLM request field `reasoning_effort`); no off switch",
        on=Switch(),
        off=None,
        accepts=("reasoning_effort",),
        efforts=EFFORTS,
        default_effort="medium",
        think_end="<|channel|>final<|message|>",
    ),
    Family(
        "qwen3-thinking-only",
        r"qwen3[^/]*-thinking",
        "always_on",
        True,
        "huggingface.co/Qwen/Qwen3-Next-80B-A3B-Thinking: supports only thinking mode; the template opens <think>",
        on=Switch(),
    ),
    Family(
        "qwen3-instruct-only",
        r"qwen3[^/]*-instruct|qwen3-coder",
        "none",
        False,
        "huggingface.co/Qwen/Qwen3-Next-80B-A3B-Instruct: supports only non-thinking mode, no <think> blocks",
        off=Switch(),
    ),
    Family(
        "qwen3",
        r"qwen3-",
        "chat_template_kwargs",
        True,
        "huggingface.co/Qwen/Qwen3-0.6B: enable_thinking=True (default) / False in apply_chat_template",
        on=_kwargs("enable_thinking", True),
        off=_kwargs("enable_thinking", False),
        accepts=("enable_thinking", "/think", "/no_think"),
    ),
    Family(
        "deepseek-r1-distill",
        r"deepseek-r1-distill",
        "assistant_prefix",
        True,
        "huggingface.co/deepseek-ai/DeepSeek-R1-Distill-Qwen-32B: enforce thinking by starting the response with "
        "'<think>\\n'; no off switch (Off: no forced <think> and the answer budget)",
        on=Switch(assistant_prefix="<think>\n"),
        off=Switch(),
        accepts=("<think>",),
    ),
    Family(
        "deepseek-r1",
        r"deepseek-r1",
        "assistant_prefix",
        True,
        "huggingface.co/deepseek-ai/DeepSeek-R1: enforce thinking by starting the response with '<think>\\n'; "
        "no off switch (Off: no forced <think> and the answer budget)",
        on=Switch(assistant_prefix="<think>\n"),
        off=Switch(),
        accepts=("<think>",),
    ),
    Family(
        "deepseek-v3",
        r"deepseek-v3",
        "none",
        False,
        "huggingface.co/deepseek-ai/DeepSeek-V3: a non-reasoning chat model (V3.1+ templates think only when asked)",
        off=Switch(),
    ),
    Family(
        "smollm3",
        r"smollm3",
        "system_flag",
        True,
        "huggingface.co/HuggingFaceTB/SmolLM3-3B: extended thinking by default; '/think' or '/no_think' in the "
        "system prompt (or enable_thinking in apply_chat_template)",
        on=Switch(system_prompt="/think"),
        off=Switch(system_prompt="/no_think"),
        accepts=("/think", "/no_think", "enable_thinking"),
    ),
    Family(
        "hunyuan",
        r"hunyuan",
        "prompt_flag",
        True,
        "huggingface.co/tencent/Hunyuan-1.8B-Instruct: slow thinking by default; '/think' or '/no_think' before "
        "the prompt (or enable_thinking in apply_chat_template)",
        on=Switch(prompt_prefix="/think"),
        off=Switch(prompt_prefix="/no_think"),
        accepts=("/think", "/no_think", "enable_thinking"),
    ),
    Family(
        "exaone-4",
        r"exaone-4",
        "chat_template_kwargs",
        False,
        "huggingface.co/LGAI-EXAONE/EXAONE-4.0-32B: non-reasoning by default; enable_thinking=True for reasoning",
        on=_kwargs("enable_thinking", True),
        off=_kwargs("enable_thinking", False),
        accepts=("enable_thinking",),
    ),
    Family(
        "nemotron-super-v1.5",
        r"nemotron-super-49b-v1[._]5",
        "system_flag",
        True,
        "huggingface.co/nvidia/Llama-3_3-Nemotron-Super-49B-v1_5: reasoning on by default; '/no_think' in the "
        "system prompt turns it off",
        on=Switch(),
        off=Switch(system_prompt="/no_think"),
        accepts=("/no_think", "/think"),
    ),
    Family(
        "phi-4-reasoning",
        r"phi-4-(mini-)?reasoning",
        "always_on",
        True,
        "huggingface.co/microsoft/Phi-4-reasoning-plus: a reasoning model; every answer is a <think> block then a "
        "solution; no off switch",
        on=Switch(),
    ),
    Family(
        "magistral",
        r"magistral",
        "system_prompt",
        True,
        "huggingface.co/mistralai/Magistral-Small-2507: reasoning is asked for by the system prompt the card "
        "gives ([THINK] ... [/THINK]); a system prompt without it is not asked to reason",
        on=Switch(system_prompt=MAGISTRAL_REASONING_PROMPT),
        off=Switch(system_prompt=PLAIN_SYSTEM_PROMPT),
        accepts=("system prompt",),
        think_end="[/THINK]",
    ),
    Family(
        "glm-4.5",
        r"glm-4\.(5|6)",
        "chat_template_kwargs",
        True,
        "huggingface.co/zai-org/GLM-4.5: hybrid reasoning, thinking by default; enable_thinking=False in the chat "
        "template kwargs turns it off",
        on=_kwargs("enable_thinking", True),
        off=_kwargs("enable_thinking", False),
        accepts=("enable_thinking",),
    ),
    Family(
        "kimi-k2-thinking",
        r"kimi-k2-thinking",
        "always_on",
        True,
        "huggingface.co/moonshotai/Kimi-K2-Thinking: a thinking model, no off switch",
        on=Switch(),
    ),
    Family(
        "kimi-k2",
        r"kimi-k2",
        "none",
        False,
        "huggingface.co/moonshotai/Kimi-K2-Instruct: a reflex-grade model without long thinking",
        off=Switch(),
    ),
    Family(
        "minimax-m1",
        r"minimax-m1",
        "always_on",
        True,
        "huggingface.co/MiniMaxAI/MiniMax-M1-80k: a reasoning model with an 80k thinking budget; no off switch",
        on=Switch(),
    ),
    Family(
        "granite-3.2",
        r"granite-3\.[23]",
        "chat_template_kwargs",
        False,
        "huggingface.co/ibm-granite/granite-3.3-8b-instruct: thinking=True in apply_chat_template (off by default)",
        on=_kwargs("thinking", True),
        off=_kwargs("thinking", False),
        accepts=("thinking",),
    ),
    Family(
        "granite-4",
        r"granite-4",
        "none",
        False,
        "huggingface.co/ibm-granite/granite-4.0-micro: instruct models without a thinking mode",
        off=Switch(),
    ),
    Family(
        "apertus",
        r"apertus",
        "chat_template_kwargs",
        False,
        "huggingface.co/swiss-ai/Apertus-8B-Instruct-2509: the template writes 'Deliberation: enabled' only for "
        "enable_thinking=True (disabled by default)",
        on=_kwargs("enable_thinking", True),
        off=_kwargs("enable_thinking", False),
        accepts=("enable_thinking",),
    ),
    Family(
        "gemma-3",
        r"gemma-3",
        "none",
        False,
        "huggingface.co/google/gemma-3-4b-it: no reasoning mode; -pt checkpoints are pretrained (no chat template)",
        off=Switch(),
        chat_variant=r"-it\b",
    ),
    Family(
        "mistral",
        r"mistral-(nemo|small|large|7b)|ministral|mixtral",
        "none",
        False,
        "huggingface.co/mistralai/Mistral-Small-3.1-24B-Instruct-2503: no reasoning mode",
        off=Switch(),
        chat_variant=r"instruct",
    ),
    Family(
        "qwen2.5",
        r"qwen2\.5",
        "none",
        False,
        "huggingface.co/Qwen/Qwen2.5-Coder-14B: no reasoning mode; checkpoints without -Instruct are base models",
        off=Switch(),
        chat_variant=r"instruct",
    ),
    Family(
        "smollm2",
        r"smollm2",
        "none",
        False,
        "huggingface.co/HuggingFaceTB/SmolLM2-135M-Instruct: no reasoning mode",
        off=Switch(),
        chat_variant=r"instruct|\.gguf$",
    ),
    Family(
        "llama-3",
        r"llama-3",
        "none",
        False,
        "huggingface.co/meta-llama/Llama-3.1-8B-Instruct: no reasoning mode",
        off=Switch(),
        chat_variant=r"instruct",
    ),
)
UNKNOWN = Family(
    "unknown",
    r"$^",
    "none",
    False,
    "no registry entry: nothing is sent to switch reasoning",
    on=None,
    off=Switch(),
    think_end="</think>",
)
# Known checkpoints, for "did you mean" hints on a misspelled id.
KNOWN_IDS = (
    "zai-org/GLM-4.5",
    "zai-org/GLM-4.5-Air",
    "zai-org/GLM-4.6",
    "openai/gpt-oss-20b",
    "openai/gpt-oss-120b",
    "Qwen/Qwen3-0.6B",
    "Qwen/Qwen3-30B-A3B",
    "Qwen/Qwen3-235B-A22B",
    "deepseek-ai/DeepSeek-R1",
    "deepseek-ai/DeepSeek-V3",
    "HuggingFaceTB/SmolLM3-3B",
    "LGAI-EXAONE/EXAONE-4.0-32B",
    "microsoft/Phi-4-reasoning-plus",
    "mistralai/Magistral-Small-2507",
    "moonshotai/Kimi-K2-Instruct",
    "MiniMaxAI/MiniMax-M1-80k",
)


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
    switch = family.on if wanted else family.off
    if switch is None:
        # The model cannot be put in the mode asked for: run it in the one it has, and say so.
        if wanted and family is not UNKNOWN:
            warnings.append(f"asked for reasoning On, but {name} never reasons ({family.name}); it runs without")
        elif not wanted:
            warnings.append(f"asked for reasoning Off, but {name} always reasons ({family.name}); it still reasons")
        switch = family.off if wanted else family.on
        assert switch is not None
        thinking = not wanted
    else:
        thinking = wanted
    chosen_effort = None
    if family.efforts:
        chosen_effort = (effort or "").lower() or None
        if chosen_effort is None:
            chosen_effort = "low" if want_on is False else family.default_effort
            if want_on is False:
                notes.append("the lowest effort (low) is the closest gpt-oss gets to Off")
        elif chosen_effort not in family.efforts:
            warnings.append(
                f"effort '{effort}' is not one of {', '.join(family.efforts)}; using {family.default_effort}"
            )
            chosen_effort = family.default_effort
    elif effort:
        warnings.append(f"effort '{effort}' requested, but {name} has no reasoning effort setting; ignored")
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
    if family.control in ("none", "always_on"):
        reasoning: bool | None = None  # nothing switches it: the model does what it always does
    elif family.control == "harmony_effort":
        reasoning = True
    else:
        reasoning = wanted
    budget_reasoning = thinking and not small_budget
    mode = ReasoningMode(
        family=family.name,
        reasoning_control=family.control,
        reasoning=reasoning,
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


def split_thinking(text: str, think_end: str | None) -> tuple[str, str, bool]:
    """(thinking, answer, answer_reached) of an output. Without the end marker, an output expected to think is all
    thinking (the cap was reached first); an output not expected to think is all answer."""
    if not think_end:
        return "", text, True
    if think_end in text:
        thinking, answer = text.split(think_end, 1)
        return thinking.replace(THINK_TAGS[0], "", 1), answer.strip(), True
    return text, "", False
