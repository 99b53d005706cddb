"""A load sweep: `wattbench load` measures one engine (a run config's provider and model) at each batch size."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from wattbench.backends.registry import backend_class
from wattbench.config import ExperimentConfig
from wattbench.data.paths import resolve_data_dir
from wattbench.data.prompts import load_prompts
from wattbench.energy.base import Meter
from wattbench.energy.hardware import system_facts
from wattbench.errors import ConfigError
from wattbench.runs.checks import check_run_config, open_meter
from wattbench.runs.lifecycle import Lifecycle
from wattbench.runs.load import LoadPoint, combine, load_options, measure_point, write_results


def parse_batch_sizes(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        sizes = []
    if not sizes or any(size < 1 for size in sizes):
        raise ConfigError(f"--batch-sizes {text!r}: give positive integers separated by commas, e.g. 1,8,32")
    return sizes


def sweep_prompts(data_dir: Path | None, prompts_file: Path | None) -> list[str]:
    """The prompts: the given file (CSV, JSONL, parquet), else the data dir's energy_score/prompts.csv."""
    source = prompts_file or resolve_data_dir(data_dir) / "energy_score" / "prompts.csv"
    return load_prompts(source)


def run_load(
    config: ExperimentConfig, batch_sizes: list[int], requests: int, max_tokens: int, prompts: list[str],
    out_dir: Path, notify: Callable[[str], None] = print, repeats: int = 1, meter: Meter | None = None,
) -> list[LoadPoint]:  # fmt: skip
    """Every batch size in turn on a fresh engine (a managed server restarts with its new --max-num-seqs); the
    results are written after each point, so a sweep that fails late keeps what it measured. The power sampler
    runs through the whole sweep (its timeline in power.csv), as in any run: a GPU without an energy counter is
    integrated from its readings, and every steady window has readings inside it. `meter`: a program's own (a
    test's); else the config's."""
    engine = check_run_config(config)
    if repeats < 1:
        raise ConfigError(f"--repeats {repeats}: give 1 or more passes per batch size")
    too_few = [b for b in batch_sizes if requests < 2 * b]
    if too_few:
        raise ConfigError(f"--requests {requests}: batch size {too_few[0]} needs at least {2 * too_few[0]} "
                          "requests for a steady state (twice the batch size)")  # fmt: skip
    options = backend_class(engine).run_options(config)
    load_options(engine, options, batch_sizes[0])  # an engine without a load mode fails before anything runs
    meter = meter or open_meter(config)
    facts = {"engine": engine, "model": config.model, "requests": requests, "max_tokens": max_tokens,
             "machine": system_facts(), "meter_unavailable": meter.unavailable()}  # fmt: skip
    points: list[LoadPoint] = []
    out_dir.mkdir(parents=True, exist_ok=True)
    with Lifecycle(meter, out_dir / "power.csv"):  # the sampler: started here, stopped and flushed at the end
        for size in batch_sizes:
            times = f", {repeats} passes" if repeats > 1 else ""
            notify(f"load: batch size {size}, {requests} requests of {max_tokens} tokens{times}")
            passes = [measure_point(engine, options, prompts, size, requests, max_tokens, meter)
                      for _ in range(repeats)]  # fmt: skip
            point = combine(passes)
            points.append(point)
            write_results(out_dir, points, facts)
            notify(point_line(point))
            for warning in point.warnings:
                notify(f"  warning: B={size}: {warning}")
    return points


def point_line(point: LoadPoint) -> str:
    def fmt(value: float | None, spec: str) -> str:
        return "n/a" if value is None else format(value, spec)

    energy = (f"{fmt(point.j_per_output_token, '.4f')} J/token, {fmt(point.avg_gpu_power_w, '.0f')} W"
              if point.gpu_energy_j is not None else f"energy unavailable ({point.energy_unavailable})")  # fmt: skip
    if point.j_per_output_token_ci95_low is not None and point.j_per_output_token_ci95_high is not None:
        energy += (f" [{point.j_per_output_token_ci95_low:.4f}, {point.j_per_output_token_ci95_high:.4f}] over "
                   f"{point.repeats} passes")  # fmt: skip
    elif point.repeats == 1:
        energy += " (1 pass: no interval)" if point.gpu_energy_j is not None else ""
    if point.request_energy_p50_j is not None and point.request_energy_p90_j is not None:
        energy += f"; per request {point.request_energy_p50_j:.2f} J p50, {point.request_energy_p90_j:.2f} J p90"
    return (f"  B={point.batch_size}: {fmt(point.output_tokens_per_s, '.1f')} tokens/s, {energy}, TTFT p50 "
            f"{fmt(point.ttft_p50_s, '.3f')} s, TPOT p50 {fmt(point.tpot_p50_s, '.4f')} s, "
            f"{point.completed}/{point.requests} done" + (f"; {point.problem}" if point.problem else ""))  # fmt: skip
