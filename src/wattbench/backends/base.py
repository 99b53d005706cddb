"""What every backend takes and returns.

`Backend.generate` receives the whole batch, so the engine decides batching and concurrency, and one meter window
can wrap one call. Token counts come from the engine's own usage figures, never from re-tokenising.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from wattbench.energy.devices import Devices
from wattbench.errors import ConfigError, WattbenchError

if TYPE_CHECKING:  # the configs import nothing of the backends; an engine reads them only in its class methods
    from wattbench.config import BatchConfig, ExperimentConfig


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
    generated_tokens: int | None = None  # a failed request's output tokens before it failed (a stream cut off)
    reasoning_tokens_method: str | None = None  # how reasoning_tokens was counted: engine (usage), stream_chunks

    @property
    def ok(self) -> bool:
        return self.error is None


class Backend(Protocol):
    """An engine: what the runs rely on. Besides generating, it says what it is, so that no other module keeps a
    list of engines. `BackendBase` gives the optional members their defaults; the built-in engines subclass it,
    and the registry gives them to an engine class of another package that does not (backends/registry.py)."""

    name: str
    Options: ClassVar[type[EngineOptions]]
    """Its options model: every option it takes, with a docstring; an unknown one is refused."""
    priced: ClassVar[bool]
    """Its tokens cost money (the price table applies); otherwise they cost 0."""
    needs_model: ClassVar[bool]
    """It has no default model: a run must name one."""
    takes_slot: ClassVar[bool]
    """It runs a model on the executor's GPU or CPU slot; an API client takes none."""
    renders_prompt: ClassVar[bool]
    """It renders the chat template in this process (so openai-harmony can render gpt-oss prompts for it)."""
    native_weights: ClassVar[bool]
    """It runs a checkpoint's own weights at their precision, as the AI Energy Score board's engines do."""
    gpu_only: ClassVar[bool]
    """It always runs on GPUs (a managed vLLM server): a run dir of it without named devices still used one."""
    endpoint_client: ClassVar[str | None]
    """The engine that talks to an already-running server of this one (a batch's `endpoint`); None: none."""

    def __init__(self, options: Any = None, **kwargs: Any) -> None: ...

    @classmethod
    def run_options(cls, config: ExperimentConfig) -> dict[str, Any]:
        """Its options from a WattBot run's config."""

    @classmethod
    def batch_options(cls, model: str, config: BatchConfig) -> dict[str, Any]:
        """Its options for one model of a batch."""

    @classmethod
    def at_load(cls, options: dict[str, Any], in_flight: int) -> dict[str, Any]:
        """Its options for a load run with `in_flight` requests at once; ConfigError where it has no load mode."""

    @classmethod
    def find_model(cls, model: str, folder: str) -> str:
        """The model a batch's model id names in `folder` (llama.cpp: the .gguf matched by name); WattbenchError
        when there is none. Engines that load by id return it unchanged."""

    def preflight(self) -> list[str]:
        """Check, once, what would fail every request (a refused or missing API key): AuthError. Returns what the
        run log should say."""

    def generate(self, requests: list[GenerationRequest]) -> list[Completion]:
        """Answer every request; a failed request is a Completion with `error` set, never an exception."""

    def info(self) -> dict[str, Any]:
        """Engine, version, model id and revision, dtype, devices used."""

    def close(self) -> None:
        """Release the model and its memory."""

    def devices(self) -> Devices:
        """Where the model's work runs: the NVML indices of the GPUs the engine holds, or none (CPU), or another
        machine; the meter keeps exactly those scopes (energy/devices.py)."""


class BackendBase:
    """The defaults of an engine's optional members (`Backend` documents each): an engine that serves one request
    at a time, renders no prompt itself, loads by model id and has nothing to check before its first request."""

    name: str
    renders_prompt: ClassVar[bool] = False
    native_weights: ClassVar[bool] = False
    gpu_only: ClassVar[bool] = False
    endpoint_client: ClassVar[str | None] = None

    @classmethod
    def at_load(cls, options: dict[str, Any], in_flight: int) -> dict[str, Any]:
        raise ConfigError(f"provider '{cls.name}' has no load mode (it serves one request at a time); serve the model "
                          "with an OpenAI-compatible server (llama_cpp.server, vllm) and load that")  # fmt: skip

    @classmethod
    def find_model(cls, model: str, folder: str) -> str:
        return model

    def preflight(self) -> list[str]:
        return []


class AuthError(WattbenchError):
    """The server refused the credentials: no request can succeed, so the run ends before its first question."""


def preflight(backend: Backend) -> list[str]:
    """The backend's check of what would fail every request (Backend.preflight); raises AuthError."""
    return list(backend.preflight() or [])


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
