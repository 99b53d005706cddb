"""The local slot scheduler: packing and freeing on fake GPU inventories, with real subprocesses that pass,
fail, and hang until their timeout."""

from __future__ import annotations

import os
import sys
from itertools import combinations
from pathlib import Path

import pytest

from wattbench.campaigns.jobs import Campaign, run_job
from wattbench.config import ExperimentConfig
from wattbench.data.model_sizes import load_sizes
from wattbench.executors.job import Job, Outcome
from wattbench.executors.local import LocalExecutor, SlotPool
from wattbench.executors.registry import ExecutorChoice


def _job(tmp_path, key: str, needs: int, seconds: float, code: int = 0, timeout_s: float = 30.0) -> Job:
    """A real subprocess that notes the GPUs it was given, sleeps, and exits with `code`."""
    seen = tmp_path / f"{key}.gpus"
    lived = tmp_path / f"{key}.lived"  # the process's own start and end: what overlapped, whatever the polling saw
    script = (f"import os, time, sys; t0 = time.time(); "
              f"open({str(seen)!r}, 'w').write(os.environ['CUDA_VISIBLE_DEVICES']); time.sleep({seconds}); "
              f"open({str(lived)!r}, 'w').write(f'{{t0}} {{time.time()}}'); sys.exit({code})")  # fmt: skip
    return Job(key, "test", [sys.executable, "-c", script], tmp_path / f"{key}.log", timeout_s, needs)


def _seen(tmp_path) -> dict[str, str]:
    return {p.stem: p.read_text() for p in tmp_path.glob("*.gpus")}


def _span(outcome: Outcome) -> tuple[float, float]:
    assert outcome.started_at is not None
    return outcome.started_at, outcome.started_at + outcome.duration_s


def _lived(tmp_path, name: str) -> tuple[float, float]:
    start, end = (tmp_path / f"{name}.lived").read_text().split()
    return float(start), float(end)


def _overlap(a: Outcome, b: Outcome, tmp_path=None) -> bool:
    """Whether two jobs ran at once: by the processes' own clocks where they wrote them (a loaded machine's
    polling notices an end late), else by the executor's spans."""
    if tmp_path is not None:
        (a0, a1), (b0, b1) = _lived(tmp_path, a.name or ""), _lived(tmp_path, b.name or "")
    else:
        (a0, a1), (b0, b1) = _span(a), _span(b)
    return a0 < b1 and b0 < a1


def _slots(outcome: Outcome) -> set[int]:
    return {int(s) for s in outcome.devices.split()[-1].split(",")} if outcome.devices else set()


def _run(jobs: list[Job], pool: SlotPool) -> dict[str, Outcome]:
    outcomes = LocalExecutor(ExecutorChoice("local"), print, pool=pool, poll_s=0.05).run(jobs, lambda o: None)
    assert len(outcomes) == len(jobs)
    return {o.name or "": o for o in outcomes}


def test_packing_never_shares_a_gpu_and_frees_slots_of_failed_and_timed_out_runs(tmp_path):
    jobs = [
        _job(tmp_path, "a", 2, 1.0),
        _job(tmp_path, "b", 2, 1.0, code=3),  # fails: its GPUs are freed all the same
        _job(tmp_path, "c", 1, 0.2),
        _job(tmp_path, "hang", 1, 60.0, timeout_s=1.5),
        _job(tmp_path, "d", 4, 0.2),
        _job(tmp_path, "huge", 5, 0.1),
    ]
    results = _run(jobs, SlotPool.of_gpus([0, 1, 2, 3]))
    seen = _seen(tmp_path)
    assert results["a"].status == "passed" and results["c"].status == "passed" and results["d"].status == "passed"
    assert results["b"].status == "failed" and results["b"].reason.startswith("exit 3")
    assert results["hang"].status == "timed_out" and 1.5 <= results["hang"].duration_s < 4
    with pytest.raises(ProcessLookupError):
        os.killpg(results["hang"].pid or 0, 0)
    assert results["huge"].status == "failed" and results["huge"].reason == "needs 5 GPUs; the pool has 4"
    assert "huge" not in seen and results["huge"].started_at is None
    assert sorted(_slots(results["a"]) | _slots(results["b"])) == [0, 1, 2, 3]  # a and b start together
    assert seen["a"] == "0,1" and seen["b"] == "2,3" and seen["d"] == "0,1,2,3"
    ran = [r for r in results.values() if r.started_at is not None]
    for x, y in combinations(ran, 2):
        if _overlap(x, y):
            assert not _slots(x) & _slots(y), (x, y)
    # d needs every GPU: it starts only after the timed-out run has given its GPU back.
    assert _span(results["d"])[0] >= _span(results["hang"])[1] - 0.05


