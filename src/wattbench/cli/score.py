"""`wattbench score SOLUTION SUBMISSION`: the WattBot metric."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from wattbench.cli import app
from wattbench.errors import WattbenchError
from wattbench.scoring.wattbot import MODES, ScoreReport, score_files


def format_report(report: ScoreReport) -> str:
    """The human-readable score table printed by `wattbench score` and after a run."""
    lines = [
        f"WattBot score ({report.mode} mode)",
        f"  overall         {report.overall:.4f}",
        f"  value accuracy  {report.value_accuracy:.4f}",
        f"  ref overlap     {report.ref_overlap:.4f}",
        f"  NA term         {report.na_term:.4f}",
        f"  NA recall       {report.na_recall:.4f}   ({report.n_unanswerable} unanswerable)",
        f"  unit accuracy   {report.unit_accuracy:.4f}   (weight 0)",
        f"  rows scored {report.n_scored}, missing {report.n_missing}, extra {report.n_extra}",
        f"  false abstentions {report.false_abstentions}, answers to unanswerable questions "
        f"{report.answered_unanswerable}",
    ]
    if report.by_evidence:
        lines.append("Value accuracy by evidence type (from the solution's flags):")
        for label, stats in report.by_evidence.items():
            lines.append(f"  {label:<7} {stats['accuracy']:.3f}  (n={stats['n']}, correct={stats['correct']})")
    if report.worst:
        lines.append("Worst mismatches (expected → got):")
        for row in report.worst:
            lines.append(f"  {row['id']:<8} {row['expected']!r} → {row['got']!r}   [{', '.join(row['reasons'])}]")
    return "\n".join(lines)


@app.command()
def score(
    solution: Path = typer.Argument(..., help="Solution CSV (train_QA.csv or the Kaggle solution file)."),
    submission: Path = typer.Argument(..., help="Submission CSV with id, answer_value, answer_unit, ref_id."),
    mode: str = typer.Option(
        "kaggle", "--mode", help="kaggle: the official metric, exactly; lenient: normalise first."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    rows: bool = typer.Option(False, "--rows", help="With --json: include every row's scores."),
) -> None:
    """Score a WattBot submission: 0.75 value + 0.15 ref overlap + 0.10 NA."""
    if mode not in MODES:
        raise WattbenchError(f"--mode: unknown mode '{mode}'; use one of: {', '.join(MODES)}")
    report = score_files(solution, submission, mode)
    if as_json:
        typer.echo(json.dumps(report.to_dict(with_rows=rows)))
    else:
        typer.echo(format_report(report))
