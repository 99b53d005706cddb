"""`wattbench batch reasoning`: what each reasoning state bought over Off in a `--workload wattbot` batch
(report/reasoning.py): the paired table, and the score against energy per question figure."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from wattbench.cli.batch import batch_app
from wattbench.cli.options import DATA_DIR


@batch_app.command("reasoning")
def reasoning(
    output_dir: Path = typer.Option(Path("batch_results"), "--output-dir", help="The batch results folder."),
    solution: Path = typer.Option(None, "--solution", help="Solution CSV (default: each run's own questions)."),
    plots_dir: Path = typer.Option(None, "--plots-dir", help="Where reasoning.png/.svg go (default: the batch)."),
    as_json: bool = typer.Option(False, "--json", help="Print the table as a JSON list."),
    bootstrap: int = typer.Option(10_000, "--bootstrap", help="Bootstrap and permutation resamples."),
    seed: int = typer.Option(0, "--seed", help="Seed of the resampling."),
    data_dir: Path = DATA_DIR,
) -> None:
    """Per model of a wattbot batch, each state against Off, paired on the questions: score difference with its
    interval and adjusted p-value, energy ratio with its interval, reasoning tokens and latency per question."""
    from wattbench.cli.compare import _train_questions
    from wattbench.errors import DataError
    from wattbench.report.reasoning import format_table, plot_reasoning, reasoning_table
    from wattbench.stats.bootstrap import Bootstrap
    from wattbench.store.batch_dir import BatchDir

    if not BatchDir(output_dir).master_csv.exists():
        raise DataError(f"{output_dir / 'master_results.csv'}: not found; run 'wattbench batch --workload wattbot'")
    entries = reasoning_table(output_dir, solution, lambda: _train_questions(data_dir), Bootstrap(bootstrap, seed))
    if not entries:
        raise DataError(f"{output_dir}: no wattbot rows with a run dir; run 'wattbench batch --workload wattbot'")
    plot = plot_reasoning(output_dir, plots_dir or output_dir)
    if as_json:
        typer.echo(json.dumps(entries, indent=2, default=str))
        return
    typer.echo(format_table(entries))
    typer.echo(f"plot: {', '.join(str(p) for p in plot.files)}" + (f" ({plot.note})" if plot.note else ""))
