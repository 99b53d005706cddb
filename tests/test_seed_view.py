"""summary.json as the seed's scripts read it: KohakuRAG_UI's audit formats `estimated_cost_usd` with `:.4f`,
its size plots compare `hardware.gpu_energy_wh > 0`, and both stop on a null. The seed's keys hold numbers (0 for
what was not measured or priced, the seed's own convention); wattbench's own fields keep null with the reason."""

from __future__ import annotations

import json
from pathlib import Path

from fakes.servers import ScriptedServer
from fakes.workspace import make_workspace
from wattbench.cli import main


def _seed_lines(s: dict) -> list[str]:
    """What the seed's audit and plotting scripts do with a summary (the same key reads and formats)."""
    lines = [
        f"{s.get('name')!s:<23s} {s.get('model_id', '?')!s:<45s} {s.get('overall_score', 0):>5.3f} "
        f"{s.get('value_accuracy', 0):>5.3f} {s.get('ref_overlap', 0):>5.3f} {s.get('avg_latency_seconds', 0):>7.2f}s "
        f"{s.get('input_tokens', 0):>8,} {s.get('output_tokens', 0):>7,} ${s.get('estimated_cost_usd', 0):>6.4f} "
        f"{s.get('error_count', 0):>4d}",
        str(s.get("overall_score", 0) < 0.15),
        str(s.get("estimated_cost_usd", 0) > 0),
        str(s["hardware"]["gpu_energy_wh"] > 0),
        f"{s.get('na_accuracy', 0):.3f}",
    ]
    if s.get("num_questions", 0) > 0:
        lines.append(str(s.get("error_count", 0) / s["num_questions"] > 0.1))
    return lines


def test_a_cpu_run_with_an_unknown_price_reads_in_the_seeds_scripts(wattbot: Path, tmp_path: Path):
    root = make_workspace(wattbot, tmp_path)
    config = (root / "run.toml").read_text().replace("[retrieval]", 'provider = "openai"\nmodel = "m"\n[retrieval]')
    (root / "api.toml").write_text(config + "[generation]\nstream = false\n")
    server = ScriptedServer([])
    try:
        assert main(["run", "--config", str(root / "api.toml"), "--data-dir", str(root / "data"), "--name", "api",
                     "--base-url", server.url, "--quiet"]) == 0  # fmt: skip
    finally:
        server.close()
    summary = json.loads((root / "runs" / "api" / "summary.json").read_text())
    assert _seed_lines(summary)  # no TypeError on any of them
    assert summary["estimated_cost_usd"] == 0.0 and summary["hardware"]["gpu_energy_wh"] == 0.0
    assert isinstance(summary["error_count"], int)
    # wattbench's own fields still say "unknown", with the reason.
    assert summary["cost"]["usd"] is None
    assert summary["energy"]["questions_by_scope"]["gpu"]["energy_j"] is None
    assert "gpu" in summary["energy"]["unavailable"]
    # wattbench's own reports read its fields, not the seed's zeros.
    from wattbench.report.runs import load_runs

    runs, _ = load_runs(root / "runs", {})
    (run,) = runs
    assert run.cost_usd is None and run.energy_wh is None


def test_an_unscored_run_is_zero_for_the_seed_and_null_for_us(wattbot: Path, tmp_path: Path):
    import csv

    root = make_workspace(wattbot, tmp_path)
    with open(root / "questions.csv", encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    with open(root / "test.csv", "w", encoding="utf-8", newline="") as handle:  # a test file: no answers
        writer = csv.DictWriter(handle, fieldnames=["id", "question"])
        writer.writeheader()
        writer.writerows({"id": r["id"], "question": r["question"]} for r in rows)
    config = (root / "run.toml").read_text().replace("[retrieval]", 'provider = "openai"\nmodel = "m"\n[retrieval]')
    (root / "api.toml").write_text(config + "[generation]\nstream = false\n")
    server = ScriptedServer([])
    try:
        assert main(["run", "--config", str(root / "api.toml"), "--data-dir", str(root / "data"), "--name", "t",
                     "--questions", str(root / "test.csv"), "--base-url", server.url, "--quiet"]) == 0  # fmt: skip
    finally:
        server.close()
    summary = json.loads((root / "runs" / "t" / "summary.json").read_text())
    assert _seed_lines(summary)
    assert summary["overall_score"] == 0.0 and not summary["scores"]
