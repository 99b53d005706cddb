"""The reasoning registry and the models CSV: every row of both published CSVs resolves to the expected mode."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wattbench.cli import main
from wattbench.data.energy_score import load_models_csv, model_id_from_cell, parse_claim, parse_state
from wattbench.data.models_csv import Filters, load_plan, select
from wattbench.reasoning import family_for, near_miss, resolve_mode, split_thinking

CSVS = ("oct_2025_models.csv", "oct_2025_models_upstream.csv")

# (model, Reasoning State) → (reasoning as sent, what is sent, budget, number of warnings); None: not text_gen.
# Budget: "=A" exactly the answer length (fixed), "<=A" at most the answer length, "<=R" at most the reasoning cap.
EXPECTED = {
    ("openai/gpt-oss-20b", "On (High)"): (True, "effort:high", "<=R", 0),
    ("openai/gpt-oss-20b", "On (Low)"): (True, "effort:low", "<=R", 0),
    ("openai/gpt-oss-20b", "On (Medium)"): (True, "effort:medium", "<=R", 0),
    ("openai/gpt-oss-20b", "Off (N/A)"): (True, "effort:low", "<=R", 1),  # no off switch: lowest effort, warned
    ("openai/gpt-oss-120b", "On (High)"): (True, "effort:high", "<=R", 0),
    ("openai/gpt-oss-120b", "On (Low)"): (True, "effort:low", "<=R", 0),
    ("openai/gpt-oss-120b", "On (Medium)"): (True, "effort:medium", "<=R", 0),
    ("google/gemma-3-4b-pt", "On"): (None, "plain", "=A", 1),  # gemma never reasons; a -pt model has no template
    ("google/gemma-3-4b-pt", "Off (N/A)"): (None, "plain", "=A", 0),
    ("google/gemma-3-270m", "Off (N/A)"): (None, "plain", "=A", 0),
    ("google/gemma-3-1b-pt", "Off (N/A)"): (None, "plain", "=A", 0),
    ("google/gemma-3-27b-pt", "Off (N/A)"): (None, "plain", "=A", 0),
    ("google/gemma-3-270m-it", "On"): (None, "", "=A", 1),
    ("google/gemma-3-1b-it", "On"): (None, "", "=A", 1),
    ("google/gemma-3-12b-it", "On"): (None, "", "=A", 1),
    ("google/gemma-3-27b-it", "On"): (None, "", "=A", 1),
    ("HuggingFaceTB/SmolLM3-3B", "On"): (True, "system:/think", "<=R", 0),
    ("HuggingFaceTB/SmolLM3-3B", "Off"): (False, "system:/no_think", "=A", 0),
    ("microsoft/Phi-4-reasoning-plus", "Off"): (None, "", "<=R", 1),  # always reasons, warned
    ("microsoft/Phi-4-reasoning-plus", "On"): (None, "", "<=R", 0),
    ("Qwen/Qwen2.5-Coder-14B", "Off (N/A)"): (None, "plain", "=A", 0),  # a base checkpoint
    ("mistralai/Mistral-Nemo-Instruct-2407", "Off (N/A)"): (None, "", "=A", 0),
    ("mistralai/Mistral-Small-3.1-24B-Instruct-2503", "Off (N/A)"): (None, "", "=A", 0),
    ("Qwen/Qwen3-30B-A3B", "On"): (True, "enable_thinking=True", "<=R", 0),
    ("Qwen/Qwen3-30B-A3B", "Off"): (False, "enable_thinking=False", "=A", 0),
    ("Qwen/Qwen3-235B-A22B", "On"): (True, "enable_thinking=True", "<=R", 0),
    ("Qwen/Qwen3-235B-A22B", "Off"): (False, "enable_thinking=False", "=A", 0),
    ("Qwen/Qwen3-0.6B", "On"): (True, "enable_thinking=True", "<=R", 0),
    ("Qwen/Qwen3-0.6B", "Off"): (False, "enable_thinking=False", "=A", 0),
    ("Qwen/Qwen3-Next-80B-A3B-Thinking", "On"): (None, "", "<=R", 0),
    ("Qwen/Qwen3-Next-80B-A3B-Instruct", "On"): (None, "", "=A", 2),  # never reasons, and its text says so
    ("deepseek-ai/DeepSeek-R1", "Off"): (False, "", "<=A", 1),
    ("deepseek-ai/DeepSeek-R1", "On"): (True, "assistant:<think>", "<=R", 0),
    ("deepseek-ai/DeepSeek-R1-0528", "Off"): (False, "", "<=A", 1),
    ("deepseek-ai/DeepSeek-R1-0528", "On"): (True, "assistant:<think>", "<=R", 1),  # enable_thinking is ignored
    ("deepseek-ai/DeepSeek-R1-Distill-Llama-70B", "Off"): (False, "", "<=A", 2),
    ("deepseek-ai/DeepSeek-R1-Distill-Llama-70B", "On"): (True, "assistant:<think>", "<=R", 1),
    ("deepseek-ai/DeepSeek-R1-Distill-Qwen-32B", "Off"): (False, "", "<=A", 2),
    ("deepseek-ai/DeepSeek-R1-Distill-Qwen-32B", "On"): (True, "assistant:<think>", "<=R", 1),
    ("deepseek-ai/DeepSeek-V3.2-Exp", "Off (N/A)"): (None, "", "=A", 0),
    ("deepseek-ai/DeepSeek-V3", "Off (N/A)"): (None, "", "=A", 0),
    ("zai-org/GLM-4.6", "Off (N/A)"): (False, "enable_thinking=False", "=A", 0),  # thinks by default: Off is sent
    ("zai-org/GLM-4.5", "Off (N/A)"): (False, "enable_thinking=False", "=A", 0),
    ("zai-org/GLM-4.5-Air", "Off (N/A)"): (False, "enable_thinking=False", "=A", 0),
    ("zai-org/GLM-4.15-Air", "Off (N/A)"): (None, "", "=A", 1),  # a typo: unknown family, "did you mean"
    ("ibm-granite/granite-4.0-micro", "Off (N/A)"): (None, "", "=A", 0),
    ("ibm-granite/granite-4.0-h-tiny", "Off (N/A)"): (None, "", "=A", 0),
    ("ibm-granite/granite-4.0-h-small", "Off (N/A)"): (None, "", "=A", 0),
    ("moonshotai/Kimi-K2-Instruct", "Off (N/A)"): (None, "", "=A", 0),
    ("swiss-ai/Apertus-8B-Instruct-2509", "Off (N/A)"): (False, "enable_thinking=False", "=A", 0),
    ("swiss-ai/Apertus-70B-Instruct-2509", "Off (N/A)"): (False, "enable_thinking=False", "=A", 0),
    ("MiniMaxAI/MiniMax-M1-80k", "Off (N/A)"): (None, "", "<=R", 1),
    ("tencent/Hunyuan-1.8B-Instruct", "On"): (True, "prefix:/think", "<=R", 0),
    ("tencent/Hunyuan-1.8B-Instruct", "Off"): (False, "prefix:/no_think", "=A", 0),  # enable_thinking also works
    ("LGAI-EXAONE/EXAONE-4.0-32B", "On"): (True, "enable_thinking=True", "<=R", 0),
    ("LGAI-EXAONE/EXAONE-4.0-32B", "Off"): (False, "enable_thinking=False", "=A", 0),
    ("mistralai/Magistral-Small-2507", "Off (N/A)"): (False, "system:plain", "=A", 0),
    ("nvidia/Llama-3_3-Nemotron-Super-49B-v1_5", "Off"): (False, "system:/no_think", "=A", 0),
    ("nvidia/Llama-3_3-Nemotron-Super-49B-v1_5", "On"): (True, "", "<=R", 0),
    ("Qwen/Qwen-Image", ""): None,
    ("black-forest-labs/FLUX.1-dev", ""): None,
    ("HiDream-ai/HiDream-I1-Full", ""): None,
}


def _summary(spec) -> tuple | None:
    mode = spec.mode
    if mode is None:
        return None
    sent = []
    if mode.chat_template_kwargs:
        sent.append(",".join(f"{k}={v}" for k, v in mode.chat_template_kwargs.items()))
    if mode.system_prompt:
        sent.append("system:" + ("plain" if mode.system_prompt.startswith("You are") else mode.system_prompt))
    if mode.prompt_prefix:
        sent.append("prefix:" + mode.prompt_prefix)
    if mode.assistant_prefix:
        assert mode.assistant_prefix == "<think>\n"
        sent.append("assistant:<think>")
    if mode.effort:
        sent.append("effort:" + mode.effort)
    if not mode.use_chat_template:
        sent.append("plain")
    budget = ("=" if mode.fixed_length else "<=") + {256: "A", 4096: "R"}[mode.max_new_tokens]
    return (mode.reasoning, " ".join(sent), budget, len(spec.warnings))


@pytest.mark.parametrize("name", CSVS)
def test_every_row_of_the_published_csvs_resolves_as_expected(data_dir: Path, name: str):
    specs = load_plan(data_dir / "energy_score" / name)
    assert len(specs) == {"oct_2025_models.csv": 56, "oct_2025_models_upstream.csv": 60}[name]
    for spec in specs:
        key = (spec.model_id, spec.state_label)
        assert key in EXPECTED, f"row {spec.row.line} {key} has no expectation"
        assert _summary(spec) == EXPECTED[key], f"row {spec.row.line} {key}: {spec.warnings}"
        if EXPECTED[key] is None:
            assert not spec.supported and "not text generation" in spec.unsupported_reason


def test_warnings_say_what_the_old_runner_got_wrong(data_dir: Path):
    specs = {(s.model_id, s.state_label): s for s in load_plan(data_dir / "energy_score" / CSVS[0])}
    warned = [s for s in specs.values() if s.warnings]
    assert len(warned) == 13  # "about a dozen" rows mislabelled or with dropped switches
    assert "always reasons" in specs[("microsoft/Phi-4-reasoning-plus", "Off")].warnings[0]
    assert "never reasons" in specs[("google/gemma-3-4b-pt", "On")].warnings[0]
    r1 = specs[("deepseek-ai/DeepSeek-R1-0528", "On")].warnings[0]
    assert "enable_thinking" in r1 and "<think>" in r1
    assert "did you mean zai-org/GLM-4.5-Air" in specs[("zai-org/GLM-4.15-Air", "Off (N/A)")].warnings[0]
    instruct = specs[("Qwen/Qwen3-Next-80B-A3B-Instruct", "On")].warnings
    assert any("Chat Template says reasoning off" in w for w in instruct)


def test_cells_and_claims():
    assert model_id_from_cell("https://huggingface.co/swiss-ai/Apertus-8B-Instruct-2509 ") == (
        "swiss-ai/Apertus-8B-Instruct-2509"
    )
    assert model_id_from_cell("https://huggingface.co/org/m/tree/main") == "org/m"
    assert parse_state("On (High)").effort == "high" and parse_state("On (High)").on is True
    assert parse_state(" Off  (N/A) ").on is False and parse_state("Off (N/A)").effort is None
    assert parse_state("").on is None and not parse_state("maybe").readable
    assert parse_claim("  reasoning: True\r\n  reasoning_params:\r\n    reasoning_effort: low").effort == "low"
    assert parse_claim("enable_thinking=False").mechanism == "enable_thinking"
    assert parse_claim("Reasoning OFF Mode: /no_think in the system prompt.").on is False
    # "</think>" in prose is not a /think flag.
    claim = parse_claim("does not generate <think></think> blocks; supports only instruct (non-thinking) mode")
    assert claim.on is False and claim.mechanism is None
    assert parse_claim("N/A (default)").on is None and parse_claim("default").understood
    assert not parse_claim("ask Bob about this one").understood


def test_registry_families_and_splitting():
    assert family_for("Qwen/Qwen3-Next-80B-A3B-Thinking").name == "qwen3-thinking-only"
    assert family_for("Qwen/Qwen3-30B-A3B-Instruct-2507").name == "qwen3-instruct-only"
    assert family_for("deepseek-ai/DeepSeek-R1-Distill-Qwen-32B").name == "deepseek-r1-distill"
    assert family_for("acme/brand-new").name == "unknown" and near_miss("acme/brand-new") is None
    mode, warnings = resolve_mode("acme/brand-new", True, answer_tokens=256, reasoning_tokens=4096)
    assert mode.reasoning_control == "none" and mode.reasoning is None and "unknown model family" in warnings[0]
    mode, warnings = resolve_mode("openai/gpt-oss-20b", True, "extreme", answer_tokens=256, reasoning_tokens=4096)
    assert mode.effort == "medium" and "not one of" in warnings[0]
    assert split_thinking("<think>hmm</think> 42", "</think>") == ("hmm", "42", True)
    assert split_thinking("still thinking", "</think>") == ("still thinking", "", False)
    assert split_thinking("plain answer", None) == ("", "plain answer", True)


def test_filters_are_anded(data_dir: Path):
    specs = load_plan(data_dir / "energy_score" / CSVS[0])
    assert {s.state_label for s in select(specs, Filters(reasoning_state="high"))} == {"On (High)"}
    assert len(select(specs, Filters(model_name="GPT-OSS"))) == 7
    assert len(select(specs, Filters(model_name="gpt-oss", model_class="c"))) == 3
    assert [s.state_label for s in select(specs, Filters(model_name="qwen3-0.6b", reasoning_state="Off"))] == ["Off"]
    assert all(
        s.row.priority == 3 and s.row.task == "text_gen" for s in select(specs, Filters(priority=3, task="text_gen"))
    )
    assert len(select(specs, Filters(task="image_gen"))) == 3
    assert select(specs, Filters(model_name="gpt-oss", model_class="A")) == []


def test_list_json_has_the_documented_keys(data_dir: Path, capsys):
    csv_path = data_dir / "energy_score" / CSVS[0]
    assert main(["batch", "--models-csv", str(csv_path), "--list", "--json", "--model-name", "gpt-oss-20b"]) == 0
    entries = json.loads(capsys.readouterr().out)
    assert len(entries) == 4
    keys = {"model", "class", "task", "reasoning_state", "reasoning", "effort", "chat_template_kwargs",
            "system_prompt", "prompt_prefix", "harmony", "supported", "warnings"}  # fmt: skip
    assert keys <= set(entries[0])
    assert entries[0]["harmony"] is True and entries[0]["effort"] == "high"
    assert main(["batch", "--models-csv", str(csv_path), "--list", "--task", "image_gen"]) == 0
    assert "unsupported" in capsys.readouterr().out


def test_strict_turns_the_first_warning_into_an_error(data_dir: Path, capsys):
    csv_path = data_dir / "energy_score" / CSVS[0]
    assert main(["batch", "--models-csv", str(csv_path), "--list", "--strict"]) == 2
    err = capsys.readouterr().err
    assert "row 5 (google/gemma-3-4b-pt, 'On')" in err and "more rows with warnings" in err
    assert main(["batch", "--models-csv", str(csv_path), "--list", "--strict", "--model-name", "Qwen3-0.6B"]) == 0


def test_bad_models_csv_is_a_one_line_error(write_csv, capsys):
    path = write_csv([{"Models to Add": "x", "Task": "text_gen"}])
    assert main(["batch", "--models-csv", str(path), "--list"]) == 2
    assert "missing required column 'Reasoning State'" in capsys.readouterr().err
    rows = load_models_csv(write_csv([{"Models to Add": "a/b", "Task": "text_gen", "Reasoning State": "On",
                                       "Priority (1=hi)": "high"}]))  # fmt: skip
    assert rows[0].priority is None and "not a number" in rows[0].problems[0]
