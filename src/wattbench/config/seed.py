"""The seed project's Python configs, read with `ast` (never executed) into ExperimentConfig's dotted paths."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from wattbench.config.sections import TaskConfig
from wattbench.errors import ConfigError, WattbenchError

# The seed project's Python config keys → dotted paths of ExperimentConfig.
SEED_KEYS: dict[str, str] = {
    "llm_provider": "provider",
    "hf_model_id": "model",
    "model": "model",
    "model_id": "model",
    "hf_dtype": "generation.dtype",
    "hf_max_new_tokens": "generation.max_tokens",
    "max_new_tokens": "generation.max_tokens",
    "hf_temperature": "generation.temperature",
    "temperature": "generation.temperature",
    "max_concurrent": "generation.max_concurrent",
    "embedding_model_id": "retrieval.embedder",
    "top_k": "retrieval.fusion_depth",
    "top_k_final": "task.top_k",
    "planner_max_queries": "task.planner_max_queries",
    "max_retries": "task.max_blank_retries",
    "name": "name",
    "experiment_name": "name",
    "bedrock_model": "model",
    "bedrock_region": "bedrock.region",
    "bedrock_profile": "bedrock.profile",
}
SEED_EMBEDDING_KEYS = {"embedding_model", "bedrock_embedding_model", "embedding_dim"}
"""Read together (`_embedder`): only `embedding_model = "bedrock"` changes the embedder; any other value ("hf_local",
"jinav4") names a local model of the seed's own index, and wattbench's local default stands in for it."""


def read_seed_python_config(path: Path) -> tuple[dict[str, Any], list[str]]:
    """Module-level literal assignments of a seed-style .py config, parsed with ast (never executed)."""
    import ast

    try:
        tree = ast.parse(Path(path).read_text(encoding="utf-8"), filename=str(path))
    except SyntaxError as exc:
        raise ConfigError(f"{path}: line {exc.lineno}: not valid Python ({exc.msg})") from None
    nested: dict[str, Any] = {}
    warnings: list[str] = []
    embedding: dict[str, Any] = {}
    for node in tree.body:
        if not isinstance(node, ast.Assign) or len(node.targets) != 1 or not isinstance(node.targets[0], ast.Name):
            continue
        key = node.targets[0].id
        try:
            value = ast.literal_eval(node.value)
        except ValueError:
            warnings.append(f"{path}: line {node.lineno}: '{key}' is not a literal; ignored")
            continue
        if key in SEED_EMBEDDING_KEYS:
            embedding[key] = value
            continue
        target = SEED_KEYS.get(key)
        if target is None:
            warnings.append(f"{path}: line {node.lineno}: unknown setting '{key}'; ignored")
            continue
        if target == "provider":
            value = _engine(str(value))
        section, _, leaf = target.rpartition(".")
        (nested.setdefault(section, {}) if section else nested)[leaf] = value
    if "top_k" in nested.get("task", {}):
        # The seed's top_k_final counts passages in the prompt: passages mode, with room for every one of them.
        task = nested["task"]
        words = TaskConfig.model_fields["words_per_passage"].default
        task.update(context="passages", context_words=words * max(1, _int(task["top_k"])))
    nested.setdefault("retrieval", {}).update(_embedder(embedding))
    return nested, warnings


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 1  # not a number: the config's own validation reports it


def _embedder(seed: dict[str, Any]) -> dict[str, Any]:
    """`embedding_model = "bedrock"` (with `bedrock_embedding_model`, `embedding_dim`): Titan embeddings."""
    if seed.get("embedding_model") != "bedrock":
        return {}
    model = seed.get("bedrock_embedding_model")
    out: dict[str, Any] = {"embedder": f"bedrock:{model}" if model else "bedrock"}
    if seed.get("embedding_dim") is not None:
        out["embedding_dim"] = seed["embedding_dim"]
    return out


def _engine(provider: str) -> str:
    """The seed's `llm_provider` as an engine's registry name: the seed's names (hf_local, llama_cpp,
    openrouter, ...) are the engines' aliases; one no engine has is kept, and refused at load with the near miss."""
    from wattbench.backends.registry import resolve_backend

    try:
        return resolve_backend(provider)
    except WattbenchError:
        return provider
