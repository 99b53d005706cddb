"""Backends own their options: one table of names, each engine's options model, what each engine says of itself
(priced, takes a slot, needs a model), and engines other packages register through an entry point."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from fakes.plugin import install_plugin
from fakes.servers import ScriptedServer
from fakes.workspace import make_workspace
from wattbench.backends.base import GenerationRequest
from wattbench.backends.registry import ENGINES, backend_class, create_backend, resolve_backend
from wattbench.campaigns.jobs import Campaign, run_job
from wattbench.cli import main
from wattbench.config import ExperimentConfig
from wattbench.errors import WattbenchError
from wattbench.runs.costs import price_per_1m
from wattbench.runs.wattbot import backend_options


def test_every_alias_resolves_and_a_near_miss_is_suggested():
    for alias, name in (("llama_cpp", "llamacpp"), ("transformers", "hf"), ("pytorch", "hf"), ("hf_local", "hf"),
                        ("openrouter", "openai"), ("vllm_endpoint", "openai"), ("vllm", "vllm")):  # fmt: skip
        assert resolve_backend(alias) == name
    with pytest.raises(WattbenchError, match="did you mean 'llamacpp'"):
        resolve_backend("llamacppp")


def test_an_unknown_option_is_an_error_not_dropped():
    with pytest.raises(WattbenchError, match=r"backend 'openai': base_ulr: unknown option"):
        create_backend("openai", model="m", base_ulr="http://127.0.0.1:1/v1")
    with pytest.raises(WattbenchError, match=r"backend 'hf': dtype: "):
        create_backend("hf", model="m", dtype="int3")


def test_vllm_endpoint_keeps_the_users_server(monkeypatch):
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    server = ScriptedServer([])
    try:
        config = ExperimentConfig(provider="vllm_endpoint", model="m")
        config.generation.base_url, config.generation.max_concurrent = server.url, 3
        options = backend_options(config)
        assert options["base_url"] == server.url and options["max_concurrent"] == 3
        assert options["json_mode"] == "json_schema" and options["request_timeout_s"] == 60.0
        backend = create_backend(config.provider, **options)
        (done,) = backend.generate([GenerationRequest(messages=[{"role": "user", "content": "hi"}])])
        assert done.error is None and len(server.seen) == 1  # it reached the user's server, not $OPENAI_BASE_URL
    finally:
        server.close()


def test_api_models_take_no_gpu_slot():
    def gpus(provider: str, model: str) -> int:
        return run_job(ExperimentConfig(provider=provider, model=model), Path("run.toml"), Campaign()).gpus_on(80.0)

    assert gpus("openrouter", "openai/gpt-4o-mini") == 0
    assert gpus("vllm_endpoint", "m") == 0
    assert gpus("transformers", "Qwen/Qwen2.5-7B-Instruct") == 1


def test_local_engines_cost_nothing_under_every_name():
    for provider in ("llamacpp", "llama_cpp", "llama.cpp", "hf", "transformers", "pytorch", "vllm"):
        assert price_per_1m(provider, "some/model", None, None) == (0.0, 0.0), provider
    assert price_per_1m("openai", "gpt-4o-mini", None, None)[0] > 0
    assert price_per_1m("openrouter", "no/such-model", None, None) == (None, None)  # unknown, never 0


def test_an_unknown_provider_fails_at_load_before_the_index(wattbot: Path, tmp_path: Path, capsys):
    root = make_workspace(wattbot, tmp_path / "ws")
    code = main(["run", "--config", str(root / "run.toml"), "--data-dir", str(root / "data"),
                 "--provider", "transformerz", "--quiet"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and "--provider: unknown backend 'transformerz'" in err and "did you mean" in err
    assert not (root / "index.sqlite").exists() and not (root / "runs").exists()
    configs = tmp_path / "configs"
    configs.mkdir()
    (configs / "typo.toml").write_text('provider = "vlm"\nmodel = "m"\n')
    main(["benchmark", "--configs", str(configs), "--dry-run"])
    printed = capsys.readouterr().out
    assert "config does not load" in printed and "unknown backend 'vlm'" in printed and "did you mean 'vllm'" in printed


def test_ensemble_members_get_the_gpus_their_model_needs(wattbot: Path, tmp_path: Path, monkeypatch, capsys):
    from wattbench.campaigns.ensemble import ensemble_of_configs
    from wattbench.campaigns.jobs import Campaign
    from wattbench.executors.registry import ExecutorChoice

    # The GPU inventory is hardware: two 24 GB GPUs. A 14B model in bf16 needs about 35 GB, so two of them.
    monkeypatch.setattr("wattbench.energy.hardware.visible_gpus", lambda *a: {0: 24.0, 1: 24.0})
    root = make_workspace(wattbot, tmp_path / "ws")
    members = []
    for seed in (0, 1):
        # meter = nvml fails in the member process at once (no NVML here): only the GPUs it was given matter.
        config = ExperimentConfig(name=f"big-s{seed}", provider="hf", model="Qwen/Qwen2.5-14B-Instruct",
                                  output_dir=str(root / "runs"))  # fmt: skip
        config.energy.meter = "nvml"
        members.append(config)
    said: list[str] = []
    with pytest.raises(WattbenchError, match="ensemble member big-s"):
        campaign = Campaign(ExecutorChoice("local"), tmp_path / "logs", root / "data", timeout_s=120, say=said.append)
        ensemble_of_configs(members, "big", campaign, solution=root / "questions.csv")
    placed = [line for line in said if line.startswith("big-s") and " on " in line]
    assert placed and all(line.endswith("on GPU 0,1") for line in placed), said


ECHO_ENGINE = """
from typing import Any, ClassVar

