"""The decoder's forward as the ONNX export writes it: fewer, larger operators.

Decoding one token on a CPU runs every node of the graph once, and for a small model most
nodes cost more to dispatch than to compute. The model's own forward (model.py), traced
as it is, gives about 85 nodes per layer once onnxruntime has optimised it: shape
arithmetic for every `view`, rotary embeddings as slices and concatenations, separate q,
k, v and gate, up projections, residual additions beside their normalisations. This
forward computes the same function with the same weights in about 30:

- q, k and v are one MatMul over their concatenated weights (gate and up likewise),
  split after it; the attention scale 1/sqrt(head_dim) is folded into q's weights
  (rotary embeddings are linear, so scaling before them is the same);
- rotary embeddings are onnxruntime's com.microsoft RotaryEmbedding over a cos/sin table
  of the model's context length, indexed by `position_ids`;
- a residual addition and the normalisation after it are one
  com.microsoft SkipSimplifiedLayerNormalization;
- reshapes carry constant shapes (0 = keep that axis) instead of shape arithmetic;
- grouped-query attention stacks each kv head's query heads along the time axis (as
  model.py's matmul path does), with the additive mask tiled once per forward.

Each fused operator is a torch.autograd.Function whose `forward` computes the operator's
result in torch (the trace runs it, and the trainer's tests compare it with the model)
and whose `symbolic` writes the onnxruntime node. Inputs, outputs and the KV-cache layout
are those of PROTOCOL.md § ONNX. A LoRA-input export keeps the fused products too: each
projection with targets takes one pair of factor inputs for all of them (`_Projection`).
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .model import CausalLM, attention_bias, rotate_half

MS_DOMAIN = "com.microsoft"


class _Reshape(torch.autograd.Function):
    """Reshape to a constant shape where 0 keeps the input's axis and -1 is inferred."""

    @staticmethod
    def forward(ctx, x, shape):
        return x.reshape([x.shape[i] if s == 0 else s for i, s in enumerate(shape)])

    @staticmethod
    def symbolic(g, x, shape):
        return g.op("Reshape", x, g.op("Constant", value_t=torch.tensor(shape, dtype=torch.int64)))


class _Rotary(torch.autograd.Function):
    """Rotary embedding of (B, T, heads * head_dim) at `positions` (B, T), halves rotated."""

    @staticmethod
    def forward(ctx, x, positions, cos, sin, num_heads):
        B, T, _ = x.shape
        h = x.view(B, T, num_heads, -1)
        c = torch.cat((cos[positions], cos[positions]), dim=-1)[:, :, None]  # (B, T, 1, hd)
        s = torch.cat((sin[positions], sin[positions]), dim=-1)[:, :, None]
        return (h * c + rotate_half(h) * s).reshape(B, T, -1)

    @staticmethod
    def symbolic(g, x, positions, cos, sin, num_heads):
        return g.op(f"{MS_DOMAIN}::RotaryEmbedding", x, positions, cos, sin, interleaved_i=0, num_heads_i=num_heads)


class _SkipRmsNorm(torch.autograd.Function):
    """(RMSNorm(x + skip) * weight, x + skip): the residual sum and its normalisation."""

    @staticmethod
    def forward(ctx, x, skip, weight, eps):
        total = x + skip
        return weight * (total * torch.rsqrt(total.pow(2).mean(-1, keepdim=True) + eps)), total

    @staticmethod
    def symbolic(g, x, skip, weight, eps):
        out = g.op(f"{MS_DOMAIN}::SkipSimplifiedLayerNormalization", x, skip, weight, epsilon_f=eps, outputs=4)
        return out[0], out[3]


# The projections of a decoder layer as the export computes them: each group is one MatMul
# over its members' concatenated weights, split after it.
GROUPS = (("q_proj", "k_proj", "v_proj"), ("o_proj",), ("gate_proj", "up_proj"), ("down_proj",))


