"""Our model against transformers' on the same weights (and PEFT on our adapter).
transformers is not installable on the CPU CI machines; GPU machines have it, and
bench/gpu-check.sh runs this file there."""
import os

import pytest
import torch

from conftest import micro_config
from tuneloop_trainer.hf_io import load_model
from tuneloop_trainer.init_model import write_model_folder
from tuneloop_trainer.lora import apply_lora
from tuneloop_trainer.outputs import save_adapter

transformers = pytest.importorskip("transformers", reason="transformers is not installed (GPU machines have it)")
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
LLAMA3 = {
    "rope_type": "llama3",
    "factor": 8.0,
    "low_freq_factor": 1.0,
    "high_freq_factor": 4.0,
    "original_max_position_embeddings": 32,
}
VARIANTS = {
    "llama": micro_config("llama"),
    "llama3-rope": micro_config("llama", rope_scaling=LLAMA3, rope_theta=500000.0),
    "llama-bias": micro_config("llama", attention_bias=True, o_proj_bias=True, mlp_bias=True),
    "qwen2": micro_config("qwen2"),
    "mistral-window": micro_config("mistral"),
}


def hf_model(folder):
    kw = {"attn_implementation": "eager"}
    try:
        m = transformers.AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, **kw)
    except TypeError:
        m = transformers.AutoModelForCausalLM.from_pretrained(folder, torch_dtype=torch.float32, **kw)
    return m.to(DEVICE).eval()


@pytest.mark.parametrize("name", list(VARIANTS))
def test_logits_and_loss_match_transformers(tmp_path, name):
    folder = str(tmp_path / name)
    write_model_folder(VARIANTS[name], folder, seed=5)
    hf = hf_model(folder)
    _, ours = load_model(folder)
    ours = ours.to(DEVICE).eval()
    ids = torch.randint(3, 96, (2, 40), generator=torch.Generator().manual_seed(1)).to(DEVICE)
    with torch.no_grad():
        theirs = hf(ids, labels=ids)
        mine, _ = ours(ids)
        assert (theirs.logits.float() - mine).abs().max().item() <= 1e-4
        pos = torch.arange(40, device=DEVICE).expand(2, 40)
        targets = torch.zeros_like(ids)
        targets[:, :-1] = ids[:, 1:]
        mask = torch.zeros_like(ids, dtype=torch.bool)
        mask[:, :-1] = True
        loss_sum, n = ours.loss_sum(ids, pos, torch.zeros_like(ids), targets, mask)
        assert abs(loss_sum.item() / n - theirs.loss.item()) <= 1e-5


def test_peft_loads_our_adapter(tmp_path):
    peft = pytest.importorskip("peft", reason="peft is not installed")
    folder = str(tmp_path / "base")
    write_model_folder(micro_config("llama"), folder, seed=5)
    _, ours = load_model(folder)
    targets = ["q_proj", "v_proj", "down_proj"]
    apply_lora(ours, targets, 4, 8.0, 0.0)
    with torch.no_grad():
        for n, p in ours.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 0.05)
    adapter = save_adapter(ours, str(tmp_path / "out"), targets, 4, 8.0, 0.0, folder)
    assert os.path.isfile(os.path.join(adapter, "adapter_model.safetensors"))
    model = peft.PeftModel.from_pretrained(hf_model(folder), adapter).to(DEVICE).eval()
    ids = torch.randint(3, 96, (1, 24), generator=torch.Generator().manual_seed(2)).to(DEVICE)
    with torch.no_grad():
        assert (model(ids).logits.float() - ours.to(DEVICE).eval()(ids)[0]).abs().max().item() <= 1e-4
