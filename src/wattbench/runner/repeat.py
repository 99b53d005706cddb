"""Same-model ensembles: one config run N times with seeds 0..N-1 at a temperature above 0, then combined.

Each seed is a normal run dir (`<ensemble name>-s<seed>`), resumable and reused when already complete, so a killed
ensemble picks up where it stopped and its members show in the matrix, the audit and the plots like any run.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from wattbench.config import ConfigError, ExperimentConfig
from wattbench.report.ensemble_run import run_ensemble
from wattbench.runner.experiment import run_experiment
from wattbench.store.rundir import RunDir

DEFAULT_TEMPERATURE = 0.7
"""Used when the config samples greedily: at temperature 0 every seed gives the same answers."""


def seed_configs(
    config: ExperimentConfig, num_runs: int, temperature: float | None, base_name: str
) -> list[ExperimentConfig]:
    if num_runs < 2:
        raise ConfigError(f"--num-runs {num_runs}: an ensemble needs at least 2 runs")
    temp = temperature if temperature is not None else (config.generation.temperature or DEFAULT_TEMPERATURE)
    if temp <= 0:
        raise ConfigError(f"--temperature {temp}: seeds only differ when sampling; use a temperature above 0")
    return [
        config.model_copy(
            update={
                "name": f"{base_name}-s{seed}",
                "generation": config.generation.model_copy(update={"seed": seed, "temperature": temp}),
            }
        )
        for seed in range(num_runs)
    ]


def same_model_ensemble(
    config: ExperimentConfig,
    num_runs: int,
    name: str,
    *,
    data_dir: Path | None,
    solution: Path,
    strategy: str = "majority",
    ignore_blank: bool = False,
    calibration: Path | None = None,
    temperature: float | None = None,
    force: bool = False,
    notify: Callable[[str], None] = lambda message: None,
) -> dict[str, Any]:
    """Run (or resume) every seed, then write the ensemble run dir; returns the ensemble's summary."""
    existing = RunDir(Path(config.output_dir) / name).read_summary()
    if existing is not None and existing.get("kind") != "ensemble" and not force:
        raise ConfigError(f"--name {name}: {Path(config.output_dir) / name} is a run, not an ensemble; pick another")
    members = []
    for seeded in seed_configs(config, num_runs, temperature, name):
        notify(f"{seeded.name}: seed {seeded.generation.seed}, temperature {seeded.generation.temperature}")
        result = run_experiment(seeded, data_dir=data_dir, force=force, notify=notify)
        if result.interrupted:
            raise KeyboardInterrupt
        members.append(str(result.run_dir))
    return run_ensemble(
        members,
        name,
        experiments_dir=Path(config.output_dir),
        strategy=strategy,
        ignore_blank=ignore_blank,
        solution=solution,
        calibration=calibration,
        force=True,  # the members may have changed since: an earlier ensemble of this name is rewritten
    )
