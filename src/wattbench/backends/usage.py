"""Usage figures from an engine, checked before anything is built on them.

Token counts come from the engine (DESIGN.md), but a server can report nonsense: a negative count, or more
output tokens than the request allowed (a bug, a proxy adding up several replies, a hostile server). Such a
count is recorded as unknown (None) with a warning on the completion, so it never becomes a cost, a tokens/J
figure or a throughput. A small excess is allowed: servers differ on counting the end token.
"""

from __future__ import annotations

from wattbench.backends.base import Completion, GenerationRequest

OUTPUT_TOLERANCE = 2
"""Output tokens a server may count beyond `max_tokens` (the end-of-sequence token, a BOS) before the count is
refused."""
INPUT_TOKENS_PER_BYTE = 4
"""No tokenizer gives more than a few tokens per byte of text; the chat template adds a bounded overhead."""
TEMPLATE_OVERHEAD_TOKENS = 2048


def _prompt_bytes(request: GenerationRequest) -> int:
    text = request.prompt_text or "".join(str(m.get("content") or "") for m in request.messages)
    return len(text.encode("utf-8")) + len(request.assistant_prefix or "")


def check_usage(request: GenerationRequest, completion: Completion) -> Completion:
    """`completion` with impossible token counts set to None and a warning (`usage_warning`, and in its notes)."""
    problems: list[str] = []
    for name in ("prompt_tokens", "completion_tokens", "reasoning_tokens"):
        value = getattr(completion, name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            problems.append(f"{name} = {value!r}")
            setattr(completion, name, None)
    allowed = request.max_tokens + OUTPUT_TOLERANCE
    if completion.completion_tokens is not None and completion.completion_tokens > allowed:
        problems.append(f"completion_tokens = {completion.completion_tokens} for max_tokens = {request.max_tokens}")
        completion.completion_tokens = None
    ceiling = INPUT_TOKENS_PER_BYTE * _prompt_bytes(request) + TEMPLATE_OVERHEAD_TOKENS
    if completion.prompt_tokens is not None and completion.prompt_tokens > ceiling:
        problems.append(f"prompt_tokens = {completion.prompt_tokens} for a prompt of {_prompt_bytes(request)} bytes")
        completion.prompt_tokens = None
    reasoning, output = completion.reasoning_tokens, completion.completion_tokens
    if reasoning is not None and (output is None or reasoning > output):
        problems.append(f"reasoning_tokens = {reasoning} beyond the output's {output}")
        completion.reasoning_tokens = None
    if problems:
        completion.usage_warning = (f"the engine reported impossible usage ({'; '.join(problems)}): recorded as "
                                    "unknown, left out of cost, throughput and tokens/J")  # fmt: skip
        completion.notes = [*completion.notes, completion.usage_warning]
    return completion
