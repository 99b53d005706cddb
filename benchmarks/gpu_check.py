"""The GPU check (`make gpu-check`): wattbench's energy figures against a real GPU, on one GPU, in about 10 minutes,
with no downloads. Models are built in code with random weights (same time and energy per token as trained ones
of the same shape): one shaped like Qwen2.5-7B, one with Qwen2.5-0.5B's layers and a tokenizer trained here.

It records, into OUT/gpu_check.json and OUT/gpu_check.md:
1. idle power with a CUDA context held (mean and spread of the instantaneous readings);
2. 30 s of bf16 matmul: the energy counter against the integral of instantaneous and of averaged power;
3. hf generation at batch 1, 8 and 32 with 128 fixed output tokens: tokens/s, J per output token, peak VRAM;
4. `wattbench run --provider hf` on the small model, 10 questions (a random local embedder): GPU energy filled in;
5. `wattbench batch` with 2 rows of the small model on the hf backend: GPU energy filled in;
6. `wattbench load --provider hf` at batch 1, 8 and 32 on the Qwen2.5-7B-shaped model: steady-state J per output
   token beside the ML.ENERGY reference (benchmarks/gpu_load.py);
7. `wattbench batch --protocol aienergyscore` on a random-weight model in distilgpt2's shape, beside the board's
   figure for distilgpt2 (a plausibility check; benchmarks/gpu_protocol.py);
8. `wattbench batch --workload wattbot` on a random-weight model in Qwen3-0.6B's shape, Off and On, 10 questions:
   what the thinking costs per question, paired (benchmarks/gpu_reasoning.py).

    python benchmarks/gpu_check.py --data-dir data --out OUT [--quick]
`--quick` shrinks every step (a tiny model, 3 s windows, batch 1 and 2), so the whole flow can be checked on a
machine without a GPU, where the energy columns say why they are empty.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import gpu_models  # noqa: E402
from gpu_load import load_step  # noqa: E402
from gpu_load import markdown_lines as load_lines  # noqa: E402
from gpu_models import build_embedder, build_large_model, build_small_model  # noqa: E402
from gpu_protocol import markdown_lines, protocol_step  # noqa: E402
from gpu_reasoning import markdown_lines as reasoning_lines  # noqa: E402
from gpu_reasoning import reasoning_step  # noqa: E402
from wattbench.energy.hardware import system_facts  # noqa: E402
from wattbench.energy.meters import make_meter  # noqa: E402
from wattbench.energy.nvml import read_power_w  # noqa: E402

QWEN25_7B = dict(vocab_size=152064, hidden_size=3584, intermediate_size=18944, num_hidden_layers=28,
                 num_attention_heads=28, num_key_value_heads=4, max_position_embeddings=32768, rope_theta=1e6,
                 rms_norm_eps=1e-6, tie_word_embeddings=False)  # fmt: skip
"""Qwen2.5-7B's published architecture (config.json of Qwen/Qwen2.5-7B-Instruct)."""


def _cuda() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except ImportError:
        return False


class PowerPoller:
    """Reads instantaneous and averaged power side by side at a fixed rate and integrates both (trapezoid)."""

    def __init__(self, index: int = 0, hz: float = 20.0) -> None:
        from wattbench.energy.nvml import load_nvml

        self.nvml = load_nvml()
        self.handle = self.nvml.nvmlDeviceGetHandleByIndex(index)
        self.interval_s = 1.0 / hz
        self.samples: list[tuple[float, float, float]] = []  # (t, instant W, averaged W)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            instant, kind = read_power_w(self.nvml, self.handle)
            averaged = self.nvml.nvmlDeviceGetPowerUsage(self.handle) / 1000.0
            self.samples.append((time.monotonic(), instant if kind == "instant" else float("nan"), averaged))

    def __enter__(self) -> PowerPoller:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def integral_j(self, column: int) -> float:
        pairs = zip(self.samples, self.samples[1:])
        return sum((b[0] - a[0]) * (a[column] + b[column]) / 2 for a, b in pairs)


def idle_step(meter: Any, seconds: float) -> dict[str, Any]:
    """Idle power with a CUDA context held (as a run's baseline is taken after its model loads)."""
    import torch

    torch.zeros(1, device="cuda")
    torch.cuda.synchronize()
    with PowerPoller() as poller:
        idle = meter.measure_idle(seconds)
    instants = [s[1] for s in poller.samples if s[1] == s[1]]
    return {
        "seconds": idle.duration_s,
        "counter_power_w": idle.avg_power_w.get("gpu:0"),
        "instant_mean_w": statistics.fmean(instants) if instants else None,
        "instant_stdev_w": statistics.stdev(instants) if len(instants) > 1 else None,
        "averaged_mean_w": statistics.fmean(s[2] for s in poller.samples) if poller.samples else None,
    }


