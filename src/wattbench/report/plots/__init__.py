"""`wattbench plot`: PNG and SVG figures from the store and from the per-question scores.

Local models are squares, API models circles, ensembles triangles. A figure whose data is missing (no model
sizes known, no energy measured) is still written, saying what is missing and how to get it, so a report
never has a hole and never draws an unmeasured figure as zero.

Adding a figure: a function `(runs, out) -> Plot` (or `(scores, out) -> Plot`) in a module of this package, and
its name in RUN_PLOTS (or QUESTION_PLOTS) below, in the place the report should show it; another package adds one
through the `wattbench.run_plots` (or `wattbench.question_plots`) entry-point group.
"""

from __future__ import annotations

from pathlib import Path

from wattbench.registry import Entry, Registry
from wattbench.report.plots.base import Plot
from wattbench.report.question_stats import QuestionScores
from wattbench.report.runs import RunInfo


def _figures(module: str, names: list[str], group: str) -> Registry:
    return Registry("plot", [Entry(name.removeprefix("plot_"), f"wattbench.report.plots.{module}:{name}")
                             for name in names], group=group)  # fmt: skip


RUN_PLOTS = _figures("runs", ["plot_score_vs_size", "plot_size_vs_latency", "plot_size_vs_cost", "plot_bubble",
                              "plot_ranking", "plot_cost_vs_score", "plot_breakdown", "plot_energy", "plot_pareto"],
                     "wattbench.run_plots")  # fmt: skip
"""Figures over the runs, `(runs, out) -> Plot`, in the order the report shows them."""

QUESTION_PLOTS = _figures("questions", ["plot_intervals", "plot_evidence", "plot_agreement", "plot_unique_wins",
                                        "plot_refusals"], "wattbench.question_plots")  # fmt: skip
"""Figures over the per-question scores, `(scores, out) -> Plot`, shown after the run figures."""


def all_plots(runs: list[RunInfo], scores: QuestionScores | None, out: Path) -> list[Plot]:
    """Every figure, in the order the report shows them (the per-question ones only when there are scores)."""
    plots = [RUN_PLOTS.load(name)(runs, out) for name in RUN_PLOTS.names()]
    if scores is not None:
        plots += [QUESTION_PLOTS.load(name)(scores, out) for name in QUESTION_PLOTS.names()]
    return plots


__all__ = ["QUESTION_PLOTS", "RUN_PLOTS", "Plot", "all_plots"]
