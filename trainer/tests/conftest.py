"""Shared helpers: tiny models, shards written per FORMAT.md, and the real CLI as a subprocess."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

TRAINER_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if TRAINER_DIR not in sys.path:
    sys.path.insert(0, TRAINER_DIR)

import tuneloop_trainer  # noqa: E402,F401  (tunes BLAS before torch loads)
import torch  # noqa: E402

from tuneloop_trainer.config import ModelConfig  # noqa: E402

torch.set_num_threads(len(os.sched_getaffinity(0)))
PYTHON = sys.executable


def micro_config(arch: str = "llama", **kw) -> ModelConfig:
    """A model small enough that a training step takes milliseconds."""
    base = dict(model_type=arch, vocab_size=96, hidden_size=48, intermediate_size=96, num_hidden_layers=2,
                num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                bos_token_id=1, eos_token_id=2, pad_token_id=0)
    if arch == "qwen2":
        base.update(attention_bias=True, tie_word_embeddings=True, rope_theta=1e6)
    if arch == "mistral":
        base.update(sliding_window=5, sliding_window_layers=[0, 1])
    base.update(kw)
    return ModelConfig(**base)


def make_model_dir(path: str, config: ModelConfig | None = None, seed: int = 0) -> str:
    from tuneloop_trainer.init_model import write_model_folder
    write_model_folder(config or micro_config(), path, seed)
    return path


def run_cli(*args: str, timeout: float = 120, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([PYTHON, "-m", "tuneloop_trainer", *args], cwd=TRAINER_DIR, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})})


@pytest.fixture
def model_dir(tmp_path):
    return make_model_dir(str(tmp_path / "model"))
