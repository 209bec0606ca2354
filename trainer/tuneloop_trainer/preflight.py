"""Checks that need no torch, run before torch is imported (~1 s saved per bad job).

A bad spec, model folder or shard fails in ~0.1 s with its `failed` event; only a job
that passed all of these pays for importing torch and loading weights. What it computes
(config, data plan, LoRA targets) is handed to the recipe as `Prepared`.
"""
from __future__ import annotations

from dataclasses import dataclass

from .config import ModelConfig, load_config
from .continued import AdapterSource, check_init
from .data import Rows, TrainPlan, eval_rows
from .errors import TrainerError
from .model_folder import LORA_TARGETS, check_tensors
from .safetensors_io import folder_tensor_infos
from .shard import Shard, open_shard
from .spec import Spec


@dataclass
class Prepared:
    config: ModelConfig
    plan: TrainPlan
    val: tuple[Shard, Rows, object] | None  # shard, rows, truncated lengths
    targets: list[str] | None  # LoRA target module names
    micro: int  # rows (DPO: pairs) per forward pass
    init: list[AdapterSource]  # continued training: adapters to merge before training


def resolve_targets(names: list[str]) -> list[str]:
    if names == ["all-linear"]:
        return list(LORA_TARGETS)
    bad = [n for n in names if n not in LORA_TARGETS]
    if bad:
        raise TrainerError(
            "INVALID_SPEC",
            f"hyperparameters.loraTargetModules: unknown module {bad[0]}; "
            f"use names from {', '.join(LORA_TARGETS)} or [\"all-linear\"]",
        )
    return sorted(set(names), key=LORA_TARGETS.index)


def linear_shapes(c: ModelConfig) -> dict[str, tuple[int, int]]:
    """(out, in) of each LoRA-targetable linear of a layer."""
    h, q, kv, i = (
        c.hidden_size,
        c.num_attention_heads * c.head_dim,
        c.num_key_value_heads * c.head_dim,
        c.intermediate_size,
    )
    return {
        "q_proj": (q, h),
        "k_proj": (kv, h),
        "v_proj": (kv, h),
        "o_proj": (h, q),
        "gate_proj": (i, h),
        "up_proj": (i, h),
        "down_proj": (h, i),
    }


def check_lora_rank(c: ModelConfig, targets: list[str], rank: int) -> None:
    """A rank above min(out, in) of a target adds parameters but no expressiveness."""
    shapes = linear_shapes(c)
    for name in targets:
        out, inp = shapes[name]
        if rank > min(out, inp):
            raise TrainerError(
                "INVALID_SPEC",
                (
                    f"hyperparameters.loraRank {rank} is above the size of {name} ({out}×{inp}; model hidden size "
                    f"{c.hidden_size}); use loraRank ≤ {min(min(shapes[t]) for t in targets)}"
                ),
            )


def preflight(spec: Spec, world: int) -> Prepared:
    hp = spec.hp
    config = load_config(spec.model_path)
    check_tensors(config, folder_tensor_infos(spec.model_path), spec.model_path)
    if hp.maxSeqLength > config.max_position_embeddings:
        raise TrainerError(
            "INVALID_SPEC",
            (
                f"hyperparameters.maxSeqLength {hp.maxSeqLength} exceeds the model's context length "
                f"{config.max_position_embeddings}; set it ≤ {config.max_position_embeddings}"
            ),
        )
    init = check_init(config, spec.init_weights, spec.init_adapters)
    targets = None
    if spec.trainable == "lora":
        targets = resolve_targets(hp.loraTargetModules)
        check_lora_rank(config, targets, hp.loraRank)
    shard = check_kind(open_shard(spec.train_path, config.vocab_size), spec.method, "data.train")
    plan = TrainPlan(shard, hp.epochs, hp.batchSize, hp.maxSeqLength, hp.packing, hp.seed)
    plan.check_every_step_trains()
    val = None
    if spec.validation_path:
        vshard = check_kind(open_shard(spec.validation_path, config.vocab_size), spec.method, "data.validation")
        val = (vshard, *eval_rows(vshard, hp.maxSeqLength, hp.packing))
    micro = hp.microBatchSize or -(-hp.batchSize // world)
    return Prepared(config, plan, val, targets, micro, init)


def check_kind(shard: Shard, method: str, field: str) -> Shard:
    """DPO trains on preference pairs and nothing else; SFT on a preference shard would
    learn the rejected answers as well as the chosen ones."""
    if method == "dpo" and not shard.preference:
        raise TrainerError(
            "INVALID_SHARD",
            f"{field}: {shard.path} is a supervised shard; method dpo needs a preference shard (FORMAT.md)",
        )
    if method != "dpo" and shard.preference:
        raise TrainerError(
            "INVALID_SHARD", f"{field}: {shard.path} is a preference shard; train it with method dpo, not {method}"
        )
    return shard
