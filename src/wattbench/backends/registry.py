"""The one table of engines: names, aliases, where each lives and which extra installs it.

Engines are imported only when used. A third-party package adds an engine by declaring an entry point in the
`wattbench.backends` group (`name = "package.module:BackendClass"`), as inspect_ai's providers do; the class
follows `Backend` (backends/base.py): an `Options` model, `priced`, `needs_model`, `takes_slot`, `run_options`,
`batch_options`, `generate`, `info`, `devices`, `close`.
"""

from __future__ import annotations

from typing import Any

from wattbench.backends.base import Backend, options_of
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


def engines() -> dict[str, Entry]:
    """The built-in engines and those other packages register (a built-in name cannot be taken over)."""
    return ENGINES.entries


def resolve_backend(name: str) -> str:
    """The registry name of `name` (an alias or a name); an unknown one is an error with the near miss."""
    return ENGINES.resolve(name)


def backend_class(name: str) -> type[Backend]:
    """The engine's class, imported now (its engine library is imported only when it is created)."""
    cls: type[Backend] = ENGINES.load(name)
    return cls


def create_backend(name: str, **options: Any) -> Backend:
    """The engine `name` with `options`, checked against its own options model (an unknown one is an error)."""
    key = resolve_backend(name)
    cls = backend_class(key)
    checked = options_of(key, cls.Options, None, options)  # type: ignore[attr-defined]
    try:
        return cls(checked)  # type: ignore[call-arg]
    except ImportError as exc:
        extra = engines()[key].extra
        raise WattbenchError(
            f"backend '{key}' needs {exc.name or 'an engine'}: pip install 'wattbench[{extra}]'"
        ) from None


def is_priced(provider: str) -> bool:
    """Whether the engine's tokens cost money (the price table applies); an unknown provider counts as priced,
    so its cost is unknown rather than 0."""
    try:
        return bool(backend_class(provider).priced)
    except WattbenchError:
        return True


def takes_slot(provider: str) -> bool:
    """Whether a run of this engine holds a GPU (or CPU) slot of the executor; API clients hold none."""
    try:
        return bool(backend_class(provider).takes_slot)
    except WattbenchError:
        return True
