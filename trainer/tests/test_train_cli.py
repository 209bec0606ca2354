"""The real `train` command as the worker runs it: a spec, a pipe for events, exit codes."""
import json
import os

import pytest
import torch

from conftest import make_model_dir, make_spec, random_examples, run_train, sigterm_after_step, write_examples
from tuneloop_trainer import safetensors_io as st
from tuneloop_trainer.hf_io import load_model
from tuneloop_trainer.lora import PEFT_PREFIX, apply_lora


@pytest.fixture(scope="module")
def lora_run(tmp_path_factory):
    """One LoRA job with validation, merge and ONNX export, shared by the tests below."""
    tmp = tmp_path_factory.mktemp("lora")
    model = make_model_dir(str(tmp / "model"))
    examples = random_examples(30, seed=1)
    train = write_examples(str(tmp / "train.tlshard"), examples)
    val = write_examples(str(tmp / "val.tlshard"), random_examples(6, seed=2))
    spec = make_spec(
        tmp,
        model,
        train,
        val,
        epochs=2,
        batchSize=4,
        microBatchSize=2,
        maxSeqLength=20,
        evalEvery=3,
        loraDropout=0.1,
        lrScheduler="linear",
        warmupSteps=2,
        output={"mergeLora": True, "exportOnnx": True},
        checkpoints={"every": 5, "keep": 2},
    )
    return tmp, spec, examples, run_train(spec, tmp)


