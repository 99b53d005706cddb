"""A batch row's figures: its master-table row from the prompt records and the measured window, and the lines
its log keeps for each prompt and for the totals."""

from __future__ import annotations

from logging import Logger
from typing import Any

from wattbench.backends.timing import spread
from wattbench.config import BatchConfig
from wattbench.data.models_csv import ModelSpec
from wattbench.energy.base import Measurement
from wattbench.energy.carbon import J_PER_WH, co2e_g
from wattbench.energy.phases import PhaseTotals, methods_text
from wattbench.energy.shares import of_window
from wattbench.store.schema import MasterRow, PromptRecord
from wattbench.tasks.textgen import sha256


def log_prompt(log: Logger, record: PromptRecord, done: int, total: int) -> None:
    if record.status != "ok":
        log.error(f"Prompt {done}/{total} (#{record.prompt_index}) failed: {record.error}")
        return
    for warning in record.energy_warnings:
        log.warning(f"Prompt {done}/{total} (#{record.prompt_index}) energy: {warning}")
    ttft = f", ttft {record.ttft_s:.3f} s" if record.ttft_s is not None else ""
    log.info(
        f"Prompt {done}/{total} (#{record.prompt_index}): latency {record.latency_s or 0.0:.3f} s{ttft}, "
        f"tokens {record.prompt_tokens} in / {record.completion_tokens} out "
        f"(reasoning {record.reasoning_tokens}), finish {record.finish_reason}"
    )


def _fmt(value: Any, unit: str = "", digits: int = 3) -> str:
    if value is None:
        return "n/a"
    return f"{value:.{digits}f}{unit}" if isinstance(value, float) else f"{value}{unit}"


def log_totals(log: Logger, row: MasterRow, error: str | None, unavailable: dict[str, str]) -> None:
    log.info(
        f"Totals: {row.successful_prompts}/{row.total_prompts} prompts ok, "
        f"{_fmt(row.total_completion_tokens)} output tokens in {_fmt(row.total_duration_seconds, ' s', 2)}, "
        f"{_fmt(row.throughput_tokens_per_second, ' tokens/s', 1)}, "
        f"avg latency {_fmt(row.avg_latency_seconds, ' s')}"
    )
    if row.gpu_energy_wh is None and row.cpu_energy_wh is None:
        why = "; ".join(f"{scope}: {reason}" for scope, reason in unavailable.items()) or "no meter"
        log.info(f"Energy: not measured ({why})")
    else:
        log.info(
            f"Energy: GPU {_fmt(row.gpu_energy_wh, ' Wh', 4)}, CPU {_fmt(row.cpu_energy_wh, ' Wh', 4)} "
            f"({row.energy_method}), {_fmt(row.tokens_per_joule, ' output tokens/J')}, "
            f"{_fmt(row.wh_per_1000_queries, ' Wh/1000 queries')}"
        )
    for warning in row_warnings(row):
        log.warning(warning)
    if error:
        log.error(f"Run {row.status}: {error}")
    else:
        log.info(f"Run {row.status}")


def row_warnings(row: MasterRow) -> list[str]:
    """What the row's figures cannot be trusted for: the run log and the batch command both say it."""
    warnings = []
    if row.fixed_length_held is False:
        warnings.append(f"fixed length not held: asked for exactly {row.max_new_tokens} new tokens a prompt, got "
                        f"{row.output_lengths_seen} (the engine ignores min_tokens?); the energy per query is not at "
                        "the asked length")  # fmt: skip
    if row.energy_warnings:
        warnings.append(f"{row.energy_warnings} energy warning(s) from the meter (summary.json: energy_warnings)")
    if row.usage_unknown_prompts:
        warnings.append(f"{row.usage_unknown_prompts} prompts with impossible token counts from the engine: token "
                        "totals, throughput and tokens/J unknown (prompts.jsonl: usage_warning)")  # fmt: skip
    return warnings


def _sum(values: list[int | None]) -> int | None:
    known = [v for v in values if v is not None]
    return sum(known) if known else None


def _token_figures(ok: list[PromptRecord], duration_s: float | None) -> dict[str, Any]:
    prompt_tokens = _sum([r.prompt_tokens for r in ok])
    completion_tokens = _sum([r.completion_tokens for r in ok])
    ttfts = [r.ttft_s for r in ok if r.ttft_s is not None]
    return {
        "avg_latency_seconds": sum(r.latency_s or 0.0 for r in ok) / len(ok) if ok else None,
        "total_tokens": None
        if prompt_tokens is None or completion_tokens is None
        else prompt_tokens + completion_tokens,
        "total_prompt_tokens": prompt_tokens,
        "total_completion_tokens": completion_tokens,
        "throughput_tokens_per_second": completion_tokens / duration_s if completion_tokens and duration_s else None,
        "total_reasoning_tokens": _sum([r.reasoning_tokens for r in ok]),
        "total_answer_tokens": _sum([r.answer_tokens for r in ok]),
        "avg_ttft_seconds": sum(ttfts) / len(ttfts) if ttfts else None,
        "prompts_cap_reached_while_thinking": sum(1 for r in ok if r.answer_reached is False),
        **spread(ttfts, "ttft"),
        **spread([r.tpot_s for r in ok if r.tpot_s is not None], "tpot"),
        **spread([gap for r in ok for gap in r.itl_s], "itl"),
    }


