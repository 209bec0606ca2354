import json

from tuneloop_trainer import tokenizer_build as tok


def test_vocabulary_layout_and_special_tokens():
    tj = tok.tokenizer_json()
    vocab = tj["model"]["vocab"]
    assert len(vocab) + len(tj["added_tokens"]) == tok.VOCAB_SIZE == 1024
    assert vocab["Ġ"] == 32 and vocab["A"] == 65  # byte tokens: id = byte value
    assert [(t["id"], t["content"]) for t in tj["added_tokens"]] == [
        (1021, "<|endoftext|>"),
        (1022, "<|im_start|>"),
        (1023, "<|im_end|>"),
    ]
    assert len(tj["model"]["merges"]) == tok.NUM_MERGES == 765
    assert json.loads(json.dumps(tj)) == tj


def test_merges_are_deterministic_and_text_round_trips():
    assert tok.learn_merges()[:3] == (("Ġ", "t"), ("h", "e"), ("Ġ", "a"))
    for text in ["Hello, world!", "<|im_start|>user\nWhat is 12.5 + 3?<|im_end|>\n", "héllo 日本 🎉", "  a\t\n\nb  "]:
        ids = tok.encode(text)
        assert tok.decode(ids) == text
    assert len(tok.encode("The capital of France is Paris.")) < len("The capital of France is Paris.") / 2
    assert tok.encode("<|im_end|>") == [tok.IM_END_ID]


def test_chat_template_is_chatml():
    cfg = tok.tokenizer_config_json(512)
    assert cfg["eos_token"] == "<|im_end|>" and cfg["pad_token"] == "<|endoftext|>" and cfg["model_max_length"] == 512
    assert "<|im_start|>assistant\\n" in cfg["chat_template"]
