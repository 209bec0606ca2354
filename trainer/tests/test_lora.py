import pytest
import torch

from conftest import micro_config
from tuneloop_trainer.errors import TrainerError
from tuneloop_trainer.lora import LoRALinear, apply_lora, merge_lora, peft_tensors
from tuneloop_trainer.model import CausalLM
from tuneloop_trainer.preflight import check_lora_rank, resolve_targets


def lora_model(arch="llama", targets=("q_proj", "v_proj", "down_proj"), rank=4):
    torch.manual_seed(0)
    m = CausalLM(micro_config(arch))
    m.init_weights(1)
    apply_lora(m, list(targets), rank, alpha=8.0, dropout=0.1)
    with torch.no_grad():  # B starts at zero; make the adapter do something
        for name, p in m.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.05)
    return m


@pytest.mark.parametrize("arch", ["llama", "qwen2", "mistral"])
def test_merged_equals_unmerged(arch):
    m = lora_model(arch).eval()
    ids = torch.randint(3, 96, (2, 20), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        before, _ = m(ids)
        merge_lora(m)
        after, _ = m(ids)
    assert not any(isinstance(x, LoRALinear) for x in m.modules())
    assert (before - after).abs().max().item() <= 1e-5


def test_only_adapter_parameters_train_and_names_are_peft():
    m = lora_model()
    trainable = [n for n, p in m.named_parameters() if p.requires_grad]
    assert trainable and all(".lora_A." in n or ".lora_B." in n for n in trainable)
    names = set(peft_tensors(m))
    assert "base_model.model.model.layers.1.mlp.down_proj.lora_B.weight" in names
    assert "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight" in names
    assert len(names) == 2 * 3 * 2
    a = m.model.layers[0].self_attn.q_proj
    assert a.lora_A.weight.shape == (4, 48) and a.lora_B.weight.shape == (48, 4) and a.scaling == 2.0


def test_dropout_applies_only_in_training():
    m = lora_model()
    ids = torch.randint(3, 96, (1, 10), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        m.eval()
        assert torch.equal(m(ids)[0], m(ids)[0])
        m.train()
        assert not torch.equal(m(ids)[0], m(ids)[0])


def test_target_and_rank_validation():
    assert resolve_targets(["all-linear"]) == [
        "q_proj",
        "k_proj",
        "v_proj",
        "o_proj",
        "gate_proj",
        "up_proj",
        "down_proj",
    ]
    assert resolve_targets(["v_proj", "q_proj", "q_proj"]) == ["q_proj", "v_proj"]
    with pytest.raises(TrainerError, match="unknown module lm_head"):
        resolve_targets(["lm_head"])
    c = micro_config()  # hidden 48, k/v 2 heads × 12 = 24
    check_lora_rank(c, ["q_proj"], 48)
    with pytest.raises(TrainerError, match="loraRank 25 is above the size of k_proj"):
        check_lora_rank(c, ["q_proj", "k_proj"], 25)