def test_cpu_slots_run_two_at_a_time_with_no_gpu_visible(tmp_path):
    results = list(_run([_job(tmp_path, k, 1, 0.5) for k in "wxyz"], SlotPool.of_cpu(2)).values())
    assert [r.status for r in results] == ["passed"] * 4
    assert set(_seen(tmp_path).values()) == {""}  # CPU slots hide every GPU
    at_once = max(sum(_overlap(a, b, tmp_path) for b in results if b is not a) for a in results)
    assert at_once == 1  # never more than two running together


def _gpus(config: ExperimentConfig, per_gpu_gb: float | None) -> int:
    return run_job(config, Path("run.toml"), Campaign(sizes=load_sizes())).gpus_on(per_gpu_gb)


def test_gpus_a_run_needs_from_config_and_size():
    base = ExperimentConfig(provider="hf", model="Qwen/Qwen2.5-7B-Instruct")
    assert _gpus(base, 80.0) == 1
    big = base.model_copy(update={"model": "Qwen/Qwen2.5-72B-Instruct"})
    assert _gpus(big, 80.0) == 3  # 72.7B x 2 bytes x 1.2 + 1 GB = 175 GB
    assert _gpus(big, None) == 1  # GPU memory unknown (Ray): the count asked for
    assert _gpus(base.model_copy(update={"model": "no/such-model"}), 80.0) == 1
    tp = base.model_copy(update={"generation": base.generation.model_copy(update={"tensor_parallel": 4})})
    assert _gpus(tp, 80.0) == 4
    named = big.model_copy(update={"generation": big.generation.model_copy(update={"gpus": [2, 5]})})
    assert _gpus(named, 80.0) == 2  # the GPUs the config names
    assert _gpus(ExperimentConfig(provider="openai", model="gpt-4o"), 80.0) == 0
    assert SlotPool.of_cpu(2).need(run_job(big, Path("run.toml"), Campaign())) == 1  # CPU slots: one each


def test_benchmark_with_the_local_executor_on_two_cpu_slots(wattbot, tmp_path, capsys):
    """Two real SmolLM2 configs side by side on CPU slots; each run dir is complete and the log says where."""
    import json

    from fakes.workspace import make_workspace
    from wattbench.cli import main

    root = make_workspace(wattbot, tmp_path)
    configs = root / "configs"
    configs.mkdir()
    base = (root / "run.toml").read_text()
    for name in ("one", "two"):
        (configs / f"{name}.toml").write_text(f'name = "{name}"\n' + base)
    logs = root / "logs"
    args = ["benchmark", "--configs", str(configs), "--smoke-test", "--executor", "local", "--slots", "2"]
    assert main([*args, "--log-dir", str(logs), "--data-dir", str(root / "data")]) == 0
    captured = capsys.readouterr()
    assert "local: 2 CPU slot(s) (no GPU visible; each run sees no GPU)" in captured.err
    summary = json.loads((logs / "summary.json").read_text())
    assert summary["counts"]["passed"] == 2
    assert sorted(c["devices"] for c in summary["configs"]) == ["CPU slot 0", "CPU slot 1"]  # side by side
    for name in ("one", "two"):
        run = json.loads((root / "runs" / f"{name}-smoke" / "summary.json").read_text())
        assert run["complete"] and run["num_questions"] == 1
        threads = max(1, (os.cpu_count() or 1) // 2)  # each slot gets its share of the cores, no GPU
        assert (
            f"CUDA_VISIBLE_DEVICES= WATTBENCH_THREADS={threads} OMP_NUM_THREADS={threads} "
            in (logs / f"{name}-smoke.log").read_text()
        )
    assert main([*args, "--gpus", "0"]) == 2  # no GPU 0 on this machine: said, exit 2


def _smol_models_csv(path):
    import csv

    smol = "https://huggingface.co/HuggingFaceTB/SmolLM2-135M-Instruct"
    rows = [(smol, "Off"), (smol, "Off (N/A)"), ("https://huggingface.co/acme/missing", "Off")]
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["", "Models to Add", "Priority (1=hi)", "Class", "Task", "Reasoning State", "Chat Template"])
        writer.writerows([i, model, 1, "A", "text_gen", state, "N/A"] for i, (model, state) in enumerate(rows))
    return path


