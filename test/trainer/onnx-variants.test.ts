/**
 * The ONNX export of every architecture switch the trainer supports, run by onnxruntime-node,
 * gives torch's logits. The export writes the decoder with onnxruntime's fused operators
 * (trainer/tuneloop_trainer/onnx_graph.py: one q|k|v and one gate|up MatMul, RotaryEmbedding,
 * SkipSimplifiedLayerNormalization), so each switch those touch is covered here: q/k/v, o and
 * MLP biases, tied embeddings, Llama 3 and linear rope scaling, a sliding window shorter than
 * the prompt (on every layer, and on one of two), and one kv head per query head. Every model has random biases and norm weights
 * (init-model leaves them 0 and 1, which would hide a misplaced one). Inputs are a batch of two
 * rows, the second left-padded, then three cached steps; compared at every unpadded position.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const trainerDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../trainer');
const python = process.env.TUNELOOP_PYTHON ?? '/usr/bin/python3';

const VARIANTS: Record<string, object> = {
  'llama, Llama 3 rope scaling, all biases': {
    model_type: 'llama',
    attention_bias: true,
    o_proj_bias: true,
    mlp_bias: true,
    rope_scaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 16 },
  },
  'qwen2, tied embeddings, q/k/v biases, a sliding window of 4 on its second layer': {
    model_type: 'qwen2',
    attention_bias: true,
    tie_word_embeddings: true,
    rope_theta: 1e6,
    rope_scaling: { type: 'linear', factor: 2 },
    sliding_window: 4,
    sliding_window_layers: [1],
  },
  'mistral, a sliding window of 4': { model_type: 'mistral', sliding_window: 4, sliding_window_layers: [0, 1] },
  'llama, as many kv heads as query heads': { model_type: 'llama', num_key_value_heads: 4 },
};

// Torch side: a model of the variant, exported by the real CLI code, and its logits.
const SCRIPT = `
import json, sys, torch
from tuneloop_trainer.config import ModelConfig
from tuneloop_trainer.hf_io import save_model
from tuneloop_trainer.model import CausalLM
from tuneloop_trainer.onnx_export import export_model_folder
out, kw = sys.argv[1], json.loads(sys.argv[2])
c = ModelConfig(**{**dict(vocab_size=96, hidden_size=48, intermediate_size=96, num_hidden_layers=2,
    num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64, bos_token_id=1, eos_token_id=2), **kw})
lm = CausalLM(c); lm.init_weights(3)
g = torch.Generator().manual_seed(5)
with torch.no_grad():
    for name, p in lm.named_parameters():
        if name.endswith(".bias"): p.copy_(torch.randn(p.shape, generator=g) * 0.5)
        if name.endswith("norm.weight"): p.copy_(1 + torch.randn(p.shape, generator=g) * 0.3)
save_model(lm, out)
export_model_folder(out)
lm.eval()
ids = torch.randint(3, 96, (2, 10), generator=g)
mask = torch.ones(2, 10, dtype=torch.long); mask[1, :3] = 0
pos = (mask.cumsum(1) - 1).clamp(min=0)
steps = torch.randint(3, 96, (3, 2), generator=g).tolist()
res = {"ids": ids.tolist(), "mask": mask.tolist(), "pos": pos.tolist(), "steps": steps, "logits": []}
with torch.no_grad():
    logits, past = lm(ids, pos, lm.cache_masks(mask, 10), None)
    res["logits"].append(logits.tolist())
    for s in steps:
        mask = torch.cat((mask, torch.ones(2, 1, dtype=torch.long)), 1); pos = pos[:, -1:] + 1
        logits, past = lm(torch.tensor([s]).T, pos, lm.cache_masks(mask, 1), past)
        res["logits"].append(logits.tolist())
print(json.dumps(res))
`;

interface Dump {
  ids: number[][];
  mask: number[][];
  pos: number[][];
  steps: number[][];
  logits: number[][][][]; // per pass: [batch][seq][vocab]
}

const i64 = (rows: number[][]) => new ort.Tensor('int64', BigInt64Array.from(rows.flat().map(BigInt)), [rows.length, rows[0]!.length]);

describe.each(Object.entries(VARIANTS))('ONNX export of %s matches torch (onnxruntime-node)', (_name, variant) => {
  let tmp = '';
  let dump: Dump;
  let session: ort.InferenceSession;
  let meta: { num_layers: number; num_kv_heads: number; head_dim: number; vocab_size: number };

  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tuneloop-onnx-variant-'));
    const modelDir = path.join(tmp, 'model');
    const r = spawnSync(python, ['-c', SCRIPT, modelDir, JSON.stringify(variant)], {
      cwd: trainerDir,
      env: { ...process.env, PYTHONPATH: trainerDir },
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
    });
    if (r.status !== 0) throw new Error(`the torch side failed: ${r.stderr}`);
    dump = JSON.parse(r.stdout) as Dump;
    meta = JSON.parse(fs.readFileSync(path.join(modelDir, 'onnx', 'tuneloop-onnx.json'), 'utf8')) as typeof meta;
    session = await ort.InferenceSession.create(path.join(modelDir, 'onnx', 'model.onnx'));
  });

  afterAll(async () => {
    await session?.release();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('gives torch logits for a left-padded batch and three cached steps (max abs diff <= 1e-4)', async () => {
    const feeds: Record<string, ort.Tensor> = {};
    for (let i = 0; i < meta.num_layers; i++)
      for (const kind of ['key', 'value'])
        feeds[`past_key_values.${i}.${kind}`] = new ort.Tensor('float32', new Float32Array(0), [2, meta.num_kv_heads, 0, meta.head_dim]);
    let ids = dump.ids;
    let pos = dump.pos;
    let mask = dump.mask;
    let worst = 0;
    let compared = 0;
    for (let pass = 0; pass < dump.logits.length; pass++) {
      const out = await session.run({ ...feeds, input_ids: i64(ids), attention_mask: i64(mask), position_ids: i64(pos) });
      const got = out.logits!.data as Float32Array;
      const seq = ids[0]!.length;
      expect(out.logits!.dims).toEqual([2, seq, meta.vocab_size]);
      dump.logits[pass]!.forEach((row, b) =>
        row.forEach((want, t) => {
          if (mask[b]![mask[b]!.length - seq + t] === 0) return; // a padding slot's output is not used
          const at = (b * seq + t) * meta.vocab_size;
          want.forEach((w, v) => (worst = Math.max(worst, Math.abs(got[at + v]! - w))));
          compared++;
        }),
      );
      for (let i = 0; i < meta.num_layers; i++) {
        feeds[`past_key_values.${i}.key`] = out[`present.${i}.key`]!;
        feeds[`past_key_values.${i}.value`] = out[`present.${i}.value`]!;
      }
      const step = dump.steps[pass];
      if (!step) break;
      ids = step.map((s) => [s]);
      pos = pos.map((p) => [p[p.length - 1]! + 1]);
      mask = mask.map((m) => [...m, 1]);
    }
    expect(compared).toBe(10 + 7 + 3 * 2);
    expect(worst).toBeLessThanOrEqual(1e-4);
  });
});
