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
from wattbench.energy.hardware import model_disk_bytes, peak_rss_bytes
from wattbench.energy.phases import gpu_phase_j
from wattbench.energy.shares import headline_kind
from wattbench.errors import DataError, WattbenchError
from wattbench.retrieval.search import open_retriever
from wattbench.runs.checks import check_run_config, open_meter
from wattbench.runs.lifecycle import Lifecycle
from wattbench.runs.loop import drive
from wattbench.runs.outputs import Recorder, run_status, write_outputs
from wattbench.runs.wattbot_repeats import further_passes, pass_figures, stop_reason
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
    return backend_class(config.provider).run_options(config)


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
    further = run.read_repeats()  # the further measured passes (task.repeats) a resumed run keeps
    repeat_stop: str | None = None
    pending = [q for q in questions if q.id not in records or records[q.id].get("error")]
    sessions: list[dict[str, Any]] = list(previous.sessions) if previous else []
    session: dict[str, Any] = {"started_at": _now(), "wall_s": 0.0, "questions": 0, "energy": {}}
    sessions.append(session)
    log.info(f"session {len(sessions)}: {len(questions)} questions, {len(pending)} to answer; provider "
             f"{config.provider}, model {config.model or 'default'}")  # fmt: skip
    wall_start = time.perf_counter()
    backend_info: dict[str, Any] = previous.backend.model_dump() if previous else {}
    hardware: dict[str, Any] = {}
    interrupted = False
    refused: AuthError | None = None
    try:
        with Lifecycle(meter, run.path / "power.csv") as life:
            retriever = _load_index(config, root, meter, session, notify, log, on_index_progress)
            backend = _load_model(life, config, session)
            backend_info, hardware = _describe(life, backend, config, session, log)
            task = WattBotTask(retriever, config, metadata)
            _log_mode(task, config, log, notify)
            kind = headline_kind(backend_info.get("measured_devices"), None)
            if pending or _passes_due(config, questions, records, further, kind):
                for note in preflight(backend):
                    log.info(note)
                _warm_up_and_idle(life, task, pending or questions, config, session, log)
            recorded = Recorder(run, config, questions, questions_path, records, sessions, backend_info, hardware)
            _answer_all(pending, run, records, session, sessions, log, wall_start, task, life, on_progress,
                        recorded)  # fmt: skip
            if _passes_due(config, questions, records, further, kind):
                repeat_stop = _more_passes(config, questions, records, further, kind, run, task, life, sessions, log)
    except KeyboardInterrupt:
        interrupted = True
        log.info("interrupted: finished questions are saved; rerun the same command to resume")
    except AuthError as exc:
        refused = exc
        session["stopped"] = str(exc)
        log.error(f"stopped: {exc}")
    finally:
        _end_session(session, wall_start, hardware, interrupted)
    passes = (further, repeat_stop) if config.task.repeats > 1 or config.task.repeat_until else None
    summary = write_outputs(run, config, questions, questions_path, records, sessions, backend_info, hardware,
                            passes=passes)  # fmt: skip
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


def _warm_up_and_idle(
    life: Lifecycle, task: WattBotTask, questions: list[Question], config: ExperimentConfig,
    session: dict[str, Any], log: logging.Logger,
) -> None:  # fmt: skip
    """The protocol before the measured questions: warm-up questions outside every window (their answers are
    thrown away), then the idle baseline of the loaded, warm engine. Both only where the engine's energy is
    measured: elsewhere (an API, a machine without NVML or RAPL) a warm-up would only cost a question."""
    if not life.meter.measures_anything():
        return
    warmup = questions[: config.task.warmup_questions]

    def ask(question: Question) -> Callable[[Backend], None]:
        def call(backend: Backend) -> None:
            try:
                drive(task.start(question), backend)
            except (KeyboardInterrupt, WattbenchError):
                raise
            except Exception as exc:  # a warm-up failure is the measured question's to report, not the run's
                log.info(f"warm-up question {question.id} failed ({exc}); going on")

        return call

    if warmup:
        session["warmup_s"] = life.warm_up([ask(q) for q in warmup])
        log.info(f"warm-up: {len(warmup)} question(s) in {session['warmup_s']:.2f} s, not measured")
    idle = life.idle(config.energy.idle_seconds)
    if idle is not None:
        session["energy"]["idle"] = idle.to_dict()


