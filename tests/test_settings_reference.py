"""The settings reference is made from the config models: every key is there with the model's own default, and
every field has a docstring to show (a new field without one fails here, not silently in the docs)."""

from __future__ import annotations

from pydantic import BaseModel

from wattbench.cli import main
from wattbench.config.batch import BatchConfig
from wattbench.config.campaigns import BenchmarkConfig, EnsembleConfig, ScalingConfig
from wattbench.config.experiment import ExperimentConfig
from wattbench.config.reference import _docstrings, _section_model, settings_markdown

MODELS = (ExperimentConfig, BatchConfig, BenchmarkConfig, ScalingConfig, EnsembleConfig)


def _fields(model: type[BaseModel], prefix: str = ""):
    for name, field in model.model_fields.items():
        nested = _section_model(field)
        if nested is not None:
            yield from _fields(nested, f"{prefix}{name}.")
        else:
            yield model, name, f"{prefix}{name}", field


def test_every_setting_has_a_docstring():
    missing = [key for top in MODELS for model, name, key, _ in _fields(top) if not _docstrings(model).get(name)]
    assert not missing, f"settings without a docstring (the reference would show nothing): {missing}"


def test_the_reference_shows_each_key_with_the_models_default():
    text = settings_markdown()
    run_part = text.split("## A batch")[0]  # the run's section: keys are unique within a section
    rows = {line.split(" | ")[0].strip("| `"): line for line in run_part.splitlines() if line.startswith("| `")}
    config = ExperimentConfig()
    assert f"`{config.generation.n_ctx}`" in rows["generation.n_ctx"]
    assert f"`{config.generation.request_timeout_s}`" in rows["generation.request_timeout_s"]
    assert f'`"{config.name}"`' in rows["name"]
    shown = {line.split(" | ")[0].strip("| `") for line in text.splitlines() if line.startswith("| `")}
    for top in MODELS:
        for _, _, key, _ in _fields(top):
            assert key in shown, key


def test_wattbench_settings_prints_the_reference(capsys):
    assert main(["settings"]) == 0
    out = capsys.readouterr().out
    assert "generation.first_byte_timeout_s" in out and "## A batch" in out
