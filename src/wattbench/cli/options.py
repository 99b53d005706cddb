"""Options several commands share: the data dir, and the executor that carries out their runs."""

from __future__ import annotations

import typer

DATA_DIR = typer.Option(None, "--data-dir", help="Data dir (default: $WATTBENCH_DATA, then ./data).")

EXECUTOR = typer.Option(
    "inline", "--executor", help="inline (one run at a time), local (packed onto GPU or CPU slots) or ray."
)
GPUS = typer.Option(None, "--gpus", help="local: only these GPUs (0,1).")
SLOTS = typer.Option(None, "--slots", help="local: run on N CPU slots (default when no GPU is visible: 1).")
RAY_ADDRESS = typer.Option(
    None, "--ray-address", help="ray: the cluster (default: $RAY_ADDRESS, else a local Ray for this call)."
)


def executor_choice(executor: str, gpus: str | None, slots: int | None, ray_address: str | None):  # noqa: ANN201
    """The parsed, checked executor options (an unknown executor or a bad GPU list is refused here)."""
    from wattbench.errors import WattbenchError
    from wattbench.executors.registry import ExecutorChoice, check_executor

    check_executor(executor)
    gpu_list = None
    if gpus:
        try:
            gpu_list = [int(part) for part in gpus.split(",") if part.strip()]
        except ValueError:
            raise WattbenchError(f"--gpus {gpus}: give NVML indices separated by commas (0,1)") from None
    if slots is not None and slots < 1:
        raise WattbenchError(f"--slots {slots}: give 1 or more")
    return ExecutorChoice(executor, gpu_list, slots, ray_address)


def timeout_s(minutes: float) -> float:
    """`--timeout-min` in seconds; zero or less would kill every run at once."""
    from wattbench.errors import WattbenchError

    if minutes <= 0:
        raise WattbenchError(f"--timeout-min {minutes:g}: give a positive number of minutes")
    return minutes * 60
