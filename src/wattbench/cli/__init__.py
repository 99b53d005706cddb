"""The `wattbench` command: parses, calls the library, prints. No logic lives only here."""

from __future__ import annotations

import sys

import typer

from wattbench import __version__
from wattbench.errors import WattbenchError

app = typer.Typer(
    name="wattbench",
    help="Measure what an LLM answer costs and how good it is: accuracy, latency, tokens, money and energy.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"wattbench {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """wattbench."""


def _register() -> None:
    # Command modules attach themselves to `app` on import; importing here keeps start-up to what is used.
    from wattbench.cli import (  # noqa: F401
        batch,
        batch_official,
        batch_reasoning,
        compare,
        data,
        hw,
        load,
        meter,
        pairs,
        report,
        retrieval,
        run,
        score,
        settings,
        sweep,
    )


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; bad input prints one line to stderr and returns 2 (the exit code when run as a script)."""
    from wattbench import signals

    signals.install()  # SIGTERM (a scheduler, `timeout`) is handled as Ctrl-C is, exit 143
    _register()
    command = typer.main.get_command(app)
    try:
        result = command.main(args=argv, prog_name="wattbench", standalone_mode=False)
    except WattbenchError as exc:
        from wattbench.urls import redact_text

        print(f"wattbench: error: {redact_text(str(exc))}", file=sys.stderr)
        code = exc.exit_code
    except typer.Exit as exc:
        code = exc.exit_code
    except (typer.Abort, KeyboardInterrupt):
        print("wattbench: interrupted", file=sys.stderr)
        code = signals.interrupt_exit_code()
    except Exception as exc:
        # Usage errors (bad option, missing argument) know how to print themselves; typer has moved the class
        # between releases, so recognise it by what it does rather than by import path.
        if not (hasattr(exc, "show") and hasattr(exc, "exit_code")):
            raise
        exc.show()
        code = 2
    else:
        code = result if isinstance(result, int) else 0
    if code == signals.SIGINT_EXIT and signals.terminated():
        code = signals.SIGTERM_EXIT  # typer turns any KeyboardInterrupt, SIGTERM's too, into exit 130
    if argv is None:
        sys.exit(code)
    return code
