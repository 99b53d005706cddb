"""One WattBot run, resumable.

Phases (each in its own energy window): index load, model load, questions. Every question is its own window too,
and its record (prediction, scores, latency split, tokens, retries, retrieved passages, raw output, error,
energy) is appended to results.jsonl and forced to disk as soon as it is finished. A killed run loses at most
the question in flight; a resumed run skips what is done, and its totals (time, tokens, energy) add up across
sessions because they are recomputed from the records and the per-session phase windows.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from wattbench.backends.base import AuthError, Backend, preflight
from wattbench.backends.registry import backend_class, create_backend
from wattbench.config import ExperimentConfig
from wattbench.data.paths import resolve_data_dir, wattbot_dir
from wattbench.data.wattbot import Question, load_metadata, load_questions
from wattbench.energy.base import Measurement, Meter
from wattbench.energy.devices import Devices, as_devices, scope_rule
from wattbench.energy.hardware import model_disk_bytes, peak_rss_bytes, system_facts, torch_peak_vram_bytes
from wattbench.energy.phases import gpu_phase_j
from wattbench.errors import DataError, WattbenchError
from wattbench.retrieval.search import open_retriever
from wattbench.runs.checks import check_run_config, open_meter
from wattbench.runs.loop import drive, run_items
from wattbench.runs.outputs import Recorder, run_status, write_outputs
from wattbench.store.lock import LOCK_NAME, DirLock
from wattbench.store.logs import close_logger, file_logger
from wattbench.store.paths import check_removable, linked_run_files, remove_run_dir, run_dir_path
from wattbench.store.rundir import RunDir
from wattbench.store.schema import QuestionRecord, RunSummary
from wattbench.tasks.wattbot_question import WattBotTask

Progress = Callable[[int, int, dict[str, Any]], None]  # (done, total, latest record)


@dataclass
class RunResult:
    run_dir: Path
    summary: dict[str, Any]
    interrupted: bool = False

    @property
    def failed(self) -> bool:
        """The run stopped on failures, or not one question got an answer: not a result to report."""
        return self.summary.get("status") == "failed"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _log_name(run: RunDir) -> str:
    return f"wattbench.run.{run.path}"


def _logger(run: RunDir) -> logging.Logger:
    return file_logger(_log_name(run), run.path / "run.log")


def backend_options(config: ExperimentConfig) -> dict[str, Any]:
    """What the run's engine takes from the typed config: the engine says (its `run_options`)."""
    return backend_class(config.provider).run_options(config)  # type: ignore[attr-defined]


def _prepare_run_dir(config: ExperimentConfig, resume: bool, force: bool) -> tuple[RunDir, RunSummary | None, DirLock]:
    """The run dir, locked for this process, ready to append to; the summary of its earlier sessions. Everything
    that can refuse the run is checked here, before anything is written."""
    run = RunDir(run_dir_path(config.output_dir, config.name, config.where("name")))
    existing = run.path.exists() and any(e.name != LOCK_NAME for e in run.path.iterdir())
    if existing and not force and not resume:
        raise WattbenchError(f"{run.path} already holds a run; pass --resume to continue it or --force to redo it")
    if existing and force:
        check_removable(run.path, config.output_dir)
    linked = linked_run_files(run.path) if run.path.is_dir() else []
    if linked:
        raise WattbenchError(f"{run.path / linked[0]} is a symbolic link; the store never reads or writes through "
                             "one: replace it by the file itself, or use another --name")  # fmt: skip
    lock = DirLock(run.path, "this run", "wait for it to finish, or use another --name").acquire()
    try:
        if existing and force:
            remove_run_dir(run.path, config.output_dir, keep=LOCK_NAME)
        previous = _previous_summary(run)
        if previous:
            before = previous.config
            for key in ("provider", "model", "questions"):
                if before.get(key) != getattr(config, key):
                    raise WattbenchError(
                        f"{run.path} was run with {key}={before.get(key)!r}, not {getattr(config, key)!r}; "
                        "use another --name, or --force to start over"
                    )
    except BaseException:
        lock.release()
        raise
    return run, previous, lock


