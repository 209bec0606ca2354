"""Continued training: a job starts from a previous fine-tune's adapter, merged weights or
checkpoint, exactly as if those weights were its base model."""
import json
import os

import pytest

from conftest import make_model_dir, make_spec, micro_config, random_examples, run_cli, run_train, write_examples


@pytest.fixture(scope="module")
def parents(tmp_path_factory):
    """A LoRA and a full fine-tune of one base, with their outputs and final checkpoints."""
    tmp = tmp_path_factory.mktemp("parents")
    model = make_model_dir(str(tmp / "model"))
    first = write_examples(str(tmp / "first.tlshard"), random_examples(12, seed=11))
    out = {"model": model, "data": write_examples(str(tmp / "next.tlshard"), random_examples(12, seed=12))}
    for method in ("lora", "full"):
        spec = make_spec(tmp / method, model, first, method=method, epochs=2, output={"mergeLora": True})
        run = run_train(spec, tmp)
        assert run.returncode == 0, run.stderr
        out[method] = run.of("completed")[0]["outputs"]
        out[method]["checkpoint"] = run.of("checkpoint")[-1]["path"]
        out[method]["steps"] = run.of("completed")[0]["step"]
    return tmp, out


def _losses(tmp, name, parents, method="lora", path=None, **model):
    spec = make_spec(tmp / name, path or parents["model"], parents["data"], method=method, epochs=1)
    spec["model"].update(model)
    run = run_train(spec, tmp)
    assert run.returncode == 0, run.stderr
    return run.losses()


def test_lora_on_a_lora_fine_tune_merges_its_adapter_first(parents, tmp_path):
    _, p = parents
    assert p["lora"]["checkpoint"].endswith(f"step-{p['lora']['steps']:08d}")
    from_merged = _losses(tmp_path, "merged", p, path=p["lora"]["model"])
    from_adapter = _losses(tmp_path, "adapter", p, adapters=[p["lora"]["adapter"]])
    from_checkpoint = _losses(tmp_path, "checkpoint", p, adapters=[p["lora"]["checkpoint"]])
    from_base = _losses(tmp_path, "base", p)
    assert from_adapter == from_merged == from_checkpoint
    assert from_base[0] != from_adapter[0], "the parent's adapter must change the starting weights"


def test_full_job_from_merged_weights_or_a_full_checkpoint(parents, tmp_path):
    _, p = parents
    from_model = _losses(tmp_path, "model", p, method="full", path=p["full"]["model"])
    from_checkpoint = _losses(tmp_path, "checkpoint", p, method="full", weights=p["full"]["checkpoint"])
    assert from_model == from_checkpoint
    # a full job on a LoRA fine-tune: the base plus the merged adapter, or its merged folder
    on_lora = _losses(tmp_path, "on-lora", p, method="full", adapters=[p["lora"]["adapter"]])
    assert on_lora == _losses(tmp_path, "on-lora-merged", p, method="full", path=p["lora"]["model"])


def test_bad_starting_points_fail_before_training(parents, tmp_path):
    tmp, p = parents
    other = make_model_dir(str(tmp_path / "wide"), micro_config(hidden_size=64))

    def failure(**model):
        spec = make_spec(tmp_path, other if model.pop("wide", False) else p["model"], p["data"])
        spec["model"].update(model)
        run = run_train(spec, tmp_path)
        assert run.returncode == 1 and run.events[-1]["type"] == "failed", run.stderr
        return run.events[-1]["code"], run.events[-1]["message"]

    code, message = failure(wide=True, adapters=[p["lora"]["adapter"]])
    assert code == "INVALID_MODEL" and "another base model" in message
    code, message = failure(weights=p["lora"]["checkpoint"])
    assert code == "MISSING_WEIGHTS" and "list it in model.adapters" in message
    assert failure(adapters=[str(tmp_path / "nowhere")])[0] == "MODEL_NOT_FOUND"
    assert failure(adapters=[p["full"]["checkpoint"]])[0] == "MISSING_WEIGHTS"
    cfg_path = os.path.join(p["lora"]["adapter"], "adapter_config.json")
    dora = tmp_path / "dora"
    dora.mkdir()
    os.symlink(os.path.join(p["lora"]["adapter"], "adapter_model.safetensors"), dora / "adapter_model.safetensors")
    (dora / "adapter_config.json").write_text(json.dumps({**json.load(open(cfg_path)), "use_dora": True}))
    assert failure(adapters=[str(dora)]) == (
        "UNSUPPORTED_ARCHITECTURE",
        "model.adapters[0]: adapters with use_dora are not supported",
    )


def test_export_onnx_from_a_checkpoint_gives_the_fine_tuned_weights(parents, tmp_path):
    """`export-onnx --adapter` / `--weights`: a checkpoint exported on its base model is the
    model its job produced (what serving a checkpoint without a deployment loads)."""
    import numpy as np
    import onnx
    from onnx import numpy_helper

    _, p = parents

    def exported(name, *args):
        r = run_cli("export-onnx", *args, "--out", str(tmp_path / name))
        assert r.returncode == 0, r.stderr
        graph = onnx.load(str(tmp_path / name / "model.onnx")).graph
        return {i.name: numpy_helper.to_array(i) for i in graph.initializer}

    def same(a, b):
        return a.keys() == b.keys() and all(np.allclose(a[k], b[k], atol=1e-6) for k in a)

    base = exported("base", "--model", p["model"])
    lora = exported("lora", "--model", p["model"], "--adapter", p["lora"]["checkpoint"])
    assert same(lora, exported("lora-merged", "--model", p["lora"]["model"]))
    assert not same(lora, base)
    full = exported("full", "--model", p["model"], "--weights", p["full"]["checkpoint"])
    assert same(full, exported("full-model", "--model", p["full"]["model"]))
    assert not same(full, base)
    r = run_cli(
        "export-onnx", "--model", p["model"], "--weights", p["lora"]["checkpoint"], "--out", str(tmp_path / "bad")
    )
    assert r.returncode != 0 and "LoRA checkpoint" in r.stderr
