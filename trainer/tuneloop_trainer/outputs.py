"""Final outputs under output.dir (PROTOCOL.md § Outputs), each folder written under a
temporary name and renamed, so a folder that exists is complete:

  adapter/      adapter_config.json + adapter_model.safetensors (PEFT names)  — LoRA
  model/        config.json, model.safetensors (or shards + index), tokenizer and
                generation files copied from the base: a self-contained HF model folder
  model/onnx/   model.onnx + tuneloop-onnx.json                               — exportOnnx
"""
from __future__ import annotations

import json
import os
import shutil

from . import safetensors_io as st
from .hf_io import save_model
from .lora import merge_lora, peft_config, peft_tensors
from .model_folder import copy_tokenizer_files, write_json
from .onnx_export import export_onnx


def _replace(tmp: str, final: str) -> None:
    if os.path.isdir(final):
        shutil.rmtree(final)
    os.rename(tmp, final)


def _fresh(path: str) -> str:
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    return path


def save_adapter(lm, out_dir: str, targets, rank, alpha, dropout, base_model: str) -> str:
    final = os.path.join(out_dir, "adapter")
    tmp = _fresh(os.path.join(out_dir, ".tmp-adapter"))
    st.save_file(peft_tensors(lm), os.path.join(tmp, "adapter_model.safetensors"))
    write_json(os.path.join(tmp, "adapter_config.json"), peft_config(targets, rank, alpha, dropout, base_model))
    _replace(tmp, final)
    return final


def save_full_model(lm, out_dir: str, base_dir: str, export: bool, lora: bool) -> tuple[str, str | None]:
    """Merges LoRA (in place) if any, writes model/ in the base model's dtype, exports ONNX."""
    final = os.path.join(out_dir, "model")
    tmp = _fresh(os.path.join(out_dir, ".tmp-model"))
    if lora:
        merge_lora(lm)
    lm = lm.float().cpu().eval()
    with open(os.path.join(base_dir, "config.json"), encoding="utf-8") as f:
        base_cfg = json.load(f)
    dtype = base_cfg.get("torch_dtype") or base_cfg.get("dtype") or "float32"
    if dtype not in ("float32", "float16", "bfloat16"):
        dtype = "float32"
    save_model(lm, tmp, dtype, extra_config={**base_cfg, "torch_dtype": dtype})
    copy_tokenizer_files(base_dir, tmp)
    onnx = None
    if export:
        gen = None
        if os.path.isfile(os.path.join(tmp, "generation_config.json")):
            with open(os.path.join(tmp, "generation_config.json"), encoding="utf-8") as f:
                gen = json.load(f)
        export_onnx(lm, os.path.join(tmp, "onnx"), gen)
        onnx = os.path.join(final, "onnx", "model.onnx")
    _replace(tmp, final)
    return final, onnx
