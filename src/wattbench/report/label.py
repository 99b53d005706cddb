"""An AI Energy Score-style label for one batch run, as SVG and PNG.

The label holds what the official one holds (model, task and class, GPU energy in Wh per 1,000 queries, stars,
hardware, date) plus the protocol the figure was measured under, where its stars come from, and "measured with
wattbench": a label from the default protocol, or from a run marked not comparable, says so on its face.
The SVG keeps its text as text (searchable, and what the Chromium test reads back).
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path

from wattbench.report.plots.base import pyplot

GREEN, GREY, INK = "#2e7d32", "#c8c8c8", "#1a1a1a"


@dataclass(frozen=True)
class LabelFacts:
    model: str
    task: str
    model_class: str
    reasoning_state: str
    wh_per_1000_queries: float | None
    stars: int | None
    stars_basis: str
    """Where the stars come from ("AI Energy Score board 2025-12", "this batch", or why there are none)."""
    hardware: str
    date: str
    protocol: str
    comparable: bool | None
    note: str | None = None
    stars_range: list[int] | None = None
    """[fewest, most] stars the row's energy interval across passes allows, when they differ ("3-4 of 5")."""


def energy_text(value: float | None) -> str:
    if value is None:
        return "not measured"
    return f"{value:,.2f}" if value < 1000 else f"{value:,.0f}"


def _star(ax, x: float, y: float, size: float, filled: bool) -> None:
    from matplotlib.patches import Polygon

    points = []
    for i in range(10):
        radius = size if i % 2 == 0 else size * 0.45
        angle = math.pi / 2 + i * math.pi / 5
        points.append((x + radius * math.cos(angle), y + radius * math.sin(angle)))
    ax.add_patch(Polygon(points, closed=True, facecolor=GREEN if filled else "white", edgecolor=GREEN, linewidth=1.5))


def _figure(facts: LabelFacts):
    plt = pyplot()
    fig = plt.figure(figsize=(3.6, 5.2))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, 36)
    ax.set_ylim(0, 52)
    ax.axis("off")
    ax.add_patch(plt.Rectangle((0.5, 0.5), 35, 51, facecolor="white", edgecolor=INK, linewidth=2))
    ax.add_patch(plt.Rectangle((0.5, 45.5), 35, 6, facecolor=GREEN, edgecolor=INK, linewidth=2))
    ax.text(18, 48.5, "AI Energy Score", ha="center", va="center", fontsize=15, color="white", fontweight="bold")
    model = facts.model if len(facts.model) <= 34 else facts.model[:33] + "…"
    ax.text(18, 42, model, ha="center", va="center", fontsize=10, fontweight="bold", color=INK)
    ax.text(18, 39.2, f"{facts.task}, class {facts.model_class or '-'}, {facts.reasoning_state or 'default'}",
            ha="center", va="center", fontsize=8, color=INK)  # fmt: skip
    # A range of stars (the energy interval spans a band edge): the certain ones filled, the uncertain ones not.
    filled = facts.stars_range[0] if facts.stars_range else facts.stars
    for i in range(5):
        _star(ax, 6 + i * 6, 33, 2.4, filled is not None and i < filled)
    said = f"{facts.stars_range[0]}-{facts.stars_range[1]}" if facts.stars_range else f"{facts.stars}"
    ax.text(18, 29, f"{said} of 5 stars" if facts.stars else "not rated", ha="center", fontsize=8, color=INK)
    ax.text(18, 27, facts.stars_basis, ha="center", fontsize=6.5, color="#555555")
    ax.text(18, 22, energy_text(facts.wh_per_1000_queries), ha="center", va="center", fontsize=20,
            fontweight="bold", color=INK)  # fmt: skip
    ax.text(18, 18.8, "Wh per 1,000 queries (GPU energy)", ha="center", fontsize=8, color=INK)
    ax.plot([3, 33], [16.5, 16.5], color=GREY, linewidth=1)
    lines = [f"Hardware: {facts.hardware}", f"Date: {facts.date}", f"Protocol: {facts.protocol}"]
    if facts.comparable is False:
        lines.append("Not comparable with the board" + (f": {facts.note}" if facts.note else ""))
    for i, line in enumerate(lines):
        text = line if len(line) <= 58 else line[:57] + "…"
        ax.text(3, 14 - i * 2.3, text, ha="left", fontsize=6.5, color=INK)
    ax.text(18, 2.5, "measured with wattbench", ha="center", fontsize=7, color="#555555", style="italic")
    return fig


def render_svg(facts: LabelFacts) -> str:
    """The label as an SVG document whose text stays text."""
    plt = pyplot()
    import matplotlib

    fig = _figure(facts)
    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        fig.savefig(buffer, format="svg")
    plt.close(fig)
    return buffer.getvalue()


def write_label(facts: LabelFacts, out_dir: Path, stem: str = "label") -> list[Path]:
    """label.svg and label.png in `out_dir`."""
    from wattbench.store.safe_io import guarded

    plt = pyplot()
    svg, png = out_dir / f"{stem}.svg", out_dir / f"{stem}.png"
    with guarded(out_dir, "write the label into"):
        out_dir.mkdir(parents=True, exist_ok=True)
        svg.write_text(render_svg(facts), encoding="utf-8")
        fig = _figure(facts)
        try:
            fig.savefig(png, dpi=200)
        finally:
            plt.close(fig)
    return [svg, png]
