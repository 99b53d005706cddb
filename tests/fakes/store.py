"""Run dirs written in the documented schema (DESIGN.md, "Run directory"), as another machine would copy them in.

Scores are computed by the real scorer from the submission written, so a fixture run is internally consistent
unless a test breaks it on purpose with `overrides` (dotted keys into summary.json).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from wattbench.data.wattbot import QUESTION_COLUMNS
from wattbench.scoring.wattbot import MODES, score_files


def read_solution(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def _set(tree: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    for part in parents:
        tree = tree.setdefault(part, {})
    tree[leaf] = value


def write_run(
    root: Path,
    name: str,
    solution: Path,
    *,
    correct: int,
    provider: str = "hf",
    model: str = "Qwen/Qwen2.5-7B-Instruct",
    blank_after: int | None = None,
    latency_s: float = 1.0,
    tokens: tuple[int, int] = (500, 40),
    price_per_1m: tuple[float, float] = (0.0, 0.0),
    gpu_wh_per_question: float | None = None,
    energy_scope: str = "gpu",
    params: int | None = None,
    errors: int = 0,
    overrides: dict[str, Any] | None = None,
    right: list[bool] | None = None,
    question_energy_j: list[float] | None = None,
    question_latency_s: list[float] | None = None,
) -> Path:
    """A complete run over every solution question: the first `correct` answered right, the rest wrong (or
    is_blank from `blank_after` on); `errors` of the wrong ones recorded as failed. `right` says question by
    question instead; `question_energy_j` gives each question's energy window on `energy_scope` (scope 0), and
    `question_latency_s` each one's latency."""
    rows = read_solution(solution)
    if right is not None:
        order = sorted(range(len(rows)), key=lambda i: not right[i])
        rows, correct = [rows[i] for i in order], sum(right)
        question_energy_j = None if question_energy_j is None else [question_energy_j[i] for i in order]
        question_latency_s = None if question_latency_s is None else [question_latency_s[i] for i in order]
    run = root / name
    run.mkdir(parents=True, exist_ok=True)
    submission, records = [], []
    for i, q in enumerate(rows):
        blank = blank_after is not None and i >= blank_after and i >= correct
        value = q["answer_value"] if i < correct else ("is_blank" if blank else "999999")
        ref = q["ref_id"] if i < correct else ("is_blank" if blank else "['nobody2020']")
        failed = i >= len(rows) - errors
        row = {c: "" for c in QUESTION_COLUMNS} | {
            "id": q["id"], "question": q["question"], "answer": value, "answer_value": value,
            "answer_unit": q["answer_unit"] if i < correct else "is_blank", "ref_id": ref, "explanation": "fixture",
        }  # fmt: skip
        submission.append(row)
        records.append(
            {
                "id": q["id"],
                "pred_value": value,
                "pred_ref": ref,
                "gt_value": q["answer_value"],
                "latency_s": latency_s if question_latency_s is None else question_latency_s[i],
                **(
                    {}
                    if question_energy_j is None
                    else {
                        "energy": {
                            "label": q["id"],
                            "duration_s": 1.0,
                            "energy_j": {f"{energy_scope}:0": question_energy_j[i]},
                            "method": {f"{energy_scope}:0": "counter"},
                        }
                    }
                ),
                "prompt_tokens": tokens[0],
                "completion_tokens": 0 if failed else tokens[1],
                "error": "server closed the connection" if failed else None,
                "submission": row,
            }
        )
    with open(run / "submission.csv", "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(QUESTION_COLUMNS))
        writer.writeheader()
        writer.writerows(submission)
    reports = {mode: score_files(solution, run / "submission.csv", mode) for mode in MODES}
    # Each question's kaggle scores, as a run stores them when it scores the question (tasks/wattbot_question.py).
    by_id = {r.id: r for r in reports["kaggle"].rows}
    for record in records:
        scored = by_id[record["id"]]
        record.update(value_correct=scored.value_correct, ref_score=scored.ref_score, na_correct=scored.na_correct,
                      weighted_score=scored.weighted)  # fmt: skip
    (run / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    scores = {mode: report.to_dict() for mode, report in reports.items()}
    n = len(rows)
    tokens_in, tokens_out = sum(r["prompt_tokens"] for r in records), sum(r["completion_tokens"] for r in records)
    cost = (tokens_in * price_per_1m[0] + tokens_out * price_per_1m[1]) / 1e6
    energy_wh = None if gpu_wh_per_question is None else gpu_wh_per_question * n
    wall_s = latency_s * n + 5.0
    summary: dict[str, Any] = {
        "schema_version": 1,
        "name": name,
        "model_id": model,
        "llm_provider": provider,
        "num_questions": n,
        "num_answered": n - errors,
        "num_errors": errors,
        "complete": True,
        "overall_score": scores["kaggle"]["overall"],
        "scores": scores,
        "timing": {"total_time_s": wall_s, "latency_s": {"mean": latency_s, "p50": latency_s, "max": latency_s}},
        "tokens": {"input": tokens_in, "output": tokens_out},
        "cost": {"usd": cost, "price_input_per_1m": price_per_1m[0], "price_output_per_1m": price_per_1m[1]},
        "hardware": {
            "gpu_name": "NVIDIA H100 80GB HBM3" if gpu_wh_per_question is not None else None,
            "gpu_count": 1 if gpu_wh_per_question is not None else 0,
            "gpu_vram_allocated_gb": 16.0 if gpu_wh_per_question is not None else None,
            "model_disk_size_gb": None if params is None else params * 2 / 1e9,
            "gpu_avg_power_watts": None if energy_wh is None else energy_wh * 3600 / (latency_s * n),
        },
        "energy": {
            "phases": {"questions": {"label": "questions", "duration_s": latency_s * n, "warnings": []}},
            "total_j": None if energy_wh is None else energy_wh * 3600,
            "scope": energy_scope if energy_wh is not None or question_energy_j is not None else None,
            "questions": {"energy_wh": energy_wh, "wh_per_query": gpu_wh_per_question},
            "questions_by_scope": {energy_scope: {"energy_wh": energy_wh, "wh_per_query": gpu_wh_per_question}}
            if energy_wh is not None
            else {},
            "unavailable": {} if energy_wh is not None else {"gpu": "no GPU"},
        },
        "backend": {"model_id": model, "devices": ["cuda:0"] if gpu_wh_per_question is not None else ["cpu"]}
        | ({"num_parameters": params} if params else {}),
        "sessions": [{"started_at": "2026-11-20T10:00:00+00:00", "wall_s": wall_s, "questions": n}],
        "config": {"name": name, "provider": provider, "model": model, "generation": {"temperature": 0.0}},
    }
    for dotted, value in (overrides or {}).items():
        _set(summary, dotted, value)
    (run / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return run
