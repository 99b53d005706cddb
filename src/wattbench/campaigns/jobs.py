"""WattBot runs and batch rows as executor Jobs: the command that runs them here, what they need shipped to a Ray
node, and how many GPUs they need (one rule for every campaign: `gpu_request`).

`benchmark`, `scaling`, same-model ensembles and `batch --executor` all build their Jobs here and hand them to the
executor the user chose (executors/registry.py), so every command schedules, times out and records runs the same
way.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

from wattbench.backends.registry import takes_slot
from wattbench.config import ExperimentConfig
from wattbench.config.campaigns import ExecutorConfig
from wattbench.data.model_sizes import ModelSize, load_sizes, need_gb, params_b_of
from wattbench.executors.job import Job, Notify, Outcome, Say, Shipment
from wattbench.executors.ray import PYTHON, SCRATCH, read_tree, write_tree
from wattbench.executors.registry import ExecutorChoice, check_executor, run_jobs
from wattbench.store.rundir import write_atomically
from wattbench.urls import stash_secrets


@dataclass
class Campaign:
    """What every run of one command shares: where it executes, where logs go, its data, its limit."""

    executor: ExecutorChoice = field(default_factory=ExecutorChoice)
    log_dir: Path = Path("artifacts/logs")
    data_dir: Path | None = None
    force: bool = False
    timeout_s: float = 3600.0
    sizes: dict[str, ModelSize] | None = None
    """Model sizes (model_sizes.toml): how many GPUs each run's weights need. None: the packaged table."""
    say: Say = lambda line: None

    @classmethod
    def of(
        cls, executor: ExecutorConfig, log_dir: Path, data_dir: str | None, *, force: bool = False,
        sizes: dict[str, ModelSize] | None = None, say: Say = lambda line: None,
    ) -> Campaign:  # fmt: skip
        """A campaign from its settings (an unknown executor is refused here, before any run starts)."""
        return cls(executor_choice(executor), Path(log_dir), Path(data_dir) if data_dir else None, force,
                   executor.timeout_s, sizes, say)  # fmt: skip

    def size_table(self) -> dict[str, ModelSize]:
        if self.sizes is None:
            self.sizes = load_sizes()
        return self.sizes

    def run(self, jobs: list[Job], notify: Notify = lambda outcome: None) -> list[Outcome]:
        return run_jobs(jobs, self.executor, notify, self.say)


def executor_choice(config: ExecutorConfig) -> ExecutorChoice:
    """The executor a campaign's settings ask for, checked."""
    check_executor(config.name)
    return ExecutorChoice(config.name, config.gpus, config.slots, config.ray_address)


def gpu_request(
    provider: str, gpus: list[int] | None, tensor_parallel: int, model: str | None, dtype: str,
    sizes: dict[str, ModelSize],
) -> tuple[int, float | None]:  # fmt: skip
    """(GPUs by count, GB its weights need) for a run: none for an engine whose model runs elsewhere (an API or a
    server reached over HTTP); the GPUs its config names or its tensor-parallel size; else one, raised by the
    executor to what the weights need of its GPUs' memory."""
    if not takes_slot(provider):
        return 0, None
    if gpus:
        return len(gpus), None
    if tensor_parallel > 1:
        return tensor_parallel, None
    params_b = params_b_of(model or "", None, sizes)
    return 1, (need_gb(params_b, dtype) if params_b else None)


def write_config(config: ExperimentConfig, folder: Path) -> Path:
    """A derived config (a seed, a size) as a file a subprocess loads like any other: JSON is YAML."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{config.name}.yaml"
    # Credentials in its URLs stay out of the file: the subprocess gets them through its environment.
    write_atomically(path, json.dumps(stash_secrets(config.model_dump(mode="json")), indent=2) + "\n")
    return path


def run_command(path: Path | str, config: ExperimentConfig, data_dir: Path | None, force: bool) -> list[str]:
    command = [sys.executable, "-m", "wattbench", "run", "--config", str(path), "--name", config.name, "--quiet"]
    command += ["--limit", str(config.limit)] if config.limit else []
    command += ["--force"] if force else []
    command += ["--data-dir", str(data_dir)] if data_dir else []
    return command


def run_job(config: ExperimentConfig, path: Path, campaign: Campaign) -> Job:
    """One `wattbench run --config path` (named and limited as `config`), its log `<log_dir>/<name>.log`."""
    gen = config.generation
    gpus, memory_gb = gpu_request(config.provider, gen.gpus, gen.tensor_parallel, config.model, gen.dtype,
                                  campaign.size_table())  # fmt: skip
    return Job(config.name, str(path), run_command(path, config, campaign.data_dir, campaign.force),
               campaign.log_dir / f"{config.name}.log", campaign.timeout_s, gpus, memory_gb,
               lambda: _run_shipment(config, campaign))  # fmt: skip


def _run_shipment(config: ExperimentConfig, campaign: Campaign) -> Shipment:
    """The run for a Ray node: its config pointed at the scratch folder, its questions, and any partial run dir
    (so it resumes); the run dir comes back into the config's output_dir."""
    settings = config.model_dump(mode="json")
    settings["output_dir"] = f"{SCRATCH}/out"
    files: dict[str, bytes] = {}
    questions = Path(config.questions) if config.questions else None
    if questions and questions.is_file():
        files["questions.csv"] = questions.read_bytes()
        settings["questions"] = f"{SCRATCH}/questions.csv"
    run_dir = Path(config.output_dir) / config.name
    if not campaign.force:
        files |= read_tree(run_dir, prefix=f"out/{config.name}/")
    files["config.yaml"] = json.dumps(settings, indent=2).encode()  # JSON is YAML
    command = [PYTHON, *run_command(f"{SCRATCH}/config.yaml", config, None, campaign.force)[1:]]

    def land(out: dict[str, bytes]) -> None:
        write_tree({k.split("/", 1)[1]: v for k, v in out.items() if "/" in k}, run_dir)

    return Shipment(command, files, land, campaign.data_dir)


def run_configs(
    configs: list[tuple[Path, ExperimentConfig]], campaign: Campaign, notify: Notify = lambda outcome: None
) -> list[Outcome]:
    """Each (config file, config as it will run) as a `wattbench run` on the campaign's executor."""
    return campaign.run([run_job(config, path, campaign) for path, config in configs], notify)
