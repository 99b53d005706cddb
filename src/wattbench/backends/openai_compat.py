"""OpenAI-compatible chat completions over HTTP: vLLM, llama.cpp server, OpenRouter, OpenAI.

Replies are streamed by default (backends/sse.py: TTFT, TPOT and inter-token latencies, usage from the final
chunk; `stream = false` turns it off). Requests run concurrently (at most `max_concurrent` in flight). Every
attempt has a connect timeout and a timeout on the whole reply (a server that accepts the connection and never
answers ends there); 429, 5xx, timeouts and dropped connections are retried with exponential backoff, at most
`max_attempts` times and never past the request's deadline, honouring Retry-After up to `retry_after_cap_s`. 401
and 403 are not retried, and `preflight()` finds a refused or missing key once, before the first request. Token
counts come from the response's `usage`. A request with a JSON schema asks for a constrained reply in the form
the server knows: `json_schema` (OpenAI, vLLM) or `json_object` with a schema (llama.cpp server);
`json_mode = "none"` sends no schema. The API key is
read from the environment variable named by `api_key_env` and is never logged, stored or returned by `info()`.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from typing import TYPE_CHECKING, Any, ClassVar

from wattbench.backends.base import (
    AuthError,
    BackendBase,
    Completion,
    EngineOptions,
    GenerationRequest,
    failure_reason,
    finish_reason,
    options_of,
)
from wattbench.backends.sse import Limits, Reply, ReplyTimeout, StreamFailure, post, stream_completion
from wattbench.energy.devices import Devices, server_devices
from wattbench.errors import WattbenchError
from wattbench.urls import parse_url

if TYPE_CHECKING:
    from wattbench.config import BatchConfig, ExperimentConfig

RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})
AUTH_STATUS = frozenset({401, 403})
NETWORK_OPTIONS = (
    "connect_timeout_s",
    "first_byte_timeout_s",
    "stall_timeout_s",
    "request_timeout_s",
    "max_attempts",
    "retry_after_cap_s",
)
"""The timeouts and retry limits every server backend takes, under the same names in the run and batch configs."""


def network_options(settings: Any) -> dict[str, Any]:
    """NETWORK_OPTIONS read off a config section that has them (generation settings, a batch config)."""
    return {name: getattr(settings, name) for name in NETWORK_OPTIONS}


def endpoint_base_url(endpoint: str) -> str:
    """`http://host:8000`, `.../v1` or `.../v1/chat/completions` → `http://host:8000/v1` (a query string, where a
    server takes its token, stays at the end)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(endpoint.strip())
    path = parts.path.rstrip("/")
    for suffix in ("/chat/completions", "/completions"):
        if path.endswith(suffix):
            path = path[: -len(suffix)]
    path = path if path.endswith("/v1") else path + "/v1"
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, parts.fragment))


DEFAULT_BASE_URL = "https://api.openai.com/v1"
JSON_MODES = ("json_schema", "json_object", "none")


class NetworkOptions(EngineOptions):
    """The limits every server client has."""

    max_concurrent: int = 4
    """Requests in flight at once."""
    connect_timeout_s: float = 10.0
    """Seconds to wait for a connection."""
    first_byte_timeout_s: float = 8.0
    """Streamed replies: seconds from sending to the reply's first byte (a server that never answers ends here)."""
    stall_timeout_s: float = 60.0
    """The longest silence between two bytes of a reply (a live stream is never cut)."""
    request_timeout_s: float = 60.0
    """Unstreamed replies: seconds one attempt may take to its whole reply."""
    max_attempts: int = 3
    """Attempts per request (429, 5xx, timeouts and dropped connections are retried)."""
    retry_after_cap_s: float = 30.0
    """The longest Retry-After obeyed."""
    json_mode: str = "json_schema"
    """How the server is asked for JSON: json_schema, json_object or none."""
    stream: bool = True
    """Stream the reply (server-sent events) and time its tokens: TTFT, TPOT and inter-token latencies."""


class OpenAIOptions(NetworkOptions):
    """Any OpenAI-compatible server."""

    base_url: str | None = None
    """Server URL ending in /v1; None: $OPENAI_BASE_URL, then the OpenAI API."""
    api_key_env: str = "OPENAI_API_KEY"
    """Environment variable holding the key (the key itself is never stored)."""
    backoff_s: float = 1.0
    """First wait between attempts; it doubles at each retry."""
    gpus: list[int] | None = None
    """A server on this machine: the GPUs (NVML indices) it runs on, which are then measured as the run's; None:
    its GPU energy is unavailable. A server elsewhere is never measured here."""


