"""One batch row, (model, reasoning state), run on a prompt set and measured.

The backend is loaded (its own meter window), warmup prompts run outside the measured window, then `repeats`
measured passes, `batch_size` prompts per generate call, each call in a nested window (runs/loop.py drives the
textgen task). A run that cannot load, or whose server is unreachable, is a failed row. Ctrl-C lets the current
call finish, writes what the run has, and stops; a second Ctrl-C stops at once.
"""

from __future__ import annotations

import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from logging import Logger
from pathlib import Path
from typing import Any

from wattbench.backends.base import Backend
from wattbench.backends.registry import backend_class
from wattbench.config import BatchConfig
from wattbench.data.models_csv import ModelSpec
from wattbench.energy.base import Measurement, Meter
from wattbench.energy.devices import Devices
from wattbench.energy.hardware import model_disk_bytes
from wattbench.energy.warning_list import gathered
from wattbench.protocols import get_protocol
from wattbench.protocols.base import RowFacts, with_tokens
from wattbench.runs.lifecycle import Lifecycle, open_meter
from wattbench.runs.loop import drive
from wattbench.runs.outputs import shared_package_note
from wattbench.runs.textgen_backend import RunFailed, harmony_line, harmony_usable, load_backend
from wattbench.runs.textgen_energy import prompt_energy
from wattbench.runs.textgen_repeats import master_columns, per_repeat, section, spreads
from wattbench.runs.textgen_resume import KeptPasses, kept_passes, prompts_sha256
from wattbench.runs.textgen_row import log_prompt, log_totals, master_row, row_warnings
from wattbench.stats.repeats import converged
from wattbench.store.batch_dir import BatchDir
from wattbench.store.logs import close_logger
from wattbench.store.rundir import append_jsonl, write_json
from wattbench.store.safe_io import StoreError
from wattbench.store.schema import BatchRunSummary, MasterRow, PromptRecord
from wattbench.tasks.textgen import Chunk, Evaluated, TextGenTask

Notify = Callable[[str], None]


def interrupted_reason() -> str:
    from wattbench.signals import interrupted_by

    return f"interrupted by {interrupted_by()}; rerun to redo this run"


@dataclass
class StopRequest:
    """Set by the first Ctrl-C: the run finishes its current prompt, writes what it has, and the batch ends."""

    requested: bool = False


@contextmanager
def graceful_stop(stop: StopRequest, notify: Notify) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        if stop.requested:
            raise KeyboardInterrupt
        stop.requested = True
        notify("stopping after the current prompt (Ctrl-C again to stop at once)")

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def batch_meter(config: BatchConfig) -> Meter:
    """The meter of a batch's runs (each row measures its own idle baseline, after its model is warm)."""
    return open_meter(config.energy, config.generation.gpus)


@dataclass
class RowRun:
    """What one row's run accumulates while it runs."""

    spec: ModelSpec
    config: BatchConfig
    path: Path
    log: Logger
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    started_at: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%S"))
    records: list[PromptRecord] = field(default_factory=list)
    first_rendered: str | None = None
    status: str = "completed"
    error: str | None = None
    measured: Measurement | None = None
    load_s: float | None = None
    devices: Devices | None = None
    idle: Measurement | None = None
    engine: dict[str, Any] = field(default_factory=dict)
    hardware: dict[str, Any] = field(default_factory=dict)
    num_prompts: int = 0
    prompts_sha256: str = ""
    dataset: dict[str, Any] | None = None  # the prompts' record when taken elsewhere (a job's parent)
    repeat_wall_s: list[float] = field(default_factory=list)
    """Wall time of each measured pass, in order."""
    repeat_windows: list[Measurement] = field(default_factory=list)
    """Each measured pass's own meter window, in order (what a resumed row keeps of a pass)."""
    repeat_stop: str | None = None
    kept: KeptPasses | None = None
    """The finished passes of an earlier, unfinished run of this row that this run goes on from."""

    def keep(self, kept: KeptPasses) -> None:
        self.kept, self.run_id, self.started_at = kept, kept.run_id or self.run_id, kept.started_at or self.started_at
        self.records, self.first_rendered = list(kept.records), kept.first_rendered
        self.repeat_wall_s, self.repeat_windows = list(kept.wall_s), list(kept.windows)


