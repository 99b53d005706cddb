"""`wattbench score SOLUTION SUBMISSION`: the WattBot metric."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from wattbench.cli import app
from wattbench.errors import WattbenchError
from wattbench.scoring.intervals import with_intervals
from wattbench.scoring.wattbot import MODES, ScoreReport, score_files
from wattbench.stats.bootstrap import DEFAULT_LEVEL, DEFAULT_RESAMPLES, DEFAULT_SEED, Bootstrap


def _figure(report: ScoreReport, name: str, label: str, value: float, note: str = "") -> str:
    line = f"  {label:<15} {value:.4f}"
    interval = (report.intervals or {}).get(name)
    if interval is not None:
        line += f"  [{interval[0]:.4f}, {interval[1]:.4f}]"
    return f"{line}   {note}" if note else line


def format_report(report: ScoreReport) -> str:
    """The human-readable score table printed by `wattbench score` and after a run."""
    lines = [
        f"WattBot score ({report.mode} mode)",
        _figure(report, "overall", "overall", report.overall),
        _figure(report, "value_accuracy", "value accuracy", report.value_accuracy),
        _figure(report, "ref_overlap", "ref overlap", report.ref_overlap),
        _figure(report, "na_term", "NA term", report.na_term),
        _figure(report, "na_recall", "NA recall", report.na_recall, f"({report.n_unanswerable} unanswerable)"),
        f"  unit accuracy   {report.unit_accuracy:.4f}   (weight 0)",
        f"  rows scored {report.n_scored}, missing {report.n_missing}, extra {report.n_extra}",
        f"  false abstentions {report.false_abstentions}, answers to unanswerable questions "
        f"{report.answered_unanswerable}",
    ]
    if report.intervals is not None and report.bootstrap:
        spec = report.bootstrap
        lines.insert(1, f"  [{spec['level'] * 100:g}% BCa bootstrap interval over the {report.n_scored} questions, "
                        f"{spec['resamples']} resamples, seed {spec['seed']}]")  # fmt: skip
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
    bootstrap: int = typer.Option(DEFAULT_RESAMPLES, "--bootstrap", help="Bootstrap resamples; 0: no intervals."),
    seed: int = typer.Option(DEFAULT_SEED, "--seed", help="Seed of the resampling (same seed, same interval)."),
    ci_level: float = typer.Option(DEFAULT_LEVEL, "--ci-level", help="Interval level (0.95: the ci95 key)."),
) -> None:
    """Score a WattBot submission: 0.75 value + 0.15 ref overlap + 0.10 NA, each with its interval."""
    if mode not in MODES:
        raise WattbenchError(f"--mode: unknown mode '{mode}'; use one of: {', '.join(MODES)}")
    spec = Bootstrap(bootstrap, seed, ci_level) if bootstrap else None
    report = score_files(solution, submission, mode)
    if spec is not None:
        with_intervals(report, spec)
    if as_json:
        typer.echo(json.dumps(report.to_dict(with_rows=rows)))
    else:
        typer.echo(format_report(report))
