"""CPU feature detection, done without importing torch.

Why this exists: OpenBLAS picks its matrix kernels from the CPUID model number. On the
virtual machines we run on, the model is unknown to OpenBLAS 0.3.21, so it falls back to
the generic "Prescott" kernels, several times slower (docs/PERFORMANCE.md, "Trainer on
CPU", has the figures of bench/trainer-throughput.py). Forcing the core type from the instruction-set flags
the kernel reports is safe (it only picks kernels the CPU can run) and must happen before
the library is loaded, i.e. before `import torch`.
"""
from __future__ import annotations

import os


def cpu_flags() -> set[str]:
    """The instruction-set flags of the first CPU in /proc/cpuinfo (empty when unknown)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def has_native_bf16() -> bool:
    """True when the CPU computes bf16 matmuls in hardware (AMX or AVX512-BF16)."""
    flags = cpu_flags()
    return "amx_bf16" in flags or "avx512_bf16" in flags


def openblas_core_for(flags: set[str]) -> str | None:
    if {"avx512f", "avx512_bf16"} <= flags:
        return "Cooperlake"
    if {"avx512f", "avx512bw", "avx512vl"} <= flags:
        return "SkylakeX"
    if {"avx2", "fma"} <= flags:
        return "Haswell"
    return None


def configure_blas_before_torch() -> None:
    """Sets OPENBLAS_CORETYPE from the CPU flags, and a passive OpenMP wait policy,
    unless the user already chose either.

    Passive waiting: OpenMP threads that spin at barriers (libgomp's default) collapse when
    the cores are shared — the trainer runs beside the API and worker on a laptop. Measured
    on 2 shared cores (load ≈ 12), one training step of the `small` model: 20.3 s with the
    default spinning, 9.6 s with GOMP_SPINCOUNT=10000, 5.4 s passive. On cores it has to
    itself passive waiting costs a futex wake-up per parallel region; set
    OMP_WAIT_POLICY=ACTIVE there if a measurement favours it.
    """
    if "OPENBLAS_CORETYPE" not in os.environ:
        core = openblas_core_for(cpu_flags())
        if core:
            os.environ["OPENBLAS_CORETYPE"] = core
    if "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ:
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"


def available_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)
