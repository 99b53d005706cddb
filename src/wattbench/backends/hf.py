"""Hugging Face transformers, in process, with real batched generation.

Requests are grouped by their generation settings and answered `max_batch_size` at a time: prompts rendered
with the model's own chat template, left-padded, one `model.generate` per batch. Prompt tokens are the attention
mask's count, and completion tokens the generated ids up to and including the first end-of-sequence: counts
from the tokenizer the engine itself runs. Every request of a batch reports the batch's latency; a streamer
stamps each decoding step, so each request has its TTFT (the first step, after the batch's prefill), TPOT and
inter-token gaps over its own tokens.
"""

from __future__ import annotations

import gc
import time
from collections import defaultdict
from typing import TYPE_CHECKING, Any, ClassVar, Literal

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
from wattbench.energy.devices import Devices, cpu_only, cuda_to_nvml
from wattbench.errors import WattbenchError
from wattbench.hub import local_model_dir

if TYPE_CHECKING:
    from wattbench.config import BatchConfig, ExperimentConfig

DTYPES = ("auto", "bf16", "fp16", "fp32")


class HfOptions(EngineOptions):
    """Hugging Face transformers in process."""

    dtype: Literal["auto", "bf16", "fp16", "fp32"] = "auto"
    """Weights dtype."""
    device_map: str | None = None
    """transformers device map ("auto" spreads a model over the visible GPUs); None: one device."""
    load_in_4bit: bool = False
    """4-bit weights with bitsandbytes."""
    max_batch_size: int = 8
    """Prompts per generate call."""
    seed: int | None = 0
    """Sampling seed."""
    trust_remote_code: bool = False
    """Run the model repository's own code (only for models you trust)."""


