"""`wattbench load`: one engine at fixed loads (batch sizes), each measured in its steady state (runs/steady.py).

For each batch size B: N requests of fixed length (min = max new tokens), at most B in flight: a concurrency
limit for an OpenAI-compatible endpoint, `--max-num-seqs B` and B in flight for a managed vLLM server, B
sequences per batched generate for hf. Engines say how (`at_load`); one without it cannot be loaded (llama.cpp
in process serves one sequence at a time: serve it with llama_cpp.server and load that). Reported per B: J per
output token (GPU scope), output tokens/s and average GPU power, all inside the steady window; TTFT and TPOT
percentiles over every completed request. With `--repeats R`, each batch size is measured R times, each pass on
a fresh engine; the point gives the mean over passes with the spread of J per token and tokens/s, and keeps
every pass in load.json.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from wattbench.backends.base import GenerationRequest
from wattbench.backends.registry import backend_class, create_backend
from wattbench.backends.timing import spread
from wattbench.energy.base import Meter
from wattbench.energy.devices import as_devices, scope_rule
from wattbench.energy.inflight import InFlight
from wattbench.energy.phases import methods_text
from wattbench.runs.steady import SteadyWindow
from wattbench.stats.repeats import spread as repeat_spread
from wattbench.store.rundir import write_json
from wattbench.store.schema import LoadResults

ANCHOR = ("ML.ENERGY v3: Llama-3.1-8B on one H100 with vLLM, 0.12 J per output token at batch 64 "
          "(a reference beside GPU results; not measured here)")  # fmt: skip


@dataclass
class LoadPoint:
    batch_size: int
    requests: int
    completed: int
    failed: int
    window_s: float | None
    window_output_tokens: float
    gpu_energy_j: float | None
    j_per_output_token: float | None
    output_tokens_per_s: float | None
    avg_gpu_power_w: float | None
    ttft_p50_s: float | None
    ttft_p90_s: float | None
    ttft_p99_s: float | None
    tpot_p50_s: float | None
    tpot_p90_s: float | None
    tpot_p99_s: float | None
    energy_unavailable: str | None
    problem: str | None
    first_error: str | None
    repeats: int = 1
    """Measured passes at this batch size (each on a fresh engine); the figures above are then their means."""
    j_per_output_token_sd: float | None = None
    j_per_output_token_ci95_low: float | None = None
    j_per_output_token_ci95_high: float | None = None
    """Across passes: standard deviation and 95% Student t interval of the mean (none with 1 pass)."""
    output_tokens_per_s_sd: float | None = None
    output_tokens_per_s_ci95_low: float | None = None
    output_tokens_per_s_ci95_high: float | None = None
    passes: list[dict[str, Any]] = field(default_factory=list)
    """Each pass's own figures (with 2 or more passes)."""
    warnings: list[str] = field(default_factory=list)
    """What the steady window's meter warned of (power integrated from too few readings, a counter reset)."""
    energy_method: str | None = None
    """How the steady window was measured (nvml_counter, nvml_power_sampling, ...)."""
    request_energy_p50_j: float | None = None
    """Per completed request, its GPU energy over the whole call (ramp-up and drain included) by the in-flight
    rule (energy/inflight.py): the median and 90th percentile, and the medians of its prefill and decode parts."""
    request_energy_p90_j: float | None = None
    request_prefill_p50_j: float | None = None
    request_decode_p50_j: float | None = None


REPEATED = (
    "j_per_output_token",
    "output_tokens_per_s",
    "avg_gpu_power_w",
    "ttft_p50_s",
    "tpot_p50_s",
    "request_energy_p50_j",
    "request_energy_p90_j",
    "request_prefill_p50_j",
    "request_decode_p50_j",
)
"""The figures a point with several passes gives as the mean over them."""


def combine(points: list[LoadPoint]) -> LoadPoint:
    """Several passes at one batch size as one point: the mean of each repeated figure, the spread of the two
    headline ones, and every pass kept. One pass is returned as it is."""
    if len(points) == 1:
        return points[0]
    passes = [{"pass": i, **{k: v for k, v in asdict(p).items() if k != "passes"}} for i, p in enumerate(points)]
    means: dict[str, Any] = {}
    for name in REPEATED:
        found = repeat_spread([getattr(p, name) for p in points])
        means[name] = found.mean
        if name in ("j_per_output_token", "output_tokens_per_s"):
            low, high = found.ci95 if found.ci95 is not None else (None, None)
            means |= {f"{name}_sd": found.sd, f"{name}_ci95_low": low, f"{name}_ci95_high": high}
    first = points[0]
    return replace(first, **means, repeats=len(points), passes=passes,
                   completed=sum(p.completed for p in points), failed=sum(p.failed for p in points),
                   requests=sum(p.requests for p in points),
                   problem="; ".join(sorted({p.problem for p in points if p.problem})) or None,
                   warnings=list(dict.fromkeys(w for p in points for w in p.warnings)),
                   energy_method=",".join(sorted({p.energy_method or "" for p in points} - {""})) or None)  # fmt: skip


def load_options(engine: str, options: dict[str, Any], in_flight: int) -> dict[str, Any]:
    return dict(backend_class(engine).at_load(options, in_flight))


