"""`wattbench batch`: each selected (model, reasoning state) of a models CSV, run on a prompt set and measured.

Per run: the backend is loaded (its own meter window), warmup prompts run outside the measured window, then
`repeats` measured passes, `batch_size` prompts per generate call, each call in a nested window. A run that
cannot load, or whose server is unreachable, is a failed row; the batch goes on. Ctrl-C lets the current prompt
finish, writes what the run has, and stops; a second Ctrl-C stops at once.
"""

from __future__ import annotations

import json
import signal
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wattbench.backends.base import AuthError, Backend, Completion, preflight
from wattbench.backends.registry import backend_class, create_backend, resolve_backend
from wattbench.config import BatchConfig
from wattbench.data.models_csv import ModelSpec
from wattbench.energy.base import Measurement, Meter
from wattbench.energy.carbon import J_PER_WH, co2e_g
from wattbench.energy.hardware import system_facts
from wattbench.energy.meters import make_meter
from wattbench.errors import WattbenchError
from wattbench.reasoning import ReasoningMode
from wattbench.runs.outputs import shared_package_note
from wattbench.store.batch_dir import BatchDir, close_logger
from wattbench.store.rundir import append_jsonl, write_atomically
from wattbench.tasks.textgen import build_request, evaluate, sha256

Notify = Callable[[str], None]


class RunFailed(Exception):
    """A run that cannot start (model not loadable, server unreachable); the batch records it and goes on."""


@dataclass
class StopRequest:
    """Set by the first Ctrl-C: the run finishes its current prompt, writes what it has, and the batch ends."""

    requested: bool = False


@dataclass
class BatchOutcome:
    rows: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[ModelSpec] = field(default_factory=list)
    unsupported: list[ModelSpec] = field(default_factory=list)
    interrupted: bool = False


def check_endpoint(base_url: str, model: str, timeout_s: float = 5.0) -> None:
    """Fail the run at once when the server is down or serves another model (not after every prompt's retries)."""
    try:
        with urllib.request.urlopen(f"{base_url}/models", timeout=timeout_s) as response:  # noqa: S310 — user's URL
            body = response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        if exc.code < 500 or exc.code == 501:
            return  # up, but without a model list (or hiding it): the prompts will tell
        raise RunFailed(f"endpoint {base_url} answered HTTP {exc.code}; check the server") from None
    except (OSError, urllib.error.URLError) as exc:
        reason = getattr(exc, "reason", exc)
        raise RunFailed(f"endpoint {base_url} unreachable ({reason}); start the server or fix --endpoint") from None
    try:
        served = [m.get("id") for m in json.loads(body).get("data", [])]
    except (json.JSONDecodeError, AttributeError):
        return
    if served and model not in served:
        raise RunFailed(
            f"endpoint {base_url} serves {', '.join(map(str, served))}, not {model}; "
            "select the served model with --model-name or point --endpoint at its server"
        )


def find_gguf(gguf_dir: Path, model_id: str) -> Path | None:
    """The .gguf in `gguf_dir` whose file name contains the model's name (case-insensitive), shortest first."""
    name = model_id.split("/")[-1].lower()
    matches = sorted((p for p in Path(gguf_dir).glob("*.gguf") if name in p.name.lower()), key=lambda p: len(p.name))
    return matches[0] if matches else None


def backend_plan(spec: ModelSpec, config: BatchConfig) -> tuple[str, dict[str, Any]]:
    """(registry name, options) that run this model with this config. The engine maps the batch settings to its
    options (`batch_options`); what is batch-specific stays here: a GGUF found by name, and `vllm` with an
    `--endpoint` meaning a running server, reached as any OpenAI-compatible one."""
    try:
        name = resolve_backend(config.backend)
    except WattbenchError as exc:
        raise WattbenchError(f"--backend: {exc}") from None
    model = spec.model_id
    if name == "llamacpp" and config.gguf_dir:
        found = find_gguf(Path(config.gguf_dir), model)
        if found is None:
            raise RunFailed(f"no .gguf for {model} in {config.gguf_dir} (matched by name '{model.split('/')[-1]}')")
        model = str(found)
    if name == "vllm" and config.endpoint:
        name = "openai"
    return name, backend_class(name).batch_options(model, config)  # type: ignore[attr-defined]


