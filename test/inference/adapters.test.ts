/**
 * LoRA fine-tunes served as adapters over one shared base runtime: the tiny model is
 * fine-tuned with LoRA by the real worker and trainer until it has learnt a Q&A set; two
 * more adapters are made from its PEFT output (one perturbed, one cut to rank 4). Served as
 * adapters (the default) they answer with the greedy tokens of the merged float32
 * deployment, logits within 1e-4; one batch mixing three adapters and the base gives each
 * row its answer alone; a budget that holds one adapter evicts and reloads without changing
 * an answer; another account cannot see any of it.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTempDir, startTestApp } from '../helpers/app.js';
import type { TestApp } from '../helpers/app.js';
import { createTestDatabase, engines } from '../helpers/db.js';
import { addTinyModel } from '../helpers/training.js';
import { post } from '../helpers/inference.js';
import { QA, qaJsonl } from '../../src/dev/qa-dataset.js';
import { restJson, uploadDataset, waitForJob } from '../../src/dev/rest-client.js';
import { TRAINER_DIR, resolvePython } from '../../src/engine/python.js';
import { AdapterStore } from '../../src/inference/adapter-store.js';
import { canonicalTargets, loraExportDir } from '../../src/inference/onnx-export.js';
import { OnnxCausalLM } from '../../src/inference/runtime/onnx-causal-lm.js';
import { readOnnxInfo } from '../../src/inference/runtime/onnx-info.js';
import { BatchScheduler } from '../../src/inference/runtime/scheduler.js';
import type { AdapterFactors } from '../../src/inference/runtime/lora-stack.js';
import type { ForwardInput } from '../../src/inference/runtime/onnx-causal-lm.js';
import type { GenerationJob, JobEvent } from '../../src/inference/runtime/protocol.js';
import { ModelTokenizer } from '../../src/tokenizer/model-tokenizer.js';

const HYPERPARAMETERS = {
  epochs: 60,
  batchSize: 1,
  learningRate: 0.003,
  loraAlpha: 16,
  loraTargetModules: ['all-linear'],
  maxSeqLength: 64,
  warmupSteps: 2,
  checkpointEvery: 1000,
  loraRank: 8,
  loraDropout: 0,
};

/** The shared graph's folder beside the base model's files. */
const LORA_DIR = loraExportDir(['all-linear']);

/** One adapter's tensors: A and B of 7 linears in 4 layers at rank 8 (q, o: 256→256; k, v: 256→64; gate, up: 256→704; down: 704→256). */
const ADAPTER_BYTES = 4 * 8 * 4 * (2 * 512 + 2 * 320 + 3 * 960);
/** Holds one adapter: every switch evicts. */
const ONE_ADAPTER_BUDGET = Math.round(ADAPTER_BYTES * 1.4);

// Makes an adapter from another: lora_B scaled and noised (a different fine-tune), or cut to a rank.
const DERIVE = `
import json, os, shutil, sys, torch
from tuneloop_trainer import safetensors_io as st
src, out, seed, scale, rank = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
t = st.load_file(os.path.join(src, "adapter_model.safetensors"))
g = torch.Generator().manual_seed(seed)
for k in list(t):
    if ".lora_B." in k:
        t[k] = (t[k] * scale + torch.randn(t[k].shape, generator=g) * float(t[k].std()))[:, :rank].contiguous()
    else:
        t[k] = t[k][:rank].contiguous()
cfg = json.load(open(os.path.join(src, "adapter_config.json")))
cfg["r"] = rank
os.makedirs(out, exist_ok=True)
st.save_file(t, os.path.join(out, "adapter_model.safetensors"))
json.dump(cfg, open(os.path.join(out, "adapter_config.json"), "w"))
`;