from wattbench.backends.base import Completion, EngineOptions, options_of


class EchoOptions(EngineOptions):
    answer: str = '{"answer_value": "is_blank", "ref_id": [], "explanation": "echo"}'


class EchoBackend:
    name = "echo"
    Options = EchoOptions
    priced: ClassVar[bool] = False
    needs_model: ClassVar[bool] = False
    takes_slot: ClassVar[bool] = True

    @classmethod
    def run_options(cls, config):
        return {"model": config.model}

    @classmethod
    def batch_options(cls, model, config):
        return {"model": model}

    def __init__(self, options=None, **kwargs: Any) -> None:
        self.options = options_of(self.name, EchoOptions, options, kwargs)

    def generate(self, requests):
        return [Completion(text=self.options.answer, prompt_tokens=3, completion_tokens=2, finish_reason="stop",
                           latency_s=0.001) for _ in requests]

    def info(self):
        return {"engine": "echo", "model_id": self.options.model or "echo", "devices": self.devices()}

    def devices(self):
        return ["cpu"]

    def close(self):
        pass
"""


def test_a_third_party_engine_registers_through_an_entry_point(wattbot: Path, tmp_path: Path, capsys, monkeypatch):
    points = "[wattbench.backends]\necho = echo_engine:EchoBackend\n"
    monkeypatch.syspath_prepend(str(install_plugin(tmp_path / "site", "echo_engine", ECHO_ENGINE, points)))
    ENGINES.refresh()
    try:
        assert resolve_backend("echo") == "echo" and backend_class("echo").__name__ == "EchoBackend"
        # Written to an earlier contract (no BackendBase), it gets the defaults of what it leaves out.
        echo = backend_class("echo")
        assert echo.endpoint_client is None and echo.renders_prompt is False and echo.name == "echo"
        with pytest.raises(WattbenchError, match="provider 'echo' has no load mode"):
            echo.at_load({}, 4)
        root = make_workspace(wattbot, tmp_path / "ws")
        code = main(["run", "--config", str(root / "run.toml"), "--data-dir", str(root / "data"),
                     "--provider", "echo", "--name", "echo-run", "--quiet"])  # fmt: skip
        assert code == 0, capsys.readouterr()
        summary = json.loads((root / "runs" / "echo-run" / "summary.json").read_text())
        assert summary["llm_provider"] == "echo" and summary["num_answered"] == 4
        assert summary["cost"]["usd"] == 0.0  # it says it is not priced
    finally:
        ENGINES.refresh()
        sys.modules.pop("echo_engine", None)


def test_a_prompt_too_long_is_reported_as_a_context_overflow():
    from wattbench.backends.base import failure_reason

    for message in (
        "Requested tokens (5000) exceed context window of 4096",  # llama-cpp-python
        "This model's maximum context length is 4096 tokens. However, you requested 5000 tokens",  # vLLM, OpenAI
        "the request exceeds the available context size, try increasing it",  # llama.cpp server
    ):
        assert failure_reason(message) == "context_overflow", message
    assert failure_reason("CUDA out of memory") == "error"
    too_long = json.dumps({"error": {"message": "This model's maximum context length is 2048 tokens."}})
    server = ScriptedServer([(400, too_long, {}, 0)])
    try:
        backend = create_backend("openai", model="m", base_url=server.url)
        (failed,) = backend.generate([GenerationRequest(messages=[{"role": "user", "content": "hi"}])])
        assert failed.finish_reason == "context_overflow" and failed.attempts == 1
        (done,) = backend.generate([GenerationRequest(messages=[{"role": "user", "content": "hi"}])])
        assert done.finish_reason == "stop"
    finally:
        server.close()
