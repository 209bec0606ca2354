"""Shard reading, the data plan (what the billing formula relies on) and packing isolation."""
import numpy as np
import pytest
import torch

from conftest import micro_config, random_examples, write_examples
from tuneloop_trainer.data import TrainPlan, collate, pack_rows, split_micro
from tuneloop_trainer.errors import TrainerError
from tuneloop_trainer.model import CausalLM
from tuneloop_trainer.shard import open_shard
from tuneloop_trainer.spec import parse_spec


def test_shard_round_trip_and_trainable_counts(tmp_path):
    ex = random_examples(50, seed=0, min_len=3, max_len=40)
    shard = open_shard(write_examples(str(tmp_path / "s.tlshard"), ex), vocab_size=96)
    assert shard.num_examples == 50 and shard.num_tokens == sum(len(t) for t, _ in ex)
    assert shard.tokens[shard.offsets[3] : shard.offsets[4]].tolist() == ex[3][0]
    for max_len in (2, 7, 40, 1000):
        want = [sum(m[1 : min(len(m), max_len)]) for _, m in ex]
        assert shard.trainable_counts(max_len).tolist() == want


@pytest.mark.parametrize("packing", [True, False])
def test_plan_covers_every_example_once_per_epoch_and_counts_billing_tokens(tmp_path, packing):
    ex = random_examples(37, seed=1, min_len=3, max_len=70)
    shard = open_shard(write_examples(str(tmp_path / "s.tlshard"), ex))
    plan = TrainPlan(shard, epochs=3, batch_size=4, max_len=32, packing=packing, seed=5)
    per_epoch = [[] for _ in range(3)]
    for step in range(plan.total_steps):
        e, _ = plan.locate(step)
        rows = plan.step_rows(step)
        assert 1 <= len(rows) <= 4
        for r in rows:
            assert plan.lengths[r].sum() <= 32, "a packed row never exceeds maxSeqLength"
            per_epoch[e].extend(r.tolist())
    assert all(sorted(p) == list(range(37)) for p in per_epoch)
    assert per_epoch[0] != per_epoch[1], "examples are reshuffled every epoch"
    billed = sum(min(len(t), 32) for t, _ in ex) * 3
    assert plan.total_tokens == billed == sum(plan.step_tokens(s) for s in range(plan.total_steps))
    again = TrainPlan(shard, epochs=3, batch_size=4, max_len=32, packing=packing, seed=5)
    assert all(
        np.array_equal(a, b) for s in range(plan.total_steps) for a, b in zip(plan.step_rows(s), again.step_rows(s))
    )
    if not packing:
        assert plan.total_steps == 3 * 10


def test_pack_rows_and_micro_batch_split():
    assert pack_rows([5, 5, 5, 9, 1, 2], 10).tolist() == [0, 2, 3, 5, 6]
    assert pack_rows([12, 3], 10).tolist() == [0, 1, 2]  # an example is never split
    rows = list(range(7))
    assert split_micro(rows, 2, 0, 2) == [[0, 1], [4, 5]]
    assert split_micro(rows, 2, 1, 2) == [[2, 3], [6]]
    assert split_micro(rows[:5], 2, 1, 2) == [[2, 3], []]  # padded: both ranks run two passes


def _per_token_loss(model, batch):
    h, _ = model.hidden_states(
        batch.input_ids, batch.position_ids, model.packed_masks(batch.doc_ids, batch.position_ids)
    )
    logits = model.lm_head(h)
    return torch.nn.functional.cross_entropy(logits.transpose(1, 2), batch.targets, reduction="none")


