"""`wattbench benchmark` (every config, a subprocess each) and `wattbench scaling` (one family by size)."""

from __future__ import annotations

from pathlib import Path

import typer

from wattbench.cli import app
from wattbench.cli.options import (
    CAMPAIGN_CONFIG,
    DATA_DIR,
    EXECUTOR,
    GPUS,
    RAY_ADDRESS,
    SLOTS,
    as_text,
    executor_overrides,
)

_MANY = {"allow_extra_args": True}


def _echo_outcome(outcome) -> None:
    reason = f": {outcome.reason}" if outcome.reason else ""
    on = f" on {outcome.devices}" if outcome.devices else ""
    took = f" ({outcome.duration_s:.0f} s{on})" if outcome.duration_s else ""
    typer.echo(f"{outcome.status:<11} {outcome.name or outcome.config}{took}{reason}")


@app.command(context_settings=_MANY)
def benchmark(
    ctx: typer.Context,
    config: Path = CAMPAIGN_CONFIG,
    configs: Path = typer.Option(None, "--configs", help="Folder of run configs (default: configs)."),
    provider: list[str] = typer.Option(None, "--provider", help="Only configs of this provider (repeatable)."),
    model: list[str] = typer.Option(None, "--model", help="Only configs whose file, name or model has this key."),
    smoke_test: bool = typer.Option(None, "--smoke-test", help="1 question per model, as <name>-smoke."),
    timeout_min: float = typer.Option(None, "--timeout-min", help="Per-config wall-clock limit (default 30 min)."),
    force: bool = typer.Option(None, "--force", help="Redo complete runs."),
    log_dir: Path = typer.Option(None, "--log-dir", help="Per-config logs and summary (artifacts/benchmark)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Say what would run, run nothing."),
    executor: str = EXECUTOR,
    gpus: str = GPUS,
    slots: int = SLOTS,
    ray_address: str = RAY_ADDRESS,
    data_dir: Path = DATA_DIR,
) -> int:
    """Run every config as its own subprocess with a timeout that kills its process group. --config takes a
    campaign file with the same settings (configs, providers, models, smoke_test, force, log_dir, [executor])."""
    from wattbench.campaigns.benchmark import counts, plan_benchmark, run_benchmark
    from wattbench.campaigns.jobs import Campaign
    from wattbench.config import load_benchmark_config

    keys = [*(model or []), *ctx.args]
    settings = load_benchmark_config(config, {
        "configs": as_text(configs), "providers": provider or None, "models": keys or None, "smoke_test": smoke_test,
        "force": force, "log_dir": as_text(log_dir),
        **executor_overrides(executor, gpus, slots, ray_address, timeout_min, data_dir),
    })  # fmt: skip
    campaign = Campaign.of(settings.executor, Path(settings.log_dir), settings.data_dir, force=settings.force,
                           say=lambda line: typer.echo(line, err=True))  # fmt: skip
    plan = plan_benchmark(Path(settings.configs), providers=settings.providers, models=settings.models,
                          smoke_test=settings.smoke_test, force=settings.force)  # fmt: skip
    if dry_run:
        for outcome in plan.outcomes:
            _echo_outcome(outcome)
        for path, run_config in plan.to_run:
            typer.echo(
                f"would run  {run_config.name} ({run_config.provider}, {run_config.model or 'default'}) from {path}"
            )
        return 0
    outcomes = run_benchmark(plan, campaign, _echo_outcome)
    tally = counts(outcomes)
    typer.echo(
        ", ".join(f"{n} {status.replace('_', '-')}" for status, n in tally.items()) + f"; logs in {campaign.log_dir}"
    )
    if tally["interrupted"]:
        from wattbench.signals import interrupt_exit_code

        return interrupt_exit_code()
    return 1 if tally["failed"] or tally["timed_out"] else 0


def _echo_step(step) -> None:
    figures = f", needs ~{step.need_gb:.1f} GB" if step.need_gb is not None and step.status != "skip" else ""
    reason = f": {step.reason}" if step.reason else ""
    what = f"{step.model} ({step.params_b:g}B) as {step.run}, {step.config_source}" if step.model else ""
    typer.echo(f"{step.status:<9} size {step.size}: {what}{figures}{reason}".replace(": : ", ": "))


@app.command(context_settings=_MANY)
def scaling(
    ctx: typer.Context,
    config: Path = CAMPAIGN_CONFIG,
    family: str = typer.Option(None, "--family", help="Model family as model_sizes.toml names it (qwen2.5)."),
    sizes: list[str] = typer.Option(None, "--sizes", help="Nominal sizes (1.5 3 7); default: all of the family."),
    configs: Path = typer.Option(None, "--configs", help="Folder of run configs to take sizes from (configs)."),
    provider: str = typer.Option(None, "--provider", help="Use configs of this provider (hf, vllm, ...)."),
    skip_existing: bool = typer.Option(None, "--skip-existing", help="Reuse complete runs instead of rerunning."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan, run nothing."),
    timeout_min: float = typer.Option(None, "--timeout-min", help="Per-size wall-clock limit (default 60 min)."),
    out: Path = typer.Option(None, "--out", help="Logs and scaling_comparison.csv/.json (artifacts/scaling)."),
    model_sizes: Path = typer.Option(None, "--model-sizes", help="Extra model_sizes.toml."),
    executor: str = EXECUTOR,
    gpus: str = GPUS,
    slots: int = SLOTS,
    ray_address: str = RAY_ADDRESS,
    data_dir: Path = DATA_DIR,
) -> int:
    """Run a model family by size, freeing the GPU between sizes; compare scores, latency, VRAM and energy.
    --config takes a campaign file with the same settings (family, sizes, configs, provider, out, [executor])."""
    from wattbench.campaigns.jobs import Campaign
    from wattbench.campaigns.scaling import plan_scaling, run_scaling, write_comparison
    from wattbench.config import load_scaling_config
    from wattbench.data.model_sizes import load_sizes
    from wattbench.energy.hardware import free_memory_gb

    settings = load_scaling_config(config, {
        "family": family, "sizes": [*(sizes or []), *ctx.args] or None, "configs": as_text(configs),
        "provider": provider, "skip_existing": skip_existing, "out": as_text(out),
        "model_sizes": as_text(model_sizes),
        **executor_overrides(executor, gpus, slots, ray_address, timeout_min, data_dir),
    })  # fmt: skip
    table = load_sizes(Path(settings.model_sizes) if settings.model_sizes else None)
    campaign = Campaign.of(settings.executor, Path(settings.out), settings.data_dir, sizes=table,
                           say=lambda line: typer.echo(line, err=True))  # fmt: skip
    steps = plan_scaling(settings.family, settings.sizes, table, Path(settings.configs),
                         skip_existing=settings.skip_existing, provider=settings.provider,
                         free_memory=free_memory_gb)  # fmt: skip
    if dry_run:
        for step in steps:
            _echo_step(step)
        return 0
    run_scaling(steps, campaign, _echo_step)
    csv_path, json_path = write_comparison(campaign.log_dir, settings.family, steps)
    typer.echo(f"comparison: {csv_path} and {json_path}")
    return 1 if any(s.status in ("failed", "timed_out") for s in steps) else 0