class _Projection(nn.Module):
    """One fused projection: y = h W (+ b), plus, in a LoRA-input export, the low-rank term
    (h A) B of the factors given for it, split into its members' outputs.

    A LoRA-input group takes one pair of factor inputs for all its target members: A
    [batch, in, slots * rank], the members' A side by side along the rank axis, and B
    [batch, slots * rank, out], block-diagonal (each member's B in its own rows and output
    columns, zeros elsewhere), so the group stays two MatMuls however many members it has.
    `col_scale` applies the attention scale folded into q's weights to q's low-rank term."""

    def __init__(self, linears: list[nn.Linear], scales: list[float], lora: bool):
        super().__init__()
        w = torch.cat([m.weight.detach() * s for m, s in zip(linears, scales)], dim=0)
        self.weight = nn.Parameter(w, requires_grad=False)
        self.bias = None
        if any(m.bias is not None for m in linears):
            b = [
                (m.bias.detach() if m.bias is not None else torch.zeros(m.out_features)) * s
                for m, s in zip(linears, scales)
            ]
            self.bias = nn.Parameter(torch.cat(b), requires_grad=False)
        self.sizes = [m.out_features for m in linears]
        cols = None
        if lora and any(s != 1.0 for s in scales):
            cols = torch.cat([torch.full((m.out_features,), s) for m, s in zip(linears, scales)])
        self.register_buffer("col_scale", cols, persistent=False)

    def forward(self, h, factors=None):
        y = F.linear(h, self.weight, self.bias)
        if factors is not None:
            low = torch.matmul(torch.matmul(h, factors[0]), factors[1])
            y = y + (low * self.col_scale if self.col_scale is not None else low)
        return y.split(self.sizes, dim=-1) if len(self.sizes) > 1 else (y,)


def lora_layout(lm: CausalLM, targets: list[str]) -> list[dict]:
    """The LoRA inputs of an export, one entry per target module in decoder order (layer by
    layer, within a layer in the order q, k, v, o, gate, up, down): its path, sizes, the
    names of its group's factor inputs, its slot among the group's targets, the column of
    its first output in the group's output, and the group's sizes (PROTOCOL.md § LoRA-input
    export)."""
    out = []
    for i, layer in enumerate(lm.model.layers):
        for group in GROUPS:
            members = [t for t in group if t in targets]
            if not members:
                continue
            mods = {t: getattr(layer.self_attn if t in GROUPS[0] + GROUPS[1] else layer.mlp, t) for t in group}
            name = f"lora.{i}.{'+'.join(members)}"
            group_out = sum(m.out_features for m in mods.values())
            offsets = {}
            col = 0
            for t in group:
                offsets[t] = col
                col += mods[t].out_features
            for slot, t in enumerate(members):
                where = "self_attn" if t in GROUPS[0] + GROUPS[1] else "mlp"
                out.append(
                    {
                        "module": f"model.layers.{i}.{where}.{t}",
                        "in": mods[t].in_features,
                        "out": mods[t].out_features,
                        "a": f"{name}.a",
                        "b": f"{name}.b",
                        "slot": slot,
                        "slots": len(members),
                        "offset": offsets[t],
                        "groupOut": group_out,
                    }
                )
    return out


