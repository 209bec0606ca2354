"""Device, precision and thread choices, made once at setup and reported in `started`.

fp32 is the CPU default because it is exact and portable (resume reproduces losses
bit for bit); bf16 autocast is used on CPU only when asked for *and* the CPU computes
bf16 in hardware (AMX / AVX512-BF16) — elsewhere it is emulated and slower than fp32.
On CUDA, "auto" means bf16 autocast when the GPU supports it.
"""
from __future__ import annotations

import contextlib
import sys
from dataclasses import dataclass

import torch

from ._cpu import available_cores, has_native_bf16


@dataclass
class Runtime:
    device: torch.device
    dtype: str  # "fp32" | "bf16": the compute precision (weights stay fp32)
    threads: int

    def autocast(self):
        if self.dtype != "bf16":
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)


def configure_threads(threads: int | None) -> int:
    n = threads or available_cores()
    torch.set_num_threads(n)
    return n


def choose_runtime(device: str, dtype: str, threads: int | None, local_rank: int = 0) -> Runtime:
    """Resolves "auto" choices; raises ValueError with a fix when a choice cannot be met."""
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError('runtime.device is "cuda" but no CUDA device is available; use "auto" or "cpu"')
    use_cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    dev = torch.device("cuda", local_rank) if use_cuda else torch.device("cpu")
    if use_cuda:
        torch.cuda.set_device(dev)
        bf16_ok = torch.cuda.is_bf16_supported()
        chosen = "bf16" if dtype in ("auto", "bf16") and bf16_ok else "fp32"
        if dtype == "bf16" and not bf16_ok:
            print("warning: this GPU lacks bf16; training in fp32", file=sys.stderr)
        # TF32 matmuls for the fp32 parts: ~8x faster on Ampere+, precision ample for training.
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    else:
        chosen = "fp32"
        if dtype == "bf16":
            if has_native_bf16():
                chosen = "bf16"
            else:
                print("warning: this CPU has no native bf16 (amx_bf16/avx512_bf16); training in fp32", file=sys.stderr)
    return Runtime(dev, chosen, configure_threads(threads))


def is_oom(e: BaseException) -> bool:
    if isinstance(e, MemoryError):
        return True
    oom = getattr(torch.cuda, "OutOfMemoryError", None)
    if oom is not None and isinstance(e, oom):
        return True
    return isinstance(e, RuntimeError) and ("out of memory" in str(e) or "can't allocate memory" in str(e).lower())
