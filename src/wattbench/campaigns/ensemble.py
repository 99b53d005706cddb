"""Same-model ensembles: one config run N times with seeds 0..N-1 at a temperature above 0, then combined.

Each seed is a normal run dir (`<ensemble name>-s<seed>`), resumable and reused when already complete, so a killed
ensemble picks up where it stopped and its members show in the matrix, the audit and the plots like any run.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from wattbench.campaigns.jobs import ExecutorChoice
from wattbench.config import ConfigError, ExperimentConfig
from wattbench.data.model_sizes import ModelSize, load_sizes
from wattbench.errors import WattbenchError
from wattbench.names import check_name
from wattbench.report.ensemble_run import run_ensemble
from wattbench.store.paths import run_dir_path
from wattbench.store.rundir import RunDir

DEFAULT_TEMPERATURE = 0.7
"""Used when the config samples greedily: at temperature 0 every seed gives the same answers."""


def seed_configs(
    config: ExperimentConfig, num_runs: int, temperature: float | None, base_name: str
) -> list[ExperimentConfig]:
    if num_runs < 2:
        raise ConfigError(f"--num-runs {num_runs}: an ensemble needs at least 2 runs")
    check_name(base_name, "--name")
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


def ensemble_of_configs(
    configs: list[ExperimentConfig],
    name: str,
    *,
    data_dir: Path | None,
    solution: Path,
    strategy: str = "majority",
    ignore_blank: bool = False,
    calibration: Path | None = None,
    force: bool = False,
    notify: Callable[[str], None] = lambda message: None,
    executor: ExecutorChoice | None = None,
    log_dir: Path | None = None,
    timeout_s: float = 3600.0,
    sizes: dict[str, ModelSize] | None = None,
) -> dict[str, Any]:
    """Run (or resume) every member config, each a `wattbench run` process: one after another (inline) or in
    parallel on the executor's slots or Ray cluster; then combine them into the ensemble run dir `name`."""
    experiments_dir = Path(configs[0].output_dir)
    existing = RunDir(run_dir_path(experiments_dir, name)).read_summary()
    if existing is not None and existing.get("kind") != "ensemble" and not force:
        raise ConfigError(f"--name {name}: {experiments_dir / name} is a run, not an ensemble; pick another")
    names = [c.name for c in configs]
    if len(set(names)) < len(names) or name in names:
        raise ConfigError(f"--config: the members' run names must differ from each other and from --name ({names})")
    for member in configs:
        what, sampling = member.model or member.provider, member.generation
        notify(f"{member.name}: {what}, seed {sampling.seed}, temperature {sampling.temperature}")
    # Member logs beside the run dirs: artifacts/ensembles/<name>/ for the default artifacts/experiments.
    logs = log_dir or experiments_dir.parent / "ensembles" / name
    # Model sizes tell the executor how many GPUs each member's weights need (not one GPU each whatever the model).
    table = sizes if sizes is not None else load_sizes()
    _run_members(configs, executor or ExecutorChoice(), logs, data_dir, force, notify, timeout_s, table)
    return run_ensemble(
        [str(Path(c.output_dir) / c.name) for c in configs],
        name,
        experiments_dir=experiments_dir,
        strategy=strategy,
        ignore_blank=ignore_blank,
        solution=solution,
        calibration=calibration,
        force=True,  # the members may have changed since: an earlier ensemble of this name is rewritten
    )


def _run_members(
    configs: list[ExperimentConfig],
    executor: ExecutorChoice,
    log_dir: Path,
    data_dir: Path | None,
    force: bool,
    notify: Callable[[str], None],
    timeout_s: float,
    sizes: dict[str, ModelSize],
) -> None:
    from wattbench.campaigns.jobs import RunJob, execute_runs, write_config

    jobs = [RunJob(c, write_config(c, log_dir / "configs"), timeout_s) for c in configs]
    outcomes = execute_runs(
        jobs,
        executor,
        log_dir=log_dir,
        data_dir=data_dir,
        force=force,
        notify=lambda o: notify(f"{o.name}: {o.status}" + (f" on {o.devices}" if o.devices else "")),
        say=notify,
        sizes=sizes,
    )
    bad = [o for o in outcomes if o.status != "passed"]
    if any(o.status == "interrupted" for o in bad):
        raise KeyboardInterrupt
    if bad:
        first = bad[0]
        raise WattbenchError(
            f"ensemble member {first.name} {first.status}: {first.reason}; see {first.log}; "
            "rerun the same command to redo the members that did not finish"
        )
