import { spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { resolvePython, TRAINER_DIR } from '../../src/engine/python.js';
import { shortId, newId } from '../../src/ids.js';
import type { TestApp } from './app.js';

export { onnxModelFolder } from '../../src/dev/onnx-model-folder.js';

/** Registers a copy of `dir` as a model fine-tuned by `ownerAccountId` (what training will do). */
export async function insertFineTunedModel(t: TestApp, ownerAccountId: string, dir: string, suffix = 'test'): Promise<string> {
  const id = `ft:tiny-base:${suffix}:${shortId(newId('trainingJob'))}`;
  const target = path.join(t.config.dataDir, 'models', id.replace(/:/g, '_'));
  await fs.cp(dir, target, { recursive: true });
  const base = await t.app.services.db.selectFrom('models').selectAll().where('id', '=', 'tiny-base').executeTakeFirstOrThrow();
  await t.app.services.db
    .insertInto('models')
    .values({
      ...base,
      training_defaults: base.training_defaults && JSON.stringify(base.training_defaults),
      id,
      owner_account_id: ownerAccountId,
      base_model_id: 'tiny-base',
      fine_tunable: false,
      storage_path: target,
      onnx_path: (await fs.stat(path.join(target, 'onnx', 'model.onnx')).then(
        () => true,
        () => false,
      ))
        ? path.join(target, 'onnx', 'model.onnx')
        : null,
      created_at: undefined,
    })
    .execute();
  return id;
}

export async function post(t: TestApp, apiKey: string | undefined, route: string, body: unknown, signal?: AbortSignal): Promise<Response> {
  return fetch(`${t.url}${route}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}) },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    ...(signal ? { signal } : {}),
  });
}

/** POST /api/deployments, then waits until the deployment serves. Returns its id. */
export async function deployReady(t: TestApp, apiKey: string, accountId: string, modelId: string, timeoutMs = 60_000): Promise<string> {
  const response = await post(t, apiKey, '/api/deployments', { modelId });
  if (response.status !== 201 && response.status !== 200) throw new Error(`deploy answered ${response.status}: ${await response.text()}`);
  const { id } = (await response.json()) as { id: string };
  await t.app.services.inference.waitReady(accountId, id, { timeoutMs });
  return id;
}

/** The `data:` payloads of a server-sent event stream, in order (`[DONE]` included). */
export async function sseData(response: Response, onData?: (data: string, index: number) => boolean | undefined): Promise<string[]> {
  const out: string[] = [];
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const event = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = event
          .split('\n')
          .filter((l) => l.startsWith('data: '))
          .map((l) => l.slice(6))
          .join('\n');
        out.push(data);
        if (onData?.(data, out.length - 1) === true) return out;
      }
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  return out;
}

// Torch side of the parity check: the trainer's model, greedy with its KV cache, stopping at eos.
const TORCH_GREEDY = `
import json, sys, torch
from tuneloop_trainer.hf_io import load_model
_, lm = load_model(sys.argv[1]); lm.eval()
prompts = json.loads(sys.argv[2]); steps = int(sys.argv[3]); eos = set(json.loads(sys.argv[4])); answers = []
with torch.no_grad():
    for prompt in prompts:
        logits, past = lm(torch.tensor([prompt])); out = []
        for i in range(steps):
            nxt = int(logits[0, -1].argmax()); out.append(nxt)
            if nxt in eos: break
            logits, past = lm(torch.tensor([[nxt]]), torch.tensor([[len(prompt) + i]]), None, past)
        answers.append(out)
print(json.dumps(answers))
`;

/** torch's greedy tokens for each prompt (the reference the ONNX runtime must reproduce). */
export function torchGreedy(modelDir: string, prompts: number[][], maxTokens: number, eos: number[]): number[][] {
  const python = resolvePython(process.env.TUNELOOP_PYTHON);
  const r = spawnSync(python, ['-c', TORCH_GREEDY, modelDir, JSON.stringify(prompts), String(maxTokens), JSON.stringify(eos)], {
    cwd: TRAINER_DIR,
    env: { ...process.env, PYTHONPATH: TRAINER_DIR },
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`torch greedy failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as number[][];
}
