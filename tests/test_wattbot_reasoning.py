"""A WattBot run in a reasoning state (issue 35, parts 1-2): what each request carries per family, and the
thinking taken off the answer before its JSON is parsed, against a scripted server on 127.0.0.1 that thinks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fakes.servers import ScriptedServer
from fakes.workspace import QUESTION_IDS, make_workspace
from wattbench.backends.base import Completion, GenerationRequest
from wattbench.cli import main
from wattbench.reasoning import resolve_mode
from wattbench.tasks.wattbot_reasoning import bounded, separate

ANSWER = '{"answer_value": 4, "ref_id": ["is_blank"], "answer": "4", "explanation": "x"}'


def _reply(content: str, *, reasoning: str | None = None, finish: str = "stop", reasoning_tokens: int | None = 3,
           completion_tokens: int = 40) -> tuple[int, str, dict, float]:  # fmt: skip
    message = {"content": content, **({"reasoning_content": reasoning} if reasoning is not None else {})}
    usage = {"prompt_tokens": 11, "completion_tokens": completion_tokens}
    if reasoning_tokens is not None:
        usage["completion_tokens_details"] = {"reasoning_tokens": reasoning_tokens}
    body = {"choices": [{"message": message, "finish_reason": finish}], "usage": usage}
    return 200, json.dumps(body), {}, 0.0


def _run(wattbot: Path, tmp_path: Path, model: str, state: str | None, default: tuple, name: str = "r"):
    root = make_workspace(wattbot, tmp_path)
    server = ScriptedServer([], default=default)
    args = ["run", "--config", str(root / "run.toml"), "--data-dir", str(root / "data"), "--quiet",
            "--provider", "openai", "--model", model, "--base-url", server.url, "--name", name]  # fmt: skip
    try:
        code = main([*args, *(["--reasoning", state] if state else [])])
    finally:
        server.close()
    run = root / "runs" / name
    summary = json.loads((run / "summary.json").read_text()) if (run / "summary.json").exists() else None
    records = [json.loads(line) for line in (run / "results.jsonl").read_text().splitlines()] if summary else []
    return code, summary, records, [payload for _, payload in server.seen]


def test_qwen3_on_sends_enable_thinking_and_the_think_block_is_taken_off(wattbot: Path, tmp_path: Path):
    thought = "Let me look at the documents. " * 10
    code, summary, records, payloads = _run(wattbot, tmp_path, "Qwen/Qwen3-8B", "On",
                                            _reply(f"<think>{thought}</think>\n{ANSWER}"))  # fmt: skip
    assert code == 0 and summary["num_answered"] == len(QUESTION_IDS)
    answers = [p for p in payloads if p["max_tokens"] > 100]  # the warm-up's and the questions' answer requests
    assert answers and all(p["chat_template_kwargs"] == {"enable_thinking": True} for p in answers)
    # The thinking budget is on top of the answer's, and no JSON schema forbids the thinking.
    assert all(p["max_tokens"] == 80 + 4096 and "response_format" not in p for p in answers)
    for record in records:
        assert record["parse_status"] == "ok" and record["pred_value"] == "4"
        assert record["thinking"] == thought.strip() and record["thinking_chars"] == len(thought.strip())
        assert record["reasoning_tokens"] == 3 and record["reasoning_tokens_method"] == "engine"
    assert summary["reasoning_state"] == "On" and summary["mode"]["family"] == "qwen3"
    assert summary["mode"]["chat_template_kwargs"] == {"enable_thinking": True}


def test_qwen3_off_sends_enable_thinking_false_and_keeps_the_schema(wattbot: Path, tmp_path: Path):
    code, summary, records, payloads = _run(wattbot, tmp_path, "Qwen/Qwen3-8B", "Off", _reply(ANSWER))
    assert code == 0
    assert all(p["chat_template_kwargs"] == {"enable_thinking": False} for p in payloads)
    assert all(p["max_tokens"] == 80 and "response_format" in p for p in payloads)
    assert all(r["reasoning_tokens"] == 3 for r in records)  # the engine's count wins, even when Off


def test_reasoning_content_is_the_thinking_and_a_cut_thought_is_its_own_failure(wattbot: Path, tmp_path: Path):
    code, _, records, _ = _run(wattbot, tmp_path, "Qwen/Qwen3-8B", "On",
                               _reply(ANSWER, reasoning="thinking apart"), name="apart")  # fmt: skip
    assert code == 0 and all(r["thinking"] == "thinking apart" and r["pred_value"] == "4" for r in records)
    # The budget ran out while thinking: no answer, counted apart from unparseable ones, and audited.
    cut = _reply("<think>still going and going", finish="length", reasoning_tokens=None, completion_tokens=4176)
    code, summary, records, _ = _run(wattbot, tmp_path / "cut", "Qwen/Qwen3-8B", "On", cut, name="cut")
    assert all(r["parse_status"] == "thinking_truncated" and r["pred_value"] == "is_blank" for r in records)
    assert all(r["reasoning_tokens"] == 4176 and r["reasoning_tokens_method"] == "cap_reached_while_thinking"
               for r in records)  # fmt: skip
    assert summary["num_thinking_truncated"] == len(QUESTION_IDS) and summary["num_unparseable"] == 0
    from wattbench.report.audit import audit_runs
    from wattbench.report.runs import load_runs

    runs, _ = load_runs(tmp_path / "cut" / "runs")
    (audit,) = audit_runs(runs, tmp_path / "cut" / "data" / "wattbot" / "train_QA.csv")
    assert "thinking_truncated" in [f.code for f in audit.flags]


def test_families_send_their_own_switch(wattbot: Path, tmp_path: Path):
    # gpt-oss: the effort, through Harmony's reasoning_effort; Hunyuan: a /think prefix on the user message.
    _, summary, _, payloads = _run(wattbot, tmp_path / "oss", "openai/gpt-oss-20b", "On (High)", _reply(ANSWER))
    assert payloads and all(p["reasoning_effort"] == "high" for p in payloads)
    assert summary["mode"]["harmony"] is True and summary["mode"]["effort"] == "high"
    _, _, _, payloads = _run(wattbot, tmp_path / "hy", "tencent/Hunyuan-A13B-Instruct", "On", _reply(ANSWER))
    assert payloads and all(p["messages"][-1]["content"].startswith("/think ") for p in payloads)
    _, _, _, payloads = _run(wattbot, tmp_path / "hyoff", "tencent/Hunyuan-A13B-Instruct", "Off", _reply(ANSWER))
    assert all(p["messages"][-1]["content"].startswith("/no_think ") for p in payloads)


def test_a_state_the_family_cannot_take_warns_as_the_batch_runner_does(wattbot: Path, tmp_path: Path, capsys):
    code, summary, _, payloads = _run(wattbot, tmp_path, "HuggingFaceTB/SmolLM2-135M-Instruct", "On", _reply(ANSWER))
    expected = resolve_mode("HuggingFaceTB/SmolLM2-135M-Instruct", True, None, answer_tokens=80,
                            reasoning_tokens=80 + 4096)[1]  # fmt: skip
    assert code == 0 and summary["reasoning_warnings"] == expected and "never reasons" in expected[0]
    assert "warning: reasoning:" in capsys.readouterr().err


def test_a_state_not_in_the_vocabulary_is_one_line_exit_2(wattbot: Path, tmp_path: Path, capsys):
    root = make_workspace(wattbot, tmp_path)
    assert main(["run", "--config", str(root / "run.toml"), "--reasoning", "Maybe"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--reasoning" in err[0] and "expected Off, On" in err[0]


def test_the_thinking_is_separated_the_same_way_whatever_carried_it():
    harmony = "<|channel|>analysis<|message|>think hard<|end|><|start|>assistant<|channel|>final<|message|>{}<|return|>"
    found = separate(Completion(text=harmony), None)
    assert (found.thinking, found.answer, found.truncated) == ("think hard", "{}", False)
    assert separate(Completion(text="<|channel|>analysis<|message|>and on"), None).truncated
    qwen_default = separate(Completion(text="<think>a</think>\n{}"), None)  # no state asked: still taken off
    assert (qwen_default.thinking, qwen_default.answer) == ("a", "{}")
    assert separate(Completion(text="{}"), None) == separate(Completion(text="{}"), None)
    magistral, _ = resolve_mode("mistralai/Magistral-Small-2506", True, None, answer_tokens=80, reasoning_tokens=200)
    assert separate(Completion(text="[THINK]x[/THINK]{}"), magistral).answer == "{}"
    long = "y" * 10_000
    kept = bounded(long)
    assert len(kept) < 4100 and kept.startswith("y" * 2000) and "6000 characters left out" in kept


def test_batch_workload_wattbot_runs_each_row_as_a_wattbot_run_in_its_state(wattbot: Path, tmp_path: Path, capsys):
    import csv

    from fakes.batch_inputs import models_csv

    root = make_workspace(wattbot, tmp_path)
    models = models_csv(tmp_path / "m.csv", [("Qwen/Qwen3-8B", "A", "On"), ("Qwen/Qwen3-8B", "A", "Off"),
                                              ("Qwen/Qwen2.5-7B-Instruct", "A", "Off (N/A)")])  # fmt: skip
    server = ScriptedServer([], default=_reply(f"<think>{'why ' * 20}</think>{ANSWER}"))
    out = tmp_path / "batch"
    args = ["batch", "--workload", "wattbot", "--models-csv", str(models), "--backend", "openai", "--endpoint",
            server.url, "--run-config", str(root / "run.toml"), "--data-dir", str(root / "data"),
            "--output-dir", str(out), "--idle-seconds", "0"]  # fmt: skip
    try:
        assert main(args) == 0, capsys.readouterr().err
        sent = [payload for _, payload in server.seen]
        assert main(args) == 0  # complete rows are skipped, their master rows kept
        assert len(server.seen) == len(sent)
    finally:
        server.close()
    switches = {json.dumps(p.get("chat_template_kwargs")) for p in sent}
    assert switches == {'{"enable_thinking": true}', '{"enable_thinking": false}', "null"}  # Qwen2.5: none sent
    with open(out / "master_results.csv", encoding="utf-8") as handle:
        rows = {r["reasoning_state"]: r for r in csv.DictReader(handle)}
    assert set(rows) == {"On", "Off", "Off (N/A)"}
    for row in rows.values():
        assert row["workload"] == "wattbot" and row["status"] == "completed" and row["successful_prompts"] == "4"
        low, score, high = (float(row[k]) for k in ("overall_score_ci95_low", "overall_score",
                                                      "overall_score_ci95_high"))  # fmt: skip
        assert low <= score <= high and row["reasoning_tokens_per_question"] == "3.0"
        assert Path(row["run_dir"], "summary.json").exists()
    on = json.loads(Path(rows["On"]["run_dir"], "summary.json").read_text())
    assert on["reasoning_state"] == "On" and on["mode"]["chat_template_kwargs"] == {"enable_thinking": True}
    # Each row is a normal run dir: compare and report read them.
    runs = out / "individual_runs"
    capsys.readouterr()
    assert main(["compare", str(runs / "Qwen_Qwen3-8B_On"), str(runs / "Qwen_Qwen3-8B_Off"), "--solution",
                 str(root / "questions.csv"), "--json"]) == 0  # fmt: skip
    (pair,) = json.loads(capsys.readouterr().out)["pairs"]
    assert pair["n"] == 4 and pair["diff"] == 0.0  # the same answers: no detectable difference
    page = tmp_path / "report.html"
    assert main(["report", "--experiments-dir", str(runs), "--solution", str(root / "questions.csv"),
                 "--out", str(page), "--plots-dir", str(tmp_path / "plots"), "--batch-dir", str(out)]) == 0  # fmt: skip
    text = page.read_text()
    assert "Qwen_Qwen3-8B_On" in text and "What reasoning buys" in text and "no detectable difference" in text
    capsys.readouterr()
    assert main(["batch", "ratings", "--output-dir", str(out), "--json"]) == 0
    assert "Qwen3" not in capsys.readouterr().out  # a wattbot row's Wh per question is not an Energy Score
    # What reasoning bought: On against Off for Qwen3, and a model with one state said so.
    capsys.readouterr()
    assert main(["batch", "reasoning", "--output-dir", str(out), "--solution", str(root / "questions.csv"),
                 "--json", "--bootstrap", "1000"]) == 0  # fmt: skip
    entries = {(e["model"], e["state"]): e for e in json.loads(capsys.readouterr().out)}
    on = entries[("Qwen/Qwen3-8B", "On")]
    assert on["baseline"] == "Off" and on["n"] == 4 and on["diff"] == 0.0 and on["verdict"]
    assert on["reasoning_tokens_per_question"] == 3.0 and on["latency_per_question_s"] > 0
    assert on["energy_ratio"] is None and on["energy_note"]  # no GPU measured here: said, not 1.0
    assert "one state" in entries[("Qwen/Qwen2.5-7B-Instruct", "Off (N/A)")]["note"]
    assert (out / "reasoning.png").exists() or (out / "reasoning.svg").exists()


def test_batch_workload_bad_input_is_one_line_exit_2(tmp_path: Path, capsys):
    from fakes.batch_inputs import models_csv, prompts_jsonl

    models = models_csv(tmp_path / "m.csv", [("Qwen/Qwen3-8B", "A", "On")])
    prompts = prompts_jsonl(tmp_path / "p.jsonl", ["a"])
    for extra, message in ((["--workload", "wattbot", "--prompts-file", str(prompts)], "prompts_file"),
                           (["--workload", "essays"], "workload"),
                           (["--questions", str(prompts)], "wattbot workload")):  # fmt: skip
        capsys.readouterr()
        assert main(["batch", "--models-csv", str(models), *extra]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err


@pytest.mark.slow
def test_llama_cpp_with_the_think_grammar_starts_with_a_thinking_block_that_still_parses():
    """The real default model (SmolLM2 on llama.cpp) under the answer grammar of a run expected to think: its
    output opens with a thinking block, and the JSON after it is read as the answer."""
    from wattbench.backends.base import GenerationRequest
    from wattbench.backends.registry import create_backend
    from wattbench.tasks.wattbot import SYSTEM_PROMPT, answer_grammar, parse_answer

    backend = create_backend("llamacpp")
    try:
        grammar = answer_grammar(["patterson2021"], think=("<think>", "</think>"), think_chars=80)
        question = "Documents:\n[patterson2021] Training used 1,287 MWh.\n\nQuestion: How many MWh did training use?"
        request = GenerationRequest(messages=[{"role": "system", "content": SYSTEM_PROMPT},
                                              {"role": "user", "content": question}],
                                    max_tokens=320, temperature=0.0, seed=0, grammar=grammar)  # fmt: skip
        (completion,) = backend.generate([request])
    finally:
        backend.close()
    assert completion.ok and completion.text.startswith("<think>") and "</think>" in completion.text
    thought = separate(completion, None)
    assert not thought.truncated and thought.answer.startswith("{")
    parsed = parse_answer(thought.answer)
    assert parsed.parse_status == "ok" and parsed.ref_ids in (["patterson2021"], ["is_blank"])


def test_hf_renders_the_qwen3_switch_through_the_model_s_own_chat_template(wattbot: Path, tmp_path: Path):
    """The tiny random model with a chat template that reads enable_thinking, named as a Qwen3 checkpoint: a
    WattBot answer request in each state renders the template's own switch."""
    from fakes.tiny_model import build_tiny_llama
    from wattbench.backends.registry import create_backend
    from wattbench.data.wattbot import load_corpus
    from wattbench.tasks.wattbot_reasoning import apply_mode, run_mode

    texts = [p.text for d in load_corpus(wattbot / "corpus")[:2] for page in d.pages for p in page.paragraphs]
    model = build_tiny_llama(tmp_path / "Qwen3-tiny", texts)
    config = json.loads((model / "tokenizer_config.json").read_text())
    config["chat_template"] = (
        "{% for m in messages %}<s>{{ m['role'] }}: {{ m['content'] }}</s>\n{% endfor %}<s>assistant:"
        "{% if enable_thinking is defined and not enable_thinking %}<think>\n\n</think>\n\n{% endif %}"
    )
    (model / "tokenizer_config.json").write_text(json.dumps(config))
    (model / "chat_template.jinja").unlink(missing_ok=True)
    backend = create_backend("hf", model=str(model), dtype="fp32")
    rendered = {}
    try:
        for state in ("On", "Off"):
            mode, warnings = run_mode(str(model), state, 8, 8)
            assert mode is not None and mode.family == "qwen3" and not warnings
            request = apply_mode(GenerationRequest(messages=[{"role": "user", "content": "q"}], max_tokens=8), mode, 8)
            (completion,) = backend.generate([request])
            rendered[state] = completion.rendered_prompt
    finally:
        backend.close()
    assert rendered["Off"].endswith("<s>assistant:<think>\n\n</think>\n\n")
    assert rendered["On"].endswith("<s>assistant:")


