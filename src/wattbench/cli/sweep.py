"""`wattbench benchmark` (every config, a subprocess each) and `wattbench scaling` (one family by size)."""

from __future__ import annotations

from pathlib import Path

import typer

from wattbench.cli import app
from wattbench.cli.compare import _DATA

_MANY = {"allow_extra_args": True}


def _echo_outcome(outcome) -> None:
    reason = f": {outcome.reason}" if outcome.reason else ""
    took = f" ({outcome.duration_s:.0f} s)" if outcome.duration_s else ""
    typer.echo(f"{outcome.status:<11} {outcome.name or outcome.config}{took}{reason}")


@app.command(context_settings=_MANY)
def benchmark(
    ctx: typer.Context,
    configs: Path = typer.Option(Path("configs"), "--configs", help="Folder of run configs (TOML, YAML, .py)."),
    provider: list[str] = typer.Option(None, "--provider", help="Only configs of this provider (repeatable)."),
    model: list[str] = typer.Option(None, "--model", help="Only configs whose file, name or model has this key."),
    smoke_test: bool = typer.Option(False, "--smoke-test", help="1 question per model, as <name>-smoke."),
    timeout_min: float = typer.Option(30.0, "--timeout-min", help="Per-config wall-clock limit (minutes)."),
    force: bool = typer.Option(False, "--force", help="Redo complete runs."),
    log_dir: Path = typer.Option(Path("artifacts/benchmark"), "--log-dir", help="Per-config logs and summary."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Say what would run, run nothing."),
    data_dir: Path = _DATA,
) -> int:
    """Run every config as its own subprocess with a timeout that kills its process group."""
    from wattbench.runner.benchmark import counts, plan_benchmark, run_benchmark

    if timeout_min <= 0:
        from wattbench.errors import WattbenchError

        raise WattbenchError(f"--timeout-min {timeout_min}: give a positive number of minutes")
    keys = [*(model or []), *ctx.args]
    plan = plan_benchmark(configs, providers=provider or None, models=keys or None, smoke_test=smoke_test, force=force)
    if dry_run:
        for outcome in plan.outcomes:
            _echo_outcome(outcome)
        for path, config in plan.to_run:
            typer.echo(f"would run  {config.name} ({config.provider}, {config.model or 'default'}) from {path}")
        return 0
    outcomes = run_benchmark(
        plan, timeout_s=timeout_min * 60, log_dir=log_dir, data_dir=data_dir, force=force, notify=_echo_outcome
    )
    tally = counts(outcomes)
    typer.echo(", ".join(f"{n} {status.replace('_', '-')}" for status, n in tally.items()) + f"; logs in {log_dir}")
    if tally["interrupted"]:
        return 130
    return 1 if tally["failed"] or tally["timed_out"] else 0