@contextmanager
def _graceful_stop(stop: StopRequest, notify: Notify) -> Iterator[None]:
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
    meter = meter or make_meter(config.energy.meter, sampler_hz=None, gpu_indices=config.gpus)
    facts = system_facts()
    if any(s.scopes() for s in meter.sources) and config.energy.idle_seconds > 0:
        meter.measure_idle(config.energy.idle_seconds)
    with _graceful_stop(stop, notify):
        for spec in specs:
            if not spec.supported:
                outcome.unsupported.append(spec)
                notify(f"row {spec.row.line} {spec.model_id}: skipped, {spec.unsupported_reason}")
                continue
            if not force and batch.completed(spec.run_key):
                outcome.skipped.append(spec)
                notify(f"{spec.model_id} ({spec.state_label}): already completed; --force to run it again")
                continue
            row = run_one(spec, prompts, config, batch, meter, facts, stop, notify)
            outcome.rows.append(row)
            if stop.requested:
                outcome.interrupted = True
                break
    return outcome


def harmony_usable() -> bool:
    from wattbench.harmony import harmony_status

    return harmony_status()[0]


def _harmony_line(mode: ReasoningMode) -> str:
    if not mode.harmony:
        return "Harmony: off"
    from wattbench.harmony import harmony_status

    usable, why = harmony_status()
    how = "openai-harmony renderer" if usable else f"the model's chat template with reasoning_effort ({why})"
    return f"Harmony: on, effort {mode.effort}, rendered by {how}; servers get reasoning_effort in the request"


