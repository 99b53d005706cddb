"""`wattbench batch`: the Energy Score batch runner; `wattbench batch ratings`: star ratings from its results."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from wattbench.campaigns.batch_rows import BatchOutcome

from wattbench.cli import app
from wattbench.cli.options import DATA_DIR, EXECUTOR, GPUS, METER_URL, RAY_ADDRESS, SLOTS, flag_values, setting_option
from wattbench.config.batch import BATCH_FLAGS, BatchConfig

batch_app = typer.Typer(
    help="Run every model of a models CSV on a prompt set, reasoning-aware, and aggregate the results.",
    invoke_without_command=True,
    no_args_is_help=False,
)
app.add_typer(batch_app, name="batch")


def format_plan(entries: list[dict[str, Any]]) -> str:
    """The resolved table: one line per row, then each row's warnings."""
    header = f"{'row':>3}  {'model':<44} {'cls':<3} {'task':<9} {'state':<12} {'reasoning':<9} {'budget':<10} sent"
    lines = [header, "-" * len(header)]
    for e in entries:
        if not e["supported"]:
            lines.append(
                f"{e['row']:>3}  {e['model'][:44]:<44} {e['class'] or '-':<3} {e['task'][:9]:<9} "
                f"{e['reasoning_state'] or '-':<12} unsupported: {e['unsupported_reason']}"
            )
            continue
        reasoning = {True: "on", False: "off", None: "no switch"}[e["reasoning"]]
        budget = f"{'=' if e['fixed_length'] else '<='}{e['max_new_tokens']}"
        lines.append(
            f"{e['row']:>3}  {e['model'][:44]:<44} {e['class'] or '-':<3} {e['task'][:9]:<9} "
            f"{e['reasoning_state'] or '-':<12} {reasoning:<9} {budget:<10} {e['sent']}"
        )
    warned = [e for e in entries if e["warnings"]]
    if warned:
        lines.append("")
        lines.append(f"warnings ({len(warned)} rows):")
        for e in warned:
            for warning in e["warnings"]:
                lines.append(f"  row {e['row']} {e['model']} '{e['reasoning_state']}': {warning}")
    return "\n".join(lines)


_FILTERS = {
    "model_name": typer.Option(None, "--model-name", help="Only models whose id contains this."),
    "model_class": typer.Option(None, "--class", help="Only this class (A, B, C)."),
    "task": typer.Option(None, "--task", help="Only this task (text_gen)."),
    "reasoning_state": typer.Option(None, "--reasoning-state", help="Exact or part of the state (High, Off)."),
    "priority": typer.Option(None, "--priority", help="Only this priority."),
}


def _option(path: str) -> Any:
    """The flag of a BatchConfig setting: its name in BATCH_FLAGS, its help the setting's docstring and default."""
    return setting_option(BatchConfig, path, BATCH_FLAGS)


