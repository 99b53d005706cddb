"""`wattbench run` and `wattbench eval`: the WattBot RAG experiment."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from wattbench.cli import app
from wattbench.cli.options import DATA_DIR, ENGINE_GPUS, METER_URL, gpu_list


def _progress(quiet: bool):
    """A rich progress bar with ETA, questions/min and the running score (nothing with --quiet)."""
    if quiet:
        return None, None
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    bar = Progress(
        TextColumn("questions"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[rate]}"),
        TextColumn("{task.fields[score]}"),
        console=Console(stderr=True),
    )
    state: dict[str, Any] = {"task": None, "scores": [], "started": None}

    def update(done: int, total: int, record: dict[str, Any]) -> None:
        import time

        if state["task"] is None:
            bar.start()
            state["task"] = bar.add_task("questions", total=total, rate="", score="")
            state["started"] = time.perf_counter() - record["latency_s"]
        if record.get("weighted_score") is not None:
            state["scores"].append(record["weighted_score"])
        elapsed = time.perf_counter() - state["started"]
        rate = f"{60 * done / elapsed:.1f} q/min" if elapsed > 0 else ""
        score = f"score {sum(state['scores']) / len(state['scores']):.3f}" if state["scores"] else ""
        bar.update(state["task"], completed=done, rate=rate, score=score)

    def stop() -> None:
        # A bar that never started must not be stopped: rich would print a blank line before the error.
        if state["task"] is not None:
            bar.stop()

    return update, stop


def _run(
    config: Path | None,
    name: str | None,
    questions: Path | None,
    limit: int | None,
    provider: str | None,
    model: str | None,
    hf_model: str | None,
    resume: bool,
    force: bool,
    quiet: bool,
    data_dir: Path | None,
    base_url: str | None = None,
    meter_url: str | None = None,
    passes: dict[str, Any] | None = None,
):
    from wattbench.backends.registry import HUB_ENGINE
    from wattbench.runs.checks import load_run_config
    from wattbench.runs.wattbot import run_experiment

    if hf_model:
        provider, model = provider or HUB_ENGINE, hf_model
    overrides = {
        "name": name,
        "questions": str(questions) if questions else None,
        "limit": limit,
        "provider": provider,
        "model": model,
        "generation.base_url": base_url,
        "energy.meter_url": meter_url,
        **(passes or {}),
    }
    settings, warnings = load_run_config(config, overrides, FLAGS)
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    from wattbench.progress import StageProgress

    update, stop_bar = _progress(quiet)
    try:
        with StageProgress(quiet) as index_progress:  # a first run builds the index before any question
            result = run_experiment(
                settings,
                data_dir=data_dir,
                resume=resume,
                force=force,
                notify=lambda m: print(m, file=sys.stderr),
                on_progress=update,
                on_index_progress=index_progress,
            )
    finally:
        if stop_bar is not None:
            stop_bar()
    _echo_result(result)
    if result.interrupted:
        typer.echo("interrupted: rerun the same command to resume", err=True)
        from wattbench.signals import interrupt_exit_code

        raise typer.Exit(interrupt_exit_code())
    if result.failed:
        raise typer.Exit(1)


def _echo_result(result: Any) -> None:
    """The run's scores, time, tokens, energy, run dir and status line."""
    from wattbench.cli.score import format_report
    from wattbench.scoring.wattbot import ScoreReport

    summary = result.summary
    for report in summary["scores"].values():
        typer.echo(format_report(ScoreReport.from_dict(report)))
    timing, energy = summary["timing"], summary["energy"]
    typer.echo(
        f"{timing['total_time_s']:.1f} s, {timing['questions_per_min'] or 0:.1f} questions/min, "
        f"tokens {summary['input_tokens']} in / {summary['output_tokens']} out"
    )
    typer.echo(energy_line(energy))
    typer.echo(f"run dir: {result.run_dir}")
    typer.echo(status_line(summary))


FLAGS = {
    "name": "--name",
    "questions": "--questions",
    "limit": "--limit",
    "provider": "--provider",
    "model": "--model",
    "generation.base_url": "--base-url",
    "energy.meter_url": "--meter-url",
    "generation.gpus": "--gpus",
    "generation.reasoning": "--reasoning",
    "task.repeats": "--repeats",
    "task.repeat_until": "--repeat-until",
    "task.max_repeats": "--max-repeats",
}
"""The config path each flag overrides, so an error about a flag's value names the flag."""


