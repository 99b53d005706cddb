"""Usage figures a server reports are checked: impossible counts become unknown (never cost or tokens/J), and a
fixed-length row whose outputs are not that length says so. Real servers on 127.0.0.1."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from fakes.batch_inputs import models_csv, prompts_jsonl
from fakes.servers import ScriptedServer
from fakes.workspace import make_workspace
from wattbench.backends.base import Completion, GenerationRequest
from wattbench.backends.usage import check_usage
from wattbench.cli import main


def _body(completion_tokens: int, prompt_tokens: int = 11) -> str:
    return json.dumps({
        "choices": [{"message": {"content": '{"answer_value": 4}'}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens},
    })  # fmt: skip


def _batch(tmp_path: Path, server: ScriptedServer, capsys) -> tuple[dict, list[dict], str]:
    models = models_csv(tmp_path / "m.csv", [("Qwen/Qwen2.5-7B-Instruct", "A", "Off (N/A)")])
    prompts = prompts_jsonl(tmp_path / "p.jsonl", ["q 1", "q 2", "q 3"])
    out = tmp_path / "out"
    code = main(["batch", "--models-csv", str(models), "--prompts-file", str(prompts), "--backend", "openai",
                 "--endpoint", server.url, "--output-dir", str(out), "--idle-seconds", "0",
                 "--max-new-tokens", "256"])  # fmt: skip
    assert code == 0
    with open(out / "master_results.csv", encoding="utf-8") as handle:
        row = next(csv.DictReader(handle))
    run = next((out / "individual_runs").iterdir())
    records = [json.loads(line) for line in (run / "prompts.jsonl").read_text().splitlines()]
    return row, records, capsys.readouterr().err


def test_a_server_that_ignores_min_tokens_breaks_the_fixed_length_claim(tmp_path: Path, capsys):
    server = ScriptedServer([], default=(200, _body(12), {}, 0))
    try:
        row, records, err = _batch(tmp_path, server, capsys)
    finally:
        server.close()
    assert all(payload.get("min_tokens") == 256 for _, payload in server.seen)  # it was asked for
    assert row["fixed_length"] == "true" and row["max_new_tokens"] == "256"
    assert row["fixed_length_held"] == "false" and row["output_lengths_seen"] == "12"
    assert "fixed length not held: asked for exactly 256 new tokens a prompt, got 12" in err
    log = next((tmp_path / "out" / "logs").iterdir()).read_text()
    assert "fixed length not held" in log


def test_a_server_that_holds_the_length_is_said_to(tmp_path: Path, capsys):
    server = ScriptedServer([], default=(200, _body(256), {}, 0))
    try:
        row, _, err = _batch(tmp_path, server, capsys)
    finally:
        server.close()
    assert row["fixed_length_held"] == "true" and row["output_lengths_seen"] == "256"
    assert "fixed length not held" not in err


def test_negative_counts_are_unknown_and_never_figures(tmp_path: Path, capsys):
    server = ScriptedServer([], default=(200, _body(-10, prompt_tokens=-3), {}, 0))
    try:
        row, records, err = _batch(tmp_path, server, capsys)
    finally:
        server.close()
    assert all(r["completion_tokens"] is None and r["prompt_tokens"] is None for r in records)
    assert all("impossible usage" in r["usage_warning"] and "completion_tokens = -10" in r["usage_warning"]
               for r in records)  # fmt: skip
    assert row["usage_unknown_prompts"] == "3"
    assert row["total_completion_tokens"] == "" and row["throughput_tokens_per_second"] == ""
    assert row["tokens_per_joule"] == "" and row["fixed_length_held"] == ""
    assert "impossible token counts" in err


def test_a_trillion_tokens_is_no_cost_and_the_audit_says_why(wattbot: Path, tmp_path: Path, capsys):
    root = make_workspace(wattbot, tmp_path)
    config = (
        (root / "run.toml")
        .read_text()
        .replace(
            "[retrieval]",
            'provider = "openai"\nmodel = "m"\nprice_input_per_1m = 1.0\nprice_output_per_1m = 2.0\n[retrieval]',
        )
    )
    (root / "server.toml").write_text(config + "[generation]\nstream = false\n")
    server = ScriptedServer([], default=(200, _body(10**12), {}, 0))
    try:
        code = main(["run", "--config", str(root / "server.toml"), "--data-dir", str(root / "data"), "--name", "t",
                     "--base-url", server.url, "--quiet"])  # fmt: skip
    finally:
        server.close()
    assert code == 0
    run = root / "runs" / "t"
    records = [json.loads(line) for line in (run / "results.jsonl").read_text().splitlines()]
    assert all(r["completion_tokens"] is None and r["usage_unknown"] for r in records)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["cost"]["usd"] is None and summary["num_usage_unknown"] == 4
    assert summary["estimated_cost_usd"] == 0.0  # the seed's view: its audit formats it with :.4f
    assert summary["output_tokens"] == 0
    capsys.readouterr()
    assert main(["audit", "--experiments-dir", str(root / "runs"), "--data-dir", str(root / "data"), "--json"]) in (
        0,
        1,
    )
    audits = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    codes = [f["code"] for a in audits for f in a["flags"]]
    assert "usage_unknown" in codes


def test_the_tolerance_lets_an_end_token_through():
    request = GenerationRequest(messages=[{"role": "user", "content": "hi"}], max_tokens=80)
    ok = check_usage(request, Completion(prompt_tokens=9, completion_tokens=82))
    assert ok.completion_tokens == 82 and ok.usage_warning is None
    over = check_usage(request, Completion(prompt_tokens=10**9, completion_tokens=83, reasoning_tokens=5))
    assert over.completion_tokens is None and over.prompt_tokens is None and over.reasoning_tokens is None
    assert "completion_tokens = 83 for max_tokens = 80" in (over.usage_warning or "")
