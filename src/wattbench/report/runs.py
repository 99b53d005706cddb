"""The runs of a store, read once for the audit, the plots and the HTML report.

A run is a dir under the experiments dir with a summary.json (a `wattbench run`, an ensemble, or a dir copied in
from another machine in the documented schema). Figures a run did not record are None, never 0, so a plot or a
table can say "not measured" instead of drawing a zero.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from wattbench.backends.registry import engine_fact, ran_here
from wattbench.data.model_sizes import ModelSize, params_b_of
from wattbench.errors import DataError
from wattbench.store.rundir import RunDir
from wattbench.store.schema import RunSummary


def _get(tree: dict[str, Any], dotted: str) -> Any:
    node: Any = tree
    for part in dotted.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _is_own_network(url: str | None) -> bool:
    host = urlparse(url or "").hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback or ipaddress.ip_address(host).is_private
    except ValueError:
        return False


@dataclass
class RunInfo:
    name: str
    path: Path
    summary: dict[str, Any]
    records: list[dict[str, Any]] = field(default_factory=list)
    params_b: float | None = None

    def get(self, dotted: str) -> Any:
        return _get(self.summary, dotted)

    @property
    def kind(self) -> str:
        return str(self.summary.get("kind") or "experiment")

    @property
    def provider(self) -> str:
        return str(self.summary.get("llm_provider") or self.get("config.provider") or "unknown")

    @property
    def model(self) -> str:
        return str(self.summary.get("model_id") or self.get("config.model") or self.get("backend.model_id") or "?")

    @property
    def deployment(self) -> str:
        """local (runs on hardware the user measures), api (someone else's), or ensemble."""
        if self.kind == "ensemble":
            return "ensemble"
        runs_here = self.get("backend.takes_slot")
        if runs_here is True or (runs_here is None and ran_here(self.provider)):
            return "local"
        # An OpenAI-compatible server on this machine or the user's network is a local model behind HTTP.
        return "local" if _is_own_network(self.get("config.generation.base_url")) else "api"

    @property
    def overall(self) -> float | None:
        return _num(self.get("scores.kaggle.overall"))

    def score(self, part: str) -> float | None:
        """overall, value_accuracy, ref_overlap or na_term (kaggle mode)."""
        return _num(self.get(f"scores.kaggle.{part}"))

    @property
    def latency_s(self) -> float | None:
        return _num(self.get("timing.latency_s.mean")) or _num(self.summary.get("avg_latency_seconds"))

    @property
    def cost_usd(self) -> float | None:
        return _num(self.get("cost.usd"))

    @property
    def usd_per_1000_questions(self) -> float | None:
        """Cost normalised by questions, so runs over different question sets compare."""
        return None if self.cost_usd is None or not self.num_questions else self.cost_usd / self.num_questions * 1000

    @property
    def num_questions(self) -> int:
        return int(self.summary.get("num_questions") or len(self.records))

    @property
    def energy_wh(self) -> float | None:
        return _num(self.get("energy.questions.energy_wh"))

    @property
    def wh_per_question(self) -> float | None:
        """Energy per answered question on the run's headline scope (`energy_scope`)."""
        return _num(self.get("energy.questions.wh_per_query"))

    @property
    def energy_scope(self) -> str | None:
        """The kind of scope the run's headline energy is on (gpu, cpu), None when none was measured. Summaries of
        earlier releases added every scope measured: they say "all"."""
        scope = self.get("energy.scope")
        if scope is not None or self.get("energy.questions_by_scope") is not None:
            return str(scope) if scope else None
        return "all" if self.wh_per_question is not None else None

    def wh_per_question_on(self, kind: str) -> float | None:
        """Energy per answered question on one kind of scope, for comparing runs on a scope they all have."""
        value = _num(self.get(f"energy.questions_by_scope.{kind}.wh_per_query"))
        if value is None and self.energy_scope == kind:
            return self.wh_per_question
        return value

    @property
    def avg_power_w(self) -> float | None:
        return self._resource("gpu_avg_power_w")

    @property
    def vram_gb(self) -> float | None:
        return self._resource("gpu_vram_allocated_gb")

    @property
    def disk_gb(self) -> float | None:
        return self._resource("model_disk_size_gb")

    def _resource(self, own: str) -> float | None:
        """wattbench's own figure, null when unmeasured (never the seed's 0 in `hardware`); a run dir written
        before `resources` existed has it from its migration (store/migrations.py)."""
        return _num(self.get(f"resources.{own}"))

    @property
    def uses_gpu(self) -> bool:
        measured = self.get("backend.measured_devices")
        if isinstance(measured, dict):  # what the engine said it holds (energy/devices.py); unnamed GPUs of a
            return bool(measured.get("gpus"))  # server here are not known to exist, so not audited as missing
        if not self.get("hardware.gpu_count"):
            return False
        if engine_fact(self.provider, lambda engine: engine.gpu_only, False):  # its devices are bare indices
            return True
        devices = self.get("backend.devices") or []
        return any("cuda" in str(d) or "gpu" in str(d) for d in (devices if isinstance(devices, list) else [devices]))


def load_run(path: Path, sizes: dict[str, ModelSize] | None = None) -> RunInfo:
    # Read through the typed summary: a file of an earlier release gets today's fields, a bad one one line.
    summary = RunSummary.read(Path(path) / "summary.json").dump()
    run = RunInfo(Path(path).name, Path(path), summary, list(RunDir(Path(path)).read_results().values()))
    if run.kind != "ensemble":
        run.params_b = params_b_of(run.get("config.model") or run.model, run.get("backend"), sizes or {})
    return run


def load_runs(experiments_dir: Path, sizes: dict[str, ModelSize] | None = None) -> tuple[list[RunInfo], list[str]]:
    """Every run dir under `experiments_dir` (sorted by name) and one warning per dir that could not be read."""
    runs, warnings = [], []
    for summary in sorted(Path(experiments_dir).glob("*/summary.json")):
        try:
            runs.append(load_run(summary.parent, sizes))
        except DataError as exc:
            warnings.append(str(exc))
    return runs, warnings


def common_energy_scope(runs: list[RunInfo]) -> tuple[str | None, list[RunInfo], list[RunInfo]]:
    """(the scope most runs measured, preferring gpu; the runs compared on it; the runs left out): energy is
    compared across runs only on one kind of scope, never GPU against CPU."""
    counts: dict[str, int] = {}
    for run in runs:
        for kind in ("gpu", "cpu", "all"):
            if run.wh_per_question_on(kind) is not None:
                counts[kind] = counts.get(kind, 0) + 1
    if not counts:
        return None, [], list(runs)
    scope = max(counts, key=lambda kind: (counts[kind], kind == "gpu"))
    kept = [r for r in runs if r.wh_per_question_on(scope) is not None]
    return scope, kept, [r for r in runs if r not in kept]


def question_energy_by_kind(records: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Each answered question's energy (J) from its stored window, per kind of scope (gpu, cpu, dram): what
    paired comparisons of energy read (report/compare.py, report/standings.py)."""
    from wattbench.energy.base import Measurement

    out: dict[str, dict[str, float]] = {}
    for record in records:
        if record.get("error") or not record.get("energy"):
            continue
        window = Measurement.from_dict(record["energy"])
        for kind in window.totals_j():
            value = window.total_j(kind)
            if value is not None and value > 0:
                out.setdefault(kind, {})[str(record["id"])] = float(value)
    return out