def test_packing_leaks_nothing_between_examples(tmp_path):
    """Changing example 1 leaves the losses of examples 0 and 2 in the same row unchanged,
    and each equals the loss of that example trained alone (positions restart at 0)."""
    torch.manual_seed(0)
    model = CausalLM(micro_config())
    model.init_weights(4)
    ex = random_examples(3, seed=2, min_len=8, max_len=12)
    changed = [ex[0], ([(t + 7) % 90 + 3 for t in ex[1][0]] + [5, 6], ex[1][1] + [1, 1]), ex[2]]
    a = open_shard(write_examples(str(tmp_path / "a.tlshard"), ex))
    b = open_shard(write_examples(str(tmp_path / "b.tlshard"), changed))
    row = [np.arange(3)]
    ba = collate(a, row, np.minimum(a.lengths(), 64), 0)
    bb = collate(b, row, np.minimum(b.lengths(), 64), 0)
    assert ba.doc_ids[0].tolist() == [0] * len(ex[0][0]) + [1] * len(ex[1][0]) + [2] * len(ex[2][0])
    with torch.no_grad():
        la, lb = _per_token_loss(model, ba)[0], _per_token_loss(model, bb)[0]
        n0, n1a, n1b = len(ex[0][0]), len(ex[1][0]), len(changed[1][0])
        assert torch.equal(la[:n0], lb[:n0])
        assert (la[n0 + n1a : n0 + n1a + len(ex[2][0])] - lb[n0 + n1b : n0 + n1b + len(ex[2][0])]).abs().max() <= 1e-6
        alone = collate(a, [np.array([2])], np.minimum(a.lengths(), 64), 0)
        l2 = _per_token_loss(model, alone)[0]
        assert (l2 - la[n0 + n1a :]).abs().max() <= 1e-5
        # and the packed step loss equals the unpacked one over the same examples
        unpacked = collate(a, [np.array([i]) for i in range(3)], np.minimum(a.lengths(), 64), 0)
        lp, np_ = model.loss_sum(ba.input_ids, ba.position_ids, ba.doc_ids, ba.targets, ba.target_mask)
        lu, nu = model.loss_sum(
            unpacked.input_ids, unpacked.position_ids, unpacked.doc_ids, unpacked.targets, unpacked.target_mask
        )
        assert np_ == nu == ba.trainable and abs(lp.item() / np_ - lu.item() / nu) <= 1e-5


def test_spec_defaults_and_relative_paths():
    spec = parse_spec(
        {
            "version": 1,
            "jobId": "j",
            "model": {"path": "m"},
            "method": "full",
            "data": {"train": "t.tlshard"},
            "checkpoints": {"dir": "ck"},
            "output": {"dir": "/abs/out"},
        },
        base_dir="/jobs/1",
    )
    assert spec.model_path == "/jobs/1/m" and spec.output_dir == "/abs/out" and spec.validation_path is None
    assert spec.learning_rate == 2e-5 and spec.hp.batchSize == 8 and spec.hp.packing is True
    assert spec.checkpoints_every == 0 and spec.checkpoints_keep == 2 and spec.runtime.dtype == "auto"
    with pytest.raises(TrainerError, match="warmupSteps or warmupRatio, not both"):
        parse_spec(
            {
                "version": 1,
                "jobId": "j",
                "model": {"path": "m"},
                "method": "lora",
                "data": {"train": "t"},
                "checkpoints": {"dir": "c"},
                "output": {"dir": "o"},
                "hyperparameters": {"warmupSteps": 1, "warmupRatio": 0.1},
            }
        )
    with pytest.raises(TrainerError, match="evalEvery: needs data.validation"):
        parse_spec(
            {
                "version": 1,
                "jobId": "j",
                "model": {"path": "m"},
                "method": "lora",
                "data": {"train": "t"},
                "checkpoints": {"dir": "c"},
                "output": {"dir": "o"},
                "hyperparameters": {"evalEvery": 5},
            }
        )


def test_a_step_without_trainable_tokens_is_refused_up_front(tmp_path):
    ex = [([5] * 10, [0] * 10), ([5] * 10, [0] * 9 + [1])]
    shard = open_shard(write_examples(str(tmp_path / "s.tlshard"), ex))
    plan = TrainPlan(shard, epochs=1, batch_size=1, max_len=16, packing=False, seed=0)
    with pytest.raises(TrainerError, match="would hold only examples without a trainable token") as e:
        plan.check_every_step_trains()
    assert e.value.code == "NO_TRAINABLE_TOKENS"
    TrainPlan(shard, epochs=1, batch_size=2, max_len=16, packing=False, seed=0).check_every_step_trains()
