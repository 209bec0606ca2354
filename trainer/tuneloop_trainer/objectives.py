"""Training objectives: supervised cross-entropy (SFT) and DPO (Rafailov et al. 2023).

An objective turns one micro-batch into the summed loss that is back-propagated and a
small float64 vector of sums (loss, hits, rewards, counts). Micro-batches and processes
add those vectors up; `fields()` divides once, at the end, into the numbers an event
reports. Summing first is what keeps a step's metrics independent of how its rows were
split between micro-batches and processes — the same rule the loss follows.

Token accuracy is argmax(logits) == target over the trainable targets, taken from the
logits the loss already computed: no second forward pass.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .data import collate, collate_pairs
from .lora import adapters_disabled


class LossStep(nn.Module):
    """The module DDP wraps: its forward is the whole loss, so DDP's hooks see every pass."""

    def __init__(self, lm, objective):
        super().__init__()
        self.lm, self.objective = lm, objective

    def forward(self, input_ids, position_ids, doc_ids, targets, target_mask, reference=None):
        return self.objective.compute(self.lm, input_ids, position_ids, doc_ids, targets, target_mask, reference)


def sequence_logps(lm, input_ids, position_ids, doc_ids, targets, target_mask):
    """Per row, the sum of log p(target) over its trainable targets (B,); per trainable
    target (N,), whether the argmax hit it and the row it belongs to."""
    logits = lm.target_logits(input_ids, position_ids, doc_ids, target_mask)  # (N, V)
    tgt = targets[target_mask]
    token_logps = -F.cross_entropy(logits, tgt, reduction="none")  # (N,)
    # a dense (B, T) layout and a row sum, not index_add: scatter-adds are not deterministic on CUDA
    per_token = torch.zeros(target_mask.shape, dtype=token_logps.dtype, device=tgt.device)
    rows = torch.arange(target_mask.shape[0], device=tgt.device)[:, None].expand_as(target_mask)[target_mask]
    return per_token.masked_scatter(target_mask, token_logps).sum(1), logits.argmax(-1) == tgt, rows


def _stack(values, device) -> torch.Tensor:
    return torch.stack([torch.as_tensor(v, device=device).double() for v in values]).detach()


class SFT:
    """Mean cross-entropy over a step's trainable tokens.
    Sums: [loss, argmax hits, trainable tokens]."""

    size = 3

    def units(self, trainable: np.ndarray, rows: list) -> int:
        """A step's normaliser: its trainable tokens."""
        return sum(int(trainable[r].sum()) for r in rows)

    def collate(self, shard, rows, lengths, pad_id):
        return collate(shard, rows, lengths, pad_id)

    def idle_rows(self, row):
        """Rows for the zero-weight pass a process without rows of its own runs (DDP)."""
        return [row[:1]]

    def reference(self, lm, batch, rows, split: str, runtime):
        return None

    def compute(self, lm, input_ids, position_ids, doc_ids, targets, target_mask, reference):
        logits = lm.target_logits(input_ids, position_ids, doc_ids, target_mask)  # (N, V)
        tgt = targets[target_mask]
        loss = F.cross_entropy(logits, tgt, reduction="sum")
        return loss, _stack([loss, (logits.argmax(-1) == tgt).sum(), logits.shape[0]], loss.device)

    def fields(self, s: list[float]) -> dict:
        return {"loss": s[0] / s[2], "tokenAccuracy": s[1] / s[2]}


class DPO:
    """The sigmoid DPO loss, mean over a step's pairs: −log σ(β·((π_c − ref_c) − (π_r − ref_r))),
    π and ref being log-probabilities summed over each completion's trainable tokens.

    Both sides of a pair are rows of one batch (chosen rows first, then rejected). The
    reference is the same network with its adapters switched off (LoRA), or log-probs
    computed once before training (full fine-tuning; reference.py), held in `tables`.
    Sums: [loss, chosen reward, rejected reward, pairs ranked right, argmax hits on
    chosen tokens, chosen tokens, pairs].
    """

    size = 7

    def __init__(self, beta: float, lora: bool):
        self.beta, self.lora = beta, lora
        self.tables: dict[str, torch.Tensor] = {}  # split → reference log-prob per example

    def units(self, trainable: np.ndarray, rows: list) -> int:
        return len(rows)

    def collate(self, shard, rows, lengths, pad_id):
        return collate_pairs(shard, rows, lengths, pad_id)

    def idle_rows(self, row):
        return [row]

    @torch.no_grad()
    def reference(self, lm, batch, rows, split: str, runtime):
        if self.lora:
            with adapters_disabled(lm), runtime.autocast():
                logps, _, _ = sequence_logps(
                    lm, batch.input_ids, batch.position_ids, batch.doc_ids, batch.targets, batch.target_mask
                )
            return logps
        index = torch.as_tensor([int(r[0]) for r in rows] + [int(r[1]) for r in rows])
        return self.tables[split][index].to(batch.input_ids.device)

    def compute(self, lm, input_ids, position_ids, doc_ids, targets, target_mask, reference):
        logps, hits, rows = sequence_logps(lm, input_ids, position_ids, doc_ids, targets, target_mask)  # (2m,)
        m = logps.shape[0] // 2
        on_chosen = rows < m
        chosen = self.beta * (logps[:m] - reference[:m])  # (m,) implicit rewards
        rejected = self.beta * (logps[m:] - reference[m:])
        losses = -F.logsigmoid(chosen - rejected)
        loss = losses.sum()
        sums = [
            loss,
            chosen.sum(),
            rejected.sum(),
            (chosen > rejected).sum(),
            hits[on_chosen].sum(),
            on_chosen.sum(),
            m,
        ]
        return loss, _stack(sums, loss.device)

    def fields(self, s: list[float]) -> dict:
        pairs = s[6]
        return {
            "loss": s[0] / pairs,
            "tokenAccuracy": s[4] / s[5],
            "rewardAccuracy": s[3] / pairs,
            "rewardMargin": (s[1] - s[2]) / pairs,
            "chosenReward": s[1] / pairs,
            "rejectedReward": s[2] / pairs,
        }


def make_objective(dpo: bool, beta: float, lora: bool):
    return DPO(beta, lora) if dpo else SFT()
