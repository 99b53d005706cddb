"""gpt-oss's Harmony format through the `openai-harmony` package, where that package works.

The package fetches its tokenizer vocabulary on first use, so on an offline machine it cannot load; then the
model's own chat template (which writes the same Harmony format, with `reasoning_effort` as a template kwarg)
renders the prompt instead. `harmony_status` says which, and why.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any


@lru_cache(maxsize=1)
def _encoding() -> tuple[Any, str]:
    try:
        from openai_harmony import HarmonyEncodingName, load_harmony_encoding
    except ImportError:
        return None, "openai-harmony is not installed"
    try:
        return load_harmony_encoding(HarmonyEncodingName.HARMONY_GPT_OSS), "ok"
    except Exception as exc:  # the vocabulary download fails offline
        return None, f"openai-harmony cannot load its vocabulary: {str(exc).splitlines()[0][:100]}"


def harmony_status() -> tuple[bool, str]:
    encoding, why = _encoding()
    return encoding is not None, why


def render_harmony(messages: list[dict[str, str]], effort: str) -> str:
    """The prompt text for gpt-oss: system message with the reasoning effort, the conversation, an open
    assistant turn."""
    from openai_harmony import Conversation, Message, ReasoningEffort, Role, SystemContent

    encoding, why = _encoding()
    if encoding is None:
        raise RuntimeError(why)
    system = SystemContent.new().with_reasoning_effort(ReasoningEffort[effort.upper()])
    turns = [Message.from_role_and_content(Role.SYSTEM, system)]
    for message in messages:
        role = Role.DEVELOPER if message["role"] == "system" else Role(message["role"])
        turns.append(Message.from_role_and_content(role, message["content"]))
    tokens = encoding.render_conversation_for_completion(Conversation.from_messages(turns), Role.ASSISTANT)
    return encoding.decode(tokens)
