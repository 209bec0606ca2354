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
FLAG_PREFERENCE = 1  # flags bit 0: examples 2i / 2i+1 are the chosen / rejected side of pair i
KNOWN_FLAGS = FLAG_PREFERENCE
PAIR_CHECK_CHUNK = 1 << 12  # examples / pairs per vectorised pass (bounds the index arrays)


@dataclass
class Shard:
    path: str
    tokens: np.ndarray  # (num_tokens,) uint32, memory-mapped
    mask: np.ndarray  # (num_tokens,) uint8, memory-mapped
    offsets: np.ndarray  # (num_examples + 1,) int64, in memory
    preference: bool = False  # header flag: examples are (chosen, rejected) pairs

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
    magic, version, token_bytes, n_tok, n_ex, tok_off, mask_off, off_off, flags = HEADER.unpack(raw)
    if magic != MAGIC:
        raise _bad(path, "wrong magic (expected TLSHARD\\0): not a token shard")
    if version != VERSION:
        raise _bad(path, f"unknown version {version} (this trainer reads version {VERSION})")
    if token_bytes != 4:
        raise _bad(path, f"token_bytes is {token_bytes}, version 1 requires 4")
    if n_ex < 1:
        raise _bad(path, "num_examples is 0 (a shard holds at least one example)")
    if flags & ~KNOWN_FLAGS:
        raise _bad(path, f"unknown flags {flags:#x} (this trainer knows bit 0, preference pairs)")
    preference = bool(flags & FLAG_PREFERENCE)
    if preference and n_ex % 2:
        raise _bad(path, f"a preference shard holds pairs, but num_examples is odd ({n_ex})")
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
    shard = Shard(path, tokens, mask, offsets, preference)
    if preference:
        _check_pair_prompts(shard)
    return shard


def prompt_lengths(shard: Shard) -> np.ndarray:
    """Per example: the index of its first trainable token (mask 1 at j ≥ 1), or its length
    when it has none. Everything before it is the prompt."""
    out = np.empty(shard.num_examples, dtype=np.int64)
    for lo in range(0, shard.num_examples, PAIR_CHECK_CHUNK):  # bounded memory on large shards
        hi = min(shard.num_examples, lo + PAIR_CHECK_CHUNK)
        base, end = int(shard.offsets[lo]), int(shard.offsets[hi])
        starts, ends = shard.offsets[lo:hi] - base, shard.offsets[lo + 1 : hi + 1] - base
        ones = np.append(np.flatnonzero(shard.mask[base:end]), end - base)  # sentinel: "none"
        first = ones[np.searchsorted(ones, starts + 1)]
        out[lo:hi] = np.minimum(first, ends) - starts
    return out


def _check_pair_prompts(shard: Shard) -> None:
    """Both sides of a pair must continue the same prompt: a shard whose pairs are shifted
    by one example (a writer bug) would otherwise train on nonsense without any error."""
    prompt = prompt_lengths(shard)
    empty = np.flatnonzero(prompt >= shard.lengths())
    if len(empty):
        e = int(empty[0])
        raise _bad(
            shard.path,
            f"pair {e // 2}: the {'rejected' if e % 2 else 'chosen'} sequence (example {e}) has no trainable "
            "token; each side of a pair needs its completion marked 1 in the mask",
        )
    chosen, rejected = prompt[0::2], prompt[1::2]
    differ = np.flatnonzero(chosen != rejected)
    first_bad = int(differ[0]) if len(differ) else None
    n_pairs = shard.num_examples // 2
    for lo in range(0, n_pairs if first_bad is None else first_bad, PAIR_CHECK_CHUNK):
        hi = min(n_pairs if first_bad is None else first_bad, lo + PAIR_CHECK_CHUNK)
        lengths = chosen[lo:hi]
        # token positions of every prompt in the chunk, chosen and rejected side
        local = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        c = np.repeat(shard.offsets[2 * np.arange(lo, hi)], lengths) + local
        r = np.repeat(shard.offsets[2 * np.arange(lo, hi) + 1], lengths) + local
        mismatch = np.flatnonzero(shard.tokens[c] != shard.tokens[r])
        if len(mismatch):
            first_bad = lo + int(np.searchsorted(np.cumsum(lengths), mismatch[0], side="right"))
            break
    if first_bad is not None:
        raise _bad(
            shard.path,
            f"pair {first_bad} (examples {2 * first_bad} and {2 * first_bad + 1}): the chosen and rejected "
            "sequences must start with the same prompt tokens (everything before the first trainable token)",
        )


def write_shard(path: str, examples: list[tuple[list[int], list[int]]], preference: bool = False) -> None:
    """Writes a version-1 shard from (tokens, mask) pairs; used by tests and benchmarks.
    `preference`: examples are given as chosen, rejected, chosen, rejected, …"""
    toks = np.concatenate([np.asarray(t, dtype="<u4") for t, _ in examples]) if examples else np.zeros(0, "<u4")
    mask = np.concatenate([np.asarray(m, dtype=np.uint8) for _, m in examples]) if examples else np.zeros(0, np.uint8)
    offsets = np.concatenate([[0], np.cumsum([len(t) for t, _ in examples])]).astype("<u8")
    align = lambda x: (x + 7) // 8 * 8  # noqa: E731
    tok_off = HEADER.size
    mask_off = align(tok_off + toks.nbytes)
    off_off = align(mask_off + mask.nbytes)
    flags = FLAG_PREFERENCE if preference else 0
    header = HEADER.pack(MAGIC, VERSION, 4, len(toks), len(examples), tok_off, mask_off, off_off, flags)
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(header)
        f.write(toks.tobytes())
        f.write(b"\0" * (mask_off - tok_off - toks.nbytes))
        f.write(mask.tobytes())
        f.write(b"\0" * (off_off - mask_off - mask.nbytes))
        f.write(offsets.tobytes())
    os.replace(tmp, path)
