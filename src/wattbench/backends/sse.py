"""One OpenAI-compatible request, streamed (server-sent events) or not, and its reply read into a Completion.

Streaming asks for the usage in the final chunk (`stream_options.include_usage`, honoured by vLLM, llama.cpp
server and OpenAI), so token counts still come from the server. A server that ignores `stream` and answers with
one JSON body is read as a plain reply; one that streams without usage has its output counted as the chunks that
carried text, and the completion says so in its notes.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from wattbench.backends.base import Completion, finish_reason
from wattbench.backends.timing import TokenTimes


@dataclass
class Reply:
    """What came back for one attempt: the status and headers, and either a body or the stream's events."""

    status_code: int
    headers: dict[str, str]
    text: str = ""
    events: list[dict[str, Any]] | None = None  # parsed `data:` payloads of a stream, in order
    times: TokenTimes = field(default_factory=TokenTimes)  # when each chunk carrying output arrived
    started: float = 0.0


def _delta_text(event: dict[str, Any]) -> tuple[str, str]:
    """(answer text, reasoning text) a stream chunk carries: chat deltas or text-completion `text`."""
    choices = event.get("choices") or []
    if not choices:
        return "", ""
    choice = choices[0]
    delta = choice.get("delta") or {}
    answer = delta.get("content") or choice.get("text") or ""
    reasoning = delta.get("reasoning_content") or delta.get("reasoning") or ""
    return (answer if isinstance(answer, str) else ""), (reasoning if isinstance(reasoning, str) else "")


@dataclass(frozen=True)
class Limits:
    """How long one attempt may wait, and for what (docs/guides/running.md says which does which)."""

    connect_s: float
    """The TCP (and TLS) connection."""
    first_byte_s: float
    """From the request's last byte sent to the reply's first byte (its status line)."""
    stall_s: float
    """The longest silence between two bytes of the reply."""
    whole_s: float | None
    """The whole attempt, sending to the reply's last byte; None: unbounded while bytes keep coming."""
    whole_name: str = "generation.request_timeout_s"
    """What sets `whole_s` (the request timeout, or what is left of the question's time budget)."""


class ReplyTimeout(Exception):
    """The attempt ran past one of its Limits; the message names the setting."""


async def _headers(client: Any, url: str, payload: dict[str, Any], headers: dict[str, str], limits: Limits,
                   deadline: float | None) -> Any:  # fmt: skip
    """The response with its status line and headers read (the body not yet), or ReplyTimeout. The first-byte
    clock starts when the request has left (httpx's trace event), so a slow connection is the connect timeout's."""
    import httpx

    sent: list[float] = []

    async def trace(event: str, info: dict[str, Any]) -> None:
        if event.endswith("send_request_body.complete"):
            sent.append(time.perf_counter())

    timeout = httpx.Timeout(connect=limits.connect_s, read=max(limits.first_byte_s, limits.stall_s),
                            write=limits.stall_s, pool=None)  # fmt: skip
    request = client.build_request("POST", url, json=payload, headers=headers, timeout=timeout,
                                   extensions={"trace": trace})  # fmt: skip
    task = asyncio.ensure_future(client.send(request, stream=True))
    try:
        while True:
            now = time.perf_counter()
            wait = 0.25 if not sent else sent[0] + limits.first_byte_s - now
            if deadline is not None:
                wait = min(wait, deadline - now)
            done, _ = await asyncio.wait({task}, timeout=max(wait, 0.0))
            if done:
                return task.result()
            now = time.perf_counter()
            if sent and now - sent[0] >= limits.first_byte_s:
                raise ReplyTimeout(f"no reply within {limits.first_byte_s:.3g} s of sending "
                                   "(generation.first_byte_timeout_s)")  # fmt: skip
            if deadline is not None and now >= deadline:
                raise ReplyTimeout(f"no whole reply within {limits.whole_s:.3g} s ({limits.whole_name})")
    finally:
        if not task.done():
            task.cancel()
            try:
                await task
            except BaseException:  # noqa: S110 - the cancelled send; its error is the timeout's
                pass


async def post(
    client: Any, url: str, payload: dict[str, Any], headers: dict[str, str], limits: Limits,
    on_output: Callable[[str], None] | None = None,
) -> Reply:  # fmt: skip
    """Send one request; read a stream event by event, stamping each chunk that carries output (and telling
    `on_output` "token" as it arrives). Within `limits`: a live stream is never cut by the clock, only by a
    stall (no byte for `stall_s`, httpx's read timeout) or the whole-reply bound when there is one."""
    import httpx

    started = time.perf_counter()
    deadline = None if limits.whole_s is None else started + limits.whole_s
    response = await _headers(client, url, payload, headers, limits, deadline)
    try:
        body = _body(response, started, on_output, limits.stall_s)
        if deadline is None:
            return await body
        try:
            return await asyncio.wait_for(body, timeout=max(deadline - time.perf_counter(), 0.0))
        except TimeoutError:
            raise ReplyTimeout(f"no whole reply within {limits.whole_s:.3g} s ({limits.whole_name})") from None
    except (httpx.ReadTimeout, Stalled):
        raise ReplyTimeout(
            f"the reply stalled: no byte for {limits.stall_s:.3g} s (generation.stall_timeout_s)"
        ) from None
    finally:
        await response.aclose()


