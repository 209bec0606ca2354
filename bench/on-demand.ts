/**
 * Fine-tuned models called without a deployment (docs/inference.md § On-demand models),
 * through the whole api with the official `openai` package. Prints figures and ratios;
 * asserts nothing.
 *
 *   npx tsx bench/on-demand.ts [--size tiny] [--models 24] [--budget-models 8] [--cold 5]
 *
 * Measured:
 *  - cold start: request sent → first streamed text of a fine-tuned model nobody called
 *    yet in this process (the load: runtime worker, onnxruntime session, tokenizer), the
 *    median over `cold` models, against the same request to the same model once it is
 *    loaded (warm), as a ratio;
 *  - capacity: `models` fine-tunes of one base called one after the other with a budget of
 *    `budget-models` × one model's weight bytes: how many stay loaded, how many were
 *    unloaded to make room (least recently used first), and what the process's resident
 *    memory grew by per loaded model.
 *  - LoRA cold start: the same request to a LoRA fine-tune nobody called yet, served on
 *    demand as its adapter over the base's shared LoRA-input runtime (no merge, no export
 *    of the fine-tune): for the first adapter of the base (its LoRA-input export and
 *    session included) and the median over `cold` further ones (factors read only), as a
 *    ratio to the merged cold start. Success → first token: an on-demand fine-tune is
 *    servable once its row exists.
 * The fine-tunes are copies of one model folder registered as separate fine-tuned models
 * (each its own runtime, as separately trained ones would be); their ONNX export exists,
 * so the cold start is the load, not an export. The LoRA fine-tunes are rank-8 adapters of
 * all seven linears with random factors (the real trainer's PEFT output format), not
 * trained: serving cannot tell the difference.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import OpenAI from 'openai';
import { startLocalApp } from '../src/dev/local-app.js';
import { onnxModelFolder } from '../src/dev/onnx-model-folder.js';
import { TRAINER_DIR, resolvePython } from '../src/engine/python.js';
import { newId, shortId } from '../src/ids.js';

const { values } = parseArgs({
  options: {
    size: { type: 'string', default: 'tiny' },
    models: { type: 'string', default: '24' },
    'budget-models': { type: 'string', default: '8' },
    cold: { type: 'string', default: '5' },
  },
});
const MODELS = Number(values.models);
const BUDGET_MODELS = Number(values['budget-models']);
const COLD = Math.min(Number(values.cold), MODELS);

// Writes n rank-8 PEFT adapters of all seven linears of the model in argv[1], random factors each.
const ADAPTERS = `
import os, sys, torch
from tuneloop_trainer.hf_io import load_model
from tuneloop_trainer.lora import apply_lora
from tuneloop_trainer.outputs import save_adapter
folder, out, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
for i in range(n):
    torch.manual_seed(i)
    _, lm = load_model(folder)
    apply_lora(lm, targets, 8, 16, 0.0)
    with torch.no_grad():
        for name, p in lm.named_parameters():
            if p.requires_grad:
                p.normal_(0, 0.05)
    save_adapter(lm, os.path.join(out, f"a{i}"), targets, 8, 16, 0.0, "bench-base")
`;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

async function main(): Promise<void> {
  const folder = await onnxModelFolder({ size: values.size! });
  const meta = JSON.parse(await fs.readFile(path.join(folder, 'onnx', 'tuneloop-onnx.json'), 'utf8')) as { weight_bytes: number };
  const budget = BUDGET_MODELS * meta.weight_bytes;
  const local = await startLocalApp({ config: { onDemandMemoryBytes: budget, onDemandIdleMs: 60 * 60_000 } });
  try {
    const { accountId, apiKey } = await local.account('bench', 1_000_000_000n);
    await local.app.services.catalog.importModel({ dir: folder, id: 'bench-base', fineTunable: true });
    const db = local.app.services.db;
    const base = await db.selectFrom('models').selectAll().where('id', '=', 'bench-base').executeTakeFirstOrThrow();
    const ids: string[] = [];
    for (let i = 0; i < MODELS; i++) {
      const id = `ft:bench-base:m${i}:${shortId(newId('trainingJob'))}`;
      await db
        .insertInto('models')
        .values({
          ...base,
          training_defaults: base.training_defaults && JSON.stringify(base.training_defaults),
          id,
          owner_account_id: accountId,
          base_model_id: base.id,
          fine_tunable: false,
          created_at: undefined,
        })
        .execute();
      ids.push(id);
    }
    // LoRA fine-tunes of the same base: adapters, no merged folder or export of their own.
    const adapterDir = await fs.mkdtemp(path.join(local.config.dataDir, 'bench-adapters-'));
    const made = spawnSync(resolvePython(undefined), ['-c', ADAPTERS, folder, adapterDir, String(COLD + 1)], {
      cwd: TRAINER_DIR,
      env: { ...process.env, PYTHONPATH: TRAINER_DIR },
      encoding: 'utf8',
    });
    if (made.status !== 0) throw new Error(`making adapters failed: ${made.stderr}`);
    const loraIds: string[] = [];
    for (let i = 0; i <= COLD; i++) {
      const id = `ft:bench-base:lora${i}:${shortId(newId('trainingJob'))}`;
      await db
        .insertInto('models')
        .values({
          ...base,
          training_defaults: null,
          id,
          owner_account_id: accountId,
          base_model_id: base.id,
          fine_tunable: false,
          onnx_path: null,
          adapter_path: path.join(adapterDir, `a${i}`, 'adapter'),
          created_at: undefined,
        })
        .execute();
      loraIds.push(id);
    }
    const client = new OpenAI({ apiKey, baseURL: `${local.url}/v1`, maxRetries: 0 });
    const firstText = async (model: string) => {
      const started = performance.now();
      const stream = await client.chat.completions.create({
        model,
        messages: [{ role: 'user', content: 'Hello' }],
        temperature: 0,
        max_completion_tokens: 8,
        logit_bias: { '1023': -100, '1021': -100 },
        stream: true,
      });
      let at: number | undefined;
      for await (const chunk of stream) if (at === undefined && chunk.choices[0]?.delta.content) at = performance.now() - started;
      return at ?? performance.now() - started;
    };

    // Cold against warm, interleaved: model i cold, then model i warm.
    const rssStart = process.memoryUsage().rss;
    const cold: number[] = [];
    const warm: number[] = [];
    for (const id of ids.slice(0, COLD)) {
      cold.push(await firstText(id));
      warm.push(await firstText(id));
    }

    const rssCold = process.memoryUsage().rss;

    // LoRA fine-tunes on demand: the first of the base (its LoRA-input export and session),
    // then further ones over the loaded base, each cold then warm.
    const loraFirst = await firstText(loraIds[0]!);
    const loraCold: number[] = [];
    const loraWarm: number[] = [];
    for (const id of loraIds.slice(1)) {
      loraCold.push(await firstText(id));
      loraWarm.push(await firstText(id));
    }
    const servedAs = new Set(
      local.app.services.inference
        .onDemandModels()
        .filter((m) => loraIds.includes(m.model))
        .map((m) => m.servedAs),
    );
    const loraBytes = local.app.services.inference.onDemandModels().find((m) => m.model === loraIds[1])?.bytes ?? 0;

    // Capacity: every model once, in order, within the budget.
    let most = 0;
    for (const id of ids) {
      await firstText(id);
      most = Math.max(most, local.app.services.inference.onDemandModels().filter((m) => ids.includes(m.model)).length);
    }
    const state = local.app.services.inference.onDemandModels().filter((m) => ids.includes(m.model));
    const loads = ids.reduce((sum, id) => sum + local.app.services.inference.onDemandLoadCount(id), 0);
    const rssAfter = process.memoryUsage().rss;

    console.log(`on-demand models (${values.size}, weights ${mib(meta.weight_bytes)} each, float32)`);
    console.log(`  cold start, request → first text: median ${median(cold).toFixed(0)} ms over ${COLD} models`);
    console.log(`  warm, same request once loaded:   median ${median(warm).toFixed(0)} ms`);
    console.log(`  cold / warm: ${(median(cold) / median(warm)).toFixed(1)}x`);
    console.log(`  LoRA fine-tunes (rank 8, all linears) on demand, served as ${[...servedAs].join(', ')}:`);
    console.log(`    first adapter of the base (its LoRA-input export + session): ${loraFirst.toFixed(0)} ms`);
    console.log(
      `    further adapters: cold median ${median(loraCold).toFixed(0)} ms, warm median ${median(loraWarm).toFixed(0)} ms over ${loraCold.length}; cold adapter / cold merged: ${(median(loraCold) / median(cold)).toFixed(2)}x`,
    );
    console.log(`    counted against the budget per adapter: ${mib(loraBytes)} (its factors) vs ${mib(meta.weight_bytes)} merged`);
    console.log(`  budget ${mib(budget)} (${BUDGET_MODELS} models' weights); ${MODELS} fine-tunes called in turn:`);
    console.log(`    loaded at most ${most} at once; ${state.length} loaded at the end (${mib(state.reduce((s, m) => s + m.bytes, 0))})`);
    console.log(`    ${loads} loads in all, ${loads - state.length} unloaded to make room (least recently used first)`);
    console.log(
      `  resident memory: ${mib((rssCold - rssStart) / COLD)} per loaded model (${COLD} loaded from none: ${mib(rssStart)} → ${mib(rssCold)}); ${mib(rssAfter)} after the capacity run`,
    );
  } finally {
    await local.stop();
  }
}

await main();