def run_one(
    spec: ModelSpec,
    prompts: list[str],
    config: BatchConfig,
    batch: BatchDir,
    meter: Meter,
    facts: dict[str, Any],
    stop: StopRequest,
    notify: Notify,
) -> dict[str, Any]:
    assert spec.mode is not None
    mode, key = spec.mode, spec.run_key
    run_path = batch.start_run(key)
    log, log_path = batch.logger(key)
    run_id = uuid.uuid4().hex[:12]
    started_at = time.strftime("%Y-%m-%dT%H:%M:%S")
    log.info(f"Starting benchmark for {spec.model_id}")
    log.info(
        f"Config: backend {config.backend}{' at ' + config.endpoint if config.endpoint else ''}, "
        f"{len(prompts)} prompts x {config.repeats} repeats, {config.warmup_prompts} warmup, "
        f"batch size {config.batch_size}, run {run_id}"
    )
    log.info(
        f"Reasoning: state '{spec.state_label}', family {mode.family}, control {mode.reasoning_control}, "
        f"reasoning {mode.reasoning}, effort {mode.effort}, chat_template_kwargs {mode.chat_template_kwargs}, "
        f"system prompt {mode.system_prompt!r}, prompt prefix {mode.prompt_prefix!r}, "
        f"assistant prefix {mode.assistant_prefix!r}, "
        f"{'exactly' if mode.fixed_length else 'at most'} {mode.max_new_tokens} new tokens"
    )
    log.info(_harmony_line(mode))
    for warning in spec.warnings:
        log.warning(f"row {spec.row.line}: {warning}")
    notify(f"{spec.model_id} ({spec.state_label or 'default'}): {len(prompts) * config.repeats} prompts")
    records: list[dict[str, Any]] = []
    first_rendered: str | None = None
    error: str | None = None
    status = "completed"
    measured: Measurement | None = None
    backend: Backend | None = None
    load_s: float | None = None
    try:
        name, options = backend_plan(spec, config)
        if config.endpoint and name == "openai":
            check_endpoint(options["base_url"], spec.model_id)
        load_started = time.perf_counter()
        try:
            backend = create_backend(name, **options)
        except WattbenchError as exc:
            hint = (
                " (pass --gguf-dir with its .gguf, or run it with --backend hf or vllm)"
                if name == "llamacpp" and not config.gguf_dir
                else ""
            )
            raise RunFailed(f"model could not be loaded: {exc}{hint}") from None
        load_s = time.perf_counter() - load_started
        log.info(f"Model loaded in {load_s:.2f} s: {backend.info()}")
        try:
            for note in preflight(backend):  # a refused key fails the row once, not once per prompt
                log.info(note)
        except AuthError as exc:
            raise RunFailed(str(exc)) from None
        harmony = mode.harmony and name in ("llamacpp", "hf") and harmony_usable()
        _warmup(backend, prompts, mode, config, log, harmony)
        with meter.window("measured") as window:
            first_rendered, failed_run = _measured_passes(
                backend, prompts, mode, config, meter, run_path, records, stop, log, harmony
            )
        measured = window.result
        if failed_run:
            status, error = "failed", failed_run
        elif stop.requested:
            status, error = "interrupted", "interrupted by Ctrl-C; rerun to redo this run"
    except RunFailed as exc:
        status, error = "failed", str(exc)
        log.error(error)
    except KeyboardInterrupt:
        status, error = "interrupted", "interrupted by Ctrl-C; rerun to redo this run"
        stop.requested = True
    except Exception as exc:  # an engine crash is this run's failure; the batch goes on to the next model
        status, error = "failed", f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        log.exception(f"Run failed: {error}")
    finally:
        if backend is not None:
            backend.close()
    planned = len(prompts) * config.repeats
    row = master_row(spec, config, records, planned, measured, facts, status, error, run_id, started_at)
    summary = {
        "schema_version": 1,
        "run_id": run_id,
        "model": spec.model_id,
        "row": spec.row.line,
        "status": status,
        "error": error,
        "reasoning_state": spec.state_label,
        "mode": mode.to_dict(),
        "warnings": spec.warnings,
        "config": config.model_dump(),
        "model_load_s": load_s,
        "first_rendered_prompt": first_rendered,
        "energy": measured.to_dict() if measured else None,
        "energy_unavailable": meter.unavailable(),
        "energy_sharing": shared_package_note(measured),
        "hardware": {"gpus": facts.get("gpus"), "cpu": facts.get("cpu"), "hostname": facts.get("hostname")},
        "log": str(log_path),
        "results": row,
    }
    write_atomically(run_path / "summary.json", json.dumps(summary, indent=2, default=str) + "\n")
    batch.upsert_master(row)
    _log_totals(log, row, status, error, meter.unavailable())
    close_logger(log)
    notify(f"{spec.model_id} ({spec.state_label or 'default'}): {status}" + (f": {error}" if error else ""))
    return row


def _warmup(
    backend: Backend, prompts: list[str], mode: ReasoningMode, config: BatchConfig, log: Any, harmony: bool
) -> None:
    if not config.warmup_prompts:
        return
    chosen = [prompts[i % len(prompts)] for i in range(config.warmup_prompts)]
    started = time.perf_counter()
    results = backend.generate([build_request(p, mode, seed=config.seed, harmony_render=harmony) for p in chosen])
    failed = [c.error for c in results if not c.ok]
    log.info(f"Warmup: {len(chosen)} prompts in {time.perf_counter() - started:.2f} s (not measured)")
    if failed and len(failed) == len(results):
        raise RunFailed(f"every warmup prompt failed; first error: {failed[0]}")


