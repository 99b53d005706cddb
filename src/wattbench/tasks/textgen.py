"""The energy-score text-generation task: prompts in, one record per generated answer out.

A request carries exactly what the resolved `ReasoningMode` says to send. Non-reasoning runs are greedy with a
fixed output length (min = max new tokens), so energy per token compares across models; reasoning runs get a
declared cap and stop when the model does, and their output is split into thinking and answer.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, ClassVar

from wattbench.backends.base import Completion, GenerationRequest
from wattbench.reasoning import ReasoningMode, split_thinking
from wattbench.tasks.base import Exchange


def build_request(
    prompt: str, mode: ReasoningMode, *, seed: int | None = 0, request_id: str = "", harmony_render: bool = False
) -> GenerationRequest:
    """`harmony_render`: render gpt-oss prompts with openai-harmony here (local engines, where the package works)."""
    user = f"{mode.prompt_prefix} {prompt}" if mode.prompt_prefix else prompt
    messages = [{"role": "system", "content": mode.system_prompt}] if mode.system_prompt else []
    messages.append({"role": "user", "content": user})
    prompt_text = None if mode.use_chat_template else user
    if harmony_render and mode.harmony and mode.effort:
        from wattbench.harmony import render_harmony

        prompt_text = render_harmony(messages, mode.effort)
    return GenerationRequest(
        messages=messages,
        max_tokens=mode.max_new_tokens,
        min_tokens=mode.max_new_tokens if mode.fixed_length else 0,
        temperature=0.0,
        seed=seed,
        chat_template_kwargs=dict(mode.chat_template_kwargs),
        request_id=request_id,
        prompt_text=prompt_text,
        assistant_prefix=mode.assistant_prefix,
        reasoning_effort=mode.effort if mode.harmony else None,
        think_end=mode.think_end,
    )


def request_fingerprint(request: GenerationRequest) -> str:
    """What a server renders from (messages and switches), for backends that do not render in this process."""
    return json.dumps(
        {
            "messages": request.messages,
            "prompt": request.prompt_text,
            "chat_template_kwargs": request.chat_template_kwargs,
            "assistant_prefix": request.assistant_prefix,
            "reasoning_effort": request.reasoning_effort,
        },
        sort_keys=True,
        ensure_ascii=False,
    )


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def evaluate(request: GenerationRequest, completion: Completion, mode: ReasoningMode) -> tuple[dict[str, Any], str]:
    """(the per-prompt record: status, timing, engine token counts, thinking split from the answer; the rendered
    prompt, which the record holds only as a hash)."""
    rendered = completion.rendered_prompt if completion.rendered_prompt is not None else request_fingerprint(request)
    if completion.reasoning_text is not None:
        thinking, answer, reached = completion.reasoning_text, completion.text, True
    else:
        thinking, answer, reached = split_thinking(completion.text, mode.think_end)
    reasoning_tokens = completion.reasoning_tokens
    method = (completion.reasoning_tokens_method or "engine") if reasoning_tokens is not None else None
    if reasoning_tokens is None and mode.think_end and not reached and completion.completion_tokens is not None:
        reasoning_tokens, method = completion.completion_tokens, "cap_reached_while_thinking"
    if reasoning_tokens is None and not mode.expected_thinking and completion.ok:
        reasoning_tokens, method = 0, "not_reasoning"
    answer_tokens = (
        completion.completion_tokens - reasoning_tokens
        if completion.completion_tokens is not None and reasoning_tokens is not None
        else None
    )
    record = {
        "status": "ok" if completion.ok else "error",
        "error": completion.error,
        "latency_s": completion.latency_s,
        "ttft_s": completion.ttft_s,
        "tpot_s": completion.tpot_s,
        "itl_s": completion.itl_s,
        "prompt_tokens": completion.prompt_tokens,
        "completion_tokens": completion.completion_tokens,
        "failed_output_tokens": None if completion.ok else completion.generated_tokens,
        "usage_warning": completion.usage_warning,
        "reasoning_tokens": reasoning_tokens,
        "answer_tokens": answer_tokens,
        "reasoning_tokens_method": method,
        "finish_reason": completion.finish_reason,
        "answer_reached": reached if completion.ok else None,
        "thinking_chars": len(thinking),
        "output": answer,
        "thinking": thinking,
        "rendered_prompt_sha256": sha256(rendered),
        "rendered_by": "wattbench" if completion.rendered_prompt is not None else "server",
    }
    return record, rendered


@dataclass
class Chunk:
    """One generate call's worth of prompts: `batch_size` of them, in one measured pass."""

    repeat: int
    prompts: list[tuple[int, str]]
    """(index in the prompt set, prompt)."""


@dataclass
class Evaluated:
    record: dict[str, Any]
    rendered: str | None
    """The prompt as rendered (None: never sent)."""


class TextGenTask:
    """The energy-score task: an item is a Chunk; its result is one evaluated record per prompt (the runs loop
    adds each prompt's share of the call's energy)."""

    name: ClassVar[str] = "textgen"
    unit: ClassVar[str] = "prompts"

    def __init__(self, mode: ReasoningMode, seed: int | None, harmony_render: bool) -> None:
        self.mode, self.seed, self.harmony_render = mode, seed, harmony_render

    def window(self, item: Chunk) -> str:
        first, last = item.prompts[0][0], item.prompts[-1][0]
        return f"prompts {first}-{last}"

    def requests(self, item: Chunk) -> list[GenerationRequest]:
        return [
            build_request(p, self.mode, seed=self.seed, request_id=f"{item.repeat}:{i}",
                          harmony_render=self.harmony_render)
            for i, p in item.prompts
        ]  # fmt: skip

    def start(self, item: Chunk) -> Exchange[list[Evaluated]]:
        requests = self.requests(item)
        completions = yield requests
        out = []
        for (index, _), request, completion in zip(item.prompts, requests, completions, strict=True):
            record, rendered = evaluate(request, completion, self.mode)
            out.append(Evaluated({"prompt_index": index, "repeat": item.repeat, **record}, rendered))
        return out

    def failed(self, item: Chunk, exc: Exception) -> list[Evaluated]:
        error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        completion = Completion(error=error, finish_reason="error")
        return [
            Evaluated({"prompt_index": i, "repeat": item.repeat, **evaluate(r, completion, self.mode)[0]}, None)
            for (i, _), r in zip(item.prompts, self.requests(item), strict=True)
        ]

    def errors(self, result: list[Evaluated]) -> list[str | None]:
        return [None if e.record["status"] == "ok" else (e.record["error"] or "failed") for e in result]
