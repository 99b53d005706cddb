"""`wattbench matrix` and `wattbench ensemble`: comparing and combining WattBot runs."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from wattbench.cli import app
from wattbench.cli.options import DATA_DIR, EXECUTOR, GPUS, RAY_ADDRESS, SLOTS, executor_choice, timeout_s

_EXPERIMENTS = typer.Option(Path("artifacts/experiments"), "--experiments-dir", help="Where run dirs are.")
_DATA = DATA_DIR


def _train_questions(data_dir: Path | None) -> Path:
    from wattbench.data.paths import resolve_data_dir, wattbot_dir

    return wattbot_dir(resolve_data_dir(data_dir)) / "train_QA.csv"


# `--experiments A B C` and a shell-expanded `--submissions runs/*.csv` give one option several values: the
# values after the first arrive as extra arguments and are added back here.
_MANY = {"allow_extra_args": True}


@app.command(context_settings=_MANY)
def matrix(
    ctx: typer.Context,
    submissions: list[str] = typer.Option(None, "--submissions", help="Glob of submission CSVs or run dirs."),
    solution: Path = typer.Option(None, "--solution", help="Solution CSV (default: the train questions)."),
    output: Path = typer.Option(Path("artifacts/results_matrix.csv"), "--output", help="Matrix CSV to write."),
    mode: str = typer.Option("kaggle", "--mode", help="kaggle (the official metric) or lenient."),
    experiments_dir: Path = _EXPERIMENTS,
    data_dir: Path = _DATA,
) -> None:
    """One row per question, five columns per run: value, refs, and how each scored."""
    from wattbench.errors import WattbenchError
    from wattbench.report.matrix import build_matrix, find_sources, write_matrix
    from wattbench.scoring.wattbot import MODES

    if mode not in MODES:
        raise WattbenchError(f"--mode: unknown mode '{mode}'; use one of: {', '.join(MODES)}")
    sources = find_sources([*(submissions or []), *ctx.args] or None, experiments_dir)
    columns, rows, warnings = build_matrix(solution or _train_questions(data_dir), sources, mode)
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    write_matrix(output, columns, rows)
    runs = (len(columns) - 5) // 5
    typer.echo(f"{len(rows)} questions x {runs} runs ({mode} mode): {output}")


@app.command(context_settings=_MANY)
def ensemble(
    ctx: typer.Context,
    experiments: list[str] = typer.Option(None, "--experiments", help="Runs to combine (names or run dirs)."),
    name: str = typer.Option(..., "--name", help="Name of the ensemble's run dir."),
    strategy: str = typer.Option("majority", "--strategy", help="majority, first_non_blank or confidence."),
    ignore_blank: bool = typer.Option(False, "--ignore-blank", help="Blank votes count only if no run answered."),
    calibration: Path = typer.Option(None, "--calibration", help="Questions with answers that weigh the runs."),
    solution: Path = typer.Option(None, "--solution", help="Score against this (default: the train questions)."),
    config: list[Path] = typer.Option(
        None, "--config", help="Run this config --num-runs times (same-model), or run several configs once each."
    ),
    num_runs: int = typer.Option(None, "--num-runs", help="Same-model ensemble: seeds 0..N-1 (default 5)."),
    temperature: float = typer.Option(
        None,
        "--temperature",
        help="Same-model ensemble: sampling temperature (default: the config's, or 0.7 when it is 0).",
    ),  # fmt: skip
    limit: int = typer.Option(None, "--limit", help="With --config: only the first N questions."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing run dir of that name."),
    executor: str = EXECUTOR,
    gpus: str = GPUS,
    slots: int = SLOTS,
    ray_address: str = RAY_ADDRESS,
    timeout_min: float = typer.Option(60.0, "--timeout-min", help="Per-member wall-clock limit (minutes)."),
    log_dir: Path = typer.Option(
        None, "--log-dir", help="Member logs (default: ensembles/NAME beside the run dirs' folder)."
    ),
    experiments_dir: Path = _EXPERIMENTS,
    data_dir: Path = _DATA,
) -> None:
    """Combine runs into one answer per question; writes a scored run dir like any other run."""
    from wattbench.errors import WattbenchError
    from wattbench.report.ensemble_run import run_ensemble

    listed = [*(experiments or []), *ctx.args]
    configs = list(config or [])
    if bool(listed) == bool(configs):
        raise WattbenchError("give either --experiments A B C (existing runs) or --config X [--config Y ...]")
    if configs:
        from wattbench.campaigns.ensemble import ensemble_of_configs, member_logs, seed_configs
        from wattbench.campaigns.jobs import Campaign
        from wattbench.runs.checks import load_run_config

        if len(configs) > 1 and num_runs is not None:
            raise WattbenchError("--num-runs is for one --config (a same-model ensemble); several configs run once")
        loaded = []
        for path in configs:
            settings, warnings = load_run_config(path, {"limit": limit}, {"limit": "--limit"})
            for warning in warnings:
                print(f"warning: {path}: {warning}", file=sys.stderr)
            loaded.append(settings)
        members = seed_configs(loaded[0], num_runs or 5, temperature, name) if len(loaded) == 1 else loaded
        campaign = Campaign(executor_choice(executor, gpus, slots, ray_address),
                            log_dir or member_logs(members, name), data_dir, force, timeout_s(timeout_min),
                            say=lambda m: print(m, file=sys.stderr))  # fmt: skip
        summary = ensemble_of_configs(
            members,
            name,
            campaign,
            solution=solution or Path(loaded[0].questions or _train_questions(data_dir)),
            strategy=strategy,
            ignore_blank=ignore_blank,
            calibration=calibration,
        )
        experiments_dir = Path(loaded[0].output_dir)
    else:
        summary = run_ensemble(
            listed,
            name,
            experiments_dir=experiments_dir,
            strategy=strategy,
            ignore_blank=ignore_blank,
            solution=solution or _train_questions(data_dir),
            calibration=calibration,
            force=force,
        )
    stats = summary["ensemble"]
    score = summary["overall_score"]
    typer.echo(
        f"ensemble {name} ({strategy}) of {', '.join(summary['members'])}: {stats['questions']} questions, "
        f"{stats['unanimous']} unanimous; score {'n/a' if score is None else f'{score:.4f}'} (kaggle); "
        f"run dir: {Path(experiments_dir) / name}"
    )
