/**
 * The trainer's ONNX export, run by the same runtime the inference engine uses
 * (onnxruntime-node), must give torch's logits: full prompt, prompt + one cached step,
 * and 20 greedy steps with the KV cache. Real trainer, real export, no fixtures.
 * The same init-model folder's tokenizer must load in @huggingface/tokenizers.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Template } from '@huggingface/jinja';
import { Tokenizer } from '@huggingface/tokenizers';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const trainerDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../trainer');
const python = process.env.TUNELOOP_PYTHON ?? '/usr/bin/python3';
const GREEDY_STEPS = 20;
const PROMPT = [1022, 333, 262, 10, 441, 44, 377, 320, 33, 1023, 10, 1022, 87, 262, 10];

interface Reference {
  full: number[][][]; // [batch][seq][vocab]
  step: number[]; // logits of token PROMPT[8] after a cached prefix PROMPT[0..8)
  greedy: number[];
}

// Torch side: same model folder, same inputs, written as JSON for the comparison.
const DUMP = `
import json, sys, torch
from tuneloop_trainer.hf_io import load_model
_, lm = load_model(sys.argv[1]); lm.eval()
prompt = json.loads(sys.argv[2]); steps = int(sys.argv[3])
x = torch.tensor([prompt, prompt[::-1]])
with torch.no_grad():
    full, _ = lm(x)
    _, past = lm(x[:1, :8])
    step, _ = lm(x[:1, 8:9], torch.tensor([[8]]), None, past)
    logits, past = lm(x[:1]); out = []
    for i in range(steps):
        nxt = int(logits[0, -1].argmax()); out.append(nxt)
        logits, past = lm(torch.tensor([[nxt]]), torch.tensor([[len(prompt) + i]]), None, past)
print(json.dumps({"full": full.tolist(), "step": step[0, 0].tolist(), "greedy": out}))
`;

function runPython(args: string[]): string {
  const r = spawnSync(python, args, {
    cwd: trainerDir,
    env: { ...process.env, PYTHONPATH: trainerDir },
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.status !== 0) throw new Error(`${python} ${args.slice(0, 3).join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

interface Meta {
  num_layers: number;
  num_kv_heads: number;
  head_dim: number;
  vocab_size: number;
}

describe('ONNX export matches torch (onnxruntime-node)', () => {
  let tmp = '';
  let ref: Reference;
  let meta: Meta;
  let session: ort.InferenceSession;

  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tuneloop-onnx-'));
    const modelDir = path.join(tmp, 'model');
    runPython(['-m', 'tuneloop_trainer', 'init-model', '--size', 'tiny', '--out', modelDir, '--seed', '7']);
    runPython(['-m', 'tuneloop_trainer', 'export-onnx', '--model', modelDir]);
    ref = JSON.parse(runPython(['-c', DUMP, modelDir, JSON.stringify(PROMPT), String(GREEDY_STEPS)])) as Reference;
    meta = JSON.parse(fs.readFileSync(path.join(modelDir, 'onnx', 'tuneloop-onnx.json'), 'utf8')) as Meta;
    session = await ort.InferenceSession.create(path.join(modelDir, 'onnx', 'model.onnx'));
  });

  afterAll(async () => {
    await session?.release();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  const i64 = (values: number[], dims: number[]) => new ort.Tensor('int64', BigInt64Array.from(values.map((v) => BigInt(v))), dims);

  function emptyCache(batch: number): Record<string, ort.Tensor> {
    const feeds: Record<string, ort.Tensor> = {};
    for (let i = 0; i < meta.num_layers; i++) {
      for (const kind of ['key', 'value']) {
        feeds[`past_key_values.${i}.${kind}`] = new ort.Tensor('float32', new Float32Array(0), [
          batch,
          meta.num_kv_heads,
          0,
          meta.head_dim,
        ]);
      }
    }
    return feeds;
  }

  /** One forward: rows of token ids starting at `start`, on top of `cache` (past length = start). */
  async function forward(rows: number[][], start: number, cache: Record<string, ort.Tensor>) {
    const batch = rows.length;
    const seq = rows[0]!.length;
    const out = await session.run({
      input_ids: i64(rows.flat(), [batch, seq]),
      attention_mask: i64(new Array<number>(batch * (start + seq)).fill(1), [batch, start + seq]),
      position_ids: i64(
        rows.flatMap(() => Array.from({ length: seq }, (_, t) => start + t)),
        [batch, seq],
      ),
      ...cache,
    });
    const next: Record<string, ort.Tensor> = {};
    for (let i = 0; i < meta.num_layers; i++) {
      next[`past_key_values.${i}.key`] = out[`present.${i}.key`]!;
      next[`past_key_values.${i}.value`] = out[`present.${i}.value`]!;
    }
    return { logits: out.logits!.data as Float32Array, dims: out.logits!.dims, cache: next };
  }

  function maxAbsDiff(got: Float32Array, offset: number, want: number[]): number {
    let d = 0;
    want.forEach((w, v) => (d = Math.max(d, Math.abs(got[offset + v]! - w))));
    return d;
  }

  it('has the documented inputs and outputs', () => {
    expect(session.inputNames.slice(0, 5)).toEqual([
      'input_ids',
      'attention_mask',
      'position_ids',
      'past_key_values.0.key',
      'past_key_values.0.value',
    ]);
    expect(session.outputNames.slice(0, 3)).toEqual(['logits', 'present.0.key', 'present.0.value']);
    expect(session.inputNames).toHaveLength(3 + 2 * meta.num_layers);
  });

  it('gives torch logits for a batch of two full prompts (max abs diff <= 1e-4)', async () => {
    const rows = [PROMPT, [...PROMPT].reverse()];
    const { logits, dims } = await forward(rows, 0, emptyCache(2));
    expect(dims).toEqual([2, PROMPT.length, meta.vocab_size]);
    let worst = 0;
    ref.full.forEach((row, b) =>
      row.forEach((want, t) => {
        worst = Math.max(worst, maxAbsDiff(logits, (b * PROMPT.length + t) * meta.vocab_size, want));
      }),
    );
    expect(worst).toBeLessThanOrEqual(1e-4);
  });

  it('gives torch logits for one cached step after a prefix', async () => {
    const prefix = await forward([PROMPT.slice(0, 8)], 0, emptyCache(1));
    const step = await forward([[PROMPT[8]!]], 8, prefix.cache);
    expect(step.dims).toEqual([1, 1, meta.vocab_size]);
    expect(maxAbsDiff(step.logits, 0, ref.step)).toBeLessThanOrEqual(1e-4);
  });

  it('decodes the same greedy tokens as torch over 20 cached steps', async () => {
    let { logits, cache } = await forward([PROMPT], 0, emptyCache(1));
    let last = logits.subarray((PROMPT.length - 1) * meta.vocab_size);
    const tokens: number[] = [];
    for (let i = 0; i < GREEDY_STEPS; i++) {
      let best = 0;
      for (let v = 1; v < meta.vocab_size; v++) if (last[v]! > last[best]!) best = v;
      tokens.push(best);
      ({ logits, cache } = await forward([[best]], PROMPT.length + i, cache));
      last = logits;
    }
    expect(tokens).toEqual(ref.greedy);
  });
});

