"""`wattbench benchmark` (every config, a subprocess each) and `wattbench scaling` (one family by size)."""

from __future__ import annotations

from pathlib import Path

import typer

from wattbench.cli import app
from wattbench.cli.compare import _DATA
from wattbench.cli.options import EXECUTOR, GPUS, RAY_ADDRESS, SLOTS, executor_choice, timeout_s

_MANY = {"allow_extra_args": True}


def _echo_outcome(outcome) -> None:
    reason = f": {outcome.reason}" if outcome.reason else ""
    on = f" on {outcome.devices}" if outcome.devices else ""
    took = f" ({outcome.duration_s:.0f} s{on})" if outcome.duration_s else ""
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
    executor: str = EXECUTOR,
    gpus: str = GPUS,
    slots: int = SLOTS,
    ray_address: str = RAY_ADDRESS,
    data_dir: Path = _DATA,
) -> int:
    """Run every config as its own subprocess with a timeout that kills its process group."""
    import sys

    from wattbench.campaigns.benchmark import counts, plan_benchmark, run_benchmark
    from wattbench.campaigns.jobs import Campaign

    choice = executor_choice(executor, gpus, slots, ray_address)
    keys = [*(model or []), *ctx.args]
    plan = plan_benchmark(configs, providers=provider or None, models=keys or None, smoke_test=smoke_test, force=force)
    if dry_run:
        for outcome in plan.outcomes:
            _echo_outcome(outcome)
        for path, config in plan.to_run:
            typer.echo(f"would run  {config.name} ({config.provider}, {config.model or 'default'}) from {path}")
        return 0
    campaign = Campaign(choice, log_dir, data_dir, force, timeout_s(timeout_min),
                        say=lambda line: print(line, file=sys.stderr))  # fmt: skip
    outcomes = run_benchmark(plan, campaign, _echo_outcome)
    tally = counts(outcomes)
    typer.echo(", ".join(f"{n} {status.replace('_', '-')}" for status, n in tally.items()) + f"; logs in {log_dir}")
    if tally["interrupted"]:
        return 130
    return 1 if tally["failed"] or tally["timed_out"] else 0


def _echo_step(step) -> None:
    figures = f", needs ~{step.need_gb:.1f} GB" if step.need_gb is not None and step.status != "skip" else ""
    reason = f": {step.reason}" if step.reason else ""
    what = f"{step.model} ({step.params_b:g}B) as {step.run}, {step.config_source}" if step.model else ""
    typer.echo(f"{step.status:<9} size {step.size}: {what}{figures}{reason}".replace(": : ", ": "))


@app.command(context_settings=_MANY)
def scaling(
    ctx: typer.Context,
    family: str = typer.Option(..., "--family", help="Model family as model_sizes.toml names it (qwen2.5)."),
    sizes: list[str] = typer.Option(None, "--sizes", help="Nominal sizes (1.5 3 7); default: all of the family."),
    configs: Path = typer.Option(Path("configs"), "--configs", help="Folder of run configs to take sizes from."),
    provider: str = typer.Option(None, "--provider", help="Use configs of this provider (hf, vllm, ...)."),
    skip_existing: bool = typer.Option(False, "--skip-existing", help="Reuse complete runs instead of rerunning."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan, run nothing."),
    timeout_min: float = typer.Option(60.0, "--timeout-min", help="Per-size wall-clock limit (minutes)."),
    out: Path = typer.Option(Path("artifacts/scaling"), "--out", help="Logs and scaling_comparison.csv/.json."),
    model_sizes: Path = typer.Option(None, "--model-sizes", help="Extra model_sizes.toml."),
    executor: str = EXECUTOR,
    gpus: str = GPUS,
    slots: int = SLOTS,
    ray_address: str = RAY_ADDRESS,
    data_dir: Path = _DATA,
) -> int:
    """Run a model family by size, freeing the GPU between sizes; compare scores, latency, VRAM and energy."""
    from wattbench.campaigns.jobs import Campaign
    from wattbench.campaigns.scaling import plan_scaling, run_scaling, write_comparison
    from wattbench.data.model_sizes import load_sizes
    from wattbench.energy.hardware import free_memory_gb

    choice = executor_choice(executor, gpus, slots, ray_address)
    table = load_sizes(model_sizes)
    steps = plan_scaling(
        family,
        [*(sizes or []), *ctx.args] or None,
        table,
        configs,
        skip_existing=skip_existing,
        provider=provider,
        free_memory=free_memory_gb,
    )
    if dry_run:
        for step in steps:
            _echo_step(step)
        return 0
    campaign = Campaign(choice, out, data_dir, timeout_s=timeout_s(timeout_min), sizes=table,
                        say=lambda line: typer.echo(line, err=True))  # fmt: skip
    run_scaling(steps, campaign, _echo_step)
    csv_path, json_path = write_comparison(out, family, steps)
    typer.echo(f"comparison: {csv_path} and {json_path}")
    return 1 if any(s.status in ("failed", "timed_out") for s in steps) else 0