class Stalled(Exception):
    """No byte came for the stall timeout (raised by `_guarded`, reported as a ReplyTimeout)."""


async def _guarded(chunks: AsyncIterator[Any], stall_s: float) -> AsyncIterator[Any]:
    """`chunks` with at most `stall_s` of silence before each (httpx's read timeout is still the first byte's
    here: one client-wide timeout cannot be both)."""
    iterator = chunks.__aiter__()
    while True:
        try:
            item = await asyncio.wait_for(iterator.__anext__(), timeout=stall_s)
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise Stalled from None
        yield item


async def _body(response: Any, started: float, on_output: Callable[[str], None] | None, stall_s: float) -> Reply:
    kind = response.headers.get("content-type", "")
    reply = Reply(response.status_code, dict(response.headers), started=started)
    if response.status_code >= 400 or "text/event-stream" not in kind:
        reply.text = b"".join([c async for c in _guarded(response.aiter_bytes(), stall_s)]).decode("utf-8", "replace")
        return reply
    reply.events = []
    async for line in _guarded(response.aiter_lines(), stall_s):
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            break
        try:
            event = json.loads(data)
        except json.JSONDecodeError:
            reply.text = data
            reply.events = None  # not a stream we can read: reported as a bad reply
            return reply
        answer, reasoning = _delta_text(event)
        if answer or reasoning:
            reply.times.mark(time.perf_counter() - started)
            if on_output is not None:
                on_output("token")
        reply.events.append(event)
    return reply


@dataclass(frozen=True)
class StreamFailure:
    """A stream that failed, and the output tokens it had delivered first: the engine generated them, so their
    energy is the failed request's (energy/shares.py), not the answered requests'."""

    error: str
    generated_tokens: int


def stream_completion(reply: Reply, started: float, think_end: str | None = None) -> Completion | StreamFailure:
    """The Completion a stream adds up to, or how it failed. Where the usage has no reasoning count, the tokens
    spent thinking are the stream's chunks that carried reasoning (a server with a reasoning parser), else those
    that came before `think_end` appeared in the text (one token a chunk, as servers stream them)."""
    assert reply.events is not None
    answer: list[str] = []
    reasoning: list[str] = []
    reason: str | None = None
    usage: dict[str, Any] = {}
    thought_chunks = chunks_before_marker = 0
    marker_seen = False
    for event in reply.events:
        if "error" in event:
            error = f"the server's stream reported an error: {str(event['error'])[:200]}"
            return StreamFailure(error, _delivered(usage, reply))
        piece, thought = _delta_text(event)
        answer.append(piece)
        reasoning.append(thought)
        thought_chunks += bool(thought)
        if think_end and piece and not marker_seen:
            marker_seen = think_end in "".join(answer[-8:])  # the marker may straddle a few chunks
            chunks_before_marker += 1
        for choice in event.get("choices") or []:
            reason = choice.get("finish_reason") or reason
        usage = event.get("usage") or usage
    if reason is None:
        # A stream cut off by the server: llama_cpp.server ends a stream this way when another request arrives
        # (unless started with --interrupt_requests False). Its partial text is not an answer.
        return StreamFailure("the stream ended without a finish reason: the server cut the reply off (llama_cpp."
                             "server does so when another request arrives; start it with --interrupt_requests False)",
                             _delivered(usage, reply))  # fmt: skip
    notes = []
    completion_tokens = usage.get("completion_tokens")
    if completion_tokens is None:
        completion_tokens = len(reply.times.offsets_s)
        notes.append("the stream carried no usage: output tokens counted as the chunks that held text")
    details = usage.get("completion_tokens_details") or {}
    thinking = "".join(reasoning)
    reasoning_tokens, method = details.get("reasoning_tokens"), "engine"
    if reasoning_tokens is None and thought_chunks:
        reasoning_tokens, method = thought_chunks, "stream_chunks"
    elif reasoning_tokens is None and marker_seen:
        reasoning_tokens, method = chunks_before_marker, "stream_chunks"
    # The request's latency runs from its first attempt; TTFT and TPOT from the send of the attempt that answered.
    return Completion(
        text="".join(answer),
        reasoning_text=thinking or None,
        prompt_tokens=usage.get("prompt_tokens"),
        completion_tokens=completion_tokens,
        reasoning_tokens=reasoning_tokens,
        reasoning_tokens_method=method if reasoning_tokens is not None else None,
        finish_reason=finish_reason(reason),
        latency_s=time.perf_counter() - started,
        ttft_s=reply.times.ttft_s,
        tpot_s=reply.times.tpot_s(completion_tokens),
        itl_s=reply.times.itl_s,
        notes=notes,
    )


def _delivered(usage: dict[str, Any], reply: Reply) -> int:
    """Output tokens a failed stream delivered: the usage it sent, else its chunks that held text."""
    counted = usage.get("completion_tokens")
    return int(counted) if isinstance(counted, int) and counted >= 0 else len(reply.times.offsets_s)