def test_the_reasoning_table_gives_each_state_minus_off_and_its_energy_over_off(wattbot: Path, tmp_path: Path):
    """On answers 35 of 41 right on twice the energy of Off's 20 right: the table says On - Off > 0, detectably,
    at 2x [..] the energy; the figure is drawn."""
    from fakes.store import write_run
    from wattbench.report.reasoning import format_table, plot_reasoning, reasoning_table
    from wattbench.stats.bootstrap import Bootstrap
    from wattbench.store.batch_dir import BatchDir
    from wattbench.store.schema import MasterRow

    solution = wattbot / "train_QA.csv"
    runs = tmp_path / "individual_runs"
    batch = BatchDir(tmp_path)
    n = 41
    for state, correct, joules in (("On (High)", 35, 200.0), ("Off", 20, 100.0)):
        energy = [joules * (1 + 0.01 * (i % 5)) for i in range(n)]
        run = write_run(runs, f"m_{state}", solution, correct=correct, question_energy_j=energy)
        row = MasterRow(model_name="acme/Thinker-8B", reasoning_state=state, workload="wattbot", run_dir=str(run),
                        overall_score=correct / n, avg_energy_per_prompt_wh=joules / 3600)  # fmt: skip
        batch.upsert_master(row)
    (entry,) = reasoning_table(tmp_path, solution, lambda: solution, Bootstrap(2000, 0))
    assert entry["state"] == "On (High)" and entry["baseline"] == "Off"
    assert entry["diff"] > 0.2 and entry["ci95"][0] > 0 and entry["p_adjusted"] < 0.01
    assert entry["energy_ratio"] == pytest.approx(2.0, rel=0.01)
    assert entry["energy_ratio_ci95"][0] <= entry["energy_ratio"] <= entry["energy_ratio_ci95"][1]
    assert "2.00x" in format_table([entry])
    assert plot_reasoning(tmp_path, tmp_path / "plots").files


