"""`wattbench load`: an engine at fixed batch sizes, each in its steady state (campaigns/load.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from wattbench.cli import app
from wattbench.cli.options import DATA_DIR, ENGINE_GPUS, METER_URL, gpu_list


@app.command("load")
def load(
    config: Path = typer.Option(None, "--config", help="A run config: provider, model, generation, energy."),
    batch_sizes: str = typer.Option("1,8,32", "--batch-sizes", help="Batch sizes (requests in flight), e.g. 1,8,32."),
    requests: int = typer.Option(None, "--requests", help="Requests per batch size (default: 4 x the largest)."),
    max_tokens: int = typer.Option(128, "--max-tokens", help="Output tokens of every request (min = max)."),
    repeats: int = typer.Option(1, "--repeats", help="Measured passes per batch size (mean, sd, 95% interval)."),
    prompts_file: Path = typer.Option(None, "--prompts-file", help="Prompts (default: energy_score/prompts.csv)."),
    output_dir: Path = typer.Option(Path("load_results"), "--output-dir", help="Where load.json and load.csv go."),
    base_url: str = typer.Option(None, "--base-url", help="OpenAI-compatible server URL ending in /v1."),
    meter_url: str = METER_URL,
    gpus: str = ENGINE_GPUS,
    data_dir: Path = DATA_DIR,
) -> None:
    """J per output token, tokens/s, TTFT/TPOT and GPU power at each batch size, between the moment the batch is
    full and the moment it starts draining (the ML.ENERGY steady state)."""
    from wattbench.campaigns.load import parse_batch_sizes, run_load, sweep_prompts
    from wattbench.report.load_plots import plot_load
    from wattbench.runs.checks import load_run_config

    sizes = parse_batch_sizes(batch_sizes)
    overrides = {"generation.base_url": base_url, "energy.meter_url": meter_url, "generation.gpus": gpu_list(gpus)}
    settings, warnings = load_run_config(config, overrides, {"generation.base_url": "--base-url",
                                                             "energy.meter_url": "--meter-url",
                                                             "generation.gpus": "--gpus"})  # fmt: skip
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    prompts = sweep_prompts(data_dir, prompts_file)
    count = requests if requests is not None else 4 * max(sizes)
    points = run_load(settings, sizes, count, max_tokens, prompts, output_dir, lambda m: print(m, file=sys.stderr),
                      repeats)  # fmt: skip
    for path in plot_load(points, output_dir):
        typer.echo(f"plot: {path}")
    typer.echo(f"results: {output_dir / 'load.json'}, {output_dir / 'load.csv'}")
