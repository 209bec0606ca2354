"""`init-model`: a randomly initialised model folder in Hugging Face layout.

Used for demos (`tuneloop models init-tiny`), tests and benchmarks: the output is a
complete, self-describing folder that every other command (and transformers) accepts.
"""
from __future__ import annotations

import os
import shutil
import tempfile

from . import tokenizer_build as tok
from .config import SIZES, ModelConfig
from .errors import TrainerError
from .hf_io import save_model
from .model_folder import write_json
from .model import CausalLM

ARCH_DEFAULTS = {
    "llama": dict(rope_theta=10000.0),
    "qwen2": dict(rope_theta=1000000.0, attention_bias=True, tie_word_embeddings=True),
    "mistral": dict(rope_theta=10000.0),
}


def build_config(size: str, arch: str = "llama") -> ModelConfig:
    if size not in SIZES:
        raise TrainerError("INVALID_SPEC", f"unknown size {size!r} (choose {', '.join(SIZES)})")
    if arch not in ARCH_DEFAULTS:
        raise TrainerError("UNSUPPORTED_ARCHITECTURE", f"unknown arch {arch!r} (choose {', '.join(ARCH_DEFAULTS)})")
    c = ModelConfig(
        model_type=arch,
        vocab_size=tok.VOCAB_SIZE,
        bos_token_id=tok.ENDOFTEXT_ID,
        eos_token_id=tok.IM_END_ID,
        pad_token_id=tok.ENDOFTEXT_ID,
        **SIZES[size],
        **ARCH_DEFAULTS[arch],
    )
    if arch == "mistral":  # exercise the sliding window: half the context
        c.sliding_window = c.max_position_embeddings // 2
        c.sliding_window_layers = list(range(c.num_hidden_layers))
    return c


def write_model_folder(c: ModelConfig, out: str, seed: int = 0, dtype: str = "float32") -> None:
    """Writes config, weights, generation config and tokenizer into `out` atomically."""
    model = CausalLM(c)
    model.init_weights(seed)
    parent = os.path.dirname(os.path.abspath(out)) or "."
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".init-model-", dir=parent)
    os.chmod(tmp, 0o755)
    try:
        save_model(model, tmp, dtype)
        write_json(
            os.path.join(tmp, "generation_config.json"),
            {
                "bos_token_id": c.bos_token_id,
                "eos_token_id": [tok.IM_END_ID, tok.ENDOFTEXT_ID],
                "pad_token_id": tok.ENDOFTEXT_ID,
                "do_sample": False,
            },
        )
        write_json(os.path.join(tmp, "tokenizer.json"), tok.tokenizer_json())
        write_json(os.path.join(tmp, "tokenizer_config.json"), tok.tokenizer_config_json(c.max_position_embeddings))
        write_json(
            os.path.join(tmp, "special_tokens_map.json"),
            {
                "additional_special_tokens": ["<|im_start|>", "<|im_end|>"],
                "eos_token": "<|im_end|>",
                "pad_token": "<|endoftext|>",
            },
        )
        if os.path.isdir(out) and not os.listdir(out):
            os.rmdir(out)
        os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def init_model(size: str, out: str, seed: int = 0, arch: str = "llama", dtype: str = "float32") -> dict:
    if os.path.exists(out) and (not os.path.isdir(out) or os.listdir(out)):
        raise TrainerError("INVALID_SPEC", f"--out {out} already exists and is not an empty folder")
    c = build_config(size, arch)
    write_model_folder(c, out, seed, dtype)
    from .model_folder import inspect_model

    return inspect_model(out)
