"""`wattbench meter serve`: the read-only energy agent for a GPU host (energy/agent.py)."""

from __future__ import annotations

from pathlib import Path

import typer

from wattbench.cli import app

meter_app = typer.Typer(help="The energy meter agent: GPU energy for runs against a server on another host.",
                        no_args_is_help=True)  # fmt: skip
app.add_typer(meter_app, name="meter")


@meter_app.command("serve")
def serve(
    gpus: str = typer.Option(..., "--gpus", help="NVML indices of the GPUs to serve, e.g. 0,1."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind; any but loopback needs a token."),
    port: int = typer.Option(8765, "--port", help="Port (0: any free one)."),
    token_file: Path = typer.Option(
        None,
        "--token-file",
        help="File whose first line is the token; else $WATTBENCH_METER_TOKEN. Never pass a token on the command line.",
    ),  # fmt: skip
) -> None:
    """Answer the served GPUs' energy counters and power over HTTP (read-only) until interrupted."""
    from wattbench.cli.options import gpu_list
    from wattbench.energy.agent import serve as serve_agent

    serve_agent(gpu_list(gpus) or [], host, port, token_file)
