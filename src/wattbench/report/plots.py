"""`wattbench plot`: PNG and SVG figures from the store and from the per-question scores.

Local models are squares, API models circles, ensembles triangles. A figure whose data is missing (no model
sizes known, no energy measured) is still written, saying what is missing and how to get it, so a report
never has a hole and never draws an unmeasured figure as zero.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from wattbench.report.question_stats import (
    QuestionScores,
    accuracy_by_evidence,
    agreement,
    overall_with_interval,
    refusal_rates,
    unique_wins,
)
from wattbench.report.runs import RunInfo

MARKERS = {"local": "s", "api": "o", "ensemble": "^"}
COLOURS = {"local": "#4c72b0", "api": "#dd8452", "ensemble": "#8c8c8c"}
SCORE_PARTS = (("overall", "Overall"), ("value_accuracy", "Value"), ("ref_overlap", "Ref overlap"), ("na_term", "NA"))
WEIGHTS = (
    ("value_accuracy", 0.75, "value (0.75)"),
    ("ref_overlap", 0.15, "ref (0.15)"),
    ("na_term", 0.10, "NA (0.10)"),
)


@dataclass
class Plot:
    name: str
    title: str
    files: list[Path] = field(default_factory=list)
    note: str | None = None
    """What was left out or missing, for the report and the command's output."""


def _plt():
    import matplotlib

    matplotlib.use("Agg")  # no display on servers and in CI
    # Run names and model ids are text, not TeX: "$5 run" or "a_$x$" must print as written, never as mathtext
    # (which renders them wrongly or raises on an unbalanced "$").
    matplotlib.rcParams["text.parse_math"] = False
    import matplotlib.pyplot as plt

    return plt


def _save(fig, out: Path, plot: Plot) -> Plot:
    out.mkdir(parents=True, exist_ok=True)
    for suffix in ("png", "svg"):
        path = out / f"{plot.name}.{suffix}"
        fig.savefig(path, dpi=110, bbox_inches="tight")
        plot.files.append(path)
    _plt().close(fig)
    return plot


def _empty(plot: Plot, out: Path, why: str) -> Plot:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 2.5))
    ax.axis("off")
    ax.text(0.5, 0.5, f"{plot.title}\n\nnot drawn: {why}", ha="center", va="center", wrap=True, fontsize=10)
    plot.note = why
    return _save(fig, out, plot)


def _left_out(runs: list[RunInfo], kept: list[RunInfo], what: str) -> str | None:
    missing = [r.name for r in runs if r not in kept]
    return f"{what} unknown for {', '.join(missing)}" if missing else None


def _label_offsets(points: list[tuple[float, float]], ax) -> list[tuple[int, int]]:
    """Label offsets in points: runs drawn at (nearly) the same place (one model size, one score) get their
    labels stacked instead of printed over each other."""
    import math

    xs = [math.log10(x) if ax.get_xscale() == "log" and x > 0 else x for x, _ in points]
    ys = [y for _, y in points]
    span_x = (max(xs) - min(xs)) or 1.0
    span_y = (max(ys) - min(ys)) or 1.0
    taken: dict[tuple[int, int], int] = {}
    offsets = []
    for x, y in zip(xs, ys):
        cell = (round(40 * (x - min(xs)) / span_x), round(40 * (y - min(ys)) / span_y))
        k = taken.get(cell, 0)
        taken[cell] = k + 1
        offsets.append((4, 3 - 9 * k))
    return offsets


def _scatter(ax, runs: list[RunInfo], x: Callable[[RunInfo], Any], y: Callable[[RunInfo], Any], size=None, log_x=False):
    if log_x:
        _log_x(ax)
    seen: set[str] = set()
    offsets = _label_offsets([(x(r), y(r)) for r in runs], ax) if runs else []
    for run, offset in zip(runs, offsets):
        kind = run.deployment
        ax.scatter(
            x(run), y(run), marker=MARKERS[kind], s=size(run) if size else 60, alpha=0.75, color=COLOURS[kind],
            label=None if kind in seen else kind, edgecolors="black", linewidths=0.5,
        )  # fmt: skip
        seen.add(kind)
        ax.annotate(run.name, (x(run), y(run)), fontsize=7, xytext=offset, textcoords="offset points")
    ax.grid(alpha=0.3)


