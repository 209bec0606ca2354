"""The LoRA-input export: the graph takes per-row LoRA factors for the target modules
(names, shapes and dynamic axes as PROTOCOL.md § LoRA-input export says), and the module
that is traced — stacked, zero-padded, PEFT-style factors per row — computes what PEFT's
LoRA computes for each row's own adapter. That onnxruntime runs the graph and answers like
the merged model is checked from TypeScript (test/inference/adapters.test.ts)."""
import json
import os

import onnx
import pytest
import torch

from conftest import make_model_dir, micro_config, run_cli
from tuneloop_trainer.hf_io import load_model
from tuneloop_trainer.lora import LoRALinear, apply_lora, merge_lora
from tuneloop_trainer.onnx_export import _LoraCachedLM, wrap_lora_inputs

TARGETS = ["q_proj", "v_proj", "down_proj"]


def _adapter(lm, rank, seed):
    """A trained-looking adapter: PEFT tensors (A: r × in, B: out × r) with non-zero B."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for name, mod in lm.named_modules():
        if isinstance(mod, torch.nn.Linear) and name.split(".")[-1] in TARGETS and ".layers." in name:
            out[name] = (
                torch.randn(rank, mod.in_features, generator=g) * 0.2,
                torch.randn(mod.out_features, rank, generator=g) * 0.2,
            )
    return out


def _peft_logits(model_dir, adapter, rank, alpha, ids):
    """PEFT-style: LoRALinear layers carrying the adapter, as the trainer trains them."""
    _, lm = load_model(model_dir)
    lm.eval()
    apply_lora(lm, TARGETS, rank, alpha, 0.0)
    with torch.no_grad():
        for name, mod in lm.named_modules():
            if isinstance(mod, LoRALinear):
                a, b = adapter[name]
                mod.lora_A.weight.copy_(a)
                mod.lora_B.weight.copy_(b)
        unmerged = lm(ids)[0]
        merged = merge_lora(lm)(ids)[0]
    return unmerged, merged


def test_lora_input_module_matches_peft_per_row(tmp_path):
    d = make_model_dir(str(tmp_path / "model"), micro_config())
    ranks, alphas = [4, 2, None], [8.0, 1.0, None]  # row 2: the base model (zero factors)
    _, base = load_model(d)
    adapters = [_adapter(base, r, seed) if r else None for seed, r in enumerate(ranks)]
    ids = torch.randint(3, 96, (3, 7), generator=torch.Generator().manual_seed(9))

    _, lm = load_model(d)
    lm.eval()
    for m in lm.modules():
        if hasattr(m, "use_sdpa"):
            m.use_sdpa = False
    wrapped = wrap_lora_inputs(lm, TARGETS)
    r_max = max(r for r in ranks if r)
    factors = []
    for path, lin in wrapped:
        a = torch.zeros(3, lin.base_layer.in_features, r_max)
        b = torch.zeros(3, r_max, lin.base_layer.out_features)
        for row, (ad, r, alpha) in enumerate(zip(adapters, ranks, alphas)):
            if ad:
                a[row, :, :r] = ad[path][0].T
                b[row, :r, :] = ad[path][1].T * (alpha / r)
        factors += [a, b]
    c = lm.config
    mask = torch.ones(3, 7, dtype=torch.int64)
    pos = torch.arange(7).expand(3, 7)
    past = [torch.zeros(3, c.num_key_value_heads, 0, c.head_dim) for _ in range(2 * c.num_hidden_layers)]
    with torch.no_grad():
        logits = _LoraCachedLM(lm, [m for _, m in wrapped])(ids, mask, pos, *past, *factors)[0]

    _, plain = load_model(d)
    plain.eval()
    for row, (ad, r, alpha) in enumerate(zip(adapters, ranks, alphas)):
        if ad:
            unmerged, merged = _peft_logits(d, ad, r, alpha, ids[row : row + 1])
            assert torch.allclose(logits[row], unmerged[0], atol=1e-4), (logits[row] - unmerged[0]).abs().max()
            assert torch.allclose(logits[row], merged[0], atol=1e-4)
        else:
            with torch.no_grad():
                alone = plain(ids[row : row + 1])[0]
            assert torch.allclose(logits[row], alone[0], atol=1e-5)
    # A different adapter per row really changes the rows (the check above is not vacuous).
    assert not torch.allclose(logits[0], logits[2], atol=1e-2)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    d = make_model_dir(str(tmp_path_factory.mktemp("lora") / "model"), micro_config("qwen2"))
    r = run_cli("export-onnx", "--model", d, "--lora-targets", ",".join(TARGETS))
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)["onnx"]
    assert out == os.path.join(d, "onnx-lora-q_proj+v_proj+down_proj", "model.onnx")
    return out


def test_graph_takes_factors_per_row_with_a_dynamic_rank(exported):
    model = onnx.load(exported)
    onnx.checker.check_model(model)
    shapes = {i.name: [x.dim_param or x.dim_value for x in i.type.tensor_type.shape.dim] for i in model.graph.input}
    meta = json.load(open(os.path.join(os.path.dirname(exported), "tuneloop-onnx.json")))
    c = micro_config("qwen2")
    lora_inputs = [n for n in meta["inputs"] if n.startswith("lora.")]
    assert meta["lora"]["targets"] == TARGETS
    assert len(lora_inputs) == 2 * len(TARGETS) * c.num_hidden_layers
    assert [m["a"] for m in meta["lora"]["modules"]][:3] == ["lora.0.q_proj.a", "lora.0.v_proj.a", "lora.0.down_proj.a"]
    assert meta["inputs"][: 3 + 2 * c.num_hidden_layers] == [n for n in meta["inputs"] if not n.startswith("lora.")]
    for m in meta["lora"]["modules"]:
        assert shapes[m["a"]] == ["batch", m["in"], "rank"]
        assert shapes[m["b"]] == ["batch", "rank", m["out"]]
    v = next(m for m in meta["lora"]["modules"] if m["module"] == "model.layers.1.self_attn.v_proj")
    assert (v["in"], v["out"]) == (c.hidden_size, c.num_key_value_heads * c.head_dim)
    # Each factor feeds a MatMul (the low-rank path), not a constant-folded copy.
    consumers = {n for node in model.graph.node if node.op_type == "MatMul" for n in node.input}
    assert set(lora_inputs) <= consumers


def test_unknown_targets_are_refused(tmp_path):
    d = make_model_dir(str(tmp_path / "model"), micro_config())
    r = run_cli("export-onnx", "--model", d, "--lora-targets", "q_proj,lm_head")
    assert r.returncode == 1
    assert "error: INVALID_SPEC" in r.stderr and "LoRA targets" in r.stderr