def _load_index(
    config: ExperimentConfig, root: Path, meter: Meter, session: dict[str, Any], notify: Callable[[str], None],
    log: logging.Logger, progress: Callable[[str, int, int], None] | None,
) -> Any:  # fmt: skip
    with meter.window("index_load") as index_window:
        retriever, report = open_retriever(config.retrieval, root / "corpus", notify=notify, progress=progress)
    session["energy"]["index_load"] = index_window.record()
    log.info(f"index: {report.action} ({report.reason}), {report.n_chunks} passages")
    return retriever


def _load_model(life: Lifecycle, config: ExperimentConfig, session: dict[str, Any]) -> Backend:
    backend = life.load(lambda: create_backend(config.provider, **backend_options(config)))
    assert life.load_window is not None
    session["model_load_s"] = life.load_s
    session["energy"]["model_load"] = life.load_window.to_dict()
    return backend


def _describe(
    life: Lifecycle, backend: Backend, config: ExperimentConfig, session: dict[str, Any], log: logging.Logger
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the backend's info, the hardware facts) as the summary keeps them."""
    # What the report needs to know of the engine without importing it: does the model run on hardware the
    # run holds (in process or a managed server), or behind someone's API.
    assert life.devices is not None
    backend_info = {**backend.info(), "takes_slot": backend.takes_slot, "measured_devices": life.devices.to_dict()}
    # What this session measured before the engine said where it runs (the index and model loads) is kept to
    # the scopes of the devices it holds, as everything after is (Lifecycle.load focused the meter).
    for phase, record in session["energy"].items():
        session["energy"][phase] = life.meter.scoped(Measurement.from_dict(record)).to_dict()
    hardware = life.hardware(model_disk_bytes(backend_info.get("model_path") or config.model or ""))
    log.info(f"model: {backend_info} loaded in {session['model_load_s']:.2f} s")
    return backend_info, hardware


def _end_session(session: dict[str, Any], wall_start: float, hardware: dict[str, Any], interrupted: bool) -> None:
    """Whatever ended the session (the Lifecycle saved the timeline and closed the engine): its times recorded."""
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
    life: Lifecycle,
    on_progress: Progress | None,
    recorded: Callable[[dict[str, Any] | None], Any],
) -> None:
    """Answer the pending questions in order (runs/loop.py), each record forced to disk as it finishes; stop after
    task.max_consecutive_failures failed questions in a row (a dead or refusing server), saying why in the
    session, so the summary marks the run failed and a rerun resumes it."""
    done = 0

    def store(question: Question, answer: dict[str, Any], window: Measurement | None) -> None:
        nonlocal done
        record = QuestionRecord.model_validate({**answer, "energy": window.to_dict() if window is not None else None})
        record.prefill_energy_j, record.decode_energy_j = question_phase_j(window)
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
    stopped = life.items(task, pending, store, max_consecutive_failures=limit,
                         limit_name="task.max_consecutive_failures", in_flight=in_flight(life))  # fmt: skip
    if stopped:
        session["stopped"] = stopped
        log.error(f"{stopped}; {len(pending) - done} questions not asked; rerun to resume")
        recorded(None)  # a checkpoint now: the stop is in the summary


def _passes_due(
    config: ExperimentConfig, questions: list[Question], records: dict[str, dict[str, Any]],
    further: dict[int, dict[str, dict[str, Any]]], kind: str | None,
) -> bool:  # fmt: skip
    """Further passes are asked for, the run's own pass answered every question, and they are not yet done."""
    if config.task.repeats == 1 and config.task.repeat_until is None:
        return False
    if any(q.id not in records or records[q.id].get("error") for q in questions):
        return False
    done = 1
    while done in further and {q.id for q in questions} <= set(further[done]):
        done += 1
    passes = [pass_figures(n, records if n == 0 else further[n], kind) for n in range(done)]
    return stop_reason(config, passes) is None


