"""A WattBot run in a reasoning state, and the thinking kept apart from the answer.

`generation.reasoning` (`--reasoning` on `run`) takes the models CSV's words (Off, On, On (High), On (Medium),
On (Low), Off (N/A)) and is resolved by the model's family exactly as a batch row is (reasoning/families.toml,
`resolve_mode`), with the same warnings. Every request of the run then carries what the family needs: its
chat-template switch (`enable_thinking`), its reasoning effort (gpt-oss), its system-prompt or prompt-prefix
switch, its assistant prefix. A run expected to think gets `generation.reasoning_max_tokens` on top of the answer's
`max_tokens`, so the thinking never cuts the answer short; it is sent no JSON schema (a schema over the whole
output would forbid the thinking, and wattbench cannot tell whether a server applies it after the thinking),
and on llama.cpp the answer grammar lets a thinking block come first.

Before an answer's JSON is parsed, its thinking is taken off: the server's `reasoning_content` (or `reasoning`),
a Harmony analysis channel (up to the final channel's marker), or a thinking block ending in the family's marker
(`</think>`; also when no state was asked, since a model may think by default). The record keeps the thinking
(its first and last THINKING_KEPT_CHARS / 2 characters, the length in `thinking_chars`) and `reasoning_tokens`:
the engine's own count where it gives one (`engine`), else a stream's chunks that carried reasoning or came
before the end-of-thinking marker (`stream_chunks`, backends/sse.py), else the whole output when the budget ran
out while thinking (`cap_reached_while_thinking`), else 0 for a run not expected to think (`not_reasoning`).
An answer cut off while still thinking is a failure of its own kind (`parse_status = thinking_truncated`), not
an unparseable one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

from wattbench.backends.base import Completion, GenerationRequest
from wattbench.data.energy_score import parse_state
from wattbench.errors import ConfigError
from wattbench.reasoning import THINK_TAGS, ReasoningMode, resolve_mode, split_thinking

THINKING_KEPT_CHARS = 4000
DEFAULT_MODEL = "HuggingFaceTB/SmolLM2-135M-Instruct"
"""What the default run (llama.cpp, no --model) runs: its family decides the switch."""


def state_of(text: str, where: str = "generation.reasoning") -> tuple[bool | None, str | None, str]:
    """(on, effort, the label) of a reasoning state in the models CSV's words; bad text is one line."""
    state = parse_state(text)
    if not state.readable or not state.label:
        raise ConfigError(f"{where} {text!r}: expected Off, On, On (High), On (Medium), On (Low) or Off (N/A)")
    return state.on, state.effort, state.label


def run_mode(model_id: str | None, reasoning: str | None, answer_tokens: int, reasoning_tokens: int) -> tuple[
    ReasoningMode | None, list[str]
]:  # fmt: skip
    """The run's mode (None when no state was asked: nothing is sent, as before) and its warnings."""
    if reasoning is None:
        return None, []
    on, effort, _ = state_of(reasoning)
    return resolve_mode(model_id or DEFAULT_MODEL, on, effort, answer_tokens=answer_tokens,
                        reasoning_tokens=answer_tokens + reasoning_tokens)  # fmt: skip


def think_grammar(mode: ReasoningMode | None) -> tuple[str, str] | None:
    """The (open, close) markers a llama.cpp answer grammar lets come first, for a run expected to think."""
    if mode is None or not mode.expected_thinking or mode.harmony:
        return None
    end = mode.think_end or THINK_TAGS[1]
    start = THINK_TAGS[0] if end == THINK_TAGS[1] else end.replace("/", "", 1)
    return start, end


def apply_mode(request: GenerationRequest, mode: ReasoningMode | None, answer_tokens: int) -> GenerationRequest:
    """The request as the mode sends it: its switches, and its budget with the thinking's on top (the mode's
    budget beyond the answer's `answer_tokens`)."""
    if mode is None:
        return request
    messages = [dict(m) for m in request.messages]
    if mode.system_prompt:
        if messages and messages[0]["role"] == "system":
            messages[0]["content"] = f"{mode.system_prompt}\n\n{messages[0]['content']}"
        else:
            messages.insert(0, {"role": "system", "content": mode.system_prompt})
    if mode.prompt_prefix:
        last = messages[-1]
        last["content"] = f"{mode.prompt_prefix} {last['content']}"
    thinking = mode.expected_thinking
    return replace(
        request,
        messages=messages,
        max_tokens=request.max_tokens + (max(mode.max_new_tokens - answer_tokens, 0) if thinking else 0),
        chat_template_kwargs={**request.chat_template_kwargs, **mode.chat_template_kwargs},
        assistant_prefix=mode.assistant_prefix,
        reasoning_effort=mode.effort if mode.harmony else None,
        think_end=mode.think_end,
        json_schema=None if thinking else request.json_schema,
    )


@dataclass(frozen=True)
class Thought:
    thinking: str
    answer: str
    truncated: bool
    """The output ran out while still thinking: no answer came."""


HARMONY_FINAL = "<|channel|>final<|message|>"
HARMONY_ANALYSIS = "<|channel|>analysis<|message|>"
HARMONY_ENDS = ("<|return|>", "<|end|>", "<|call|>")
_HARMONY_TOKEN = re.compile(r"<\|start\|>assistant|<\|channel\|>\w+<\|message\|>|<\|\w+\|>")


def separate(completion: Completion, mode: ReasoningMode | None) -> Thought:
    """The thinking and the answer of one completion (see the module docstring)."""
    text = completion.text or ""
    if completion.reasoning_text:
        return Thought(completion.reasoning_text, text, False)
    if HARMONY_ANALYSIS in text or HARMONY_FINAL in text:
        head, found, tail = text.partition(HARMONY_FINAL)
        for marker in HARMONY_ENDS:
            tail = tail.split(marker, 1)[0]
        thinking = _HARMONY_TOKEN.sub("\n", head.replace(HARMONY_ANALYSIS, "\n"))
        return Thought(thinking.strip(), tail.strip(), not found)
    end = mode.think_end if mode is not None and mode.think_end else None
    if end is None and (THINK_TAGS[0] in text or THINK_TAGS[1] in text):
        end = THINK_TAGS[1]  # a model that thinks by default, asked for no state
    if end is None:
        return Thought("", text, False)
    thinking, answer, reached = split_thinking(text, end)
    if not reached and not (mode is not None and mode.expected_thinking) and THINK_TAGS[0] not in text:
        return Thought("", text, False)  # no marker and no thinking expected: all answer
    return Thought(thinking.strip(), answer, not reached)


def bounded(text: str, kept: int = THINKING_KEPT_CHARS) -> str:
    """`text` if short, else its first and last kept/2 characters around a note of what was left out."""
    if len(text) <= kept:
        return text
    half = kept // 2
    return f"{text[:half]} [... {len(text) - 2 * half} characters left out ...] {text[-half:]}"


def reasoning_fields(completion: Completion, mode: ReasoningMode | None, thought: Thought) -> dict[str, Any]:
    """What a question's record keeps of its answer's thinking."""
    tokens = completion.reasoning_tokens
    method = (completion.reasoning_tokens_method or "engine") if tokens is not None else None
    if tokens is None and thought.truncated and completion.completion_tokens is not None:
        tokens, method = completion.completion_tokens, "cap_reached_while_thinking"
    if tokens is None and not thought.thinking and (mode is None or not mode.expected_thinking) and completion.ok:
        tokens, method = 0, "not_reasoning"
    return {
        "thinking": bounded(thought.thinking),
        "thinking_chars": len(thought.thinking),
        "reasoning_tokens": tokens,
        "reasoning_tokens_method": method,
    }
