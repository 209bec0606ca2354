"""Every bad input ends with one `failed` event naming the problem, exit code 1, and a
one-line stderr message — never a traceback, never a training run on garbage."""
import json
import os
import struct

import pytest

from conftest import make_model_dir, make_spec, micro_config, random_examples, run_cli, run_train, write_examples
from tuneloop_trainer.shard import write_shard


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bad")
    model = make_model_dir(str(tmp / "model"))
    train = write_examples(str(tmp / "train.tlshard"), random_examples(8, seed=1))
    return tmp, model, train


def expect_failure(run, code: str, *fragments: str):
    assert run.returncode == 1, (run.returncode, run.stderr)
    assert run.stdout == ""
    failed = run.of("failed")
    assert len(failed) == 1 and run.events[-1] is failed[0], run.events
    assert failed[0]["code"] == code, failed[0]
    for fragment in fragments:
        assert fragment in failed[0]["message"], failed[0]["message"]
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {code}: "), run.stderr
    assert "Traceback" not in run.stderr
    assert not os.path.exists(os.path.join(os.path.dirname(os.path.dirname(failed[0]["message"])), "out/adapter"))


def test_unknown_architecture(base, tmp_path):
    tmp, model, train = base
    bad = make_model_dir(str(tmp_path / "gpt2"))
    cfg = json.load(open(os.path.join(bad, "config.json")))
    cfg.update(model_type="gpt2", architectures=["GPT2LMHeadModel"])
    json.dump(cfg, open(os.path.join(bad, "config.json"), "w"))
    expect_failure(run_train(make_spec(tmp_path, bad, train), tmp_path), "UNSUPPORTED_ARCHITECTURE", "'gpt2'")


def test_missing_model_folder_config_and_weights(base, tmp_path):
    tmp, model, train = base
    expect_failure(
        run_train(make_spec(tmp_path, str(tmp_path / "nowhere"), train), tmp_path), "MODEL_NOT_FOUND", "nowhere"
    )
    no_weights = make_model_dir(str(tmp_path / "noweights"))
    os.remove(os.path.join(no_weights, "model.safetensors"))
    expect_failure(run_train(make_spec(tmp_path, no_weights, train), tmp_path), "MISSING_WEIGHTS", "model.safetensors")
    missing_tensor = make_model_dir(str(tmp_path / "short"), micro_config(num_hidden_layers=1))
    cfg = json.load(open(os.path.join(missing_tensor, "config.json")))
    json.dump({**cfg, "num_hidden_layers": 2}, open(os.path.join(missing_tensor, "config.json"), "w"))
    expect_failure(run_train(make_spec(tmp_path, missing_tensor, train), tmp_path), "MISSING_TENSOR", "model.layers.1.")
    expect_failure(
        run_train(make_spec(tmp_path, model, str(tmp_path / "none.tlshard")), tmp_path),
        "SHARD_NOT_FOUND",
        "none.tlshard",
    )


def test_shard_without_trainable_tokens(base, tmp_path):
    tmp, model, _ = base
    prompts_only = write_examples(str(tmp_path / "p.tlshard"), [(t, [0] * len(t)) for t, _ in random_examples(5)])
    expect_failure(run_train(make_spec(tmp_path, model, prompts_only), tmp_path), "NO_TRAINABLE_TOKENS", "p.tlshard")
    # trainable tokens exist, but only past maxSeqLength: truncation leaves none
    late = write_examples(str(tmp_path / "late.tlshard"), [([5] * 30, [0] * 25 + [1] * 5)])
    expect_failure(
        run_train(make_spec(tmp_path, model, late, maxSeqLength=16), tmp_path), "NO_TRAINABLE_TOKENS", "maxSeqLength"
    )


def test_lora_rank_above_hidden_size(base, tmp_path):
    tmp, model, train = base
    expect_failure(
        run_train(make_spec(tmp_path, model, train, loraRank=64), tmp_path),
        "INVALID_SPEC",
        "loraRank 64",
        "hidden size 48",
    )


def test_nan_loss(base, tmp_path):
    # A learning rate high enough to diverge is now refused up front (learningRate ≤ 1),
    # so the loss is made non-finite by the model: an infinite output weight.
    import torch

    from tuneloop_trainer.hf_io import load_model, save_model

    tmp, model, train = base
    _, lm = load_model(model)
    with torch.no_grad():
        lm.lm_head.weight[7, 0] = float("inf")
    broken = str(tmp_path / "inf-model")
    make_model_dir(broken)
    save_model(lm, broken)
    spec = make_spec(tmp_path, broken, train, method="full", epochs=1, batchSize=2)
    run = run_train(spec, tmp_path)
    expect_failure(run, "NAN_LOSS", "learningRate", "check the base model")
    assert run.of("failed")[0]["step"] == 0 and not os.path.exists(spec["output"]["dir"])


