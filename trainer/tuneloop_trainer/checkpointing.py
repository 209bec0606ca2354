"""Atomic training checkpoints: `<dir>/step-00000042/`, written under a temporary name
and renamed into place, so a folder named step-* is always complete.

Contents: trainer_state.json (step, tokens, epoch, early-stopping state, the fingerprint
of everything that shapes the run), weights (model.safetensors for full fine-tuning,
adapter.safetensors for LoRA: fp32, our module names), optimizer.pt + scheduler.pt, and
rng-rank{r}.pt per process (torch CPU/CUDA generators). The data position is the step:
the data plan is a pure function of the shard and the spec (data.py).
"""
from __future__ import annotations

import json
import os
import re
import shutil

import torch

from .errors import TrainerError

STATE_FILE = "trainer_state.json"
NAME = re.compile(r"^step-(\d{8})$")


def step_dir(root: str, step: int) -> str:
    return os.path.join(root, f"step-{step:08d}")


def tmp_dir(root: str, step: int) -> str:
    return os.path.join(root, f".tmp-step-{step:08d}")


def list_checkpoints(root: str) -> list[tuple[int, str]]:
    """Complete checkpoints, oldest first."""
    if not os.path.isdir(root):
        return []
    found = []
    for name in os.listdir(root):
        m = NAME.match(name)
        if m and os.path.isfile(os.path.join(root, name, STATE_FILE)):
            found.append((int(m.group(1)), os.path.join(root, name)))
    return sorted(found)


def remove_stale_temporaries(root: str) -> None:
    if os.path.isdir(root):
        for name in os.listdir(root):
            if name.startswith(".tmp-step-"):
                shutil.rmtree(os.path.join(root, name), ignore_errors=True)


def rng_state() -> dict:
    state = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["cpu"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_tensors(obj, path: str) -> None:
    torch.save(obj, path)


def load_tensors(path: str):
    """Our own files only; weights_only keeps torch ≥ 2.6 from refusing them."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except TypeError:  # torch < 1.13.1 has no weights_only
        return torch.load(path, map_location="cpu")


def publish(root: str, step: int, keep: int) -> str:
    """Renames the finished temporary folder into place and prunes to the newest `keep`."""
    tmp, final = tmp_dir(root, step), step_dir(root, step)
    if os.path.exists(final):  # same step saved twice (e.g. SIGTERM right after an epoch end)
        shutil.rmtree(tmp, ignore_errors=True)
        return final
    _fsync_dir(tmp)
    os.rename(tmp, final)
    _fsync_dir(root)
    for _, old in list_checkpoints(root)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def _fsync_dir(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass


def write_state(folder: str, state: dict) -> None:
    with open(os.path.join(folder, STATE_FILE), "w", encoding="utf-8") as f:
        json.dump(state, f, indent=2, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())


def read_state(folder: str) -> dict:
    try:
        with open(os.path.join(folder, STATE_FILE), encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        raise TrainerError("CHECKPOINT_MISMATCH", f"checkpoint {folder} is unreadable ({e})") from None


def check_fingerprint(saved: dict, current: dict, folder: str) -> None:
    """Resuming under a different spec would silently train something else: refuse."""
    for key in sorted(set(saved) | set(current)):
        if saved.get(key) != current.get(key):
            raise TrainerError("CHECKPOINT_MISMATCH", (
                f"checkpoint {folder} was made with {key}={json.dumps(saved.get(key))}, the spec now gives "
                f"{json.dumps(current.get(key))}; restore the original setting or use a new checkpoints.dir"))
