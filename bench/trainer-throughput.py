#!/usr/bin/env python3
"""Trainer throughput: tokens/s and achieved FLOP/s as a fraction of a plain matmul's
FLOP/s measured in the same run, for full fine-tuning and LoRA, supervised and DPO.

Prints figures, asserts nothing (timings live in bench/, never in tests; recorded
figures: docs/PERFORMANCE.md). It drives the real recipe (spec → preflight → Recipe.setup
→ Recipe._train_step), so collation, masking, loss, clipping and the optimizer are all
inside the timed step. The reference matmul is measured right before and right after each
case and averaged, so a machine shared with other work skews both sides of the ratio alike.

FLOPs per token (the PaLM appendix-B convention):
  full:  6·N + 12·L·H·T          N = parameters in matmuls (lm_head included, embedding
  lora:  4·N + 6·N_lora + 12·L·H·T   lookup excluded), L layers, H = heads·head_dim, T
                                  = sequence length. A frozen weight needs no weight
                                  gradient, hence 4·N for LoRA.
  dpo-lora: lora + 2·N + 4·L·H·T  the reference is a forward pass with adapters off
  dpo-full: full                  reference log-probs are computed once before training
The LM head's share of N counts only tokens that reach it: all of them in the SFT cases
(every token trainable), the completions (half of each sequence) in the DPO cases.

The DPO cases train on pairs of two sequences of the same length as the SFT rows
(a shared prompt of half the length, then the completion), batch/2 pairs per step, so a
step processes as many tokens as an SFT step. dpo-full also prints what its reference
costs: the one-time pass over the data (`ref once`, as a share of one epoch's time) and,
for comparison, the forward pass a frozen reference copy would add to every step
(`copy/step`) plus that copy's memory (fp32 weights, + 25 % over weights, gradients and
AdamW moments) — the figures behind PROTOCOL.md § Preference tuning.

  /usr/bin/python3 bench/trainer-throughput.py                       # CPU: small + base, fp32
  /usr/bin/python3 bench/trainer-throughput.py --dtype fp32,bf16 --sizes small
  python3 bench/trainer-throughput.py --device cuda --sizes 1b --dtype bf16
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "trainer"))

import tuneloop_trainer  # noqa: E402,F401  (sets OPENBLAS_CORETYPE before torch loads)
import numpy as np  # noqa: E402
import torch  # noqa: E402

from tuneloop_trainer._cpu import available_cores, has_native_bf16  # noqa: E402
from tuneloop_trainer.config import SIZES, ModelConfig  # noqa: E402
from tuneloop_trainer.data import split_micro  # noqa: E402
from tuneloop_trainer.distributed import Dist  # noqa: E402
from tuneloop_trainer.events import NullLogger  # noqa: E402
from tuneloop_trainer.init_model import write_model_folder  # noqa: E402
from tuneloop_trainer.preflight import preflight  # noqa: E402
from tuneloop_trainer.recipe import Recipe  # noqa: E402
from tuneloop_trainer.shard import write_shard  # noqa: E402
from tuneloop_trainer.spec import parse_spec  # noqa: E402

BENCH_SIZES = {
    "small": dict(vocab_size=1024, **SIZES["small"]),
    "base": dict(vocab_size=1024, **SIZES["base"]),
    # ~1.07B parameters, Llama-style, for GPUs
    "1b": dict(
        vocab_size=32000,
        hidden_size=2048,
        intermediate_size=5632,
        num_hidden_layers=20,
        num_attention_heads=16,
        num_key_value_heads=8,
        max_position_embeddings=4096,
    ),
}


def matmul_rate(device: torch.device, dtype: str, n: int) -> float:
    """FLOP/s of one n×n @ n×n matmul in the same precision setting as training."""
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    ctx = (
        torch.autocast(device.type, dtype=torch.bfloat16)
        if dtype == "bf16"
        else torch.autocast(device.type, enabled=False)
    )
    with ctx:
        for _ in range(3):
            a @ b
        sync(device)
        reps, start = 0, time.perf_counter()
        while time.perf_counter() - start < 1.0:
            a @ b
            reps += 1
        sync(device)
        return 2 * n**3 * reps / (time.perf_counter() - start)


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def flops_per_token(c: ModelConfig, method: str, n_lora: int, seq: int) -> float:
    h, q, kv = c.hidden_size, c.num_attention_heads * c.head_dim, c.num_key_value_heads * c.head_dim
    per_layer = h * q * 2 + h * kv * 2 + 3 * h * c.intermediate_size
    head = c.vocab_size * h * (0.5 if method.startswith("dpo") else 1.0)  # tokens that reach lm_head
    n = c.num_hidden_layers * per_layer + head
    attention = 12 * c.num_hidden_layers * q * seq
    if method in ("full", "dpo-full"):
        return 6 * n + attention
    reference = 2 * n + attention / 3 if method == "dpo-lora" else 0.0
    return 4 * n + 6 * n_lora + attention + reference


def write_data(tmp: str, cfg: ModelConfig, dpo: bool, args) -> str:
    """SFT: rows of `seq` tokens, all trainable. DPO: pairs of two `seq`-token sequences
    sharing a `seq / 2`-token prompt, batch/2 pairs per step (as many tokens per step)."""
    seq, rows = args.seq, args.batch
    shard = os.path.join(tmp, f"data-{cfg.hidden_size}-{'dpo' if dpo else 'sft'}.tlshard")
    if os.path.isfile(shard):
        return shard
    rng = np.random.default_rng(0)
    n_rows = rows * (args.steps + args.warmup)
    if not dpo:
        write_shard(shard, [(rng.integers(0, cfg.vocab_size, seq).tolist(), [1] * seq) for _ in range(n_rows)])
        return shard
    examples, half = [], seq // 2
    for _ in range(n_rows // 2):
        prompt = rng.integers(0, cfg.vocab_size, half).tolist()
        for _ in range(2):
            examples.append(
                (prompt + rng.integers(0, cfg.vocab_size, seq - half).tolist(), [0] * half + [1] * (seq - half))
            )
    write_shard(shard, examples, preference=True)
    return shard


def reference_costs(recipe, args, step_seconds: float) -> dict:
    """dpo-full: the one-time reference pass vs. the per-step forward of a frozen copy."""
    from tuneloop_trainer import reference
    from tuneloop_trainer.objectives import sequence_logps

    plan, rt = recipe.plan, recipe.rt
    sync(rt.device)
    start = time.perf_counter()
    reference.compute(recipe.lm, plan.shard, plan.epochs[0], plan.lengths, recipe.micro, rt, recipe.dist, 0)
    sync(rt.device)
    once = time.perf_counter() - start
    start = time.perf_counter()
    with torch.no_grad():
        for step in range(args.warmup, args.warmup + args.steps):
            for mrows in split_micro(plan.step_rows(step), recipe.micro, 0, 1):
                b = recipe.objective.collate(plan.shard, mrows, plan.lengths, 0).to(rt.device)
                with rt.autocast():
                    sequence_logps(recipe.lm, b.input_ids, b.position_ids, b.doc_ids, b.targets, b.target_mask)
    sync(rt.device)
    per_step = (time.perf_counter() - start) / args.steps
    epoch = step_seconds * plan.total_steps
    return {"ref_once": once / epoch, "copy_per_step": per_step / step_seconds, "copy_bytes": recipe.parameters * 4}


def run_case(tmp: str, size: str, method: str, dtype: str, device: str, args) -> dict:
    cfg = ModelConfig(**BENCH_SIZES[size])
    model_dir = os.path.join(tmp, f"model-{size}")
    if not os.path.isdir(model_dir):
        write_model_folder(cfg, model_dir, seed=0)
    dpo = method.startswith("dpo")
    shard = write_data(tmp, cfg, dpo, args)
    rows = args.batch // 2 if dpo else args.batch  # pairs of two sequences
    micro = max(1, (args.micro or args.batch) // 2) if dpo else (args.micro or args.batch)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    spec = parse_spec(
        {
            "version": 1,
            "jobId": "bench",
            "model": {"path": model_dir},
            "method": "dpo" if dpo else method,
            "trainable": method.removeprefix("dpo-"),
            "data": {"train": shard},
            "checkpoints": {"dir": os.path.join(tmp, "ck")},
            "output": {"dir": os.path.join(tmp, "out")},
            "hyperparameters": {
                "epochs": 1,
                "batchSize": rows,
                "microBatchSize": micro,
                "maxSeqLength": args.seq,
                "packing": False,
                "loraRank": 16,
                "loraDropout": 0.0,
                "loraTargetModules": ["all-linear"],
                "learningRate": 1e-5,
                "gradientCheckpointing": args.gradient_checkpointing,
            },
            "runtime": {
                "device": device,
                "dtype": dtype,
                "threads": args.threads,
                "compile": args.compile,
            },
        }
    )
    recipe = Recipe(spec, preflight(spec, 1), NullLogger(), Dist(), False, lambda: None)
    recipe.setup()
    for step in range(args.warmup):
        recipe._train_step(step)
    sync(recipe.rt.device)
    start, tokens = time.perf_counter(), 0
    for step in range(args.warmup, args.warmup + args.steps):
        tokens += recipe._train_step(step)[3]
    sync(recipe.rt.device)
    elapsed = time.perf_counter() - start
    n_lora = recipe.trainable_parameters if recipe.lora else 0
    tps = tokens / elapsed
    out = {
        "size": size,
        "method": method,
        "dtype": recipe.rt.dtype,
        "params": recipe.parameters,
        "tok_s": tps,
        "flops": tps * flops_per_token(cfg, method, n_lora, args.seq),
        "device": str(recipe.rt.device),
        "peak_bytes": torch.cuda.max_memory_allocated() if device == "cuda" else None,
    }
    if method == "dpo-full":
        out.update(reference_costs(recipe, args, elapsed / args.steps))
    del recipe
    if device == "cuda":
        torch.cuda.empty_cache()
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    p.add_argument(
        "--sizes", default=None, help="comma list of small, base, 1b (default: small,base; cuda: small,base,1b)"
    )
    p.add_argument("--methods", default="full,lora,dpo-lora,dpo-full")
    p.add_argument("--dtype", default=None, help="fp32, bf16 or both (default: cpu fp32, cuda bf16)")
    p.add_argument("--seq", type=int, default=None, help="sequence length (default: cpu 512, cuda 2048)")
    p.add_argument("--batch", type=int, default=None, help="rows per step, DPO: sequences (default: cpu 8, cuda 16)")
    p.add_argument("--micro", type=int, default=None, help="rows per forward (default: cpu 8, cuda 8)")
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--compile", action="store_true")
    p.add_argument("--gradient-checkpointing", action="store_true")
    args = p.parse_args()
    cuda = args.device == "cuda"
    if cuda and not torch.cuda.is_available():
        print("no CUDA device: nothing to measure")
        return
    sizes = (args.sizes or ("small,base,1b" if cuda else "small,base")).split(",")
    dtypes = (args.dtype or ("bf16" if cuda else "fp32")).split(",")
    args.seq = args.seq or (2048 if cuda else 512)
    args.batch = args.batch or (16 if cuda else 8)
    args.micro = args.micro or 8
    device = torch.device("cuda") if cuda else torch.device("cpu")
    threads = args.threads or available_cores()
    torch.set_num_threads(threads)
    where = (
        torch.cuda.get_device_name()
        if cuda
        else (
            f"CPU, {threads} threads, OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE')}, "
            f"native bf16: {has_native_bf16()}"
        )
    )
    print(
        f"torch {torch.__version__} on {where}; seq {args.seq}, {args.batch} rows/step, {args.micro} rows/forward, "
        f"{args.steps} timed steps after {args.warmup} warmup; reference: plain {8192 if cuda else 2048}² matmul"
    )
    n = 8192 if cuda else 2048
    print(
        f"{'size':>6} {'method':>8} {'dtype':>5} {'params':>12} {'tokens/s':>10} {'GFLOP/s':>10} "
        f"{'matmul GFLOP/s':>14} {'of matmul':>9} {'vs sft':>7} {'peak GB':>7}  reference (dpo-full)"
    )
    tmp = tempfile.mkdtemp(prefix="tuneloop-bench-")
    baseline = {}  # (size, weights, dtype) → SFT tokens/s of the same model, for the "vs sft" column
    try:
        for size in sizes:
            for method in args.methods.split(","):
                for d in dtypes:
                    before = matmul_rate(device, d, n)
                    r = run_case(tmp, size, method, d, args.device, args)
                    rate = (before + matmul_rate(device, d, n)) / 2
                    key = (size, method.removeprefix("dpo-"), d)
                    if not method.startswith("dpo"):
                        baseline[key] = r["tok_s"]
                    vs = f"{r['tok_s'] / baseline[key]:>7.2f}" if key in baseline else f"{'-':>7}"
                    peak = f"{r['peak_bytes'] / 1e9:>7.2f}" if r["peak_bytes"] else f"{'-':>7}"
                    ref = ""
                    if "ref_once" in r:
                        ref = (
                            f"  ref once {r['ref_once']:.0%} of an epoch; a frozen copy: +{r['copy_per_step']:.0%} "
                            f"per step, +{r['copy_bytes'] / 1e9:.2f} GB"
                        )
                    print(
                        f"{size:>6} {method:>8} {r['dtype']:>5} {r['params']:>12,} {r['tok_s']:>10,.0f} "
                        f"{r['flops'] / 1e9:>10,.1f} {rate / 1e9:>14,.1f} {r['flops'] / rate:>8.1%} "
                        f"{vs} {peak}{ref}",
                        flush=True,
                    )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
