"""ONNX export with KV-cache inputs/outputs for the TypeScript inference engine.

IO names are a contract (PROTOCOL.md § ONNX): inputs input_ids, attention_mask,
position_ids, past_key_values.{i}.key/.value; outputs logits, present.{i}.key/.value.

A LoRA-input export (`lora_targets`) serves any LoRA fine-tune of the model from one
session: every target linear of every decoder layer takes two more inputs,
lora.{i}.{module}.a [batch, in, rank] and lora.{i}.{module}.b [batch, rank, out], and
computes y = x W + (x A) B per row of the batch. B carries PEFT's alpha / r scaling; a
row's adapter of a smaller rank is zero-padded, and zero factors are the base model.
The TorchScript exporter (opset 17) needs no `onnx` package. The graph is the decoder as
onnx_graph.py writes it, with onnxruntime's fused contrib operators (its CPU and CUDA
builds have them) and attention as plain matmul/softmax.
"""
from __future__ import annotations

import inspect
import json
import os
import shutil
import tempfile
import warnings

import torch
import torch.nn as nn

from .errors import TrainerError
from .model import CausalLM
from .model_folder import LORA_TARGETS
from .onnx_graph import MS_DOMAIN, FusedCachedLM

OPSET = 17
META_FILE = "tuneloop-onnx.json"


class _LoraInputLinear(nn.Module):
    """A frozen linear plus per-row low-rank factors given as graph inputs (set per forward)."""

    def __init__(self, base: nn.Linear):
        super().__init__()
        self.base_layer = base
        self.a: torch.Tensor | None = None  # (B, in, r)
        self.b: torch.Tensor | None = None  # (B, r, out)

    def forward(self, x):  # x: (B, T, in)
        return self.base_layer(x) + torch.matmul(torch.matmul(x, self.a), self.b)


class _LoraCachedLM(FusedCachedLM):
    def __init__(self, lm: CausalLM, lora: list[_LoraInputLinear]):
        super().__init__(lm)
        self.lora = lora

    def forward(self, input_ids, attention_mask, position_ids, *flat):
        n_past = 2 * self.lm.config.num_hidden_layers
        factors = flat[n_past:]
        for i, m in enumerate(self.lora):
            m.a, m.b = factors[2 * i], factors[2 * i + 1]
        return super().forward(input_ids, attention_mask, position_ids, *flat[:n_past])


def lora_modules(lm: CausalLM, targets: list[str]) -> list[tuple[str, nn.Linear]]:
    """(module path, linear) of every target in decoder order: layer by layer, and within a
    layer in LORA_TARGETS order, which is the order of the graph's lora inputs."""
    order = {t: i for i, t in enumerate(LORA_TARGETS)}
    out = []
    for i, layer in enumerate(lm.model.layers):
        found = [(n, m) for n, m in layer.named_modules() if n.split(".")[-1] in targets and isinstance(m, nn.Linear)]
        found.sort(key=lambda nm: order[nm[0].split(".")[-1]])
        out += [(f"model.layers.{i}.{n}", m) for n, m in found]
    return out


def lora_input_names(path: str) -> tuple[str, str]:
    """model.layers.3.self_attn.q_proj → (lora.3.q_proj.a, lora.3.q_proj.b)."""
    parts = path.split(".")
    return f"lora.{parts[2]}.{parts[-1]}.a", f"lora.{parts[2]}.{parts[-1]}.b"


def wrap_lora_inputs(lm: CausalLM, targets: list[str]) -> list[tuple[str, _LoraInputLinear]]:
    """Replaces each target linear by a _LoraInputLinear, in place; returns them in input order."""
    wrapped = []
    for path, linear in lora_modules(lm, targets):
        parent = lm.get_submodule(path.rsplit(".", 1)[0])
        w = _LoraInputLinear(linear)
        setattr(parent, path.rsplit(".", 1)[1], w)
        wrapped.append((path, w))
    return wrapped


def lora_dir_name(targets: list[str]) -> str:
    """The LoRA-input export's folder beside `onnx/`: onnx-lora-q_proj+k_proj+v_proj+o_proj."""
    return "onnx-lora-" + "+".join(t for t in LORA_TARGETS if t in targets)


def io_names(n_layers: int) -> tuple[list[str], list[str]]:
    inputs = ["input_ids", "attention_mask", "position_ids"]
    outputs = ["logits"]
    for i in range(n_layers):
        inputs += [f"past_key_values.{i}.key", f"past_key_values.{i}.value"]
        outputs += [f"present.{i}.key", f"present.{i}.value"]
    return inputs, outputs


