"""Numbered migrations: a stored file of an earlier schema version, brought up to today's before it is read.

Each kind of file (`Stored.KIND`) has its steps, `MIGRATIONS[kind][n]` taking a version-n object to version n+1,
so a file of any earlier version reads through the same typed model as one written today. A step works on the
JSON object alone (no other file, nothing of the machine), keeps every key it does not know, and never drops a
figure: what moves is written where today's release keeps it. Files are upgraded as they are read; a run dir is
rewritten in today's version only when a run resumes in it. tests/fixtures/store/ holds a file of each version.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from wattbench.errors import DataError

Step = Callable[[dict[str, Any]], dict[str, Any]]

ENGINE_KEYS = ("seed", "n_ctx", "n_threads", "flash_attn", "dtype", "api_key_env", "gpus", "tensor_parallel",
               "max_model_len", "server_args", "stream", "connect_timeout_s", "first_byte_timeout_s",
               "stall_timeout_s", "request_timeout_s", "max_attempts", "retry_after_cap_s")  # fmt: skip
"""The engine settings a batch config kept at its top level before version 2 (config/sections.EngineSettings)."""


def _run_summary_1_to_2(data: dict[str, Any]) -> dict[str, Any]:
    """Version 1 kept wattbench's resource figures in the seed's `hardware` keys (null when unmeasured), later
    beside them in `resources`, and the token totals twice. Version 2: `resources` always (null with its reason),
    `hardware` in the seed's view (0 for unmeasured), the totals once (`input_tokens`, `output_tokens`)."""
    from wattbench.store.compat import resources_of, seed_view

    out = dict(data)
    tokens = out.pop("tokens", None) or {}
    out.setdefault("input_tokens", tokens.get("input"))
    out.setdefault("output_tokens", tokens.get("output"))
    if "resources" not in out:
        out["resources"] = resources_of(out)
    return seed_view(out)


def _batch_summary_1_to_2(data: dict[str, Any]) -> dict[str, Any]:
    """Version 1 wrote a batch's engine settings at the top level of its `config`; version 2 in its
    `generation` section, the one a WattBot run has."""
    out = dict(data)
    config = dict(out.get("config") or {})
    generation = dict(config.get("generation") or {})
    for key in ENGINE_KEYS:
        if key in config:
            generation.setdefault(key, config.pop(key))
    if generation:
        config["generation"] = generation
    out["config"] = config
    return out


MIGRATIONS: dict[str, dict[int, Step]] = {
    "run_summary": {1: _run_summary_1_to_2},
    "batch_summary": {1: _batch_summary_1_to_2},
}
"""kind → {version n: the step from n to n+1}. A kind with no entry has had one version only."""


def upgrade(kind: str, data: dict[str, Any], version: int, where: str) -> dict[str, Any]:
    """`data`, of the version it says (1 when it says none), brought up to `version` step by step."""
    at = data.get("schema_version", 1)
    if not isinstance(at, int) or isinstance(at, bool) or at < 1:
        raise DataError(f"{where}: schema_version {at!r} is not a version number (1, 2, ...); fix or remove it")
    steps = MIGRATIONS.get(kind, {})
    while at < version:
        step = steps.get(at)
        if step is None:
            raise DataError(f"{where}: no migration from schema_version {at} of a {kind}; this wattbench reads "
                            f"{sorted(steps) or [version]} and later")  # fmt: skip
        data = {**step(data), "schema_version": at + 1}
        at += 1
    return data