def run_one(
    spec: ModelSpec,
    prompts: list[str],
    config: BatchConfig,
    batch: BatchDir,
    meter: Meter,
    facts: dict[str, Any],
    stop: StopRequest,
    notify: Notify,
    dataset: dict[str, Any] | None = None,
    fresh: bool = False,
) -> MasterRow:
    """Run one row; unless `fresh`, go on from the passes an earlier, unfinished run of it finished
    (runs/textgen_resume.py)."""
    assert spec.mode is not None
    log, log_path = batch.logger(spec.run_key)
    kept = None if fresh else kept_passes(batch, spec.run_key, config, spec.mode.to_dict(), prompts)
    path = batch.start_run(spec.run_key, [r.dump() for r in kept.records] if kept else None)
    run = RowRun(
        spec, config, path, log, num_prompts=len(prompts), prompts_sha256=prompts_sha256(prompts), dataset=dataset
    )
    if kept is not None:
        run.keep(kept)
    _log_start(run, len(prompts))
    notify(f"{spec.model_id} ({spec.state_label or 'default'}): {len(prompts) * config.repeats} prompts")
    life = Lifecycle(meter, run.path / "power.csv")
    try:
        with life:
            backend, name = load_backend(spec, config, log, life)
            run.load_s, run.devices = life.load_s, life.devices  # this row's energy is its engine's devices only
            log.info(f"Measured devices: {life.devices.to_dict() if life.devices else None}")
            run.engine = _engine_info(backend)
            harmony = spec.mode.harmony and backend_class(name).renders_prompt and harmony_usable()
            task = TextGenTask(spec.mode, config.generation.seed, harmony)
            _warmup(life, spec, harmony, prompts, config, log)
            run.idle = _idle(life, config, log)
            with meter.window("measured") as window:
                failed_run = _measured_passes(life, task, prompts, run, stop)
            kept_j = run.kept.measured() if run.kept else None
            run.measured = window.result if kept_j is None or window.result is None else kept_j + window.result
            if failed_run:
                run.status, run.error = "failed", failed_run
            elif stop.requested:
                run.status, run.error = "interrupted", interrupted_reason()
    except RunFailed as exc:
        run.status, run.error = "failed", str(exc)
        log.error(run.error)
    except StoreError:
        raise  # a full or read-only disk is the batch's to report (one line, exit 2), not this row's failure
    except KeyboardInterrupt:
        run.status, run.error = "interrupted", interrupted_reason()
        stop.requested = True
    except Exception as exc:  # an engine crash is this run's failure; the batch goes on to the next model
        run.status, run.error = "failed", f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        log.exception(f"Run failed: {run.error}")
    finally:
        run.hardware = life.hardware(model_disk_bytes(run.engine.get("model_path") or spec.model_id), facts)
    row = _finish(run, len(prompts) * max(config.repeats, len(run.repeat_wall_s)), meter, facts, log_path, batch)
    meter.focus(None)  # the next row's engine may hold other devices
    notify(f"{spec.model_id} ({spec.state_label or 'default'}): {run.status}" + (f": {run.error}" if run.error else ""))
    for warning in row_warnings(row):
        notify(f"warning: {spec.model_id} ({spec.state_label or 'default'}): {warning}")
    return row


def _log_start(run: RowRun, num_prompts: int) -> None:
    spec, config, log = run.spec, run.config, run.log
    mode = spec.mode
    assert mode is not None
    log.info(f"Starting benchmark for {spec.model_id}")
    log.info(
        f"Config: backend {config.backend}{' at ' + config.endpoint if config.endpoint else ''}, "
        f"{num_prompts} prompts x {config.repeats} repeats, {config.warmup_prompts} warmup, "
        f"batch size {config.batch_size}, run {run.run_id}"
    )
    log.info(
        f"Reasoning: state '{spec.state_label}', family {mode.family}, control {mode.reasoning_control}, "
        f"reasoning {mode.reasoning}, effort {mode.effort}, chat_template_kwargs {mode.chat_template_kwargs}, "
        f"system prompt {mode.system_prompt!r}, prompt prefix {mode.prompt_prefix!r}, "
        f"assistant prefix {mode.assistant_prefix!r}, "
        f"{'exactly' if mode.fixed_length else 'at most'} {mode.max_new_tokens} new tokens"
    )
    log.info(harmony_line(mode))
    for warning in spec.warnings:
        log.warning(f"row {spec.row.line}: {warning}")
    if run.kept is not None:
        log.info(f"Resuming run {run.run_id}: keeping the {run.kept.passes} measured passes it finished "
                 f"({len(run.kept.records)} prompts); the pass it was stopped in is run again")  # fmt: skip