def _log_x(ax) -> None:
    """A log axis labelled in plain numbers (0.5, 7, 70), not 5x10^-1."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())


def _sized(runs: list[RunInfo]) -> list[RunInfo]:
    return [r for r in runs if r.params_b is not None and r.overall is not None]


SIZE_HELP = "model size (add it to model_sizes.toml)"


def plot_score_vs_size(runs: list[RunInfo], out: Path) -> Plot:
    plot = Plot("score_vs_size", "Score vs model size")
    sized = _sized(runs)
    if not sized:
        return _empty(plot, out, f"no run has a known {SIZE_HELP}")
    fig, axes = _plt().subplots(2, 2, figsize=(10, 8), sharex=True)
    for ax, (part, label) in zip(axes.flat, SCORE_PARTS):
        kept = [r for r in sized if r.score(part) is not None]
        _scatter(ax, kept, lambda r: r.params_b, partial(RunInfo.score, part=part), log_x=True)
        ax.set(title=label, ylim=(-0.02, 1.02), xlabel="parameters (billions)", ylabel="score")
    axes.flat[0].legend(fontsize=8)
    plot.note = _left_out([r for r in runs if r.kind != "ensemble"], sized, "size")
    return _save(fig, out, plot)


ALL_FREE = "every run here cost 0 USD (local engines): there is no cost to compare"


def _by_size(runs: list[RunInfo], out: Path, name: str, title: str, value, ylabel: str, what: str) -> Plot:
    plot = Plot(name, title)
    kept = [r for r in runs if r.params_b is not None and value(r) is not None]
    if not kept:
        return _empty(plot, out, f"no run has both a known {SIZE_HELP} and a recorded {what}")
    if what == "cost" and not any(value(r) for r in kept):
        return _empty(plot, out, ALL_FREE)
    fig, ax = _plt().subplots(figsize=(7, 5))
    _scatter(ax, kept, lambda r: r.params_b, value, log_x=True)
    ax.set(xlabel="parameters (billions)", ylabel=ylabel, title=title)
    ax.legend(fontsize=8)
    plot.note = _left_out([r for r in runs if r.kind != "ensemble"], kept, f"size or {what}")
    return _save(fig, out, plot)


def plot_bubble(runs: list[RunInfo], out: Path) -> Plot:
    plot = Plot("size_score_cost_bubble", "Size x score x cost")
    kept = [r for r in _sized(runs) if r.usd_per_1000_questions is not None]
    if not kept:
        return _empty(plot, out, f"no run has a known {SIZE_HELP} and a recorded cost")
    top = max(r.usd_per_1000_questions or 0 for r in kept) or 1.0
    fig, ax = _plt().subplots(figsize=(7, 5))
    _scatter(
        ax,
        kept,
        lambda r: r.params_b,
        lambda r: r.overall,
        size=lambda r: 40 + 1200 * (r.usd_per_1000_questions or 0) / top,
        log_x=True,
    )
    ax.set(xlabel="parameters (billions)", ylabel="overall score", title="Size x score (area: USD per 1000 questions)")
    if top == 1.0 and not any(r.usd_per_1000_questions for r in kept):
        plot.note = "every run here cost 0 USD (local engines): the bubbles are all one size"
    return _save(fig, out, plot)


def plot_ranking(runs: list[RunInfo], out: Path) -> Plot:
    plot = Plot("ranking", "Overall ranking")
    kept = sorted((r for r in runs if r.overall is not None), key=lambda r: r.overall or 0)
    if not kept:
        return _empty(plot, out, "no scored run (runs on questions without answers are not scored)")
    most = max(r.num_questions for r in kept)
    fewer = [r for r in kept if r.num_questions < most]
    fig, ax = _plt().subplots(figsize=(7, 1 + 0.4 * len(kept)))
    labels = [r.name if r.num_questions == most else f"{r.name} (n={r.num_questions} of {most})" for r in kept]
    bars = ax.barh(labels, [r.overall for r in kept], color=[COLOURS[r.deployment] for r in kept])
    for bar, r in zip(bars, kept):
        if r.num_questions < most:
            bar.set_hatch("//")  # scored on fewer questions: not comparable with the full runs
            bar.set_alpha(0.5)
    for i, r in enumerate(kept):
        ax.text(r.overall or 0, i, f" {r.overall:.3f}", va="center", fontsize=8)
    if fewer:
        plot.note = (
            f"hatched: scored on fewer questions than the {most} of the largest runs "
            f"({', '.join(r.name for r in fewer)}), not comparable with them"
        )
    ax.set(
        xlim=(0, 1.1),
        xlabel="overall score (kaggle)",
        title="Overall ranking (blue: local, orange: API, grey: ensemble)",
    )
    return _save(fig, out, plot)


def plot_cost_vs_score(runs: list[RunInfo], out: Path) -> Plot:
    plot = Plot("cost_vs_score", "Cost vs score")
    kept = [r for r in runs if r.overall is not None and r.usd_per_1000_questions is not None]
    if not kept:
        return _empty(plot, out, "no run with both a score and a recorded cost")
    if not any(r.usd_per_1000_questions for r in kept):
        return _empty(plot, out, ALL_FREE)
    fig, ax = _plt().subplots(figsize=(7, 5))
    _scatter(ax, kept, lambda r: r.usd_per_1000_questions, lambda r: r.overall)
    ax.set_xlim(left=0)  # a cost is never negative; matplotlib's margin would draw a negative axis
    ax.set(xlabel="USD per 1000 questions", ylabel="overall score", title="Cost vs score")
    ax.legend(fontsize=8)
    return _save(fig, out, plot)


def plot_breakdown(runs: list[RunInfo], out: Path) -> Plot:
    plot = Plot("score_breakdown", "Score breakdown")
    kept = [r for r in runs if all(r.score(p) is not None for p, _, _ in WEIGHTS)]
    if not kept:
        return _empty(plot, out, "no scored run")
    fig, ax = _plt().subplots(figsize=(max(6, 0.8 * len(kept)), 5))
    bottom = [0.0] * len(kept)
    for part, weight, label in WEIGHTS:
        heights = [weight * (r.score(part) or 0) for r in kept]
        ax.bar([r.name for r in kept], heights, bottom=bottom, label=label)
        bottom = [b + h for b, h in zip(bottom, heights)]
    ax.set(ylim=(0, 1), ylabel="weighted points", title="What each run's score is made of")
    ax.tick_params(axis="x", rotation=45)
    ax.legend(fontsize=8)
    return _save(fig, out, plot)


def plot_energy(runs: list[RunInfo], out: Path) -> Plot:
    plot = Plot("energy_per_run", "Energy per question")
    kept = [r for r in runs if r.wh_per_question is not None]
    if not kept:
        return _empty(plot, out, "no run has measured energy (NVML or RAPL was not available on its machine)")
    fig, ax = _plt().subplots(figsize=(max(6, 0.8 * len(kept)), 5))
    ax.bar([r.name for r in kept], [r.wh_per_question for r in kept], color="#55a868")
    ax.set(ylabel="Wh per question", title="Energy per question (measured runs only)")
    ax.tick_params(axis="x", rotation=45)
    plot.note = _left_out(runs, kept, "energy")
    return _save(fig, out, plot)


def plot_pareto(runs: list[RunInfo], out: Path) -> Plot:
    """Accuracy against energy per question, with the front of runs no other run beats on both."""
    plot = Plot("accuracy_vs_energy_pareto", "Accuracy vs energy (Pareto front)")
    kept = [r for r in runs if r.overall is not None and r.wh_per_question]
    if not kept:
        return _empty(plot, out, "no run has both a score and measured energy per question")
    front, best = [], -1.0
    for run in sorted(kept, key=lambda r: (r.wh_per_question, -(r.overall or 0))):
        if (run.overall or 0) > best:
            front.append(run)
            best = run.overall or 0
    fig, ax = _plt().subplots(figsize=(7, 5))
    _scatter(ax, kept, lambda r: r.wh_per_question, lambda r: r.overall, log_x=True)
    ax.step(
        [r.wh_per_question for r in front], [r.overall for r in front], where="post", color="red", label="Pareto front"
    )
    ax.set(xlabel="Wh per question", ylabel="overall score", title="Accuracy vs energy")
    ax.legend(fontsize=8)
    plot.note = _left_out(runs, kept, "energy")
    return _save(fig, out, plot)


NO_SCORED_RUN = "no run has a submission scored against the solution"


def _scored(scores: QuestionScores) -> list[str]:
    return [name for name, rows in scores.by_run.items() if rows]


def plot_wilson(scores: QuestionScores, out: Path) -> Plot:
    plot = Plot("overall_wilson", "Overall score with Wilson 95% intervals")
    names = _scored(scores)
    if not names:
        return _empty(plot, out, NO_SCORED_RUN)
    stats = sorted(((n, *overall_with_interval(scores, n)) for n in names), key=lambda s: s[1])
    fig, ax = _plt().subplots(figsize=(7, 1 + 0.4 * len(stats)))
    for i, (_, mean, low, high, _n) in enumerate(stats):
        ax.errorbar(mean, i, xerr=[[mean - low], [high - mean]], fmt="o", capsize=4, color="#4c72b0")
    ax.set_yticks(range(len(stats)), [f"{s[0]} (n={s[4]})" for s in stats])
    ax.set(xlim=(0, 1), xlabel="overall score, 95% Wilson interval", title=plot.title)
    return _save(fig, out, plot)


def plot_evidence(scores: QuestionScores, out: Path) -> Plot:
    plot = Plot("accuracy_by_evidence", "Value accuracy by evidence type")
    names = _scored(scores)
    if not names:
        return _empty(plot, out, NO_SCORED_RUN)
    by_run = {name: accuracy_by_evidence(scores, name) for name in names}
    kinds = sorted({k for acc in by_run.values() for k in acc})
    fig, ax = _plt().subplots(figsize=(max(6, 1.2 * len(kinds)), 5))
    width = 0.8 / len(names)
    for j, (name, acc) in enumerate(by_run.items()):
        ax.bar([i + j * width for i in range(len(kinds))], [acc.get(k, (0, 0))[0] for k in kinds], width, label=name)
    counts = {k: sum(1 for q in scores.ids if scores.evidence[q] == k) for k in kinds}
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(kinds))], [f"{k}\n(n={counts[k]})" for k in kinds])
    ax.set(ylim=(0, 1), ylabel="value accuracy", title=plot.title)
    ax.legend(fontsize=7)
    return _save(fig, out, plot)


def plot_agreement(scores: QuestionScores, out: Path) -> Plot:
    plot = Plot("agreement_heatmap", "Answer agreement between runs")
    names = _scored(scores)
    if len(names) < 2:
        return _empty(plot, out, "needs at least two runs with submissions")
    grid = [[agreement(scores, a, b) for b in names] for a in names]
    fig, ax = _plt().subplots(figsize=(1.5 + 0.7 * len(names), 1 + 0.6 * len(names)))
    image = ax.imshow(
        [[v if v is not None else float("nan") for v in row] for row in grid], vmin=0, vmax=1, cmap="viridis"
    )
    for i, row in enumerate(grid):
        for j, value in enumerate(row):
            ax.text(j, i, "-" if value is None else f"{value:.2f}", ha="center", va="center", fontsize=7, color="white")
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
    ax.set_yticks(range(len(names)), names)
    fig.colorbar(image, ax=ax, label="share of questions with equal values")
    ax.set_title(plot.title)
    return _save(fig, out, plot)


def plot_unique_wins(scores: QuestionScores, out: Path) -> Plot:
    plot = Plot("unique_wins", "Questions only one run got right")
    wins = unique_wins(scores)
    if not wins:
        return _empty(plot, out, NO_SCORED_RUN)
    if len(wins) < 2:
        return _empty(plot, out, "needs at least two runs with submissions")
    if not any(wins.values()):
        return _empty(plot, out, "no question was answered right by exactly one run")
    fig, ax = _plt().subplots(figsize=(max(6, 0.8 * len(wins)), 4))
    ax.bar(list(wins), [len(v) for v in wins.values()], color="#8172b3")
    ax.set(ylabel="questions", title=plot.title)
    ax.tick_params(axis="x", rotation=45)
    return _save(fig, out, plot)


def plot_refusals(scores: QuestionScores, out: Path) -> Plot:
    plot = Plot("refusal_rates", "Refusal (is_blank) rates")
    names = _scored(scores)
    if not names:
        return _empty(plot, out, NO_SCORED_RUN)
    rates = [refusal_rates(scores, n) for n in names]
    fig, ax = _plt().subplots(figsize=(max(6, 0.8 * len(names)), 4))
    xs = range(len(names))
    ax.bar([x - 0.2 for x in xs], [r[0] or 0 for r in rates], 0.4, label="answerable (false refusals)")
    ax.bar([x + 0.2 for x in xs], [r[1] or 0 for r in rates], 0.4, label="unanswerable (right refusals)")
    ax.set_xticks(list(xs), names, rotation=45, ha="right")
    ax.set(ylim=(0, 1), ylabel="share answered is_blank", title=plot.title)
    ax.legend(fontsize=8)
    return _save(fig, out, plot)


def all_plots(runs: list[RunInfo], scores: QuestionScores | None, out: Path) -> list[Plot]:
    """Every figure, in the order the report shows them."""
    plots = [
        plot_score_vs_size(runs, out),
        _by_size(
            runs,
            out,
            "size_vs_latency",
            "Size vs latency",
            lambda r: r.latency_s,
            "mean latency per question (s)",
            "latency",
        ),
        _by_size(
            runs,
            out,
            "size_vs_cost",
            "Size vs cost",
            lambda r: r.usd_per_1000_questions,
            "USD per 1000 questions",
            "cost",
        ),
        plot_bubble(runs, out),
        plot_ranking(runs, out),
        plot_cost_vs_score(runs, out),
        plot_breakdown(runs, out),
        plot_energy(runs, out),
        plot_pareto(runs, out),
    ]
    if scores is not None:
        plots += [plot_wilson(scores, out), plot_evidence(scores, out), plot_agreement(scores, out)]
        plots += [plot_unique_wins(scores, out), plot_refusals(scores, out)]
    return plots