def measure_point(
    engine: str, options: dict[str, Any], prompts: list[str], in_flight: int, total: int, max_tokens: int,
    meter: Meter,
) -> LoadPoint:  # fmt: skip
    """One batch size: warm the engine up, then N requests with the steady window around the full batch; the
    whole call in a window of its own, which the in-flight rule shares out per request."""
    steady = SteadyWindow(meter, in_flight, total)
    backend = create_backend(engine, **load_options(engine, options, in_flight))
    tracker = InFlight(meter, total)
    shares: list[dict[str, Any]] | None = None
    try:
        meter.focus(*scope_rule(as_devices(backend.devices())))
        warm = [GenerationRequest(messages=[{"role": "user", "content": prompts[0]}], max_tokens=4)] * in_flight
        backend.generate(warm)  # kernels, caches and connections, outside the window
        requests = [
            GenerationRequest(messages=[{"role": "user", "content": prompts[i % len(prompts)]}], max_tokens=max_tokens,
                              min_tokens=max_tokens, request_id=f"load-{in_flight}-{i}",
                              on_output=tracker.hook(i, steady.hook(i)))
            for i in range(total)
        ]  # fmt: skip
        with meter.window(f"load call, batch {in_flight}") as whole:
            tracker.begin()
            try:
                completions = backend.generate(requests)
            finally:
                tracker.end()
        shares = tracker.shares(whole.result)
    finally:
        steady.finish()
        backend.close()
        meter.focus(None)
    point = _point(steady, completions, in_flight, total)
    _add_request_figures(point, shares, completions)
    return point


def _add_request_figures(point: LoadPoint, shares: list[dict[str, Any]] | None, completions: list[Any]) -> None:
    """p50/p90 of the completed requests' GPU energy, and the medians of their prefill and decode parts."""
    gpu: list[dict[str, Any]] = [s["gpu"] for s, c in zip(shares or [], completions) if c.ok and s.get("gpu")]
    if not gpu:
        return
    energy = [float(g["energy_j"]) for g in gpu]
    point.request_energy_p50_j = float(np.percentile(energy, 50))
    point.request_energy_p90_j = float(np.percentile(energy, 90))
    point.request_prefill_p50_j = float(np.median([g["prefill_energy_j"] for g in gpu]))
    point.request_decode_p50_j = float(np.median([g["decode_energy_j"] for g in gpu]))


def _point(steady: SteadyWindow, completions: list[Any], in_flight: int, total: int) -> LoadPoint:
    ok = [c for c in completions if c.ok]
    tokens = steady.tokens_in_window([c.completion_tokens for c in completions])
    measured = steady.measurement
    window_s = measured.duration_s if measured is not None else None
    gpu_j = measured.total_j("gpu") if measured is not None else None
    unavailable = None
    if gpu_j is None:
        reasons = sorted(set(measured.unavailable.values())) if measured is not None else []
        unavailable = "; ".join(reasons) or ("no steady window" if measured is None else "GPU energy not measured")
    timing = {**spread([c.ttft_s for c in ok if c.ttft_s is not None], "ttft"),
              **spread([c.tpot_s for c in ok if c.tpot_s is not None], "tpot")}  # fmt: skip
    return LoadPoint(
        batch_size=in_flight, requests=total, completed=len(ok), failed=total - len(ok), window_s=window_s,
        window_output_tokens=tokens,
        gpu_energy_j=gpu_j,
        j_per_output_token=gpu_j / tokens if gpu_j is not None and tokens else None,
        output_tokens_per_s=tokens / window_s if window_s else None,
        avg_gpu_power_w=gpu_j / window_s if gpu_j is not None and window_s else None,
        ttft_p50_s=timing["ttft_p50_s"], ttft_p90_s=timing["ttft_p90_s"], ttft_p99_s=timing["ttft_p99_s"],
        tpot_p50_s=timing["tpot_p50_s"], tpot_p90_s=timing["tpot_p90_s"], tpot_p99_s=timing["tpot_p99_s"],
        energy_unavailable=unavailable, problem=steady.problem,
        first_error=next((c.error for c in completions if not c.ok), None),
        warnings=list(measured.warnings) if measured is not None else [],
        energy_method=methods_text(measured),
    )  # fmt: skip


def write_results(out_dir: Path, points: list[LoadPoint], facts: dict[str, Any]) -> Path:
    """load.json (points, machine, settings) and load.csv, beside each other in `out_dir`."""
    import csv

    out_dir.mkdir(parents=True, exist_ok=True)
    rows = [asdict(p) for p in points]
    record = LoadResults.model_validate({**facts, "schema_version": LoadResults.VERSION, "anchor": ANCHOR,
                                         "points": rows})  # fmt: skip
    write_json(out_dir / "load.json", record.dump())
    # The passes are in load.json; the warnings go into one cell.
    flat = [
        {k: ("; ".join(v or []) if k == "warnings" else v) for k, v in row.items() if k != "passes"} for row in rows
    ]
    with open(out_dir / "load.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(flat[0]) if flat else ["batch_size"])
        writer.writeheader()
        writer.writerows(flat)
    return out_dir