def test_lora_run_emits_the_documented_events(lora_run):
    _, spec, _, run = lora_run
    assert run.returncode == 0, run.stderr
    assert run.stdout == "", "events and logs must never go to stdout"
    types = [e["type"] for e in run.events]
    assert types[0] == "started" and types[-1] == "completed"
    started = run.events[0]
    assert started["resumedFromStep"] is None and started["method"] == "lora" and started["dtype"] == "fp32"
    assert 0 < started["trainableParameters"] < started["parameters"]
    steps = run.of("step")
    assert [e["step"] for e in steps] == list(range(1, started["totalSteps"] + 1))
    assert steps[-1]["epoch"] == pytest.approx(2.0)
    # token accuracy on every step and evaluation; a validation batch on ~20 steps of the run
    assert all(0 <= e["tokenAccuracy"] <= 1 for e in steps + run.of("eval"))
    every = -(-started["totalSteps"] // 20)
    assert [e["step"] for e in steps if "validLoss" in e] == list(range(every, started["totalSteps"] + 1, every))
    # linear warmup over 2 steps from 0, then linear decay to 0
    lrs = [e["learningRate"] for e in steps]
    assert lrs[0] == 0 and lrs[1] == pytest.approx(1.5e-3) and lrs[2] == pytest.approx(3e-3)
    assert all(a >= b for a, b in zip(lrs[2:], lrs[3:]))
    evals = [e["step"] for e in run.of("eval")]
    epoch_end = started["totalSteps"] // 2
    assert evals == sorted(set(list(range(3, started["totalSteps"] + 1, 3)) + [epoch_end, started["totalSteps"]]))
    ckpts = [e["step"] for e in run.of("checkpoint")]
    assert ckpts == sorted(set(list(range(5, started["totalSteps"] + 1, 5)) + [epoch_end, started["totalSteps"]]))
    kept = sorted(os.listdir(spec["checkpoints"]["dir"]))
    assert kept == [f"step-{s:08d}" for s in ckpts[-2:]], "keep=2 keeps the newest two"


def test_tokens_are_cumulative_and_match_the_billing_formula(lora_run):
    _, spec, examples, run = lora_run
    hp = spec["hyperparameters"]
    expected = sum(min(len(t), hp["maxSeqLength"]) for t, _ in examples) * hp["epochs"]
    tokens = [e["tokens"] for e in run.of("step")]
    assert all(a < b for a, b in zip(tokens, tokens[1:]))
    assert tokens[-1] == expected == run.of("completed")[0]["tokens"] == run.events[0]["totalTokens"]


def test_lora_outputs_are_peft_adapter_and_merged_model(lora_run):
    tmp, spec, _, run = lora_run
    outputs = run.of("completed")[0]["outputs"]
    out = spec["output"]["dir"]
    assert outputs == {"adapter": f"{out}/adapter", "model": f"{out}/model", "onnx": f"{out}/model/onnx/model.onnx"}
    cfg = json.load(open(f"{out}/adapter/adapter_config.json"))
    assert (
        cfg["peft_type"] == "LORA"
        and cfg["r"] == 4
        and cfg["target_modules"] == ["q_proj", "k_proj", "v_proj", "o_proj"]
    )
    adapter = st.load_file(f"{out}/adapter/adapter_model.safetensors")
    assert "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight" in adapter
    assert len(adapter) == 2 * 4 * 2  # A and B × 4 modules × 2 layers
    for name in (
        "tokenizer.json",
        "tokenizer_config.json",
        "generation_config.json",
        "config.json",
        "model.safetensors",
    ):
        assert os.path.isfile(f"{out}/model/{name}"), name
    assert os.path.isfile(f"{out}/model/onnx/tuneloop-onnx.json")
    # base + adapter (as PEFT would load it) gives the merged model's logits
    _, base = load_model(spec["model"]["path"])
    apply_lora(base, cfg["target_modules"], cfg["r"], cfg["lora_alpha"], 0.0)
    params = dict(base.named_parameters())
    with torch.no_grad():
        for name, t in adapter.items():
            params[name[len(PEFT_PREFIX) :]].copy_(t)
    _, merged = load_model(f"{out}/model")
    ids = torch.randint(3, 96, (2, 16), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert (base.eval()(ids)[0] - merged.eval()(ids)[0]).abs().max().item() <= 1e-5
        assert (base(ids)[0] - load_model(spec["model"]["path"])[1].eval()(ids)[0]).abs().max().item() > 1e-4


def test_full_fine_tuning_memorises_a_tiny_dataset(tmp_path):
    model = make_model_dir(str(tmp_path / "model"))
    # 4 sequences, each repeated 60 times: one epoch of 60 steps (one epoch-end checkpoint)
    train = write_examples(str(tmp_path / "train.tlshard"), random_examples(4, seed=3, min_len=10, max_len=16) * 60)
    spec = make_spec(
        tmp_path,
        model,
        train,
        method="full",
        epochs=1,
        batchSize=4,
        learningRate=3e-3,
        lrScheduler="constant",
        packing=False,
    )
    run = run_train(spec, tmp_path)
    assert run.returncode == 0, run.stderr
    losses = run.losses()
    assert losses[0] > 4.0 and losses[-1] < 0.05, (losses[0], losses[-1])
    accuracy = [e["tokenAccuracy"] for e in run.of("step")]
    assert accuracy[0] < 0.2 and accuracy[-1] == 1.0, (accuracy[0], accuracy[-1])
    out = run.of("completed")[0]["outputs"]
    assert out["adapter"] is None and out["onnx"] is None and out["model"] == spec["output"]["dir"] + "/model"
    cfg, _ = load_model(out["model"])
    assert cfg.model_type == "llama"


@pytest.mark.parametrize("method", ["lora", "full"])
def test_sigterm_then_resume_reproduces_the_uninterrupted_losses(tmp_path, method):
    model = make_model_dir(str(tmp_path / "model"))
    train = write_examples(str(tmp_path / "train.tlshard"), random_examples(48, seed=4))
    val = write_examples(str(tmp_path / "val.tlshard"), random_examples(4, seed=5))
    hp = dict(
        method=method,
        epochs=4,
        batchSize=2,
        loraDropout=0.1,
        evalEvery=10,
        earlyStoppingPatience=50,
        weightDecay=0.01,
        warmupRatio=0.1,
        learningRate=1e-3 if method == "full" else 3e-3,
    )
    whole = run_train(make_spec(tmp_path / "a", model, train, val, **hp), tmp_path)
    assert whole.returncode == 0, whole.stderr

    spec = make_spec(tmp_path / "b", model, train, val, checkpoints={"every": 7}, **hp)
    first = run_train(spec, tmp_path, on_event=sigterm_after_step(5))
    assert first.returncode == 75, first.stderr
    stopped = first.of("stopped")[0]
    assert stopped["reason"] == "sigterm" and 5 <= stopped["step"] < whole.events[0]["totalSteps"]
    assert stopped["checkpoint"].endswith(f"step-{stopped['step']:08d}")
    assert first.events[-2]["type"] == "checkpoint" and first.events[-2]["step"] == stopped["step"]
    assert not [n for n in os.listdir(spec["checkpoints"]["dir"]) if n.startswith(".tmp")]

    second = run_train(spec, tmp_path, resume=True)
    assert second.returncode == 0, second.stderr
    assert second.events[0]["resumedFromStep"] == stopped["step"]
    assert second.of("step")[0]["step"] == stopped["step"] + 1
    assert first.losses() + second.losses() == whole.losses(), "resume must reproduce the losses exactly"
    assert [e["loss"] for e in first.of("eval") + second.of("eval")] == [e["loss"] for e in whole.of("eval")]
    assert second.of("completed")[0]["tokens"] == whole.of("completed")[0]["tokens"]
    assert [e["tokens"] for e in first.of("step") + second.of("step")] == [e["tokens"] for e in whole.of("step")]


def test_parent_gone_stops_at_a_step_boundary_without_a_checkpoint(tmp_path):
    import subprocess
    import time

    from conftest import PYTHON, TRAINER_DIR

    model = make_model_dir(str(tmp_path / "model"))
    train = write_examples(str(tmp_path / "train.tlshard"), random_examples(64, seed=8))
    spec = make_spec(tmp_path, model, train, method="full", epochs=50, batchSize=2)
    spec_path = tmp_path / "spec.json"
    spec_path.write_text(json.dumps(spec))
    r, w = os.pipe()
    proc = subprocess.Popen(
        [PYTHON, "-m", "tuneloop_trainer", "train", "--spec", str(spec_path), "--events-fd", str(w)],
        pass_fds=(w,),
        cwd=TRAINER_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    os.close(w)
    reader = os.fdopen(r, encoding="utf-8")
    try:
        while json.loads(reader.readline())["type"] != "step":
            pass
        reader.close()  # the worker died
        started = time.monotonic()
        proc.wait(timeout=60)
        assert proc.returncode == 74, proc.stderr.read()
        assert time.monotonic() - started < 20
        assert proc.stdout.read() == b""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    # No checkpoint past the last step anyone saw: a resumed run must not skip unreported steps.
    ckdir = spec["checkpoints"]["dir"]
    kept = os.listdir(ckdir) if os.path.isdir(ckdir) else []
    assert not [k for k in kept if k.startswith("step-")]


def test_early_stopping_ends_the_run_and_reports_it(tmp_path):
    model = make_model_dir(str(tmp_path / "model"))
    train = write_examples(str(tmp_path / "train.tlshard"), random_examples(4, seed=9) * 20)
    val = write_examples(str(tmp_path / "val.tlshard"), random_examples(4, seed=10))
    spec = make_spec(
        tmp_path,
        model,
        train,
        val,
        method="full",
        epochs=1,
        batchSize=4,
        learningRate=3e-3,
        lrScheduler="constant",
        evalEvery=1,
        earlyStoppingPatience=2,
        evalBatchEvery=1,
    )
    run = run_train(spec, tmp_path)
    assert run.returncode == 0, run.stderr
    # a validation batch of batchSize rows covers this 4-example set: it equals the full evaluation
    for step, ev in zip(run.of("step"), run.of("eval")):
        assert (step["validLoss"], step["validTokenAccuracy"]) == (ev["loss"], ev["tokenAccuracy"])
    done = run.of("completed")[0]
    evals = [e["loss"] for e in run.of("eval")]
    assert done["earlyStopped"] is True and done["step"] < run.events[0]["totalSteps"]
    assert len(evals) == done["step"] and done["bestEvalLoss"] == min(evals)
    assert all(e > min(evals) for e in evals[-2:]), "stopped after 2 evaluations without improvement"
    assert done["tokens"] == run.of("step")[-1]["tokens"]
