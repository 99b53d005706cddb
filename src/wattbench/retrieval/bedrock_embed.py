"""Amazon Titan Text Embeddings through Bedrock (`embedder = "bedrock"` or `"bedrock:<model id>"`, the seed's
`embedding_model = "bedrock"` with `bedrock_embedding_model`): one InvokeModel call per text, on a few threads,
retried as every Bedrock call is (aws.py). Titan V2 takes an output size (`embedding_dim`: 256, 512 or 1024)
and returns normalised vectors; V1 has a fixed 1536. The index records `bedrock:<model id>` and the size, so
switching either rebuilds it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from wattbench.aws import AwsAuthError, AwsRequestError, Connection, call, runtime_client
from wattbench.errors import ConfigError, WattbenchError

if TYPE_CHECKING:
    import numpy as np

PREFIX = "bedrock"
TITAN_V2 = "amazon.titan-embed-text-v2:0"
TITAN_V2_DIMS = (256, 512, 1024)
TITAN_V1_DIM = 1536
THREADS = 8
TIMEOUT_S = 30.0
ATTEMPTS = 4


def bedrock_model(embedder: str) -> str | None:
    """The Bedrock model id an `embedder` setting names ("bedrock" → Titan V2), or None for a local embedder."""
    if embedder == PREFIX:
        return TITAN_V2
    if embedder.startswith(PREFIX + ":"):
        return embedder[len(PREFIX) + 1 :] or TITAN_V2
    return None


def output_dim(model: str, requested: int | None) -> int:
    """The vector size the model will return, or a one-line error naming retrieval.embedding_dim."""
    if model.startswith("amazon.titan-embed-text-v2"):
        dim = requested or 1024
        if dim not in TITAN_V2_DIMS:
            raise ConfigError(f"retrieval.embedding_dim: {dim}; Titan Text Embeddings V2 gives 256, 512 or 1024")
        return dim
    if model.startswith("amazon.titan-embed-text-v1"):
        if requested not in (None, TITAN_V1_DIM):
            raise ConfigError(
                f"retrieval.embedding_dim: {requested}; Titan V1 has a fixed {TITAN_V1_DIM}; leave it out"
            )
        return TITAN_V1_DIM
    raise ConfigError(f"retrieval.embedder: '{PREFIX}:{model}'; the Bedrock embedder speaks Titan Text Embeddings "
                      f"(amazon.titan-embed-text-v1, {TITAN_V2})")  # fmt: skip


class TitanEmbedder:
    """The same interface as SentenceEmbedder (retrieval/embed.py), over Bedrock; the client opens on first use."""

    query_prefix = ""
    passage_prefix = ""

    def __init__(self, model: str, dim: int | None, connection: Connection) -> None:
        self.model = model
        self._dim = output_dim(model, dim)
        self.model_id = f"{PREFIX}:{model}"
        self.connection = connection
        self._client: Any = None

    @property
    def dim(self) -> int:
        return self._dim

    def _body(self, text: str) -> str:
        if self.model.startswith("amazon.titan-embed-text-v2"):
            return json.dumps({"inputText": text, "dimensions": self._dim, "normalize": True})
        return json.dumps({"inputText": text})

    def _one(self, text: str) -> list[float]:
        if self._client is None:
            self._client = runtime_client(self.connection, connect_timeout_s=10.0, read_timeout_s=TIMEOUT_S,
                                          pool=THREADS)  # fmt: skip

        def invoke() -> list[float]:
            reply = self._client.invoke_model(modelId=self.model, body=self._body(text),
                                              contentType="application/json", accept="application/json")  # fmt: skip
            return list(json.loads(reply["body"].read())["embedding"])

        try:
            return call(invoke, max_attempts=ATTEMPTS, backoff_s=1.0, read_timeout_s=TIMEOUT_S).value
        except (AwsAuthError, AwsRequestError) as exc:
            raise WattbenchError(f"Bedrock embedder {self.model}: {exc}") from None
        except (KeyError, ValueError, TypeError) as exc:
            raise WattbenchError(f"Bedrock embedder {self.model}: the reply holds no embedding ({exc})") from None

    def _encode(self, texts: Sequence[str], progress: Callable[[int], None] | None) -> np.ndarray:
        import numpy as np

        if not texts:
            return np.zeros((0, self._dim), dtype=np.float32)
        out = []
        with ThreadPoolExecutor(max_workers=THREADS) as pool:
            for vector in pool.map(self._one, texts):
                out.append(vector)
                if progress is not None:
                    progress(1)
        vectors = np.asarray(out, dtype=np.float32)
        if vectors.shape[1] != self._dim:
            raise WattbenchError(f"Bedrock embedder {self.model}: vectors of {vectors.shape[1]}, not {self._dim}")
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.where(norms > 0, norms, 1.0)  # V1 does not normalise; cosine search expects unit rows

    def embed_passages(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        return self._encode(list(texts), progress)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(list(texts), None)
