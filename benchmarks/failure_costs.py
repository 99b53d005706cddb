"""What a failing server costs a run: time for one request to end against a server that accepts and never
sends a byte, one that streams slowly but steadily, a 429 with a huge Retry-After, a refused connection, and what
that means for a whole run.

Real servers on 127.0.0.1 (the tests' fakes), every case at the default settings. Run:
`python benchmarks/failure_costs.py` (about 80 s: the silent server is waited out at the defaults).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from fakes.servers import ScriptedServer, SilentServer, StreamingServer  # noqa: E402
from wattbench.backends.base import GenerationRequest  # noqa: E402
from wattbench.backends.registry import create_backend  # noqa: E402
from wattbench.config import ExperimentConfig  # noqa: E402


def _timed(backend, deadline_s: float | None = None, max_tokens: int = 8) -> tuple[float, str, int]:
    request = GenerationRequest(messages=[{"role": "user", "content": "hi"}], max_tokens=max_tokens)
    if deadline_s is not None:
        request.deadline = time.monotonic() + deadline_s
    started = time.monotonic()
    (completion,) = backend.generate([request])
    return time.monotonic() - started, completion.error or "ok", completion.attempts


def main() -> None:
    defaults = ExperimentConfig()
    gen, task = defaults.generation, defaults.task
    rows = []

    silent = SilentServer()
    try:
        took, error, attempts = _timed(create_backend("openai", model="m", base_url=silent.url))
        rows.append(("accepts, never sends a byte (defaults)", took, attempts, error))
        took, error, attempts = _timed(create_backend("openai", model="m", base_url=silent.url), deadline_s=12.0)
        rows.append(("the same, question budget 12 s", took, attempts, error))
    finally:
        silent.close()
    steady = StreamingServer(ttft_s=0.5, itl_s=1.0, tokens=20)
    try:
        took, error, attempts = _timed(create_backend("openai", model="m", base_url=steady.url), max_tokens=40)
        rows.append(("streams 1 token/s for 20 s (defaults)", took, attempts, error))
    finally:
        steady.close()

    throttled = ScriptedServer([(429, "slow down", {"Retry-After": "3600"}, 0)])
    try:
        backend = create_backend("openai", model="m", base_url=throttled.url, retry_after_cap_s=2.0)
        took, error, attempts = _timed(backend)
        rows.append(("429 Retry-After 3600, cap 2 s", took, attempts, error))
    finally:
        throttled.close()

    backend = create_backend("openai", model="m", base_url="http://127.0.0.1:9/v1")
    took, error, attempts = _timed(backend)
    rows.append(("connection refused, defaults", took, attempts, error[:60]))

    print("| case | time to end | attempts | outcome |")
    print("|---|---:|---:|---|")
    for case, seconds, attempts, outcome in rows:
        print(f"| {case} | {seconds:.2f} s | {attempts} | {outcome[:70]} |")
    # With the defaults, a silent server: attempts of first_byte_timeout_s with backoff 1 s, 2 s between them, cut
    # at the question's budget; the run stops after max_consecutive_failures such questions, after the preflight.
    per_question = min(task.question_timeout_s, gen.max_attempts * gen.first_byte_timeout_s + 1 + 2)
    run = gen.first_byte_timeout_s + per_question * task.max_consecutive_failures
    print(
        f"\nDefaults (first byte {gen.first_byte_timeout_s:g} s, {gen.max_attempts} attempts, question budget "
        f"{task.question_timeout_s:g} s, stop after {task.max_consecutive_failures}): a silent server costs at most "
        f"{per_question:.0f} s per question and {run:.0f} s before the run stops (the preflight included)."
    )


if __name__ == "__main__":
    main()