def _finish(
    run: RowRun, planned: int, meter: Meter, facts: dict[str, Any], log_path: Path, batch: BatchDir
) -> MasterRow:
    """The row's summary.json and master row, written; the log's totals."""
    spec, mode = run.spec, run.spec.mode
    assert mode is not None
    protocol = get_protocol(run.config.protocol)
    row_facts = _row_facts(run, facts)
    notes = protocol.judge(row_facts)
    record = protocol.record(run.config.model_dump(), row_facts, run.engine)
    row = master_row(spec, run.config, run.records, planned, run.measured, facts, run.status, run.error,
                     run.run_id, run.started_at)  # fmt: skip
    passes = per_repeat(run.records, run.repeat_wall_s, run.repeat_windows)
    energy_warnings, distinct = gathered(
        [("idle baseline", run.idle.warnings if run.idle else []), ("", run.measured.warnings if run.measured else [])]
        + [(f"prompt {r.prompt_index} of pass {r.repeat}", r.energy_warnings) for r in run.records]
    )
    phase_methods = sorted({m for r in run.records if r.phase_energy_method for m in r.phase_energy_method.split(",")})
    row = row.model_copy(update={
        "protocol": protocol.name, "comparable": None if notes is None else not notes,
        "not_comparable_reason": "; ".join(notes) if notes else None,
        "dataset": row_facts.dataset.get("path") or row_facts.dataset.get("source"),
        "dataset_sha256": row_facts.dataset.get("sha256"), "dtype": _text(run.engine.get("dtype")),
        "engine_version": _engine_version(run.engine), "gpu_driver": facts.get("driver_version"),
        "repeats_measured": len(run.repeat_wall_s), "repeat_stop": run.repeat_stop, **master_columns(spreads(passes)),
        "energy_warnings": distinct, "phase_energy_method": ",".join(phase_methods) or None,
        "energy_share": ",".join(sorted({r.energy_share for r in run.records if r.energy_share})) or None,
        "shared_gpu": _shared_gpu(run.measured),
    })  # fmt: skip
    if notes:
        run.log.warning(f"Not comparable with the {protocol.name} reference: {row.not_comparable_reason}")
    summary = BatchRunSummary(
        schema_version=BatchRunSummary.VERSION,
        run_id=run.run_id,
        model=spec.model_id,
        row=spec.row.line,
        status=run.status,
        error=run.error,
        reasoning_state=spec.state_label,
        mode=mode.to_dict(),
        warnings=spec.warnings,
        config=run.config.model_dump(mode="json"),
        model_load_s=run.load_s,
        first_rendered_prompt=run.first_rendered,
        energy=run.measured.to_dict() if run.measured else None,
        energy_warnings=energy_warnings,
        idle=run.idle.to_dict() if run.idle else None,
        energy_unavailable=meter.unavailable(),
        measured_devices=run.devices.to_dict() if run.devices else None,
        energy_sharing=shared_package_note(run.measured),
        hardware=run.hardware,
        protocol=record,
        comparability=notes,
        repeats=section(passes, run.repeat_stop, run.prompts_sha256),
        log=str(log_path),
        results=row,
    )
    write_json(run.path / "summary.json", summary.dump())
    batch.upsert_master(row)
    for warning in energy_warnings:
        run.log.warning(f"Energy: {warning}")
    log_totals(run.log, row, run.error, meter.unavailable())
    close_logger(run.log)
    return row


def _shared_gpu(measured: Measurement | None) -> bool | None:
    """Whether another process used a measured GPU during the row; None when no GPU was measured."""
    if measured is None or measured.total_j("gpu") is None:
        return None
    return bool(measured.shared_gpu)


def _idle(life: Lifecycle, config: BatchConfig, log: Logger) -> Measurement | None:
    """This row's idle baseline: its engine loaded and warm, its devices only (the meter is focused on them)."""
    idle = life.idle(config.energy.idle_seconds)
    if idle is not None:
        spread = {s: round(w, 2) for s, w in idle.power_stdev_w.items()}
        log.info(f"Idle baseline: {idle.avg_power_w} W over {idle.duration_s:.1f} s (spread {spread or 'n/a'})")
    return idle


def _warmup(
    life: Lifecycle, spec: ModelSpec, harmony: bool, prompts: list[str], config: BatchConfig, log: Logger
) -> None:
    """The protocol's warm-up calls, outside every measured window (wattbench: `warmup_prompts` prompts in one
    call; aienergyscore: one full-length and 10 two-token calls on the first prompt)."""
    assert spec.mode is not None
    calls = get_protocol(config.protocol).warmup_calls(len(prompts), config.warmup_prompts)
    if not calls:
        return
    outcomes: list[list[Evaluated]] = []
    errors: list[str] = []

    def call(indices: list[int], tokens: int | None) -> Callable[[Backend], None]:
        assert spec.mode is not None
        mode = spec.mode if tokens is None else with_tokens(spec.mode, tokens)
        task = TextGenTask(mode, config.generation.seed, harmony)

        def run(backend: Backend) -> None:
            outcome = drive(task.start(Chunk(-1, [(i, prompts[i]) for i in indices])), backend)
            outcomes.append(outcome)
            errors.extend(e for e in task.errors(outcome) if e)

        return run

    seconds = life.warm_up([call(list(indices), tokens) for indices, tokens in calls])
    results = sum(len(o) for o in outcomes)
    log.info(f"Warmup: {len(calls)} calls, {results} prompts in {seconds:.2f} s (not measured)")
    if errors and len(errors) == results:
        raise RunFailed(f"every warmup prompt failed; first error: {errors[0]}")


