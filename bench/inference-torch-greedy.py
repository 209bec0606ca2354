#!/usr/bin/env python3
"""The baseline of bench/inference-throughput.ts: the trainer's own model (torch eager,
fp32, its KV cache) generating greedily, one request at a time.

  /usr/bin/python3 bench/inference-torch-greedy.py MODEL_DIR '[prompt ids]' NEW_TOKENS REPEATS [--cached-fusion]

Prints one JSON object: decode tokens/s (median over REPEATS), prefill ms, the greedy
tokens (so the caller can check the ONNX runtime produced the same ones), threads.

--cached-fusion: the trainer's fused q/k/v and gate/up linears concatenate their weights
on every forward (cheap in training, where a forward sees thousands of tokens; a full
copy of those weights per generated token in decoding). This flag concatenates once and
reuses the result, giving torch its best eager decode for a fairer comparison.
"""
from __future__ import annotations

import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "trainer"))

import tuneloop_trainer  # noqa: E402,F401  (sets OPENBLAS_CORETYPE before torch loads)
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from tuneloop_trainer import model as model_module  # noqa: E402
from tuneloop_trainer.device import configure_threads  # noqa: E402
from tuneloop_trainer.hf_io import load_model  # noqa: E402


def cache_fusion() -> None:
    original = getattr(model_module, "fused_linear", None)
    if original is None:
        return
    cache: dict[tuple[int, ...], tuple[torch.Tensor, torch.Tensor | None, list[int]]] = {}

    def fused_linear(x, linears):
        if not all(type(m) is torch.nn.Linear for m in linears):
            return original(x, linears)
        key = tuple(id(m) for m in linears)
        if key not in cache:
            w = torch.cat([m.weight for m in linears])
            b = None if linears[0].bias is None else torch.cat([m.bias for m in linears])
            cache[key] = (w, b, [m.out_features for m in linears])
        w, b, sizes = cache[key]
        return F.linear(x, w, b).split(sizes, dim=-1)

    model_module.fused_linear = fused_linear


def main() -> None:
    model_dir, prompt_json, new_tokens, repeats = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    if "--cached-fusion" in sys.argv[5:]:
        cache_fusion()
    threads = configure_threads(None)
    _, lm = load_model(model_dir)
    lm.eval()
    prompt = json.loads(prompt_json)
    rates, prefills, tokens = [], [], []
    with torch.no_grad():
        generate(lm, prompt, 4)  # warm-up: allocators, thread pool, caches
        for _ in range(repeats):
            t0 = time.perf_counter()
            tokens, t1 = generate(lm, prompt, new_tokens)
            t2 = time.perf_counter()
            prefills.append((t1 - t0) * 1000)
            rates.append((new_tokens - 1) / (t2 - t1))
    print(
        json.dumps(
            {
                "threads": threads,
                "torch": torch.__version__,
                "decode_tokens_per_s": statistics.median(rates),
                "prefill_ms": statistics.median(prefills),
                "tokens": tokens,
            }
        )
    )


def generate(lm, prompt: list[int], new_tokens: int) -> tuple[list[int], float]:
    """Greedy tokens and the time the prefill ended."""
    logits, past = lm(torch.tensor([prompt]))
    prefilled = time.perf_counter()
    tokens = [int(logits[0, -1].argmax())]
    for i in range(new_tokens - 1):
        logits, past = lm(torch.tensor([[tokens[-1]]]), torch.tensor([[len(prompt) + i]]), None, past)
        tokens.append(int(logits[0, -1].argmax()))
    return tokens, prefilled


if __name__ == "__main__":
    main()
