"""Measurement protocols of `wattbench batch`, by name.

A protocol fixes what a batch row measures: prompts, answer lengths, warm-up, what makes a figure comparable.
- `wattbench` (the default): fixed-length answers (256 new tokens, up to 4,096 when reasoning) on any prompt set,
  for per-token comparisons between models on your own hardware.
- `aienergyscore`: the official AI Energy Score text-generation method, exactly, so a figure can stand beside the
  published board (protocols/aienergyscore.py says what that is and where each choice comes from).
This module is a leaf of the config package: it imports nothing of wattbench's but the protocol modules and the
registry.
"""

from __future__ import annotations

from wattbench.protocols.base import Protocol
from wattbench.registry import Entry, Registry

DEFAULT = "wattbench"
PROTOCOLS = Registry("protocol", [
    Entry("wattbench", "wattbench.protocols.base:PROTOCOL"),
    Entry("aienergyscore", "wattbench.protocols.aienergyscore:PROTOCOL"),
], group="wattbench.protocols")  # fmt: skip


def names() -> tuple[str, ...]:
    return PROTOCOLS.names()


def get_protocol(name: str) -> Protocol:
    """The protocol called `name`; an unknown name is UnknownName (a ValueError too) naming the known ones."""
    protocol: Protocol = PROTOCOLS.load(name)
    return protocol


__all__ = ["DEFAULT", "PROTOCOLS", "Protocol", "get_protocol", "names"]
