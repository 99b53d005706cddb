"""OpenAI-compatible chat completions over HTTP: vLLM, llama.cpp server, OpenRouter, OpenAI.

Requests run concurrently (at most `max_concurrent` in flight). 429, 5xx and timeouts are retried with
exponential backoff, honouring Retry-After. Token counts come from the response's `usage`. A request with a JSON
schema asks for a constrained reply in the form the server knows: `json_schema` (OpenAI, vLLM) or `json_object` with a
schema (llama.cpp server); `json_mode = "none"` sends no schema. The API key is
read from the environment variable named by `api_key_env` and is never logged, stored or returned by `info()`.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from typing import Any

from wattbench.backends.base import Completion, GenerationRequest
from wattbench.errors import WattbenchError

RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})
DEFAULT_BASE_URL = "https://api.openai.com/v1"
JSON_MODES = ("json_schema", "json_object", "none")


class OpenAICompatBackend:
    name = "openai"

    def __init__(
        self,
        model: str | None = None,
        base_url: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        max_concurrent: int = 4,
        timeout_s: float = 120.0,
        max_retries: int = 4,
        backoff_s: float = 1.0,
        json_mode: str = "json_schema",
        **_: Any,
    ) -> None:
        try:
            import httpx  # noqa: F401
        except ImportError:
            raise WattbenchError("the openai backend needs httpx: pip install 'wattbench[openai]'") from None
        if not model:
            raise WattbenchError("the openai backend needs a model: --model <served model id>")
        if json_mode not in JSON_MODES:
            raise WattbenchError(f"generation.json_mode: unknown '{json_mode}'; use one of: {', '.join(JSON_MODES)}")
        self.model = model
        self.base_url = (base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
        self.api_key_env = api_key_env
        self._api_key = os.environ.get(api_key_env)
        if self._api_key is None and self.base_url == DEFAULT_BASE_URL:
            raise WattbenchError(f"the OpenAI API needs a key: set ${api_key_env} (it is never written anywhere)")
        self.max_concurrent, self.timeout_s = max_concurrent, timeout_s
        self.max_retries, self.backoff_s, self.json_mode = max_retries, backoff_s, json_mode

    @staticmethod
    def _endpoint(request: GenerationRequest) -> str:
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

    async def _one(self, client: Any, limit: asyncio.Semaphore, request: GenerationRequest) -> Completion:
        import httpx

        headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
        started = time.perf_counter()
        error = "no attempt made"
        delay = self.backoff_s
        async with limit:
            for attempt in range(self.max_retries + 1):
                if attempt:
                    await asyncio.sleep(delay)
                delay = self.backoff_s * 2**attempt
                try:
                    response = await client.post(
                        f"{self.base_url}/{self._endpoint(request)}",
                        json=self._payload(request),
                        headers=headers,
                        timeout=self.timeout_s,
                    )
                except (httpx.TimeoutException, httpx.TransportError) as exc:
                    error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                    continue
                if response.status_code in RETRY_STATUS:
                    error = f"HTTP {response.status_code}: {response.text[:200]}"
                    retry_after = response.headers.get("retry-after", "")
                    delay = float(retry_after) if retry_after.replace(".", "", 1).isdigit() else delay
                    continue
                if response.status_code >= 400:
                    return self._failed(f"HTTP {response.status_code}: {response.text[:200]}", started)
                return self._parse(response.text, started)
        return self._failed(f"gave up after {self.max_retries + 1} attempts; last: {error}", started)

    @staticmethod
    def _failed(error: str, started: float) -> Completion:
        return Completion(error=error, finish_reason="error", latency_s=time.perf_counter() - started)

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
            finish_reason=choice.get("finish_reason"),
            latency_s=time.perf_counter() - started,
        )

    async def _all(self, requests: list[GenerationRequest]) -> list[Completion]:
        import httpx

        limit = asyncio.Semaphore(self.max_concurrent)
        async with httpx.AsyncClient() as client:
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
            "devices": ["remote"],
        }

    def close(self) -> None:
        pass
