"""A stand-in for EnergyStarAI/text_generation with the same schema: one parquet, one `text` column.

Prompts are long English-like passages (about 360 words, near the official ~369 tokens per prompt), made from a
fixed word list so every build is byte-identical and its sha256 can be asserted.
"""

from __future__ import annotations

import random
from pathlib import Path

WORDS = (
    "energy grid model power data centre cooling water carbon training inference token query watt hour study "
    "paper measure efficiency hardware accelerator memory bandwidth latency throughput research emission "
    "renewable electricity demand forecast region chip server rack network storage batch sequence context"
).split()


def passage(index: int, words: int = 360) -> str:
    rng = random.Random(index)
    body = " ".join(rng.choice(WORDS) for _ in range(words))
    return f"Passage {index + 1}. {body.capitalize()}."


def write_dataset(path: Path, rows: int, *, column: str = "text", words: int = 360) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.table({column: [passage(i, words) for i in range(rows)], "source": ["synthetic"] * rows})
    pq.write_table(table, path)
    return path
