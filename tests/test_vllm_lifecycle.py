"""The managed vLLM server's lifecycle against a fake `vllm` executable: start, health, crash, stall, wrong
model, generation through the OpenAI-compatible client, and stopping the whole process group."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from wattbench.backends.base import GenerationRequest
from wattbench.backends.registry import create_backend
from wattbench.errors import WattbenchError

FAKE = Path(__file__).parent / "fakes" / "fake_vllm.py"


@pytest.fixture
def fake_vllm(tmp_path: Path, monkeypatch) -> Path:
    executable = tmp_path / "vllm"
    executable.write_text(f'#!/bin/sh\nexec {sys.executable} {FAKE} "$@"\n')
    executable.chmod(0o755)
    monkeypatch.setenv("FAKE_VLLM_PIDS", str(tmp_path / "pids"))
    return executable


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return not Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"


def test_start_generate_and_stop_the_whole_group(fake_vllm: Path, tmp_path: Path):
    backend = create_backend(
        "vllm",
        model="Qwen/Qwen2.5-7B-Instruct",
        executable=str(fake_vllm),
        gpus=[2, 3],
        tensor_parallel=2,
        log_dir=str(tmp_path),
    )
    out = backend.generate(
        [GenerationRequest(messages=[{"role": "user", "content": f"q{i}"}], min_tokens=7) for i in range(3)]
    )
    assert [c.completion_tokens for c in out] == [7, 7, 7] and all(c.error is None for c in out)
    assert '"echo": "q2"' in out[2].text
    info = backend.info()
    assert info["engine"] == "vllm" and info["devices"] == [2, 3] and info["tensor_parallel"] == 2
    assert "CUDA_VISIBLE_DEVICES=2,3" in Path(info["server_log"]).read_text()
    server_pid, worker_pid = map(int, (tmp_path / "pids").read_text().split())
    backend.close()
    time.sleep(0.2)
    assert not _alive(server_pid) and not _alive(worker_pid)  # the worker child went down with the group


def test_inside_an_executor_slot_the_server_starts_on_the_slots_gpus(fake_vllm: Path, tmp_path: Path, monkeypatch):
    """The local executor gave this run GPUs 4 and 5; the config names 0 and 1, which another run may hold."""
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,5")
    monkeypatch.setenv("WATTBENCH_SLOT_GPUS", "4,5")
    backend = create_backend("vllm", model="Qwen/Qwen2.5-7B-Instruct", executable=str(fake_vllm), gpus=[0, 1],
                             tensor_parallel=2, log_dir=str(tmp_path))  # fmt: skip
    try:
        assert "CUDA_VISIBLE_DEVICES=4,5" in Path(backend.info()["server_log"]).read_text()
        assert backend.devices().gpus == (4, 5)  # what the meter then keeps
    finally:
        backend.close()


@pytest.mark.parametrize(
    ("mode", "options", "message"),
    [
        ("crash", {}, r"exited with code 3 before it was ready; .*CUDA out of memory"),
        ("stall", {"stall_timeout_s": 1.0}, r"stalled: no log output for 1 s"),
        ("wrong-model", {}, r"serving \['some/other-model'\], not 'my/model'"),
    ],
)
def test_failed_starts_are_one_line_errors(fake_vllm: Path, tmp_path: Path, monkeypatch, mode, options, message):
    monkeypatch.setenv("FAKE_VLLM_MODE", mode)
    started = time.monotonic()
    with pytest.raises(WattbenchError, match=message) as info:
        create_backend("vllm", model="my/model", executable=str(fake_vllm), log_dir=str(tmp_path), **options)
    assert "\n" not in str(info.value) and time.monotonic() - started < 20
    if mode == "wrong-model":
        server_pid, worker_pid = map(int, (tmp_path / "pids").read_text().split())
        time.sleep(0.2)
        assert not _alive(server_pid) and not _alive(worker_pid)  # a failed start leaves nothing running


def test_missing_executable(tmp_path: Path):
    with pytest.raises(WattbenchError, match="'/no/vllm' not found: install vLLM"):
        create_backend("vllm", model="m", executable="/no/vllm", log_dir=str(tmp_path))
