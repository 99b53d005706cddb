"""`wattbench data fetch|check`: fill the data dir, and summarise and self-check it."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import typer

from wattbench.cli import app
from wattbench.cli.options import DATA_DIR

data_app = typer.Typer(help="Get and inspect the WattBot and Energy Score data.", no_args_is_help=True)
app.add_typer(data_app, name="data")


@data_app.command("fetch")
def fetch_command(
    source: Path = typer.Option(None, "--from", help="Local folder laid out as the data dir (e.g. ../shared/data)."),
    dest: Path = typer.Option(Path("data"), "--dest", help="Data dir to fill."),
    url: str = typer.Option(
        None, "--url", help="Mirror base URL (else $WATTBENCH_DATA_URL), used if --from is absent."
    ),
) -> None:
    """Fill the data dir: copy from --from when it exists, else download with sha256 checks."""
    from wattbench.data.fetch import fetch

    report = fetch(dest, source, url)
    typer.echo(
        f"data: {len(report.copied)} file(s) written, {len(report.unchanged)} already up to date, "
        f"in {report.dest} (from {report.source})"
    )
    for warning in report.warnings:
        typer.echo(f"warning: {warning}", err=True)


@data_app.command("check")
def check_command(
    data_dir: Path = DATA_DIR,
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Summarise the WattBot data and score the train answers against themselves (must be 1.0)."""
    from wattbench.cli.score import format_report
    from wattbench.data.paths import resolve_data_dir, wattbot_dir
    from wattbench.data.summary import summarize
    from wattbench.scoring.wattbot import MODES, score_files

    root = resolve_data_dir(data_dir)
    summary = summarize(root)
    train = wattbot_dir(root) / "train_QA.csv"
    self_scores = {mode: score_files(train, train, mode) for mode in MODES}
    if as_json:
        payload = asdict(summary) | {"data_dir": str(summary.data_dir)}
        payload["self_check"] = {m: r.to_dict() for m, r in self_scores.items()}
        typer.echo(json.dumps(payload))
    else:
        typer.echo(f"WattBot data in {summary.data_dir}")
        typer.echo(
            f"  questions {summary.n_questions} ({summary.n_answerable} answerable, "
            f"{summary.n_unanswerable} unanswerable); value kinds {summary.value_kinds}"
        )
        typer.echo(f"  metadata {summary.n_metadata} documents")
        typer.echo(
            f"  corpus {summary.n_documents} documents, {summary.n_pages} pages, {summary.n_paragraphs} paragraphs "
            f"({summary.n_image_placeholders} image placeholders), {summary.corpus_chars:,} characters"
        )
        for problem in summary.problems:
            typer.echo(f"  problem: {problem}")
        typer.echo("Self-check: train answers scored against themselves")
        for report in self_scores.values():
            typer.echo(format_report(report))
    failed = [m for m, r in self_scores.items() if r.overall != 1.0]
    if failed or summary.problems:
        raise typer.Exit(1)
