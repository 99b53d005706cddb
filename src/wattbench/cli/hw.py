"""`wattbench hw`: what this machine has, and what energy it can measure (and why not)."""

from __future__ import annotations

import json
from typing import Any

import typer

from wattbench.cli import app


@app.command()
def hw(
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object (keys gpus, cpu, meters, unavailable)."),
    meter: str = typer.Option("auto", "--meter", help="auto | nvml | rapl | none"),
) -> None:
    """Show GPUs, CPU and memory, the energy meters available, and for each scope why energy is unavailable."""
    from wattbench.energy.hardware import system_facts
    from wattbench.energy.meters import make_meter

    facts = system_facts()
    chosen = make_meter(meter, sampler_hz=None)
    meters: dict[str, Any] = {
        "requested": meter,
        "sources": [s.name for s in chosen.sources if s.scopes()],
        "methods": chosen.methods(),
        "warnings": chosen.setup_warnings,
    }
    unavailable = {**facts.pop("unavailable"), **chosen.unavailable()}
    if as_json:
        typer.echo(json.dumps({**facts, "meters": meters, "unavailable": unavailable}))
        return
    cpu = facts["cpu"]
    ram = f"{cpu['ram_gib']:.1f} GiB RAM" if cpu["ram_gib"] else "RAM unknown"
    typer.echo(f"host   {facts['hostname']} ({facts['os']}, Python {facts['python']})")
    typer.echo(f"cpu    {cpu['model']}, {cpu['logical_cores']} logical cores, {ram}")
    if facts["gpus"]:
        typer.echo(f"driver {facts['driver_version']}, CUDA {facts['cuda_driver_version']}")
        for gpu in facts["gpus"]:
            limit = f"{gpu['power_limit_w']:.0f} W limit" if gpu["power_limit_w"] else "power limit unknown"
            counter = "energy counter" if gpu["energy_counter"] else "no energy counter (power sampling)"
            typer.echo(f"gpu {gpu['index']}  {gpu['name']}, {gpu['memory_total_gib']:.1f} GiB, {limit}, {counter}")
    else:
        typer.echo("gpus   none")
    methods = ", ".join(f"{scope} ({how})" for scope, how in meters["methods"].items()) or "none"
    typer.echo(f"energy measured: {methods}")
    for scope, reason in unavailable.items():
        typer.echo(f"energy unavailable: {scope}: {reason}")
    for warning in meters["warnings"]:
        typer.echo(f"warning: {warning}")
