"""The small bad inputs a careful user meets: each is one line (exit 2) or a warning, never a silent result."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from fakes.batch_inputs import HEADER, prompts_jsonl
from fakes.servers import ScriptedServer
from fakes.workspace import make_workspace
from wattbench.cli import main


def _models(path: Path, rows: list[list[str]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        writer.writerows(rows)
    return path


def test_a_repeated_model_row_is_an_error_unless_its_state_differs(tmp_path: Path, capsys):
    prompts = prompts_jsonl(tmp_path / "p.jsonl", ["q"])
    same = _models(
        tmp_path / "same.csv",
        [
            ["0", "Qwen/Qwen2.5-7B-Instruct", "1", "A", "text_gen", "Off (N/A)", ""],
            ["1", "Qwen/Qwen2.5-7B-Instruct", "1", "B", "text_gen", "Off (N/A)", ""],
        ],
    )
    for strict in ([], ["--strict"]):
        code = main(["batch", "--models-csv", str(same), "--prompts-file", str(prompts), "--list", *strict])
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and len(err) == 1 and "rows 2 and 3 are the same run" in err[0]
        assert "class 'A' vs 'B'" in err[0]
    distinct = _models(tmp_path / "distinct.csv", [
        ["0", "Qwen/Qwen3-8B", "1", "A", "text_gen", "On", ""],
        ["1", "Qwen/Qwen3-8B", "1", "A", "text_gen", "Off", ""]])  # fmt: skip
    assert main(["batch", "--models-csv", str(distinct), "--prompts-file", str(prompts), "--list"]) == 0


def test_a_questions_file_with_no_rows_is_refused(wattbot: Path, tmp_path: Path, capsys):
    root = make_workspace(wattbot, tmp_path)
    empty = root / "empty.csv"
    empty.write_text((root / "questions.csv").read_text().splitlines()[0] + "\n")
    code = main(["run", "--config", str(root / "run.toml"), "--data-dir", str(root / "data"), "--questions",
                 str(empty), "--name", "e", "--quiet"])  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "no questions" in err[0] and str(empty) in err[0]
    assert not (root / "runs" / "e").exists()


def test_more_prompts_asked_than_the_set_holds_is_said(tmp_path: Path, capsys):
    models = _models(tmp_path / "m.csv", [["0", "Qwen/Qwen2.5-7B-Instruct", "1", "A", "text_gen", "Off (N/A)", ""]])
    prompts = prompts_jsonl(tmp_path / "p.jsonl", ["q 1", "q 2"])
    server = ScriptedServer([])
    try:
        code = main(["batch", "--models-csv", str(models), "--prompts-file", str(prompts), "--num-prompts", "5",
                     "--backend", "openai", "--endpoint", server.url, "--output-dir", str(tmp_path / "out"),
                     "--idle-seconds", "0", "--max-new-tokens", "8"])  # fmt: skip
    finally:
        server.close()
    assert code == 0
    err = capsys.readouterr().err
    assert "--num-prompts 5, but" in err and "holds 2 prompts; running 2" in err


@pytest.mark.parametrize(("section", "key"), [("energy", "idle_seconds"), ("generation", "temperature"),
                                              ("generation", "stall_timeout_s")])  # fmt: skip
@pytest.mark.parametrize("value", ["inf", "nan"])
def test_infinite_or_nan_settings_are_one_line_config_errors(wattbot, tmp_path, capsys, section, key, value):
    root = make_workspace(wattbot, tmp_path)
    text = (root / "run.toml").read_text()
    if section == "energy":
        text = text.replace("idle_seconds = 0", f"{key} = {value}")
    else:
        text += f"[{section}]\n{key} = {value}\n"
    (root / "bad.toml").write_text(text)
    code = main(["run", "--config", str(root / "bad.toml"), "--data-dir", str(root / "data"), "--name", "x"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and f"{section}.{key}" in err[0], err
    assert not (root / "runs" / "x").exists()


def test_lenient_scoring_and_the_matrix_read_cells_over_128_kib(wattbot: Path, tmp_path: Path, capsys):
    with open(wattbot / "train_QA.csv", encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    columns = ["id", "question", "answer", "answer_value", "answer_unit", "ref_id", "ref_url", "supporting_materials",
               "explanation"]  # fmt: skip
    submission = tmp_path / "sub.csv"
    with open(submission, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({c: row.get(c, "") for c in columns} | {"explanation": "x" * 200_000})
    scores = {}
    for mode in ("kaggle", "lenient"):
        assert main(["score", str(wattbot / "train_QA.csv"), str(submission), "--mode", mode, "--json"]) == 0
        scores[mode] = capsys.readouterr().out
    import json

    assert json.loads(scores["lenient"])["overall"] == json.loads(scores["kaggle"])["overall"] > 0.9
    assert main(["matrix", "--submissions", str(submission), "--solution", str(wattbot / "train_QA.csv"),
                 "--mode", "lenient", "--output", str(tmp_path / "m.csv")]) == 0  # fmt: skip
    capsys.readouterr()
    with open(tmp_path / "m.csv", encoding="utf-8") as handle:
        matrix = list(csv.DictReader(handle))
    assert len(matrix) == len(rows)  # every question, with the one submission's cell