describe('init-model tokenizer (@huggingface/tokenizers)', () => {
  let tmp = '';
  let tokenizer: Tokenizer;
  let config: { chat_template: string; eos_token: string };

  beforeAll(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tuneloop-tok-'));
    const modelDir = path.join(tmp, 'model');
    runPython(['-m', 'tuneloop_trainer', 'init-model', '--size', 'tiny', '--out', modelDir]);
    const json = JSON.parse(fs.readFileSync(path.join(modelDir, 'tokenizer.json'), 'utf8')) as object;
    config = JSON.parse(fs.readFileSync(path.join(modelDir, 'tokenizer_config.json'), 'utf8')) as typeof config;
    tokenizer = new Tokenizer(json, config);
  });

  afterAll(() => {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('round-trips any text, multi-byte characters included', () => {
    for (const text of ['Hello, world!', 'héllo 日本 🎉', '  spaces\tand\n\nnewlines  ', 'The capital of France is Paris.']) {
      const { ids } = tokenizer.encode(text);
      expect(ids.every((id: number) => id >= 0 && id < 1024)).toBe(true);
      expect(tokenizer.decode(ids)).toBe(text);
    }
    expect(tokenizer.encode('The capital of France is Paris.').ids.length).toBeLessThan(15);
  });

  it('renders the ChatML template and maps special tokens to single ids', () => {
    const text = new Template(config.chat_template).render({
      messages: [
        { role: 'user', content: 'Hi' },
        { role: 'assistant', content: 'Hello' },
      ],
      add_generation_prompt: true,
    });
    expect(text).toBe('<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello<|im_end|>\n<|im_start|>assistant\n');
    const { ids } = tokenizer.encode(text);
    expect(ids[0]).toBe(1022);
    expect(ids.filter((id: number) => id === 1023)).toHaveLength(2);
    expect(config.eos_token).toBe('<|im_end|>');
  });
});