def _measured_passes(
    backend: Backend,
    prompts: list[str],
    mode: ReasoningMode,
    config: BatchConfig,
    meter: Meter,
    run_path: Path,
    records: list[dict[str, Any]],
    stop: StopRequest,
    log: Any,
    harmony: bool,
) -> tuple[str | None, str | None]:
    """Run the measured prompts, appending records; returns (first rendered prompt, why the run gave up)."""
    first_rendered: str | None = None
    consecutive_failures = 0
    total = len(prompts) * config.repeats
    for repeat in range(config.repeats):
        for start in range(0, len(prompts), config.batch_size):
            chunk = list(enumerate(prompts[start : start + config.batch_size], start=start))
            requests = [
                build_request(p, mode, seed=config.seed, request_id=f"{repeat}:{i}", harmony_render=harmony)
                for i, p in chunk
            ]
            with meter.window(f"prompts {start}-{start + len(chunk) - 1}") as window:
                completions = backend.generate(requests)
            energy = window.result.totals_j() if window.result else {}
            for (index, _), request, completion in zip(chunk, requests, completions):
                record, rendered = _record(index, repeat, request, completion, mode, energy, len(chunk))
                first_rendered = first_rendered if first_rendered is not None else rendered
                records.append(record)
                append_jsonl(run_path / "prompts.jsonl", record)
                _log_prompt(log, record, len(records), total)
                consecutive_failures = 0 if record["status"] == "ok" else consecutive_failures + 1
            if consecutive_failures >= config.max_consecutive_failures:
                reason = (
                    f"stopped after {consecutive_failures} failed prompts in a row; last error: {records[-1]['error']}"
                )
                log.error(reason)
                return first_rendered, reason
            if stop.requested:
                log.info(f"Interrupted after {len(records)} of {total} prompts")
                return first_rendered, None
    return first_rendered, None


def _record(
    index: int,
    repeat: int,
    request: Any,
    completion: Completion,
    mode: ReasoningMode,
    energy: dict[str, float | None],
    chunk_size: int,
) -> tuple[dict[str, Any], str]:
    """(the prompt's record, its rendered prompt)."""
    evaluated, rendered = evaluate(request, completion, mode)
    record: dict[str, Any] = {"prompt_index": index, "repeat": repeat, **evaluated}
    # A generate call is metered as a whole; each prompt of it is given an equal share.
    gpu_j, cpu_j = energy.get("gpu"), energy.get("cpu")
    record["gpu_energy_j"] = None if gpu_j is None else gpu_j / chunk_size
    record["cpu_energy_j"] = None if cpu_j is None else cpu_j / chunk_size
    return record, rendered


def _log_prompt(log: Any, record: dict[str, Any], done: int, total: int) -> None:
    if record["status"] != "ok":
        log.error(f"Prompt {done}/{total} (#{record['prompt_index']}) failed: {record['error']}")
        return
    ttft = f", ttft {record['ttft_s']:.3f} s" if record["ttft_s"] is not None else ""
    log.info(
        f"Prompt {done}/{total} (#{record['prompt_index']}): latency {record['latency_s']:.3f} s{ttft}, "
        f"tokens {record['prompt_tokens']} in / {record['completion_tokens']} out "
        f"(reasoning {record['reasoning_tokens']}), finish {record['finish_reason']}"
    )


def _fmt(value: Any, unit: str = "", digits: int = 3) -> str:
    if value is None:
        return "n/a"
    return f"{value:.{digits}f}{unit}" if isinstance(value, float) else f"{value}{unit}"


def _log_totals(log: Any, row: dict[str, Any], status: str, error: str | None, unavailable: dict[str, str]) -> None:
    log.info(
        f"Totals: {row['successful_prompts']}/{row['total_prompts']} prompts ok, "
        f"{_fmt(row['total_completion_tokens'])} output tokens in {_fmt(row['total_duration_seconds'], ' s', 2)}, "
        f"{_fmt(row['throughput_tokens_per_second'], ' tokens/s', 1)}, "
        f"avg latency {_fmt(row['avg_latency_seconds'], ' s')}"
    )
    if row["gpu_energy_wh"] is None and row["cpu_energy_wh"] is None:
        why = "; ".join(f"{scope}: {reason}" for scope, reason in unavailable.items()) or "no meter"
        log.info(f"Energy: not measured ({why})")
    else:
        log.info(
            f"Energy: GPU {_fmt(row['gpu_energy_wh'], ' Wh', 4)}, CPU {_fmt(row['cpu_energy_wh'], ' Wh', 4)} "
            f"({row['energy_method']}), {_fmt(row['tokens_per_joule'], ' output tokens/J')}, "
            f"{_fmt(row['wh_per_1000_queries'], ' Wh/1000 queries')}"
        )
    if error:
        log.error(f"Run {status}: {error}")
    else:
        log.info(f"Run {status}")


