"""Further measured passes of a WattBot run (task.repeats, task.repeat_until), and their spread.

The run's first pass is the run: its records build the submission, the scores and every figure as before. Each
further pass answers every question again under the same engine, warm and after the idle baseline, and is kept
in results.jsonl with its pass number, so a resumed run keeps the passes it finished and goes on with the next.
The summary's `repeats` has each pass's figures (energy per question on the headline scope, J per output token,
output tokens/s, latency and TTFT p50, and the kaggle score, which varies only when the model samples) and each
figure's mean, standard deviation, coefficient of variation and 95% t interval (stats/repeats.py).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

from wattbench.config import ExperimentConfig
from wattbench.energy.base import Measurement
from wattbench.energy.carbon import J_PER_WH
from wattbench.stats.repeats import ONE_PASS, converged, spread

FIGURES = ("energy_per_question_wh", "j_per_output_token", "output_tokens_per_s", "latency_p50_s", "ttft_p50_s",
           "score")  # fmt: skip

Records = dict[str, dict[str, Any]]


def pass_figures(number: int, records: Records, kind: str | None) -> dict[str, Any]:
    """One pass's figures over its answered questions."""
    ok = [r for r in records.values() if not r.get("error")]
    energy = [Measurement.from_dict(r["energy"]).total_j(kind) if r.get("energy") and kind else None for r in ok]
    energy_j = sum(e for e in energy if e is not None) if ok and None not in energy else None
    tokens = [r.get("completion_tokens") for r in ok]
    output = sum(t for t in tokens if t is not None) if ok and None not in tokens else None
    seconds = sum(float(r.get("generation_s") or r.get("latency_s") or 0.0) for r in ok)
    latencies = [float(r["latency_s"]) for r in ok if r.get("latency_s") is not None]
    ttfts = [float(r["ttft_s"]) for r in ok if r.get("ttft_s") is not None]
    scores = [r.get("weighted_score") for r in records.values()]
    return {
        "repeat": number, "answered": len(ok), "scope": kind,
        "energy_per_question_wh": None if energy_j is None else energy_j / len(ok) / J_PER_WH,
        "j_per_output_token": None if energy_j is None or not output else energy_j / output,
        "output_tokens_per_s": None if output is None or seconds <= 0 else output / seconds,
        "latency_p50_s": statistics.median(latencies) if latencies else None,
        "ttft_p50_s": statistics.median(ttfts) if ttfts else None,
        "score": statistics.fmean(s for s in scores if s is not None) if scores and None not in scores else None,
    }  # fmt: skip


def section(first: Records, further: dict[int, Records], kind: str | None, stop: str | None) -> dict[str, Any]:
    passes = [pass_figures(0, first, kind)] + [pass_figures(n, further[n], kind) for n in sorted(further)]
    return {
        "passes": len(passes),
        "stop": stop,
        "note": ONE_PASS if len(passes) == 1 else "",
        "per_repeat": passes,
        "spread": {f: spread([p[f] for p in passes]).to_dict() for f in FIGURES},
    }


def stop_reason(config: ExperimentConfig, passes: list[dict[str, Any]]) -> str | None:
    """Why no further pass is needed after these complete passes, or None to go on."""
    task = config.task
    if len(passes) < task.repeats:
        return None
    if task.repeat_until is None:
        return "repeats"
    energy = [p["energy_per_question_wh"] for p in passes]
    if all(e is None for e in energy):
        return "no energy measured"
    if converged(energy, task.repeat_until):
        return "reached"
    most = max(task.repeats, task.max_repeats)
    return f"gave up at {most}" if len(passes) >= most else None


def further_passes(
    config: ExperimentConfig, first: Records, further: dict[int, Records], kind: str | None,
    answer: Callable[[int, list[str]], str | None],
) -> str:  # fmt: skip
    """Answer pass after pass (`answer(pass number, question ids still to answer)` stores each record into
    `further` and says why it stopped, if it did) until `stop_reason` says enough; the final reason. Passes run
    in order, so only the last one can be unfinished (a resumed run finishes it first)."""
    ids = list(first)
    while True:
        number = 1
        while number in further and set(ids) <= set(further[number]):
            number += 1
        passes = [pass_figures(0, first, kind)] + [pass_figures(n, further[n], kind) for n in range(1, number)]
        reason = stop_reason(config, passes)
        if reason:
            return reason
        stopped = answer(number, [q for q in ids if q not in further.get(number, {})])
        if stopped:
            return stopped
