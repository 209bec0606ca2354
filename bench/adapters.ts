/**
 * Many LoRA fine-tunes of one base model served as adapters in one process (the api with a
 * worker, real trainer, real onnxruntime-node). Prints figures and ratios; asserts nothing.
 *
 *   node --expose-gc --import tsx bench/adapters.ts [--adapters 50] [--tokens 48] [--rounds 3] [--targets all-linear] [--rank 8]
 *
 * One LoRA fine-tune of the tiny model is trained by the real worker and trainer; the other
 * `adapters − 1` are made from its PEFT output by perturbing lora_B (training fifty jobs
 * would take most of an hour here; serving cannot tell the difference). Measured:
 *  - time from the job's success to its first streamed token (deploy → READY → first
 *    token), for the first adapter of the base (the base's LoRA-input export and session
 *    included) and for each further fine-tune once the base is loaded (p50 / max);
 *  - resident memory per extra fine-tune (RSS growth over the further adapters / their
 *    number) against what loading one merged copy adds, and the recorded weight bytes of
 *    an adapter against a merged copy's;
 *  - decode tokens/s of 8 concurrent streams spread over 8 different adapters, as a ratio
 *    to 8 streams on one merged deployment (rounds interleaved, median; eos banned so every
 *    request makes exactly `tokens` tokens).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { buildApp } from '../src/app.js';
import { availableCores, loadConfig } from '../src/config.js';
import { QA, qaJsonl } from '../src/dev/qa-dataset.js';
import { restJson, uploadDataset, waitForJob } from '../src/dev/rest-client.js';
import { tinyModelFolder } from '../src/dev/tiny-model-folder.js';
import { TRAINER_DIR, resolvePython } from '../src/engine/python.js';
import { createLogger } from '../src/log.js';
import { ModelTokenizer } from '../src/tokenizer/model-tokenizer.js';

const { values } = parseArgs({
  options: {
    adapters: { type: 'string', default: '50' },
    tokens: { type: 'string', default: '48' },
    rounds: { type: 'string', default: '3' },
    targets: { type: 'string', default: 'all-linear' },
    rank: { type: 'string', default: '8' },
  },
});
const ADAPTERS = Number(values.adapters);
const TOKENS = Number(values.tokens);
const ROUNDS = Number(values.rounds);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(2)} MB`;

// Writes n adapters derived from one: lora_B × (1 + noise), a different fine-tune each.
const DERIVE = `
import json, os, shutil, sys, torch
from tuneloop_trainer import safetensors_io as st
src, out, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
t = st.load_file(os.path.join(src, "adapter_model.safetensors"))
for i in range(n):
    g = torch.Generator().manual_seed(i)
    d = {k: (v * (1 + 0.3 * torch.randn(v.shape, generator=g)) if ".lora_B." in k else v).contiguous() for k, v in t.items()}
    folder = os.path.join(out, f"adapter-{i}")
    os.makedirs(folder, exist_ok=True)
    st.save_file(d, os.path.join(folder, "adapter_model.safetensors"))
    shutil.copy(os.path.join(src, "adapter_config.json"), folder)
`;

async function main(): Promise<void> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tuneloop-bench-adapters-'));
  const app = await buildApp({
    config: loadConfig({ dataDir, databaseUrl: undefined, host: '127.0.0.1', port: 0, logLevel: 'warn' }, {}),
    api: true,
    worker: true,
    log: createLogger('warn'),
  });
  try {
    await app.start();
    const url = app.url!;
    const { inference, catalog, accounts, db } = app.services;
    const { account, apiKey } = await accounts.createAccount({ name: 'bench', initialBalanceMicros: 1_000_000_000_000n, isAdmin: false });
    await catalog.importModel({ dir: await tinyModelFolder(), id: 'tiny', fineTunable: true, pricePerMTokMicros: 0n });
    console.log(
      `model: tiny, ${ADAPTERS} LoRA fine-tunes (rank ${values.rank}, targets ${values.targets}), ${TOKENS} tokens a request, ${os.cpus().length} CPUs (${availableCores()} usable)`,
    );

    const dataset = await uploadDataset(url, apiKey, qaJsonl(QA));
    const hyperparameters = {
      epochs: 20,
      batchSize: 1,
      learningRate: 0.003,
      maxSeqLength: 64,
      loraRank: Number(values.rank),
      loraTargetModules: values.targets!.split(','),
    };
    const started = await restJson<{ id: string }>(url, apiKey, '/api/fine-tune/training/start', {
      method: 'POST',
      body: JSON.stringify({ baseModel: 'tiny', trainingDataset: dataset.id, method: 'LORA', hyperparameters }),
    });
    const job = await waitForJob(url, apiKey, started.body.id, ['SUCCEEDED', 'FAILED'], 900_000);
    if (job.status !== 'SUCCEEDED') throw new Error(`training failed: ${JSON.stringify(job.error)}`);
    const succeeded = performance.now();
    const trained = await db
      .selectFrom('models')
      .selectAll()
      .where('id', '=', job.fineTunedModel as string)
      .executeTakeFirstOrThrow();

    const tokenizer = await ModelTokenizer.load(trained.storage_path);
    const noEos = Object.fromEntries(tokenizer.eosTokenIds.map((id) => [String(id), -100]));
    const firstToken = async (model: string) => {
      const g = await inference.generate({
        accountId: account.id,
        model,
        input: { messages: [{ role: 'user', content: QA[0]![0] }] },
        params: { temperature: 0, maxTokens: 4 },
      });
      for await (const piece of g) if (piece) break;
      await g.result;
    };
    const deploy = async (model: string, servedAs?: string) => {
      const { deployment } = await inference.deploy(account.id, model, servedAs ? { servedAs } : {});
      return inference.waitReady(account.id, deployment.id);
    };

    const first = await deploy(trained.id);
    await firstToken(trained.id);
    const coldMs = performance.now() - succeeded;

    // The other fine-tunes: derived adapters registered as the worker registers a job's model.
    const derived = path.join(dataDir, 'derived');
    const python = resolvePython(undefined);
    const r = spawnSync(python, ['-c', DERIVE, trained.adapter_path!, derived, String(ADAPTERS - 1)], {
      cwd: TRAINER_DIR,
      env: { ...process.env, PYTHONPATH: TRAINER_DIR },
      encoding: 'utf8',
    });
    if (r.status !== 0) throw new Error(`deriving adapters failed: ${r.stderr}`);
    const ids = [trained.id];
    for (let i = 0; i < ADAPTERS - 1; i++) {
      const id = `${trained.id}-${i}`;
      await db
        .insertInto('models')
        .values({ ...trained, training_defaults: null, id, adapter_path: path.join(derived, `adapter-${i}`), created_at: undefined })
        .execute();
      ids.push(id);
    }

    global.gc?.();
    const rssBefore = process.memoryUsage().rss;
    const buffersBefore = process.memoryUsage().arrayBuffers;
    const warmMs: number[] = [];
    for (const id of ids.slice(1)) {
      const t0 = performance.now();
      const dep = await deploy(id);
      if (dep.served_as !== 'ADAPTER') throw new Error(`${id} was served ${dep.served_as}`);
      await firstToken(id);
      warmMs.push(performance.now() - t0);
    }
    global.gc?.();
    const perAdapterRss = (process.memoryUsage().rss - rssBefore) / (ADAPTERS - 1);
    const perAdapterBuffers = (process.memoryUsage().arrayBuffers - buffersBefore) / (ADAPTERS - 1);

    // One merged copy of the first fine-tune, for the memory and throughput baselines.
    await inference.undeploy(account.id, first.id);
    global.gc?.();
    const rssMerged0 = process.memoryUsage().rss;
    const merged = await deploy(trained.id, 'MERGED');
    await firstToken(trained.id);
    global.gc?.();
    const mergedRss = process.memoryUsage().rss - rssMerged0;

    const streams = async (models: string[]) => {
      const t0 = performance.now();
      const results = await Promise.all(
        models.map((model) =>
          inference.complete({
            accountId: account.id,
            model,
            input: { messages: [{ role: 'user', content: QA[1]![0] }] },
            params: { temperature: 0, maxTokens: TOKENS, logitBias: noEos },
          }),
        ),
      );
      return results.reduce((n, x) => n + x.completionTokens, 0) / ((performance.now() - t0) / 1000);
    };
    const adapterStreams = ids.slice(1, 9);
    const mergedStreams = new Array<string>(8).fill(trained.id);
    await streams(adapterStreams); // warm-up
    await streams(mergedStreams);
    const over8: number[] = [];
    const on1: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      over8.push(await streams(adapterStreams));
      on1.push(await streams(mergedStreams));
    }

    const adapterBytes = Number(first.weight_bytes_in_memory);
    const mergedBytes = Number(merged.weight_bytes_in_memory);
    console.log('adapters: 1 trained by the real worker; the others derived from its PEFT output (lora_B perturbed), not trained');
    console.log(`job success → first token, first adapter of the base (LoRA-input export + session): ${coldMs.toFixed(0)} ms`);
    console.log(
      `deploy → READY → first token, each further fine-tune (base loaded): p50 ${median(warmMs).toFixed(1)} ms, max ${Math.max(...warmMs).toFixed(1)} ms`,
    );
    console.log(
      `weights held per fine-tune (recorded): adapter ${mb(adapterBytes)} vs merged ${mb(mergedBytes)} = ${((100 * adapterBytes) / mergedBytes).toFixed(2)} %`,
    );
    console.log(
      `resident memory per extra fine-tune: ${mb(perAdapterRss)} vs one merged copy ${mb(mergedRss)} = ${((100 * perAdapterRss) / mergedRss).toFixed(2)} % (target ≤ 5 %)`,
    );
    console.log(
      `array buffers (where adapter factors live) per extra fine-tune: ${mb(perAdapterBuffers)} = ${((100 * perAdapterBuffers) / mergedRss).toFixed(2)} % of one merged copy's resident memory`,
    );
    console.log(`adapter store: ${JSON.stringify(inference.adapterStats())}`);
    console.log(
      `8 streams over 8 adapters: ${median(over8).toFixed(0)} tok/s; 8 streams on one merged model: ${median(on1).toFixed(0)} tok/s; ratio ${(median(over8) / median(on1)).toFixed(2)} (target ≥ 0.7)`,
    );
  } finally {
    await app.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
