"""What a batch campaign decides before running and what it ends with, shared by the in-process batch
(batch.py) and the executor batch (batch_parallel.py), so neither imports the other's internals."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from wattbench.data.models_csv import ModelSpec
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
