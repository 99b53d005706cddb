"""The comparison side over one store: real SmolLM2 runs (a same-model ensemble over two seeds) next to run dirs
written in the documented schema; then the matrix, the audit, every plot and the HTML report in Chromium."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from fakes.store import write_run
from fakes.workspace import QUESTION_IDS, make_workspace
from wattbench.cli import main
from wattbench.report.question_stats import evidence_type

pytestmark = pytest.mark.slow
FIXTURE_RUNS = ("qwen7b-hf", "qwen1.5b-hf", "gpt4o-mini", "qwen7b-dup")
PLOTS = (
    "score_vs_size", "size_vs_latency", "size_vs_cost", "size_score_cost_bubble", "ranking", "cost_vs_score",
    "score_breakdown", "energy_per_run", "accuracy_vs_energy_pareto", "overall_intervals", "accuracy_by_evidence",
    "agreement_heatmap", "unique_wins", "refusal_rates",
)  # fmt: skip


@pytest.fixture(scope="module")
def store(wattbot: Path, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("store")
    runs = root / "runs"
    make_workspace(wattbot, root, runs)
    code = main(
        ["ensemble", "--config", str(root / "run.toml"), "--num-runs", "2", "--name", "smol-ens",
         "--data-dir", str(root / "data"), "--solution", str(root / "questions.csv")]
    )  # fmt: skip
    assert code == 0
    solution = wattbot / "train_QA.csv"
    write_run(runs, "qwen7b-hf", solution, correct=26, params=7_615_616_512, latency_s=2.0, gpu_wh_per_question=0.15)
    write_run(runs, "qwen7b-dup", solution, correct=26, params=7_615_616_512, latency_s=2.0, gpu_wh_per_question=0.15)
    write_run(
        runs, "qwen1.5b-hf", solution, correct=14, model="Qwen/Qwen2.5-1.5B-Instruct", latency_s=0.8,
        gpu_wh_per_question=0.04,
    )  # fmt: skip
    write_run(
        runs, "gpt4o-mini", solution, correct=30, provider="openai", model="gpt-4o-mini", price_per_1m=(0.15, 0.6),
        blank_after=36,
    )  # fmt: skip
    return root


def test_same_model_ensemble_runs_every_seed_and_scores_the_combination(store: Path):
    runs = store / "runs"
    for seed in (0, 1):
        summary = json.loads((runs / f"smol-ens-s{seed}" / "summary.json").read_text())
        assert summary["complete"] and summary["num_questions"] == len(QUESTION_IDS)
        assert summary["config"]["generation"]["seed"] == seed
        assert summary["config"]["generation"]["temperature"] == 0.7  # the config's 0 would make seeds agree
        assert summary["backend"]["num_parameters"] == 134_515_008  # read from the GGUF
    ensemble = json.loads((runs / "smol-ens" / "summary.json").read_text())
    assert ensemble["kind"] == "ensemble" and ensemble["members"] == ["smol-ens-s0", "smol-ens-s1"]
    assert ensemble["num_questions"] == len(QUESTION_IDS)
    assert ensemble["scores"]["kaggle"]["n_scored"] == len(QUESTION_IDS)  # over the run's questions, not all 41
    with open(runs / "smol-ens" / "submission.csv", encoding="utf-8") as handle:
        assert sorted(r["id"] for r in csv.DictReader(handle)) == sorted(QUESTION_IDS)


def test_matrix_and_audit_over_the_store(store: Path, wattbot: Path, capsys):
    runs, solution = store / "runs", wattbot / "train_QA.csv"
    out = store / "matrix.csv"
    args = ["--experiments-dir", str(runs), "--solution", str(solution)]
    assert main(["matrix", *args, "--output", str(out)]) == 0
    with open(out, encoding="utf-8") as handle:
        header = next(csv.reader(handle))
    names = {c.rsplit("_", 1)[0] for c in header[5:]}
    assert names == {"smol-ens", "smol-ens-s0", "smol-ens-s1", *FIXTURE_RUNS}
    capsys.readouterr()
    assert main(["audit", *args, "--json"]) == 0
    audits = {d["name"]: d for d in map(json.loads, capsys.readouterr().out.splitlines())}
    assert {f["code"] for f in audits["qwen7b-hf"]["flags"]} == {"duplicate"}
    assert {f["code"] for f in audits["qwen7b-dup"]["flags"]} == {"duplicate"}
    assert audits["qwen1.5b-hf"]["clean"] and audits["gpt4o-mini"]["clean"]
    for seed_run in ("smol-ens-s0", "smol-ens-s1"):  # two seeds of one model are not duplicates
        codes = {f["code"] for f in audits[seed_run]["flags"]}
        assert codes <= {"low_score"}, audits[seed_run]  # a 135M model may score low; nothing else may fire
    assert audits["smol-ens"]["notes"] == ["ensemble: token, latency, cost and energy checks do not apply"]


def test_every_plot_is_written(store: Path, wattbot: Path, capsys):
    out = store / "plots"
    args = ["plot", "--experiments-dir", str(store / "runs"), "--solution", str(wattbot / "train_QA.csv")]
    assert main([*args, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"{len(PLOTS)} plots ({2 * len(PLOTS)} files)" in printed
    assert "size unknown for gpt4o-mini" in printed  # API sizes are not published: said, not guessed
    for name in PLOTS:
        png, svg = out / f"{name}.png", out / f"{name}.svg"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000, name
        assert "<svg" in svg.read_text(encoding="utf-8")[:2000], name
    assert sorted(p.stem for p in out.glob("*.png")) == sorted(PLOTS)


def test_a_plot_with_nothing_to_draw_says_why(tmp_path: Path, wattbot: Path, capsys):
    write_run(tmp_path / "runs", "api-only", wattbot / "train_QA.csv", correct=20, provider="openai", model="x")
    args = ["plot", "--experiments-dir", str(tmp_path / "runs"), "--out", str(tmp_path / "p")]
    assert main([*args, "--solution", str(wattbot / "train_QA.csv")]) == 0
    printed = capsys.readouterr().out
    assert "energy_per_run.png  (no run has measured energy" in printed
    assert "score_vs_size.png  (no run has a known model size (add it to model_sizes.toml))" in printed
    assert (tmp_path / "p" / "energy_per_run.png").stat().st_size > 1000


def test_model_sizes_come_from_a_user_file(tmp_path: Path, wattbot: Path, capsys, monkeypatch):
    write_run(tmp_path / "runs", "mine", wattbot / "train_QA.csv", correct=20, model="acme/my-model-7b")
    monkeypatch.chdir(tmp_path)
    args = ["plot", "--experiments-dir", "runs", "--out", "p", "--solution", str(wattbot / "train_QA.csv")]
    assert main(args) == 0
    assert "score_vs_size.png  (no run has a known model size" in capsys.readouterr().out  # "7b": no guess
    (tmp_path / "model_sizes.toml").write_text('[models."acme/my-model-7b"]\nparams_b = 6.9\n')
    assert main(args) == 0
    assert "p/score_vs_size.png\n" in capsys.readouterr().out
    (tmp_path / "model_sizes.toml").write_text('[models."acme/my-model-7b"]\nparams = 6.9\n')
    assert main(args) == 2
    assert 'model_sizes.toml: [models."acme/my-model-7b"] needs params_b' in capsys.readouterr().err


def test_evidence_types():
    assert [evidence_type(e, {}) for e in ("Quote", "Table 3", "is_blank", "1438 lbs / 99.8 = 14.4", "")] == [
        "quote", "table", "unanswerable", "math", "unknown",
    ]  # fmt: skip
    assert evidence_type("Quote", {"Figure": "1"}) == "figure"  # the test file's columns win


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; .ci/run installs Debian's chromium before the tests")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium); CI installs it")
    return found


# Flags as the workplace's headless Chromium needs them: no sandbox as root, and no background traffic to hosts
# this machine cannot reach.
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
)  # fmt: skip


def _load_sweep(out: Path) -> Path:
    """A sweep as `wattbench load` writes it: two measured points and one without a steady window."""
    from wattbench.runs.load import LoadPoint, write_results

    def point(b: int, j: float | None, problem: str | None = None) -> LoadPoint:
        energy_j = None if j is None else j * 1e3
        return LoadPoint(batch_size=b, requests=64, completed=64, failed=0, window_s=10.0, window_output_tokens=1e3,
                         gpu_energy_j=energy_j, j_per_output_token=j, output_tokens_per_s=100.0 * b,
                         avg_gpu_power_w=None if j is None else j * 100, ttft_p50_s=0.05 * b, ttft_p90_s=0.06 * b,
                         ttft_p99_s=0.07 * b, tpot_p50_s=0.02, tpot_p90_s=0.03, tpot_p99_s=0.04,
                         energy_unavailable=None, problem=problem, first_error=None)  # fmt: skip

    points = [point(1, 0.25), point(8, 0.05), point(32, None, "the window never opened")]
    write_results(out, points, {"engine": "vllm", "model": "m", "requests": 64, "max_tokens": 128, "machine": {}})
    return out


def test_html_report_opens_in_chromium(store: Path, wattbot: Path, tmp_path: Path, capsys):
    chromium = _chromium()
    batch = tmp_path / "batch_results"
    from wattbench.store.batch_dir import BatchDir
    from wattbench.store.schema import MasterRow

    results = BatchDir(batch)
    for name, state, wh in (("Qwen/Qwen3-8B", "On", 3.2), ("Qwen/Qwen3-8B", "Off", 1.1), ("x/failed", "N/A", "")):
        results.upsert_master(MasterRow.from_cells(
            {"model_name": name, "model_class": "B", "task": "text_generation", "reasoning_state": state,
             "status": "completed" if wh else "failed", "wh_per_1000_queries": str(wh)}, "test"
        ))  # fmt: skip
    loads = _load_sweep(tmp_path / "load_results" / "h100-vllm")
    page = tmp_path / "report.html"
    args = ["report", "--experiments-dir", str(store / "runs"), "--solution", str(wattbot / "train_QA.csv")]
    assert main([*args, "--out", str(page), "--plots-dir", str(tmp_path / "plots"), "--batch-dir", str(batch),
                 "--load-dir", str(loads.parent)]) == 0  # fmt: skip
    printed = capsys.readouterr().out
    assert f"{page}: 7 runs (" in printed and f"{len(PLOTS)} plots, 3 batch rows" in printed
    profile = ["--user-data-dir=" + str(tmp_path / "profile"), "--virtual-time-budget=10000"]
    dom = subprocess.run(
        [chromium, *CHROMIUM_FLAGS, *profile, "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout  # fmt: skip
    runs_table = re.search(r'<table id="runs".*?</table>', dom, re.S)
    assert runs_table is not None
    assert runs_table.group(0).count("<tr") == 1 + 7  # header + every run
    # The SmolLM2 runs on 4 questions are ranked among themselves, not against the 41-question runs.
    assert runs_table.group(0).count('<tr class="other-set"') == 3
    for name in ("smol-ens", "qwen7b-hf", "gpt4o-mini"):
        assert f">{name}</td>" in runs_table.group(0)
    assert f'data-loaded="{len(PLOTS)}/{len(PLOTS)}"' in dom  # every embedded plot decoded in the browser
    assert 'id="energy-score"' in dom and "★★★★★" in dom and "not rated: x/failed" in dom
    load_table = re.search(r'<table id="load-0".*?</table>', dom, re.S)
    assert load_table is not None and load_table.group(0).count("<tr") == 1 + 3  # header + a row per batch size
    assert ">0.2500<" in load_table.group(0) and "B=32: the window never opened" in dom
    assert 'id="load" data-loaded="2/2"' in dom and "0.12 J per output token" in dom  # both figures decoded
    shot = tmp_path / "shot.png"
    subprocess.run(
        [chromium, *CHROMIUM_FLAGS, *profile, "--window-size=1400,1800", f"--screenshot={shot}", page.as_uri()],
        capture_output=True, timeout=120, check=True,
    )  # fmt: skip
    from matplotlib.image import imread

    pixels = imread(shot)
    assert pixels.shape[:2] == (1800, 1400) and pixels.std() > 0.05  # a page was drawn, not a blank frame
    wide = subprocess.run(
        [chromium, *CHROMIUM_FLAGS, *profile, "--window-size=1400,900", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout  # fmt: skip
    # At 1,400 px nothing sticks out of the page, and the runs table fits whole, audit column included.
    assert 'data-overflow="none"' in wide
    assert re.search(r'data-clipped="([^"]*)"', wide).group(1) in ("none", "batch"), wide[:300]


def test_names_with_dollar_signs_do_not_break_plots_or_the_report(tmp_path: Path, wattbot: Path, capsys):
    solution = wattbot / "train_QA.csv"
    runs = tmp_path / "runs"
    # Dir names copied in from elsewhere and model ids are not run names: matplotlib must not read them as TeX.
    write_run(runs, "cost$5$-run", solution, correct=20, model="org/$\\foo$-7B", gpu_wh_per_question=0.1,
              params=7_000_000_000)  # fmt: skip
    write_run(runs, "x$_1$", solution, correct=10, model="$unbalanced", gpu_wh_per_question=0.2,
              params=7_000_000_000)  # fmt: skip
    args = ["--experiments-dir", str(runs), "--solution", str(solution)]
    assert main(["plot", *args, "--out", str(tmp_path / "plots")]) == 0
    page = tmp_path / "report.html"
    assert main(["report", *args, "--out", str(page), "--plots-dir", str(tmp_path / "p2"),
                 "--batch-dir", str(tmp_path / "none")]) == 0  # fmt: skip
    text = page.read_text(encoding="utf-8")
    assert "cost$5$-run" in text and "x$_1$" in text
    assert "cost$5$-run" in (tmp_path / "plots" / "ranking.svg").read_text(encoding="utf-8")


def test_charts_with_nothing_meaningful_say_why(tmp_path: Path, wattbot: Path, capsys):
    solution = wattbot / "train_QA.csv"
    runs = tmp_path / "runs"
    # Two free local runs that get the same questions right: no cost to compare, no unique wins.
    write_run(runs, "local-a", solution, correct=20, params=7_000_000_000)
    write_run(runs, "local-b", solution, correct=20, params=7_000_000_000)
    one = tmp_path / "one_question.csv"
    one.write_text("".join(solution.read_text(encoding="utf-8").splitlines(keepends=True)[:2]), encoding="utf-8")
    write_run(runs, "smoke", one, correct=1, params=7_000_000_000)
    args = ["plot", "--experiments-dir", str(runs), "--solution", str(solution), "--out", str(tmp_path / "p")]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "cost_vs_score.png  (every run here cost 0 USD" in printed
    assert "unique_wins.png  (no question was answered right by exactly one run)" in printed
    # A 1-question smoke run has no interval and is ranked against nobody; the two 41-question runs tie.
    assert "ranking.png  (41 questions: local-a best; 1 of 1 other run(s) not detectably worse (local-b)" in printed
    assert "not ranked (fewer than 2 questions with stored scores): smoke" in printed


def test_the_pareto_front_draws_both_intervals_and_says_which_steps_are_real(tmp_path: Path, wattbot: Path):
    import numpy as np

    from fakes.store import read_solution
    from wattbench.report.plots.runs import plot_pareto
    from wattbench.report.runs import load_run

    solution = wattbot / "train_QA.csv"
    n = len(read_solution(solution))
    rng = np.random.default_rng(4)
    base = rng.lognormal(6.0, 0.5, n)
    # lean: cheapest; twin: one more question right for 2% more energy (inside the noise); rich: 26 more right for
    # three times the energy (both real).
    shapes = {"lean": (10, 1.0), "twin": (11, 1.02), "rich": (36, 3.0)}
    for name, (right, factor) in shapes.items():
        write_run(tmp_path / "runs", name, solution, correct=0, right=[i < right for i in range(n)],
                  gpu_wh_per_question=float((base * factor).mean() / 3600),
                  question_energy_j=list(base * factor * rng.lognormal(0, 0.05, n)))  # fmt: skip
    runs = [load_run(tmp_path / "runs" / name) for name in shapes]
    plot = plot_pareto(runs, tmp_path / "plots")
    assert plot.files and all(path.exists() for path in plot.files)
    assert "front: lean -> twin: not distinguishable in score; twin -> rich: distinguishable" in (plot.note or "")
