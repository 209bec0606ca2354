"""Hugging Face–layout model folders without torch: expected tensors, checks, inspection.

Tensor names and shapes are checked against the config from the safetensors headers
alone, before any weight is read, so a wrong folder fails in milliseconds with the
offending tensor named instead of failing minutes later inside load_state_dict. No torch
import here: `inspect-model` (the catalog's import check) answers in a fraction of a second.
"""
from __future__ import annotations

import json
import os
import shutil

from . import safetensors_io as st
from .config import ModelConfig, load_config
from .errors import TrainerError

TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "generation_config.json",
    "chat_template.jinja",
    "vocab.json",
    "merges.txt",
    "tokenizer.model",
)
# The linear layers LoRA can adapt, and the prefix PEFT puts before our module paths.
LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
PEFT_PREFIX = "base_model.model."
# Names old checkpoints carry that hold no weights (recomputed buffers).
IGNORED_SUFFIXES = (".rotary_emb.inv_freq",)


def expected_shapes(c: ModelConfig) -> dict[str, tuple[int, ...]]:
    """Every tensor a folder must hold for this config, with its shape."""
    h, kv, q = c.hidden_size, c.num_key_value_heads * c.head_dim, c.num_attention_heads * c.head_dim
    out = {"model.embed_tokens.weight": (c.vocab_size, h), "model.norm.weight": (h,)}
    if not c.tie_word_embeddings:
        out["lm_head.weight"] = (c.vocab_size, h)
    for i in range(c.num_hidden_layers):
        p = f"model.layers.{i}."
        out.update(
            {
                p + "input_layernorm.weight": (h,),
                p + "post_attention_layernorm.weight": (h,),
                p + "self_attn.q_proj.weight": (q, h),
                p + "self_attn.k_proj.weight": (kv, h),
                p + "self_attn.v_proj.weight": (kv, h),
                p + "self_attn.o_proj.weight": (h, q),
                p + "mlp.gate_proj.weight": (c.intermediate_size, h),
                p + "mlp.up_proj.weight": (c.intermediate_size, h),
                p + "mlp.down_proj.weight": (h, c.intermediate_size),
            }
        )
        if c.attention_bias:
            out.update(
                {
                    p + "self_attn.q_proj.bias": (q,),
                    p + "self_attn.k_proj.bias": (kv,),
                    p + "self_attn.v_proj.bias": (kv,),
                }
            )
        if c.o_proj_bias:
            out[p + "self_attn.o_proj.bias"] = (h,)
        if c.mlp_bias:
            out.update(
                {
                    p + "mlp.gate_proj.bias": (c.intermediate_size,),
                    p + "mlp.up_proj.bias": (c.intermediate_size,),
                    p + "mlp.down_proj.bias": (h,),
                }
            )
    return out


def check_tensors(c: ModelConfig, infos: dict[str, st.TensorInfo], folder: str) -> None:
    expected = expected_shapes(c)
    missing = sorted(set(expected) - set(infos))
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise TrainerError("MISSING_TENSOR", f"{folder}: tensor {missing[0]} is missing{more}")
    tolerated = {"lm_head.weight"} if c.tie_word_embeddings else set()
    unexpected = sorted(n for n in set(infos) - set(expected) - tolerated if not n.endswith(IGNORED_SUFFIXES))
    if unexpected:
        more = f" (and {len(unexpected) - 1} more)" if len(unexpected) > 1 else ""
        raise TrainerError(
            "UNEXPECTED_TENSOR", f"{folder}: unexpected tensor {unexpected[0]}{more} for a {c.model_type} model"
        )
    for name, shape in expected.items():
        info = infos[name]
        if info.shape != shape:
            raise TrainerError(
                "INVALID_MODEL",
                f"{folder}: tensor {name} has shape {list(info.shape)}, " f"config.json implies {list(shape)}",
            )
        if info.dtype not in ("F32", "F16", "BF16"):
            raise TrainerError("INVALID_MODEL", f"{folder}: tensor {name} has dtype {info.dtype} (want F32/F16/BF16)")


def write_json(path: str, obj) -> None:
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, ensure_ascii=False)
        f.write("\n")
    os.replace(tmp, path)


def copy_tokenizer_files(src: str, dst: str) -> list[str]:
    copied = []
    for name in TOKENIZER_FILES:
        if os.path.isfile(os.path.join(src, name)):
            shutil.copyfile(os.path.join(src, name), os.path.join(dst, name))
            copied.append(name)
    return copied


def inspect_model(folder: str) -> dict:
    """What the catalog needs to know about a folder, checked without reading weights."""
    c = load_config(folder)
    infos = st.folder_tensor_infos(folder)
    check_tensors(c, infos, folder)
    params = sum(_numel(s) for s in expected_shapes(c).values())
    dtypes = sorted({i.dtype for i in infos.values()})
    has = lambda n: os.path.isfile(os.path.join(folder, n))  # noqa: E731
    chat_template = None
    if has("tokenizer_config.json"):
        try:
            with open(os.path.join(folder, "tokenizer_config.json"), encoding="utf-8") as f:
                chat_template = json.load(f).get("chat_template")
        except (OSError, ValueError):
            chat_template = None
    return {
        "architecture": c.to_hf()["architectures"][0],
        "modelType": c.model_type,
        "parameters": params,
        "contextLength": c.max_position_embeddings,
        "vocabSize": c.vocab_size,
        "dtype": c.torch_dtype,
        "tensorDtypes": dtypes,
        "hiddenSize": c.hidden_size,
        "numLayers": c.num_hidden_layers,
        "numAttentionHeads": c.num_attention_heads,
        "numKeyValueHeads": c.num_key_value_heads,
        "headDim": c.head_dim,
        "tieWordEmbeddings": c.tie_word_embeddings,
        "slidingWindow": c.sliding_window,
        "bosTokenId": c.bos_token_id,
        "eosTokenId": c.eos_token_id,
        "tensors": {
            "ok": True,
            "count": len(infos),
            "files": sorted({os.path.basename(i.file) for i in infos.values()}),
        },
        "tokenizer": has("tokenizer.json"),
        "chatTemplate": bool(chat_template) or has("chat_template.jinja"),
    }


def _numel(shape) -> int:
    n = 1
    for d in shape:
        n *= d
    return n
