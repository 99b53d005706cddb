from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from wattbench.cli import main

JSON_KEYS = {
    "overall",
    "value_accuracy",
    "ref_overlap",
    "na_term",
    "na_recall",
    "n_scored",
    "n_missing",
    "n_extra",
    "mode",
    "by_evidence",
}


def test_score_json_has_the_documented_keys(wattbot: Path, capsys):
    train = str(wattbot / "train_QA.csv")
    for mode in ("kaggle", "lenient"):
        assert main(["score", train, train, "--mode", mode, "--json"]) == 0
        payload = json.loads(capsys.readouterr().out)
        assert JSON_KEYS <= set(payload) and payload["mode"] == mode and payload["overall"] == 1.0


def test_score_table_and_rows(wattbot: Path, write_csv, capsys):
    sub = write_csv(
        [{"id": "q003", "answer_value": "wrong", "answer_unit": "is_blank", "ref_id": "['x']", "explanation": "e"}]
    )
    assert main(["score", str(wattbot / "train_QA.csv"), str(sub)]) == 0
    out = capsys.readouterr().out
    assert "WattBot score (kaggle mode)" in out and "overall         0.1000" in out
    assert "q003" in out and "[value, ref 0.00]" in out
    assert main(["score", str(wattbot / "train_QA.csv"), str(sub), "--json", "--rows"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert rows[0]["id"] == "q003" and rows[0]["weighted"] == 0.1


def test_bad_input_exits_2_with_one_line(wattbot: Path, write_csv, capsys):
    train = str(wattbot / "train_QA.csv")
    assert main(["score", train, "/definitely/absent.csv"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "wattbench: error: /definitely/absent.csv: file not found; check the path"
    assert main(["score", train, train, "--mode", "strict"]) == 2
    assert "unknown mode 'strict'" in capsys.readouterr().err
    dup = write_csv([{"id": "q1", "question": "a"}, {"id": "q1", "question": "b"}])
    assert main(["score", train, str(dup)]) == 2
    assert "missing required column 'answer_value'" in capsys.readouterr().err
    assert main(["score"]) == 2  # usage error


def test_console_script_exit_code(tmp_path: Path):
    exe = Path(sys.executable).with_name("wattbench")
    done = subprocess.run([str(exe), "score", "a.csv", "b.csv"], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "a.csv: file not found" in done.stderr


def test_data_check_prints_summary_and_self_check(data_dir: Path, capsys):
    assert main(["data", "check", "--data-dir", str(data_dir)]) == 0
    out = capsys.readouterr().out
    assert "questions 41 (39 answerable, 2 unanswerable)" in out
    assert "corpus 32 documents" in out and "280 image placeholders" in out
    assert out.count("overall         1.0000") == 2
    assert main(["data", "check", "--data-dir", str(data_dir), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["self_check"]["kaggle"]["overall"] == 1.0 and payload["problems"] == []


def test_data_check_without_data_says_how_to_get_it(tmp_path: Path, capsys, monkeypatch):
    monkeypatch.delenv("WATTBENCH_DATA", raising=False)
    monkeypatch.chdir(tmp_path)
    assert main(["data", "check"]) == 2
    assert "run 'make data'" in capsys.readouterr().err


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("wattbench ")


def test_python_dash_m(tmp_path: Path):
    env = dict(os.environ)
    done = subprocess.run([sys.executable, "-m", "wattbench", "--help"], capture_output=True, text=True, env=env)
    assert done.returncode == 0 and "score" in done.stdout and "data" in done.stdout
