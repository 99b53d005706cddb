"""The load sweep's figures: J per output token against batch size, and the energy-vs-latency front (J per
output token against median TPOT, one point per batch size). Without GPU energy they say so instead."""

from __future__ import annotations

from pathlib import Path

from wattbench.report.plots.base import Plot, not_drawn, pyplot, save
from wattbench.runs.load import LoadPoint


def plot_load(points: list[LoadPoint], out: Path) -> list[Path]:
    return [f for plot in load_plots(points, out) for f in plot.files if f.suffix == ".svg"]


def load_plots(points: list[LoadPoint], out: Path) -> list[Plot]:
    """Both figures of one sweep, drawn into `out` (PNG and SVG each)."""
    measured = [p for p in points if p.j_per_output_token is not None]
    return [_j_per_token(points, measured, out), _front(measured, out)]


def _j_per_token(points: list[LoadPoint], measured: list[LoadPoint], out: Path) -> Plot:
    plot = Plot("load_j_per_token", "J per output token against batch size (steady state)")
    if not measured:
        why = points[0].energy_unavailable if points else "no points"
        return not_drawn(plot, out, f"no GPU energy: {why}")
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot([p.batch_size for p in measured], [p.j_per_output_token for p in measured], marker="o")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("batch size (requests in flight)")
    ax.set_ylabel("GPU J per output token")
    ax.set_title(plot.title)
    ax.grid(alpha=0.3)
    return save(fig, out, plot)


def _front(measured: list[LoadPoint], out: Path) -> Plot:
    plot = Plot("load_energy_latency", "Energy against latency: J per output token and median TPOT")
    usable = [p for p in measured if p.tpot_p50_s is not None]
    if not usable:
        return not_drawn(plot, out, "no GPU energy or no token timing")
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot([p.tpot_p50_s for p in usable], [p.j_per_output_token for p in usable], marker="o")
    for p in usable:
        ax.annotate(f"B={p.batch_size}", (p.tpot_p50_s, p.j_per_output_token), textcoords="offset points",
                    xytext=(4, 4), fontsize=8)  # fmt: skip
    ax.set_xlabel("median time per output token (s)")
    ax.set_ylabel("GPU J per output token")
    ax.set_title(plot.title)
    ax.grid(alpha=0.3)
    return save(fig, out, plot)
