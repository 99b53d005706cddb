"""A managed `vllm serve`: started as its own process group, waited for, checked, driven, and stopped.

Start-up waits for `/health` with an overall timeout, and fails early when the process exits (with the end of its
log) or when its log stops growing for `stall_timeout_s` (a hung download or compile). The served model id is
checked against the one asked for. Generation goes through the OpenAI-compatible backend. `close()` terminates
the whole process group, kills it if it lingers, and, on GPUs NVML can see, waits until their memory is released.
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from wattbench.backends.base import BackendBase, Completion, GenerationRequest, options_of
from wattbench.backends.openai_compat import NetworkOptions, OpenAICompatBackend, OpenAIOptions, network_options
from wattbench.backends.ports import release_port, reserve_port
from wattbench.children import die_with_parent
from wattbench.energy.devices import Devices, slot_gpus, visible_nvml_indices
from wattbench.errors import WattbenchError

if TYPE_CHECKING:
    from wattbench.config import BatchConfig, ExperimentConfig


def _get(url: str, timeout_s: float = 2.0) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310 — our own server on loopback
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, ""
    except (OSError, urllib.error.URLError):
        return 0, ""


class VllmOptions(NetworkOptions):
    """A managed `vllm serve`."""

    max_concurrent: int = 32
    """Requests in flight at once (the server batches them)."""
    executable: str = "vllm"
    """The vllm command."""
    host: str = "127.0.0.1"
    """Address the server listens on."""
    port: int | None = None
    """Port (None: a free one, reserved)."""
    gpus: list[int] | None = None
    """GPUs it starts on (CUDA_VISIBLE_DEVICES); None: the run's own."""
    tensor_parallel: int = 1
    """Tensor-parallel size."""
    max_model_len: int | None = None
    """Context length (None: the model's own)."""
    extra_args: list[str] = []
    """More `vllm serve` arguments."""
    startup_timeout_s: float = 1200.0
    """Longest wait for /health."""
    stall_timeout_s: float = 300.0
    """Give up when the server's log stops growing this long (a hung download or compile)."""
    log_dir: str | None = None
    """Where the server log goes (None: a temp dir)."""