@pytest.mark.parametrize("name", ("oct_2025_models.csv", "oct_2025_models_upstream.csv"))
def test_every_row_of_the_models_csvs_is_sent_to_a_wattbot_run_as_the_batch_resolves_it(data_dir: Path, name: str):
    """Every text-generation row of both published models CSVs, in its state: the WattBot run's mode is the batch
    row's (the same table and code, with the WattBot budgets), and its answer request carries exactly that mode's
    switches, the thinking budget on top of the answer's, and no JSON schema when it is expected to think."""
    from wattbench.data.models_csv import load_plan
    from wattbench.tasks.wattbot import SYSTEM_PROMPT
    from wattbench.tasks.wattbot_reasoning import apply_mode, run_mode

    checked = 0
    for spec in load_plan(data_dir / "energy_score" / name, 80, 80 + 4096):
        if not spec.supported or spec.mode is None or not spec.row.state.readable or spec.row.state.on is None:
            continue
        mode, warnings = run_mode(spec.model_id, spec.state_label, 80, 4096)
        assert mode is not None and mode.to_dict() == spec.mode.to_dict(), spec.model_id
        base = GenerationRequest(messages=[{"role": "system", "content": SYSTEM_PROMPT},
                                           {"role": "user", "content": "Question: q"}],
                                 max_tokens=80, json_schema={"type": "object"})  # fmt: skip
        sent = apply_mode(base, mode, 80)
        assert sent.chat_template_kwargs == mode.chat_template_kwargs
        system, user = sent.messages[0]["content"], sent.messages[-1]["content"]
        assert system.endswith(SYSTEM_PROMPT) and system.startswith(mode.system_prompt or SYSTEM_PROMPT[:20])
        assert user == (f"{mode.prompt_prefix} Question: q" if mode.prompt_prefix else "Question: q")
        assert sent.assistant_prefix == mode.assistant_prefix and sent.think_end == mode.think_end
        assert sent.reasoning_effort == (mode.effort if mode.harmony else None)
        thinking = mode.expected_thinking
        assert sent.max_tokens == (max(mode.max_new_tokens, 80) if thinking else 80)
        assert (sent.json_schema is None) == thinking
        checked += 1
    assert checked >= 40


