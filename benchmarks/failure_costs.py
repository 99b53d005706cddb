"""What a failing server costs a run: time for one request to end against a server that accepts and never
answers, a 429 with a huge Retry-After, a refused connection, and what that means for a whole run.

Real HTTP servers on 127.0.0.1 (the tests' scripted server). The hung-server figure is measured with a short
reply timeout and scaled to the defaults (the wait is the timeout itself, so it scales exactly); the rest run at
the defaults. Run: `python benchmarks/failure_costs.py` (about 15 s).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from fakes.servers import ScriptedServer  # noqa: E402
from wattbench.backends.base import GenerationRequest  # noqa: E402
from wattbench.backends.registry import create_backend  # noqa: E402
from wattbench.config import ExperimentConfig  # noqa: E402


def _timed(backend, deadline_s: float | None = None) -> tuple[float, str, int]:
    request = GenerationRequest(messages=[{"role": "user", "content": "hi"}], max_tokens=8)
    if deadline_s is not None:
        request.deadline = time.monotonic() + deadline_s
    started = time.monotonic()
    (completion,) = backend.generate([request])
    return time.monotonic() - started, completion.error or "ok", completion.attempts


def main() -> None:
    defaults = ExperimentConfig()
    gen, task = defaults.generation, defaults.task
    rows = []

    hung = ScriptedServer([], default=(200, "{}", {}, 120.0))
    try:
        backend = create_backend("openai", model="m", base_url=hung.url, request_timeout_s=1.0, backoff_s=0.1)
        took, error, attempts = _timed(backend)
        rows.append(("hung server, request_timeout_s=1, 3 attempts", took, attempts, error))
        took, error, attempts = _timed(backend, deadline_s=1.5)
        rows.append(("hung server, question budget 1.5 s", took, attempts, error))
    finally:
        hung.close()

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
    # With the defaults, a hung server: attempts of request_timeout_s with backoff 1 s, 2 s between them, cut at
    # the question's budget; the run stops after max_consecutive_failures such questions.
    per_question = min(task.question_timeout_s, gen.max_attempts * gen.request_timeout_s + 1 + 2)
    run = per_question * task.max_consecutive_failures
    print(
        f"\nDefaults (request {gen.request_timeout_s:g} s, {gen.max_attempts} attempts, question budget "
        f"{task.question_timeout_s:g} s, stop after {task.max_consecutive_failures}): a hung server costs at most "
        f"{per_question:.0f} s per question and {run / 60:.1f} min before the run stops "
        f"(was 626 s per question and about 7 h for 41 questions)."
    )


if __name__ == "__main__":
    main()
