"""Data parallelism: two gloo processes under torchrun train exactly like one process."""
import pytest

from conftest import PYTHON, make_model_dir, make_spec, random_examples, run_train, write_examples
from test_dpo import preference_pairs, write_pairs

# Debian's torch 1.13 on Python 3.11 cannot parse torchrun's default --redirects/--tee "0"
# (enum iteration changed in 3.11); "1" parses, and our stdout is empty anyway.
TORCHRUN = [
    PYTHON,
    "-m",
    "torch.distributed.run",
    "--standalone",
    "--nproc_per_node=2",
    "--redirects",
    "1",
    "--tee",
    "1",
    "--monitor_interval",
    "0.2",
    "-m",
]


@pytest.mark.parametrize("method, trainable", [("full", "full"), ("lora", "lora"), ("dpo", "lora"), ("dpo", "full")])
def test_two_gloo_processes_match_one_process(tmp_path, method, trainable):
    model = make_model_dir(str(tmp_path / "model"))
    if method == "dpo":
        train = write_pairs(str(tmp_path / "train.tlshard"), preference_pairs(24, seed=6))
        val = write_pairs(str(tmp_path / "val.tlshard"), preference_pairs(5, seed=7))
    else:
        train = write_examples(str(tmp_path / "train.tlshard"), random_examples(24, seed=6))
        val = write_examples(str(tmp_path / "val.tlshard"), random_examples(5, seed=7))
    # 3 rows per step in micro-batches of 1: rank 0 runs two passes, rank 1 one pass plus a
    # zero-weight pass, which exercises the uneven split
    hp = dict(
        method=method,
        epochs=2,
        batchSize=3,
        microBatchSize=1,
        packing=False,
        evalEvery=4,
        learningRate=1e-3 if trainable == "full" else 3e-3,
    )

    def spec(name):
        return {**make_spec(tmp_path / name, model, train, val, **hp), "trainable": trainable}

    one = run_train(spec("one"), tmp_path)
    two = run_train(
        spec("two"),
        tmp_path,
        launcher=TORCHRUN,
        env={"GLOO_SOCKET_IFNAME": "lo", "OMP_NUM_THREADS": "1"},
    )
    assert one.returncode == 0, one.stderr
    assert two.returncode == 0, two.stderr
    assert two.events[0]["worldSize"] == 2 and one.events[0]["worldSize"] == 1
    assert two.events[0]["totalSteps"] == one.events[0]["totalSteps"]
    assert len(two.of("started")) == 1 and len(two.of("completed")) == 1, "rank 0 alone emits events"
    a, b = one.losses(), two.losses()
    assert len(a) == len(b)
    assert max(abs(x - y) for x, y in zip(a, b)) <= 1e-5, list(zip(a, b))
    ea, eb = [e["loss"] for e in one.of("eval")], [e["loss"] for e in two.of("eval")]
    assert len(ea) == len(eb) and max(abs(x - y) for x, y in zip(ea, eb)) <= 1e-5
    for key in ("tokenAccuracy", "validLoss") + (("rewardMargin", "chosenReward") if method == "dpo" else ()):
        xs, ys = [e.get(key) for e in one.of("step")], [e.get(key) for e in two.of("step")]
        assert [x is None for x in xs] == [y is None for y in ys], key
        assert max(abs(x - y) for x, y in zip(xs, ys) if x is not None) <= 1e-5, key
    assert [e["tokens"] for e in one.of("step")] == [e["tokens"] for e in two.of("step")]
