"""The seed project's Python configs, read with `ast` (never executed) into ExperimentConfig's dotted paths."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from wattbench.errors import ConfigError

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
}
SEED_PROVIDERS = {
    "hf_local": "hf",
    "llama_cpp": "llamacpp",
    "openrouter": "openai",
    "vllm": "vllm",
    "bedrock": "bedrock",
}
SEED_IGNORED = {"embedding_model"}  # "hf_local": where the embedder runs, which wattbench always does locally


def read_seed_python_config(path: Path) -> tuple[dict[str, Any], list[str]]:
    """Module-level literal assignments of a seed-style .py config, parsed with ast (never executed)."""
    import ast

    try:
        tree = ast.parse(Path(path).read_text(encoding="utf-8"), filename=str(path))
    except SyntaxError as exc:
        raise ConfigError(f"{path}: line {exc.lineno}: not valid Python ({exc.msg})") from None
    nested: dict[str, Any] = {}
    warnings: list[str] = []
    for node in tree.body:
        if not isinstance(node, ast.Assign) or len(node.targets) != 1 or not isinstance(node.targets[0], ast.Name):
            continue
        key = node.targets[0].id
        try:
            value = ast.literal_eval(node.value)
        except ValueError:
            warnings.append(f"{path}: line {node.lineno}: '{key}' is not a literal; ignored")
            continue
        if key in SEED_IGNORED:
            continue
        target = SEED_KEYS.get(key)
        if target is None:
            warnings.append(f"{path}: line {node.lineno}: unknown setting '{key}'; ignored")
            continue
        if target == "provider":
            value = SEED_PROVIDERS.get(str(value), value)
        section, _, leaf = target.rpartition(".")
        (nested.setdefault(section, {}) if section else nested)[leaf] = value
    return nested, warnings
