"""Atomic training checkpoints: `<dir>/step-00000042/`, written under a temporary name
and renamed into place, so a folder named step-* is always complete.

Contents: trainer_state.json (step, tokens, epoch, early-stopping state, scheduler state,
the optimizer's hyperparameters, the fingerprint of everything that shapes the run),
weights (model.safetensors for full fine-tuning, adapter.safetensors for LoRA: fp32, our
module names), optimizer.safetensors (AdamW moments), rng-rank{r}.safetensors per
process (torch CPU/CUDA generator states). The data position is the step: the data plan
is a pure function of the shard and the spec (data.py). No pickle anywhere: a checkpoint
folder can be inspected and loaded without executing code.
"""
from __future__ import annotations

import json
import os
import re
import shutil

import torch

from . import safetensors_io as st
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


def remove_all(root: str) -> None:
    """A fresh (non-resumed) run's checkpoints must all be its own."""
    remove_stale_temporaries(root)
    for _, folder in list_checkpoints(root):
        shutil.rmtree(folder, ignore_errors=True)


def save_rng(path: str) -> None:
    tensors = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        tensors.update({f"cuda.{i}": s for i, s in enumerate(torch.cuda.get_rng_state_all())})
    st.save_file(tensors, path)


def load_rng(path: str) -> None:
    tensors = st.load_file(path)
    torch.set_rng_state(tensors["cpu"])
    cuda = [tensors[f"cuda.{i}"] for i in range(len(tensors) - 1)]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda)


def save_optimizer(sd: dict, folder: str) -> dict:
    """Tensors of the optimizer state go to optimizer.safetensors as "<param index>.<key>";
    returns the JSON-able rest (param_groups, scalar state) for trainer_state.json."""
    tensors, scalars = {}, {}
    for idx, state in sd["state"].items():
        for key, value in state.items():
            if torch.is_tensor(value):
                tensors[f"{idx}.{key}"] = value
            else:
                scalars[f"{idx}.{key}"] = value
    st.save_file(tensors, os.path.join(folder, "optimizer.safetensors"))
    return {"param_groups": sd["param_groups"], "scalars": scalars}


def load_optimizer(folder: str, saved: dict) -> dict:
    state: dict = {}
    items = list(st.load_file(os.path.join(folder, "optimizer.safetensors")).items()) + list(saved["scalars"].items())
    for name, value in items:
        idx, key = name.split(".", 1)
        state.setdefault(int(idx), {})[key] = value
    return {"state": state, "param_groups": saved["param_groups"]}


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
            raise TrainerError(
                "CHECKPOINT_MISMATCH",
                (
                    f"checkpoint {folder} was made with {key}={json.dumps(saved.get(key))}, the spec now gives "
                    f"{json.dumps(current.get(key))}; restore the original setting or use a new checkpoints.dir"
                ),
            )