function derive(src: string, out: string, seed: number, scale: number, rank: number): string {
  const python = resolvePython(process.env.TUNELOOP_PYTHON);
  const r = spawnSync(python, ['-c', DERIVE, src, out, String(seed), String(scale), String(rank)], {
    cwd: TRAINER_DIR,
    env: { ...process.env, PYTHONPATH: TRAINER_DIR },
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`deriving an adapter failed: ${r.stderr}`);
  return out;
}

/** Trains the tiny model with LoRA through the real worker; returns a copy of the job's outputs (model/, adapter/). */
async function trainedOutputs(): Promise<string> {
  const t = await startTestApp('pglite', { worker: true });
  try {
    const key = (await t.account('trainer', 100_000_000n)).apiKey;
    await addTinyModel(t, 'tiny', 0n);
    const dataset = await uploadDataset(t.url, key, qaJsonl(QA));
    const started = await restJson<{ id: string }>(t.url, key, '/api/fine-tune/training/start', {
      method: 'POST',
      body: JSON.stringify({ baseModel: 'tiny', trainingDataset: dataset.id, method: 'LORA', hyperparameters: HYPERPARAMETERS }),
    });
    const job = await waitForJob(t.url, key, started.body.id, ['SUCCEEDED', 'FAILED'], 500_000);
    if (job.status !== 'SUCCEEDED') throw new Error(`training failed: ${JSON.stringify(job.error)}`);
    const model = await t.app.services.db
      .selectFrom('models')
      .select(['storage_path', 'adapter_path'])
      .where('id', '=', job.fineTunedModel as string)
      .executeTakeFirstOrThrow();
    const copy = await makeTempDir('tuneloop-lora-');
    await fs.cp(model.storage_path, path.join(copy, 'model'), { recursive: true });
    await fs.cp(model.adapter_path!, path.join(copy, 'adapter'), { recursive: true });
    return copy;
  } finally {
    await t.stop();
  }
}

let outputs: string;
const adapterDirs: Record<'a' | 'b' | 'c', string> = {} as never;

beforeAll(async () => {
  outputs = await trainedOutputs();
  adapterDirs.a = path.join(outputs, 'adapter');
  adapterDirs.b = derive(adapterDirs.a, path.join(outputs, 'adapter-b'), 1, -1, 8);
  adapterDirs.c = derive(adapterDirs.a, path.join(outputs, 'adapter-c'), 2, 2, 4);
}, 600_000);
afterAll(async () => {
  if (outputs) await fs.rm(outputs, { recursive: true, force: true });
});

/**
 * Registers a LoRA fine-tune of `tiny` owned by `ownerId`, as training does: the adapter,
 * and the trained (merged) model folder — without its ONNX export when `mergedExport` is
 * false, so a test sees whether serving made one.
 */
async function registerLora(
  t: TestApp,
  ownerId: string,
  id: string,
  adapterDir: string,
  opts: { mergedExport: boolean } = { mergedExport: true },
): Promise<{ id: string; modelDir: string }> {
  const dir = path.join(t.config.dataDir, 'models', id.replace(/:/g, '_'));
  const modelDir = path.join(dir, 'model');
  await fs.cp(path.join(outputs, 'model'), modelDir, { recursive: true });
  if (!opts.mergedExport) await fs.rm(path.join(modelDir, 'onnx'), { recursive: true, force: true });
  await fs.cp(adapterDir, path.join(dir, 'adapter'), { recursive: true });
  const base = await t.app.services.db.selectFrom('models').selectAll().where('id', '=', 'tiny').executeTakeFirstOrThrow();
  await t.app.services.db
    .insertInto('models')
    .values({
      ...base,
      training_defaults: null,
      id,
      owner_account_id: ownerId,
      base_model_id: 'tiny',
      fine_tunable: false,
      storage_path: modelDir,
      onnx_path: opts.mergedExport ? path.join(modelDir, 'onnx', 'model.onnx') : null,
      adapter_path: path.join(dir, 'adapter'),
      created_at: undefined,
    })
    .execute();
  return { id, modelDir };
}

/** Greedy token ids of `model`'s answer to each question, asked at once. */
function greedyAnswers(t: TestApp, accountId: string, model: string, questions = QA.map(([q]) => q)): Promise<number[][]> {
  return Promise.all(
    questions.map(async (q) => {
      const r = await t.app.services.inference.complete({
        accountId,
        model,
        input: { messages: [{ role: 'user', content: q }] },
        params: { temperature: 0, maxTokens: 24 },
      });
      return r.tokenIds;
    }),
  );
}

interface DeploymentJson {
  id: string;
  status: string;
  error: string | null;
  servedAs: string;
  quantization: string;
  weightBytesOnDisk: number | null;
  weightBytesInMemory: number | null;
}

/** Deploys `modelId` through REST and waits until it is READY; the deployment as REST shows it. */
async function deployAndWait(t: TestApp, key: string, accountId: string, modelId: string, servedAs?: string): Promise<DeploymentJson> {
  const r = await restJson<DeploymentJson>(t.url, key, '/api/deployments', {
    method: 'POST',
    body: JSON.stringify({ modelId, ...(servedAs ? { servedAs } : {}) }),
  });
  expect([200, 201], JSON.stringify(r.body)).toContain(r.status);
  await t.app.services.inference.waitReady(accountId, r.body.id, { timeoutMs: 240_000 });
  return (await restJson<DeploymentJson>(t.url, key, `/api/deployments/${r.body.id}`)).body;
}

describe.each(engines())('adapter deployments (%s)', (engine) => {
  let t: TestApp;
  let alice: { accountId: string; apiKey: string };
  let bob: { accountId: string; apiKey: string };
  const models: Record<'a' | 'b' | 'c', string> = {} as never;

  /** Registers a LoRA fine-tune of `tiny` owned by alice, as training does (its merged folder: the trained one). */
  async function register(name: 'a' | 'b' | 'c'): Promise<string> {
    return (await registerLora(t, alice.accountId, `ft:tiny:${name}:${engine}`, adapterDirs[name])).id;
  }

  const deploy = (key: string, accountId: string, modelId: string, servedAs?: string) =>
    deployAndWait(t, key, accountId, modelId, servedAs);

  /** Greedy token ids of the model's answer to each question. */
  const answers = (accountId: string, model: string, questions?: string[]) => greedyAnswers(t, accountId, model, questions);

  const deployed: Record<string, DeploymentJson> = {};
  let adapterAnswers: number[][];

  beforeAll(async () => {
    t = await startTestApp(engine, { config: { adapterMemoryBytes: ONE_ADAPTER_BUDGET } });
    alice = await t.account('alice');
    bob = await t.account('bob');
    await addTinyModel(t, 'tiny', 0n);
    for (const name of ['a', 'b', 'c'] as const) models[name] = await register(name);
    deployed.a = await deploy(alice.apiKey, alice.accountId, models.a);
  }, 600_000);
  afterAll(async () => {
    await t?.stop();
  });

  it('deploys a LoRA fine-tune as its adapter by default: no export or session of its own', async () => {
    expect(deployed.a).toMatchObject({ status: 'READY', error: null, servedAs: 'ADAPTER', quantization: 'NONE' });
    // What it holds is its factors, not a copy of the model.
    const factors = ADAPTER_BYTES;
    expect(deployed.a!.weightBytesInMemory).toBe(factors);
    const merged = JSON.parse(await fs.readFile(path.join(outputs, 'model', 'onnx', 'tuneloop-onnx.json'), 'utf8')) as {
      weight_bytes: number;
    };
    expect(factors / merged.weight_bytes).toBeLessThan(0.05);
    expect(deployed.a!.weightBytesOnDisk).toBe((await fs.stat(path.join(adapterDirs.a, 'adapter_model.safetensors'))).size);
    // The shared graph lives beside the base model's files; the fine-tune's folder gained nothing.
    const base = await t.app.services.db.selectFrom('models').select('storage_path').where('id', '=', 'tiny').executeTakeFirstOrThrow();
    expect(await fs.readdir(base.storage_path)).toContain(LORA_DIR);
    expect((await fs.readdir(path.join(outputs, 'model'))).sort()).toEqual(
      (await fs.readdir(path.join(t.config.dataDir, 'models', models.a.replace(/:/g, '_'), 'model'))).sort(),
    );
    // The others join the loaded base runtime; the REST and GraphQL shapes say how they are served.
    deployed.b = await deploy(alice.apiKey, alice.accountId, models.b);
    deployed.c = await deploy(alice.apiKey, alice.accountId, models.c);
    expect([deployed.b!.servedAs, deployed.c!.servedAs, deployed.c!.status]).toEqual(['ADAPTER', 'ADAPTER', 'READY']);
    expect(deployed.c!.weightBytesInMemory).toBe(factors / 2);
  });

  it('answers with the greedy tokens of its merged float32 deployment', { timeout: 300_000 }, async () => {
    adapterAnswers = await answers(alice.accountId, models.a);
    const tokenizer = await ModelTokenizer.load(path.join(outputs, 'model'));
    const learnt = QA.filter(([, a], i) => tokenizer.decode(adapterAnswers[i]!).trim().startsWith(a)).length;
    console.info(`${engine}: the adapter answers ${learnt}/${QA.length} memorised questions`);
    expect(learnt / QA.length).toBeGreaterThanOrEqual(0.9);

    await t.app.services.inference.undeploy(alice.accountId, deployed.a!.id);
    const merged = await deploy(alice.apiKey, alice.accountId, models.a, 'MERGED');
    expect(merged).toMatchObject({ status: 'READY', servedAs: 'MERGED' });
    expect(await answers(alice.accountId, models.a)).toEqual(adapterAnswers);
    await t.app.services.inference.undeploy(alice.accountId, merged.id);
    deployed.a = await deploy(alice.apiKey, alice.accountId, models.a);
    expect(deployed.a.servedAs).toBe('ADAPTER');
  });

  it('gives the merged model’s logits within 1e-4 on a fixed input', async () => {
    const base = await t.app.services.db.selectFrom('models').select('storage_path').where('id', '=', 'tiny').executeTakeFirstOrThrow();
    const loraPath = path.join(base.storage_path, LORA_DIR, 'model.onnx');
    const mergedPath = path.join(outputs, 'model', 'onnx', 'model.onnx');
    const choice = { providers: ['cpu'], threads: 1 };
    const lora = await OnnxCausalLM.load(loraPath, await readOnnxInfo(loraPath, base.storage_path), choice);
    const merged = await OnnxCausalLM.load(mergedPath, await readOnnxInfo(mergedPath, path.join(outputs, 'model')), choice);
    try {
      const adapter = await new AdapterStore(1 << 30).get(adapterDirs.a, lora.info.lora!);
      const prompt = [1, 17, 300, 42, 999, 5, 77, 12];
      const input = (model: OnnxCausalLM): ForwardInput => ({
        batch: 1,
        seq: prompt.length,
        past: 0,
        ids: BigInt64Array.from(prompt.map(BigInt)),
        positions: BigInt64Array.from(prompt.map((_, i) => BigInt(i))),
        mask: new BigInt64Array(prompt.length).fill(1n),
        cache: model.emptyCache(1),
      });
      const a = (await lora.forward({ ...input(lora), adapters: [adapter] })).logits;
      const m = (await merged.forward(input(merged))).logits;
      const b = (await lora.forward(input(lora))).logits;
      let diff = 0;
      let fromBase = 0;
      for (let i = 0; i < m.length; i++) {
        diff = Math.max(diff, Math.abs(a[i]! - m[i]!));
        fromBase = Math.max(fromBase, Math.abs(b[i]! - m[i]!));
      }
      console.info(`${engine}: max |adapter − merged| logit difference ${diff.toExponential(2)} (base vs merged: ${fromBase.toFixed(2)})`);
      expect(diff).toBeLessThanOrEqual(1e-4);
      expect(fromBase).toBeGreaterThan(0.1); // the adapter matters: zero factors are another model
    } finally {
      await Promise.all([lora.release(), merged.release()]);
    }
  });

  it('decodes three adapters and the base in one batch, each row as it answers alone', { timeout: 300_000 }, async () => {
    const base = await t.app.services.db.selectFrom('models').select('storage_path').where('id', '=', 'tiny').executeTakeFirstOrThrow();
    const loraPath = path.join(base.storage_path, LORA_DIR, 'model.onnx');
    const model = await OnnxCausalLM.load(loraPath, await readOnnxInfo(loraPath, base.storage_path), { providers: ['cpu'], threads: 1 });
    const tokenizer = await ModelTokenizer.load(base.storage_path);
    const store = new AdapterStore(1 << 30);
    const factors: (AdapterFactors | undefined)[] = [
      await store.get(adapterDirs.a, model.info.lora!),
      await store.get(adapterDirs.b, model.info.lora!),
      await store.get(adapterDirs.c, model.info.lora!),
      undefined,
    ];
    expect(factors.map((f) => f?.rank)).toEqual([8, 8, 4, undefined]);
    const batches: Array<{ batch: number; adapters: string[] }> = [];
    const recording = {
      info: model.info,
      emptyCache: (b: number) => model.emptyCache(b),
      forward: (input: ForwardInput) => {
        batches.push({ batch: input.batch, adapters: (input.adapters ?? []).map((a) => a?.key ?? 'base') });
        return model.forward(input);
      },
    };
    const prompt = tokenizer.promptIds({ messages: [{ role: 'user', content: QA[3]![0] }] });
    const job = (i: number): GenerationJob => ({
      id: `row-${i}`,
      accountId: `account-${i}`,
      promptIds: prompt,
      maxTokens: 12,
      stop: [],
      sampling: { temperature: 0, topP: 1, topK: 0, seed: 0, presencePenalty: 0, frequencyPenalty: 0, logitBias: [] },
      ...(factors[i] ? { adapter: factors[i] } : {}),
    });
    const run = (jobs: GenerationJob[]) =>
      new Promise<Record<string, number[]>>((resolve) => {
        const done: Record<string, number[]> = {};
        const scheduler = new BatchScheduler(
          recording,
          { maxBatch: 8, prefillChunk: 64, eosTokenIds: tokenizer.eosTokenIds, streamDecoder: () => tokenizer.streamDecoder() },
          (events: JobEvent[]) => {
            for (const e of events) if (e.type === 'done') done[e.id] = e.tokenIds;
            if (Object.keys(done).length === jobs.length) void scheduler.stop().then(() => resolve(done));
          },
        );
        for (const j of jobs) scheduler.submit(j);
      });
    try {
      const alone: Record<string, number[]> = {};
      for (let i = 0; i < 4; i++) Object.assign(alone, await run([job(i)]));
      batches.length = 0;
      const together = await run([0, 1, 2, 3].map(job));
      expect(together).toEqual(alone);
      // They did decode together, each row with its own factors.
      expect(batches.some((b) => b.batch === 4 && new Set(b.adapters).size === 4)).toBe(true);
      // And the adapters are different fine-tunes: not all rows answer alike.
      expect(new Set(Object.values(alone).map((a) => a.join())).size).toBeGreaterThan(1);
    } finally {
      await model.release();
    }
  });

  it('evicts and reloads adapters under a budget that holds one, answers unchanged', { timeout: 300_000 }, async () => {
    const before = t.app.services.inference.adapterStats();
    const questions = [QA[0]![0], QA[1]![0]];
    const first: Record<string, number[][]> = {};
    for (const round of [0, 1]) {
      for (const name of ['a', 'b', 'c', 'a'] as const) {
        const got = await answers(alice.accountId, models[name], questions);
        if (round === 0 && !first[name]) first[name] = got;
        expect(got).toEqual(first[name]);
      }
    }
    expect(first.a).toEqual(adapterAnswers.slice(0, 2));
    const after = t.app.services.inference.adapterStats();
    expect(after.adapters).toBe(1);
    expect(after.bytes).toBeLessThanOrEqual(ONE_ADAPTER_BUDGET);
    expect(after.evictions - before.evictions).toBeGreaterThanOrEqual(6);
    expect(after.loads - before.loads).toBeGreaterThanOrEqual(6);
  });

  it('answers another account exactly as for a missing model or deployment', async () => {
    const asBob = (route: string, body: unknown) => post(t, bob.apiKey, route, body);
    for (const modelId of [models.a, 'ft:tiny:missing:x']) {
      const r = await asBob('/api/deployments', { modelId, servedAs: 'ADAPTER' });
      expect(r.status).toBe(404);
      const chat = await asBob('/v1/chat/completions', { model: modelId, messages: [{ role: 'user', content: 'hi' }] });
      expect(chat.status).toBe(404);
    }
    const foreign = await fetch(`${t.url}/api/deployments/${deployed.b!.id}`, { headers: { authorization: `Bearer ${bob.apiKey}` } });
    expect(foreign.status).toBe(404);
  });

  it('refuses ADAPTER where it cannot serve one, with the reason', async () => {
    const r = await post(t, alice.apiKey, '/api/deployments', { modelId: 'tiny', servedAs: 'ADAPTER' });
    expect(r.status).toBe(409);
    expect(await r.json()).toMatchObject({ code: 'ADAPTER_UNAVAILABLE' });
    const bad = await post(t, alice.apiKey, '/api/deployments', { modelId: 'tiny', servedAs: 'LORA' });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ code: 'INVALID_INPUT' });
    const quantized = await post(t, alice.apiKey, '/api/deployments', { modelId: models.b, servedAs: 'ADAPTER', quantization: 'INT4' });
    expect(quantized.status).toBe(409);
  });
});

