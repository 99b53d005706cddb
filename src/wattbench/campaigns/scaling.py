"""`wattbench scaling`: one model family by size, smallest first, one subprocess per size.

The family and its sizes come from model_sizes.toml (packaged, extended by the user's file). A size runs from
the config in the configs folder that names its model; a size with no config of its own gets a copy of the
family's config with the model swapped, so adding a size is a line in model_sizes.toml, not a new file. Each
size is a separate `wattbench run` process: when it exits, its GPU memory is free for the next size. A size
whose weights would not fit the free memory is skipped, with the figures that say so.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from wattbench.backends.registry import HUB_ENGINE, takes_slot
from wattbench.campaigns.benchmark import CONFIG_SUFFIXES
from wattbench.campaigns.jobs import Campaign, run_configs, write_config
from wattbench.config import ConfigError, ExperimentConfig
from wattbench.data.model_sizes import ModelSize, family_members, need_gb
from wattbench.executors.job import Outcome
from wattbench.report.runs import load_run
from wattbench.report.standings import record_rows
from wattbench.runs.checks import load_run_config
from wattbench.scoring.intervals import score_intervals
from wattbench.stats.bootstrap import Bootstrap
from wattbench.store.paths import run_dir_path
from wattbench.store.rundir import RunDir, write_atomically

COMPARISON_COLUMNS = (
    "family", "size", "model", "params_b", "run", "status", "reason", "overall", "value_accuracy", "ref_overlap",
    "na_term", "latency_s", "vram_gb", "disk_gb", "energy_wh", "wh_per_question", "avg_power_w", "need_gb",
    "overall_score", "vram_allocated_gb", "overall_ci95_low", "overall_ci95_high", "vs_previous", "vs_previous_n",
    "vs_previous_diff", "vs_previous_ci95_low", "vs_previous_ci95_high", "vs_previous_p", "vs_previous_p_adjusted",
    "vs_previous_verdict",
)  # fmt: skip
"""`overall_score` and `vram_allocated_gb` repeat `overall` and `vram_gb` under the names the seed's
run_qwen_scaling.py wrote, so notebooks that read its scaling_comparison.csv keep working. The interval of
`overall` and the paired comparison with the previous (smaller) size that has a run follow: does this size
score detectably better, on the questions both answered (Holm over the family's steps)?"""


@dataclass
class SizeStep:
    size: str
    model: str
    params_b: float
    run: str | None = None
    config_source: str = ""
    status: str = "run"
    """run, exists (a complete run is reused), skip, or after running: passed, failed, timed_out."""
    reason: str = ""
    need_gb: float | None = None
    config: ExperimentConfig | None = None


def _configs_by_model(configs_dir: Path, provider: str | None) -> dict[str, tuple[Path, ExperimentConfig]]:
    found: dict[str, tuple[Path, ExperimentConfig]] = {}
    for path in sorted(p for p in Path(configs_dir).glob("*") if p.suffix in CONFIG_SUFFIXES):
        try:
            config, _ = load_run_config(path)
        except ConfigError:
            continue  # `wattbench benchmark` reports broken configs; here they simply do not match
        if config.model and provider in (None, config.provider):
            found.setdefault(config.model.lower(), (path, config))
    return found


def plan_scaling(
    family: str,
    sizes: list[str] | None,
    table: dict[str, ModelSize],
    configs_dir: Path,
    *,
    skip_existing: bool = False,
    provider: str | None = None,
    free_memory: Callable[[], tuple[float | None, str]] = lambda: (None, "unknown"),
) -> list[SizeStep]:
    members = family_members(family, table)
    if not Path(configs_dir).is_dir():
        raise ConfigError(f"--configs {configs_dir}: no such folder of run configs")
    if not members:
        known = sorted({s.family for s in table.values() if s.family})
        raise ConfigError(f"--family {family}: not in model_sizes.toml (known: {', '.join(known)}); add it there")
    by_size = {m.size or f"{m.params_b:g}": m for m in members}
    # Smallest first whatever order they were asked in: a small size that fails says so before a big one waits.
    wanted = sorted(sizes or list(by_size), key=lambda s: by_size[s].params_b if s in by_size else float("inf"))
    configs = _configs_by_model(configs_dir, provider)
    template = next((configs[m.model.lower()] for m in members if m.model.lower() in configs), None)
    free_gb, where = free_memory()
    steps: list[SizeStep] = []
    for size in wanted:
        member = by_size.get(size)
        if member is None:
            steps.append(SizeStep(size, "", 0.0, status="skip", reason=f"no {family} model of size {size} in "
                                  f"model_sizes.toml (sizes: {', '.join(by_size)})"))  # fmt: skip
            continue
        step = SizeStep(member.size or size, member.model, member.params_b)
        if member.model.lower() in configs:
            path, config = configs[member.model.lower()]
            step.config_source = str(path)
        elif template is not None:
            path, base = template
            name = f"{base.provider}-{family}-{step.size}b"
            config = base.model_copy(update={"model": member.model, "name": name})
            step.config_source = f"derived from {path}"
        else:
            engine = provider or HUB_ENGINE
            config = ExperimentConfig(name=f"{engine}-{family}-{step.size}b", provider=engine, model=member.model)
            step.config_source = f"derived from the defaults (provider {engine})"
        step.config, step.run = config, config.name
        steps.append(step)
        summary = RunDir(run_dir_path(config.output_dir, config.name, f"scaling run name for {family}")).read_summary()
        if skip_existing and summary and summary.complete:
            step.status, step.reason = "exists", "complete run reused (--skip-existing)"
            continue
        if not takes_slot(config.provider):  # the weights live on someone else's GPUs
            continue
        step.need_gb = need_gb(member.params_b, config.generation.dtype)
        if free_gb is not None and step.need_gb > free_gb:
            step.status = "skip"
            step.reason = f"needs ~{step.need_gb:.1f} GB, {free_gb:.1f} GB free on {where}"
    return steps


def run_scaling(
    steps: list[SizeStep], campaign: Campaign, notify: Callable[[SizeStep], None] = lambda step: None
) -> list[SizeStep]:
    """Run the steps marked `run`, each in its own process: smallest first inline, packed onto free GPUs by
    their size with the local executor, as Ray tasks with ray."""
    to_run, by_name = [], {}
    for step in steps:
        if step.status != "run" or step.config is None:
            notify(step)
            continue
        to_run.append((write_config(step.config, campaign.log_dir / "configs"), step.config))
        by_name[step.config.name] = step

    def finished(outcome: Outcome) -> None:
        step = by_name[outcome.name or ""]
        step.status, step.reason = outcome.status, outcome.reason
        notify(step)

    run_configs(to_run, campaign, finished)
    return steps


def comparison_rows(family: str, steps: list[SizeStep]) -> list[dict[str, object]]:
    rows = []
    scored: list[tuple[dict[str, object], str, dict]] = []
    for step in steps:
        row: dict[str, object] = {k: v for k, v in asdict(step).items() if k in COMPARISON_COLUMNS}
        row["family"] = family
        if step.config is not None and (Path(step.config.output_dir) / step.config.name / "summary.json").exists():
            run = load_run(Path(step.config.output_dir) / step.config.name)
            row |= {
                "overall": run.overall, "value_accuracy": run.score("value_accuracy"),
                "ref_overlap": run.score("ref_overlap"), "na_term": run.score("na_term"), "latency_s": run.latency_s,
                "vram_gb": run.vram_gb, "disk_gb": run.disk_gb, "energy_wh": run.energy_wh,
                "wh_per_question": run.wh_per_question, "avg_power_w": run.avg_power_w,
                "overall_score": run.overall, "vram_allocated_gb": run.vram_gb,
            }  # fmt: skip
            # From the per-question scores the run stored (a run of an earlier release has no interval in its
            # summary), else the summary's own.
            per_question = {r.id: r for r in record_rows(run.records)}
            stored = (run.get("scores.kaggle.ci95") or {}).get("overall")
            interval = score_intervals(list(per_question.values()), "kaggle", Bootstrap())["overall"] or stored
            if interval:
                row["overall_ci95_low"], row["overall_ci95_high"] = interval[0], interval[1]
            if len(per_question) >= 2:
                scored.append((row, run.name, per_question))
        rows.append(row)
    _against_previous(scored)
    return rows


def _against_previous(scored: list[tuple[dict[str, object], str, dict]]) -> None:
    """Each size's row gets its paired comparison with the previous size that has per-question scores."""
    from wattbench.report.compare import paired_figures, verdict
    from wattbench.stats.paired import holm

    spec = Bootstrap()
    pairs = []
    for (_, before, rows_before), (row, name, rows) in zip(scored, scored[1:]):
        if sum(1 for q in rows if q in rows_before) >= 2:
            pairs.append((row, name, before, paired_figures(name, rows, before, rows_before, "kaggle", spec)))
    for (row, name, before, found), adjusted in zip(pairs, holm([p[3]["p_value"] for p in pairs])):
        row |= {
            "vs_previous": before, "vs_previous_n": found["n"], "vs_previous_diff": found["diff"],
            "vs_previous_ci95_low": found["ci95"][0], "vs_previous_ci95_high": found["ci95"][1],
            "vs_previous_p": found["p_value"], "vs_previous_p_adjusted": adjusted,
            "vs_previous_verdict": verdict(name, before, found["diff"], adjusted, 1 - spec.level),
        }  # fmt: skip


def write_comparison(out_dir: Path, family: str, steps: list[SizeStep]) -> tuple[Path, Path]:
    rows = comparison_rows(family, steps)
    out_dir.mkdir(parents=True, exist_ok=True)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(COMPARISON_COLUMNS), lineterminator="\n")
    writer.writeheader()
    writer.writerows({c: "" if row.get(c) is None else row.get(c) for c in COMPARISON_COLUMNS} for row in rows)
    csv_path, json_path = out_dir / "scaling_comparison.csv", out_dir / "scaling_comparison.json"
    write_atomically(csv_path, buffer.getvalue())
    write_atomically(json_path, json.dumps({"family": family, "sizes": rows}, indent=2, default=str) + "\n")
    return csv_path, json_path
