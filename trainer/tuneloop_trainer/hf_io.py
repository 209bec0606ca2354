"""Loading and saving models in Hugging Face layout (the torch side of model_folder.py)."""
from __future__ import annotations

import os

import torch

from . import safetensors_io as st
from .config import ModelConfig, load_config
from .model import CausalLM
from .model_folder import check_tensors, expected_shapes, write_json

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def load_model(folder: str) -> tuple[ModelConfig, CausalLM]:
    """Config + fp32 CPU model from a folder (weights cast from F16/BF16 as needed)."""
    c = load_config(folder)
    infos = st.folder_tensor_infos(folder)
    check_tensors(c, infos, folder)
    expected = expected_shapes(c)
    tensors = st.load_tensors([infos[n] for n in expected])
    model = CausalLM(c)
    with torch.no_grad():
        for name, p in model.state_dict(keep_vars=True).items():
            if name in tensors:
                p.copy_(tensors.pop(name).to(torch.float32))
    return c, model


def model_tensors(model: CausalLM, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """HF-named tensors of a (LoRA-free) model; a tied lm_head is left out as HF does."""
    names = expected_shapes(model.config)
    sd = model.state_dict()
    return {n: sd[n].detach().to(dtype) for n in names}


def save_model(
    model: CausalLM,
    folder: str,
    dtype: str = "float32",
    max_shard_bytes: int = 2 * 1024**3,
    extra_config: dict | None = None,
) -> None:
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}")
    os.makedirs(folder, exist_ok=True)
    st.save_folder(model_tensors(model, DTYPES[dtype]), folder, max_shard_bytes)
    cfg = model.config.to_hf()
    cfg["torch_dtype"] = dtype
    cfg.update(extra_config or {})
    write_json(os.path.join(folder, "config.json"), cfg)
