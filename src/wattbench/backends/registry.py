"""The one table of engines: names, aliases, where each lives and which extra installs it.

Engines are imported only when used. A third-party package adds an engine by declaring an entry point in the
`wattbench.backends` group (`name = "package.module:BackendClass"`), as inspect_ai's providers do; the class
follows `Backend` (backends/base.py): an `Options` model, `priced`, `needs_model`, `takes_slot`, `run_options`,
`batch_options`, `generate`, `info`, `devices`, `close`.
"""

from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass
from functools import cache
from importlib.metadata import entry_points
from typing import Any

from wattbench.backends.base import Backend, options_of
from wattbench.errors import WattbenchError

ENTRY_POINT_GROUP = "wattbench.backends"


@dataclass(frozen=True)
class Engine:
    name: str
    target: str
    """`module:Class`."""
    extra: str = ""
    """The pip extra that installs what it imports."""
    aliases: tuple[str, ...] = ()


BUILTIN = (
    Engine("llamacpp", "wattbench.backends.llamacpp:LlamaCppBackend", "llamacpp", ("llama_cpp", "llama.cpp")),
    Engine("hf", "wattbench.backends.hf:HfBackend", "hf", ("hf_local", "transformers", "pytorch")),
    Engine(
        "openai", "wattbench.backends.openai_compat:OpenAICompatBackend", "openai", ("openrouter", "vllm_endpoint")
    ),  # fmt: skip
    Engine("vllm", "wattbench.backends.vllm_server:VllmServerBackend", "vllm"),
    Engine("bedrock", "wattbench.backends.bedrock:BedrockBackend", "bedrock", ("aws_bedrock",)),
)


@cache
def engines() -> dict[str, Engine]:
    """The built-in engines and those other packages register (a built-in name cannot be taken over)."""
    table = {e.name: e for e in BUILTIN}
    for point in entry_points(group=ENTRY_POINT_GROUP):
        table.setdefault(point.name, Engine(point.name, point.value, point.dist.name if point.dist else ""))
    return table


def _aliases() -> dict[str, str]:
    return {alias: e.name for e in engines().values() for alias in e.aliases}


def resolve_backend(name: str) -> str:
    """The registry name of `name` (an alias or a name); an unknown one is an error with the near miss."""
    key = _aliases().get(name, name)
    if key not in engines():
        close = difflib.get_close_matches(key, [*engines(), *_aliases()], n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise WattbenchError(f"unknown backend '{name}' (known: {', '.join(engines())}){hint}")
    return key


def backend_class(name: str) -> type[Backend]:
    """The engine's class, imported now (its engine library is imported only when it is created)."""
    engine = engines()[resolve_backend(name)]
    module_name, _, class_name = engine.target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        install = f"pip install 'wattbench[{engine.extra}]'" if engine.name in {e.name for e in BUILTIN} else ""
        raise WattbenchError(
            f"backend '{engine.name}' needs {exc.name or 'an engine'}{': ' + install if install else ''}"
        ) from None
    return getattr(module, class_name)


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