def matmul_step(meter: Any, seconds: float, size: int) -> dict[str, Any]:
    import torch

    a = torch.randn(size, size, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(size, size, device="cuda", dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    torch.cuda.synchronize()
    iterations = 0
    with PowerPoller() as poller, meter.window("matmul") as window:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for _ in range(10):
                a @ b
            torch.cuda.synchronize()
            iterations += 10
    result = window.result
    counter = result.energy_j.get("gpu:0")
    instant, averaged = poller.integral_j(1), poller.integral_j(2)
    return {
        "seconds": result.duration_s,
        "tflops": 2 * size**3 * iterations / result.duration_s / 1e12,
        "counter_j": counter,
        "method": result.method.get("gpu:0"),
        "instant_integral_j": instant if instant == instant else None,
        "averaged_integral_j": averaged,
        "counter_over_instant": counter / instant if counter and instant == instant and instant else None,
        "counter_over_averaged": counter / averaged if counter and averaged else None,
        "avg_power_w": result.avg_power_w.get("gpu:0"),
        "peak_power_w": result.peak_power_w.get("gpu:0"),
        "warnings": result.warnings,
    }


def generation_step(meter: Any, batches: list[int], new_tokens: int, prompt_tokens: int, quick: bool) -> list[dict]:
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    device = "cuda" if _cuda() else "cpu"
    shape = dict(gpu_models.TINY, vocab_size=1000) if quick else QWEN25_7B
    torch.manual_seed(0)
    with torch.device(device):
        model = Qwen2ForCausalLM(Qwen2Config(**shape)).to(torch.bfloat16).eval()
    params_b = sum(p.numel() for p in model.parameters()) / 1e9
    out = []
    for batch in batches:
        ids = torch.randint(10, shape["vocab_size"] - 10, (batch, prompt_tokens), device=device)
        mask = torch.ones_like(ids)
        with torch.inference_mode():  # warm-up: kernels and the allocator, outside the window
            model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=8, min_new_tokens=8, do_sample=False)
        if device == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        with meter.window(f"batch {batch}") as window, torch.inference_mode():
            generated = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=new_tokens,
                                       min_new_tokens=new_tokens, do_sample=False)  # fmt: skip
            if device == "cuda":
                torch.cuda.synchronize()
        tokens = (generated.shape[1] - prompt_tokens) * batch
        joules = window.result.energy_j.get("gpu:0")
        out.append({
            "model": "Qwen2.5-7B shape" if not quick else "tiny", "params_b": params_b, "batch": batch,
            "output_tokens": tokens, "seconds": window.result.duration_s,
            "tokens_per_s": tokens / window.result.duration_s, "gpu_j": joules,
            "j_per_output_token": joules / tokens if joules is not None else None,
            "peak_vram_gib": torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else None,
            "unavailable": window.result.unavailable,
        })  # fmt: skip
    del model
    if device == "cuda":
        torch.cuda.empty_cache()
    return out


def _wattbench(args: list[str], log: Path, timeout_s: float) -> int:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
           "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}  # fmt: skip
    with open(log, "w") as handle:
        return subprocess.call([sys.executable, "-m", "wattbench", *args], stdout=handle, stderr=subprocess.STDOUT,
                               env=env, timeout=timeout_s)  # fmt: skip


def run_step(model_dir: Path, data_dir: Path, work: Path, questions: int, idle_s: float) -> dict[str, Any]:
    """`wattbench run --provider hf` on the small model: does the run's summary hold GPU energy?"""
    embedder = build_embedder(work / "embedder", data_dir / "wattbot" / "corpus")
    config = work / "run.toml"
    config.write_text(
        f'name = "gpu-check-hf"\nprovider = "hf"\nmodel = "{model_dir}"\nlimit = {questions}\n'
        f'output_dir = "{work / "runs"}"\n[generation]\ndtype = "bf16"\nmax_tokens = 80\n'
        f'[retrieval]\nembedder = "{embedder}"\nindex_path = "{work / "index.sqlite"}"\n'
        f"[energy]\nidle_seconds = {idle_s}\n"
    )
    code = _wattbench(["run", "--config", str(config), "--data-dir", str(data_dir), "--quiet"], work / "run.log", 600)
    summary_path = work / "runs" / "gpu-check-hf" / "summary.json"
    if not summary_path.exists():
        return {"exit_code": code, "error": (work / "run.log").read_text()[-2000:]}
    summary = json.loads(summary_path.read_text())
    phases = summary["energy"]["phases"]
    questions_j = (phases.get("questions") or {}).get("energy_j", {})
    return {
        "exit_code": code,
        "status": summary["status"],
        "questions": summary["num_questions"],
        "gpu_energy_wh": summary["hardware"]["gpu_energy_wh"],
        "question_energy_j": questions_j,
        "wh_per_question": summary["energy"]["questions"].get("wh_per_question"),
        "output_tokens": summary["output_tokens"],
        "measured_devices": summary["backend"].get("measured_devices"),
        "unavailable": summary["energy"]["unavailable"],
        "vram_gb": summary["hardware"]["gpu_vram_allocated_gb"],
        "prefill_decode": (summary["energy"].get("prefill_decode") or {}).get("by_kind", {}).get("gpu"),
    }


