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
are those of PROTOCOL.md § ONNX; a LoRA-input export keeps its wrapped linears separate
(their factors are per module) and fuses everything else.
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


class _Projection(nn.Module):
    """Linear layers that read the same input, outputs scaled by `scales`: one MatMul over
    their concatenated weights, split after it; or, where one is not a plain linear (a
    target a LoRA-input export wraps: its factors are inputs of its own), each on its own."""

    def __init__(self, linears: list[nn.Module], scales: list[float]):
        super().__init__()
        self.fused = all(type(m) is nn.Linear for m in linears)
        self.scales = scales
        if not self.fused:
            self.linears = nn.ModuleList(linears)
            return
        self.sizes = [m.out_features for m in linears]
        w = torch.cat([m.weight.detach() * s for m, s in zip(linears, scales)], dim=0)
        self.weight = nn.Parameter(w, requires_grad=False)
        self.bias = None
        if any(m.bias is not None for m in linears):
            b = [
                (m.bias.detach() if m.bias is not None else torch.zeros(m.out_features)) * s
                for m, s in zip(linears, scales)
            ]
            self.bias = nn.Parameter(torch.cat(b), requires_grad=False)

    def forward(self, h):
        if self.fused:
            return F.linear(h, self.weight, self.bias).split(self.sizes, dim=-1)
        return tuple(m(h) * s if s != 1.0 else m(h) for m, s in zip(self.linears, self.scales))


class FusedCachedLM(nn.Module):
    """forward(input_ids, attention_mask, position_ids, *past) → (logits, *present), as
    PROTOCOL.md § ONNX names them; for export only (float32, eval, CPU)."""

    def __init__(self, lm: CausalLM):
        super().__init__()
        c = lm.config
        self.lm = lm
        self.nh, self.nkv, self.hd = c.num_attention_heads, c.num_key_value_heads, c.head_dim
        self.eps = c.rms_norm_eps
        freqs = torch.arange(c.max_position_embeddings, dtype=torch.float32)[:, None] * lm.inv_freq[None]
        self.register_buffer("cos", freqs.cos(), persistent=False)  # (context, hd/2)
        self.register_buffer("sin", freqs.sin(), persistent=False)
        scale = 1.0 / math.sqrt(self.hd)
        self.qkv = nn.ModuleList(
            _Projection([layer.self_attn.q_proj, layer.self_attn.k_proj, layer.self_attn.v_proj], [scale, 1.0, 1.0])
            for layer in lm.model.layers
        )
        self.gate_up = nn.ModuleList(
            _Projection([layer.mlp.gate_proj, layer.mlp.up_proj], [1.0, 1.0]) for layer in lm.model.layers
        )

    def forward(self, input_ids, attention_mask, position_ids, *past_flat):
        lm, nh, nkv, hd = self.lm, self.nh, self.nkv, self.hd
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
            attn, mlp = layer.self_attn, layer.mlp
            q, k, v = self.qkv[i](h)
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
            a = attn.o_proj(_Reshape.apply(y, (0, -1, nh * hd)))
            h, x = _SkipRmsNorm.apply(a, x, layer.post_attention_layernorm.weight, self.eps)
            gate, up = self.gate_up[i](h)
            m = mlp.down_proj(F.silu(gate) * up)
            norm = layers[i + 1].input_layernorm if i + 1 < len(layers) else lm.model.norm
            h, x = _SkipRmsNorm.apply(m, x, norm.weight, self.eps)
        return (lm.lm_head(h).float(), *presents)
