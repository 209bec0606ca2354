import json
import math
import os

import pytest
import torch

from conftest import make_model_dir, micro_config, run_cli
from tuneloop_trainer.hf_io import load_model, save_model
from tuneloop_trainer.model import CausalLM, rope_inv_freq

ARCHS = ["llama", "qwen2", "mistral"]


def new_model(arch, **kw):
    m = CausalLM(micro_config(arch, **kw))
    m.init_weights(3)
    return m.eval()


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize(
    "sdpa", [False, True] if hasattr(torch.nn.functional, "scaled_dot_product_attention") else [False]
)
def test_kv_cache_decoding_equals_full_forward(arch, sdpa):
    m = new_model(arch)
    for mod in m.modules():
        if hasattr(mod, "use_sdpa"):
            mod.use_sdpa = sdpa
    ids = torch.randint(3, 96, (2, 12), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        full, _ = m(ids)
        logits, past = m(ids[:, :4])
        steps = [logits]
        for t in range(4, 12):  # one token at a time, longer than mistral's window of 5
            pos = torch.full((2, 1), t)
            logits, past = m(ids[:, t : t + 1], pos, None, past)
            steps.append(logits)
    assert (torch.cat(steps, 1) - full).abs().max().item() < 1e-5
    assert past[0][0].shape == (2, 2, 12, 12)  # (B, nkv, S, hd)


def test_sliding_window_limits_what_a_token_sees():
    m = new_model("mistral")
    ids = torch.randint(3, 96, (1, 12), generator=torch.Generator().manual_seed(1))
    changed = ids.clone()
    changed[0, 0] = (ids[0, 0] + 1) % 96
    with torch.no_grad():
        a, _ = m(ids)
        b, _ = m(changed)
    # 2 layers × window 5: position p sees tokens ≥ p - 8, so position 9+ can't see token 0
    assert (a[0, 9:] - b[0, 9:]).abs().max().item() == 0
    assert (a[0, 1:9] - b[0, 1:9]).abs().max().item() > 0


def test_packed_rows_equal_separate_forwards():
    m = new_model("llama")
    g = torch.Generator().manual_seed(2)
    a, b = torch.randint(3, 96, (1, 7), generator=g), torch.randint(3, 96, (1, 5), generator=g)
    ids = torch.cat([a, b], 1)
    pos = torch.tensor([list(range(7)) + list(range(5))])
    doc = torch.tensor([[0] * 7 + [1] * 5])
    with torch.no_grad():
        packed, _ = m(ids, pos, m.packed_masks(doc, pos))
        sa, _ = m(a)
        sb, _ = m(b)
    assert (packed - torch.cat([sa, sb], 1)).abs().max().item() < 1e-5


def test_llama3_rope_scaling_matches_reference_formula():
    rs = {
        "rope_type": "llama3",
        "factor": 8.0,
        "low_freq_factor": 1.0,
        "high_freq_factor": 4.0,
        "original_max_position_embeddings": 64,
    }
    c = micro_config("llama", rope_scaling=rs, rope_theta=500000.0)
    got = rope_inv_freq(c).double()
    base = 1.0 / (500000.0 ** (torch.arange(0, c.head_dim, 2, dtype=torch.float64) / c.head_dim))
    for f, g in zip(base.tolist(), got.tolist()):  # the piecewise rule of Llama 3.1, written out
        wavelen = 2 * math.pi / f
        if wavelen < 64 / 4:
            want = f
        elif wavelen > 64 / 1:
            want = f / 8
        else:
            s = (64 / wavelen - 1) / (4 - 1)
            want = (1 - s) * f / 8 + s * f
        assert g == pytest.approx(want, rel=1e-6)
    assert got[0] == pytest.approx(base[0]) and got[-1] == pytest.approx(base[-1] / 8)


@pytest.mark.parametrize("arch", ARCHS)
def test_model_folder_round_trip_sharded_bf16(tmp_path, arch):
    m = new_model(arch)
    save_model(m, str(tmp_path), "bfloat16", max_shard_bytes=20_000)
    files = os.listdir(tmp_path)
    assert "model.safetensors.index.json" in files
    cfg = json.loads((tmp_path / "config.json").read_text())
    assert cfg["model_type"] == arch and cfg["torch_dtype"] == "bfloat16"
    index = json.loads((tmp_path / "model.safetensors.index.json").read_text())
    assert ("lm_head.weight" in index["weight_map"]) == (arch != "qwen2")  # qwen2 ties it
    c, back = load_model(str(tmp_path))
    assert c.model_type == arch and c.window_for_layer == m.config.window_for_layer
    for (n, p), (_, q) in zip(m.state_dict().items(), back.state_dict().items()):
        assert torch.equal(p.to(torch.bfloat16).float(), q), n
    if arch == "qwen2":
        assert back.lm_head.weight is back.model.embed_tokens.weight


def test_inspect_model_reports_and_rejects(tmp_path):
    good = make_model_dir(str(tmp_path / "good"))
    r = run_cli("inspect-model", good)
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["architecture"] == "LlamaForCausalLM" and info["vocabSize"] == 96
    assert info["parameters"] == sum(p.numel() for p in new_model("llama").parameters())
    assert info["tensors"]["ok"] and info["tokenizer"] and info["chatTemplate"]

    cfg_path = os.path.join(good, "config.json")
    cfg = json.loads(open(cfg_path).read())
    bad_arch = str(tmp_path / "gpt")
    make_model_dir(bad_arch)
    json.dump(
        {**cfg, "model_type": "gpt2", "architectures": ["GPT2LMHeadModel"]},
        open(os.path.join(bad_arch, "config.json"), "w"),
    )
    missing = str(tmp_path / "missing")
    make_model_dir(missing)
    json.dump({**cfg, "num_hidden_layers": 3}, open(os.path.join(missing, "config.json"), "w"))
    extra = str(tmp_path / "extra")
    make_model_dir(extra)
    json.dump({**cfg, "num_hidden_layers": 1}, open(os.path.join(extra, "config.json"), "w"))
    noconf = str(tmp_path / "noconf")
    make_model_dir(noconf)
    os.remove(os.path.join(noconf, "config.json"))
    cases = {
        bad_arch: "UNSUPPORTED_ARCHITECTURE: .*'gpt2'",
        missing: "MISSING_TENSOR: .*model.layers.2",
        extra: "UNEXPECTED_TENSOR: .*model.layers.1",
        noconf: "MISSING_CONFIG",
        str(tmp_path / "nope"): "MODEL_NOT_FOUND",
    }
    for folder, pattern in cases.items():
        r = run_cli("inspect-model", folder)
        assert r.returncode == 1 and r.stdout == ""
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1, r.stderr
        import re

        assert re.search(pattern, lines[0]), lines[0]


@pytest.mark.parametrize("arch", ARCHS)
def test_blocked_causal_attention_equals_one_block(arch, monkeypatch):
    from tuneloop_trainer import model as model_mod

    m = new_model(arch)
    for mod in m.modules():
        if hasattr(mod, "use_sdpa"):
            mod.use_sdpa = False
    ids = torch.randint(3, 96, (2, 23), generator=torch.Generator().manual_seed(4))
    pos = torch.tensor([list(range(10)) + list(range(13))] * 2)
    doc = torch.tensor([[0] * 10 + [1] * 13] * 2)
    with torch.no_grad():
        whole, _ = m(ids, pos, m.packed_masks(doc, pos))
        monkeypatch.setattr(model_mod, "ATTENTION_BLOCK", 4)  # 6 blocks, the last one partial
        blocked, _ = m(ids, pos, m.packed_masks(doc, pos))
    assert (whole - blocked).abs().max().item() <= 1e-5
