"""`wattbench audit`, `wattbench plot` and `wattbench report`: reading the store back."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from wattbench.cli import app
from wattbench.cli.compare import _DATA, _EXPERIMENTS, _train_questions

_SIZES = typer.Option(None, "--model-sizes", help="Extra model_sizes.toml (default: ./model_sizes.toml if any).")


def _load(experiments_dir: Path, model_sizes: Path | None):
    from wattbench.data.model_sizes import load_sizes
    from wattbench.errors import DataError
    from wattbench.report.runs import load_runs

    runs, warnings = load_runs(experiments_dir, load_sizes(model_sizes))
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if not runs:
        raise DataError(f"{experiments_dir}: no run dirs with a summary.json; run 'wattbench run' first")
    return runs


@app.command()
def audit(
    as_json: bool = typer.Option(False, "--json", help="One JSON object per run instead of text."),
    max_latency_s: float = typer.Option(120.0, "--max-latency-s", help="Flag a mean latency above this."),
    strict: bool = typer.Option(False, "--strict", help="Exit 1 when any run is flagged (for CI)."),
    solution: Path = typer.Option(None, "--solution", help="Recheck scores against this (default: train)."),
    experiments_dir: Path = _EXPERIMENTS,
    data_dir: Path = _DATA,
    model_sizes: Path = _SIZES,
) -> int:
    """Flag runs whose figures should not be trusted as they stand; list the clean ones."""
    from wattbench.report.audit import Thresholds, audit_runs

    runs = _load(experiments_dir, model_sizes)
    audits = audit_runs(runs, solution or _train_questions(data_dir), Thresholds(max_latency_s=max_latency_s))
    if as_json:
        for item in audits:
            typer.echo(json.dumps(item.to_dict()))
    else:
        for item in audits:
            if item.flags:
                typer.echo(f"{item.name} ({item.provider}/{item.model}): {len(item.flags)} flag(s)")
                for flag in item.flags:
                    typer.echo(f"  [{flag.code}] {flag.message}")
            for note in item.notes:
                typer.echo(f"  {item.name}: note: {note}")
        clean = [a.name for a in audits if a.clean]
        typer.echo(f"clean ({len(clean)} of {len(audits)}): {', '.join(clean) or 'none'}")
    return 1 if strict and any(not a.clean for a in audits) else 0


def _scores(runs, solution: Path):
    from wattbench.report.question_stats import question_scores

    scores = question_scores(runs, solution)
    for name, why in scores.skipped.items():
        print(f"warning: {name}: left out of the per-question plots: {why}", file=sys.stderr)
    return scores


@app.command()
def plot(
    out: Path = typer.Option(Path("artifacts/plots"), "--out", help="Folder for the PNG and SVG files."),
    solution: Path = typer.Option(None, "--solution", help="Per-question plots against this (default: train)."),
    experiments_dir: Path = _EXPERIMENTS,
    data_dir: Path = _DATA,
    model_sizes: Path = _SIZES,
) -> None:
    """Every comparison plot from the store, as PNG and SVG."""
    from wattbench.report.plots import all_plots

    runs = _load(experiments_dir, model_sizes)
    plots = all_plots(runs, _scores(runs, solution or _train_questions(data_dir)), out)
    for item in plots:
        typer.echo(f"{item.files[0]}" + (f"  ({item.note})" if item.note else ""))
    typer.echo(f"{len(plots)} plots ({2 * len(plots)} files) in {out}")


@app.command()
def report(
    out: Path = typer.Option(Path("artifacts/report.html"), "--out", help="The HTML file to write."),
    plots_dir: Path = typer.Option(Path("artifacts/plots"), "--plots-dir", help="Where the plots are drawn."),
    batch_dir: Path = typer.Option(Path("batch_results"), "--batch-dir", help="wattbench batch results folder."),
    load_dir: Path = typer.Option(
        Path("load_results"), "--load-dir", help="wattbench load results (load.json, or one sweep per subfolder)."
    ),
    solution: Path = typer.Option(None, "--solution", help="Per-question figures against this (default: train)."),
    experiments_dir: Path = _EXPERIMENTS,
    data_dir: Path = _DATA,
    model_sizes: Path = _SIZES,
) -> None:
    """One static HTML page: the runs table (sortable), the audit, every plot, and the batch star ratings."""
    from wattbench.report.html import build_report

    solution = solution or _train_questions(data_dir)
    runs = _load(experiments_dir, model_sizes)
    built = build_report(runs, _scores(runs, solution), solution, out, plots_dir, batch_dir, str(experiments_dir),
                         load_dir)  # fmt: skip
    typer.echo(
        f"{out}: {built.runs} runs ({built.flagged} flagged by the audit), {built.plots} plots"
        + (f", {built.batch_rows} batch rows" if built.batch_rows else ", no batch results")
    )
