"""`wattbench plot`: PNG and SVG figures from the store and from the per-question scores.

Local models are squares, API models circles, ensembles triangles. A figure whose data is missing (no model
sizes known, no energy measured) is still written, saying what is missing and how to get it, so a report
never has a hole and never draws an unmeasured figure as zero.

Adding a figure: a function `(runs, out) -> Plot` (or `(scores, out) -> Plot`) in a module of this package, and
its line in RUN_PLOTS (or QUESTION_PLOTS) below, in the place the report should show it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from wattbench.report.plots import questions as question_plots
from wattbench.report.plots import runs as run_plots
from wattbench.report.plots.base import Plot
from wattbench.report.question_stats import QuestionScores
from wattbench.report.runs import RunInfo

RUN_PLOTS: list[Callable[[list[RunInfo], Path], Plot]] = [
    run_plots.plot_score_vs_size,
    run_plots.plot_size_vs_latency,
    run_plots.plot_size_vs_cost,
    run_plots.plot_bubble,
    run_plots.plot_ranking,
    run_plots.plot_cost_vs_score,
    run_plots.plot_breakdown,
    run_plots.plot_energy,
    run_plots.plot_pareto,
]
"""Figures over the runs, in the order the report shows them."""

QUESTION_PLOTS: list[Callable[[QuestionScores, Path], Plot]] = [
    question_plots.plot_wilson,
    question_plots.plot_evidence,
    question_plots.plot_agreement,
    question_plots.plot_unique_wins,
    question_plots.plot_refusals,
]
"""Figures over the per-question scores, shown after the run figures."""


def all_plots(runs: list[RunInfo], scores: QuestionScores | None, out: Path) -> list[Plot]:
    """Every figure, in the order the report shows them (the per-question ones only when there are scores)."""
    plots = [plot(runs, out) for plot in RUN_PLOTS]
    if scores is not None:
        plots += [plot(scores, out) for plot in QUESTION_PLOTS]
    return plots


__all__ = ["QUESTION_PLOTS", "RUN_PLOTS", "Plot", "all_plots"]
