"""The typed energy parts of the store: a meter window (a question's, a phase's, a batch row's) and a run's energy
section. Keys are the ones energy/ writes (Measurement.to_dict, PerQuery.to_dict, phase_figures); each figure is
keyed by scope ("gpu:0", "cpu:0", "dram:0") or by kind ("gpu", "cpu", "dram", "all").

A window is written back with exactly the keys it was read with: a key energy/ leaves out when it is empty
(`tokens`, `phases`) stays out, so reading and rewriting a run dir changes nothing but what a migration changes.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, SerializerFunctionWrapHandler, model_serializer

from wattbench.store.sections import Section


class AsGiven(Section):
    """A section dumped with the keys it was given (declared or not), none that only a default filled in."""

    @model_serializer(mode="wrap")
    def _as_given(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        given = self.model_fields_set | set(self.model_extra or {})
        return {key: value for key, value in data.items() if key in given}


class MeterWindow(AsGiven):
    """One meter window (energy/base.Measurement): a question, a load, an idle baseline, a batch row's prompts."""

    label: str = ""
    """What the window covered: questions, model_load, idle, a question's id..."""
    duration_s: float | None = None
    energy_j: dict[str, float | None] = Field(default_factory=dict)
    """Per scope; a scope that was not read is absent (its reason in `unavailable`)."""
    energy_j_by_kind: dict[str, float | None] = Field(default_factory=dict)
    """Per kind (scopes summed); None for a kind that was not measured."""
    avg_power_w: dict[str, float | None] = Field(default_factory=dict)
    peak_power_w: dict[str, float | None] = Field(default_factory=dict)
    idle_power_w: dict[str, float | None] = Field(default_factory=dict)
    """The idle baseline's power per scope, where one was taken."""
    energy_net_of_idle_j: dict[str, float | None] = Field(default_factory=dict)
    method: dict[str, str] = Field(default_factory=dict)
    """How each scope was read (counter, sampled power, ...; energy/)."""
    unavailable: dict[str, str] = Field(default_factory=dict)
    """Per kind or scope, why it was not measured."""
    warnings: list[str] = Field(default_factory=list)
    sessions: int = 1
    """Windows summed into this one (a resumed run's sessions)."""
    power_reading: dict[str, str] = Field(default_factory=dict)
    """Which NVML power field each sampled scope read."""
    power_stdev_w: dict[str, float | None] = Field(default_factory=dict)
    tokens: dict[str, int | None] = Field(default_factory=dict)
    """input/output tokens of a split window (written only when known)."""
    phases: dict[str, MeterWindow] = Field(default_factory=dict)
    """prefill and decode, for a question's window split at its first token (written only when split)."""
    shared_gpu: list[dict[str, Any]] = Field(default_factory=list)
    """Processes other than the run's seen on a measured GPU during the window: scope, pid, name, used_memory_mib
    (energy/gpu_processes.py); their energy is in the figure. Written only when one was seen."""


class QueryFigures(AsGiven):
    """Per-query figures of one scope kind over a run's answered questions (energy/shares.PerQuery)."""

    energy_j: float | None = None
    """The answered questions' energy; None when any answered question's was unknown."""
    energy_wh: float | None = None
    answered: int | None = None
    output_tokens: int | None = None
    failed_energy_j: float | None = None
    """Energy spent on questions that failed, kept out of the per-query figures."""
    wh_per_query: float | None = None
    wh_per_1000_queries: float | None = None
    j_per_output_token: float | None = None
    output_tokens_per_j: float | None = None
    share_weight: str | None = None
    """How a shared window's energy was split between its items (output_tokens)."""
    scope: str | None = None


class RunEnergy(AsGiven):
    """A WattBot run's energy, one scope kind at a time (runs/outputs.py)."""

    scope: str | None = None
    """The headline kind: gpu for a GPU engine, cpu for a local CPU engine, None for an API model."""
    phases: dict[str, MeterWindow | None] = Field(default_factory=dict)
    """index_load, model_load, questions (and idle), over every session."""
    total_j: float | None = None
    """Every phase and kind, only when every kind the run used was measured."""
    total_unavailable: str | None = None
    """Why there is no total."""
    by_kind_wh: dict[str, float | None] = Field(default_factory=dict)
    unavailable: dict[str, str] = Field(default_factory=dict)
    questions: QueryFigures = Field(default_factory=QueryFigures)
    """The headline kind's per-query figures."""
    questions_by_scope: dict[str, QueryFigures] = Field(default_factory=dict)
    """Each kind's per-query figures."""
    prefill_decode: dict[str, Any] = Field(default_factory=dict)
    """split_items, unsplit_items, and per kind the prefill/decode energy and J per token (energy/phases.py)."""
    co2e_g: float | None = None
    """The headline kind's energy times the grid intensity."""
    co2e_scope: str | None = None
    grid_intensity_g_per_kwh: float | None = None
    concurrent_runs: int | None = None
    """Runs that shared this machine's CPU package (local executor); cpu/dram then include theirs."""
    warnings: list[str] = Field(default_factory=list)
    """Every distinct warning of the run's meter windows (each question's, each phase's), with where it was raised:
    a counter reset, a window estimated from power (energy/warning_list.py)."""
    warnings_count: int = 0
    """How many distinct warnings there were (the list stops at 100)."""
    shared_gpu: list[dict[str, Any]] = Field(default_factory=list)
    """Every process other than the run's seen on its GPUs during a measured window (each once): the run's GPU
    energy includes theirs. Empty: none seen."""