def _previous_summary(run: RunDir) -> RunSummary | None:
    """The summary of earlier sessions; one that cannot be read is named with what resumes (its answers are in
    results.jsonl, which --force would delete)."""
    try:
        return run.read_summary()
    except WattbenchError as exc:
        raise WattbenchError(
            f"{run.summary_json}: cannot be read ({str(exc).split(': ', 1)[-1].split(';')[0]}); delete that one "
            "file and rerun to resume (the answers in results.jsonl are kept and the summary is rebuilt from them); "
            "--force would start over and lose them"
        ) from None


def run_experiment(
    config: ExperimentConfig, *, data_dir: Path | None = None, resume: bool = True, force: bool = False,
    notify: Callable[[str], None] = lambda message: None,
    on_progress: Progress | None = None,
    on_index_progress: Callable[[str, int, int], None] | None = None,  # (stage, done, total) of an index build
    meter: Meter | None = None,
) -> RunResult:  # fmt: skip
    """Run (or resume) the experiment described by `config`; returns the run dir and its summary."""
    check_run_config(config)
    root = wattbot_dir(resolve_data_dir(data_dir))
    questions_path, questions, metadata = _inputs(config, root)
    meter = meter or open_meter(config)
    run, previous, lock = _prepare_run_dir(config, resume, force)
    try:
        if lock.took_over:
            _logger(run).info(f"took over the lock of pid {lock.took_over.get('pid')} on "
                              f"{lock.took_over.get('host')}, which died holding it")  # fmt: skip
        return _run_locked(config, run, previous, questions_path, questions, metadata, root, meter, notify,
                           on_progress, on_index_progress)  # fmt: skip
    finally:
        close_logger(logging.getLogger(_log_name(run)))
        lock.release()


def _run_locked(
    config: ExperimentConfig, run: RunDir, previous: RunSummary | None, questions_path: Path,
    questions: list[Question], metadata: Any, root: Path, meter: Meter, notify: Callable[[str], None],
    on_progress: Progress | None, on_index_progress: Callable[[str, int, int], None] | None,
) -> RunResult:  # fmt: skip
    log = _logger(run)
    torn = run.set_aside_torn()
    if torn:
        notify(f"warning: {torn}")
        log.warning(torn)
    records = run.read_results()
    pending = [q for q in questions if q.id not in records or records[q.id].get("error")]
    sessions: list[dict[str, Any]] = list(previous.sessions) if previous else []
    session: dict[str, Any] = {"started_at": _now(), "wall_s": 0.0, "questions": 0, "energy": {}}
    sessions.append(session)
    log.info(f"session {len(sessions)}: {len(questions)} questions, {len(pending)} to answer; provider "
             f"{config.provider}, model {config.model or 'default'}")  # fmt: skip
    wall_start = time.perf_counter()
    backend: Backend | None = None
    backend_info: dict[str, Any] = dict(previous.backend) if previous else {}
    hardware: dict[str, Any] = {}
    interrupted = False
    refused: AuthError | None = None
    try:
        _start_metering(meter, run.path / "power.csv")
        retriever = _load_index(config, root, meter, session, notify, log, on_index_progress)
        backend = _load_model(config, meter, session)
        backend_info, hardware = _describe(backend, config, session, meter, log)
        task = WattBotTask(retriever, config, metadata)
        if pending:
            for note in preflight(backend):
                log.info(note)
            _warm_up_and_idle(task, backend, pending, config, meter, session, log)
        recorded = Recorder(run, config, questions, questions_path, records, sessions, backend_info, hardware)
        _answer_all(pending, run, records, session, sessions, log, wall_start, task, backend, meter, on_progress,
                    recorded)  # fmt: skip
    except KeyboardInterrupt:
        interrupted = True
        log.info("interrupted: finished questions are saved; rerun the same command to resume")
    except AuthError as exc:
        refused = exc
        session["stopped"] = str(exc)
        log.error(f"stopped: {exc}")
    finally:
        _end_session(meter, backend, session, wall_start, hardware, interrupted)
    summary = write_outputs(run, config, questions, questions_path, records, sessions, backend_info, hardware)
    if refused is not None:
        raise refused
    log.info(
        f"done ({run_status(summary)}): {summary['num_answered']}/{len(questions)} answered, "
        f"{summary['num_failed']} failed, {summary['num_unparseable']} unparseable; overall {summary['overall_score']}"
    )
    return RunResult(run.path, summary, interrupted)