def _engine_info(backend: Backend) -> dict[str, Any]:
    try:
        return dict(backend.info())
    except Exception as exc:  # a record, not a reason to fail the row
        return {"error": f"{type(exc).__name__}: {exc}"}


def _engine_version(engine: dict[str, Any]) -> str | None:
    name, version = engine.get("engine"), engine.get("engine_version")
    return f"{name} {version}" if name and version else _text(version)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _row_facts(run: RowRun, facts: dict[str, Any]) -> RowFacts:
    """What the row measured, for its protocol's verdict and record."""
    from wattbench.runs.textgen_prompts import dataset_record

    names = {g.get("index"): str(g.get("name")) for g in facts.get("gpus") or []}
    used = run.devices.gpus if run.devices is not None else ()
    dataset = run.dataset
    if dataset is None:
        try:
            dataset = dataset_record(run.config, run.num_prompts)
        except Exception as exc:  # the row is written whatever happened to the file since
            dataset = {"error": str(exc)}
    assert run.spec.mode is not None
    return RowFacts(
        model_class=run.spec.row.model_class,
        expected_thinking=run.spec.mode.expected_thinking,
        status=run.status,
        gpus_used=tuple(names.get(i, f"GPU {i}") for i in used),
        gpu_energy_j=run.measured.total_j("gpu") if run.measured else None,
        completion_tokens=tuple(r.completion_tokens for r in run.records if r.status == "ok"),
        prompts_used=run.num_prompts,
        backend=run.config.backend,
        dataset=dataset,
    )


def _measured_passes(
    life: Lifecycle, task: TextGenTask, prompts: list[str], run: RowRun, stop: StopRequest
) -> str | None:
    """Run the measured passes through the runs loop, one pass at a time, appending records; returns why the run
    gave up. `repeats` passes, then (with repeat_until) more until the energy per prompt is tight enough."""
    config, size = run.config, run.config.batch_size
    most = max(config.repeats, config.max_repeats) if config.repeat_until else config.repeats
    total = len(prompts) * most

    def store(chunk: Chunk, results: list[Evaluated], window: Measurement | None) -> None:
        # Each prompt's share of the call's window (runs/textgen_energy.py); the shares add up to it exactly.
        for evaluated, energy_j in zip(results, prompt_energy(window, [e.record for e in results])):
            record = PromptRecord.model_validate({**evaluated.record, **energy_j})
            if run.first_rendered is None:
                run.first_rendered = evaluated.rendered
            run.records.append(record)
            append_jsonl(run.path / "prompts.jsonl", record.dump())
            log_prompt(run.log, record, len(run.records), total)

    reason: str | None = None
    done = len(run.repeat_wall_s)  # passes kept from an earlier run of the row
    run.repeat_stop = _enough(run, done, most) if done else None
    for repeat in range(done, most if run.repeat_stop is None else done):
        chunks = [Chunk(repeat, list(enumerate(prompts[start : start + size], start=start)))
                  for start in range(0, len(prompts), size)]  # fmt: skip
        started, first = time.perf_counter(), life.meter.reading()
        reason = life.items(task, chunks, store, max_consecutive_failures=config.max_consecutive_failures,
                            limit_name="max_consecutive_failures", stop=lambda: stop.requested,
                            judge_last=True)  # fmt: skip
        run.repeat_wall_s.append(time.perf_counter() - started)
        # The pass's own window (its calls and the gaps between them), kept should the row be resumed later;
        # the source warnings stay with the row's window.
        run.repeat_windows.append(life.meter.between(f"pass {repeat}", first, life.meter.reading()))
        if reason or stop.requested:
            run.repeat_stop = "failed" if reason else "interrupted"
            break
        run.repeat_stop = _enough(run, repeat + 1, most)
        if run.repeat_stop:
            break
    if reason:
        run.log.error(reason)
    elif stop.requested:
        run.log.info(f"Interrupted after {len(run.records)} of {total} prompts")
    return reason


def _enough(run: RowRun, done: int, most: int) -> str | None:
    """Why no further pass is needed after `done` passes, or None to go on."""
    config = run.config
    if done < config.repeats:
        return None
    if config.repeat_until is None:
        return "repeats"
    passes = per_repeat(run.records, run.repeat_wall_s, run.repeat_windows)
    energy = [p["energy_per_prompt_wh"] for p in passes]
    if converged(energy, config.repeat_until):
        run.log.info(f"Energy per prompt within ±{config.repeat_until:.1%} of its mean after {done} passes")
        return "reached"
    if all(v is None for v in energy):
        return "no energy measured"
    return f"gave up at {most}" if done >= most else None
