"""Token timing of one completion: time to first token (TTFT), time per output token after the first (TPOT) and
the inter-token latencies (ITL), from the moments an engine delivered its output.

Definitions follow vLLM's serving benchmark and MLPerf inference: TTFT runs from the request's send to its first
output; TPOT = (time of the last output - TTFT) / (output tokens - 1), with the token count from the engine's own
usage; ITL are the gaps between consecutive deliveries. A server may deliver several tokens in one chunk, so ITL
are gaps between chunks, while TPOT divides by tokens and stays right either way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass
class TokenTimes:
    """The offsets (seconds from the request's start) at which output arrived, in order."""

    offsets_s: list[float] = field(default_factory=list)

    def mark(self, offset_s: float) -> None:
        self.offsets_s.append(offset_s)

    @property
    def ttft_s(self) -> float | None:
        return self.offsets_s[0] if self.offsets_s else None

    def tpot_s(self, output_tokens: int | None) -> float | None:
        """Mean time per output token after the first; None with fewer than two tokens or deliveries."""
        tokens = output_tokens if output_tokens is not None else len(self.offsets_s)
        if tokens < 2 or len(self.offsets_s) < 2:
            return None
        return (self.offsets_s[-1] - self.offsets_s[0]) / (tokens - 1)

    @property
    def itl_s(self) -> list[float]:
        return [b - a for a, b in zip(self.offsets_s, self.offsets_s[1:])]


def percentile(values: list[float], q: float) -> float | None:
    """The q-th percentile (0-100) with linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def spread(values: list[float], prefix: str) -> dict[str, float | None]:
    """{prefix_p50_s, prefix_p90_s, prefix_p99_s} of the values (None when there are none)."""
    return {f"{prefix}_p{q}_s": percentile(values, q) for q in (50, 90, 99)}
