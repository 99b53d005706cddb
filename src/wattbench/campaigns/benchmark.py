"""`wattbench benchmark`: every config of a folder as its own `wattbench run` subprocess, carried out by the chosen
executor (campaigns/jobs.py, executors/): one at a time, packed onto GPU or CPU slots, or on a Ray cluster.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from wattbench.campaigns.jobs import Campaign, run_configs
from wattbench.config import ConfigError, ExperimentConfig
from wattbench.executors.job import STATUSES, Outcome
from wattbench.runs.checks import load_run_config
from wattbench.store.paths import run_dir_path
from wattbench.store.rundir import RunDir, write_json

CONFIG_SUFFIXES = (".toml", ".yaml", ".yml", ".py")


@dataclass
class BenchmarkPlan:
    to_run: list[tuple[Path, ExperimentConfig]] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)
    """Decided before running: skipped configs and configs that do not load."""


def _matches(path: Path, config: ExperimentConfig, keys: list[str]) -> bool:
    haystack = f"{path.stem} {config.name} {config.model or ''}".lower()
    return not keys or any(key.lower() in haystack for key in keys)


def plan_benchmark(
    configs_dir: Path,
    *,
    providers: list[str] | None = None,
    models: list[str] | None = None,
    smoke_test: bool = False,
    force: bool = False,
) -> BenchmarkPlan:
    """Which configs run, and why each other one does not. `models` are keys matched against the file stem,
    the run name and the model id; a key that matches no config is reported as skipped."""
    if not Path(configs_dir).is_dir():
        raise ConfigError(f"--configs {configs_dir}: no such folder of run configs")
    plan = BenchmarkPlan()
    matched: set[str] = set()
    for path in sorted(p for p in Path(configs_dir).iterdir() if p.suffix in CONFIG_SUFFIXES):
        try:
            config, _ = load_run_config(path)
        except ConfigError as exc:
            # Only the file's name can be matched; a broken config nobody asked for does not fail the benchmark.
            keys = [k for k in models or [] if k.lower() in path.stem.lower()]
            if keys or not models:
                matched |= set(keys)
                plan.outcomes.append(Outcome(str(path), None, "failed", f"config does not load: {exc}"))
            continue
        if providers and config.provider not in providers:
            continue
        if not _matches(path, config, models or []):
            continue
        matched |= {k for k in models or [] if _matches(path, config, [k])}
        if smoke_test:
            config = config.model_copy(update={"name": f"{config.name}-smoke", "limit": 1})
        summary = RunDir(run_dir_path(config.output_dir, config.name, f"{path}: name")).read_summary()
        if summary and summary.complete and not force:
            plan.outcomes.append(Outcome(str(path), config.name, "skipped", "run is complete (--force to redo)"))
            continue
        plan.to_run.append((path, config))
    for key in models or []:
        if key not in matched:
            plan.outcomes.append(Outcome(key, None, "skipped", f"no config in {configs_dir} matches '{key}'"))
    return plan


def run_benchmark(
    plan: BenchmarkPlan, campaign: Campaign, notify: Callable[[Outcome], None] = lambda outcome: None
) -> list[Outcome]:
    """Run the plan on the campaign's executor. `<log_dir>/summary.json` is rewritten after every config, so a
    killed benchmark keeps what it learnt."""
    outcomes = list(plan.outcomes)
    for outcome in outcomes:
        notify(outcome)

    def finished(outcome: Outcome) -> None:
        outcomes.append(outcome)
        notify(outcome)
        _write_summary(campaign.log_dir, outcomes)

    run_configs(plan.to_run, campaign, finished)
    _write_summary(campaign.log_dir, outcomes)
    return outcomes


def counts(outcomes: list[Outcome]) -> dict[str, int]:
    out: dict[str, int] = dict.fromkeys(STATUSES, 0)
    for outcome in outcomes:
        out[outcome.status] += 1
    return out


def _write_summary(log_dir: Path, outcomes: list[Outcome]) -> None:
    log_dir.mkdir(parents=True, exist_ok=True)
    payload = {"counts": counts(outcomes), "configs": [asdict(o) for o in outcomes]}
    write_json(log_dir / "summary.json", payload)