def batch_step(model_dir: Path, work: Path, idle_s: float, quick: bool) -> dict[str, Any]:
    """`wattbench batch` with 2 rows of the small model on the hf backend: GPU energy in the master table?"""
    models = work / "models.csv"
    models.write_text(
        ",Models to Add,Priority (1=hi),Class,Task,Reasoning State,Chat Template\n"
        f"0,{model_dir},1,A,text_gen,Off (N/A),\n1,{model_dir},1,A,text_gen,On,\n",
        encoding="utf-8",
    )
    prompts = work / "prompts.jsonl"
    texts = ["What does a GPU spend energy on?", "Explain the carbon cost of training.", "What is a joule?"] * 3
    prompts.write_text("".join(json.dumps({"prompt": t}) + "\n" for t in texts), encoding="utf-8")
    out = work / "batch_results"
    args = ["batch", "--models-csv", str(models), "--prompts-file", str(prompts), "--backend", "hf",
            "--output-dir", str(out), "--max-new-tokens", "32" if quick else "128", "--warmup", "2",
            "--idle-seconds", str(idle_s), "--batch-size", "4"]  # fmt: skip
    code = _wattbench(args, work / "batch.log", 600)
    master = out / "master_results.csv"
    if not master.exists():
        return {"exit_code": code, "error": (work / "batch.log").read_text()[-2000:]}
    with open(master, encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    keep = ("model_name", "reasoning_state", "status", "successful_prompts", "gpu_energy_wh", "tokens_per_joule",
            "wh_per_1000_queries", "energy_method")  # fmt: skip
    return {"exit_code": code, "rows": [{k: row.get(k) for k in keep} for row in rows]}


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def markdown(report: dict[str, Any]) -> str:
    facts = report["machine"]
    gpu = (facts.get("gpus") or [{}])[0]
    lines = [f"Machine: {gpu.get('name', 'no GPU')}, driver {facts.get('driver_version')}, "
             f"{facts.get('cpu')}; {report['date']}; check took {report['took_s']:.0f} s.", ""]  # fmt: skip
    idle = report.get("idle") or {}
    lines += ["| idle (CUDA context held) | counter W | instant mean W | instant stdev W | averaged mean W |",
              "|---|---:|---:|---:|---:|",
              f"| {_fmt(idle.get('seconds'), 1)} s | {_fmt(idle.get('counter_power_w'), 1)} | "
              f"{_fmt(idle.get('instant_mean_w'), 1)} | {_fmt(idle.get('instant_stdev_w'), 1)} | "
              f"{_fmt(idle.get('averaged_mean_w'), 1)} |", ""]  # fmt: skip
    mm = report.get("matmul") or {}
    lines += ["| bf16 matmul | TFLOP/s | counter J | instant-power J | averaged-power J | counter/instant | "
              "counter/averaged |", "|---|---:|---:|---:|---:|---:|---:|",
              f"| {_fmt(mm.get('seconds'), 1)} s | {_fmt(mm.get('tflops'), 0)} | {_fmt(mm.get('counter_j'), 1)} | "
              f"{_fmt(mm.get('instant_integral_j'), 1)} | {_fmt(mm.get('averaged_integral_j'), 1)} | "
              f"{_fmt(mm.get('counter_over_instant'), 4)} | {_fmt(mm.get('counter_over_averaged'), 4)} |",
              ""]  # fmt: skip
    lines += ["| generation | batch | output tokens | tokens/s | J/output token | peak VRAM GiB |",
              "|---|---:|---:|---:|---:|---:|"]  # fmt: skip
    for g in report.get("generation") or []:
        lines.append(f"| {g['model']} ({g['params_b']:.2f} B) | {g['batch']} | {g['output_tokens']} | "
                     f"{_fmt(g['tokens_per_s'], 1)} | {_fmt(g['j_per_output_token'], 4)} | "
                     f"{_fmt(g['peak_vram_gib'], 1)} |")  # fmt: skip
    run = report.get("run") or {}
    lines += ["", "| `wattbench run --provider hf` | status | questions | GPU Wh | Wh/question | devices |",
              "|---|---|---:|---:|---:|---|",
              f"| small model | {run.get('status', run.get('error', 'n/a'))} | {_fmt(run.get('questions'))} | "
              f"{_fmt(run.get('gpu_energy_wh'), 4)} | {_fmt(run.get('wh_per_question'), 5)} | "
              f"{(run.get('measured_devices') or {}).get('gpus')} |", ""]  # fmt: skip
    split = run.get("prefill_decode") or {}
    lines += ["| prefill / decode (each question split at its first token) | questions | prefill J/input token | "
              "decode J/output token |", "|---|---:|---:|---:|",
              f"| small model, GPU | {_fmt(split.get('items'))} | {_fmt(split.get('prefill_j_per_input_token'), 5)} | "
              f"{_fmt(split.get('decode_j_per_output_token'), 4)} |", ""]  # fmt: skip
    lines += ["| `wattbench batch` row | status | prompts | GPU Wh | tokens/J | Wh/1000 queries | method |",
              "|---|---|---:|---:|---:|---:|---|"]  # fmt: skip
    for row in (report.get("batch") or {}).get("rows", []):
        lines.append(f"| {row['reasoning_state']} | {row['status']} | {row['successful_prompts']} | "
                     f"{row['gpu_energy_wh'] or 'n/a'} | {row['tokens_per_joule'] or 'n/a'} | "
                     f"{row['wh_per_1000_queries'] or 'n/a'} | {row['energy_method'] or 'n/a'} |")  # fmt: skip
    lines += load_lines(report.get("load") or {})
    lines += markdown_lines(report.get("protocol") or {})
    lines += reasoning_lines(report.get("reasoning") or {"rows": []})
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=ROOT / "data")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "gpu_check")
    parser.add_argument("--quick", action="store_true", help="Tiny sizes: check the flow on any machine.")
    args = parser.parse_args()
    started = time.monotonic()
    args.out.mkdir(parents=True, exist_ok=True)
    cuda = _cuda()
    if not cuda and not args.quick:
        print("gpu-check: no CUDA GPU visible here; run it on a GPU machine, or pass --quick to check the flow")
        return 2
    report: dict[str, Any] = {"date": time.strftime("%Y-%m-%d %H:%M"), "machine": system_facts(), "quick": args.quick}
    seconds = 3.0 if args.quick else 30.0
    if cuda:
        meter = make_meter("nvml", gpu_indices=[0], sampler_hz=20)
        meter.sampler.start(args.out / "power.csv")
        report["idle"] = idle_step(meter, 3.0 if args.quick else 10.0)
        print("idle:", report["idle"], flush=True)
        report["matmul"] = matmul_step(meter, seconds, 1024 if args.quick else 8192)
        print("matmul:", report["matmul"], flush=True)
    else:
        meter = make_meter("auto", sampler_hz=None)
    batches = [1, 2] if args.quick else [1, 8, 32]
    report["generation"] = generation_step(meter, batches, 16 if args.quick else 128, 32 if args.quick else 512,
                                           args.quick)  # fmt: skip
    print("generation:", report["generation"], flush=True)
    if meter.sampler is not None and meter.sampler.running:
        meter.sampler.stop()
    with tempfile.TemporaryDirectory(prefix="wattbench-gpu-check-") as tmp:
        work = Path(tmp)
        model_dir = build_small_model(work / "small-model", args.data_dir / "wattbot" / "corpus", args.quick)
        report["run"] = run_step(model_dir, args.data_dir, work, 2 if args.quick else 10, 0 if args.quick else 5)
        print("run:", report["run"], flush=True)
        report["reasoning"] = reasoning_step(_wattbench, model_dir, work / "embedder", args.data_dir, work, args.quick)
        print("reasoning:", report["reasoning"], flush=True)
        report["batch"] = batch_step(model_dir, work, 0 if args.quick else 5, args.quick)
        print("batch:", report["batch"], flush=True)
        large = build_large_model(work / "large-model", model_dir, gpu_models.TINY if args.quick else QWEN25_7B)
        report["load"] = load_step(_wattbench, large, work, args.quick)
        shutil.rmtree(large)  # 15 GB of weights: the disk is needed for what follows
        print("load:", report["load"], flush=True)
        report["protocol"] = protocol_step(_wattbench, args.data_dir / "wattbot" / "corpus", work, args.quick)
        print("protocol:", report["protocol"], flush=True)
    report["took_s"] = time.monotonic() - started
    (args.out / "gpu_check.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    (args.out / "gpu_check.md").write_text(markdown(report))
    print(markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
