"""Model configuration: one dataclass for every supported Hugging Face architecture.

llama, qwen2 and mistral are the same decoder (RMSNorm, rotary positions, grouped-query
attention, SwiGLU MLP); they differ only in the switches below, so one model class with
one config covers all three instead of three near-copies.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

from .errors import TrainerError

ARCHITECTURES = {  # model_type → the class name transformers writes in `architectures`
    "llama": "LlamaForCausalLM",
    "qwen2": "Qwen2ForCausalLM",
    "mistral": "MistralForCausalLM",
}
ROPE_TYPES = ("default", "linear", "llama3")


@dataclass
class ModelConfig:
    model_type: str = "llama"
    vocab_size: int = 1024
    hidden_size: int = 256
    intermediate_size: int = 704
    num_hidden_layers: int = 4
    num_attention_heads: int = 8
    num_key_value_heads: int = 2
    head_dim: int = 0  # 0 = hidden_size // num_attention_heads
    max_position_embeddings: int = 512
    rms_norm_eps: float = 1e-6
    rope_theta: float = 10000.0
    rope_scaling: dict | None = None
    attention_bias: bool = False  # bias on q/k/v (qwen2 always; llama's flag also covers o)
    o_proj_bias: bool = False
    mlp_bias: bool = False
    tie_word_embeddings: bool = False
    sliding_window: int | None = None  # attend to at most this many previous positions
    sliding_window_layers: list[int] = field(default_factory=list)  # layers it applies to
    bos_token_id: int | None = None
    eos_token_id: int | list[int] | None = None
    pad_token_id: int | None = None
    torch_dtype: str = "float32"

    def __post_init__(self):
        if not self.head_dim:
            self.head_dim = self.hidden_size // self.num_attention_heads

    @property
    def window_for_layer(self) -> list[int | None]:
        layers = set(self.sliding_window_layers)
        return [self.sliding_window if i in layers else None for i in range(self.num_hidden_layers)]

    def eos_ids(self) -> list[int]:
        e = self.eos_token_id
        return [] if e is None else ([e] if isinstance(e, int) else list(e))

    @classmethod
    def from_hf(cls, hf: dict, where: str = "config.json") -> "ModelConfig":
        """Reads a transformers config dict; rejects what this code cannot run faithfully."""
        mt = hf.get("model_type")
        if mt not in ARCHITECTURES:
            raise TrainerError(
                "UNSUPPORTED_ARCHITECTURE",
                f"{where}: model_type {mt!r} is not supported (supported: {', '.join(ARCHITECTURES)})",
            )
        for arch in hf.get("architectures") or [ARCHITECTURES[mt]]:
            if arch != ARCHITECTURES[mt]:
                raise TrainerError(
                    "UNSUPPORTED_ARCHITECTURE",
                    f"{where}: architecture {arch!r} is not supported (expected {ARCHITECTURES[mt]})",
                )
        act = hf.get("hidden_act", "silu")
        if act not in ("silu", "swish"):
            raise TrainerError("UNSUPPORTED_ARCHITECTURE", f"{where}: hidden_act {act!r} is not supported (only silu)")
        try:
            n_layers = int(hf["num_hidden_layers"])
            heads = int(hf["num_attention_heads"])
            c = cls(
                model_type=mt,
                vocab_size=int(hf["vocab_size"]),
                hidden_size=int(hf["hidden_size"]),
                intermediate_size=int(hf["intermediate_size"]),
                num_hidden_layers=n_layers,
                num_attention_heads=heads,
                num_key_value_heads=int(hf.get("num_key_value_heads") or heads),
                head_dim=int(hf.get("head_dim") or 0),
                max_position_embeddings=int(hf.get("max_position_embeddings", 2048)),
                rms_norm_eps=float(hf.get("rms_norm_eps", 1e-6)),
                rope_theta=float(hf.get("rope_theta", 10000.0)),
                rope_scaling=hf.get("rope_scaling"),
                attention_bias=mt == "qwen2" or (mt == "llama" and bool(hf.get("attention_bias", False))),
                o_proj_bias=mt == "llama" and bool(hf.get("attention_bias", False)),
                mlp_bias=mt == "llama" and bool(hf.get("mlp_bias", False)),
                tie_word_embeddings=bool(hf.get("tie_word_embeddings", False)),
                bos_token_id=hf.get("bos_token_id"),
                eos_token_id=hf.get("eos_token_id"),
                pad_token_id=hf.get("pad_token_id"),
                torch_dtype=str(hf.get("torch_dtype") or hf.get("dtype") or "float32"),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise TrainerError("INVALID_MODEL", f"{where}: missing or invalid field {e}") from None
        c.sliding_window, c.sliding_window_layers = _sliding_window(hf, mt, n_layers)
        _check(c, where)
        return c

    def to_hf(self) -> dict:
        """The config.json transformers writes for this architecture."""
        d = {
            "architectures": [ARCHITECTURES[self.model_type]],
            "model_type": self.model_type,
            "vocab_size": self.vocab_size,
            "hidden_size": self.hidden_size,
            "intermediate_size": self.intermediate_size,
            "num_hidden_layers": self.num_hidden_layers,
            "num_attention_heads": self.num_attention_heads,
            "num_key_value_heads": self.num_key_value_heads,
            "head_dim": self.head_dim,
            "hidden_act": "silu",
            "max_position_embeddings": self.max_position_embeddings,
            "rms_norm_eps": self.rms_norm_eps,
            "rope_theta": self.rope_theta,
            "rope_scaling": self.rope_scaling,
            "tie_word_embeddings": self.tie_word_embeddings,
            "bos_token_id": self.bos_token_id,
            "eos_token_id": self.eos_token_id,
            "pad_token_id": self.pad_token_id,
            "torch_dtype": self.torch_dtype,
            "initializer_range": 0.02,
            "use_cache": True,
            "attention_dropout": 0.0,
        }
        if self.model_type == "llama":
            d.update(attention_bias=self.attention_bias, mlp_bias=self.mlp_bias, pretraining_tp=1)
        elif self.model_type == "mistral":
            d["sliding_window"] = self.sliding_window
        else:  # qwen2: window applies from layer max_window_layers on
            first = min(self.sliding_window_layers) if self.sliding_window_layers else self.num_hidden_layers
            d.update(
                use_sliding_window=bool(self.sliding_window_layers),
                sliding_window=self.sliding_window,
                max_window_layers=first,
            )
        return d


def _sliding_window(hf: dict, mt: str, n_layers: int) -> tuple[int | None, list[int]]:
    w = hf.get("sliding_window")
    if mt == "llama" or not w:
        return None, []
    if mt == "mistral":
        return int(w), list(range(n_layers))
    if not hf.get("use_sliding_window", False):  # qwen2 ships a window it does not use
        return None, []
    types = hf.get("layer_types")
    if isinstance(types, list) and len(types) == n_layers:
        return int(w), [i for i, t in enumerate(types) if t == "sliding_attention"]
    first = int(hf.get("max_window_layers", n_layers))
    return int(w), list(range(first, n_layers))


def _check(c: ModelConfig, where: str) -> None:
    def bad(msg):
        raise TrainerError("INVALID_MODEL", f"{where}: {msg}")

    for name in (
        "vocab_size",
        "hidden_size",
        "intermediate_size",
        "num_hidden_layers",
        "num_attention_heads",
        "num_key_value_heads",
        "head_dim",
        "max_position_embeddings",
    ):
        if getattr(c, name) <= 0:
            bad(f"{name} must be positive")
    if c.num_attention_heads % c.num_key_value_heads:
        bad("num_attention_heads must be a multiple of num_key_value_heads")
    if c.head_dim % 2:
        bad("head_dim must be even for rotary embeddings")
    rs = c.rope_scaling
    if rs is not None:
        kind = rs.get("rope_type", rs.get("type", "default")) if isinstance(rs, dict) else None
        if kind not in ROPE_TYPES:
            raise TrainerError(
                "UNSUPPORTED_ARCHITECTURE",
                f"{where}: rope_scaling type {kind!r} is not supported (supported: {', '.join(ROPE_TYPES)})",
            )


def load_config(folder: str) -> ModelConfig:
    path = os.path.join(folder, "config.json")
    if not os.path.isdir(folder):
        raise TrainerError("MODEL_NOT_FOUND", f"model folder {folder} does not exist")
    if not os.path.isfile(path):
        raise TrainerError("MISSING_CONFIG", f"{folder} has no config.json")
    return ModelConfig.from_hf(read_json_object(path, "MISSING_CONFIG", path), path)


def read_json_object(path: str, code: str, label: str) -> dict:
    """A JSON object from a file, or TrainerError(code) naming `label` when it is unreadable or not an object."""
    try:
        with open(path, encoding="utf-8") as f:
            value = json.load(f)
    except (OSError, ValueError) as e:
        raise TrainerError(code, f"{label} is not readable JSON ({e})") from None
    if not isinstance(value, dict):
        raise TrainerError(code, f"{label} is not a JSON object")
    return value


# Sizes made by `init-model`. The tokenizer built in tokenizer_build.py has 1024 ids.
SIZES = {
    "tiny": dict(
        hidden_size=256,
        intermediate_size=704,
        num_hidden_layers=4,
        num_attention_heads=8,
        num_key_value_heads=2,
        max_position_embeddings=512,
    ),
    "small": dict(
        hidden_size=384,
        intermediate_size=1024,
        num_hidden_layers=6,
        num_attention_heads=6,
        num_key_value_heads=2,
        max_position_embeddings=1024,
    ),
    "base": dict(
        hidden_size=768,
        intermediate_size=2048,
        num_hidden_layers=8,
        num_attention_heads=12,
        num_key_value_heads=4,
        max_position_embeddings=2048,
    ),
}
