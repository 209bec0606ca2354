"""Continued training: start from a previous fine-tune instead of the bare base weights.

The starting weights are built in three layers (PROTOCOL.md § Continued training):

  1. `model.path`     the base folder (config, tokenizer, weights) — may itself be a
                      fine-tune's merged `model/` folder;
  2. `model.weights`  optional: a full fine-tuning checkpoint (`step-N/model.safetensors`)
                      whose weights replace the base's;
  3. `model.adapters` optional: LoRA adapters — PEFT folders (`adapter/`) or LoRA
                      checkpoints (`step-N/adapter.safetensors`) — merged in order.

Adapters are merged, never continued in place: the job then trains a fresh adapter (any
rank and targets) or all weights on top of the merged result, and "adapters switched
off" — DPO's reference model — is exactly the model training started from.

Everything is checked from JSON and safetensors headers before torch is imported, so a
wrong folder fails in milliseconds with the tensor or file named.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass

from . import safetensors_io as st
from .config import ModelConfig, read_json_object
from .errors import TrainerError
from .model_folder import LORA_TARGETS, PEFT_PREFIX, check_tensors, expected_shapes


@dataclass
class AdapterSource:
    path: str
    scaling: float
    tensors: dict  # module path → (A info, B info)


def check_init(config: ModelConfig, weights: str | None, adapters: list[str]) -> list[AdapterSource]:
    """Validates model.weights and model.adapters against the model's config."""
    if weights is not None:
        _check_weights(config, weights)
    return [_check_adapter(config, path, f"model.adapters[{i}]") for i, path in enumerate(adapters)]


def _check_weights(config: ModelConfig, folder: str) -> None:
    if not os.path.isdir(folder):
        raise TrainerError("MODEL_NOT_FOUND", f"model.weights: folder {folder} does not exist")
    if os.path.isfile(os.path.join(folder, "adapter.safetensors")):
        raise TrainerError(
            "MISSING_WEIGHTS", f"model.weights: {folder} is a LoRA checkpoint (adapter only); list it in model.adapters"
        )
    check_tensors(config, st.folder_tensor_infos(folder), folder)


def _check_adapter(config: ModelConfig, folder: str, field: str) -> AdapterSource:
    if not os.path.isdir(folder):
        raise TrainerError("MODEL_NOT_FOUND", f"{field}: folder {folder} does not exist")
    peft_file = os.path.join(folder, "adapter_model.safetensors")
    ckpt_file = os.path.join(folder, "adapter.safetensors")
    if os.path.isfile(peft_file):
        rank, alpha, rslora = _peft_config(folder, field)
        path, prefix = peft_file, PEFT_PREFIX
    elif os.path.isfile(ckpt_file):
        rank, alpha, rslora = _checkpoint_lora(folder, field)
        path, prefix = ckpt_file, ""
    else:
        raise TrainerError(
            "MISSING_WEIGHTS",
            f"{field}: {folder} holds neither a PEFT adapter (adapter_model.safetensors) "
            "nor a LoRA checkpoint (adapter.safetensors)",
        )
    shapes = expected_shapes(config)
    pairs: dict[str, dict] = {}
    for info in st.read_header(path)[1]:
        name = info.name[len(prefix) :] if info.name.startswith(prefix) else None
        module, _, part = (name or "").rpartition(".lora_")
        if not name or part not in ("A.weight", "B.weight") or module + ".weight" not in shapes:
            raise TrainerError("UNEXPECTED_TENSOR", f"{field}: tensor {info.name} in {path} adapts no linear layer")
        if module.rsplit(".", 1)[-1] not in LORA_TARGETS:
            raise TrainerError("UNEXPECTED_TENSOR", f"{field}: tensor {info.name} adapts {module}, not a LoRA target")
        if info.dtype not in ("F32", "F16", "BF16"):
            raise TrainerError("INVALID_MODEL", f"{field}: tensor {info.name} has dtype {info.dtype}")
        out, inp = shapes[module + ".weight"]
        want = (rank, inp) if part == "A.weight" else (out, rank)
        if info.shape != want:
            raise TrainerError(
                "INVALID_MODEL",
                f"{field}: tensor {info.name} has shape {list(info.shape)}, rank {rank} on this model implies "
                f"{list(want)} (was the adapter trained on another base model?)",
            )
        pairs.setdefault(module, {})[part[0]] = info
    if not pairs:
        raise TrainerError("MISSING_TENSOR", f"{field}: {path} holds no adapter tensor")
    for module, ab in pairs.items():
        if len(ab) != 2:
            raise TrainerError("MISSING_TENSOR", f"{field}: {module} has lora_{'A' if 'B' in ab else 'B'} missing")
    scaling = alpha / math.sqrt(rank) if rslora else alpha / rank
    return AdapterSource(folder, scaling, {m: (ab["A"], ab["B"]) for m, ab in sorted(pairs.items())})


def _read_json(path: str, field: str) -> dict:
    return read_json_object(path, "INVALID_MODEL", f"{field}: {path}")


def _peft_config(folder: str, field: str) -> tuple[int, float, bool]:
    cfg = _read_json(os.path.join(folder, "adapter_config.json"), field)
    if cfg.get("peft_type", "LORA") != "LORA":
        raise TrainerError("UNSUPPORTED_ARCHITECTURE", f"{field}: peft_type {cfg.get('peft_type')!r} is not LORA")
    for key in ("use_dora", "rank_pattern", "alpha_pattern", "fan_in_fan_out"):
        if cfg.get(key):
            raise TrainerError("UNSUPPORTED_ARCHITECTURE", f"{field}: adapters with {key} are not supported")
    try:
        return int(cfg["r"]), float(cfg["lora_alpha"]), bool(cfg.get("use_rslora", False))
    except (KeyError, TypeError, ValueError):
        raise TrainerError("INVALID_MODEL", f"{field}: adapter_config.json lacks a numeric r or lora_alpha") from None


def _checkpoint_lora(folder: str, field: str) -> tuple[int, float, bool]:
    state = _read_json(os.path.join(folder, "trainer_state.json"), field)
    lora = (state.get("fingerprint") or {}).get("lora")
    if not isinstance(lora, list) or len(lora) != 3:
        raise TrainerError("INVALID_MODEL", f"{field}: {folder}/trainer_state.json does not record a LoRA shape")
    return int(lora[0]), float(lora[1]), False


def apply_init(lm, config: ModelConfig, weights: str | None, adapters: list[AdapterSource]) -> None:
    """Loads model.weights into `lm` (fp32, before any LoRA wrapping), then merges each adapter."""
    import torch

    from .lora import add_delta

    modules = dict(lm.named_modules())
    if weights is not None:
        infos = st.folder_tensor_infos(weights)
        tensors = st.load_tensors([infos[n] for n in expected_shapes(config)])
        params = lm.state_dict(keep_vars=True)
        with torch.no_grad():
            for name, t in tensors.items():
                params[name].copy_(t.to(torch.float32))
    for source in adapters:
        for module, (a, b) in source.tensors.items():
            loaded = st.load_tensors([a, b])
            add_delta(modules[module], loaded[a.name], loaded[b.name], source.scaling)


def fingerprint(weights: str | None, adapters: list[str]) -> dict | None:
    """What a checkpoint records of the starting weights (None for a plain base model)."""
    if weights is None and not adapters:
        return None
    return {"weights": weights, "adapters": list(adapters)}
