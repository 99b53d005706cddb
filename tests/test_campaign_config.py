"""`--config` campaign files for benchmark, scaling, ensemble and batch: the file sets what the flags set, a flag
overrides the file, each default is written once (wattbench.config), and bad values name the file, field or flag."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fakes.store import write_run
from fakes.workspace import make_workspace
from wattbench.cli import main
from wattbench.config import (
    BatchConfig,
    BenchmarkConfig,
    EnsembleConfig,
    ExecutorConfig,
    ScalingConfig,
    load_benchmark_config,
    load_scaling_config,
)
from wattbench.config.campaigns import BENCHMARK_FLAGS, ENSEMBLE_FLAGS, SCALING_FLAGS

REPO_CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def _configs(tmp_path: Path, wattbot: Path) -> Path:
    root = make_workspace(wattbot, tmp_path)
    configs = root / "configs"
    configs.mkdir()
    base = (root / "run.toml").read_text()
    for name in ("alpha", "beta"):
        (configs / f"{name}.toml").write_text(f'name = "{name}"\n' + base)
    return configs


def test_a_benchmark_file_sets_the_plan_and_flags_override_it(tmp_path: Path, wattbot: Path, capsys):
    configs = _configs(tmp_path, wattbot)
    campaign = tmp_path / "benchmark.toml"
    campaign.write_text(f'configs = "{configs}"\nmodels = ["alpha"]\nsmoke_test = true\n[executor]\nname = "local"\n')
    assert main(["benchmark", "--config", str(campaign), "--dry-run"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [f"would run  alpha-smoke (llamacpp, default) from {configs / 'alpha.toml'}"]
    # A flag overrides the file: --model beta replaces the file's models.
    assert main(["benchmark", "--config", str(campaign), "--model", "beta", "--dry-run"]) == 0
    assert "would run  beta-smoke" in capsys.readouterr().out
    settings = load_benchmark_config(campaign, {"executor.timeout_min": 5})
    assert settings.executor.name == "local" and settings.executor.timeout_s == 300
    assert BenchmarkConfig().executor.timeout_min == 30 and ScalingConfig(family="x").executor.timeout_min == 60


def test_bad_campaign_values_name_the_file_field_or_flag(tmp_path: Path, wattbot: Path, capsys):
    configs = _configs(tmp_path, wattbot)
    campaign = tmp_path / "benchmark.toml"
    campaign.write_text(f'configs = "{configs}"\nsmoke_tset = true\n')
    assert main(["benchmark", "--config", str(campaign), "--dry-run"]) == 2
    assert f"{campaign}: smoke_tset: unknown setting" in capsys.readouterr().err
    campaign.write_text(f'configs = "{configs}"\n[executor]\nname = "locl"\n')
    assert main(["benchmark", "--config", str(campaign), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "unknown executor 'locl'" in err and "did you mean 'local'?" in err
    campaign.write_text(f'configs = "{configs}"\n[executor]\ntimeout_min = 0\n')
    assert main(["benchmark", "--config", str(campaign), "--dry-run"]) == 2
    assert f"{campaign}: executor.timeout_min: Input should be greater than 0" in capsys.readouterr().err
    assert main(["benchmark", "--configs", str(configs), "--timeout-min", "0", "--dry-run"]) == 2
    assert "--timeout-min: Input should be greater than 0" in capsys.readouterr().err
    assert main(["benchmark", "--configs", str(configs), "--gpus", "0,x", "--dry-run"]) == 2
    assert "--gpus: '0,x': give NVML indices separated by commas (0,1)" in capsys.readouterr().err
    assert main(["benchmark", "--config", str(tmp_path / "nope.toml"), "--dry-run"]) == 2
    assert "nope.toml: config file not found" in capsys.readouterr().err


def test_a_scaling_file_gives_the_family_and_numeric_sizes(tmp_path: Path, capsys):
    campaign = tmp_path / "scaling.yaml"
    campaign.write_text(f"family: qwen2.5\nsizes: [1.5, 7]\nconfigs: {REPO_CONFIGS}\n")
    assert main(["scaling", "--config", str(campaign), "--dry-run"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[2] for line in lines] == ["1.5:", "7:"]
    assert main(["scaling", "--config", str(campaign), "--sizes", "3", "--dry-run"]) == 0
    assert [line.split()[2] for line in capsys.readouterr().out.splitlines()] == ["3:"]
    assert main(["scaling", "--dry-run", "--configs", str(REPO_CONFIGS)]) == 2
    assert "--family is required: give it, or set family in a --config file" in capsys.readouterr().err
    assert load_scaling_config(None, {"family": "qwen2.5", "sizes": ["0.5"]}).sizes == ["0.5"]


def test_an_ensemble_file_combines_runs(tmp_path: Path, wattbot: Path, capsys):
    runs = tmp_path / "runs"
    for name, correct in (("a", 30), ("b", 20), ("c", 25)):
        write_run(runs, name, wattbot / "train_QA.csv", correct=correct)
    campaign = tmp_path / "ensemble.toml"
    campaign.write_text(
        f'name = "abc"\nexperiments = ["a", "b", "c"]\nexperiments_dir = "{runs}"\n'
        f'solution = "{wattbot / "train_QA.csv"}"\nstrategy = "first_non_blank"\n'
    )
    assert main(["ensemble", "--config", str(campaign)]) == 0
    assert "ensemble abc (first_non_blank) of a, b, c" in capsys.readouterr().out
    summary = json.loads((runs / "abc" / "summary.json").read_text())
    assert summary["strategy"] == "first_non_blank" and summary["members"] == ["a", "b", "c"]
    # The flag wins over the file; --force because the run dir exists now.
    assert main(["ensemble", "--config", str(campaign), "--strategy", "majority", "--force"]) == 0
    assert json.loads((runs / "abc" / "summary.json").read_text())["strategy"] == "majority"
    campaign.write_text(f'experiments = ["a", "b"]\nexperiments_dir = "{runs}"\n')
    assert main(["ensemble", "--config", str(campaign)]) == 2
    assert "--name is required" in capsys.readouterr().err
    campaign.write_text(f'name = "ab"\nexperiments = ["a", "b"]\nstrategy = "vote"\nexperiments_dir = "{runs}"\n')
    assert main(["ensemble", "--config", str(campaign)]) == 2
    assert f"{campaign}: strategy: Input should be 'majority', 'first_non_blank' or 'confidence'" in (
        capsys.readouterr().err
    )
    assert EnsembleConfig(name="x").same_model_runs == 5


def test_batch_reads_its_executor_from_the_file(tmp_path: Path, data_dir: Path, capsys):
    path = tmp_path / "batch.toml"
    path.write_text('[executor]\nname = "locl"\n')
    csv_path = data_dir / "energy_score" / "oct_2025_models.csv"
    args = ["batch", "--config", str(path), "--models-csv", str(csv_path), "--class", "A", "--num-prompts", "1"]
    assert main([*args, "--backend", "openai", "--endpoint", "http://127.0.0.1:9/v1"]) == 2
    err = capsys.readouterr().err
    assert "unknown executor 'locl'" in err and "did you mean 'local'?" in err
    assert not (tmp_path / "batch_results").exists()
    assert BatchConfig(executor=ExecutorConfig(name="ray")).executor.timeout_min == 60


@pytest.mark.parametrize("flags", [BENCHMARK_FLAGS, SCALING_FLAGS, ENSEMBLE_FLAGS])
def test_every_flag_names_a_real_setting(flags: dict[str, str]):
    """A flag table entry that names no field would make an error about that flag name the wrong thing."""
    model = {id(BENCHMARK_FLAGS): BenchmarkConfig, id(SCALING_FLAGS): ScalingConfig}.get(id(flags), EnsembleConfig)
    for dotted in flags:
        head, _, leaf = dotted.partition(".")
        assert head in model.model_fields, dotted
        if leaf:
            assert leaf in ExecutorConfig.model_fields, dotted


def test_an_unknown_meter_fails_at_load_before_the_index(tmp_path: Path, wattbot: Path, capsys):
    root = make_workspace(wattbot, tmp_path)
    config = root / "run.toml"
    config.write_text(config.read_text().replace("[energy]\n", '[energy]\nmeter = "nvlm"\n'))
    assert main(["run", "--config", str(config), "--data-dir", str(root / "data"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"{config}: energy.meter: unknown meter 'nvlm' (known: auto, nvml, rapl, none); did you mean 'nvml'?" in err
    assert not (root / "index.sqlite").exists() and not (root / "runs").exists()