BATCH_ARGS = ["--num-prompts", "2", "--warmup", "0", "--max-new-tokens", "8", "--meter", "none", "--idle-seconds", "0"]


@pytest.mark.slow
def test_batch_with_the_local_executor_runs_models_side_by_side_into_one_master_table(tmp_path, capsys):
    import csv
    import json

    from wattbench.cli import main

    prompts = tmp_path / "p.jsonl"
    prompts.write_text("".join(json.dumps({"prompt": t}) + "\n" for t in ("Say hello.", "Name a colour.")))
    out = tmp_path / "batch_results"
    args = ["batch", "--models-csv", str(_smol_models_csv(tmp_path / "m.csv")), "--prompts-file", str(prompts),
            *BATCH_ARGS, "--output-dir", str(out), "--executor", "local", "--slots", "2"]  # fmt: skip
    assert main(args) == 1  # the missing model fails; the batch goes on
    captured = capsys.readouterr()
    assert "3 runs (1 failed), 0 already completed, 0 unsupported" in captured.out
    assert "on CPU slot 0" in captured.err and "on CPU slot 1" in captured.err
    with open(out / "master_results.csv", encoding="utf-8") as handle:
        rows = {(r["reasoning_state"], r["model_name"]): r for r in csv.DictReader(handle)}
    assert len(rows) == 3  # every child's row survived the others' writes
    smol = "HuggingFaceTB/SmolLM2-135M-Instruct"
    for state in ("Off", "Off (N/A)"):
        assert rows[(state, smol)]["status"] == "completed" and rows[(state, smol)]["total_completion_tokens"] == "16"
    assert rows[("Off", "acme/missing")]["status"] == "failed"
    assert len(list((out / "logs").glob("*.log"))) == 3
    assert main(args) == 1  # completed runs are skipped, the failed one is run again
    assert "2 already completed" in capsys.readouterr().out


@pytest.mark.slow
def test_a_batch_run_killed_at_its_timeout_gets_a_failed_row(tmp_path):
    from wattbench.campaigns.batch_parallel import run_batch_parallel
    from wattbench.config import BatchConfig, EnergyConfig
    from wattbench.data.models_csv import load_plan
    from wattbench.executors.registry import ExecutorChoice

    config = BatchConfig(output_dir=str(tmp_path / "out"), max_new_tokens=8, warmup_prompts=0,
                         energy=EnergyConfig(meter="none", idle_seconds=0))  # fmt: skip
    models = _smol_models_csv(tmp_path / "m.csv")
    specs = load_plan(models)[:1]
    # Starting Python and importing llama.cpp alone takes longer than half a second.
    outcome = run_batch_parallel(config, specs, ["Say hello."], models, ExecutorChoice("local", cpu_slots=1),
                                 timeout_s=0.5)  # fmt: skip
    [row] = outcome.rows
    assert row.status == "failed" and (row.error_message or "").startswith("timed_out: killed after")
    assert row.total_prompts == 1 and row.failed_prompts == 1
    master = (tmp_path / "out" / "master_results.csv").read_text()
    assert "timed_out: killed after" in master


