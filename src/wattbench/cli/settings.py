"""`wattbench settings`: the settings reference (every config key, its type, default and meaning)."""

from __future__ import annotations

import typer

from wattbench.cli import app


@app.command()
def settings() -> None:
    """Print every config key of run, batch and campaign files: type, default and meaning (Markdown)."""
    from wattbench.config.reference import settings_markdown

    typer.echo(settings_markdown())