def _energy_figures(
    records: list[PromptRecord], measured: Measurement | None, grid_g_per_kwh: float | None
) -> dict[str, Any]:
    """GPU energy (the headline scope, as the AI Energy Score reports it) of the measured window, and the
    per-query figures over the answered prompts' shares (energy/shares.py); CPU beside it, never added in."""
    gpu_j = measured.total_j("gpu") if measured else None
    cpu_j = measured.total_j("cpu") if measured else None
    gpu_wh = None if gpu_j is None else gpu_j / J_PER_WH
    answered = [r.status == "ok" for r in records]
    tokens = [r.completion_tokens for r in records]
    gpu = of_window(gpu_j, [r.gpu_energy_j for r in records], answered, tokens)
    idle = sum(v for s, v in (measured.idle_power_w if measured else {}).items() if s.startswith("gpu"))
    return {
        "gpu_energy_wh": gpu_wh,
        "co2_emissions_g": co2e_g(gpu_wh, grid_g_per_kwh),
        "tokens_per_joule": gpu.output_tokens_per_j,
        "avg_energy_per_prompt_wh": gpu.wh_per_query,
        "wh_per_1000_queries": gpu.wh_per_1000_queries,
        "failed_gpu_energy_wh": None if gpu.failed_energy_j is None else gpu.failed_energy_j / J_PER_WH,
        "cpu_energy_wh": None if cpu_j is None else cpu_j / J_PER_WH,
        "energy_method": methods_text(measured),
        "idle_power_w": idle if measured and measured.idle_power_w else None,
        **_phase_figures(records),
    }


def _phase_figures(records: list[PromptRecord]) -> dict[str, float | None]:
    """GPU J per input token in the prefill and per decoded output token (those after the first), over the
    answered prompts whose call was split at its first token (batch size 1, energy/phases.py)."""
    totals = PhaseTotals()
    for r in records:
        if r.status == "ok" and r.prefill_energy_j is not None and r.decode_energy_j is not None:
            totals.add(r.prefill_energy_j, r.decode_energy_j, r.prompt_tokens or 0, r.completion_tokens or 0)
    figures = totals.to_dict()
    return {key: figures[key] for key in ("prefill_j_per_input_token", "decode_j_per_output_token")}


def master_row(
    spec: ModelSpec,
    config: BatchConfig,
    records: list[PromptRecord],
    planned: int,
    measured: Measurement | None,
    facts: dict[str, Any],
    status: str,
    error: str | None,
    run_id: str,
    timestamp: str,
) -> MasterRow:
    """One master_results.csv row. Unknown values are None (an empty cell), never 0. Prompts never run (a failed
    load, a dead server, Ctrl-C) count as failed: `total_prompts` is what the run set out to do."""
    assert spec.mode is not None
    ok = [r for r in records if r.status == "ok"]
    gpus = facts.get("gpus") or []
    tokens = _token_figures(ok, measured.duration_s if measured else None)
    energy = _energy_figures(records, measured, config.energy.grid_intensity_g_per_kwh)
    unknown = sum(1 for r in ok if r.usage_warning)
    if unknown:  # a total over the known counts would be too small: every figure built on it is unknown
        for key in ("total_tokens", "total_prompt_tokens", "total_completion_tokens", "throughput_tokens_per_second"):
            tokens[key] = None
        energy["tokens_per_joule"] = energy["decode_j_per_output_token"] = energy["prefill_j_per_input_token"] = None
    return MasterRow(
        model_name=spec.model_id,
        model_class=spec.row.model_class,
        task=spec.row.task,
        reasoning_state=spec.state_label,
        total_prompts=planned,
        successful_prompts=len(ok),
        failed_prompts=planned - len(ok),
        total_duration_seconds=measured.duration_s if measured else None,
        timestamp=timestamp,
        error_message=error,
        gpu_name=gpus[0]["name"] if gpus else None,
        gpu_count=len(gpus),
        status=status,
        backend=config.backend,
        family=spec.mode.family,
        reasoning_control=spec.mode.reasoning_control,
        reasoning=spec.mode.reasoning,
        effort=spec.mode.effort,
        max_new_tokens=spec.mode.max_new_tokens,
        fixed_length=spec.mode.fixed_length,
        warmup_prompts=config.warmup_prompts,
        repeats=config.repeats,
        rendered_prompts_sha256=sha256("".join(r.rendered_prompt_sha256 for r in records)) if records else None,
        run_id=run_id,
        usage_unknown_prompts=unknown,
        **fixed_length_check(spec.mode.fixed_length, spec.mode.max_new_tokens, ok),
        **tokens,
        **energy,
    )


def fixed_length_check(fixed: bool, max_new_tokens: int, ok: list[PromptRecord]) -> dict[str, Any]:
    """Whether a fixed-length run's answered prompts each got exactly `max_new_tokens` (a server that ignores
    `min_tokens` stops early, and its row's J/query is then not at the published length)."""
    lengths = [r.completion_tokens for r in ok]
    if not fixed or not lengths or any(n is None for n in lengths):
        return {"fixed_length_held": None, "output_lengths_seen": None}
    low, high = min(lengths), max(lengths)  # type: ignore[type-var]
    seen = str(low) if low == high else f"{low}-{high}"
    return {"fixed_length_held": low == high == max_new_tokens, "output_lengths_seen": seen}