def _inputs(config: ExperimentConfig, root: Path) -> tuple[Path, list[Question], Any]:
    """(the question file, its questions up to the limit, the corpus metadata)."""
    questions_path = Path(config.questions) if config.questions else root / "train_QA.csv"
    questions = load_questions(questions_path)
    if not questions:
        # A run of nothing would be "complete" and its audit clean: say so before anything is written.
        raise DataError(f"{questions_path}: no questions (only a header row?); give a file with at least one row")
    return questions_path, questions[: config.limit], load_metadata(root / "metadata.csv")


def _start_metering(meter: Meter, timeline: Path) -> None:
    """The power timeline, streamed to `timeline`, when anything can be measured."""
    if meter.sampler is not None and any(s.scopes() for s in meter.sources):
        meter.sampler.start(timeline)


def _warm_up_and_idle(
    task: WattBotTask, backend: Backend, questions: list[Question], config: ExperimentConfig, meter: Meter,
    session: dict[str, Any], log: logging.Logger,
) -> None:  # fmt: skip
    """The protocol before the measured questions: warm-up questions outside every window (their answers are
    thrown away), then the idle baseline of the loaded, warm engine. Both only where the engine's energy is
    measured: elsewhere (an API, a machine without NVML or RAPL) a warm-up would only cost a question."""
    if not meter.measures_anything():
        return
    started = time.perf_counter()
    for question in questions[: config.task.warmup_questions]:
        try:
            drive(task.start(question), backend)
        except (KeyboardInterrupt, WattbenchError):
            raise
        except Exception as exc:  # a warm-up failure is the measured question's to report, not the run's
            log.info(f"warm-up question {question.id} failed ({exc}); going on")
    if config.task.warmup_questions and questions:
        session["warmup_s"] = time.perf_counter() - started
        log.info(f"warm-up: {min(len(questions), config.task.warmup_questions)} question(s) in "
                 f"{session['warmup_s']:.2f} s, not measured")  # fmt: skip
    if config.energy.idle_seconds > 0:
        session["energy"]["idle"] = meter.measure_idle(config.energy.idle_seconds).to_dict()


def _load_index(
    config: ExperimentConfig, root: Path, meter: Meter, session: dict[str, Any], notify: Callable[[str], None],
    log: logging.Logger, progress: Callable[[str, int, int], None] | None,
) -> Any:  # fmt: skip
    with meter.window("index_load") as index_window:
        retriever, report = open_retriever(config.retrieval, root / "corpus", notify=notify, progress=progress)
    session["energy"]["index_load"] = index_window.record()
    log.info(f"index: {report.action} ({report.reason}), {report.n_chunks} passages")
    return retriever


def _load_model(config: ExperimentConfig, meter: Meter, session: dict[str, Any]) -> Backend:
    load_started = time.perf_counter()
    with meter.window("model_load") as model_window:
        backend = create_backend(config.provider, **backend_options(config))
    session["model_load_s"] = time.perf_counter() - load_started
    session["energy"]["model_load"] = model_window.record()
    return backend