describe.each(engines())('on-demand adapters (%s)', (engine) => {
  let dataDir: string;
  let database: { url: string; drop: () => Promise<void> } | undefined;
  let t: TestApp | undefined;
  let alice: { accountId: string; apiKey: string };
  let bob: { accountId: string; apiKey: string };
  const models: Record<'a' | 'b' | 'c', { id: string; modelDir: string }> = {} as never;
  /** The shared runtime's key: the base model with LoRA inputs on all seven linears. */
  const LORA_RUNTIME = `tiny@lora:${canonicalTargets(['all-linear']).join('+')}`;
  let answersOfA: number[][];

  /** Room for two adapters (a and b), not for a third: loading one more unloads the least recently used. */
  const start = async (onDemandIdleMs: number) => {
    t = await startTestApp(engine, {
      dataDir,
      databaseUrl: database?.url,
      config: { onDemandIdleMs, onDemandMemoryBytes: Math.round(2.2 * ADAPTER_BYTES) },
    });
    return t;
  };
  const app = () => t!;
  const inference = () => app().app.services.inference;
  const onDemand = () => inference().onDemandModels();
  const answers = (model: string, questions?: string[]) => greedyAnswers(app(), alice.accountId, model, questions);

  beforeAll(async () => {
    dataDir = await makeTempDir();
    database = engine === 'postgres' ? await createTestDatabase('ondemandlora') : undefined;
    await start(10 * 60_000);
    alice = await app().account('alice');
    bob = await app().account('bob');
    await addTinyModel(app(), 'tiny', 0n);
    for (const name of ['a', 'b', 'c'] as const) {
      models[name] = await registerLora(app(), alice.accountId, `ft:tiny:od${name}:${engine}`, adapterDirs[name], { mergedExport: false });
    }
  }, 600_000);
  afterAll(async () => {
    await t?.stop();
    await database?.drop();
    if (dataDir) await fs.rm(dataDir, { recursive: true, force: true });
  });

  it('serves a LoRA fine-tune called on demand as its adapter: no merged export, the merged deployment’s tokens', {
    timeout: 300_000,
  }, async () => {
    const { id, modelDir } = models.a;
    answersOfA = await answers(id);
    // Concurrent first requests shared one load, of the adapter over the shared base runtime.
    expect(inference().onDemandLoadCount(id)).toBe(1);
    expect(onDemand().map((m) => [m.model, m.key, m.servedAs, m.bytes, m.loaded])).toEqual([[id, id, 'ADAPTER', ADAPTER_BYTES, true]]);
    expect(inference().loadedRuntimes()).toEqual([LORA_RUNTIME]);
    expect(await fs.readdir(modelDir)).not.toContain('onnx');
    const row = await app().app.services.db.selectFrom('models').select('onnx_path').where('id', '=', id).executeTakeFirstOrThrow();
    expect(row.onnx_path).toBeNull();

    // Its merged float32 deployment (exported now, for the comparison) answers with the same tokens.
    const merged = await deployAndWait(app(), alice.apiKey, alice.accountId, id, 'MERGED');
    expect(merged).toMatchObject({ status: 'READY', servedAs: 'MERGED' });
    expect(await fs.readdir(modelDir)).toContain('onnx');
    expect(await answers(id)).toEqual(answersOfA);
    await inference().undeploy(alice.accountId, merged.id);
    expect(inference().loadedRuntimes()).toEqual([LORA_RUNTIME]);
    const tokenizer = await ModelTokenizer.load(modelDir);
    const learnt = QA.filter(([, a], i) => tokenizer.decode(answersOfA[i]!).trim().startsWith(a)).length;
    expect(learnt / QA.length).toBeGreaterThanOrEqual(0.9);
  });

  it('serves two LoRA fine-tunes on demand over one base runtime; the budget counts their factors', { timeout: 300_000 }, async () => {
    const questions = QA.slice(0, 3).map(([q]) => q);
    const aloneB = await answers(models.b.id, questions);
    const [a, b] = await Promise.all([answers(models.a.id, questions), answers(models.b.id, questions)]);
    expect([a, b]).toEqual([answersOfA.slice(0, 3), aloneB]);
    expect(b).not.toEqual(a); // another fine-tune, not the same factors
    expect(onDemand().map((m) => [m.model, m.servedAs, m.bytes])).toEqual(
      expect.arrayContaining([
        [models.a.id, 'ADAPTER', ADAPTER_BYTES],
        [models.b.id, 'ADAPTER', ADAPTER_BYTES],
      ]),
    );
    expect(inference().loadedRuntimes()).toEqual([LORA_RUNTIME]);

    // A third does not fit beside them: the least recently used adapter goes, the base stays
    // for the others, and the one unloaded answers the same when it is loaded again.
    await answers(models.a.id, questions.slice(0, 1));
    const c = await answers(models.c.id, questions);
    expect(onDemand().map((m) => m.model)).toEqual([models.a.id, models.c.id]);
    expect(inference().loadedRuntimes()).toEqual([LORA_RUNTIME]);
    expect(await answers(models.b.id, questions)).toEqual(aloneB);
    expect(inference().onDemandLoadCount(models.b.id)).toBe(2);
    expect(await answers(models.c.id, questions)).toEqual(c);
    expect(c).not.toEqual(a);
    expect(onDemand().every((m) => m.servedAs === 'ADAPTER')).toBe(true);
  });

  it('answers another account’s LoRA fine-tune exactly as a missing model, and loads nothing for it', async () => {
    const ask = (model: string) =>
      post(app(), bob.apiKey, '/v1/chat/completions', { model, messages: [{ role: 'user', content: QA[0]![0] }], max_tokens: 4 });
    const missing = await ask('ft:tiny:odmissing:zzzzzzzz');
    const loads = inference().onDemandLoadCount(models.a.id);
    for (const { id } of Object.values(models)) {
      const r = await ask(id);
      expect(r.status).toBe(404);
      const body = (await r.json()) as { error: { code: string; message: string } };
      const expected = (await missing.clone().json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe(expected.error.code);
      expect(body.error.message).toBe(expected.error.message.replace('ft:tiny:odmissing:zzzzzzzz', id));
    }
    expect(missing.status).toBe(404);
    expect(inference().onDemandLoadCount(models.a.id)).toBe(loads);
  });

  it('unloads idle adapters — the base with the last holder, not before — and answers the same after reloading', {
    timeout: 300_000,
  }, async () => {
    const questions = QA.slice(0, 2).map(([q]) => q);
    await app().stop();
    t = undefined;
    await start(1_000);
    const deployedB = await deployAndWait(app(), alice.apiKey, alice.accountId, models.b.id);
    expect(deployedB.servedAs).toBe('ADAPTER');
    expect(await answers(models.a.id, questions)).toEqual(answersOfA.slice(0, 2));
    expect(onDemand().map((m) => [m.model, m.servedAs])).toEqual([[models.a.id, 'ADAPTER']]);
    while (onDemand().length > 0) await new Promise((r) => setTimeout(r, 100));
    // The deployment of another adapter still holds the base runtime.
    expect(inference().loadedRuntimes()).toEqual([LORA_RUNTIME]);
    await inference().undeploy(alice.accountId, deployedB.id);
    expect(inference().loadedRuntimes()).toEqual([]);
    // Called again: loaded again (the shared runtime too), the same tokens.
    expect(await answers(models.a.id, questions)).toEqual(answersOfA.slice(0, 2));
    expect(inference().onDemandLoadCount(models.a.id)).toBe(2);
    expect(inference().loadedRuntimes()).toEqual([LORA_RUNTIME]);
    while (onDemand().length > 0) await new Promise((r) => setTimeout(r, 100));
    expect(inference().loadedRuntimes()).toEqual([]);
  });
});
