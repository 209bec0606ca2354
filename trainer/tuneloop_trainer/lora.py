"""LoRA (Hu et al. 2021) as PEFT defines it, so adapters load in PEFT unchanged.

A wrapped linear keeps the frozen layer as `base_layer` and adds `lora_A` (rank × in,
Kaiming-uniform) and `lora_B` (out × rank, zeros): y = W x + (alpha / r) · B A dropout(x).
PEFT stores `<module path>.lora_A.weight` under the prefix `base_model.model.`, which is
exactly our module path since our modules carry transformers' names.
"""
from __future__ import annotations

import contextlib
import math

import torch
import torch.nn as nn

from .errors import TrainerError
from .model_folder import PEFT_PREFIX  # noqa: F401  (re-exported: the adapter's tensor-name prefix)


class LoRALinear(nn.Module):
    def __init__(self, base: nn.Linear, rank: int, alpha: float, dropout: float):
        super().__init__()
        self.base_layer = base
        self.lora_A = nn.Linear(base.in_features, rank, bias=False)
        self.lora_B = nn.Linear(rank, base.out_features, bias=False)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.scaling = alpha / rank
        self.disabled = False  # True: the frozen base layer alone (DPO's reference model)
        nn.init.kaiming_uniform_(self.lora_A.weight, a=math.sqrt(5))  # PEFT's default init
        nn.init.zeros_(self.lora_B.weight)

    def forward(self, x):
        if self.disabled:
            return self.base_layer(x)
        # in-place scaled add into the frozen layer's output (its backward needs no output):
        # one pass over the activation instead of a multiply and an add
        return self.base_layer(x).add_(self.lora_B(self.lora_A(self.dropout(x))), alpha=self.scaling)

    def merged(self) -> nn.Linear:
        """A plain linear with W + (alpha / r) · B A, computed in float64 to keep merging exact."""
        base = self.base_layer
        out = nn.Linear(base.in_features, base.out_features, bias=base.bias is not None)
        with torch.no_grad():
            out.weight.copy_(base.weight)
            if base.bias is not None:
                out.bias.copy_(base.bias)
        out = out.to(base.weight.device)
        add_delta(out, self.lora_A.weight, self.lora_B.weight, self.scaling)
        return out


def apply_lora(model: nn.Module, targets: list[str], rank: int, alpha: float, dropout: float) -> int:
    """Freezes the model and wraps every target linear; returns the number of LoRA parameters.
    Targets and rank are validated up front (preflight.py)."""
    for p in model.parameters():
        p.requires_grad_(False)
    wrapped = 0
    for name, mod in list(model.named_modules()):
        for child_name, child in list(mod.named_children()):
            if isinstance(child, nn.Linear) and child_name in targets:
                setattr(mod, child_name, LoRALinear(child, rank, alpha, dropout).to(child.weight.device))
                wrapped += 1
    if not wrapped:
        raise TrainerError("INVALID_SPEC", "hyperparameters.loraTargetModules matched no module of this model")
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


@contextlib.contextmanager
def adapters_disabled(model: nn.Module):
    """The base model without its adapters, for the duration of the block: DPO's reference
    model costs no second copy of the weights, only a second forward pass."""
    layers = [m for m in model.modules() if isinstance(m, LoRALinear)]
    for m in layers:
        m.disabled = True
    try:
        yield model
    finally:
        for m in layers:
            m.disabled = False


def add_delta(linear: nn.Linear, a: torch.Tensor, b: torch.Tensor, scaling: float) -> None:
    """W += scaling · B A in float64 (as `merged()` does): folds a previous adapter into a
    plain linear before training continues from it."""
    with torch.no_grad():
        delta = b.double() @ a.double() * scaling
        linear.weight.copy_((linear.weight.double() + delta.to(linear.weight.device)).to(linear.weight.dtype))


def merge_lora(model: nn.Module) -> nn.Module:
    """Replaces every LoRALinear by its merged linear, in place."""
    for mod in list(model.modules()):
        for child_name, child in list(mod.named_children()):
            if isinstance(child, LoRALinear):
                setattr(mod, child_name, child.merged())
    return model


def lora_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """Trainable LoRA tensors under our module names (checkpoints)."""
    return {n: p.detach() for n, p in model.named_parameters() if ".lora_" in n}


def load_lora_state(model: nn.Module, tensors: dict[str, torch.Tensor]) -> None:
    params = dict(model.named_parameters())
    missing = sorted(n for n in params if ".lora_" in n and n not in tensors)
    if missing:
        raise TrainerError("CHECKPOINT_MISMATCH", f"checkpoint lacks adapter tensor {missing[0]}")
    with torch.no_grad():
        for n, t in tensors.items():
            params[n].copy_(t)


def peft_tensors(model: nn.Module) -> dict[str, torch.Tensor]:
    return {PEFT_PREFIX + n: t.float().cpu() for n, t in lora_state(model).items()}


def peft_config(targets: list[str], rank: int, alpha: float, dropout: float, base_model: str) -> dict:
    return {
        "peft_type": "LORA",
        "task_type": "CAUSAL_LM",
        "base_model_name_or_path": base_model,
        "r": rank,
        "lora_alpha": alpha,
        "lora_dropout": dropout,
        "target_modules": targets,
        "bias": "none",
        "fan_in_fan_out": False,
        "inference_mode": True,
        "init_lora_weights": True,
        "modules_to_save": None,
        "layers_to_transform": None,
        "layers_pattern": None,
        "rank_pattern": {},
        "alpha_pattern": {},
        "use_rslora": False,
        "use_dora": False,
        "revision": None,
    }
