"""`wattbench compare A B [C ...]`: paired comparisons of runs (report/compare.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import cast

import typer

from wattbench.cli import app
from wattbench.cli.compare import _EXPERIMENTS as EXPERIMENTS_DIR
from wattbench.cli.options import DATA_DIR
from wattbench.stats.bootstrap import DEFAULT_LEVEL, DEFAULT_RESAMPLES, DEFAULT_SEED


@app.command("compare")
def compare_runs(
    runs: list[str] = typer.Argument(..., help="Run dirs, run names under --experiments-dir, or submission CSVs."),
    solution: Path = typer.Option(
        None, "--solution", help="Solution CSV (default: a run's own questions, else the train questions)."
    ),  # fmt: skip
    mode: str = typer.Option("kaggle", "--mode", help="kaggle (the official metric) or lenient."),
    baseline: str = typer.Option(None, "--baseline", help="Compare each run with this one (default: every pair)."),
    energy_scope: str = typer.Option(
        "auto",
        "--energy-scope",
        help="gpu or cpu: compare energy on this scope "
        "(an error when a run lacks it); auto: the headline scope both runs share.",
    ),
    bootstrap: int = typer.Option(DEFAULT_RESAMPLES, "--bootstrap", help="Bootstrap and permutation resamples."),
    seed: int = typer.Option(DEFAULT_SEED, "--seed", help="Seed of the resampling (same seed, same result)."),
    ci_level: float = typer.Option(DEFAULT_LEVEL, "--ci-level", help="Interval level; 1 - level is the test's alpha."),
    experiments_dir: Path = EXPERIMENTS_DIR,
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    data_dir: Path = DATA_DIR,
) -> None:
    """Whether runs differ: paired score differences with intervals, tests and verdicts; energy and latency."""
    from wattbench.cli.compare import _train_questions
    from wattbench.errors import WattbenchError
    from wattbench.report.compare import compare, format_comparison, resolve
    from wattbench.scoring.wattbot import MODES, Mode
    from wattbench.stats.bootstrap import Bootstrap

    if mode not in MODES:
        raise WattbenchError(f"--mode: unknown mode '{mode}'; use one of: {', '.join(MODES)}")
    if energy_scope not in ("auto", "gpu", "cpu", "dram"):
        raise WattbenchError(f"--energy-scope: unknown scope '{energy_scope}'; use auto, gpu, cpu or dram")
    spec = Bootstrap(bootstrap, seed, ci_level)
    found = resolve(runs, experiments_dir, solution, lambda: _train_questions(data_dir))
    result = compare(found, cast(Mode, mode), spec, baseline, energy_scope)
    typer.echo(json.dumps(result) if as_json else format_comparison(result))
