"""What every figure shares: the `Plot` record, matplotlib set up for servers, saving PNG and SVG, the figure that
says why it was not drawn, and the scatter with stacked labels."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wattbench.report.runs import RunInfo
from wattbench.report.standings import TIED, Standing, join_names

MARKERS = {"local": "s", "api": "o", "ensemble": "^"}
COLOURS = {"local": "#4c72b0", "api": "#dd8452", "ensemble": "#8c8c8c"}
SCORE_PARTS = (("overall", "Overall"), ("value_accuracy", "Value"), ("ref_overlap", "Ref overlap"), ("na_term", "NA"))
WEIGHTS = (
    ("value_accuracy", 0.75, "value (0.75)"),
    ("ref_overlap", 0.15, "ref (0.15)"),
    ("na_term", 0.10, "NA (0.10)"),
)


LABELLED_MAX = 40
"""The most runs a figure draws one per row, bar or label: past it a figure draws the runs that matter for what it
shows (the top by its figure, and every run tied with the best) and its note says how many it left out. 40 rows at
0.4 in are a 1,800-pixel-tall PNG at the dpi below, which a browser shows at once."""
CELL_TEXT_MAX = 20
"""The agreement heatmap prints each cell's value up to this many runs; past it the colour alone carries it."""
SVG_MAX_MARKS = 60
"""An SVG is written beside the PNG only for a figure of at most this many runs: past it (a heatmap of 200 runs is
a 17 MB SVG) the PNG alone is kept."""
DPI = 110


@dataclass
class Plot:
    name: str
    title: str
    files: list[Path] = field(default_factory=list)
    note: str | None = None
    """What was left out or missing, for the report and the command's output."""


def pyplot():
    import matplotlib

    matplotlib.use("Agg")  # no display on servers and in CI
    # Run names and model ids are text, not TeX: "$5 run" or "a_$x$" must print as written, never as mathtext
    # (which renders them wrongly or raises on an unbalanced "$").
    matplotlib.rcParams["text.parse_math"] = False
    import matplotlib.pyplot as plt

    return plt


def save(fig, out: Path, plot: Plot, marks: int = 0) -> Plot:
    """The figure as PNG, and as SVG too when it draws at most SVG_MAX_MARKS runs (`marks`); a stale SVG of an
    earlier, smaller store is removed so the folder never shows an old figure beside a new one."""
    from wattbench.store.safe_io import guarded

    try:
        with guarded(out, "write plots into"):
            out.mkdir(parents=True, exist_ok=True)
            for suffix in ("png", "svg"):
                path = out / f"{plot.name}.{suffix}"
                if suffix == "svg" and marks > SVG_MAX_MARKS:
                    path.unlink(missing_ok=True)
                    continue
                fig.savefig(path, dpi=DPI, bbox_inches="tight")
                plot.files.append(path)
    finally:
        pyplot().close(fig)
    return plot


def not_drawn(plot: Plot, out: Path, why: str) -> Plot:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 2.5))
    ax.axis("off")
    ax.text(0.5, 0.5, f"{plot.title}\n\nnot drawn: {why}", ha="center", va="center", wrap=True, fontsize=10)
    plot.note = why
    return save(fig, out, plot)


def top_runs(runs: list[RunInfo], key: Callable[[RunInfo], float | None], limit: int = LABELLED_MAX,
             what: str = "overall score") -> tuple[list[RunInfo], str | None]:  # fmt: skip
    """The `limit` runs highest by `key` (in their order), and a note saying how many were left out; every run
    when there are no more than `limit`."""
    if len(runs) <= limit:
        return runs, None
    keep = set(map(id, sorted(runs, key=lambda r: -(key(r) or 0.0))[:limit]))
    kept = [r for r in runs if id(r) in keep]
    return kept, f"the top {limit} of {len(runs)} runs by {what} drawn; {len(runs) - limit} left out"


def top_standings(ranked: list[Standing], limit: int = LABELLED_MAX) -> tuple[list[Standing], str | None]:
    """Per question set, its best `limit` runs and every run tied with the best beyond them (up to 2 x `limit`,
    so a campaign of indistinguishable runs still fits a page), and a note of what was left out."""
    kept: list[Standing] = []
    notes = []
    for label in dict.fromkeys(s.question_set for s in ranked):
        group = [s for s in ranked if s.question_set == label]
        chosen = group[:limit] + [s for s in group[limit:] if s.place == TIED][:limit]
        kept += chosen
        if len(chosen) < len(group):
            notes.append(f"{label}: {len(chosen)} of {len(group)} runs drawn (the top {limit} and those tied with the "
                         f"best), {len(group) - len(chosen)} detectably worse ones left out")  # fmt: skip
    return kept, "; ".join(notes) or None


def left_out(runs: list[RunInfo], kept: list[RunInfo], what: str) -> str | None:
    missing = [r.name for r in runs if r not in kept]
    return f"{what} unknown for {join_names(missing)}" if missing else None


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


def scatter(ax, runs: list[RunInfo], x: Callable[[RunInfo], Any], y: Callable[[RunInfo], Any], size=None, log_x=False):
    """One marker per run; each labelled with its name up to LABELLED_MAX runs, past it only the LABELLED_MAX
    highest on the y axis (every marker is still drawn)."""
    if log_x:
        _log_x(ax)
    seen: set[str] = set()
    offsets = _label_offsets([(x(r), y(r)) for r in runs], ax) if runs else []
    labelled = {id(r) for r in top_runs(runs, lambda r: y(r))[0]}
    for run, offset in zip(runs, offsets):
        kind = run.deployment
        ax.scatter(
            x(run), y(run), marker=MARKERS[kind], s=size(run) if size else 60, alpha=0.75, color=COLOURS[kind],
            label=None if kind in seen else kind, edgecolors="black", linewidths=0.5,
        )  # fmt: skip
        seen.add(kind)
        if id(run) in labelled:
            ax.annotate(run.name, (x(run), y(run)), fontsize=7, xytext=offset, textcoords="offset points")
    ax.grid(alpha=0.3)


def _log_x(ax) -> None:
    """A log axis labelled in plain numbers (0.5, 7, 70), not 5x10^-1."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())


def sized_and_scored(runs: list[RunInfo]) -> list[RunInfo]:
    return [r for r in runs if r.params_b is not None and r.overall is not None]


SIZE_HELP = "model size (add it to model_sizes.toml)"
