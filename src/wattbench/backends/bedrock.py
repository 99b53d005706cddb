"""Amazon Bedrock through the bedrock-runtime Converse API (`pip install 'wattbench[bedrock]'`; boto3 is imported
only when the engine is created).

The seed's keys work as written: `bedrock_model` (a model id or a cross-region inference profile such as
`us.meta.llama4-scout-17b-instruct-v1:0`), `bedrock_region`, `bedrock_profile` (wattbench: `model`,
`bedrock.region`, `bedrock.profile`). Credentials come only from the AWS chain (aws.py). Requests run on at most
`max_concurrent` threads; throttling, 5xx and timeouts are retried with backoff, a validation error is the
request's failure with its message. Token counts come from the response's `usage`; cost from the price table;
energy is unavailable ("remote API": the model runs on AWS's machines). Converse replies are not streamed, so
TTFT and token gaps are not timed; the latency is the whole call.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, ClassVar

from wattbench.aws import AwsAuthError, AwsRequestError, Connection, call, region_of, runtime_client
from wattbench.backends.base import AuthError, BackendBase, Completion, EngineOptions, GenerationRequest, options_of
from wattbench.energy.devices import REMOTE_API, Devices, remote

if TYPE_CHECKING:
    from wattbench.config import BatchConfig, ExperimentConfig

STOP_REASONS = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length",
                "model_context_window_exceeded": "context_overflow"}  # fmt: skip
"""Converse's stopReason → ours; any other (content_filtered, guardrail_intervened) is a stop, noted."""


class BedrockOptions(EngineOptions):
    model: str | None = None
    """Bedrock model id or inference profile id."""
    region: str | None = None
    """AWS region (None: AWS_REGION or the profile's)."""
    profile: str | None = None
    """A named AWS profile (SSO included); None: the default chain."""
    endpoint_url: str | None = None
    """A bedrock-runtime endpoint other than the region's (a VPC endpoint, a local stub)."""
    max_concurrent: int = 4
    """Requests in flight at once."""
    connect_timeout_s: float = 10.0
    request_timeout_s: float = 60.0
    """Seconds one attempt may wait for its reply (a hanging endpoint ends here)."""
    max_attempts: int = 3
    """Attempts per request (throttling, 5xx and timeouts are retried)."""
    backoff_s: float = 1.0
    """First wait between attempts; it doubles at each retry."""


def converse_args(request: GenerationRequest) -> dict[str, Any]:
    """The Converse request of a chat request: system messages apart, text content blocks, the token cap."""
    system = [{"text": m["content"]} for m in request.messages if m["role"] == "system"]
    messages = [
        {"role": m["role"], "content": [{"text": m["content"]}]} for m in request.messages if m["role"] != "system"
    ]
    args: dict[str, Any] = {
        "messages": messages,
        "inferenceConfig": {"maxTokens": request.max_tokens, "temperature": request.temperature},
    }
    if system:
        args["system"] = system
    return args


def read_reply(reply: dict[str, Any], latency_s: float) -> Completion:
    """A Converse response as a Completion: the text blocks, any reasoning blocks apart, usage, stop reason."""
    blocks = ((reply.get("output") or {}).get("message") or {}).get("content") or []
    text = "".join(b["text"] for b in blocks if isinstance(b.get("text"), str))
    thinking = "".join(((b.get("reasoningContent") or {}).get("reasoningText") or {}).get("text", "") for b in blocks)
    usage = reply.get("usage") or {}
    stop = str(reply.get("stopReason") or "")
    notes = [] if stop in STOP_REASONS else [f"Bedrock stopped the reply: {stop}"]
    return Completion(
        text=text,
        reasoning_text=thinking or None,
        prompt_tokens=usage.get("inputTokens"),
        completion_tokens=usage.get("outputTokens"),
        finish_reason=STOP_REASONS.get(stop, "stop"),  # type: ignore[arg-type]
        latency_s=latency_s,
        notes=notes,
    )


class BedrockBackend(BackendBase):
    name = "bedrock"
    Options = BedrockOptions
    priced: ClassVar[bool] = True
    needs_model: ClassVar[bool] = True
    takes_slot: ClassVar[bool] = False

    @classmethod
    def run_options(cls, config: ExperimentConfig) -> dict[str, Any]:
        gen, aws = config.generation, config.bedrock
        return {"model": config.model, "region": aws.region, "profile": aws.profile, "endpoint_url": aws.endpoint_url,
                "max_concurrent": gen.max_concurrent, "connect_timeout_s": gen.connect_timeout_s,
                "request_timeout_s": gen.request_timeout_s, "max_attempts": gen.max_attempts}  # fmt: skip

    @classmethod
    def batch_options(cls, model: str, config: BatchConfig) -> dict[str, Any]:
        gen = config.generation
        return {"model": model, "max_concurrent": config.batch_size, "connect_timeout_s": gen.connect_timeout_s,
                "request_timeout_s": gen.request_timeout_s, "max_attempts": gen.max_attempts}  # fmt: skip

    def __init__(self, options: BedrockOptions | None = None, **kwargs: Any) -> None:
        opts = options_of(self.name, BedrockOptions, options, kwargs)
        if not opts.model:
            raise AwsRequestError("the bedrock backend needs a model: bedrock_model / --model <Bedrock model id>")
        self.options = opts
        self.model = opts.model
        connection = Connection(opts.region, opts.profile, opts.endpoint_url)
        try:
            self._client = runtime_client(connection, connect_timeout_s=opts.connect_timeout_s,
                                          read_timeout_s=opts.request_timeout_s, pool=opts.max_concurrent)  # fmt: skip
        except AwsAuthError as exc:
            raise AuthError(str(exc)) from None

    def _one(self, request: GenerationRequest) -> Completion:
        started = time.perf_counter()
        opts = self.options
        try:
            called = call(lambda: self._client.converse(modelId=self.model, **converse_args(request)),
                          max_attempts=opts.max_attempts, backoff_s=opts.backoff_s,
                          read_timeout_s=opts.request_timeout_s, deadline=request.deadline)  # fmt: skip
        except AwsAuthError as exc:
            failed = Completion(error=str(exc), finish_reason="error", latency_s=time.perf_counter() - started)
            failed.error_kind = "auth"
            return failed
        except AwsRequestError as exc:
            return Completion(error=str(exc), finish_reason="error", latency_s=time.perf_counter() - started,
                              attempts=exc.attempts)  # fmt: skip
        completion = read_reply(called.value, time.perf_counter() - started)
        completion.attempts, completion.notes = called.attempts, called.notes + completion.notes
        return completion

    def generate(self, requests: list[GenerationRequest]) -> list[Completion]:
        if len(requests) == 1:
            return [self._one(requests[0])]
        with ThreadPoolExecutor(max_workers=min(self.options.max_concurrent, len(requests))) as pool:
            return list(pool.map(self._one, requests))

    def info(self) -> dict[str, Any]:
        """What was called and where; never the credentials (the profile's name is not one)."""
        return {
            "engine": "bedrock",
            "model_id": self.model,
            "region": region_of(self._client),
            "profile": self.options.profile,
            "endpoint_url": self.options.endpoint_url,
            "max_concurrent": self.options.max_concurrent,
            "devices": list(self.devices().labels),
        }

    def devices(self) -> Devices:
        return remote(REMOTE_API)

    def close(self) -> None:
        close = getattr(self._client, "close", None)
        if callable(close):
            close()
