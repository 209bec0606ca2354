"""Builds the byte-level BPE tokenizer that `init-model` ships with its models.

Hugging Face `tokenizers` JSON, GPT-2 style: the ByteLevel pre-tokenizer maps every byte
to a printable character and splits on the GPT-2 regex; 256 byte tokens (id = byte
value), then merges learned deterministically from `corpus.CORPUS`, then the ChatML
special tokens, 1024 ids in all. Any text round-trips because every byte has a token.
The Python encoder here exists for tests; the service tokenizes with
@huggingface/tokenizers, which loads this same JSON.
"""
from __future__ import annotations

import re
from collections import Counter
from functools import lru_cache

from .corpus import CORPUS

VOCAB_SIZE = 1024
SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
NUM_MERGES = VOCAB_SIZE - 256 - len(SPECIAL_TOKENS)
ENDOFTEXT_ID, IM_START_ID, IM_END_ID = (VOCAB_SIZE - 3, VOCAB_SIZE - 2, VOCAB_SIZE - 1)

# GPT-2's pattern with \p{L} / \p{N} spelled for Python's `re` (the corpus is ASCII, so
# the merges learned are those the Rust/JS pattern would give on the same text).
_PRETOKEN = re.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?[^\W\d_]+| ?\d+| ?(?:[^\s\w]|_)+|\s+(?!\S)|\s+""")

CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)


@lru_cache(maxsize=1)
def byte_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte → printable character map (space becomes 'Ġ')."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def _pretokenize(text: str) -> list[str]:
    enc = byte_to_unicode()
    return ["".join(enc[b] for b in piece.encode("utf-8")) for piece in _PRETOKEN.findall(text)]


@lru_cache(maxsize=1)
def learn_merges() -> tuple[tuple[str, str], ...]:
    """Classic BPE training: merge the most frequent adjacent pair, ties broken by the
    pair's text, until NUM_MERGES merges exist. Deterministic for a given corpus."""
    words = Counter(tuple(w) for w in _pretokenize(CORPUS))
    merges: list[tuple[str, str]] = []
    while len(merges) < NUM_MERGES:
        pairs: Counter = Counter()
        for w, freq in words.items():
            for pair in zip(w, w[1:]):
                pairs[pair] += freq
        if not pairs:
            raise RuntimeError("corpus too small for the requested number of merges")
        best = min(pairs.items(), key=lambda kv: (-kv[1], kv[0]))[0]
        merges.append(best)
        merged = best[0] + best[1]
        new_words: Counter = Counter()
        for w, freq in words.items():
            out, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and (w[i], w[i + 1]) == best:
                    out.append(merged)
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            new_words[tuple(out)] += freq
        words = new_words
    return tuple(merges)


def vocab() -> dict[str, int]:
    enc = byte_to_unicode()
    v = {enc[b]: b for b in range(256)}
    for a, b in learn_merges():
        v[a + b] = len(v)
    assert len(v) == VOCAB_SIZE - len(SPECIAL_TOKENS), "merges produced a duplicate token"
    return v


def tokenizer_json() -> dict:
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [
            {
                "id": VOCAB_SIZE - len(SPECIAL_TOKENS) + i,
                "content": t,
                "single_word": False,
                "lstrip": False,
                "rstrip": False,
                "normalized": False,
                "special": True,
            }
            for i, t in enumerate(SPECIAL_TOKENS)
        ],
        "normalizer": None,
        "pre_tokenizer": byte_level,
        "post_processor": {**byte_level, "trim_offsets": False},
        "decoder": byte_level,
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": None,
            "continuing_subword_prefix": "",
            "end_of_word_suffix": "",
            "fuse_unk": False,
            "byte_fallback": False,
            "ignore_merges": False,
            "vocab": vocab(),
            "merges": [f"{a} {b}" for a, b in learn_merges()],
        },
    }


def tokenizer_config_json(model_max_length: int) -> dict:
    return {
        "add_bos_token": False,
        "add_eos_token": False,
        "add_prefix_space": False,
        "added_tokens_decoder": {
            str(VOCAB_SIZE - len(SPECIAL_TOKENS) + i): {
                "content": t,
                "lstrip": False,
                "normalized": False,
                "rstrip": False,
                "single_word": False,
                "special": True,
            }
            for i, t in enumerate(SPECIAL_TOKENS)
        },
        "additional_special_tokens": ["<|im_start|>", "<|im_end|>"],
        "bos_token": None,
        "chat_template": CHAT_TEMPLATE,
        "clean_up_tokenization_spaces": False,
        "eos_token": "<|im_end|>",
        "errors": "replace",
        "model_max_length": model_max_length,
        "pad_token": "<|endoftext|>",
        "split_special_tokens": False,
        "tokenizer_class": "PreTrainedTokenizerFast",
        "unk_token": None,
    }


def encode(text: str) -> list[int]:
    """Reference encoder (tests only): special tokens, then BPE by merge rank per pre-token."""
    v, ranks = vocab(), {m: i for i, m in enumerate(learn_merges())}
    specials = {t: VOCAB_SIZE - len(SPECIAL_TOKENS) + i for i, t in enumerate(SPECIAL_TOKENS)}
    ids: list[int] = []
    for part in re.split("(" + "|".join(re.escape(t) for t in SPECIAL_TOKENS) + ")", text):
        if part in specials:
            ids.append(specials[part])
            continue
        for word in _pretokenize(part):
            sym = list(word)
            while len(sym) > 1:
                pair = min(zip(sym, sym[1:]), key=lambda p: ranks.get(p, len(ranks)))
                if pair not in ranks:
                    break
                i = next(j for j in range(len(sym) - 1) if (sym[j], sym[j + 1]) == pair)
                sym[i : i + 2] = [pair[0] + pair[1]]
            ids.extend(v[s] for s in sym)
    return ids


def decode(ids: list[int]) -> str:
    inv = {i: t for t, i in vocab().items()}
    dec = {c: b for b, c in byte_to_unicode().items()}
    out, text = bytearray(), []
    for i in ids:
        if i >= VOCAB_SIZE - len(SPECIAL_TOKENS):
            text.append(out.decode("utf-8", errors="replace") + SPECIAL_TOKENS[i - (VOCAB_SIZE - len(SPECIAL_TOKENS))])
            out = bytearray()
        else:
            out.extend(dec[c] for c in inv[i])
    return "".join(text) + out.decode("utf-8", errors="replace")