def energy_line(energy: dict[str, Any]) -> str:
    """The headline scope's question energy, each other kind beside it, the total when it exists, and why
    anything is missing."""
    parts = []
    for kind, figures in (energy.get("questions_by_scope") or {}).items():
        joules, per = figures.get("energy_j"), figures.get("wh_per_query")
        if joules is not None:
            star = " (headline)" if kind == energy.get("scope") else ""
            each = f", {per:.5f} Wh/question" if per is not None else ""
            parts.append(f"{kind}{star} {joules:.1f} J for the questions{each}")
    if energy.get("total_j") is not None:
        parts.append(f"total {energy['total_j']:.1f} J with loads")
    line = "energy: " + ("; ".join(parts) if parts else "not measured")
    return line + "".join(f"; {scope}: {why}" for scope, why in energy["unavailable"].items())


def status_line(summary: dict[str, Any]) -> str:
    """The run's last line: how it ended and how many questions failed or could not be parsed."""
    from wattbench.runs.outputs import run_status

    status = run_status(summary)
    line = (
        f"run {status}: {summary['num_answered']}/{summary['num_questions']} answered, "
        f"{summary['num_failed']} failed, {summary['num_unparseable']} unparseable"
    )
    if summary.get("num_recovered"):
        line += f" ({summary['num_recovered']} incomplete JSON answers read)"
    if summary.get("stop_reason"):
        line += f"; {summary['stop_reason']}"
    elif status != "complete":
        line += "; rerun the same command to resume"
    return line


_CONFIG = typer.Option(None, "--config", help="TOML, YAML or seed-style .py config.")
_NAME = typer.Option(None, "--name", help="Run name (run dir artifacts/experiments/<name>).")
_QUESTIONS = typer.Option(None, "--questions", help="Question CSV (default: the train questions).")
_LIMIT = typer.Option(None, "--limit", help="Only the first N questions.")
_PROVIDER = typer.Option(None, "--provider", help="Backend: llamacpp (default), ...")
_MODEL = typer.Option(None, "--model", help="Model id or path (default: SmolLM2-135M-Instruct GGUF).")
_HF_MODEL = typer.Option(None, "--hf-model", help="Seed habit: a Hugging Face model id for the hf backend.")
_RESUME = typer.Option(True, "--resume/--no-resume", help="Continue an existing run dir (default) or refuse.")
_FORCE = typer.Option(False, "--force", help="Delete an existing run dir and start over.")
_QUIET = typer.Option(False, "--quiet", help="No progress bar; logs go to run.log.")
_DATA = DATA_DIR
_BASE_URL = typer.Option(None, "--base-url", help="OpenAI-compatible server URL ending in /v1 (openai backend).")


@app.command()
def run(
    config: Path = _CONFIG,
    name: str = _NAME,
    questions: Path = _QUESTIONS,
    limit: int = _LIMIT,
    provider: str = _PROVIDER,
    model: str = _MODEL,
    hf_model: str = _HF_MODEL,
    resume: bool = _RESUME,
    force: bool = _FORCE,
    quiet: bool = _QUIET,
    data_dir: Path = _DATA,
    base_url: str = _BASE_URL,
    meter_url: str = METER_URL,
    gpus: str = ENGINE_GPUS,
    reasoning: str = typer.Option(
        None, "--reasoning", help="Reasoning state in the models CSV's words: Off, On, On (High|Medium|Low)."
    ),
    repeats: int = typer.Option(None, "--repeats", help="Measured passes over the questions (task.repeats, 1)."),
    repeat_until: float = typer.Option(
        None,
        "--repeat-until",
        help="Add passes until the energy per question's "
        "95% interval is within this fraction of its mean (task.repeat_until).",
    ),
    max_repeats: int = typer.Option(None, "--max-repeats", help="With --repeat-until: the most passes (10)."),
) -> None:
    """Run a model over the WattBot questions with retrieval; write a resumable run dir and print the score.
    Exit 1 when the run failed (stopped on failures, or no question got an answer), 2 on bad input."""
    passes = {"task.repeats": repeats, "task.repeat_until": repeat_until, "task.max_repeats": max_repeats,
              "generation.gpus": gpu_list(gpus), "generation.reasoning": reasoning}  # fmt: skip
    _run(config, name, questions, limit, provider, model, hf_model, resume, force, quiet, data_dir, base_url,
         meter_url, passes)  # fmt: skip


# The seed's scripts call it "eval" (run + score); it is the same command.
app.command(name="eval", help="Same as run: the seed's name for run + score.")(run)
