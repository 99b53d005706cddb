"""Figures over the per-question scores: intervals, evidence types, agreement, unique wins, refusals."""

from __future__ import annotations

from pathlib import Path

from wattbench.report.plots.base import CELL_TEXT_MAX, LABELLED_MAX, Plot, not_drawn, pyplot, save, top_standings
from wattbench.report.question_stats import (
    QuestionScores,
    accuracy_by_evidence,
    agreement,
    refusal_rates,
    unique_wins,
)
from wattbench.report.standings import rank_rows, tie_note

NO_SCORED_RUN = "no run has a submission scored against the solution"


def _scored(scores: QuestionScores) -> list[str]:
    return [name for name, rows in scores.by_run.items() if rows]


def _top(scores: QuestionScores, names: list[str], limit: int = LABELLED_MAX) -> tuple[list[str], str | None]:
    """The `limit` runs of `names` with the highest mean weighted score per question (in their order), and a
    note of how many were left out; all of them when there are no more."""
    if len(names) <= limit:
        return names, None
    rows = scores.by_run
    overall = {name: sum(r.weighted for r in rows[name].values()) / len(rows[name]) for name in names}
    keep = set(sorted(names, key=lambda n: (-overall[n], n))[:limit])
    return [n for n in names if n in keep], f"the top {limit} of {len(names)} runs by mean score per question drawn"


def plot_intervals(scores: QuestionScores, out: Path) -> Plot:
    """Each run's overall score against the solution with its 95% BCa bootstrap interval, per question set."""
    plot = Plot("overall_intervals", "Overall score with 95% bootstrap intervals")
    everyone = rank_rows({name: scores.by_run[name] for name in _scored(scores)})
    if not everyone:
        return not_drawn(plot, out, NO_SCORED_RUN)
    ranked, cut = top_standings(everyone)
    fig, ax = pyplot().subplots(figsize=(7, 1 + 0.4 * len(ranked)))
    for i, s in enumerate(reversed(ranked)):
        lo, hi = s.interval or (s.overall, s.overall)
        ax.errorbar(s.overall, i, xerr=[[s.overall - lo], [hi - s.overall]], fmt="o", capsize=4,
                    color="#4c72b0" if s.place != "worse" else "#a0a0a0")  # fmt: skip
    ax.set_yticks(range(len(ranked)), [f"{s.name} (n={s.n})" for s in reversed(ranked)])
    ax.set(xlim=(0, 1), xlabel="overall score, 95% BCa bootstrap interval over questions", title=plot.title)
    plot.note = "; ".join(n for n in (tie_note(everyone), cut) if n)
    return save(fig, out, plot, len(ranked))


def plot_evidence(scores: QuestionScores, out: Path) -> Plot:
    plot = Plot("accuracy_by_evidence", "Value accuracy by evidence type")
    names = _scored(scores)
    if not names:
        return not_drawn(plot, out, NO_SCORED_RUN)
    names, plot.note = _top(scores, names, limit=12)  # bars side by side per evidence type: a dozen stay apart
    by_run = {name: accuracy_by_evidence(scores, name) for name in names}
    kinds = sorted({k for acc in by_run.values() for k in acc})
    fig, ax = pyplot().subplots(figsize=(max(6, 1.2 * len(kinds)), 5))
    width = 0.8 / len(names)
    for j, (name, acc) in enumerate(by_run.items()):
        ax.bar([i + j * width for i in range(len(kinds))], [acc.get(k, (0, 0))[0] for k in kinds], width, label=name)
    counts = {k: sum(1 for q in scores.ids if scores.evidence[q] == k) for k in kinds}
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(kinds))], [f"{k}\n(n={counts[k]})" for k in kinds])
    ax.set(ylim=(0, 1), ylabel="value accuracy", title=plot.title)
    ax.legend(fontsize=7)
    return save(fig, out, plot, len(names))


def plot_agreement(scores: QuestionScores, out: Path) -> Plot:
    plot = Plot("agreement_heatmap", "Answer agreement between runs")
    names = _scored(scores)
    if len(names) < 2:
        return not_drawn(plot, out, "needs at least two runs with submissions")
    names, plot.note = _top(scores, names)
    grid = [[agreement(scores, a, b) for b in names] for a in names]
    # Past CELL_TEXT_MAX runs the cells shrink to the colour alone (no per-cell text) in a figure of bounded size.
    cell_in = 0.7 if len(names) <= CELL_TEXT_MAX else 0.3
    fig, ax = pyplot().subplots(figsize=(1.5 + cell_in * len(names), 1 + 0.86 * cell_in * len(names)))
    image = ax.imshow(
        [[v if v is not None else float("nan") for v in row] for row in grid], vmin=0, vmax=1, cmap="viridis"
    )
    if len(names) <= CELL_TEXT_MAX:
        for i, row in enumerate(grid):
            for j, value in enumerate(row):
                text = "-" if value is None else f"{value:.2f}"
                ax.text(j, i, text, ha="center", va="center", fontsize=7, color="white")
    small = {} if len(names) <= CELL_TEXT_MAX else {"fontsize": 6}
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right", **small)
    ax.set_yticks(range(len(names)), names, **small)
    fig.colorbar(image, ax=ax, label="share of questions with equal values")
    ax.set_title(plot.title)
    return save(fig, out, plot, len(names))


def plot_unique_wins(scores: QuestionScores, out: Path) -> Plot:
    plot = Plot("unique_wins", "Questions only one run got right")
    wins = unique_wins(scores)
    if not wins:
        return not_drawn(plot, out, NO_SCORED_RUN)
    if len(wins) < 2:
        return not_drawn(plot, out, "needs at least two runs with submissions")
    if not any(wins.values()):
        return not_drawn(plot, out, "no question was answered right by exactly one run")
    if len(wins) > LABELLED_MAX:
        most = sorted(wins, key=lambda n: (-len(wins[n]), n))[:LABELLED_MAX]
        plot.note = f"the {LABELLED_MAX} of {len(wins)} runs with the most unique wins drawn"
        wins = {n: v for n, v in wins.items() if n in most}
    fig, ax = pyplot().subplots(figsize=(max(6, 0.8 * len(wins)), 4))
    ax.bar(list(wins), [len(v) for v in wins.values()], color="#8172b3")
    ax.set(ylabel="questions", title=plot.title)
    ax.tick_params(axis="x", rotation=45)
    return save(fig, out, plot, len(wins))


def plot_refusals(scores: QuestionScores, out: Path) -> Plot:
    plot = Plot("refusal_rates", "Refusal (is_blank) rates")
    names = _scored(scores)
    if not names:
        return not_drawn(plot, out, NO_SCORED_RUN)
    names, plot.note = _top(scores, names)
    rates = [refusal_rates(scores, n) for n in names]
    fig, ax = pyplot().subplots(figsize=(max(6, 0.8 * len(names)), 4))
    xs = range(len(names))
    ax.bar([x - 0.2 for x in xs], [r[0] or 0 for r in rates], 0.4, label="answerable (false refusals)")
    ax.bar([x + 0.2 for x in xs], [r[1] or 0 for r in rates], 0.4, label="unanswerable (right refusals)")
    ax.set_xticks(list(xs), names, rotation=45, ha="right")
    ax.set(ylim=(0, 1), ylabel="share answered is_blank", title=plot.title)
    ax.legend(fontsize=8)
    return save(fig, out, plot, len(names))
