"""Learning-rate schedule: linear warmup, then cosine / linear decay to 0, or constant.

Same curves as transformers' get_{cosine,linear,constant}_schedule_with_warmup, so a
learning rate and warmup tuned with the HF Trainer mean the same thing here.
"""
from __future__ import annotations

import math

import torch


def warmup_steps(total: int, steps: int | None, ratio: float | None) -> int:
    if steps is not None:
        return min(steps, total)
    if ratio is not None:
        return min(total, math.ceil(total * ratio))
    return 0


def lr_factor(kind: str, warmup: int, total: int, step: int) -> float:
    """Multiplier of the base rate for the update with 0-based index `step`."""
    if step < warmup:
        return step / max(1, warmup)
    if kind == "constant":
        return 1.0
    progress = (step - warmup) / max(1, total - warmup)
    if kind == "linear":
        return max(0.0, 1.0 - progress)
    return max(0.0, 0.5 * (1.0 + math.cos(math.pi * progress)))


def make_scheduler(optimizer, kind: str, warmup: int, total: int):
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(kind, warmup, total, s))