def export_onnx(
    lm: CausalLM, out_dir: str, generation: dict | None = None, lora_targets: list[str] | None = None
) -> str:
    """Writes out_dir/model.onnx (+ external data if > 2 GB) and out_dir/tuneloop-onnx.json.
    With `lora_targets`, the graph takes LoRA factors for those modules (wraps `lm` in place)."""
    c = lm.config
    lm = lm.float().eval().cpu()
    for m in lm.modules():
        if hasattr(m, "use_sdpa"):
            m.use_sdpa = False
    weight_bytes = sum(t.numel() * 4 for t in lm.state_dict().values())
    lora = []
    if lora_targets is not None:
        unknown = sorted(set(lora_targets) - set(LORA_TARGETS))
        if unknown or not lora_targets:
            raise TrainerError("INVALID_SPEC", f"LoRA targets must be among {', '.join(LORA_TARGETS)}")
        lora = wrap_lora_inputs(lm, lora_targets)
    B, T, P = 2, 3, 2  # dummy shapes; every axis below is declared dynamic
    ids = torch.randint(0, c.vocab_size, (B, T))
    mask = torch.ones(B, P + T, dtype=torch.int64)
    pos = torch.arange(P, P + T).expand(B, T).contiguous()
    past = [torch.zeros(B, c.num_key_value_heads, P, c.head_dim) for _ in range(2 * c.num_hidden_layers)]
    inputs, outputs = io_names(c.num_hidden_layers)
    R = 3  # dummy rank; the axis is dynamic
    factors, lora_meta = [], []
    for path, m in lora:
        a_name, b_name = lora_input_names(path)
        lin = m.base_layer
        factors += [torch.randn(B, lin.in_features, R) * 0.1, torch.randn(B, R, lin.out_features) * 0.1]
        inputs += [a_name, b_name]
        lora_meta.append({"module": path, "in": lin.in_features, "out": lin.out_features, "a": a_name, "b": b_name})
    axes = {
        "input_ids": {0: "batch", 1: "sequence"},
        "attention_mask": {0: "batch", 1: "total_sequence"},
        "position_ids": {0: "batch", 1: "sequence"},
        "logits": {0: "batch", 1: "sequence"},
    }
    axes.update({n: {0: "batch", 2: "past_sequence"} for n in inputs[3 : 3 + len(past)]})
    axes.update({n["a"]: {0: "batch", 2: "rank"} for n in lora_meta})
    axes.update({n["b"]: {0: "batch", 1: "rank"} for n in lora_meta})
    axes.update({n: {0: "batch", 2: "total_sequence"} for n in outputs[1:]})
    parent = os.path.dirname(os.path.abspath(out_dir))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".onnx-export-", dir=parent)
    os.chmod(tmp, 0o755)
    try:
        kwargs = {"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters else {}
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer warnings about shape arithmetic are expected
            torch.onnx.export(
                _LoraCachedLM(lm, [m for _, m in lora]) if lora else FusedCachedLM(lm),
                (ids, mask, pos, *past, *factors),
                os.path.join(tmp, "model.onnx"),
                input_names=inputs,
                output_names=outputs,
                dynamic_axes=axes,
                opset_version=OPSET,
                custom_opsets={MS_DOMAIN: 1},
                do_constant_folding=True,
                **kwargs,
            )
        meta = {
            "formatVersion": 2,  # 2: the fused graph of onnx_graph.py (1: the traced model)
            "opset": OPSET,
            "dtype": "float32",
            "modelType": c.model_type,
            "num_layers": c.num_hidden_layers,
            "num_attention_heads": c.num_attention_heads,
            "num_kv_heads": c.num_key_value_heads,
            "head_dim": c.head_dim,
            "hidden_size": c.hidden_size,
            "vocab_size": c.vocab_size,
            "context_length": c.max_position_embeddings,
            "sliding_window": c.sliding_window if c.sliding_window_layers else None,
            "bos_token_id": c.bos_token_id,
            "eos_token_id": _eos(c, generation),
            "pad_token_id": _pad(c, generation),
            # What the weights take in the graph (float32; a tied embedding is there twice:
            # the lookup table and the LM head's transposed copy), for deployments to report.
            "weight_bytes": weight_bytes,
            "inputs": inputs,
            "outputs": outputs,
        }
        if lora:
            meta["lora"] = {"targets": [t for t in LORA_TARGETS if t in lora_targets], "modules": lora_meta}
        with open(os.path.join(tmp, META_FILE), "w", encoding="utf-8") as f:
            json.dump(meta, f, indent=2)
        if os.path.isdir(out_dir):
            shutil.rmtree(out_dir)
        os.rename(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return os.path.join(out_dir, "model.onnx")


def _eos(c, generation) -> list[int]:
    ids = list(c.eos_ids())
    g = (generation or {}).get("eos_token_id")
    for e in [g] if isinstance(g, int) else (g or []):
        if e not in ids:
            ids.append(e)
    return ids


def _pad(c, generation):
    if c.pad_token_id is not None:
        return c.pad_token_id
    return (generation or {}).get("pad_token_id")


def export_model_folder(
    model_dir: str,
    out_dir: str | None = None,
    weights: str | None = None,
    adapters: list[str] | None = None,
    lora_targets: list[str] | None = None,
) -> str:
    """Exports a model folder; `weights` / `adapters` start from a checkpoint's weights
    exactly as continued training does (continued.py): a full checkpoint's weights replace
    the folder's, LoRA adapters are merged in order. `lora_targets`: a LoRA-input graph,
    in MODEL/onnx-lora-<targets> by default."""
    from .hf_io import load_model

    config, lm = load_model(model_dir)
    if weights is not None or adapters:
        from .continued import apply_init, check_init

        sources = check_init(config, weights, list(adapters or []))
        lm = lm.float()
        apply_init(lm, config, weights, sources)
    gen = None
    gpath = os.path.join(model_dir, "generation_config.json")
    if os.path.isfile(gpath):
        try:
            with open(gpath, encoding="utf-8") as f:
                gen = json.load(f)
        except (OSError, ValueError):
            gen = None
    default = lora_dir_name(lora_targets) if lora_targets is not None else "onnx"
    return export_onnx(lm, out_dir or os.path.join(model_dir, default), gen, lora_targets)
