"""From a shard to optimizer steps: truncation, shuffling, packing, micro-batches.

The whole plan (which examples form which row, which rows form which step) is computed
up front from the example lengths and the seed. That gives `totalSteps` before training,
makes the data position of a checkpoint just the step number, and lets every DDP rank
derive the same global batch without communication.

Semantics (PROTOCOL.md § Batches): each example is truncated to its first maxSeqLength
tokens; a *row* is one example, or with packing several whole examples filled greedily
up to maxSeqLength; batchSize rows make one optimizer step; examples are reshuffled
every epoch (numpy PCG64 seeded with [seed, epoch]). A preference shard (DPO) is planned
in pairs instead: a row is one pair (its two examples, never packed), pairs are shuffled.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .errors import TrainerError
from .shard import Shard

if TYPE_CHECKING:  # annotations only: preflight plans data without importing torch
    import torch


@dataclass
class Batch:
    input_ids: torch.Tensor  # (B, T) int64
    position_ids: torch.Tensor  # (B, T) int64, restarting at 0 for each example
    doc_ids: torch.Tensor  # (B, T) int64, index of the example within its row
    targets: torch.Tensor  # (B, T) int64, next token within the same example
    target_mask: torch.Tensor  # (B, T) bool, True where the loss counts
    tokens: int  # real (non-padding) tokens
    trainable: int

    def to(self, device) -> "Batch":
        t = {
            k: getattr(self, k).to(device, non_blocking=True)
            for k in ("input_ids", "position_ids", "doc_ids", "targets", "target_mask")
        }
        return Batch(**t, tokens=self.tokens, trainable=self.trainable)


def pack_rows(lengths: list[int], max_len: int) -> np.ndarray:
    """Row boundaries over a sequence of (already truncated) lengths, greedy in order."""
    bounds, cur = [0], 0
    for i, n in enumerate(lengths):
        if cur and cur + n > max_len:
            bounds.append(i)
            cur = 0
        cur += n
    bounds.append(len(lengths))
    return np.asarray(bounds, dtype=np.int64)


class Rows:
    """Rows of one pass over a shard: row r holds examples order[bounds[r]:bounds[r+1]];
    with `pairs`, `order` lists pairs and row r holds pair order[r]'s examples (2p, 2p+1)."""

    def __init__(self, order: np.ndarray, lengths: np.ndarray, max_len: int, packing: bool, pairs: bool = False):
        self.order, self.pairs = order, pairs
        if packing and not pairs:
            self.bounds = pack_rows(lengths[order].tolist(), max_len)
        else:
            self.bounds = np.arange(len(order) + 1)

    def __len__(self) -> int:
        return len(self.bounds) - 1

    def row(self, r: int) -> np.ndarray:
        if self.pairs:
            p = int(self.order[r])
            return np.array([2 * p, 2 * p + 1], dtype=np.int64)
        return self.order[self.bounds[r] : self.bounds[r + 1]]


def check_pairs_train(shard: Shard, trainable: np.ndarray, max_len: int) -> None:
    """A pair whose chosen or rejected side keeps no trainable token within maxSeqLength
    would compare a completion with nothing: refuse up front, naming the pair."""
    empty = np.flatnonzero(trainable == 0)
    if len(empty):
        e = int(empty[0])
        raise TrainerError(
            "NO_TRAINABLE_TOKENS",
            (
                f"{shard.path}: pair {e // 2} keeps no {'rejected' if e % 2 else 'chosen'} completion token within "
                f"maxSeqLength={max_len} (its prompt is too long); raise maxSeqLength or shorten that prompt"
            ),
        )