def test_a_stream_without_a_reasoning_count_counts_the_chunks_before_the_marker(wattbot: Path, tmp_path: Path):
    from fakes.servers import StreamingServer
    from wattbench.runs.checks import load_run_config
    from wattbench.runs.wattbot import run_experiment

    root = make_workspace(wattbot, tmp_path)
    text = "<think>" + "weigh the passages " * 3 + "</think>" + ANSWER
    chunks = 30
    pieces = [text[(k - 1) * len(text) // chunks : k * len(text) // chunks] for k in range(1, chunks + 1)]
    expected = next(k for k in range(1, chunks + 1) if "</think>" in "".join(pieces[:k]))
    server = StreamingServer(ttft_s=0.0, itl_s=0.0, tokens=chunks, answer=text)  # usage without reasoning_tokens
    overrides = {"provider": "openai", "model": "Qwen/Qwen3-8B", "generation.base_url": server.url,
                 "generation.reasoning": "On", "generation.max_tokens": chunks}  # fmt: skip
    try:
        config, _ = load_run_config(root / "run.toml", overrides)
        result = run_experiment(config, data_dir=root / "data")
    finally:
        server.close()
    records = [json.loads(line) for line in (result.run_dir / "results.jsonl").read_text().splitlines()]
    assert all(r["parse_status"] == "ok" and r["thinking"].startswith("weigh") for r in records)
    assert all(r["reasoning_tokens"] == expected and r["reasoning_tokens_method"] == "stream_chunks" for r in records)


# One checkpoint per family of reasoning/families.toml, each state, and what its answer request must carry on the
# wire, written out from the model cards rather than read back from the table: (kwargs, reasoning_effort, system
# prompt's first line, user prefix, assistant prefix, thinking budget on top, warns).
_THINK = 80 + 4096
_WIRE = [
    ("openai/gpt-oss-20b", "On (High)", None, "high", None, None, None, _THINK, False),
    ("openai/gpt-oss-20b", "On (Low)", None, "low", None, None, None, _THINK, False),
    ("openai/gpt-oss-20b", "On", None, "medium", None, None, None, _THINK, False),
    ("openai/gpt-oss-20b", "Off", None, "low", None, None, None, _THINK, True),  # no off switch: the lowest effort
    ("Qwen/Qwen3-Next-80B-A3B-Thinking", "On", None, None, None, None, None, _THINK, False),
    ("Qwen/Qwen3-Next-80B-A3B-Thinking", "Off", None, None, None, None, None, _THINK, True),
    ("Qwen/Qwen3-Next-80B-A3B-Instruct", "Off", None, None, None, None, None, 80, False),
    ("Qwen/Qwen3-Next-80B-A3B-Instruct", "On", None, None, None, None, None, 80, True),
    ("Qwen/Qwen3-8B", "On", {"enable_thinking": True}, None, None, None, None, _THINK, False),
    ("Qwen/Qwen3-8B", "Off", {"enable_thinking": False}, None, None, None, None, 80, False),
    ("deepseek-ai/DeepSeek-R1-Distill-Qwen-32B", "On", None, None, None, None, "<think>\n", _THINK, False),
    ("deepseek-ai/DeepSeek-R1-Distill-Qwen-32B", "Off", None, None, None, None, None, 80, True),
    ("deepseek-ai/DeepSeek-R1", "On", None, None, None, None, "<think>\n", _THINK, False),
    ("deepseek-ai/DeepSeek-V3", "Off", None, None, None, None, None, 80, False),
    ("HuggingFaceTB/SmolLM3-3B", "On", None, None, "/think", None, None, _THINK, False),
    ("HuggingFaceTB/SmolLM3-3B", "Off", None, None, "/no_think", None, None, 80, False),
    ("tencent/Hunyuan-A13B-Instruct", "On", None, None, None, "/think", None, _THINK, False),
    ("tencent/Hunyuan-A13B-Instruct", "Off", None, None, None, "/no_think", None, 80, False),
    ("LGAI-EXAONE/EXAONE-4.0-32B", "On", {"enable_thinking": True}, None, None, None, None, _THINK, False),
    ("LGAI-EXAONE/EXAONE-4.0-32B", "Off", {"enable_thinking": False}, None, None, None, None, 80, False),
    ("nvidia/Llama-3_3-Nemotron-Super-49B-v1_5", "On", None, None, None, None, None, _THINK, False),
    ("nvidia/Llama-3_3-Nemotron-Super-49B-v1_5", "Off", None, None, "/no_think", None, None, 80, False),
    ("microsoft/Phi-4-reasoning-plus", "On", None, None, None, None, None, _THINK, False),
    ("microsoft/Phi-4-reasoning-plus", "Off", None, None, None, None, None, _THINK, True),
    ("mistralai/Magistral-Small-2507", "On", None, None, "First draft your thinking process", None, None, _THINK,
     False),
    ("mistralai/Magistral-Small-2507", "Off", None, None, "You are a helpful assistant. Answer directly.", None,
     None, 80, False),
    ("zai-org/GLM-4.5-Air", "On", {"enable_thinking": True}, None, None, None, None, _THINK, False),
    ("zai-org/GLM-4.6", "Off", {"enable_thinking": False}, None, None, None, None, 80, False),
    ("moonshotai/Kimi-K2-Thinking", "On", None, None, None, None, None, _THINK, False),
    ("moonshotai/Kimi-K2-Instruct", "Off", None, None, None, None, None, 80, False),
    ("moonshotai/Kimi-K2-Instruct", "On", None, None, None, None, None, 80, True),
    ("MiniMaxAI/MiniMax-M1-80k", "On", None, None, None, None, None, _THINK, False),
    ("ibm-granite/granite-3.3-8b-instruct", "On", {"thinking": True}, None, None, None, None, _THINK, False),
    ("ibm-granite/granite-3.2-8b-instruct", "Off", {"thinking": False}, None, None, None, None, 80, False),
    ("ibm-granite/granite-4.0-h-small", "Off", None, None, None, None, None, 80, False),
    ("swiss-ai/Apertus-8B-Instruct-2509", "On", {"enable_thinking": True}, None, None, None, None, _THINK, False),
    ("swiss-ai/Apertus-70B-Instruct-2509", "Off", {"enable_thinking": False}, None, None, None, None, 80, False),
    ("google/gemma-3-27b-it", "Off", None, None, None, None, None, 80, False),
    ("mistralai/Mistral-Small-3.2-24B-Instruct-2506", "Off", None, None, None, None, None, 80, False),
    ("Qwen/Qwen2.5-7B-Instruct", "On", None, None, None, None, None, 80, True),
    ("HuggingFaceTB/SmolLM2-1.7B-Instruct", "Off", None, None, None, None, None, 80, False),
    ("meta-llama/Llama-3.1-8B-Instruct", "Off", None, None, None, None, None, 80, False),
    ("someone/own-model-7b", "Off", None, None, None, None, None, 80, True),  # unknown family: says so
]


def test_the_wire_cases_cover_every_family_of_the_table():
    from wattbench.tasks.wattbot_reasoning import run_mode

    families = {run_mode(case[0], case[1], 80, 4096)[0].family for case in _WIRE}  # type: ignore[union-attr]
    from wattbench.reasoning import _load_table

    known, unknown, _ = _load_table()
    assert families == {f.name for f in (*known, unknown)}


@pytest.mark.parametrize(("model", "state", "kwargs", "effort", "system", "prefix", "assistant", "budget", "warns"),
                         _WIRE, ids=[f"{c[0]}:{c[1]}" for c in _WIRE])  # fmt: skip
def test_each_family_s_answer_request_carries_its_switch_on_the_wire(
    model, state, kwargs, effort, system, prefix, assistant, budget, warns
):
    """The WattBot answer request of each family in each state, as the OpenAI-compatible server received it."""
    from wattbench.backends.registry import create_backend
    from wattbench.tasks.wattbot import SYSTEM_PROMPT
    from wattbench.tasks.wattbot_reasoning import apply_mode, run_mode

    mode, warnings = run_mode(model, state, 80, 4096)
    assert bool(warnings) == warns, warnings
    base = GenerationRequest(messages=[{"role": "system", "content": SYSTEM_PROMPT},
                                       {"role": "user", "content": "Question: q"}],
                             max_tokens=80, json_schema={"type": "object"})  # fmt: skip
    server = ScriptedServer([], default=_reply(ANSWER))
    try:
        backend = create_backend("openai", model=model, base_url=server.url)
        (completion,) = backend.generate([apply_mode(base, mode, 80)])
        backend.close()
    finally:
        server.close()
    assert completion.ok
    ((_, payload),) = server.seen
    assert payload.get("chat_template_kwargs") == kwargs
    assert payload.get("reasoning_effort") == effort
    messages = payload["messages"]
    first_system = messages[0]["content"]
    if system is None:
        assert first_system == SYSTEM_PROMPT
    else:
        assert first_system.startswith(system) and first_system.endswith(SYSTEM_PROMPT)
    user = next(m["content"] for m in messages if m["role"] == "user")
    assert user == (f"{prefix} Question: q" if prefix else "Question: q")
    if assistant is None:
        assert messages[-1]["role"] == "user" and "continue_final_message" not in payload
    else:
        assert messages[-1] == {"role": "assistant", "content": assistant} and payload["continue_final_message"]
    assert payload["max_tokens"] == budget
    # A run expected to think is sent no JSON schema (the thinking comes first); one that answers at once keeps it.
    # DeepSeek-R1 Off thinks anyway (no off switch) within the answer's budget.
    thinks = budget == _THINK or model.startswith("deepseek-ai/DeepSeek-R1")
    assert ("response_format" in payload) != thinks