def test_bad_shards(base, tmp_path):
    tmp, model, train = base
    raw = bytearray(open(train, "rb").read())
    wrong_magic = tmp_path / "magic.tlshard"
    wrong_magic.write_bytes(b"NOTSHARD" + raw[8:])
    expect_failure(run_train(make_spec(tmp_path, model, str(wrong_magic)), tmp_path), "INVALID_SHARD", "magic")
    truncated = tmp_path / "short.tlshard"
    truncated.write_bytes(raw[:-9])
    expect_failure(run_train(make_spec(tmp_path, model, str(truncated)), tmp_path), "INVALID_SHARD", "past the end")
    big_token = write_examples(str(tmp_path / "vocab.tlshard"), [([5, 6, 500], [0, 1, 1])])
    expect_failure(
        run_train(make_spec(tmp_path, model, big_token), tmp_path),
        "INVALID_SHARD",
        "token id 500",
        "vocabulary size 96",
    )
    bad_offsets = bytearray(raw)
    off = struct.unpack_from("<Q", bad_offsets, 48)[0]
    struct.pack_into("<Q", bad_offsets, off + 8, 0)  # example 0 becomes empty
    (tmp_path / "offsets.tlshard").write_bytes(bad_offsets)
    expect_failure(
        run_train(make_spec(tmp_path, model, str(tmp_path / "offsets.tlshard")), tmp_path),
        "INVALID_SHARD",
        "example 0 is empty",
    )


@pytest.mark.parametrize(
    "patch, fragment",
    [
        ({"hyperparameters": {"lerningRate": 1e-4}}, "hyperparameters.lerningRate: unknown field"),
        ({"hyperparameters": {"batchSize": 0}}, "hyperparameters.batchSize: must be an integer ≥ 1 and ≤ 1024, got 0"),
        ({"method": "qlora"}, 'method: must be one of "lora", "full"'),
        ({"hyperparameters": {"maxSeqLength": 4096}}, "exceeds the model's context length 128"),
        (
            {"hyperparameters": {"loraTargetModules": ["qkv"]}},
            "hyperparameters.loraTargetModules: must be a non-empty list",
        ),
        ({"version": 2}, "version: must be 1"),
        ({"hyperparameters": {"beta": 0}}, "hyperparameters.beta: must be a finite number > 0 and ≤ 2, got 0"),
        ({"hyperparameters": {"beta": 2.5}}, "hyperparameters.beta: must be a finite number > 0 and ≤ 2, got 2.5"),
        ({"trainable": "full"}, 'trainable: method "lora" trains lora weights'),
        ({"model": {"adapters": "x"}}, "model.adapters: must be a list of folder paths"),
    ],
)
def test_invalid_spec_fields(base, tmp_path, patch, fragment):
    tmp, model, train = base
    spec = make_spec(tmp_path, model, train)
    for k, v in patch.items():
        spec[k] = {**spec[k], **v} if isinstance(v, dict) else v
    expect_failure(run_train(spec, tmp_path), "INVALID_SPEC", fragment)


def test_preference_and_supervised_shards_go_to_their_own_method(base, tmp_path):
    tmp, model, train = base
    pairs = str(tmp_path / "pairs.tlshard")
    write_shard(pairs, [([5, 6, 7], [0, 0, 1]), ([5, 6, 8, 9], [0, 0, 1, 1])], preference=True)
    expect_failure(run_train(make_spec(tmp_path, model, pairs), tmp_path), "INVALID_SHARD", "train it with method dpo")
    expect_failure(
        run_train(make_spec(tmp_path, model, train, method="dpo"), tmp_path),
        "INVALID_SHARD",
        "method dpo needs a preference shard",
    )
    expect_failure(
        run_train(make_spec(tmp_path, model, pairs, train, method="dpo"), tmp_path),
        "INVALID_SHARD",
        "data.validation",
    )
    shifted = str(tmp_path / "shifted.tlshard")
    write_shard(shifted, [([5, 6, 7], [0, 0, 1]), ([5, 9, 8], [0, 0, 1])], preference=True)
    expect_failure(
        run_train(make_spec(tmp_path, model, shifted, method="dpo"), tmp_path), "INVALID_SHARD", "pair 0", "same prompt"
    )
    long_prompt = str(tmp_path / "long.tlshard")
    prompt = [1, 2, 3, 4, 5, 6] * 3  # 18 tokens: longer than the smallest maxSeqLength (16)
    examples = [
        ([5, 6, 7], [0, 0, 1]),
        ([5, 6, 8], [0, 0, 1]),
        (prompt + [7], [0] * 18 + [1]),
        (prompt + [8], [0] * 18 + [1]),
    ]
    write_shard(long_prompt, examples, preference=True)
    expect_failure(
        run_train(make_spec(tmp_path, model, long_prompt, method="dpo", maxSeqLength=16), tmp_path),
        "NO_TRAINABLE_TOKENS",
        "pair 1 keeps no chosen completion token within maxSeqLength=16",
    )


def test_usage_errors_exit_2_with_one_line(tmp_path):
    for args in (
        ["train"],
        ["train", "--spec", "x.json", "--events-fd", "notanumber"],
        ["init-model", "--size", "huge", "--out", "x"],
    ):
        r = run_cli(*args)
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr, r.stderr
    r = run_cli("train", "--spec", str(tmp_path / "s.json"), "--events-fd", "97")
    assert r.returncode == 2 and "--events-fd 97 is not an open file descriptor" in r.stderr


def test_resume_with_a_changed_spec_is_refused(base, tmp_path):
    tmp, model, train = base
    spec = make_spec(tmp_path, model, train, epochs=1, batchSize=8)
    first = run_train(spec, tmp_path)
    assert first.returncode == 0, first.stderr
    kept = os.listdir(spec["checkpoints"]["dir"])
    assert kept == ["step-00000001"]
    files = sorted(os.listdir(os.path.join(spec["checkpoints"]["dir"], kept[0])))
    assert files == ["adapter.safetensors", "optimizer.safetensors", "rng-rank0.safetensors", "trainer_state.json"]
    spec["hyperparameters"]["seed"] = 8
    expect_failure(run_train(spec, tmp_path, resume=True), "CHECKPOINT_MISMATCH", "seed=7", "8")
