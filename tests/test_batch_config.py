"""`wattbench batch --config`: every BatchConfig setting from a file, flags over it, defaults written once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wattbench.cli import main
from wattbench.config import BatchConfig, load_batch_config
from wattbench.data.models_csv import ModelSpec, load_plan
from wattbench.runs.textgen_backend import backend_plan


def test_a_batch_config_file_sets_what_no_flag_can(tmp_path: Path, data_dir: Path):
    path = tmp_path / "batch.toml"
    path.write_text(
        'backend = "hf"\ndtype = "bf16"\nn_ctx = 2048\nseed = 7\nmax_consecutive_failures = 5\n'
        "max_new_tokens = 64\nrequest_timeout_s = 30\n[energy]\nidle_seconds = 0\n"
    )
    config = load_batch_config(path, {"batch_size": 4, "num_prompts": None})
    gen = config.generation  # the earlier top-level spelling lands in the generation section a run shares
    assert (gen.dtype, gen.n_ctx, gen.seed, config.max_consecutive_failures) == ("bf16", 2048, 7, 5)
    assert gen.request_timeout_s == 30 and gen.stall_timeout_s == 60.0
    assert config.batch_size == 4 and config.num_prompts is None and config.energy.idle_seconds == 0
    spec = load_plan(data_dir / "energy_score" / "oct_2025_models.csv", config.max_new_tokens)[0]
    name, options = backend_plan(spec, config)
    assert name == "hf" and options["dtype"] == "bf16" and options["max_batch_size"] == 4 and options["seed"] == 7


def test_flags_override_the_file_and_defaults_come_from_the_model(tmp_path: Path, data_dir: Path, capsys):
    path = tmp_path / "batch.yaml"
    path.write_text("max_new_tokens: 64\n")
    csv_path = data_dir / "energy_score" / "oct_2025_models.csv"
    args = ["batch", "--config", str(path), "--models-csv", str(csv_path), "--list", "--json"]
    assert main([*args, "--class", "A"]) == 0
    rows = [r for r in json.loads(capsys.readouterr().out) if r["supported"] and r["fixed_length"]]
    assert rows and {r["max_new_tokens"] for r in rows} == {64}
    assert main([*args, "--class", "A", "--max-new-tokens", "32"]) == 0
    rows = [r for r in json.loads(capsys.readouterr().out) if r["supported"] and r["fixed_length"]]
    assert {r["max_new_tokens"] for r in rows} == {32}
    assert BatchConfig().max_new_tokens == 256  # the one place the default is written


def test_a_batch_shares_the_runs_generation_section_with_its_own_defaults(tmp_path: Path):
    from wattbench.config import ExperimentConfig, GenerationConfig
    from wattbench.config.reference import settings_markdown

    # The same settings model; the batch's defaults differ where a batch needs more room or time, and only there.
    assert type(BatchConfig().generation) in GenerationConfig.__mro__
    run, batch = ExperimentConfig().generation, BatchConfig().generation
    differ = {k for k in type(batch).model_fields if getattr(run, k) != getattr(batch, k)}
    assert differ == {"n_ctx", "request_timeout_s"} and batch.n_ctx == 8192 and run.n_ctx == 4096
    # A partial [generation] table keeps the batch's defaults under it.
    path = tmp_path / "batch.toml"
    path.write_text("[generation]\ndtype = 'fp16'\nstall_timeout_s = 5\n")
    gen = load_batch_config(path).generation
    assert (gen.dtype, gen.stall_timeout_s, gen.n_ctx, gen.request_timeout_s) == ("fp16", 5, 8192, 600)
    # The settings reference shows each workflow's own default, from the models.
    text = settings_markdown()
    batch_part = text[text.index("## A batch") : text.index("## A benchmark")]
    assert "| `generation.n_ctx` | `int` | `8192` |" in batch_part
    assert "| `generation.n_ctx` | `int` | `4096` |" in text[: text.index("## A batch")]


def test_a_setting_given_twice_or_one_a_batch_sets_otherwise_is_one_line(tmp_path: Path, capsys):
    path = tmp_path / "batch.toml"
    path.write_text("n_ctx = 2048\n[generation]\nn_ctx = 4096\n")
    assert main(["batch", "--config", str(path), "--list"]) == 2
    err = capsys.readouterr().err
    assert "n_ctx and generation.n_ctx are both set" in err and len(err.strip().splitlines()) == 1
    for key, instead in (("max_tokens = 10", "max_new_tokens"), ("base_url = 'http://127.0.0.1:1/v1'", "endpoint"),
                         ("max_concurrent = 4", "batch_size")):  # fmt: skip
        path.write_text(f"[generation]\n{key}\n")
        assert main(["batch", "--config", str(path), "--list"]) == 2
        err = capsys.readouterr().err
        assert f"generation.{key.split()[0]} does not apply to a batch" in err and instead in err, err


def test_bad_values_name_the_file_field_or_flag(tmp_path: Path, capsys):
    path = tmp_path / "batch.toml"
    path.write_text("n_ctx = 10\n")
    assert main(["batch", "--config", str(path), "--list"]) == 2
    assert f"{path}: generation.n_ctx: Input should be greater than or equal to 256" in capsys.readouterr().err
    path.write_text("")
    assert main(["batch", "--config", str(path), "--repeats", "0", "--list"]) == 2
    assert "--repeats: Input should be greater than or equal to 1" in capsys.readouterr().err
    path.write_text("dtypo = 1\n")
    assert main(["batch", "--config", str(path), "--list"]) == 2
    assert "dtypo: unknown setting" in capsys.readouterr().err


def test_a_planned_row_travels_in_a_job_unchanged(data_dir):
    """A batch job carries its row as the parent planned it: the child rebuilds the same spec from JSON alone."""
    specs = load_plan(data_dir / "energy_score" / "oct_2025_models.csv", 256, 1024)
    assert specs
    for spec in specs:
        again = ModelSpec.from_plan(json.loads(json.dumps(spec.to_plan())))
        assert again == spec and again.run_key == spec.run_key and again.to_dict() == spec.to_dict()


def test_an_endpoint_reaches_the_engines_server_client_or_is_refused():
    from wattbench.errors import WattbenchError
    from wattbench.runs.textgen_backend import engine_name

    url = "http://127.0.0.1:8000"
    assert engine_name(BatchConfig(backend="vllm", endpoint=url)) == "openai"  # a running vLLM server
    assert engine_name(BatchConfig(backend="llamacpp", endpoint=url)) == "openai"  # llama_cpp.server
    assert engine_name(BatchConfig(backend="vllm")) == "vllm"  # managed: wattbench starts the server
    with pytest.raises(WattbenchError, match="--endpoint: the hf backend runs the model in this process"):
        engine_name(BatchConfig(backend="hf", endpoint=url))


def test_gpus_on_an_inline_batch_names_the_engine_s_gpus_as_on_run_and_load():
    from wattbench.config import BatchConfig

    assert BatchConfig(executor={"gpus": [0, 2]}).generation.gpus == [0, 2]  # one row after another: measured
    assert BatchConfig(executor={"name": "local", "gpus": [0, 2]}).generation.gpus is None  # each row its slot's
    assert BatchConfig(executor={"gpus": [0, 2]}, gpus=[1]).generation.gpus == [1]  # generation.gpus wins
