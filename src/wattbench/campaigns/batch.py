"""`wattbench batch`: each selected (model, reasoning state) of a models CSV, all into one batch results folder.
The command runs every row as a Job on its executor (batch_parallel.py; `inline` is one after another, as for
every other command); `run_batch` runs rows in the calling process, for a program that brings its own meter."""

from __future__ import annotations

from pathlib import Path

from wattbench.campaigns.batch_rows import BatchOutcome, Notify, to_run
from wattbench.config import BatchConfig, ConfigError
from wattbench.data.models_csv import Filters, ModelSpec, check_distinct, check_strict, load_plan, select
from wattbench.energy.base import Meter
from wattbench.energy.hardware import system_facts
from wattbench.errors import WattbenchError
from wattbench.protocols import get_protocol
from wattbench.runs.textgen import StopRequest, batch_meter, graceful_stop, run_one
from wattbench.runs.textgen_prompts import energy_score_file, limit_prompts, under_protocol
from wattbench.store.batch_dir import BatchDir


def run_batch(
    config: BatchConfig,
    specs: list[ModelSpec],
    prompts: list[str],
    *,
    force: bool = False,
    notify: Notify = lambda message: None,
    meter: Meter | None = None,
    stop: StopRequest | None = None,
) -> BatchOutcome:
    """Run every supported spec not already completed (all of them with `force`) in this process, with `meter`
    (a program's own, a test's); returns the master rows. `wattbench batch` runs rows through its executor."""
    batch = BatchDir(Path(config.output_dir))
    outcome = BatchOutcome()
    prompts = limit_prompts(config, prompts)
    if not prompts:
        raise WattbenchError("no prompts to run; check --prompts-file and --num-prompts")
    stop = stop or StopRequest()
    meter = meter or batch_meter(config)  # each row takes its own idle baseline (runs/textgen.py)
    facts = system_facts()
    with graceful_stop(stop, notify):
        for spec in to_run(specs, batch, force, outcome, notify):
            outcome.rows.append(run_one(spec, prompts, config, batch, meter, facts, stop, notify, fresh=force))
            if stop.requested:
                outcome.interrupted = True
                break
    return outcome


def plan_rows(config: BatchConfig, filters: Filters, strict: bool = False) -> tuple[Path, list[ModelSpec]]:
    """(the models CSV, its rows that pass the filters, each resolved to a reasoning mode and token budget).
    No row passing is an error: a typo in a filter would otherwise run nothing and say it succeeded."""
    csv_path = Path(config.models_csv) if config.models_csv else energy_score_file(config, "oct_2025_models.csv")
    specs = select(load_plan(csv_path, config.max_new_tokens, config.reasoning_max_new_tokens), filters)
    if not specs:
        raise ConfigError(
            f"{csv_path}: no row matches the filters; 'wattbench batch --list' without filters shows every row"
        )
    if strict:
        check_strict(specs, csv_path)
    check_distinct(specs, csv_path)
    protocol = get_protocol(config.protocol)
    specs = under_protocol(specs, config)
    gen = config.generation
    for spec in specs:
        problem = spec.supported and protocol.plan_problem(spec.row.model_class, gen.gpus, gen.tensor_parallel)
        if problem:
            raise ConfigError(
                f"{csv_path}: row {spec.row.line} ({spec.model_id}): class {spec.row.model_class} runs on exactly "
                f"one GPU under protocol {protocol.name}, but the config gives {problem}; give one GPU (--gpus N) "
                "or leave the row out with the filters"
            )
    return csv_path, specs


def run_batch_campaign(
    config: BatchConfig, specs: list[ModelSpec], prompts: list[str], models_csv: Path, *, force: bool = False,
    notify: Notify = lambda message: None,
) -> BatchOutcome:  # fmt: skip
    """The batch on the configured executor, each row a Job in its own process (inline: one after another)."""
    from wattbench.campaigns.jobs import executor_choice

    choice = executor_choice(config.executor)  # an unknown executor is refused before anything runs
    with BatchDir(Path(config.output_dir)).lock():  # a second batch into this folder is refused at once
        from wattbench.campaigns.batch_parallel import run_batch_parallel  # executors and Ray: only when used
        from wattbench.data.model_sizes import load_sizes

        return run_batch_parallel(config, specs, prompts, models_csv, choice, timeout_s=config.executor.timeout_s,
                                  force=force, notify=notify, sizes=load_sizes())  # fmt: skip