class OpenAICompatBackend(BackendBase):
    name = "openai"
    Options = OpenAIOptions
    priced: ClassVar[bool] = True
    needs_model: ClassVar[bool] = True
    takes_slot: ClassVar[bool] = False
    endpoint_client: ClassVar[str | None] = "openai"

    @classmethod
    def run_options(cls, config: ExperimentConfig) -> dict[str, Any]:
        gen = config.generation
        return {
            "model": config.model,
            "base_url": gen.base_url,
            "api_key_env": gen.api_key_env,
            "max_concurrent": gen.max_concurrent,
            "json_mode": gen.json_mode,
            "stream": gen.stream,
            "gpus": gen.gpus,
            **network_options(gen),
        }

    @classmethod
    def at_load(cls, options: dict[str, Any], in_flight: int) -> dict[str, Any]:
        """Options for a load run with at most `in_flight` requests at once (a concurrency limit), streamed."""
        # Queued behind `in_flight - 1` others, a server that sends its status line only with the first token
        # (llama.cpp's server does) is busy, not dead: it gets the stall timeout for its first byte.
        first = max(options.get("first_byte_timeout_s", 8.0), options.get("stall_timeout_s", 60.0))
        return {**options, "max_concurrent": in_flight, "stream": True, "first_byte_timeout_s": first}

    @classmethod
    def batch_options(cls, model: str, config: BatchConfig) -> dict[str, Any]:
        base_url = endpoint_base_url(config.endpoint) if config.endpoint else None
        gen = config.generation
        return {"model": model, "base_url": base_url, "api_key_env": gen.api_key_env,
                "max_concurrent": config.batch_size, "json_mode": "none", "stream": gen.stream, "gpus": gen.gpus,
                **network_options(gen)}  # fmt: skip

    def __init__(self, options: OpenAIOptions | None = None, **kwargs: Any) -> None:
        opts = options_of(self.name, OpenAIOptions, options, kwargs)
        model, base_url, api_key_env, json_mode = opts.model, opts.base_url, opts.api_key_env, opts.json_mode
        max_concurrent, backoff_s, max_attempts = opts.max_concurrent, opts.backoff_s, opts.max_attempts
        connect_timeout_s, request_timeout_s = opts.connect_timeout_s, opts.request_timeout_s
        retry_after_cap_s = opts.retry_after_cap_s
        try:
            import httpx  # noqa: F401
        except ImportError:
            raise WattbenchError("the openai backend needs httpx: pip install 'wattbench[openai]'") from None
        if not model:
            raise WattbenchError("the openai backend needs a model: --model <served model id>")
        if json_mode not in JSON_MODES:
            raise WattbenchError(f"generation.json_mode: unknown '{json_mode}'; use one of: {', '.join(JSON_MODES)}")
        self.model = model
        # Parsed once: requests go to `_url` (user-info taken out and sent as basic auth), everything shown,
        # logged or stored reads `base_url`, which is redacted.
        self._endpoint = parse_url((base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL).rstrip("/"))
        self._url, self.base_url = self._endpoint.url, self._endpoint.shown
        self.gpus = opts.gpus
        self.api_key_env = api_key_env
        self._api_key = os.environ.get(api_key_env)
        if self._api_key is None and self._url == DEFAULT_BASE_URL:
            raise WattbenchError(f"the OpenAI API needs a key: set ${api_key_env} (it is never written anywhere)")
        if max_attempts < 1:
            raise WattbenchError(f"generation.max_attempts: {max_attempts}; a request needs at least 1 attempt")
        self.max_concurrent = max_concurrent
        self.connect_timeout_s, self.request_timeout_s = connect_timeout_s, request_timeout_s
        self.first_byte_timeout_s, self.stall_timeout_s = opts.first_byte_timeout_s, opts.stall_timeout_s
        self.max_attempts, self.retry_after_cap_s = max_attempts, retry_after_cap_s
        self.backoff_s, self.json_mode = backoff_s, json_mode
        self.stream = opts.stream
        self._tls: Any = None  # one TLS context for every call: building one costs ~35 ms, inside a metered window

    def _headers(self) -> dict[str, str]:
        """The API key as a bearer token; without one, the URL's user-info as basic auth (a proxy's login)."""
        return {"Authorization": f"Bearer {self._api_key}"} if self._api_key else self._endpoint.basic_auth()

    def _refused(self, status: int) -> str:
        if self._api_key is None:
            return (
                f"{self.base_url} needs an API key (HTTP {status}): set ${self.api_key_env}, "
                "or name the variable that holds it with generation.api_key_env"
            )
        return f"{self.base_url} refused the API key in ${self.api_key_env} (HTTP {status}); check the key"

    def preflight(self) -> list[str]:
        """One GET /models before the first question: a refused or missing key raises AuthError (every request
        would fail the same way). Anything else (no such route, a slow or dead server) is only noted: the
        requests' own timeouts and the run's consecutive-failure stop deal with it."""
        import httpx

        timeout = httpx.Timeout(self.first_byte_timeout_s, connect=self.connect_timeout_s)
        try:
            response = httpx.get(self._endpoint.join("models"), headers=self._headers(), timeout=timeout)
        except httpx.HTTPError as exc:
            return [f"preflight: {self.base_url}/models did not answer ({type(exc).__name__}); going on"]
        if response.status_code in AUTH_STATUS:
            raise AuthError(self._refused(response.status_code))
        return []

    def _retry_after(self, header: str, fallback_s: float) -> tuple[float, str | None]:
        """The wait a Retry-After header asks for (seconds only; HTTP dates are rare here), capped."""
        header = header.strip()
        if not header.replace(".", "", 1).isdigit():
            return fallback_s, None
        asked = float(header)
        if asked <= self.retry_after_cap_s:
            return asked, None
        note = f"Retry-After {asked:g} s capped at {self.retry_after_cap_s:g} s (generation.retry_after_cap_s)"
        return self.retry_after_cap_s, note

    @staticmethod
    def _route(request: GenerationRequest) -> str:
        # A plain prompt (a base checkpoint) goes to the text-completions endpoint: no chat template is applied.
        return "completions" if request.prompt_text is not None else "chat/completions"

    def _payload(self, request: GenerationRequest) -> dict[str, Any]:
        payload: dict[str, Any] = {"model": self.model, "max_tokens": request.max_tokens}
        payload["temperature"] = request.temperature
        if request.prompt_text is not None:
            payload["prompt"] = request.prompt_text + (request.assistant_prefix or "")
        else:
            payload["messages"] = list(request.messages)
            if request.assistant_prefix:
                # vLLM continues an open final assistant message instead of starting a new turn.
                payload["messages"].append({"role": "assistant", "content": request.assistant_prefix})
                payload["continue_final_message"] = True
                payload["add_generation_prompt"] = False
        if request.reasoning_effort:
            payload["reasoning_effort"] = request.reasoning_effort
        if request.seed is not None:
            payload["seed"] = request.seed
        if self.stream:
            payload["stream"] = True
            payload["stream_options"] = {"include_usage": True}  # token counts stay the server's own
        if request.min_tokens:
            payload["min_tokens"] = request.min_tokens  # a vLLM extension for fixed-length runs
        if request.chat_template_kwargs:
            payload["chat_template_kwargs"] = request.chat_template_kwargs  # vLLM: enable_thinking and friends
        if request.json_schema is not None and self.json_mode == "json_schema":
            payload["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "answer", "schema": request.json_schema},
            }
        elif request.json_schema is not None and self.json_mode == "json_object":
            payload["response_format"] = {"type": "json_object", "schema": request.json_schema}
        return payload

    def _attempt_timeout(self, deadline: float | None) -> float | None:
        """Seconds this attempt may take in all: unbounded for a stream (it is cut only when it stalls), the
        request timeout for an unstreamed reply; either cut to what is left before the deadline. 0: nothing is
        left."""
        whole = None if self.stream else self.request_timeout_s
        if deadline is None:
            return whole
        left = deadline - time.monotonic()
        return 0.0 if left <= 0 else min(whole or left, left)

    def _limits(self, whole_s: float | None) -> Limits:
        # A streamed reply's status line comes at once (the tokens follow); an unstreamed one's only with the
        # whole reply, so its first byte may take as long as the reply.
        first = self.first_byte_timeout_s if self.stream else self.request_timeout_s
        by_request = not self.stream and whole_s == self.request_timeout_s
        name = "generation.request_timeout_s" if by_request else "what was left of the question's time budget"
        return Limits(self.connect_timeout_s, first, self.stall_timeout_s, whole_s, name)

    async def _send(self, client: Any, request: GenerationRequest, whole_s: float | None) -> Reply:
        return await post(client, self._endpoint.join(self._route(request)), self._payload(request), self._headers(),
                          self._limits(whole_s), request.on_output)  # fmt: skip

    async def _one(self, client: Any, limit: asyncio.Semaphore, request: GenerationRequest) -> Completion:
        completion = await self._attempts(client, limit, request)
        if request.on_output is not None:
            request.on_output("done")  # before the request waiting for this slot is sent (no await in between)
        return completion

    async def _attempts(self, client: Any, limit: asyncio.Semaphore, request: GenerationRequest) -> Completion:
        import httpx

        started = time.perf_counter()
        error, notes, attempts, delay, why = "no attempt made", [], 0, self.backoff_s, ""
        async with limit:
            while attempts < self.max_attempts:
                if attempts:
                    if request.deadline is not None and time.monotonic() + delay >= request.deadline:
                        why = " (question time budget spent)"
                        break
                    await asyncio.sleep(delay)
                timeout_s = self._attempt_timeout(request.deadline)
                if timeout_s == 0.0:
                    why = " (question time budget spent)"
                    break
                attempts += 1
                delay = self.backoff_s * 2 ** (attempts - 1)
                if request.on_output is not None:
                    request.on_output("sent")  # where the prefill starts (energy/phases.py)
                try:
                    response = await self._send(client, request, timeout_s)
                except ReplyTimeout as exc:
                    error = str(exc)
                    continue
                except (httpx.TimeoutException, TimeoutError):
                    error = f"no connection within {self.connect_timeout_s:.3g} s (generation.connect_timeout_s)"
                    continue
                except httpx.TransportError as exc:
                    error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                    continue
                if response.status_code in RETRY_STATUS:
                    error = f"HTTP {response.status_code}: {response.text[:200]}"
                    delay, note = self._retry_after(response.headers.get("retry-after", ""), delay)
                    notes += [note] if note else []
                    continue
                if response.status_code in AUTH_STATUS:
                    refused = self._failed(self._refused(response.status_code), started, attempts, notes)
                    refused.error_kind = "auth"
                    return refused
                if response.status_code >= 400:
                    failed = self._failed(
                        f"HTTP {response.status_code}: {response.text[:200]}", started, attempts, notes
                    )
                    failed.finish_reason = failure_reason(response.text)  # a prompt too long says so in a 400
                    return failed
                completion = self._read(response, started, request.think_end)
                completion.attempts, completion.notes = attempts, notes + completion.notes
                return completion
        plural = "" if attempts == 1 else "s"
        return self._failed(f"gave up after {attempts} attempt{plural}{why}; last: {error}", started, attempts, notes)

    @staticmethod
    def _failed(error: str, started: float, attempts: int = 1, notes: list[str] | None = None) -> Completion:
        return Completion(
            error=error,
            finish_reason="error",
            latency_s=time.perf_counter() - started,
            attempts=attempts,
            notes=list(notes or []),
        )

    def _read(self, reply: Reply, started: float, think_end: str | None = None) -> Completion:
        if reply.events is None:
            return self._parse(reply.text, started)
        streamed = stream_completion(reply, started, think_end)
        if isinstance(streamed, StreamFailure):
            failed = self._failed(streamed.error, started)
            failed.generated_tokens = streamed.generated_tokens
            return failed
        return streamed

    def _parse(self, body: str, started: float) -> Completion:
        try:
            data = json.loads(body)
            choice = data["choices"][0]
            message = choice["message"] if "message" in choice else {"content": choice["text"]}
        except (json.JSONDecodeError, KeyError, IndexError, TypeError):
            return self._failed(f"the server's reply is not a chat completion: {body[:120]!r}", started)
        usage = data.get("usage") or {}
        details = usage.get("completion_tokens_details") or {}
        # vLLM's reasoning parsers return the thinking apart from the answer, under one of two names.
        reasoning = message.get("reasoning_content") or message.get("reasoning")
        return Completion(
            text=message.get("content") or "",
            reasoning_text=reasoning if isinstance(reasoning, str) else None,
            prompt_tokens=usage.get("prompt_tokens"),
            completion_tokens=usage.get("completion_tokens"),
            reasoning_tokens=details.get("reasoning_tokens"),
            finish_reason=finish_reason(choice.get("finish_reason")),
            latency_s=time.perf_counter() - started,
        )

    async def _all(self, requests: list[GenerationRequest]) -> list[Completion]:
        import httpx

        limit = asyncio.Semaphore(self.max_concurrent)
        if self._tls is None:
            make = getattr(httpx, "create_ssl_context", None)  # httpx >= 0.28; older ones build it per client
            self._tls = make() if make is not None else True
        async with httpx.AsyncClient(verify=self._tls) as client:
            return list(await asyncio.gather(*(self._one(client, limit, r) for r in requests)))

    def generate(self, requests: list[GenerationRequest]) -> list[Completion]:
        return asyncio.run(self._all(requests))

    def info(self) -> dict[str, Any]:
        return {
            "engine": "openai-compatible",
            "model_id": self.model,
            "base_url": self.base_url,
            "api_key_env": self.api_key_env,
            "max_concurrent": self.max_concurrent,
            "stream": self.stream,
            "devices": list(self.devices().labels),
        }

    def devices(self) -> Devices:
        """A server elsewhere: nothing measured here is its energy. On this machine: the GPUs it was named."""
        return server_devices(self.base_url, self.gpus)

    def close(self) -> None:
        pass
