"""`wattbench ensemble`: existing runs combined, or member configs run and then combined. A same-model ensemble is
one config run N times with seeds 0..N-1 at a temperature above 0.

Each seed is a normal run dir (`<ensemble name>-s<seed>`), resumable and reused when already complete, so a killed
ensemble picks up where it stopped and its members show in the matrix, the audit and the plots like any run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from wattbench.campaigns.jobs import Campaign, run_configs, write_config
from wattbench.config import ConfigError, EnsembleConfig, ExperimentConfig, load_ensemble_config, read_config_file
from wattbench.data.paths import resolve_data_dir, wattbot_dir
from wattbench.errors import WattbenchError
from wattbench.executors.job import Say
from wattbench.names import check_name
from wattbench.report.ensemble_run import run_ensemble
from wattbench.runs.checks import load_run_config
from wattbench.store.paths import run_dir_path
from wattbench.store.rundir import RunDir

DEFAULT_TEMPERATURE = EnsembleConfig.model_fields["seeded_temperature"].default
"""Used when the config samples greedily: at temperature 0 every seed gives the same answers."""

CAMPAIGN_KEYS = ("members", "experiments")
"""A --config file with one of these at its top level is an ensemble's own settings; a run config has neither."""


def ensemble_settings(paths: list[Path], overrides: dict[str, Any]) -> EnsembleConfig:
    """The ensemble's settings: from one campaign file given as --config, or from the flags with --config as the
    member run configs."""
    if len(paths) == 1 and paths[0].suffix.lower() in (".toml", ".yaml", ".yml"):
        if any(key in read_config_file(paths[0]) for key in CAMPAIGN_KEYS):
            return load_ensemble_config(paths[0], overrides)
    members = [str(path) for path in paths] or None
    return load_ensemble_config(None, {**overrides, "members": members})


def run_ensemble_campaign(settings: EnsembleConfig, say: Say) -> tuple[dict[str, Any], Path]:
    """(the ensemble's summary, the folder its run dir is in): existing runs combined, or the member configs run
    (or resumed) on the chosen executor and then combined."""
    if bool(settings.experiments) == bool(settings.members):
        raise WattbenchError("give either --experiments A B C (existing runs) or --config X [--config Y ...]")
    solution = Path(settings.solution) if settings.solution else None
    calibration = Path(settings.calibration) if settings.calibration else None
    if settings.experiments:
        summary = run_ensemble(settings.experiments, settings.name, experiments_dir=Path(settings.experiments_dir),
                               strategy=settings.strategy, ignore_blank=settings.ignore_blank,
                               solution=solution or _train_questions(settings), calibration=calibration,
                               force=settings.force)  # fmt: skip
        return summary, Path(settings.experiments_dir)
    members = _member_configs(settings, say)
    campaign = Campaign.of(settings.executor, Path(settings.log_dir or member_logs(members, settings.name)),
                           settings.data_dir, force=settings.force, say=say)  # fmt: skip
    summary = ensemble_of_configs(members, settings.name, campaign,
                                  solution=solution or Path(members[0].questions or _train_questions(settings)),
                                  strategy=settings.strategy, ignore_blank=settings.ignore_blank,
                                  calibration=calibration)  # fmt: skip
    return summary, Path(members[0].output_dir)


def _train_questions(settings: EnsembleConfig) -> Path:
    return wattbot_dir(resolve_data_dir(Path(settings.data_dir) if settings.data_dir else None)) / "train_QA.csv"


def _member_configs(settings: EnsembleConfig, say: Say) -> list[ExperimentConfig]:
    """Each member config loaded (a same-model ensemble: the one config, once per seed)."""
    paths = [Path(p) for p in settings.members or []]
    if len(paths) > 1 and settings.num_runs is not None:
        raise WattbenchError("--num-runs is for one --config (a same-model ensemble); several configs run once")
    loaded = []
    for path in paths:
        config, warnings = load_run_config(path, {"limit": settings.limit}, {"limit": "--limit"})
        for warning in warnings:
            say(f"warning: {path}: {warning}")
        loaded.append(config)
    if len(loaded) > 1:
        return loaded
    return seed_configs(loaded[0], settings.same_model_runs, settings.temperature, settings.name)


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
    campaign: Campaign,
    *,
    solution: Path,
    strategy: str = "majority",
    ignore_blank: bool = False,
    calibration: Path | None = None,
) -> dict[str, Any]:
    """Run (or resume) every member config, each a `wattbench run` process: one after another (inline) or in
    parallel on the executor's slots or Ray cluster; then combine them into the ensemble run dir `name`.
    The CLI puts member logs in `member_logs(configs, name)` unless told otherwise."""
    experiments_dir = Path(configs[0].output_dir)
    existing = RunDir(run_dir_path(experiments_dir, name)).read_summary()
    if existing is not None and existing.kind != "ensemble" and not campaign.force:
        raise ConfigError(f"--name {name}: {experiments_dir / name} is a run, not an ensemble; pick another")
    names = [c.name for c in configs]
    if len(set(names)) < len(names) or name in names:
        raise ConfigError(f"--config: the members' run names must differ from each other and from --name ({names})")
    for member in configs:
        what, sampling = member.model or member.provider, member.generation
        campaign.say(f"{member.name}: {what}, seed {sampling.seed}, temperature {sampling.temperature}")
    _run_members(configs, campaign)
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


def member_logs(configs: list[ExperimentConfig], name: str) -> Path:
    """Member logs beside the run dirs: artifacts/ensembles/<name>/ for the default artifacts/experiments."""
    return Path(configs[0].output_dir).parent / "ensembles" / name


def _run_members(configs: list[ExperimentConfig], campaign: Campaign) -> None:
    # Each member's Job asks for the GPUs its model's weights need (model sizes), not one GPU whatever the model.
    to_run = [(write_config(c, campaign.log_dir / "configs"), c) for c in configs]
    outcomes = run_configs(
        to_run, campaign, lambda o: campaign.say(f"{o.name}: {o.status}" + (f" on {o.devices}" if o.devices else ""))
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
