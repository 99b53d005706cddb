"""The one table of engines: names, aliases, where each lives and which extra installs it.

Engines are imported only when used. A third-party package adds an engine by declaring an entry point in the
`wattbench.backends` group (`name = "package.module:BackendClass"`), as inspect_ai's providers do; the class
follows `Backend` (backends/base.py): an `Options` model, `priced`, `needs_model`, `takes_slot`, `run_options`,
`batch_options`, `generate`, `info`, `devices`, `close`; what it leaves out has `BackendBase`'s default.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any, cast

from wattbench.backends.base import Backend, BackendBase, options_of
from wattbench.errors import WattbenchError
from wattbench.registry import Entry, Registry

ENTRY_POINT_GROUP = "wattbench.backends"

ENGINES = Registry("backend", [
    Entry("llamacpp", "wattbench.backends.llamacpp:LlamaCppBackend", "llamacpp", ("llama_cpp", "llama.cpp")),
    Entry("hf", "wattbench.backends.hf:HfBackend", "hf", ("hf_local", "transformers", "pytorch")),
    Entry("openai", "wattbench.backends.openai_compat:OpenAICompatBackend", "openai", ("openrouter", "vllm_endpoint")),
    Entry("vllm", "wattbench.backends.vllm_server:VllmServerBackend", "vllm"),
    Entry("bedrock", "wattbench.backends.bedrock:BedrockBackend", "bedrock", ("aws_bedrock",)),
], group=ENTRY_POINT_GROUP)  # fmt: skip
"""Every engine: the built-in ones and those other packages register."""

DEFAULT_ENGINE = "llamacpp"
"""The engine a run or a batch uses when none is named: it runs the bundled SmolLM2 GGUF on any CPU."""
HUB_ENGINE = "hf"
"""The engine that runs a Hugging Face Hub model id in this process (`wattbench run --hf-model`, scaling studies)."""


def engines() -> dict[str, Entry]:
    """The built-in engines and those other packages register (a built-in name cannot be taken over)."""
    return ENGINES.entries


def resolve_backend(name: str) -> str:
    """The registry name of `name` (an alias or a name); an unknown one is an error with the near miss."""
    return ENGINES.resolve(name)


def backend_class(name: str) -> type[Backend]:
    """The engine's class, imported now (its engine library is imported only when it is created)."""
    return _with_defaults(ENGINES.load(name))


@cache
def _with_defaults(cls: type) -> type[Backend]:
    """An engine class with `BackendBase`'s defaults under whatever it leaves out: the built-in engines subclass
    it; an engine of another package, written to the contract of an earlier release, may not."""
    if issubclass(cls, BackendBase):
        return cast("type[Backend]", cls)
    return cast("type[Backend]", type(cls.__name__, (cls, BackendBase), {"__module__": cls.__module__}))


def create_backend(name: str, **options: Any) -> Backend:
    """The engine `name` with `options`, checked against its own options model (an unknown one is an error)."""
    key = resolve_backend(name)
    cls = backend_class(key)
    checked = options_of(key, cls.Options, None, options)
    try:
        return cls(checked)
    except ImportError as exc:
        extra = engines()[key].extra
        raise WattbenchError(
            f"backend '{key}' needs {exc.name or 'an engine'}: pip install 'wattbench[{extra}]'"
        ) from None


def engine_fact(provider: str, fact: Callable[[type[Backend]], bool], unknown: bool) -> bool:
    """One of the engine's facts (`lambda engine: engine.gpu_only`, ...); `unknown` for a provider no registered
    engine has (a run dir of an engine since removed, or of a package not installed here)."""
    try:
        return bool(fact(backend_class(provider)))
    except WattbenchError:
        return unknown


RETIRED_LOCAL_ENGINES = frozenset({"ollama"})
"""Engines of earlier releases, gone since, that ran models on the user's hardware (their run dirs still load)."""


def ran_here(provider: str) -> bool:
    """Whether a run of this engine ran its model on hardware the run held (for run dirs written before runs
    recorded `backend.takes_slot`)."""
    return engine_fact(provider, lambda engine: engine.takes_slot, provider in RETIRED_LOCAL_ENGINES)


def is_priced(provider: str) -> bool:
    """Whether the engine's tokens cost money (the price table applies); an unknown provider counts as priced,
    so its cost is unknown rather than 0."""
    return engine_fact(provider, lambda engine: engine.priced, True)


def takes_slot(provider: str) -> bool:
    """Whether a run of this engine holds a GPU (or CPU) slot of the executor; API clients hold none."""
    return engine_fact(provider, lambda engine: engine.takes_slot, True)