def _more_passes(
    config: ExperimentConfig, questions: list[Question], records: dict[str, dict[str, Any]],
    further: dict[int, dict[str, dict[str, Any]]], kind: str | None, run: RunDir, task: WattBotTask,
    life: Lifecycle, sessions: list[dict[str, Any]], log: logging.Logger,
) -> str:  # fmt: skip
    """The further measured passes, each question's record kept with its pass number (a resume goes on)."""
    by_id = {q.id: q for q in questions}
    first = {q.id: records[q.id] for q in questions}

    def answer(number: int, ids: list[str]) -> str | None:
        log.info(f"measured pass {number + 1}: {len(ids)} questions")

        def store(question: Question, result: dict[str, Any], window: Measurement | None) -> None:
            energy = window.to_dict() if window is not None else None
            record = QuestionRecord.model_validate({**result, "energy": energy, "repeat": number})
            record.prefill_energy_j, record.decode_energy_j = question_phase_j(window)
            record.session = len(sessions)
            run.append_result(record)
            further.setdefault(number, {})[question.id] = record.dump()
            for warning in record.energy.warnings if record.energy is not None else []:
                log.warning(f"{question.id} (pass {number + 1}): energy: {warning}")

        limit = config.task.max_consecutive_failures
        return life.items(task, [by_id[q] for q in ids], store, max_consecutive_failures=limit,
                          limit_name="task.max_consecutive_failures", in_flight=in_flight(life))  # fmt: skip

    reason = further_passes(config, first, further, kind, answer)
    log.info(f"measured passes: {1 + len(further)} ({reason})")
    return reason


def _log_mode(task: WattBotTask, config: ExperimentConfig, log: logging.Logger, notify: Callable[[str], None]) -> None:
    """The reasoning state asked for, what it resolved to, and what the family could not honour."""
    if task.mode is None:
        return
    from wattbench.data.models_csv import describe_sent

    log.info(f"reasoning: state '{config.generation.reasoning}', family {task.mode.family}, sent: "
             f"{describe_sent(task.mode)}")  # fmt: skip
    for warning in task.mode_warnings:
        log.warning(f"reasoning: {warning}")
        notify(f"warning: reasoning: {warning}")


def in_flight(life: Lifecycle) -> int:
    """Questions at once: `generation.max_concurrent` on an engine that serves requests concurrently (a server;
    runs/waves.py), else one at a time."""
    return max(1, int(getattr(life.backend, "max_concurrent", 1) or 1))


def question_phase_j(window: Measurement | None) -> tuple[float | None, float | None]:
    """A question's prefill and decode GPU energy: its window split at its answer's first token when it ran
    alone, else its answer call's in-flight shares (runs/waves.py)."""
    if window is None or window.phases or not window.requests:
        return gpu_phase_j(window)
    parts = [r.get("gpu") for r in window.requests]
    if not parts or any(p is None for p in parts):
        return None, None
    return sum(p["prefill_energy_j"] for p in parts if p), sum(p["decode_energy_j"] for p in parts if p)


def _log_question(log: logging.Logger, record: QuestionRecord) -> None:
    for note in record.notes:
        log.warning(f"{record.id}: {note}")
    for warning in record.energy.warnings if record.energy is not None else []:
        log.warning(f"{record.id}: energy: {warning}")
    log.info(
        f"{record.id}: value {record.pred_value!r} ref {record.pred_ref} latency {record.latency_s:.2f} s "
        f"tokens {record.prompt_tokens}+{record.completion_tokens}"
        + (f" attempts {record.attempts}" if record.attempts > 1 else "")
        + (f" error {record.error}" if record.error else "")
    )