@pytest.mark.slow
def test_ensembles_run_their_members_side_by_side(wattbot, tmp_path, capsys):
    """A same-model ensemble's seeds, and an ensemble of two configs, each member a run on its own CPU slot."""
    import json

    from fakes.workspace import make_workspace
    from wattbench.cli import main

    root = make_workspace(wattbot, tmp_path)
    common = ["--limit", "1", "--executor", "local", "--slots", "2", "--data-dir", str(root / "data"),
              "--solution", str(root / "questions.csv"), "--log-dir", str(root / "logs")]  # fmt: skip
    assert main(["ensemble", "--config", str(root / "run.toml"), "--num-runs", "2", "--name", "seeds", *common]) == 0
    err = capsys.readouterr().err
    assert "seeds-s0: passed on CPU slot" in err and "seeds-s1: passed on CPU slot" in err
    base = (root / "run.toml").read_text()
    for name in ("left", "right"):
        (root / f"{name}.toml").write_text(f'name = "{name}"\n' + base)
    configs = ["--config", str(root / "left.toml"), "--config", str(root / "right.toml")]
    assert main(["ensemble", *configs, "--name", "pair", *common]) == 0
    pair = json.loads((root / "runs" / "pair" / "summary.json").read_text())
    assert pair["kind"] == "ensemble" and pair["members"] == ["left", "right"] and pair["num_questions"] == 1
    for member in ("seeds-s0", "seeds-s1", "left", "right"):
        assert json.loads((root / "runs" / member / "summary.json").read_text())["complete"]
    assert main(["ensemble", *configs, "--name", "pair", "--num-runs", "3", *common]) == 2  # seeds are for one config


def test_runs_side_by_side_say_their_cpu_energy_is_shared(monkeypatch):
    from wattbench.energy.base import Measurement
    from wattbench.runs.outputs import shared_package_note

    both = Measurement("questions", 2.0, energy_j={"gpu:0": 100.0, "cpu:package-0": 40.0})
    monkeypatch.delenv("WATTBENCH_CONCURRENT_RUNS", raising=False)
    assert shared_package_note(both) == {}  # alone on the machine: nothing to say
    env = SlotPool.of_gpus([0, 1]).env_for([1])
    # The slot's GPU, which the run sees and which a managed server must start on (WATTBENCH_SLOT_GPUS).
    assert env == {"CUDA_VISIBLE_DEVICES": "1", "WATTBENCH_SLOT_GPUS": "1", "WATTBENCH_CONCURRENT_RUNS": "2"}
    monkeypatch.setenv("WATTBENCH_CONCURRENT_RUNS", env["WATTBENCH_CONCURRENT_RUNS"])
    note = shared_package_note(both)
    assert note["concurrent_runs"] == 2 and note["shared_scopes"] == ["cpu:package-0"]  # its own GPU is not shared
    assert shared_package_note(Measurement("questions", 2.0, energy_j={"gpu:0": 1.0})) == {"concurrent_runs": 2}


def test_a_timeout_of_zero_minutes_is_refused_by_every_command_that_takes_one(tmp_path, capsys):
    from wattbench.cli import main

    configs = tmp_path / "configs"
    configs.mkdir()
    (configs / "one.toml").write_text('name = "one"\n')
    for command in (["benchmark", "--configs", str(configs), "--log-dir", str(tmp_path / "logs")],
                    ["scaling", "--family", "smollm2", "--sizes", "0.135", "--configs", str(configs),
                     "--out", str(tmp_path / "scaling")]):  # fmt: skip
        assert main([*command, "--timeout-min", "0"]) == 2
        assert "--timeout-min: Input should be greater than 0" in capsys.readouterr().err
    assert not (tmp_path / "logs").exists()  # refused before anything ran