class TrainPlan:
    def __init__(self, shard: Shard, epochs: int, batch_size: int, max_len: int, packing: bool, seed: int):
        self.shard, self.batch_size, self.max_len = shard, batch_size, max_len
        self.lengths = np.minimum(shard.lengths(), max_len)
        self.trainable = shard.trainable_counts(max_len)
        if int(self.trainable.sum()) == 0:
            raise TrainerError(
                "NO_TRAINABLE_TOKENS",
                (
                    f"{shard.path}: no example has a trainable token (mask 1) within its first {max_len} tokens; "
                    "check the dataset's assistant turns or raise maxSeqLength"
                ),
            )
        self.pairs = shard.preference
        if self.pairs:
            check_pairs_train(shard, self.trainable, max_len)
        n = shard.num_examples // 2 if self.pairs else shard.num_examples
        self.epochs = [
            Rows(np.random.default_rng([seed, e]).permutation(n), self.lengths, max_len, packing, self.pairs)
            for e in range(epochs)
        ]
        self.steps_per_epoch = [-(-len(r) // batch_size) for r in self.epochs]
        self.epoch_start = np.concatenate([[0], np.cumsum(self.steps_per_epoch)]).astype(np.int64)
        self.total_steps = int(self.epoch_start[-1])
        self.total_tokens = int(self.lengths.sum()) * epochs

    def locate(self, step: int) -> tuple[int, int]:
        """0-based step → (epoch, step within that epoch)."""
        e = int(np.searchsorted(self.epoch_start, step, side="right") - 1)
        return e, step - int(self.epoch_start[e])

    def step_rows(self, step: int) -> list[np.ndarray]:
        e, i = self.locate(step)
        rows = self.epochs[e]
        return [rows.row(r) for r in range(i * self.batch_size, min(len(rows), (i + 1) * self.batch_size))]

    def step_tokens(self, step: int) -> int:
        return int(sum(self.lengths[r].sum() for r in self.step_rows(step)))

    def epoch_after(self, step: int) -> float:
        """Epochs completed once 0-based `step` is done, as a fraction (2.5 = half of the third)."""
        e, i = self.locate(step)
        return e + (i + 1) / self.steps_per_epoch[e]

    def is_epoch_end(self, step: int) -> bool:
        e, i = self.locate(step)
        return i == self.steps_per_epoch[e] - 1

    def check_every_step_trains(self) -> None:
        """A step whose rows hold no trainable token would train on a zero loss: refuse up front."""
        for step in range(self.total_steps):
            if sum(int(self.trainable[r].sum()) for r in self.step_rows(step)) == 0:
                e, _ = self.locate(step)
                raise TrainerError(
                    "NO_TRAINABLE_TOKENS",
                    (
                        f"optimizer step {step + 1} (epoch {e + 1}) would hold only examples without a trainable token "
                        f"within maxSeqLength={self.max_len}; raise maxSeqLength or batchSize, enable packing, "
                        "or remove examples without assistant tokens"
                    ),
                )


def eval_rows(shard: Shard, max_len: int, packing: bool) -> tuple[Rows, np.ndarray]:
    lengths = np.minimum(shard.lengths(), max_len)
    trainable = shard.trainable_counts(max_len)
    if int(trainable.sum()) == 0:
        raise TrainerError(
            "NO_TRAINABLE_TOKENS",
            f"validation shard {shard.path} has no trainable token within " f"maxSeqLength={max_len}",
        )
    if shard.preference:
        check_pairs_train(shard, trainable, max_len)
        return Rows(np.arange(shard.num_examples // 2), lengths, max_len, False, pairs=True), lengths
    return Rows(np.arange(shard.num_examples), lengths, max_len, packing), lengths


def collate(shard: Shard, rows: list[np.ndarray], lengths: np.ndarray, pad_id: int) -> Batch:
    """Rows of example indices → padded tensors. Padding continues the row's last example
    (same example id, following positions): causal attention keeps it out of real tokens."""
    import torch  # here, not at the top: preflight plans data without importing torch

    T = max(int(lengths[r].sum()) for r in rows)
    B = len(rows)
    ids = np.full((B, T), pad_id, dtype=np.int64)
    pos = np.zeros((B, T), dtype=np.int64)
    doc = np.zeros((B, T), dtype=np.int64)
    tgt = np.zeros((B, T), dtype=np.int64)
    tmask = np.zeros((B, T), dtype=bool)
    offsets = shard.offsets
    for b, row in enumerate(rows):
        c = 0
        for d, ex in enumerate(row.tolist()):
            o, n = int(offsets[ex]), int(lengths[ex])
            toks = shard.tokens[o : o + n]
            ids[b, c : c + n] = toks
            pos[b, c : c + n] = np.arange(n)
            doc[b, c : c + n] = d
            tgt[b, c : c + n - 1] = toks[1:]
            tmask[b, c : c + n - 1] = shard.mask[o + 1 : o + n] != 0
            c += n
        if c < T:
            doc[b, c:] = len(row) - 1
            pos[b, c:] = np.arange(n, n + T - c)
    return Batch(
        torch.from_numpy(ids),
        torch.from_numpy(pos),
        torch.from_numpy(doc),
        torch.from_numpy(tgt),
        torch.from_numpy(tmask),
        tokens=int(sum(int(lengths[r].sum()) for r in rows)),
        trainable=int(tmask.sum()),
    )


def collate_pairs(shard: Shard, rows: list[np.ndarray], lengths: np.ndarray, pad_id: int) -> Batch:
    """Pairs → one batch of 2m rows: the m chosen sequences, then the m rejected ones."""
    return collate(shard, [r[:1] for r in rows] + [r[1:] for r in rows], lengths, pad_id)


def split_micro(rows: list, micro: int, rank: int, world: int) -> list[list]:
    """A step's rows → this rank's micro-batches (round-robin), padded with [] so that every
    rank runs the same number of forward/backward passes (DDP needs them matched)."""
    chunks = [rows[i : i + micro] for i in range(0, len(rows), micro)]
    per_rank = -(-len(chunks) // world)
    mine = chunks[rank::world]
    return mine + [[]] * (per_rank - len(mine))
