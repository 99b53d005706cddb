"""`wattbench batch`: each selected (model, reasoning state) of a models CSV, one after another in this process
(runs/textgen.py runs each), all into one batch results folder. `--executor local|ray` runs them as Jobs
instead (batch_parallel.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from wattbench.config import BatchConfig
from wattbench.data.models_csv import ModelSpec
from wattbench.energy.base import Meter
from wattbench.energy.hardware import system_facts
from wattbench.errors import WattbenchError
from wattbench.runs.textgen import StopRequest, batch_meter, graceful_stop, run_one
from wattbench.store.batch_dir import BatchDir
from wattbench.store.schema import MasterRow

Notify = Callable[[str], None]


@dataclass
class BatchOutcome:
    rows: list[MasterRow] = field(default_factory=list)
    skipped: list[ModelSpec] = field(default_factory=list)
    unsupported: list[ModelSpec] = field(default_factory=list)
    interrupted: bool = False


def to_run(
    specs: list[ModelSpec], batch: BatchDir, force: bool, outcome: BatchOutcome, notify: Notify
) -> list[ModelSpec]:
    """The specs to run; the others go into `outcome` (unsupported, or complete already), each said once."""
    todo = []
    for spec in specs:
        if not spec.supported:
            outcome.unsupported.append(spec)
            notify(f"row {spec.row.line} {spec.model_id}: skipped, {spec.unsupported_reason}")
        elif not force and batch.completed(spec.run_key):
            outcome.skipped.append(spec)
            notify(f"{spec.model_id} ({spec.state_label}): already completed; --force to run it again")
        else:
            todo.append(spec)
    return todo


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
    """Run every supported spec not already completed (all of them with `force`); returns the master rows."""
    batch = BatchDir(Path(config.output_dir))
    outcome = BatchOutcome()
    prompts = prompts[: config.num_prompts] if config.num_prompts else prompts
    if not prompts:
        raise WattbenchError("no prompts to run; check --prompts-file and --num-prompts")
    stop = stop or StopRequest()
    if meter is None:
        meter = batch_meter(config)
    elif any(s.scopes() for s in meter.sources) and config.energy.idle_seconds > 0:
        meter.measure_idle(config.energy.idle_seconds)
    facts = system_facts()
    with graceful_stop(stop, notify):
        for spec in to_run(specs, batch, force, outcome, notify):
            outcome.rows.append(run_one(spec, prompts, config, batch, meter, facts, stop, notify))
            if stop.requested:
                outcome.interrupted = True
                break
    return outcome
