"""The energy-score text-generation task: prompts in, one record per generated answer out.

A request carries exactly what the resolved `ReasoningMode` says to send. Non-reasoning runs are greedy with a
fixed output length (min = max new tokens), so energy per token compares across models; reasoning runs get a
declared cap and stop when the model does, and their output is split into thinking and answer.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from wattbench.backends.base import Completion, GenerationRequest
from wattbench.reasoning import ReasoningMode, split_thinking


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
    method = "engine" if reasoning_tokens is not None else None
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
        "prompt_tokens": completion.prompt_tokens,
        "completion_tokens": completion.completion_tokens,
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
