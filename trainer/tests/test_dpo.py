"""Preference tuning (DPO): the loss against its formula, the reference model, exact resume,
and a toy run that learns which answer is preferred."""
import math
import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from conftest import (
    make_model_dir,
    make_spec,
    micro_config,
    random_examples,
    run_train,
    sigterm_after_step,
    write_examples,
)
from tuneloop_trainer.data import Rows, collate
from tuneloop_trainer.device import Runtime
from tuneloop_trainer.lora import apply_lora
from tuneloop_trainer.model import CausalLM
from tuneloop_trainer.objectives import DPO, SFT
from tuneloop_trainer.shard import open_shard, write_shard

CPU = Runtime(torch.device("cpu"), "fp32", 1)


def preference_pairs(n: int, seed: int = 0, vocab: int = 96):
    """Pairs sharing a random prompt; the chosen answer repeats token 20 + p % 5, the
    rejected one 40 + p % 5 (p = the prompt's first token), each ending with eos (2)."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        prompt = [rng.randint(3, vocab - 1) for _ in range(rng.randint(3, 8))]
        for base in (20, 40):
            answer = [base + prompt[0] % 5] * rng.randint(2, 4) + [2]
            out.append((prompt + answer, [0] * len(prompt) + [1] * len(answer)))
    return out


def write_pairs(path: str, pairs) -> str:
    write_shard(path, pairs, preference=True)
    return path


def sequence_logp(model, tokens, mask) -> torch.Tensor:
    """Σ log p(token j | tokens < j) over j ≥ 1 with mask 1: one unpadded sequence, plain forward."""
    logits, _ = model(torch.tensor([tokens]))
    logps = logits[0, :-1].log_softmax(-1).gather(1, torch.tensor(tokens[1:])[:, None])[:, 0]
    return (logps * torch.tensor(mask[1:], dtype=torch.float32)).sum()


def test_dpo_loss_equals_the_formula_on_a_fixed_batch(tmp_path):
    torch.manual_seed(0)
    base = CausalLM(micro_config())
    base.init_weights(5)
    policy = CausalLM(micro_config())
    policy.load_state_dict(base.state_dict())
    apply_lora(policy, ["q_proj", "v_proj", "down_proj"], 4, 8.0, 0.0)
    with torch.no_grad():  # an adapter that has moved away from zero
        for name, p in policy.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.05)
    pairs = preference_pairs(3, seed=1)
    shard = open_shard(write_pairs(str(tmp_path / "p.tlshard"), pairs))
    rows = Rows(np.arange(3), shard.lengths(), 64, False, pairs=True)
    beta, obj = 0.3, DPO(0.3, lora=True)
    chunk = [rows.row(r) for r in range(3)]
    b = obj.collate(shard, chunk, shard.lengths(), 0)
    policy.eval(), base.eval()
    with torch.no_grad():
        ref = obj.reference(policy, b, chunk, "train", CPU)
        loss, sums = obj.compute(policy, b.input_ids, b.position_ids, b.doc_ids, b.targets, b.target_mask, ref)
        got = obj.fields(sums.tolist())
        losses, chosen, rejected = [], [], []
        for c, r in zip(pairs[0::2], pairs[1::2]):
            rc, rr = beta * (sequence_logp(policy, *c) - sequence_logp(base, *c)), beta * (
                sequence_logp(policy, *r) - sequence_logp(base, *r)
            )
            losses.append(-F.logsigmoid(rc - rr).item())
            chosen.append(rc.item())
            rejected.append(rr.item())
    assert abs(got["loss"] - sum(losses) / 3) <= 1e-5 and abs(loss.item() - sum(losses)) <= 3e-5
    assert abs(got["loss"] - math.log(2)) > 1e-3, "the adapter must make policy and reference differ"
    assert abs(got["chosenReward"] - sum(chosen) / 3) <= 1e-5
    assert abs(got["rejectedReward"] - sum(rejected) / 3) <= 1e-5
    assert abs(got["rewardMargin"] - (sum(chosen) - sum(rejected)) / 3) <= 1e-5
    assert got["rewardAccuracy"] == sum(c > r for c, r in zip(chosen, rejected)) / 3


def test_token_accuracy_counts_argmax_hits_on_trainable_targets(tmp_path):
    torch.manual_seed(0)
    model = CausalLM(micro_config())
    model.init_weights(6)
    ex = random_examples(4, seed=3)
    shard = open_shard(write_examples(str(tmp_path / "s.tlshard"), ex))
    b = collate(shard, [np.array([i]) for i in range(4)], shard.lengths(), 0)
    with torch.no_grad():
        _, sums = SFT().compute(model.eval(), b.input_ids, b.position_ids, b.doc_ids, b.targets, b.target_mask, None)
        hits = total = 0
        for tokens, mask in ex:
            logits, _ = model(torch.tensor([tokens]))
            pred = logits[0, :-1].argmax(-1).tolist()
            for j in range(1, len(tokens)):
                if mask[j]:
                    hits, total = hits + (pred[j - 1] == tokens[j]), total + 1
    assert SFT().fields(sums.tolist())["tokenAccuracy"] == hits / total and total == b.trainable


@pytest.fixture(scope="module")
def sft_lora(tmp_path_factory):
    """A LoRA SFT fine-tune to continue from (its adapter is not the identity)."""
    tmp = tmp_path_factory.mktemp("sft")
    model = make_model_dir(str(tmp / "model"))
    train = write_examples(str(tmp / "sft.tlshard"), [p for p in preference_pairs(16, seed=2)])
    run = run_train(make_spec(tmp, model, train, epochs=1, batchSize=4, output={"mergeLora": True}), tmp)
    assert run.returncode == 0, run.stderr
    return tmp, model, run.of("completed")[0]["outputs"]


def test_first_step_of_lora_dpo_has_policy_equal_to_reference(sft_lora, tmp_path):
    """Continuing from an SFT adapter, adapters off = the SFT model: at step 1 every reward
    is 0 and the loss is log 2 exactly as far as float32 goes."""
    _, model, sft = sft_lora
    train = write_pairs(str(tmp_path / "train.tlshard"), preference_pairs(8, seed=3))
    spec = make_spec(tmp_path, model, train, method="dpo", epochs=1, batchSize=4, loraDropout=0.1, beta=0.5)
    spec["model"]["adapters"] = [sft["adapter"]]
    run = run_train(spec, tmp_path)
    assert run.returncode == 0, run.stderr
    started, first = run.events[0], run.of("step")[0]
    assert started["method"] == "dpo" and started["trainable"] == "lora"
    assert abs(first["loss"] - math.log(2)) <= 1e-6, first
    assert first["chosenReward"] == first["rejectedReward"] == first["rewardMargin"] == 0.0
    assert first["rewardAccuracy"] == 0.0 and 0 <= first["tokenAccuracy"] <= 1
    assert run.of("step")[1]["rewardMargin"] != 0.0, "after one update the policy has moved"
    out = run.of("completed")[0]["outputs"]
    assert out["adapter"] and out["model"] is None


@pytest.mark.parametrize("trainable", ["lora", "full"])
def test_dpo_sigterm_then_resume_reproduces_the_uninterrupted_run(tmp_path, trainable):
    model = make_model_dir(str(tmp_path / "model"))
    train = write_pairs(str(tmp_path / "train.tlshard"), preference_pairs(24, seed=4))
    val = write_pairs(str(tmp_path / "val.tlshard"), preference_pairs(3, seed=5))
    hp = dict(
        method="dpo",
        epochs=2,
        batchSize=3,
        microBatchSize=2,
        loraDropout=0.1,
        evalEvery=5,
        evalBatchEvery=3,
        beta=0.2,
        learningRate=1e-3 if trainable == "full" else 5e-3,
    )

    def spec(name, **extra):
        s = make_spec(tmp_path / name, model, train, val, **hp, **extra)
        s["trainable"] = trainable
        return s

    whole = run_train(spec("a"), tmp_path)
    assert whole.returncode == 0, whole.stderr
    stop_spec = spec("b", checkpoints={"every": 4})
    first = run_train(stop_spec, tmp_path, on_event=sigterm_after_step(6))
    assert first.returncode == 75, first.stderr
    second = run_train(stop_spec, tmp_path, resume=True)
    assert second.returncode == 0, second.stderr
    assert second.events[0]["resumedFromStep"] == first.of("stopped")[0]["step"]

    def metrics(events, kind):
        return [
            {k: v for k, v in e.items() if k not in ("time", "tokensPerSecond")} for e in events if e["type"] == kind
        ]

    for kind in ("step", "eval"):
        assert metrics(first.events + second.events, kind) == metrics(whole.events, kind), kind
    steps = metrics(whole.events, "step")
    assert [s["step"] for s in steps if "validLoss" in s] == [3, 6, 9, 12, 15]
    assert all({"rewardAccuracy", "chosenReward", "rejectedReward", "rewardMargin"} <= set(s) for s in steps)
    assert whole.events[0]["totalTokens"] == sum(len(t) for t, _ in preference_pairs(24, seed=4)) * 2


def toy_spec(tmp_path, trainable: str = "lora", **kw) -> dict:
    """A DPO job on 32 toy pairs (8 for validation) that a micro model learns in 3 epochs."""
    model = make_model_dir(str(tmp_path / "model"))
    train = write_pairs(str(tmp_path / "train.tlshard"), preference_pairs(32, seed=6))
    val = write_pairs(str(tmp_path / "val.tlshard"), preference_pairs(8, seed=7))
    lr = 1e-2 if trainable == "lora" else 1e-3
    hp = dict(method="dpo", epochs=3, batchSize=8, learningRate=lr, lrScheduler="constant", **kw)
    return {**make_spec(tmp_path, model, train, val, **hp), "trainable": trainable}


def test_a_small_dpo_run_learns_the_preferred_answers(tmp_path):
    spec = toy_spec(tmp_path)
    run = run_train(spec, tmp_path)
    assert run.returncode == 0, run.stderr
    steps = run.of("step")
    assert steps[0]["rewardAccuracy"] == 0.0 and abs(steps[0]["loss"] - math.log(2)) <= 1e-6
    last_epoch = [s["rewardAccuracy"] for s in steps[-4:]]
    assert sum(last_epoch) / len(last_epoch) > 0.9, [s["rewardAccuracy"] for s in steps]
    final = run.of("eval")[-1]
    assert final["rewardAccuracy"] > 0.9 and final["rewardMargin"] > 0 and final["loss"] < math.log(2), final


def test_full_dpo_stores_reference_log_probs_with_the_run(tmp_path):
    model = make_model_dir(str(tmp_path / "model"))
    train = write_pairs(str(tmp_path / "train.tlshard"), preference_pairs(6, seed=8))
    spec = make_spec(tmp_path, model, train, method="dpo", epochs=1, batchSize=3, learningRate=1e-3)
    spec["trainable"] = "full"
    run = run_train(spec, tmp_path)
    assert run.returncode == 0, run.stderr
    from tuneloop_trainer import safetensors_io as st

    tables = st.load_file(str(tmp_path / "checkpoints" / "reference-logps.safetensors"))
    assert set(tables) == {"train"} and tables["train"].shape == (12,) and bool((tables["train"] < 0).all())
    first = run.of("step")[0]
    # precomputed in other batches than the step's: equal up to float32 rounding
    assert abs(first["loss"] - math.log(2)) <= 1e-5 and abs(first["rewardMargin"]) <= 1e-5
    assert run.events[0]["trainable"] == "full" and run.of("completed")[0]["outputs"]["adapter"] is None


@pytest.mark.parametrize("trainable", ["lora", "full"])
def test_dpo_killed_then_resumed_from_its_checkpoint_repeats_the_uninterrupted_steps(tmp_path, trainable):
    """kill -9 (no checkpoint on the way out) once step 6 is reported, with checkpoints every
    4 steps: resuming from the newest checkpoint reproduces the uninterrupted run's later
    steps exactly (for full DPO the stored reference log-probs are reused, not recomputed
    from moved weights). The kill races the trainer's next steps, so the checkpoint resumed
    from is read back rather than assumed."""
    import signal

    model = make_model_dir(str(tmp_path / "model"))
    train = write_pairs(str(tmp_path / "train.tlshard"), preference_pairs(24, seed=11))
    lr = 1e-3 if trainable == "full" else 5e-3
    hp = dict(method="dpo", epochs=2, batchSize=3, loraDropout=0.1, beta=0.3, learningRate=lr)

    def spec(name):
        s = make_spec(tmp_path / name, model, train, **hp, checkpoints={"every": 4})
        s["trainable"] = trainable
        return s

    whole = run_train(spec("a"), tmp_path)
    assert whole.returncode == 0, whole.stderr
    killed_spec = spec("b")

    def kill_after_step_6(event, proc):
        if event["type"] == "step" and event["step"] == 6:
            proc.send_signal(signal.SIGKILL)

    killed = run_train(killed_spec, tmp_path, on_event=kill_after_step_6)
    assert killed.returncode == -signal.SIGKILL, "killed before its 16 steps ended"
    resumed = run_train(killed_spec, tmp_path, resume=True)
    assert resumed.returncode == 0, resumed.stderr
    start = resumed.events[0]["resumedFromStep"]
    assert start in (4, 8, 12) and start <= killed.of("step")[-1]["step"]

    def metrics(events):
        return [
            {k: v for k, v in e.items() if k not in ("time", "tokensPerSecond")} for e in events if e["type"] == "step"
        ]

    assert metrics(resumed.events) == metrics(whole.events)[start:]