@batch_app.callback()
def batch(
    ctx: typer.Context,
    config_file: Path = typer.Option(None, "--config", help="TOML/YAML batch config; flags override it."),
    protocol: str = _option("protocol"),
    models_csv: Path = _option("models_csv"),
    prompts_file: str = _option("prompts_file"),
    workload: str = _option("workload"),
    questions: Path = _option("questions"),
    run_config: Path = _option("run_config"),
    prompt_column: str = _option("prompt_column"),
    num_prompts: int = _option("num_prompts"),
    warmup: int = _option("warmup_prompts"),
    repeats: int = _option("repeats"),
    repeat_until: float = _option("repeat_until"),
    max_repeats: int = _option("max_repeats"),
    max_new_tokens: int = _option("max_new_tokens"),
    reasoning_max_new_tokens: int = _option("reasoning_max_new_tokens"),
    backend: str = _option("backend"),
    endpoint: str = _option("endpoint"),
    gguf_dir: Path = _option("gguf_dir"),
    batch_size: int = _option("batch_size"),
    output_dir: Path = _option("output_dir"),
    model_name: str = _FILTERS["model_name"],
    model_class: str = _FILTERS["model_class"],
    task: str = _FILTERS["task"],
    reasoning_state: str = _FILTERS["reasoning_state"],
    priority: int = _FILTERS["priority"],
    list_only: bool = typer.Option(False, "--list", help="Print the resolved table and exit."),
    as_json: bool = typer.Option(False, "--json", help="With --list: the table as a JSON list."),
    strict: bool = typer.Option(False, "--strict", help="A row with a warning is an error."),
    force: bool = typer.Option(False, "--force", help="Run completed (model, state) pairs again."),
    meter: str = _option("energy.meter"),
    idle_seconds: float = _option("energy.idle_seconds"),
    grid_intensity: float = _option("energy.grid_intensity_g_per_kwh"),
    meter_url: str = METER_URL,
    data_dir: Path = DATA_DIR,
    executor: str = EXECUTOR,
    gpus: str = GPUS,
    slots: int = SLOTS,
    ray_address: str = RAY_ADDRESS,
    timeout_min: float = _option("executor.timeout_min"),
) -> int | None:
    """Run each selected (model, reasoning state) of a models CSV; any BatchConfig setting may come from --config."""
    if ctx.invoked_subcommand is not None:
        return None
    from wattbench.campaigns.batch import plan_rows, run_batch_campaign
    from wattbench.config import load_batch_config
    from wattbench.data.models_csv import Filters
    from wattbench.runs.textgen_prompts import batch_prompts, prompt_shortfall

    config = load_batch_config(config_file, flag_values(BATCH_FLAGS, locals()))
    csv_path, specs = plan_rows(config, Filters(model_name, model_class, task, reasoning_state, priority), strict)
    if list_only:
        return _echo_plan([s.to_dict() for s in specs], as_json, config.protocol)
    _warn(specs)
    if config.workload == "wattbot":
        from wattbench.campaigns.batch_wattbot import run_wattbot_batch

        return _report_outcome(run_wattbot_batch(config, specs, force=force, notify=_say), Path(config.output_dir))
    prompts = batch_prompts(config)
    short = prompt_shortfall(config, prompts)
    if short:
        _say(f"warning: {short}")
    outcome = run_batch_campaign(config, specs, prompts, csv_path, force=force, notify=_say)
    return _report_outcome(outcome, Path(config.output_dir))


def _say(message: str) -> None:
    from wattbench.urls import redact_text

    print(redact_text(message), file=sys.stderr)


def _warn(specs: list[Any]) -> None:
    for spec in specs:
        for warning in spec.warnings:
            _say(f"warning: row {spec.row.line} {spec.model_id} '{spec.state_label}': {warning}")


def _echo_plan(entries: list[dict[str, Any]], as_json: bool, protocol_name: str) -> int:
    from wattbench.protocols import DEFAULT, get_protocol

    if as_json:
        typer.echo(json.dumps([{**e, "protocol": protocol_name} for e in entries], indent=2))
        return 0
    protocol = get_protocol(protocol_name)
    default = " (the default; --protocol aienergyscore for the official method)" if protocol_name == DEFAULT else ""
    typer.echo(f"protocol {protocol.name}{default}: {protocol.summary}")
    typer.echo(format_plan(entries))
    return 0


def _report_outcome(outcome: BatchOutcome, output_dir: Path) -> int:
    """What ran, what failed and why; the exit code (130 interrupted, 1 a row failed)."""
    failed = [r for r in outcome.rows if r.status == "failed"]
    typer.echo(
        f"{len(outcome.rows)} runs ({len(failed)} failed), {len(outcome.skipped)} already completed, "
        f"{len(outcome.unsupported)} unsupported; results: {output_dir / 'master_results.csv'}"
    )
    for row in failed:
        typer.echo(f"failed: {row.model_name} '{row.reasoning_state}': {row.error_message}", err=True)
    if outcome.interrupted:
        from wattbench.signals import interrupt_exit_code

        typer.echo("interrupted: rerun the same command to run what is left", err=True)
        return interrupt_exit_code()
    return 1 if failed else 0