def _describe(
    backend: Backend, config: ExperimentConfig, session: dict[str, Any], meter: Meter, log: logging.Logger
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the backend's info, the hardware facts) as the summary keeps them."""
    # What the report needs to know of the engine without importing it: does the model run on hardware the
    # run holds (in process or a managed server), or behind someone's API.
    devices = as_devices(backend.devices())
    backend_info = {**backend.info(), "takes_slot": bool(getattr(backend, "takes_slot", True)),
                    "measured_devices": devices.to_dict()}  # fmt: skip
    _focus(meter, devices, session)
    disk = model_disk_bytes(backend_info.get("model_path") or config.model or "")
    hardware = _hardware(disk, session["model_load_s"], meter, devices)
    log.info(f"model: {backend_info} loaded in {session['model_load_s']:.2f} s")
    return backend_info, hardware


def _focus(meter: Meter, devices: Devices, session: dict[str, Any]) -> None:
    """Keep exactly the scopes of the devices the engine holds, from now on and in what this session measured
    before the engine said where it runs (the idle baseline, the index and model loads)."""
    meter.focus(*scope_rule(devices))
    for phase, record in session["energy"].items():
        session["energy"][phase] = meter.scoped(Measurement.from_dict(record)).to_dict()


def _end_session(
    meter: Meter, backend: Backend | None, session: dict[str, Any], wall_start: float, hardware: dict[str, Any],
    interrupted: bool,
) -> None:  # fmt: skip
    """Whatever ended the session: the power timeline saved, the engine closed, the session's times recorded."""
    if meter.sampler is not None and meter.sampler.running:
        meter.sampler.stop()  # the rest of the timeline goes to power.csv
    if backend is not None:
        backend.close()
    session["ended_at"] = _now()
    session["wall_s"] = time.perf_counter() - wall_start
    if hardware:
        hardware["peak_rss_gb"] = peak_rss_bytes() / 1e9
    session["interrupted"] = interrupted


def _answer_all(
    pending: list[Question],
    run: RunDir,
    records: dict[str, dict[str, Any]],
    session: dict[str, Any],
    sessions: list[dict[str, Any]],
    log: logging.Logger,
    wall_start: float,
    task: WattBotTask,
    backend: Backend,
    meter: Meter,
    on_progress: Progress | None,
    recorded: Callable[[dict[str, Any] | None], Any],
) -> None:
    """Answer the pending questions in order (runs/loop.py), each record forced to disk as it finishes; stop after
    task.max_consecutive_failures failed questions in a row (a dead or refusing server), saying why in the
    session, so the summary marks the run failed and a rerun resumes it."""
    done = 0

    def store(question: Question, answer: dict[str, Any], window: Measurement | None) -> None:
        nonlocal done
        record = QuestionRecord.model_validate(answer)
        record.energy = window.to_dict() if window is not None else None
        record.prefill_energy_j, record.decode_energy_j = gpu_phase_j(window)
        record.session = len(sessions)
        run.append_result(record)
        records[question.id] = record.dump()
        done += 1
        session["questions"] += 1
        session["wall_s"] = time.perf_counter() - wall_start
        _log_question(log, record)
        recorded(records[question.id])
        if on_progress:
            on_progress(done, len(pending), records[question.id])

    limit = task.config.task.max_consecutive_failures
    stopped = run_items(task, pending, backend, meter, store, max_consecutive_failures=limit,
                        limit_name="task.max_consecutive_failures")  # fmt: skip
    if stopped:
        session["stopped"] = stopped
        log.error(f"{stopped}; {len(pending) - done} questions not asked; rerun to resume")
        recorded(None)  # a checkpoint now: the stop is in the summary


def _log_question(log: logging.Logger, record: QuestionRecord) -> None:
    for note in record.notes:
        log.warning(f"{record.id}: {note}")
    log.info(
        f"{record.id}: value {record.pred_value!r} ref {record.pred_ref} latency {record.latency_s:.2f} s "
        f"tokens {record.prompt_tokens}+{record.completion_tokens}"
        + (f" attempts {record.attempts}" if record.attempts > 1 else "")
        + (f" error {record.error}" if record.error else "")
    )


def _hardware(disk_bytes: int | None, load_s: float, meter: Meter, devices: Devices) -> dict[str, Any]:
    """The machine, and the VRAM of the GPUs the engine holds only (none for a CPU or remote engine)."""
    facts = system_facts()
    vram = torch_peak_vram_bytes() if devices.gpus else {}
    own = {f"gpu:{g}" for g in devices.gpus}
    sampled = meter.sampler.max_memory_used_mib if meter.sampler is not None else {}
    sampled = {scope: mib for scope, mib in sampled.items() if scope in own}
    gpus = facts.get("gpus") or []
    return {
        "gpu_name": gpus[0]["name"] if gpus else None,
        "gpu_count": len(gpus),
        "gpus_used": list(devices.gpus),
        "gpu_vram_total_gb": sum(g["memory_total_gib"] or 0 for g in gpus) * 2**30 / 1e9 if gpus else None,
        "gpu_vram_allocated_gb": sum(vram.values()) / 1e9
        if vram
        else (sum(sampled.values()) * 2**20 / 1e9 if sampled else None),
        "model_disk_size_gb": None if disk_bytes is None else disk_bytes / 1e9,
        "model_load_time_seconds": load_s,
        "peak_rss_gb": peak_rss_bytes() / 1e9,
        "cpu": facts["cpu"],
        "hostname": facts["hostname"],
        "os": facts["os"],
        "driver_version": facts["driver_version"],
        "cuda_driver_version": facts["cuda_driver_version"],
    }
