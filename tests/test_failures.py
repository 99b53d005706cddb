"""Failure reported as failure: names that cannot escape the store, servers that hang, throttle, refuse the key
or die, and exit codes and summaries that say what happened. Every server here is a real HTTP server on
127.0.0.1 (tests/fakes/servers.py); runs go through the real CLI."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from fakes.servers import OK_BODY, ScriptedServer
from fakes.workspace import make_workspace
from wattbench.backends.base import GenerationRequest
from wattbench.backends.registry import create_backend
from wattbench.cli import main
from wattbench.errors import WattbenchError
from wattbench.names import check_name
from wattbench.store.paths import remove_run_dir, run_dir_path

HANG = (200, "{}", {}, 30.0)  # accepts the request, answers after 30 s: longer than any timeout below


@pytest.fixture(scope="module")
def workspace(wattbot: Path, tmp_path_factory) -> Path:
    root = make_workspace(wattbot, tmp_path_factory.mktemp("failures"))
    base = (root / "run.toml").read_text()
    # A server run with short limits, so a hung server costs seconds here (defaults: 10 s connect, 8 s to the
    # first byte, 60 s of silence).
    (root / "server.toml").write_text(
        base.replace("[retrieval]", 'provider = "openai"\nmodel = "m"\n[retrieval]')
        + "[generation]\nfirst_byte_timeout_s = 0.5\nconnect_timeout_s = 0.5\nmax_attempts = 2\n"
        + "retry_after_cap_s = 0.2\n[task]\nquestion_timeout_s = 3\nmax_consecutive_failures = 2\n"
        + "max_blank_retries = 0\n"
    )
    return root


def _run(workspace: Path, name: str, url: str, *extra: str, config: str = "server.toml") -> int:
    return main(
        ["run", "--config", str(workspace / config), "--data-dir", str(workspace / "data"), "--name", name,
         "--base-url", url, "--quiet", *extra]
    )  # fmt: skip


def _summary(workspace: Path, name: str) -> dict:
    return json.loads((workspace / "runs" / name / "summary.json").read_text())


def _records(workspace: Path, name: str) -> list[dict]:
    path = workspace / "runs" / name / "results.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


# --- names ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["../../victim", "/tmp/x", ".", "", "..", "-rf", "a/b", ".hidden", "a b", "x$y"])
def test_a_name_that_is_not_a_name_is_refused(name: str):
    with pytest.raises(WattbenchError, match="--name: "):
        check_name(name)


def test_plain_names_pass():
    for name in ("smollm2-llamacpp", "hf_qwen2.5-7b", "Run.3", "_x"):
        assert check_name(name) == name


def test_victim_folder_survives_a_climbing_name_with_force(workspace: Path, capsys):
    victim = workspace / "victim"  # ../../victim relative to runs/<name>: the workspace root's sibling level
    victim.mkdir()
    (victim / "thesis.tex").write_text("years of work")
    store = workspace / "runs"
    for name in ("../victim", "../../victim", str(victim), ".", ""):
        code = main(
            ["run", "--config", str(workspace / "run.toml"), "--data-dir", str(workspace / "data"), "--limit", "1",
             "--name", name, "--force", "--quiet"]
        )  # fmt: skip
        assert code == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("wattbench: error: --name: ")
    assert (victim / "thesis.tex").read_text() == "years of work"
    assert not store.exists() or not any(p.name == "results.jsonl" for p in store.iterdir())


def test_force_deletes_only_a_run_dir(workspace: Path, capsys):
    mine = workspace / "runs" / "mine"
    mine.mkdir(parents=True)
    (mine / "notes.txt").write_text("keep me")
    code = main(
        ["run", "--config", str(workspace / "run.toml"), "--data-dir", str(workspace / "data"), "--limit", "1",
         "--name", "mine", "--force", "--quiet"]
    )  # fmt: skip
    assert code == 2
    assert "is not a wattbench run dir (it holds 'notes.txt'" in capsys.readouterr().err
    assert (mine / "notes.txt").read_text() == "keep me"


def test_store_paths_stay_inside_the_root(tmp_path: Path):
    root = tmp_path / "store"
    root.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "summary.json").write_text("{}")
    (root / "link").symlink_to(outside)
    with pytest.raises(WattbenchError, match="outside"):
        run_dir_path(root, "link")  # a valid name whose path resolves out of the store
    run = root / "real"
    run.mkdir()
    (run / "summary.json").write_text("{}")
    (run / "run.log").write_text("")
    remove_run_dir(run, root)
    assert not run.exists() and (outside / "summary.json").exists()


def test_ensemble_name_cannot_climb_out(workspace: Path, capsys):
    outside = workspace / "y"
    code = main(
        ["ensemble", "--experiments", "a", "b", "--name", "../../y", "--experiments-dir", str(workspace / "runs"),
         "--solution", str(workspace / "questions.csv")]
    )  # fmt: skip
    assert code == 2 and "--name: " in capsys.readouterr().err
    assert not outside.exists()


# --- config errors before the run dir exists ----------------------------------------------------------------


def _nvml_works() -> bool:
    try:
        from wattbench.energy.nvml import load_nvml

        load_nvml()
    except Exception:
        return False
    return True


@pytest.mark.parametrize(
    ("top", "energy", "expected"),
    [
        ('provider = "llamacppp"', "", r"bad\.toml: provider: unknown backend 'llamacppp'.*did you mean 'llamacpp'"),
        ('provider = "hf"', "", r"bad\.toml: model: the hf backend needs a model id"),
        ("", 'meter = "nvml"', r"bad\.toml: energy\.meter: nvml: "),
    ],
)
def test_config_errors_name_the_file_and_field_before_any_run_dir(
    workspace: Path, tmp_path: Path, capsys, top: str, energy: str, expected: str
):
    import re

    if energy and _nvml_works():
        pytest.skip("NVML works on this machine")
    bad = tmp_path / "bad.toml"
    bad.write_text(
        f'questions = "{workspace / "questions.csv"}"\noutput_dir = "{tmp_path / "runs"}"\n{top}\n'
        f'[retrieval]\nindex_path = "{workspace / "index.sqlite"}"\n[energy]\nidle_seconds = 0\n{energy}\n'
    )
    code = main(["run", "--config", str(bad), "--data-dir", str(workspace / "data")])  # the progress bar too
    err = capsys.readouterr().err
    assert code == 2 and re.search(expected, err), err
    assert err.startswith("wattbench: error: ") and err.count("\n") == 1  # one line, no blank line before it
    assert not (tmp_path / "runs").exists()


def test_a_bad_flag_value_is_named_by_its_flag(workspace: Path, capsys):
    assert main(["run", "--limit", "0", "--data-dir", str(workspace / "data"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "--limit: " in err and "defaults" not in err
    args = ["run", "--base-url", "localhost:8000", "--provider", "openai", "--model", "m", "--quiet"]
    assert main([*args, "--data-dir", str(workspace / "data")]) == 2
    assert "--base-url: 'localhost:8000' is not an http(s) URL" in capsys.readouterr().err
    assert main(["run", "--provider", "openai", "--quiet", "--data-dir", str(workspace / "data")]) == 2
    assert "error: --model: the openai backend needs a model id" in capsys.readouterr().err


# --- the backend's own limits --------------------------------------------------------------------------------


def _request() -> GenerationRequest:
    return GenerationRequest(messages=[{"role": "user", "content": "hi"}], max_tokens=8)


def test_a_hung_server_ends_each_attempt_at_the_first_byte_timeout():
    server = ScriptedServer([], default=HANG)
    try:
        backend = create_backend("openai", model="m", base_url=server.url, first_byte_timeout_s=0.4, max_attempts=2,
                                 backoff_s=0.05)  # fmt: skip
        started = time.monotonic()
        (hung,) = backend.generate([_request()])
        took = time.monotonic() - started
        assert hung.error == (
            "gave up after 2 attempts; last: no reply within 0.4 s of sending (generation.first_byte_timeout_s)"
        )
        assert hung.attempts == 2 and 0.8 <= took < 3.0
        # Unstreamed, the first byte comes only with the whole reply: the request timeout bounds both.
        whole = create_backend("openai", model="m", base_url=server.url, stream=False, request_timeout_s=0.4,
                               first_byte_timeout_s=30, max_attempts=1)  # fmt: skip
        started = time.monotonic()
        (unstreamed,) = whole.generate([_request()])
        assert "no whole reply within 0.4 s (generation.request_timeout_s)" in unstreamed.error
        assert time.monotonic() - started < 2.0
        deadline_request = _request()
        deadline_request.deadline = time.monotonic() + 0.3  # the question's budget cuts the attempt shorter
        started = time.monotonic()
        (cut,) = backend.generate([deadline_request])
        assert cut.error is not None and time.monotonic() - started < 1.0
    finally:
        server.close()


def test_retry_after_is_obeyed_only_up_to_the_cap():
    server = ScriptedServer([(429, "slow down", {"Retry-After": "3600"}, 0)])
    try:
        backend = create_backend("openai", model="m", base_url=server.url, retry_after_cap_s=0.3, backoff_s=0.01)
        started = time.monotonic()
        (done,) = backend.generate([_request()])
        took = time.monotonic() - started
        assert done.error is None and done.attempts == 2 and 0.3 <= took < 2.0
        assert done.notes == ["Retry-After 3600 s capped at 0.3 s (generation.retry_after_cap_s)"]
    finally:
        server.close()


# --- runs against failing servers ------------------------------------------------------------------------------


def test_a_hung_server_fails_each_question_in_budget_and_stops_the_run(workspace: Path, capsys):
    server = ScriptedServer([], default=HANG)
    try:
        code = _run(workspace, "hung", server.url)
    finally:
        server.close()
    out = capsys.readouterr().out.strip().splitlines()
    assert code == 1
    records = _records(workspace, "hung")
    assert len(records) == 2  # max_consecutive_failures = 2 of the 4 questions
    # Each question ends within its 3 s budget: two 0.5 s attempts 1 s apart, not 2 x 30 s of a hung reply.
    assert all(r["error"] and 1.9 < r["latency_s"] < 3.0 for r in records)
    assert all(r["attempts"] == 2 and r["retries"] == 1 for r in records)  # retries agree with the attempts
    summary = _summary(workspace, "hung")
    assert summary["status"] == "failed" and summary["num_failed"] == 2 and summary["num_answered"] == 0
    assert "stopped after 2 failed questions in a row" in summary["stop_reason"]
    assert out[-1].startswith("run failed: 0/4 answered, 2 failed, 0 unparseable; stopped after 2")
    assert "stopped after 2 failed questions in a row" in (workspace / "runs" / "hung" / "run.log").read_text()

    healthy = ScriptedServer([])  # the server is back: the same command resumes and finishes the run
    try:
        assert _run(workspace, "hung", healthy.url) == 0
    finally:
        healthy.close()
    summary = _summary(workspace, "hung")
    assert summary["status"] == "complete" and summary["num_answered"] == 4 and summary["stop_reason"] is None
    assert capsys.readouterr().out.strip().splitlines()[-1] == "run complete: 4/4 answered, 0 failed, 0 unparseable"


def test_a_server_that_dies_after_the_first_answer_stops_the_run(workspace: Path, capsys):
    server = ScriptedServer([(200, json.dumps(_answer()), {}, 0)], default=(503, "gone", {}, 0))
    try:
        assert _run(workspace, "dies", server.url) == 1
    finally:
        server.close()
    records = _records(workspace, "dies")
    assert [bool(r["error"]) for r in records] == [False, True, True]
    assert _summary(workspace, "dies")["status"] == "failed"
    capsys.readouterr()


def _audit(workspace: Path, capsys) -> dict[str, dict]:
    args = ["audit", "--experiments-dir", str(workspace / "runs"), "--solution", str(workspace / "questions.csv")]
    assert main([*args, "--json"]) == 0
    return {a["name"]: a for a in map(json.loads, capsys.readouterr().out.splitlines())}


def _answer() -> dict:
    return {
        "choices": [{"message": {"content": '{"answer_value": "is_blank", "ref_id": []}'}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 10},
    }


@pytest.mark.parametrize("where", ["preflight", "first request"])
def test_a_refused_key_ends_the_run_before_the_first_question(workspace: Path, capsys, monkeypatch, where: str):
    monkeypatch.setenv("WB_TEST_KEY", "sk-wrong")
    models = (401, "invalid key") if where == "preflight" else (404, "no such route")
    server = ScriptedServer([], default=(401, "invalid key", {}, 0), models=models)
    (workspace / "key.toml").write_text(
        (workspace / "server.toml").read_text().replace("[generation]\n", '[generation]\napi_key_env = "WB_TEST_KEY"\n')
    )
    try:
        code = _run(workspace, f"refused-{where.split()[0]}", server.url, config="key.toml")
    finally:
        server.close()
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert "refused the API key in $WB_TEST_KEY (HTTP 401)" in err[0] and "sk-wrong" not in err[0]
    assert len(server.seen) == (0 if where == "preflight" else 1)  # once, not once per question
    assert _records(workspace, f"refused-{where.split()[0]}") == []  # no question recorded as answered


def test_a_missing_key_says_which_variable_to_set(workspace: Path, capsys, monkeypatch):
    monkeypatch.delenv("WB_MISSING_KEY", raising=False)
    server = ScriptedServer([], default=(401, "no key", {}, 0), models=(401, "no key"))
    text = (workspace / "server.toml").read_text()
    (workspace / "nokey.toml").write_text(
        text.replace("[generation]\n", '[generation]\napi_key_env = "WB_MISSING_KEY"\n')
    )
    try:
        assert _run(workspace, "nokey", server.url, config="nokey.toml") == 2
    finally:
        server.close()
    assert "needs an API key (HTTP 401): set $WB_MISSING_KEY" in capsys.readouterr().err


def test_unparseable_answers_are_counted_and_flagged(workspace: Path, capsys):
    garbage = {"choices": [{"message": {"content": "I think it is about four"}, "finish_reason": "stop"}],
               "usage": {"prompt_tokens": 10, "completion_tokens": 7}}  # fmt: skip
    server = ScriptedServer([], default=(200, json.dumps(garbage), {}, 0))
    try:
        assert _run(workspace, "garbage", server.url, "--limit", "2") == 0
    finally:
        server.close()
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-1] == "run complete: 2/2 answered, 0 failed, 2 unparseable"
    assert _summary(workspace, "garbage")["num_unparseable"] == 2
    audits = _audit(workspace, capsys)
    assert [f["code"] for f in audits["garbage"]["flags"] if f["code"] == "unparseable"] == ["unparseable"]
    assert "incomplete" in [f["code"] for f in audits["hung"]["flags"]] or audits["hung"]["clean"]


def test_an_all_failed_run_fails_the_smoke_test(workspace: Path, tmp_path: Path, capsys):
    server = ScriptedServer([], default=(500, "broken", {}, 0))
    configs = tmp_path / "configs"
    configs.mkdir()
    text = (workspace / "server.toml").read_text()
    text = text.replace("[generation]\n", f'[generation]\nbase_url = "{server.url}"\n')
    (configs / "broken.toml").write_text(text)
    try:
        code = main(["benchmark", "--configs", str(configs), "--smoke-test", "--data-dir", str(workspace / "data"),
                     "--log-dir", str(tmp_path / "logs")])  # fmt: skip
    finally:
        server.close()
    printed = capsys.readouterr().out
    assert code == 1 and "failed" in printed
    summary = json.loads((tmp_path / "logs" / "summary.json").read_text())
    assert summary["counts"]["failed"] == 1 and summary["counts"]["passed"] == 0


def test_an_interrupted_run_is_incomplete_not_a_totals_mismatch(workspace: Path, capsys):
    server = ScriptedServer([])
    try:
        assert _run(workspace, "cut", server.url, "--limit", "2") == 0
    finally:
        server.close()
    summary_path = workspace / "runs" / "cut" / "summary.json"
    summary = json.loads(summary_path.read_text())
    summary.update(num_questions=4, num_done=2, num_answered=2, complete=False, status="incomplete")
    summary_path.write_text(json.dumps(summary))  # as a run killed after 2 of 4 questions leaves it
    capsys.readouterr()
    flags = {f["code"] for f in _audit(workspace, capsys)["cut"]["flags"]}
    assert "incomplete" in flags and "totals_mismatch" not in flags


# --- smaller points --------------------------------------------------------------------------------------------


def test_run_files_are_written_with_the_usual_permissions(workspace: Path):
    run = workspace / "runs" / "hung"
    umask = os.umask(0)
    os.umask(umask)
    expected = 0o666 & ~umask
    for name in ("summary.json", "results.json", "submission.csv", "results.jsonl"):
        assert (run / name).stat().st_mode & 0o777 == expected, name


def test_batch_with_no_matching_row_exits_2(workspace: Path, capsys, data_dir: Path):
    code = main(["batch", "--model-name", "no-such-model-anywhere", "--data-dir", str(data_dir)])
    err = capsys.readouterr().err
    assert code == 2 and "no row matches the filters" in err


def test_a_blank_answer_is_asked_again_with_a_wider_context(workspace: Path):
    blank = {**OK_BODY, "choices": [{"message": {"content": '{"answer_value": "is_blank", "ref_id": []}'},
                                     "finish_reason": "stop"}]}  # fmt: skip
    server = ScriptedServer([(200, json.dumps(blank), {}, 0)])
    config = workspace / "blank.toml"
    config.write_text((workspace / "server.toml").read_text().replace("max_blank_retries = 0", "max_blank_retries = 1"))
    try:
        assert _run(workspace, "blank-retry", server.url, "--limit", "1", config="blank.toml") == 0
    finally:
        server.close()
    (record,) = _records(workspace, "blank-retry")
    assert record["retries_by_kind"]["blank"] == 1 and record["pred_value"] == "4"
    first, second = (body["messages"][-1]["content"] for _, body in server.seen)
    documents = [text.split("\n\nQuestion: ")[0] for text in (first, second)]
    # 10 → 12 passages and 250 → 300 words: the model reads more than it did the first time, not the same again.
    assert len(documents[1].split()) > len(documents[0].split()) and 250 < record["context_words"] <= 300
