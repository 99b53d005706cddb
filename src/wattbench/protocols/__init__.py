"""Measurement protocols of `wattbench batch`, by name.

A protocol fixes what a batch row measures: prompts, answer lengths, warm-up, what makes a figure comparable.
- `wattbench` (the default): fixed-length answers (256 new tokens, up to 4,096 when reasoning) on any prompt set,
  for per-token comparisons between models on your own hardware.
- `aienergyscore`: the official AI Energy Score text-generation method, exactly, so a figure can stand beside the
  published board (protocols/aienergyscore.py says what that is and where each choice comes from).
This module is a leaf of the config package: it imports nothing of wattbench's but the protocol modules.
"""

from __future__ import annotations

from typing import Any

from wattbench.protocols.base import Protocol

DEFAULT = "wattbench"
_MODULES = {"wattbench": "wattbench.protocols.base", "aienergyscore": "wattbench.protocols.aienergyscore"}


def names() -> tuple[str, ...]:
    return tuple(_MODULES)


def get_protocol(name: str) -> Protocol:
    """The protocol called `name`; an unknown name is a ValueError naming the known ones."""
    import importlib

    if name not in _MODULES:
        raise ValueError(f"unknown protocol '{name}'; choose one of: {', '.join(_MODULES)}")
    module: Any = importlib.import_module(_MODULES[name])
    protocol: Protocol = module.PROTOCOL
    return protocol


__all__ = ["DEFAULT", "Protocol", "get_protocol", "names"]
