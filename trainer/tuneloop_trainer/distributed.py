"""Data parallelism under torchrun (RANK / WORLD_SIZE / LOCAL_RANK in the environment).

One process per device; NCCL on CUDA, gloo on CPU (how the tests run it). Without
torchrun everything here degrades to no-ops, so the recipe has one code path.
"""
from __future__ import annotations

import contextlib
import datetime
import os

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from ._cpu import available_cores


class Dist:
    def __init__(self):
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        self.local_world = int(os.environ.get("LOCAL_WORLD_SIZE", str(self.world)))
        self.active = False

    def init(self, use_cuda: bool) -> None:
        if self.world > 1 and not self.active:
            backend = "nccl" if use_cuda else "gloo"
            dist.init_process_group(backend, timeout=datetime.timedelta(minutes=30))
            self.active = True

    def default_threads(self) -> int:
        """CPU cores split between the processes of this machine."""
        return max(1, available_cores() // max(1, self.local_world))

    def wrap(self, module: torch.nn.Module, device: torch.device):
        if not self.active:
            return module
        ids = [device.index] if device.type == "cuda" else None
        return DistributedDataParallel(module, device_ids=ids, broadcast_buffers=False)

    def no_sync(self, module):
        m = getattr(module, "_orig_mod", module)  # through torch.compile's wrapper
        return m.no_sync() if isinstance(m, DistributedDataParallel) else contextlib.nullcontext()

    def all_sum(self, t: torch.Tensor) -> torch.Tensor:
        if self.active:
            dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return t

    def all_max(self, value: int) -> int:
        if not self.active:
            return value
        device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else "cpu"
        t = torch.tensor([value], dtype=torch.int64, device=device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return int(t.item())

    def barrier(self) -> None:
        if self.active:
            dist.barrier()

    def close(self) -> None:
        if self.active:
            dist.destroy_process_group()
            self.active = False
