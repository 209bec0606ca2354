"""Token shard reader (FORMAT.md, version 1), memory-mapped.

Every rule of FORMAT.md § "Rules a reader enforces" is checked here, up front, so a bad
shard fails before the model is even loaded, with the rule it broke in the message.
"""
from __future__ import annotations

import os
import struct
from dataclasses import dataclass

import numpy as np

from .errors import TrainerError

MAGIC = b"TLSHARD\0"
HEADER = struct.Struct("<8sIIQQQQQQ")  # 64 bytes, FORMAT.md § Header
VERSION = 1


@dataclass
class Shard:
    path: str
    tokens: np.ndarray  # (num_tokens,) uint32, memory-mapped
    mask: np.ndarray  # (num_tokens,) uint8, memory-mapped
    offsets: np.ndarray  # (num_examples + 1,) int64, in memory

    @property
    def num_examples(self) -> int:
        return len(self.offsets) - 1

    @property
    def num_tokens(self) -> int:
        return int(self.offsets[-1])

    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def trainable_counts(self, max_len: int) -> np.ndarray:
        """Per example: targets with mask 1 among its first `max_len` tokens.

        Position 0 of an example has no context, so only mask[1 : min(len, max_len)] count.
        """
        n = self.num_examples
        starts = self.offsets[:-1] + 1
        ends = self.offsets[:-1] + np.minimum(self.lengths(), max_len)
        counts = np.zeros(n, dtype=np.int64)
        # reduceat over (start, end) pairs sums mask[start:end] at even slots; its last index
        # must stay inside the array, so chunk by examples and handle the tail explicitly.
        chunk = 1 << 16
        for lo in range(0, n, chunk):
            hi = min(n, lo + chunk)
            s, e = starts[lo:hi], ends[lo:hi]
            valid = e > s
            if not valid.any():
                continue
            idx = np.stack([s[valid], e[valid]], 1).reshape(-1)
            tail = idx[-1] >= len(self.mask)
            if tail:
                idx = idx[:-1]
            sums = np.add.reduceat(self.mask, idx, dtype=np.int64)[0::2]
            out = np.zeros(int(valid.sum()), dtype=np.int64)
            out[: len(sums)] = sums
            if tail:  # the final example ends at the end of the file: reduceat already summed to the end
                out[-1] = int(self.mask[idx[-1] :].sum(dtype=np.int64))
            counts[lo:hi][valid] = out
        return counts


def _bad(path: str, rule: str) -> TrainerError:
    return TrainerError("INVALID_SHARD", f"{path}: {rule}")


def open_shard(path: str, vocab_size: int | None = None) -> Shard:
    if not os.path.isfile(path):
        raise TrainerError("SHARD_NOT_FOUND", f"token shard {path} does not exist")
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        raw = f.read(HEADER.size)
    if len(raw) < HEADER.size:
        raise _bad(path, f"file is {size} bytes, shorter than the 64-byte header")
    magic, version, token_bytes, n_tok, n_ex, tok_off, mask_off, off_off, _ = HEADER.unpack(raw)
    if magic != MAGIC:
        raise _bad(path, "wrong magic (expected TLSHARD\\0): not a token shard")
    if version != VERSION:
        raise _bad(path, f"unknown version {version} (this trainer reads version {VERSION})")
    if token_bytes != 4:
        raise _bad(path, f"token_bytes is {token_bytes}, version 1 requires 4")
    if n_ex < 1:
        raise _bad(path, "num_examples is 0 (a shard holds at least one example)")
    sections = sorted([(tok_off, 4 * n_tok, "tokens"), (mask_off, n_tok, "mask"), (off_off, 8 * (n_ex + 1), "offsets")])
    prev_end, prev_name = HEADER.size, "header"
    for start, length, name in sections:
        if start < prev_end:
            raise _bad(path, f"{name} section at byte {start} overlaps the {prev_name} section")
        if start + length > size:
            raise _bad(path, f"{name} section runs past the end of the file ({start + length} > {size} bytes)")
        prev_end, prev_name = start + length, name
    offsets = np.fromfile(path, dtype="<u8", count=n_ex + 1, offset=off_off).astype(np.int64)
    if offsets[0] != 0 or offsets[-1] != n_tok:
        raise _bad(path, f"offsets must start at 0 and end at num_tokens={n_tok} (got {offsets[0]}..{offsets[-1]})")
    diffs = np.diff(offsets)
    if (diffs < 0).any():
        raise _bad(path, f"offsets decrease at example {int(np.argmax(diffs < 0))}")
    if (diffs == 0).any():
        raise _bad(path, f"example {int(np.argmax(diffs == 0))} is empty")
    tokens = np.memmap(path, dtype="<u4", mode="r", offset=tok_off, shape=(n_tok,))
    mask = np.memmap(path, dtype=np.uint8, mode="r", offset=mask_off, shape=(n_tok,))
    if n_tok and int(mask.max()) > 1:
        raise _bad(path, "mask bytes must be 0 or 1")
    if vocab_size is not None and n_tok:
        top = int(tokens.max())
        if top >= vocab_size:
            at = int(np.argmax(tokens >= vocab_size))
            ex = int(np.searchsorted(offsets, at, side="right") - 1)
            raise _bad(
                path,
                f"token id {top} at example {ex} is ≥ the model's vocabulary size {vocab_size} "
                "(was the shard tokenized with another model's tokenizer?)",
            )
    return Shard(path, tokens, mask, offsets)


def write_shard(path: str, examples: list[tuple[list[int], list[int]]]) -> None:
    """Writes a version-1 shard from (tokens, mask) pairs; used by tests and benchmarks."""
    toks = np.concatenate([np.asarray(t, dtype="<u4") for t, _ in examples]) if examples else np.zeros(0, "<u4")
    mask = np.concatenate([np.asarray(m, dtype=np.uint8) for _, m in examples]) if examples else np.zeros(0, np.uint8)
    offsets = np.concatenate([[0], np.cumsum([len(t) for t, _ in examples])]).astype("<u8")
    align = lambda x: (x + 7) // 8 * 8  # noqa: E731
    tok_off = HEADER.size
    mask_off = align(tok_off + toks.nbytes)
    off_off = align(mask_off + mask.nbytes)
    header = HEADER.pack(MAGIC, VERSION, 4, len(toks), len(examples), tok_off, mask_off, off_off, 0)
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(header)
        f.write(toks.tobytes())
        f.write(b"\0" * (mask_off - tok_off - toks.nbytes))
        f.write(mask.tobytes())
        f.write(b"\0" * (off_off - mask_off - mask.nbytes))
        f.write(offsets.tobytes())
    os.replace(tmp, path)