class FusedCachedLM(nn.Module):
    """forward(input_ids, attention_mask, position_ids, *past, *factors) → (logits, *present),
    as PROTOCOL.md § ONNX names them; for export only (float32, eval, CPU). With
    `lora_targets`, the factor inputs of `lora_layout` follow the past, one pair per group."""

    def __init__(self, lm: CausalLM, lora_targets: list[str] | None = None):
        super().__init__()
        c = lm.config
        self.lm = lm
        self.nh, self.nkv, self.hd = c.num_attention_heads, c.num_key_value_heads, c.head_dim
        self.eps = c.rms_norm_eps
        freqs = torch.arange(c.max_position_embeddings, dtype=torch.float32)[:, None] * lm.inv_freq[None]
        self.register_buffer("cos", freqs.cos(), persistent=False)  # (context, hd/2)
        self.register_buffer("sin", freqs.sin(), persistent=False)
        scale = 1.0 / math.sqrt(self.hd)
        targets = set(lora_targets or [])
        self.proj = nn.ModuleList()
        # (layer, group) → index of its factor pair among the factor inputs
        self.factor_index: dict[tuple[int, int], int] = {}
        for i, layer in enumerate(lm.model.layers):
            a, m = layer.self_attn, layer.mlp
            linears = ([a.q_proj, a.k_proj, a.v_proj], [a.o_proj], [m.gate_proj, m.up_proj], [m.down_proj])
            for mod in (x for group in linears for x in group):
                if type(mod) is not nn.Linear:
                    raise TypeError(
                        f"export needs plain linear layers (merge adapters first), found {type(mod).__name__}"
                    )
            layer_proj = nn.ModuleList()
            for gi, (names, mods) in enumerate(zip(GROUPS, linears)):
                lora = any(t in targets for t in names)
                if lora:
                    self.factor_index[(i, gi)] = len(self.factor_index)
                scales = [scale if t == "q_proj" else 1.0 for t in names]
                layer_proj.append(_Projection(mods, scales, lora))
            self.proj.append(layer_proj)

    def forward(self, input_ids, attention_mask, position_ids, *flat):
        lm, nh, nkv, hd = self.lm, self.nh, self.nkv, self.hd
        n_past = 2 * len(lm.model.layers)
        past_flat, factors = flat[:n_past], flat[n_past:]

        def project(i, gi, h):
            k = self.factor_index.get((i, gi))
            return self.proj[i][gi](h, None if k is None else (factors[2 * k], factors[2 * k + 1]))

        g = nh // nkv
        T = input_ids.shape[1]
        S = attention_mask.shape[1]
        masks = lm.cache_masks(attention_mask, T)
        # one additive bias per window, tiled over the g query heads stacked per kv head
        biases = {
            w: torch.cat([attention_bias(m, T, S, input_ids.device)[:, :, 0]] * g, dim=2) for w, m in masks.items()
        }
        x = lm.model.embed_tokens(input_ids)
        layers = lm.model.layers
        h = layers[0].input_layernorm(x)
        presents = []
        for i, layer in enumerate(layers):
            q, k, v = project(i, 0, h)
            q = _Rotary.apply(q, position_ids, self.cos, self.sin, nh)
            k = _Rotary.apply(k, position_ids, self.cos, self.sin, nkv)
            q = _Reshape.apply(
                _Reshape.apply(q, (0, -1, nh, hd)).transpose(1, 2), (0, nkv, -1, hd)
            )  # (B, nkv, g*T, hd)
            k = torch.cat((past_flat[2 * i], _Reshape.apply(k, (0, -1, nkv, hd)).transpose(1, 2)), dim=2)
            v = torch.cat((past_flat[2 * i + 1], _Reshape.apply(v, (0, -1, nkv, hd)).transpose(1, 2)), dim=2)
            presents += [k, v]
            att = torch.softmax(q @ k.transpose(-2, -1) + biases[lm.windows[i]], dim=-1)  # (B, nkv, g*T, S)
            y = _Reshape.apply(att @ v, (0, nh, -1, hd)).transpose(1, 2)  # (B, T, nh, hd)
            (a,) = project(i, 1, _Reshape.apply(y, (0, -1, nh * hd)))
            h, x = _SkipRmsNorm.apply(a, x, layer.post_attention_layernorm.weight, self.eps)
            gate, up = project(i, 2, h)
            (m,) = project(i, 3, F.silu(gate) * up)
            norm = layers[i + 1].input_layernorm if i + 1 < len(layers) else lm.model.norm
            h, x = _SkipRmsNorm.apply(m, x, norm.weight, self.eps)
        return (lm.lm_head(h).float(), *presents)
