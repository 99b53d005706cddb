"""The store under faults: two writers, a torn last line, a full disk, a read-only folder, a link out of the
store, a corrupt summary. The full and read-only disks are real (tmpfs mounts, which need root: CI is root; a
developer without it gets a skip). Runs go through the real CLI against a scripted server on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fakes.servers import ScriptedServer
from fakes.workspace import make_workspace
from wattbench.cli import main


@pytest.fixture(scope="module")
def server():
    served = ScriptedServer([])
    yield served
    served.close()


def _workspace(wattbot: Path, root: Path, output_dir: Path | None = None) -> Path:
    ws = make_workspace(wattbot, root, output_dir)
    config = (ws / "run.toml").read_text().replace("[retrieval]", 'provider = "openai"\nmodel = "m"\n[retrieval]')
    (ws / "server.toml").write_text(config + "[generation]\nstream = false\n")
    return ws


def _run(ws: Path, server: ScriptedServer, name: str = "r", *extra: str) -> int:
    return main(["run", "--config", str(ws / "server.toml"), "--data-dir", str(ws / "data"), "--name", name,
                 "--base-url", server.url, "--quiet", *extra])  # fmt: skip


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture
def tmpfs(tmp_path: Path):
    """A fresh 1 MiB tmpfs folder (`remount(ro=True)` makes it read-only; `fill()` leaves no free byte)."""
    mount = tmp_path / "fs"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({made.stderr.decode().strip()}); CI runs as root")

    class Fs:
        path = mount

        @staticmethod
        def remount(ro: bool) -> None:
            subprocess.run(["mount", "-o", f"remount,{'ro' if ro else 'rw'}", str(mount)], check=True)

        @staticmethod
        def fill() -> None:
            fd = os.open(mount / "filler", os.O_WRONLY | os.O_CREAT)
            try:
                while True:
                    os.write(fd, b"\0" * 512)
            except OSError:
                pass
            finally:
                os.close(fd)

    yield Fs
    subprocess.run(["umount", "-l", str(mount)], check=False)


def _holder(path: Path) -> subprocess.Popen:
    """Another process holding `path`'s writer lock until killed."""
    code = ("import sys, time; from wattbench.store.lock import DirLock; "
            "DirLock(sys.argv[1]).acquire(); print('held', flush=True); time.sleep(120)")  # fmt: skip
    process = subprocess.Popen([sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")})  # fmt: skip
    assert process.stdout is not None and process.stdout.readline().strip() == "held"
    return process


def test_a_second_writer_is_refused_and_a_dead_holders_lock_is_taken_over(wattbot, tmp_path, server, capsys):
    ws = _workspace(wattbot, tmp_path)
    holder = _holder(ws / "runs" / "r")
    try:
        assert _run(ws, server) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and f"is being written by pid {holder.pid}" in err[0] and "another --name" in err[0]
        assert not (ws / "runs" / "r" / "results.jsonl").exists()  # nothing written by the refused run
    finally:
        holder.kill()
        holder.wait()
    assert _run(ws, server) == 0  # the holder died: its lock is taken over
    assert len(_lines(ws / "runs" / "r" / "results.jsonl")) == 4
    assert f"took over the lock of pid {holder.pid}" in (ws / "runs" / "r" / "run.log").read_text()


def test_two_runs_of_one_name_at_once_do_not_double_the_answers(wattbot, tmp_path, server):
    ws = _workspace(wattbot, tmp_path)
    slow = ScriptedServer([], default=(200, json.dumps({"choices": [{"message": {"content": '{"answer_value": 1}'},
                                       "finish_reason": "stop"}]}), {}, 0.5))  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src"), "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "-m", "wattbench", "run", "--config", str(ws / "server.toml"), "--data-dir",
               str(ws / "data"), "--name", "twice", "--base-url", slow.url, "--quiet"]  # fmt: skip
    try:
        first = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        while not (ws / "runs" / "twice" / "run.log").exists():
            time.sleep(0.05)
        second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
        first_out, _ = first.communicate(timeout=120)
    finally:
        slow.close()
    assert second.returncode == 2 and "is being written by pid" in second.stderr
    assert first.returncode == 0
    records = _lines(ws / "runs" / "twice" / "results.jsonl")
    assert len(records) == 4 and len({r["id"] for r in records}) == 4


def test_a_second_batch_into_one_folder_is_refused(tmp_path, capsys):
    from fakes.batch_inputs import models_csv, prompts_jsonl

    out = tmp_path / "out"
    holder = _holder(out)
    try:
        models = models_csv(tmp_path / "m.csv", [("Qwen/Qwen2.5-7B-Instruct", "A", "Off (N/A)")])
        prompts = prompts_jsonl(tmp_path / "p.jsonl", ["q 1"])
        code = main(["batch", "--models-csv", str(models), "--prompts-file", str(prompts), "--backend", "openai",
                     "--endpoint", "http://127.0.0.1:9/v1", "--output-dir", str(out)])  # fmt: skip
        assert code == 2
        assert f"is being written by pid {holder.pid}" in capsys.readouterr().err
        assert not (out / "master_results.csv").exists()
    finally:
        holder.kill()
        holder.wait()


def test_a_torn_last_line_is_set_aside_and_its_question_asked_again(wattbot, tmp_path, server, capsys):
    ws = _workspace(wattbot, tmp_path)
    assert _run(ws, server) == 0
    results = ws / "runs" / "r" / "results.jsonl"
    data = results.read_bytes()
    last = data.rstrip(b"\n").rsplit(b"\n", 1)[1]
    results.write_bytes(data[: len(data) - len(last) // 2 - 1])  # the last record cut in half, no newline
    torn_id = json.loads(last)["id"]
    asked = len(server.seen)
    assert _run(ws, server) == 0
    assert "cut off mid-write" in capsys.readouterr().err
    records = _lines(results)  # every line parses: the next record started on a line of its own
    assert len(records) == 4 and records[-1]["id"] == torn_id
    assert len(server.seen) == asked + 1  # that one question, asked again
    assert (ws / "runs" / "r" / "results.jsonl.torn").read_bytes().startswith(last[: len(last) // 3])
    summary = json.loads((ws / "runs" / "r" / "summary.json").read_text())
    assert summary["status"] == "complete" and summary["num_answered"] == 4
    assert _run(ws, server) == 0 and len(server.seen) == asked + 1  # and it is done: nothing asked a third time


def test_a_full_disk_is_one_line_exit_2_and_loses_nothing(wattbot, tmp_path, server, tmpfs, capsys):
    ws = _workspace(wattbot, tmp_path / "ws", output_dir=tmpfs.path / "runs")
    assert _run(ws, server, "r", "--limit", "2") == 0
    run = tmpfs.path / "runs" / "r"
    tmpfs.fill()
    capsys.readouterr()
    assert _run(ws, server) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "the disk is full" in err[0] and str(run) in err[0], err
    assert not [p.name for p in run.iterdir() if p.name.startswith(".") and p.name != ".wattbench.lock"]
    records = _lines(run / "results.jsonl")  # every finished record intact, no half line
    assert len(records) >= 2 and all(r["id"] for r in records)
    (tmpfs.path / "filler").unlink()
    assert _run(ws, server) == 0  # room again: the same command resumes and finishes
    assert json.loads((run / "summary.json").read_text())["num_answered"] == 4


def test_a_read_only_store_and_unwritable_outputs_are_one_line_errors(wattbot, tmp_path, server, tmpfs, capsys):
    ws = _workspace(wattbot, tmp_path / "ws", output_dir=tmpfs.path / "runs")
    assert _run(ws, server, "r", "--limit", "2") == 0
    tmpfs.remount(ro=True)
    try:
        capsys.readouterr()
        assert _run(ws, server) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "read-only" in err[0], err
        assert len(_lines(tmpfs.path / "runs" / "r" / "results.jsonl")) == 2
        for command in (
            ["plot", "--out", str(tmpfs.path / "plots")],
            ["report", "--out", str(tmpfs.path / "report.html"), "--plots-dir", str(tmp_path / "plots"),
             "--batch-dir", str(tmp_path / "none"), "--load-dir", str(tmp_path / "none")],
            ["matrix", "--output", str(tmpfs.path / "matrix.csv")],
        ):  # fmt: skip
            code = main([*command, "--experiments-dir", str(tmpfs.path / "runs"), "--data-dir", str(ws / "data"),
                         "--solution", str(ws / "questions.csv")])  # fmt: skip
            err = capsys.readouterr().err.strip().splitlines()
            assert code == 2 and len(err) == 1 and "read-only" in err[-1], (command[0], err)
    finally:
        tmpfs.remount(ro=False)


def test_a_linked_results_file_is_never_written_through(wattbot, tmp_path, server, capsys):
    ws = _workspace(wattbot, tmp_path)
    outside = tmp_path / "outside.jsonl"
    outside.write_text("")
    (ws / "runs" / "r").mkdir(parents=True)
    (ws / "runs" / "r" / "results.jsonl").symlink_to(outside)
    assert _run(ws, server) == 2
    assert "symbolic link" in capsys.readouterr().err and outside.read_text() == ""


def test_a_corrupt_summary_says_what_resumes(wattbot, tmp_path, server, capsys):
    ws = _workspace(wattbot, tmp_path)
    assert _run(ws, server, "r", "--limit", "2") == 0
    (ws / "runs" / "r" / "summary.json").write_text("{not json")
    assert _run(ws, server) == 2
    err = capsys.readouterr().err
    assert "delete that one file and rerun to resume" in err and "--force would start over" in err
    (ws / "runs" / "r" / "summary.json").unlink()
    asked = len(server.seen)
    assert _run(ws, server) == 0 and len(server.seen) == asked + 2  # the 2 answered questions were kept


def test_sigterm_marks_a_run_incomplete_and_exits_143(wattbot, tmp_path):
    ws = _workspace(wattbot, tmp_path)
    slow = ScriptedServer([], default=(200, json.dumps({"choices": [{"message": {"content": '{"answer_value": 1}'},
                                       "finish_reason": "stop"}]}), {}, 1.0))  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src"), "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "-m", "wattbench", "run", "--config", str(ws / "server.toml"), "--data-dir",
               str(ws / "data"), "--name", "term", "--base-url", slow.url, "--quiet"]  # fmt: skip
    try:
        process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        results = ws / "runs" / "term" / "results.jsonl"
        deadline = time.monotonic() + 90
        while not (results.exists() and results.read_text().strip()) and time.monotonic() < deadline:
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
    finally:
        slow.close()
    assert process.returncode == 143, err
    summary = json.loads((ws / "runs" / "term" / "summary.json").read_text())
    assert summary["status"] == "incomplete" and summary["sessions"][-1]["interrupted"] is True
    assert "interrupted" in err
