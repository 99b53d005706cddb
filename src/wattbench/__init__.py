"""wattbench: what an LLM answer costs and how good it is."""

from __future__ import annotations

__version__ = "0.1.0"
