"""`wattbench matrix` and `wattbench ensemble`: comparing and combining WattBot runs."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from wattbench.cli import app
from wattbench.cli.options import DATA_DIR, EXECUTOR, GPUS, RAY_ADDRESS, SLOTS, as_text, executor_overrides

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
    from wattbench.report.matrix import build_matrix, find_sources, summary_lines, write_matrix
    from wattbench.report.standings import rank_rows
    from wattbench.scoring.wattbot import MODES

    if mode not in MODES:
        raise WattbenchError(f"--mode: unknown mode '{mode}'; use one of: {', '.join(MODES)}")
    sources = find_sources([*(submissions or []), *ctx.args] or None, experiments_dir)
    scored: dict = {}
    columns, rows, warnings = build_matrix(solution or _train_questions(data_dir), sources, mode, scored)
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    write_matrix(output, columns, rows)
    runs = (len(columns) - 5) // 5
    typer.echo(f"{len(rows)} questions x {runs} runs ({mode} mode): {output}")
    typer.echo("\n".join(summary_lines(rank_rows(scored, mode=mode))))


@app.command(context_settings=_MANY)
def ensemble(
    ctx: typer.Context,
    experiments: list[str] = typer.Option(None, "--experiments", help="Runs to combine (names or run dirs)."),
    name: str = typer.Option(None, "--name", help="Name of the ensemble's run dir (required)."),
    strategy: str = typer.Option(None, "--strategy", help="majority (default), first_non_blank or confidence."),
    ignore_blank: bool = typer.Option(None, "--ignore-blank", help="Blank votes count only if no run answered."),
    calibration: Path = typer.Option(None, "--calibration", help="Questions with answers that weigh the runs."),
    solution: Path = typer.Option(None, "--solution", help="Score against this (default: the train questions)."),
    config: list[Path] = typer.Option(
        None,
        "--config",
        help="Run this config --num-runs times (same-model), or run several configs once each; "
        "or one ensemble file (TOML/YAML with members or experiments).",
    ),  # fmt: skip
    num_runs: int = typer.Option(None, "--num-runs", help="Same-model ensemble: seeds 0..N-1 (default 5)."),
    temperature: float = typer.Option(
        None,
        "--temperature",
        help="Same-model ensemble: sampling temperature (default: the config's, or 0.7 when it is 0).",
    ),  # fmt: skip
    limit: int = typer.Option(None, "--limit", help="With --config: only the first N questions."),
    force: bool = typer.Option(None, "--force", help="Overwrite an existing run dir of that name."),
    executor: str = EXECUTOR,
    gpus: str = GPUS,
    slots: int = SLOTS,
    ray_address: str = RAY_ADDRESS,
    timeout_min: float = typer.Option(None, "--timeout-min", help="Per-member wall-clock limit (default 60 min)."),
    log_dir: Path = typer.Option(None, "--log-dir", help="Member logs (default: ensembles/NAME beside the runs)."),
    experiments_dir: Path = typer.Option(None, "--experiments-dir", help="Where run dirs are (artifacts/experiments)."),
    data_dir: Path = _DATA,
) -> None:
    """Combine runs into one answer per question; writes a scored run dir like any other run."""
    from wattbench.campaigns.ensemble import ensemble_settings, run_ensemble_campaign

    settings = ensemble_settings(list(config or []), {
        "experiments": [*(experiments or []), *ctx.args] or None, "name": name, "strategy": strategy,
        "ignore_blank": ignore_blank, "calibration": as_text(calibration), "solution": as_text(solution),
        "num_runs": num_runs, "temperature": temperature, "limit": limit, "force": force,
        "log_dir": as_text(log_dir), "experiments_dir": as_text(experiments_dir),
        **executor_overrides(executor, gpus, slots, ray_address, timeout_min, data_dir),
    })  # fmt: skip
    summary, runs_dir = run_ensemble_campaign(settings, say=lambda m: print(m, file=sys.stderr))
    stats = summary["ensemble"]
    score = ((summary.get("scores") or {}).get("kaggle") or {}).get("overall")  # null when unscored (seed key: 0)
    versus = summary.get("vs_best_member")
    if versus:
        lo, hi = versus["ci95"]
        line = (f"against its best member {versus['member']}: {versus['diff']:+.4f} [{lo:+.4f}, {hi:+.4f}] on "
                f"{versus['n']} questions, p = {versus['p_value']:.3g}: {versus['verdict']}")  # fmt: skip
        print(line, file=sys.stderr)
    typer.echo(
        f"ensemble {settings.name} ({settings.strategy}) of {', '.join(summary['members'])}: {stats['questions']} "
        f"questions, {stats['unanimous']} unanimous; score {'n/a' if score is None else f'{score:.4f}'} (kaggle); "
        f"run dir: {runs_dir / settings.name}"
    )
