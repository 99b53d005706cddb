"""Splitting one metered window over the items it served, and the per-item figures both workflows report.

A generate call is metered as a whole (the engine batches its prompts, so no meter can see one prompt alone).
Where the engine told each request's events (it streams), the in-flight rule shares it (energy/inflight.py);
otherwise, here, its energy is split over the prompts in proportion to the output tokens each generated:
decoding is where a call's time and energy go at these prompt lengths, one forward pass per output token, while
the prompt is read in one batched prefill pass. A prompt that generated nothing (a failure before any token) gets
no share. When no prompt of the call generated a token, the call is split equally. Shares always add up to the
window exactly.

The per-query figures are defined once here: energy of the answered items divided by their number, output
tokens per joule over the same items. The energy of failed items is reported beside them (`failed_energy_j`),
never hidden in, and never silently dropped from, the measured total. When a run's window is longer than its
generate calls (the writes between calls), `of_window` gives each item its share of the whole window, so that
answered and failed energy add up to what was measured.
"""

from __future__ import annotations

from dataclasses import dataclass

from wattbench.energy.base import Measurement
from wattbench.energy.carbon import J_PER_WH

WEIGHT = "output_tokens"
"""What a share is proportional to, as recorded in summaries."""


def split_j(total_j: float, weights: list[float]) -> list[float]:
    """`total_j` over items in proportion to `weights` (equal when every weight is 0); the shares sum to
    `total_j` exactly (the last item takes the rounding remainder)."""
    if not weights:
        return []
    if any(w < 0 for w in weights):
        raise ValueError(f"negative share weight in {weights}")
    weight_sum = sum(weights)
    if weight_sum <= 0:
        weights, weight_sum = [1.0] * len(weights), float(len(weights))
    shares = [total_j * w / weight_sum for w in weights]
    shares[-1] = total_j - sum(shares[:-1])
    return shares


def split_scopes(energy_j: dict[str, float], output_tokens: list[int | None]) -> list[dict[str, float]]:
    """Each scope of a window split over its items by output tokens (None counts as 0)."""
    weights = [float(t or 0) for t in output_tokens]
    per_item: list[dict[str, float]] = [{} for _ in weights]
    for scope, joules in energy_j.items():
        for item, share in zip(per_item, split_j(joules, weights)):
            item[scope] = share
    return per_item


@dataclass(frozen=True)
class PerQuery:
    """The figures of one scope over a set of items: answered items only, failed items' energy beside."""

    energy_j: float | None
    answered: int
    output_tokens: int
    failed_energy_j: float | None = None

    @property
    def wh_per_query(self) -> float | None:
        if self.energy_j is None or not self.answered:
            return None
        return self.energy_j / J_PER_WH / self.answered

    @property
    def wh_per_1000_queries(self) -> float | None:
        per = self.wh_per_query
        return None if per is None else 1000 * per

    @property
    def j_per_output_token(self) -> float | None:
        if self.energy_j is None or not self.output_tokens:
            return None
        return self.energy_j / self.output_tokens

    @property
    def output_tokens_per_j(self) -> float | None:
        if not self.energy_j or not self.output_tokens:
            return None
        return self.output_tokens / self.energy_j

    def to_dict(self) -> dict[str, float | int | str | None]:
        return {
            "energy_j": self.energy_j,
            "energy_wh": None if self.energy_j is None else self.energy_j / J_PER_WH,
            "answered": self.answered,
            "output_tokens": self.output_tokens,
            "failed_energy_j": self.failed_energy_j,
            "wh_per_query": self.wh_per_query,
            "wh_per_1000_queries": self.wh_per_1000_queries,
            "j_per_output_token": self.j_per_output_token,
            "output_tokens_per_j": self.output_tokens_per_j,
            "share_weight": WEIGHT,
        }


def per_query(shares_j: list[float | None], answered: list[bool], output_tokens: list[int | None]) -> PerQuery:
    """The per-query figures of one scope from each item's share: unknown (None) when any answered item's share
    is unknown, so a missing measurement never shrinks a sum."""
    ok = [(s, t) for s, a, t in zip(shares_j, answered, output_tokens) if a]
    failed = [s for s, a in zip(shares_j, answered) if not a]
    known = bool(ok) and all(s is not None for s, _ in ok)
    energy = sum(s for s, _ in ok if s is not None) if known else None
    failed_j = sum(s for s in failed if s is not None) if all(s is not None for s in failed) else None
    return PerQuery(energy, len(ok), sum(t or 0 for _, t in ok), failed_j if failed else 0.0)


def of_window(
    total_j: float | None, shares_j: list[float | None], answered: list[bool], output_tokens: list[int | None]
) -> PerQuery:
    """Per-query figures over a whole measured window (`total_j`) that holds several generate calls: the window
    is divided between answered and failed items in the proportion of their call shares (by item count where
    the shares are unknown or all zero)."""
    ok_tokens = sum(t or 0 for t, a in zip(output_tokens, answered) if a)
    n_ok = sum(answered)
    if total_j is None:
        return PerQuery(None, n_ok, ok_tokens, None)
    known = [s for s in shares_j if s is not None]
    if len(known) == len(shares_j) and sum(known) > 0:
        fraction = sum(s for s, a in zip(known, answered) if a) / sum(known)
    else:
        fraction = n_ok / len(answered) if answered else 0.0
    answered_j = total_j * fraction
    return PerQuery(answered_j if n_ok else None, n_ok, ok_tokens, total_j - answered_j)


def by_scope(
    windows: list[Measurement | None], answered: list[bool], output_tokens: list[int | None]
) -> dict[str, PerQuery]:
    """Per-query figures of each kind of scope (gpu, cpu, dram) over items measured one window each (WattBot
    questions), each kind on its own: never a sum across kinds."""
    kinds = sorted({kind for w in windows if w is not None for kind in w.totals_j()})
    return {
        kind: per_query([w.total_j(kind) if w is not None else None for w in windows], answered, output_tokens)
        for kind in kinds
    }


def headline_kind(devices: dict | None, measured: Measurement | None) -> str | None:
    """The scope a run's headline figures are on: GPU when its engine holds GPUs (as zeus and the AI Energy Score
    report), the CPU package for an engine on this machine's CPU, none for a model on another machine unless a
    meter agent there measures its GPUs (`--meter-url`)."""
    if devices is not None:
        if devices.get("metered_remotely"):
            return "gpu"
        if not devices.get("local", True):
            return None
        return "gpu" if devices.get("gpus") or devices.get("gpu_unknown") else "cpu"
    # Summaries written before devices were recorded: GPU if any GPU was measured.
    if measured is not None and measured.total_j("gpu") is not None:
        return "gpu"
    return "cpu" if measured is not None and measured.total_j("cpu") is not None else None


def complete_total_j(measured: Measurement | None, devices: dict | None) -> tuple[float | None, str | None]:
    """(every scope's energy added up, why there is none): a total exists only when every kind the run used (its
    GPUs, this machine's CPU package) was measured; otherwise a sum would silently be smaller."""
    if measured is None or not measured.energy_j:
        return None, "nothing was measured"
    used = ["cpu"] + (["gpu"] if devices is None or devices.get("gpus") or devices.get("gpu_unknown") else [])
    if devices is not None and not devices.get("local", True):
        if devices.get("metered_remotely"):
            return None, "the meter agent measures the GPUs of the model's host, not its CPU, so no total"
        return None, "the model runs on another machine"
    missing = [kind for kind in used if measured.total_j(kind) is None]
    if missing:
        return None, f"{' and '.join(missing)} energy not measured, so no total"
    return sum(measured.energy_j.values()), None
