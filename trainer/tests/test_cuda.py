"""CUDA variants (run by bench/gpu-check.sh on a GPU machine): SDPA attention, bf16
autocast, fused AdamW, torch.compile and gradient checkpointing through the real CLI."""
import pytest
import torch

from conftest import make_model_dir, make_spec, micro_config, random_examples, run_train, write_examples
from tuneloop_trainer.model import CausalLM

pytestmark = pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA GPU; bench/gpu-check.sh runs these there"
)


@pytest.mark.parametrize("arch", ["llama", "qwen2", "mistral"])
def test_cached_decoding_and_packing_on_cuda(arch):
    m = CausalLM(micro_config(arch))
    m.init_weights(3)
    m = m.cuda().eval()
    ids = torch.randint(3, 96, (2, 12), generator=torch.Generator().manual_seed(0)).cuda()
    with torch.no_grad():
        full, _ = m(ids)
        logits, past = m(ids[:, :4])
        steps = [logits]
        for t in range(4, 12):
            logits, past = m(ids[:, t : t + 1], torch.full((2, 1), t, device="cuda"), None, past)
            steps.append(logits)
        assert (torch.cat(steps, 1) - full).abs().max().item() < 1e-4
        pos = torch.tensor([list(range(5)) + list(range(7))], device="cuda")
        doc = torch.tensor([[0] * 5 + [1] * 7], device="cuda")
        packed, _ = m(ids[:1], pos, m.packed_masks(doc, pos))
        a, _ = m(ids[:1, :5])
        b, _ = m(ids[:1, 5:])
        assert (packed - torch.cat([a, b], 1)).abs().max().item() < 1e-4


def _spec(tmp_path, name, **kw):
    model = make_model_dir(str(tmp_path / "model")) if not (tmp_path / "model").exists() else str(tmp_path / "model")
    train = write_examples(str(tmp_path / "train.tlshard"), random_examples(4, seed=3, min_len=10, max_len=16) * 30)
    return make_spec(
        tmp_path / name,
        model,
        train,
        method="full",
        epochs=1,
        batchSize=4,
        learningRate=3e-3,
        lrScheduler="constant",
        packing=False,
        **kw,
    )


def test_bf16_training_on_cuda_memorises_and_exports(tmp_path):
    spec = _spec(
        tmp_path, "bf16", runtime={"device": "auto", "dtype": "auto", "threads": None}, output={"exportOnnx": True}
    )
    run = run_train(spec, tmp_path)
    assert run.returncode == 0, run.stderr
    started = run.events[0]
    assert started["device"].startswith("cuda") and started["dtype"] == "bf16"
    assert run.losses()[-1] < 0.2 and run.of("completed")[0]["outputs"]["onnx"]


def test_compile_and_gradient_checkpointing_train_like_eager(tmp_path):
    base = run_train(_spec(tmp_path, "eager", runtime={"device": "cuda", "dtype": "fp32"}), tmp_path)
    fancy = run_train(
        _spec(
            tmp_path,
            "compiled",
            runtime={"device": "cuda", "dtype": "fp32", "compile": True},
            gradientCheckpointing=True,
        ),
        tmp_path,
        timeout=600,
    )
    assert base.returncode == 0, base.stderr
    assert fancy.returncode == 0, fancy.stderr
    a, b = base.losses(), fancy.losses()
    assert len(a) == len(b) and all(abs(x - y) <= 1e-2 * max(1.0, abs(x)) for x, y in zip(a, b)), list(zip(a, b))


def test_fused_adamw_on_cuda(tmp_path):
    from tuneloop_trainer.distributed import Dist
    from tuneloop_trainer.events import NullLogger
    from tuneloop_trainer.preflight import preflight
    from tuneloop_trainer.recipe import Recipe
    from tuneloop_trainer.spec import parse_spec

    spec = parse_spec(_spec(tmp_path, "fused", runtime={"device": "cuda", "dtype": "bf16"}))
    recipe = Recipe(spec, preflight(spec, 1), NullLogger(), Dist(), False, lambda: None)
    recipe.setup()
    assert recipe.optimizer.defaults.get("fused") is True
    assert recipe._train_step(0)[0]["loss"] > 0


@pytest.mark.parametrize("trainable", ["lora", "full"])
def test_dpo_in_bf16_on_cuda_starts_at_log_2_and_learns(tmp_path, trainable):
    import math

    from test_dpo import toy_spec

    spec = toy_spec(tmp_path, trainable, runtime={"device": "cuda", "dtype": "bf16"})
    run = run_train(spec, tmp_path)
    assert run.returncode == 0, run.stderr
    first = run.of("step")[0]
    assert run.events[0]["dtype"] == "bf16" and abs(first["loss"] - math.log(2)) <= 1e-2, first
    assert run.of("eval")[-1]["rewardAccuracy"] > 0.9, run.of("eval")