class VllmServerBackend(BackendBase):
    name = "vllm"
    Options = VllmOptions
    priced: ClassVar[bool] = False
    needs_model: ClassVar[bool] = True
    takes_slot: ClassVar[bool] = True
    native_weights: ClassVar[bool] = True
    gpu_only: ClassVar[bool] = True
    endpoint_client: ClassVar[str | None] = "openai"

    @classmethod
    def at_load(cls, options: dict[str, Any], in_flight: int) -> dict[str, Any]:
        """A server started with at most `in_flight` sequences scheduled (--max-num-seqs), sent as many at once."""
        extra = [a for a in (options.get("extra_args") or [])]
        if "--max-num-seqs" in extra:  # the load run's batch size replaces the config's
            at = extra.index("--max-num-seqs")
            del extra[at : at + 2]
        return {**options, "extra_args": [*extra, "--max-num-seqs", str(in_flight)], "max_concurrent": in_flight,
                "stream": True}  # fmt: skip

    @classmethod
    def run_options(cls, config: ExperimentConfig) -> dict[str, Any]:
        gen = config.generation
        return {"model": config.model, "gpus": gen.gpus, "tensor_parallel": gen.tensor_parallel,
                "max_model_len": gen.max_model_len, "extra_args": gen.server_args,
                "max_concurrent": gen.max_concurrent, "json_mode": gen.json_mode, "stream": gen.stream,
                **network_options(gen)}  # fmt: skip

    @classmethod
    def batch_options(cls, model: str, config: BatchConfig) -> dict[str, Any]:
        gen = config.generation
        return {"model": model, "gpus": gen.gpus, "tensor_parallel": gen.tensor_parallel,
                "max_model_len": gen.max_model_len, "extra_args": gen.server_args, "max_concurrent": config.batch_size,
                "json_mode": "none", "stream": gen.stream, **network_options(gen)}  # fmt: skip

    def __init__(self, options: VllmOptions | None = None, **kwargs: Any) -> None:
        opts = options_of(self.name, VllmOptions, options, kwargs)
        model, executable, host, port, gpus = opts.model, opts.executable, opts.host, opts.port, opts.gpus
        tensor_parallel, max_model_len, extra_args = opts.tensor_parallel, opts.max_model_len, opts.extra_args
        startup_timeout_s, stall_timeout_s, log_dir = opts.startup_timeout_s, opts.stall_timeout_s, opts.log_dir
        if not model:
            raise WattbenchError("the vllm backend needs a model: --model <Hugging Face id or local dir>")
        self.model, self.host, self.gpus = model, host, gpus
        self.port = port or reserve_port(host)
        self._reserved = port is None
        self.tensor_parallel = tensor_parallel
        self.base_url = f"http://{host}:{self.port}"
        command = [
            executable,
            "serve",
            model,
            "--host",
            host,
            "--port",
            str(self.port),
            "--tensor-parallel-size",
            str(tensor_parallel),
        ]
        if max_model_len:
            command += ["--max-model-len", str(max_model_len)]
        command += list(extra_args or [])
        env = dict(os.environ)
        slot = slot_gpus()
        if slot is not None:
            # Inside an executor slot the server starts on the slot's GPUs, whatever the config names: the slot
            # was sized for it, and another run may hold the GPUs the config names.
            self.gpus = gpus = slot
        elif gpus is not None:
            env["CUDA_VISIBLE_DEVICES"] = ",".join(str(g) for g in gpus)
        self.log_path = Path(log_dir or tempfile.mkdtemp(prefix="wattbench-vllm-")) / f"vllm-{self.port}.log"
        self._memory_before = self._gpu_memory_mib()
        self._log = open(self.log_path, "wb")
        try:
            self.process = subprocess.Popen(
                command,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
                preexec_fn=die_with_parent,  # a run killed outright must not leave the server holding its GPUs
            )
        except FileNotFoundError:
            self._log.close()
            release_port(self.port)
            raise WattbenchError(f"'{executable}' not found: install vLLM (pip install 'wattbench[vllm]')") from None
        try:
            self._wait_ready(startup_timeout_s, stall_timeout_s)
            self._check_model()
        except BaseException:
            self.close()
            raise
        client = {k: v for k, v in opts.model_dump().items() if k in NetworkOptions.model_fields}
        self.client = OpenAICompatBackend(
            OpenAIOptions(**client, base_url=f"{self.base_url}/v1", api_key_env="VLLM_API_KEY")
        )

    def _log_tail(self, lines: int = 5) -> str:
        text = self.log_path.read_text(errors="replace").strip().splitlines()
        return " | ".join(text[-lines:]) or "(empty log)"

    def _wait_ready(self, timeout_s: float, stall_timeout_s: float) -> None:
        started = last_growth = time.monotonic()
        last_size = -1
        while True:
            code = self.process.poll()
            if code is not None:
                raise WattbenchError(
                    f"vllm serve exited with code {code} before it was ready; log {self.log_path}: {self._log_tail()}"
                )
            if _get(f"{self.base_url}/health")[0] == 200 and self.process.poll() is None:
                return  # and ours still runs: one that lost its port to another server exits
            now = time.monotonic()
            size = self.log_path.stat().st_size
            if size != last_size:
                last_size, last_growth = size, now
            if now - last_growth > stall_timeout_s:
                raise WattbenchError(
                    f"vllm serve stalled: no log output for {stall_timeout_s:.0f} s; log {self.log_path}: "
                    f"{self._log_tail()}"
                )
            if now - started > timeout_s:
                raise WattbenchError(f"vllm serve not ready after {timeout_s:.0f} s; log {self.log_path}")
            time.sleep(0.25)

    def _check_model(self) -> None:
        import json

        status, body = _get(f"{self.base_url}/v1/models")
        served = [m.get("id") for m in json.loads(body).get("data", [])] if status == 200 and body else []
        if self.model not in served:
            raise WattbenchError(f"vllm serve is serving {served or 'nothing'}, not '{self.model}'")

    def _gpu_memory_mib(self) -> dict[int, float]:
        if not self.gpus:
            return {}
        try:
            from wattbench.energy.nvml import load_nvml

            nvml = load_nvml()
            return {g: nvml.nvmlDeviceGetMemoryInfo(nvml.nvmlDeviceGetHandleByIndex(g)).used / 2**20 for g in self.gpus}
        except Exception:  # no NVML here: memory release cannot be confirmed, and info() says so
            return {}

    def generate(self, requests: list[GenerationRequest]) -> list[Completion]:
        return self.client.generate(requests)

    def info(self) -> dict[str, Any]:
        return {
            "engine": "vllm",
            "model_id": self.model,
            "server": self.base_url,
            "devices": self.gpus or "all visible",  # the seed's form, which the report reads
            "gpus": list(self.devices().gpus),
            "tensor_parallel": self.tensor_parallel,
            "server_log": str(self.log_path),
            "pid": self.process.pid,
        }

    def devices(self) -> Devices:
        """The GPUs the server was started on (its slot's, the config's, or every GPU visible to this run)."""
        gpus = list(self.gpus) if self.gpus else visible_nvml_indices()
        return Devices(gpus=tuple(gpus), labels=tuple(f"gpu:{g}" for g in gpus) or ("all visible",))

    def close(self, timeout_s: float = 30.0, release_timeout_s: float = 60.0) -> None:
        """Stop the server's whole process group; then wait until its GPUs' memory is back to the level before."""
        process = getattr(self, "process", None)
        if process is not None and process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            except ProcessLookupError:
                pass
        if process is not None:
            try:
                os.killpg(process.pid, signal.SIGKILL)  # children that outlived the leader (engine workers)
            except ProcessLookupError:
                pass
        if not self._log.closed:
            self._log.close()
        if self._reserved:
            release_port(self.port)
            self._reserved = False
        deadline = time.monotonic() + release_timeout_s
        while self._memory_before and time.monotonic() < deadline:
            now = self._gpu_memory_mib()
            if all(now[g] <= self._memory_before[g] + 512 for g in now):
                return
            time.sleep(1.0)
        if self._memory_before:
            raise WattbenchError(f"GPU memory on {self.gpus} not released {release_timeout_s:.0f} s after vllm stopped")