def _sum(records: list[dict[str, Any]], key: str) -> int | None:
    values = [r[key] for r in records if r.get(key) is not None]
    return sum(values) if values else None


def master_row(
    spec: ModelSpec,
    config: BatchConfig,
    records: list[dict[str, Any]],
    planned: int,
    measured: Measurement | None,
    facts: dict[str, Any],
    status: str,
    error: str | None,
    run_id: str,
    timestamp: str,
) -> dict[str, Any]:
    """One master_results.csv row. Unknown values are None (an empty cell), never 0. Prompts never run (a failed
    load, a dead server, Ctrl-C) count as failed: `total_prompts` is what the run set out to do."""
    assert spec.mode is not None
    ok = [r for r in records if r["status"] == "ok"]
    prompt_tokens, completion_tokens = _sum(ok, "prompt_tokens"), _sum(ok, "completion_tokens")
    duration = measured.duration_s if measured else None
    gpu_j = measured.total_j("gpu") if measured else None
    cpu_j = measured.total_j("cpu") if measured else None
    gpu_wh = None if gpu_j is None else gpu_j / J_PER_WH
    gpus = facts.get("gpus") or []
    ttfts = [r["ttft_s"] for r in ok if r.get("ttft_s") is not None]
    idle = sum(v for s, v in (measured.idle_power_w if measured else {}).items() if s.startswith("gpu"))
    return {
        "model_name": spec.model_id,
        "model_class": spec.row.model_class,
        "task": spec.row.task,
        "reasoning_state": spec.state_label,
        "total_prompts": planned,
        "successful_prompts": len(ok),
        "failed_prompts": planned - len(ok),
        "total_duration_seconds": duration,
        "avg_latency_seconds": sum(r["latency_s"] for r in ok) / len(ok) if ok else None,
        "total_tokens": None
        if prompt_tokens is None or completion_tokens is None
        else prompt_tokens + completion_tokens,
        "total_prompt_tokens": prompt_tokens,
        "total_completion_tokens": completion_tokens,
        "throughput_tokens_per_second": completion_tokens / duration if completion_tokens and duration else None,
        "gpu_energy_wh": gpu_wh,
        "co2_emissions_g": co2e_g(gpu_wh, config.energy.grid_intensity_g_per_kwh),
        "tokens_per_joule": completion_tokens / gpu_j if completion_tokens and gpu_j else None,
        "avg_energy_per_prompt_wh": gpu_wh / len(ok) if gpu_wh is not None and ok else None,
        "timestamp": timestamp,
        "error_message": error,
        "wh_per_1000_queries": 1000 * gpu_wh / len(ok) if gpu_wh is not None and ok else None,
        "total_reasoning_tokens": _sum(ok, "reasoning_tokens"),
        "total_answer_tokens": _sum(ok, "answer_tokens"),
        "avg_ttft_seconds": sum(ttfts) / len(ttfts) if ttfts else None,
        "prompts_cap_reached_while_thinking": sum(1 for r in ok if r.get("answer_reached") is False),
        "cpu_energy_wh": None if cpu_j is None else cpu_j / J_PER_WH,
        "energy_method": ",".join(sorted(set(measured.method.values()))) if measured and measured.method else None,
        "idle_power_w": idle if measured and measured.idle_power_w else None,
        "gpu_name": gpus[0]["name"] if gpus else None,
        "gpu_count": len(gpus),
        "status": status,
        "backend": config.backend,
        "family": spec.mode.family,
        "reasoning_control": spec.mode.reasoning_control,
        "reasoning": spec.mode.reasoning,
        "effort": spec.mode.effort,
        "max_new_tokens": spec.mode.max_new_tokens,
        "fixed_length": spec.mode.fixed_length,
        "warmup_prompts": config.warmup_prompts,
        "repeats": config.repeats,
        "rendered_prompts_sha256": sha256("".join(r["rendered_prompt_sha256"] for r in records)) if records else None,
        "run_id": run_id,
    }
