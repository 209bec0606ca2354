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
    base = dict(
        model_type=arch,
        vocab_size=96,
        hidden_size=48,
        intermediate_size=96,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=128,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=0,
    )
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
    return subprocess.run(
        [PYTHON, "-m", "tuneloop_trainer", *args],
        cwd=TRAINER_DIR,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture
def model_dir(tmp_path):
    return make_model_dir(str(tmp_path / "model"))


class TrainRun:
    def __init__(self, returncode, events, stdout, stderr):
        self.returncode, self.events, self.stdout, self.stderr = returncode, events, stdout, stderr

    def of(self, type_: str) -> list[dict]:
        return [e for e in self.events if e["type"] == type_]

    def losses(self) -> list[float]:
        return [e["loss"] for e in self.of("step")]


def run_train(
    spec: dict,
    workdir,
    resume: bool = False,
    on_event=None,
    launcher: list[str] | None = None,
    env: dict | None = None,
    timeout: float = 180,
) -> TrainRun:
    """Runs `train` as the worker does: a real pipe for --events-fd, every event checked
    against protocol.schema.json, stdout kept separate (it must stay empty)."""
    from schema_check import validate_event

    spec_path = os.path.join(str(workdir), f"spec-{os.urandom(4).hex()}.json")
    with open(spec_path, "w") as f:
        json.dump(spec, f)
    r, w = os.pipe()
    cmd = (launcher or [PYTHON, "-m"]) + ["tuneloop_trainer", "train", "--spec", spec_path, "--events-fd", str(w)]
    proc = subprocess.Popen(
        cmd + (["--resume"] if resume else []),
        pass_fds=(w,),
        cwd=TRAINER_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    os.close(w)
    events = []
    try:
        with os.fdopen(r, encoding="utf-8") as f:
            for line in f:
                event = json.loads(line)
                validate_event(event)
                events.append(event)
                if on_event:
                    on_event(event, proc)
        out, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return TrainRun(proc.returncode, events, out, err)


def sigterm_after_step(n: int):
    """An `on_event` callback that sends SIGTERM once, when step n is reported."""
    import signal

    sent = []

    def on_event(event, proc):
        if event["type"] == "step" and event["step"] == n and not sent:
            proc.send_signal(signal.SIGTERM)
            sent.append(True)

    return on_event


def write_examples(path: str, examples) -> str:
    from tuneloop_trainer.shard import write_shard

    write_shard(path, examples)
    return path


def random_examples(n: int, seed: int = 0, min_len: int = 8, max_len: int = 30, vocab: int = 96):
    """Chat-like examples: a prompt (mask 0) then an answer (mask 1)."""
    import random

    rng = random.Random(seed)
    out = []
    for _ in range(n):
        length = rng.randint(min_len, max_len)
        prompt = rng.randint(1, length - 2)
        out.append(([rng.randint(3, vocab - 1) for _ in range(length)], [0] * prompt + [1] * (length - prompt)))
    return out


def make_spec(
    tmp_path,
    model: str,
    train: str,
    validation: str | None = None,
    method: str = "lora",
    output: dict | None = None,
    runtime: dict | None = None,
    checkpoints: dict | None = None,
    **hp,
) -> dict:
    hyper = dict(epochs=1, batchSize=4, learningRate=3e-3, maxSeqLength=64, seed=7, loraRank=4, loraDropout=0.0)
    hyper.update(hp)
    return {
        "version": 1,
        "jobId": "ftjob_test",
        "model": {"path": model},
        "method": method,
        "data": {"train": train, "validation": validation},
        "hyperparameters": hyper,
        "checkpoints": {"dir": str(tmp_path / "checkpoints"), "every": 0, "keep": 2, **(checkpoints or {})},
        "output": {"dir": str(tmp_path / "out"), "mergeLora": False, "exportOnnx": False, **(output or {})},
        # one thread: the micro models are too small to gain from two, and tests share the CPU
        "runtime": {"device": "cpu", "dtype": "fp32", "threads": 1, **(runtime or {})},
    }
