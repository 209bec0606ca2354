"""One exception type for every failure a user can fix, each with a stable code.

The code travels in the `failed` event (PROTOCOL.md), so the TypeScript side can map it
to a job error without parsing messages. Messages say what to change.
"""
from __future__ import annotations

# Stable codes; documented in PROTOCOL.md. Never rename one: clients match on them.
CODES = (
    "INVALID_SPEC",
    "MODEL_NOT_FOUND",
    "MISSING_CONFIG",
    "MISSING_WEIGHTS",
    "MISSING_TENSOR",
    "UNEXPECTED_TENSOR",
    "UNSUPPORTED_ARCHITECTURE",
    "INVALID_MODEL",
    "SHARD_NOT_FOUND",
    "INVALID_SHARD",
    "NO_TRAINABLE_TOKENS",
    "CHECKPOINT_MISMATCH",
    "NAN_LOSS",
    "OUT_OF_MEMORY",
    "DISK_FULL",
    "INVALID_ONNX",
    "MISSING_DEPENDENCY",
    "INTERNAL",
)


class TrainerError(Exception):
    """A failure with a stable machine-readable code and a one-line human message."""

    def __init__(self, code: str, message: str):
        assert code in CODES, code
        super().__init__(message)
        self.code = code
        self.message = " ".join(str(message).split())
