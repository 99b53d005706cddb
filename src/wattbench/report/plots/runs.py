"""Figures over the runs (one point or bar per run): size, score, latency, cost, energy."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from wattbench.report.plots.base import (
    COLOURS,
    SCORE_PARTS,
    SIZE_HELP,
    WEIGHTS,
    Plot,
    join_names,
    left_out,
    not_drawn,
    pyplot,
    save,
    scatter,
    sized_and_scored,
    top_runs,
    top_standings,
)
from wattbench.report.runs import RunInfo, common_energy_scope
from wattbench.report.standings import energy_interval_wh, front_steps, question_energy_j, standings, tie_note


def plot_score_vs_size(runs: list[RunInfo], out: Path) -> Plot:
    plot = Plot("score_vs_size", "Score vs model size")
    sized = sized_and_scored(runs)
    if not sized:
        return not_drawn(plot, out, f"no run has a known {SIZE_HELP}")
    fig, axes = pyplot().subplots(2, 2, figsize=(10, 8), sharex=True)
    for ax, (part, label) in zip(axes.flat, SCORE_PARTS):
        kept = [r for r in sized if r.score(part) is not None]
        scatter(ax, kept, lambda r: r.params_b, partial(RunInfo.score, part=part), log_x=True)
        ax.set(title=label, ylim=(-0.02, 1.02), xlabel="parameters (billions)", ylabel="score")
    axes.flat[0].legend(fontsize=8)
    plot.note = left_out([r for r in runs if r.kind != "ensemble"], sized, "size")
    return save(fig, out, plot, len(sized))


ALL_FREE = "every run here cost 0 USD (local engines): there is no cost to compare"


def _by_size(runs: list[RunInfo], out: Path, name: str, title: str, value, ylabel: str, what: str) -> Plot:
    plot = Plot(name, title)
    kept = [r for r in runs if r.params_b is not None and value(r) is not None]
    if not kept:
        return not_drawn(plot, out, f"no run has both a known {SIZE_HELP} and a recorded {what}")
    if what == "cost" and not any(value(r) for r in kept):
        return not_drawn(plot, out, ALL_FREE)
    fig, ax = pyplot().subplots(figsize=(7, 5))
    scatter(ax, kept, lambda r: r.params_b, value, log_x=True)
    ax.set(xlabel="parameters (billions)", ylabel=ylabel, title=title)
    ax.legend(fontsize=8)
    plot.note = left_out([r for r in runs if r.kind != "ensemble"], kept, f"size or {what}")
    return save(fig, out, plot, len(kept))


def plot_size_vs_latency(runs: list[RunInfo], out: Path) -> Plot:
    return _by_size(runs, out, "size_vs_latency", "Size vs latency", lambda r: r.latency_s,
                    "mean latency per question (s)", "latency")  # fmt: skip


def plot_size_vs_cost(runs: list[RunInfo], out: Path) -> Plot:
    return _by_size(runs, out, "size_vs_cost", "Size vs cost", lambda r: r.usd_per_1000_questions,
                    "USD per 1000 questions", "cost")  # fmt: skip


def plot_bubble(runs: list[RunInfo], out: Path) -> Plot:
    plot = Plot("size_score_cost_bubble", "Size x score x cost")
    kept = [r for r in sized_and_scored(runs) if r.usd_per_1000_questions is not None]
    if not kept:
        return not_drawn(plot, out, f"no run has a known {SIZE_HELP} and a recorded cost")
    top = max(r.usd_per_1000_questions or 0 for r in kept) or 1.0
    fig, ax = pyplot().subplots(figsize=(7, 5))
    scatter(
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
    return save(fig, out, plot, len(kept))


def plot_ranking(runs: list[RunInfo], out: Path) -> Plot:
    """Each run's score with its 95% interval, grouped by question set, the runs tied with each group's best
    drawn solid and the detectably worse ones pale (report/standings.py)."""
    plot = Plot("ranking", "Overall ranking with 95% intervals, ties with the best marked")
    everyone = standings(runs)
    if not everyone:
        return not_drawn(plot, out, "no run with per-question scores (runs on questions without answers are unscored)")
    ranked, cut = top_standings(everyone)
    by_name = {r.name: r for r in runs}
    fig, ax = pyplot().subplots(figsize=(7.5, 1 + 0.4 * len(ranked)))
    labels = []
    for i, s in enumerate(reversed(ranked)):
        colour = COLOURS[by_name[s.name].deployment]
        lo, hi = s.interval or (s.overall, s.overall)
        ax.barh(i, s.overall, color=colour, alpha=0.35 if s.place == "worse" else 0.9)
        ax.errorbar(s.overall, i, xerr=[[s.overall - lo], [hi - s.overall]], fmt="none", ecolor="black", capsize=3)
        ax.text(hi, i, f" {s.overall:.3f} {s.place}".rstrip(), va="center", fontsize=7)
        labels.append(f"{s.name} [{s.question_set}]")
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    title = "Ranking per question set (blue: local, orange: API, grey: ensemble; pale: worse than the best)"
    ax.set(xlim=(0, 1.25), xlabel="overall score (kaggle), 95% BCa bootstrap interval", title=title)
    unranked = sorted({r.name for r in runs if r.overall is not None} - {s.name for s in everyone})
    notes = [tie_note(everyone), cut]
    if unranked:
        notes.append(f"not ranked (fewer than 2 questions with stored scores): {join_names(unranked)}")
    plot.note = "; ".join(n for n in notes if n)
    return save(fig, out, plot, len(ranked))


def plot_cost_vs_score(runs: list[RunInfo], out: Path) -> Plot:
    plot = Plot("cost_vs_score", "Cost vs score")
    kept = [r for r in runs if r.overall is not None and r.usd_per_1000_questions is not None]
    if not kept:
        return not_drawn(plot, out, "no run with both a score and a recorded cost")
    if not any(r.usd_per_1000_questions for r in kept):
        return not_drawn(plot, out, ALL_FREE)
    fig, ax = pyplot().subplots(figsize=(7, 5))
    scatter(ax, kept, lambda r: r.usd_per_1000_questions, lambda r: r.overall)
    ax.set_xlim(left=0)  # a cost is never negative; matplotlib's margin would draw a negative axis
    ax.set(xlabel="USD per 1000 questions", ylabel="overall score", title="Cost vs score")
    ax.legend(fontsize=8)
    return save(fig, out, plot, len(kept))


def plot_breakdown(runs: list[RunInfo], out: Path) -> Plot:
    plot = Plot("score_breakdown", "Score breakdown")
    kept = [r for r in runs if all(r.score(p) is not None for p, _, _ in WEIGHTS)]
    if not kept:
        return not_drawn(plot, out, "no scored run")
    kept, plot.note = top_runs(kept, lambda r: r.overall)
    fig, ax = pyplot().subplots(figsize=(max(6, 0.8 * len(kept)), 5))
    bottom = [0.0] * len(kept)
    for part, weight, label in WEIGHTS:
        heights = [weight * (r.score(part) or 0) for r in kept]
        ax.bar([r.name for r in kept], heights, bottom=bottom, label=label)
        bottom = [b + h for b, h in zip(bottom, heights)]
    ax.set(ylim=(0, 1), ylabel="weighted points", title="What each run's score is made of")
    ax.tick_params(axis="x", rotation=45)
    ax.legend(fontsize=8)
    return save(fig, out, plot, len(kept))


def _scope_note(scope: str, left: list[RunInfo]) -> str | None:
    if not left:
        return None
    names = join_names([r.name for r in left])
    return f"compared on {scope} energy only; not drawn (no {scope} energy measured): {names}"


def plot_energy(runs: list[RunInfo], out: Path) -> Plot:
    plot = Plot("energy_per_run", "Energy per question")
    scope, kept, left = common_energy_scope(runs)
    if scope is None:
        return not_drawn(plot, out, "no run has measured energy (NVML or RAPL was not available on its machine)")
    measured = len(kept)
    # The lowest energy first when some must be left out: the runs a reader looks for in an energy figure.
    kept, cut = top_runs(kept, lambda r: -(r.wh_per_question_on(scope) or 0.0), what=f"lowest {scope} energy")
    fig, ax = pyplot().subplots(figsize=(max(6, 0.8 * len(kept)), 5))
    ax.bar([r.name for r in kept], [r.wh_per_question_on(scope) for r in kept], color="#55a868")
    ax.set(ylabel=f"{scope} Wh per question", title=f"Energy per question, {scope} (measured runs only)")
    ax.tick_params(axis="x", rotation=45)
    plot.note = "; ".join(n for n in (_scope_note(scope, left), cut) if n) or None
    return save(fig, out, plot, measured if cut is None else len(kept))


def plot_pareto(runs: list[RunInfo], out: Path) -> Plot:
    """Accuracy against energy per question on one scope, each with its 95% interval, and the front of runs no
    other run beats on both; the note says which steps along the front are distinguishable."""
    plot = Plot("accuracy_vs_energy_pareto", "Accuracy vs energy (Pareto front)")
    scope, measured, left = common_energy_scope([r for r in runs if r.overall is not None])
    kept = [r for r in measured if r.wh_per_question_on(scope or "")]
    if scope is None or not kept:
        return not_drawn(plot, out, "no run has both a score and measured energy per question")
    energy = {r.name: r.wh_per_question_on(scope) or 0.0 for r in kept}
    front, best = [], -1.0
    for run in sorted(kept, key=lambda r: (energy[r.name], -(r.overall or 0))):
        if (run.overall or 0) > best:
            front.append(run)
            best = run.overall or 0
    fig, ax = pyplot().subplots(figsize=(7, 5))
    scatter(ax, kept, lambda r: energy[r.name], lambda r: r.overall, log_x=True)
    ranked = {s.name: s for s in standings(kept)}
    for run in kept:
        score_ci = ranked[run.name].interval if run.name in ranked else None
        energy_ci = energy_interval_wh(question_energy_j(run, scope)) if scope != "all" else None
        x, y = energy[run.name], run.overall or 0.0
        yerr = None if score_ci is None else [[y - score_ci[0]], [score_ci[1] - y]]
        xerr = None if energy_ci is None else [[max(x - energy_ci[0], 0.0)], [max(energy_ci[1] - x, 0.0)]]
        ax.errorbar(x, y, yerr=yerr, xerr=xerr, fmt="none", ecolor="#555", elinewidth=0.8, capsize=2)
    ax.step([energy[r.name] for r in front], [r.overall for r in front], where="post", color="red",
            label="Pareto front")  # fmt: skip
    ax.set(xlabel=f"{scope} Wh per question (95% intervals)", ylabel="overall score (95% intervals)",
           title=f"Accuracy vs energy ({scope})")  # fmt: skip
    ax.legend(fontsize=8)
    steps = front_steps([r.name for r in front], {r.name: r for r in kept}, scope) if scope != "all" else []
    notes = [_scope_note(scope, [r for r in runs if r not in kept]), *(["front: " + "; ".join(steps)] if steps else [])]
    plot.note = "; ".join(n for n in notes if n) or None
    return save(fig, out, plot, len(kept))
