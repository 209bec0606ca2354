"""Tuneloop trainer: fine-tunes Llama-family decoders from a job spec and a token shard.

Importing the package first tunes the BLAS library (see `_cpu.py`): that has to happen
before `torch` is imported anywhere, because OpenBLAS reads its settings once, at load.
"""
from . import _cpu

_cpu.configure_blas_before_torch()

__version__ = "0.1.0"
