"""DPO reference log-probs for full fine-tuning, computed once before training.

Why not a frozen copy of the model: with full fine-tuning the reference is the starting
model, which no longer exists once the first step updates the weights. A frozen copy
would hold a second set of weights (+25 % over fp32 weights, gradients and AdamW moments)
and run a forward pass at every step of every epoch; the log-probs it would produce
depend only on the starting weights and the data, so one forward pass over the training
and validation pairs before the first step gives the same numbers, once — about a third
of one epoch's compute, paid again for no later epoch (bench/trainer-throughput.py; the
figures are in docs/PERFORMANCE.md, "Trainer on CPU", and trainer/PROTOCOL.md).

They are stored with the run, `checkpoints.dir/reference-logps.safetensors` (one float32
per example, tensors `train` and `validation`, the inputs' fingerprint in its metadata),
so a resumed job reuses the exact values and never needs the starting weights again. A
fresh start deletes the file with the checkpoints.
"""
from __future__ import annotations

import json
import os

import torch

from . import safetensors_io as st
from .objectives import sequence_logps

FILE = "reference-logps.safetensors"


def remove(root: str) -> None:
    """A fresh start's reference must be its own (and a killed writer's temporary goes too)."""
    if os.path.isdir(root):
        for name in os.listdir(root):
            if name == FILE or name.startswith(FILE + ".tmp-"):
                os.remove(os.path.join(root, name))


@torch.no_grad()
def compute(lm, shard, rows, lengths, micro: int, runtime, dist, pad_id: int) -> torch.Tensor:
    """Log-prob of every example of a preference shard (its completion's tokens), float32 on CPU.
    Chunks of `micro` pairs are dealt round-robin to the processes and summed."""
    from .data import collate_pairs

    out = torch.zeros(shard.num_examples, dtype=torch.float32, device=runtime.device)
    pairs = [rows.row(r) for r in range(len(rows))]
    chunks = [pairs[i : i + micro] for i in range(0, len(pairs), micro)]
    was_training = lm.training
    lm.eval()
    try:
        for chunk in chunks[dist.rank :: dist.world]:
            b = collate_pairs(shard, chunk, lengths, pad_id).to(runtime.device)
            with runtime.autocast():
                logps, _, _ = sequence_logps(lm, b.input_ids, b.position_ids, b.doc_ids, b.targets, b.target_mask)
            index = torch.as_tensor([int(p[0]) for p in chunk] + [int(p[1]) for p in chunk], device=out.device)
            out[index] = logps.float()
    finally:
        lm.train(was_training)
    return dist.all_sum(out).cpu()  # every example is computed by exactly one process


def load_or_compute(root: str, fingerprint: dict, splits: dict, compute_split, dist) -> dict[str, torch.Tensor]:
    """The stored tables when their fingerprint matches, else computed (with the weights
    the model has now: call this before a checkpoint is loaded) and stored atomically."""
    path = os.path.join(root, FILE)
    key = json.dumps(fingerprint, sort_keys=True)
    if os.path.isfile(path):
        metadata, _ = st.read_header(path)
        if metadata.get("fingerprint") == key:
            tables = st.load_file(path)
            if set(tables) == set(splits):
                return tables
    tables = {name: compute_split(*args) for name, args in splits.items()}
    if dist.rank == 0:
        os.makedirs(root, exist_ok=True)
        tmp = f"{path}.tmp-{os.getpid()}"
        st.save_file(tables, tmp, {"fingerprint": key})
        os.replace(tmp, path)
    dist.barrier()
    return tables
