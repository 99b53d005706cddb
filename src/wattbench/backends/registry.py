"""Backends by name, imported only when used, with a clear message when an engine is not installed."""

from __future__ import annotations

import difflib
import importlib
from typing import Any

from wattbench.backends.base import Backend
from wattbench.errors import WattbenchError

# name → (module, class, pip extra)
BACKENDS: dict[str, tuple[str, str, str]] = {
    "llamacpp": ("wattbench.backends.llamacpp", "LlamaCppBackend", "llamacpp"),
    "hf": ("wattbench.backends.hf", "HfBackend", "hf"),
    "openai": ("wattbench.backends.openai_compat", "OpenAICompatBackend", "openai"),
    "vllm": ("wattbench.backends.vllm_server", "VllmServerBackend", "vllm"),
}
ALIASES = {
    "llama_cpp": "llamacpp",
    "llama.cpp": "llamacpp",
    "hf_local": "hf",
    "transformers": "hf",
    "pytorch": "hf",
    "openrouter": "openai",
    "vllm_endpoint": "openai",
}


NEEDS_MODEL = frozenset({"hf", "vllm", "openai"})
"""Engines with no default model: a run without `model` cannot start."""


def resolve_backend(name: str) -> str:
    """The registry name of `name` (an alias or a name); an unknown one is an error with the near miss."""
    key = ALIASES.get(name, name)
    if key not in BACKENDS:
        close = difflib.get_close_matches(key, [*BACKENDS, *ALIASES], n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise WattbenchError(f"unknown backend '{name}' (known: {', '.join(BACKENDS)}){hint}")
    return key


def create_backend(name: str, **options: Any) -> Backend:
    key = resolve_backend(name)
    module_name, class_name, extra = BACKENDS[key]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise WattbenchError(
            f"backend '{key}' needs {exc.name or 'an engine'}: pip install 'wattbench[{extra}]'"
        ) from None
    return getattr(module, class_name)(**options)
