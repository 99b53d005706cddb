"""Batched generation on a GPU: a Qwen2.5-7B-shaped model with random weights (config only, no download).

For batch sizes 1, 8 and 32 it generates a fixed number of tokens per sequence (min = max new tokens) and
prints tokens/s, joules per output token (NVML counter over exactly that window) and peak VRAM. Random
weights cost the same time and energy per token as trained ones of the same shape.
Run on a GPU machine: python benchmarks/run_gpu.py [--new-tokens 128] [--prompt-tokens 512]
"""

from __future__ import annotations

import argparse
import time

from wattbench.energy.hardware import system_facts
from wattbench.energy.meters import make_meter

# Qwen2.5-7B's published architecture (config.json of Qwen/Qwen2.5-7B-Instruct).
QWEN25_7B = dict(
    vocab_size=152064,
    hidden_size=3584,
    intermediate_size=18944,
    num_hidden_layers=28,
    num_attention_heads=28,
    num_key_value_heads=4,
    max_position_embeddings=32768,
    rope_theta=1e6,
    rms_norm_eps=1e-6,
    tie_word_embeddings=False,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--new-tokens", type=int, default=128)
    parser.add_argument("--prompt-tokens", type=int, default=512)
    parser.add_argument("--batches", default="1,8,32")
    args = parser.parse_args()
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    facts = system_facts()
    print(f"gpu: {facts['gpus'][0]['name']}, driver {facts['driver_version']}, torch {torch.__version__}")
    torch.manual_seed(0)
    with torch.device("cuda"):
        model = Qwen2ForCausalLM(Qwen2Config(**QWEN25_7B)).to(torch.bfloat16).eval()
    print(f"model: Qwen2.5-7B architecture, {sum(p.numel() for p in model.parameters()) / 1e9:.2f} B parameters, bf16")
    meter = make_meter("nvml", gpu_indices=[0], sampler_hz=10)
    meter.sampler.start()
    meter.measure_idle(10.0)
    print(f"idle power: {meter.idle_power_w['gpu:0']:.1f} W")
    for batch in (int(b) for b in args.batches.split(",")):
        ids = torch.randint(100, 150000, (batch, args.prompt_tokens), device="cuda")
        mask = torch.ones_like(ids)
        with torch.inference_mode():  # warm-up: kernels, allocator
            model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=8, min_new_tokens=8, do_sample=False)
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        with meter.window(f"batch {batch}") as window, torch.inference_mode():
            started = time.perf_counter()
            out = model.generate(
                input_ids=ids,
                attention_mask=mask,
                max_new_tokens=args.new_tokens,
                min_new_tokens=args.new_tokens,
                do_sample=False,
            )
            torch.cuda.synchronize()
            seconds = time.perf_counter() - started
        tokens = (out.shape[1] - args.prompt_tokens) * batch
        joules = window.result.energy_j["gpu:0"]
        net = window.result.energy_net_of_idle_j["gpu:0"]
        vram_gib = torch.cuda.max_memory_allocated() / 2**30
        print(
            f"batch {batch:>3}: {tokens} output tokens in {seconds:.2f} s = {tokens / seconds:8.1f} tokens/s, "
            f"{joules:8.1f} J = {joules / tokens:.3f} J/token ({net / tokens:.3f} net of idle), "
            f"peak VRAM {vram_gib:.1f} GiB, avg {window.result.avg_power_w['gpu:0']:.0f} W"
        )
    meter.sampler.stop()


if __name__ == "__main__":
    main()