class HfBackend(BackendBase):
    name = "hf"
    Options = HfOptions
    priced: ClassVar[bool] = False
    needs_model: ClassVar[bool] = True
    takes_slot: ClassVar[bool] = True
    renders_prompt: ClassVar[bool] = True
    native_weights: ClassVar[bool] = True

    @classmethod
    def at_load(cls, options: dict[str, Any], in_flight: int) -> dict[str, Any]:
        """Options for a load run with `in_flight` sequences per batched generate call."""
        return {**options, "max_batch_size": in_flight}

    @classmethod
    def run_options(cls, config: ExperimentConfig) -> dict[str, Any]:
        gen = config.generation
        return {"model": config.model, "dtype": gen.dtype, "seed": gen.seed, "max_batch_size": gen.max_concurrent}

    @classmethod
    def batch_options(cls, model: str, config: BatchConfig) -> dict[str, Any]:
        gen = config.generation
        return {"model": model, "dtype": gen.dtype, "max_batch_size": config.batch_size, "seed": gen.seed}

    def __init__(self, options: HfOptions | None = None, **kwargs: Any) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        opts = options_of(self.name, HfOptions, options, kwargs)
        model, dtype, device_map, load_in_4bit = opts.model, opts.dtype, opts.device_map, opts.load_in_4bit
        max_batch_size, seed, trust_remote_code = opts.max_batch_size, opts.seed, opts.trust_remote_code

        if not model:
            raise WattbenchError("the hf backend needs a model: --model <Hugging Face id or local dir>")
        if dtype not in DTYPES:
            raise WattbenchError(f"generation.dtype: unknown dtype '{dtype}'; use one of: {', '.join(DTYPES)}")
        self.model_id, self.dtype, self.max_batch_size, self.seed = model, dtype, max_batch_size, seed
        location = local_model_dir(model)
        load: dict[str, Any] = {"trust_remote_code": trust_remote_code}
        load["dtype"] = {"auto": "auto", "bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[dtype]
        if load_in_4bit:
            try:
                import bitsandbytes  # noqa: F401
                from transformers import BitsAndBytesConfig
            except ImportError:
                raise WattbenchError("4-bit loading needs bitsandbytes: pip install bitsandbytes") from None
            load["quantization_config"] = BitsAndBytesConfig(load_in_4bit=True)
        if device_map:
            load["device_map"] = device_map
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(location, trust_remote_code=trust_remote_code)
            self.model = AutoModelForCausalLM.from_pretrained(location, **load)
        except OSError as exc:
            raise WattbenchError(f"model '{model}' could not be loaded ({str(exc).splitlines()[0]})") from None
        if not device_map and not load_in_4bit:
            self.model.to("cuda" if torch.cuda.is_available() else "cpu")
        self.model.eval()
        self.tokenizer.padding_side = "left"  # decoder-only models continue from the right edge
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.device = next(self.model.parameters()).device

    def _prompt(self, request: GenerationRequest) -> str:
        """The text the model reads: its chat template with the request's kwargs and assistant prefix, or a plain
        prompt (with the BOS token the tokenizer would add, since batches are encoded without special tokens)."""
        if request.prompt_text is not None:
            bos = self.tokenizer.bos_token or ""
            text = request.prompt_text if request.prompt_text.startswith(bos) else bos + request.prompt_text
            return text + (request.assistant_prefix or "")
        kwargs = dict(request.chat_template_kwargs)
        if request.reasoning_effort:
            kwargs["reasoning_effort"] = request.reasoning_effort
        text = self.tokenizer.apply_chat_template(
            request.messages, tokenize=False, add_generation_prompt=True, **kwargs
        )
        return text + (request.assistant_prefix or "")

    def _reasoning_tokens(self, request: GenerationRequest, ids: list[int]) -> int | None:
        if not request.think_end:
            return None
        return marker_end(ids, self.tokenizer.encode(request.think_end, add_special_tokens=False))

    def _completion_length(self, ids: list[int]) -> tuple[int, str]:
        eos = self.tokenizer.eos_token_id
        eos_ids = set(eos if isinstance(eos, list) else [eos])
        for position, token in enumerate(ids):
            if token in eos_ids:
                return position + 1, "stop"
        return len(ids), "length"

    def _batch(self, requests: list[GenerationRequest]) -> list[Completion]:
        import torch

        first = requests[0]
        started = time.perf_counter()
        steps = _StepTimes(started, [r.on_output for r in requests])
        try:
            prompts = [self._prompt(r) for r in requests]
            encoded = self.tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(
                self.device
            )
            if first.seed is not None:
                torch.manual_seed(first.seed)
            sampling = (
                {"do_sample": True, "temperature": first.temperature} if first.temperature > 0 else {"do_sample": False}
            )
            with torch.inference_mode():
                output = self.model.generate(
                    **encoded,
                    max_new_tokens=first.max_tokens,
                    min_new_tokens=first.min_tokens,
                    pad_token_id=self.tokenizer.pad_token_id,
                    streamer=steps,
                    **sampling,
                )
        except Exception as exc:  # out of memory, a template error: every request of the batch records it
            latency = time.perf_counter() - started
            return [
                Completion(
                    error=str(exc).splitlines()[0] or type(exc).__name__,
                    finish_reason=failure_reason(str(exc)),
                    latency_s=latency,
                )
                for _ in requests
            ]
        latency = time.perf_counter() - started
        width = encoded["input_ids"].shape[1]
        rows = zip(requests, prompts, output, encoded["attention_mask"])
        return [self._completion(r, p, row[width:].tolist(), int(m.sum()), latency, steps) for r, p, row, m in rows]

    def _completion(
        self, request: GenerationRequest, prompt: str, generated: list[int], prompt_tokens: int, latency: float,
        steps: _StepTimes,
    ) -> Completion:  # fmt: skip
        length, reason = self._completion_length(generated)
        thinking = self._reasoning_tokens(request, generated[:length])
        # Split on the ids: decoding drops special tokens, and with them markers such as gpt-oss's channels.
        answer_ids = generated[thinking:length] if thinking is not None else generated[:length]
        times = TokenTimes(steps.offsets_s[:length])
        return Completion(
            text=self.tokenizer.decode(answer_ids, skip_special_tokens=True),
            reasoning_text=None
            if thinking is None
            else self.tokenizer.decode(generated[:thinking], skip_special_tokens=True),
            prompt_tokens=prompt_tokens,
            completion_tokens=length,
            reasoning_tokens=thinking,
            finish_reason=finish_reason(reason),
            latency_s=latency,
            ttft_s=times.ttft_s,
            tpot_s=times.tpot_s(length),
            itl_s=times.itl_s,
            rendered_prompt=prompt,
        )

    def generate(self, requests: list[GenerationRequest]) -> list[Completion]:
        results: list[Completion | None] = [None] * len(requests)
        groups: dict[tuple, list[int]] = defaultdict(list)
        for i, r in enumerate(requests):  # one generate call needs one set of settings
            groups[(r.max_tokens, r.min_tokens, r.temperature, r.seed)].append(i)
        for indices in groups.values():
            for start in range(0, len(indices), self.max_batch_size):
                chunk = indices[start : start + self.max_batch_size]
                for i, completion in zip(chunk, self._batch([requests[i] for i in chunk])):
                    results[i] = completion
        return [r for r in results if r is not None]

    def info(self) -> dict[str, Any]:
        import transformers

        devices = self.devices()
        return {
            "engine": "transformers",
            "engine_version": transformers.__version__,
            "model_id": self.model_id,
            "model_path": getattr(self.model, "name_or_path", self.model_id),
            "revision": getattr(self.model.config, "_commit_hash", None),
            "dtype": str(self.model.dtype),
            "devices": list(devices.labels),
            "gpus": list(devices.gpus),
            "max_batch_size": self.max_batch_size,
            "num_parameters": int(self.model.num_parameters()),
        }

    def devices(self) -> Devices:
        """The devices the weights are on: the device map's, else the model's one device; CUDA devices are
        matched to NVML indices by UUID."""
        placed = getattr(self.model, "hf_device_map", None) or {"": str(self.device)}
        labels = sorted({f"cuda:{d}" if isinstance(d, int) else str(d) for d in placed.values()})
        cuda = sorted({int(label.split(":")[1]) if ":" in label else 0 for label in labels if label.startswith("cuda")})
        if not cuda:
            return cpu_only(labels[0] if labels else "cpu")
        return Devices(gpus=tuple(cuda_to_nvml(cuda)), labels=tuple(labels))

    def close(self) -> None:
        import torch

        self.model = None
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


class _StepTimes:
    """A transformers streamer that stamps each decoding step (seconds from `started`). `generate` hands it the
    prompt first, then each step's new tokens (one per sequence of the batch)."""

    def __init__(self, started: float, hooks: list[Any] | None = None) -> None:
        self.started = started
        self.offsets_s: list[float] = []
        self._prompt_seen = False
        self._hooks = [h for h in hooks or [] if h is not None]  # load runs: each sequence's output events

    def put(self, value: Any) -> None:
        if not self._prompt_seen:
            self._prompt_seen = True
            return
        self.offsets_s.append(time.perf_counter() - self.started)
        for hook in self._hooks:
            hook("token")

    def end(self) -> None:
        for hook in self._hooks:
            hook("done")
