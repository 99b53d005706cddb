"""What every backend takes and returns.

`Backend.generate` receives the whole batch, so the engine decides batching and concurrency, and one meter window
can wrap one call. Token counts come from the engine's own usage figures, never from re-tokenising.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from wattbench.energy.devices import Devices
from wattbench.errors import WattbenchError


class EngineOptions(BaseModel):
    """What an engine takes. Each engine subclasses it with its own fields; an unknown option is an error that
    names it, never silently dropped."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    model: str | None = None
    """Model id or path; None: the engine's default, where it has one."""


Options = TypeVar("Options", bound=EngineOptions)


def options_of(engine: str, kind: type[Options], given: Options | None, kwargs: dict[str, Any]) -> Options:
    """The engine's options, from an options object or from keyword arguments checked against its model."""
    if given is not None:
        if kwargs:
            raise TypeError("pass options or keyword arguments, not both")
        return given
    try:
        return kind(**kwargs)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "options"
        what = "unknown option; check its spelling" if first["type"] == "extra_forbidden" else first["msg"]
        raise WattbenchError(f"backend '{engine}': {where}: {what}") from None


@dataclass
class GenerationRequest:
    messages: list[dict[str, str]]  # chat messages: {"role": ..., "content": ...}
    max_tokens: int = 256
    min_tokens: int = 0  # > 0 forces at least this many output tokens (fixed-length benchmarks)
    temperature: float = 0.0
    seed: int | None = 0
    grammar: str | None = None  # GBNF, for engines with grammar-constrained decoding (llama.cpp)
    json_schema: dict[str, Any] | None = None  # for engines with schema-guided output (vLLM, OpenAI)
    chat_template_kwargs: dict[str, Any] = field(default_factory=dict)
    request_id: str = ""
    prompt_text: str | None = None  # a plain-text prompt sent without any chat template (base checkpoints)
    assistant_prefix: str | None = None  # opens the assistant turn; the model continues from it ("<think>\n")
    reasoning_effort: str | None = None  # gpt-oss Harmony effort: a request field on servers, a template kwarg locally
    think_end: str | None = None  # marker ending the thinking part, for engines that count reasoning tokens from ids
    deadline: float | None = None  # time.monotonic() by which a server request must end, retries included
    on_output: Callable[[str], None] | None = None  # told "sent" (server requests), "token" per output, "done"


FinishReason = Literal["stop", "length", "context_overflow", "error"]
"""Why a completion ended: it stopped, hit its token cap, did not fit the context window, or failed."""

# How engines word a prompt too long for the context: llama.cpp ("exceed context window"), vLLM and OpenAI
# ("maximum context length"), llama.cpp server ("exceeds the available context size").
_OVERFLOW = re.compile(r"context (window|length|size)|maximum context|exceeds? the (available )?context", re.I)


def failure_reason(message: str) -> FinishReason:
    """The finish reason of a failed request, from the engine's error: a context overflow, or an error."""
    return "context_overflow" if _OVERFLOW.search(message) else "error"


def finish_reason(engine_reason: object) -> FinishReason:
    """An engine's own finish reason as one of ours ("length" stays; "stop", "eos", "end_turn" ... are stops)."""
    return "length" if str(engine_reason).lower() in ("length", "max_tokens") else "stop"


@dataclass
class Completion:
    text: str = ""
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    reasoning_tokens: int | None = None
    finish_reason: FinishReason | None = None
    latency_s: float = 0.0
    ttft_s: float | None = None  # time to first token, where the engine streams (backends/timing.py)
    tpot_s: float | None = None  # mean time per output token after the first
    itl_s: list[float] = field(default_factory=list)  # gaps between consecutive deliveries of output
    error: str | None = None
    error_kind: str | None = None  # "auth": the credentials were refused, so every other request fails the same way
    reasoning_text: str | None = None  # thinking the server returned apart from `text` (vLLM reasoning parsers)
    rendered_prompt: str | None = None  # the prompt text the engine ran, where this process rendered it
    attempts: int = 1  # how many times the request was sent (server backends retry 429, 5xx and timeouts)
    notes: list[str] = field(default_factory=list)  # what the run log should say (a capped Retry-After, say)
    usage_warning: str | None = None  # token counts the engine reported that could not be true (backends/usage.py)

    @property
    def ok(self) -> bool:
        return self.error is None


class Backend(Protocol):
    """An engine. Besides generating, it says what it is, so that no other module keeps a list of engines:
    `priced` (tokens cost money: the price table applies; otherwise they cost 0), `needs_model` (it has no
    default model), `takes_slot` (it runs a model on the executor's GPU or CPU slot; an API client takes none),
    `run_options` / `batch_options` (its options from a WattBot run config or a batch config), and `devices()`
    (the GPUs it holds, for the meter)."""

    name: str
    priced: ClassVar[bool]
    needs_model: ClassVar[bool]
    takes_slot: ClassVar[bool]

    def generate(self, requests: list[GenerationRequest]) -> list[Completion]:
        """Answer every request; a failed request is a Completion with `error` set, never an exception."""

    def info(self) -> dict[str, Any]:
        """Engine, version, model id and revision, dtype, devices used."""

    def close(self) -> None:
        """Release the model and its memory."""

    def devices(self) -> Devices:
        """Where the model's work runs: the NVML indices of the GPUs the engine holds, or none (CPU), or another
        machine; the meter keeps exactly those scopes (energy/devices.py)."""


class AuthError(WattbenchError):
    """The server refused the credentials: no request can succeed, so the run ends before its first question."""


def preflight(backend: Backend) -> list[str]:
    """Ask the backend to check, once, what would fail every request (a refused or missing API key); returns
    what the run log should say. Raises AuthError. Engines without such a check pass."""
    check = getattr(backend, "preflight", None)
    return list(check() or []) if callable(check) else []


def marker_end(ids: list[int], marker: list[int]) -> int | None:
    """Number of ids up to and including the first occurrence of `marker` (None when it does not occur): the
    reasoning-token count when `marker` ends the thinking part, counted on the ids the engine generated."""
    width = len(marker)
    if not width:
        return None
    for start in range(len(ids) - width + 1):
        if ids[start : start + width] == marker:
            return start + width
    return None
