import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFreshApp } from '../helpers/data-dir.js';
import type { TestApp } from '../helpers/app.js';
import { engines } from '../helpers/db.js';
import { gql } from '../helpers/clients.js';
import { FineTunableModelsDocument } from '../generated/graphql.js';
import { lastLine, resolvePython, runTrainerCommand } from '../../src/engine/python.js';
import { DomainError } from '../../src/errors.js';
import { buildModelVariants, readSafetensors } from '../helpers/model-variants.js';
import type { ModelVariants } from '../helpers/model-variants.js';

let variants: ModelVariants;
let parameterCount: number;

beforeAll(async () => {
  variants = await buildModelVariants();
  const { tensors } = await readSafetensors(path.join(variants.single, 'model.safetensors'));
  parameterCount = tensors.reduce((n, t) => n + t.shape.reduce((a, b) => a * b, 1), 0);
});
afterAll(async () => variants?.remove());

/** The trainer's own reading of a folder (it loads what the catalog registers). */
async function trainerInspect(dir: string): Promise<{ parameters: number; tensors: { ok: boolean; files: string[] } }> {
  const result = await runTrainerCommand(resolvePython(process.env.TUNELOOP_PYTHON), ['inspect-model', dir], { timeoutMs: 60_000 });
  if (result.code !== 0) throw new Error(`inspect-model failed: ${lastLine(result.stderr)}`);
  return JSON.parse(result.stdout);
}

describe.each(engines())('catalog import through the service (%s)', (engine) => {
  let t: TestApp;
  let key: string;

  beforeAll(async () => {
    t = await startFreshApp(engine);
    key = (await t.account('importer')).apiKey;
  });
  afterAll(async () => t?.stop());

  it('registers a single-file model folder, copies it into the data folder and lists it', async () => {
    const model = await t.app.services.catalog.importModel({
      dir: variants.single,
      id: 'tiny-single',
      fineTunable: true,
      pricePerMTokMicros: 2_500_000n,
    });
    expect(model).toMatchObject({
      id: 'tiny-single',
      owner_account_id: null,
      architecture: 'llama',
      context_length: 512,
      vocab_size: 1024,
      fine_tunable: true,
      price_per_mtok_micros: 2_500_000n,
      storage_path: path.join(t.config.dataDir, 'models', 'tiny-single'),
    });
    expect(model.parameter_count).toBe(BigInt(parameterCount));
    expect(model.chat_template_sha256).toMatch(/^[0-9a-f]{64}$/);
    // The catalog owns a complete copy; no temporary folder is left behind.
    expect((await fs.readdir(model.storage_path)).sort()).toEqual((await fs.readdir(variants.single)).sort());
    expect((await fs.readdir(path.join(t.config.dataDir, 'models'))).filter((n) => n.startsWith('.'))).toEqual([]);

    const rest = await fetch(`${t.url}/api/models/tiny-single`, { headers: { authorization: `Bearer ${key}` } });
    expect(await rest.json()).toMatchObject({
      id: 'tiny-single',
      fineTunable: true,
      parameterCount,
      pricePerMillionTrainingTokens: '2.500000',
      ownedBy: 'tuneloop',
    });
    const graphql = await gql(t.url, key, FineTunableModelsDocument);
    expect(graphql.data?.fineTunableModels.map((m) => m.id)).toContain('tiny-single');
  });

  it('registers a sharded folder (index + shards) with the same tensors the trainer reads', async () => {
    const model = await t.app.services.catalog.importModel({ dir: variants.sharded, id: 'tiny-sharded', fineTunable: false });
    expect(model.parameter_count).toBe(BigInt(parameterCount));
    expect(model.fine_tunable).toBe(false);
    const stored = await fs.readdir(model.storage_path);
    expect(stored.filter((n) => n.endsWith('.safetensors'))).toHaveLength(3);
    expect(stored).toContain('model.safetensors.index.json');
    // The trainer agrees: same parameter count, read from three files.
    const inspected = await trainerInspect(model.storage_path);
    expect(inspected.parameters).toBe(parameterCount);
    expect(inspected.tensors.ok).toBe(true);
    expect(inspected.tensors.files).toHaveLength(3);
    // Not fine-tunable: listed, but not among the fine-tunable models.
    const all = await (await fetch(`${t.url}/api/models`, { headers: { authorization: `Bearer ${key}` } })).json();
    expect(all.data.map((m: { id: string }) => m.id)).toContain('tiny-sharded');
    const tunable = await (await fetch(`${t.url}/api/models?fineTunable=true`, { headers: { authorization: `Bearer ${key}` } })).json();
    expect(tunable.data.map((m: { id: string }) => m.id)).not.toContain('tiny-sharded');
  });

  it('refuses a duplicate id with MODEL_EXISTS and keeps the first model', async () => {
    await t.app.services.catalog.importModel({ dir: variants.single, id: 'tiny-dup', fineTunable: true });
    const error = await t.app.services.catalog
      .importModel({ dir: variants.sharded, id: 'tiny-dup', fineTunable: false })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DomainError);
    expect(error).toMatchObject({ code: 'MODEL_EXISTS', status: 409, message: 'a model with id "tiny-dup" already exists' });
    const kept = await t.app.services.catalog.getModel('acct_nobody', 'tiny-dup');
    expect(kept.fine_tunable).toBe(true);
    expect(await fs.readdir(kept.storage_path)).toContain('model.safetensors');
  });

  it('refuses every broken folder with a message that names the problem, and writes nothing', async () => {
    for (const refusal of variants.refusals) {
      const error = await t.app.services.catalog.importModel({ dir: refusal.dir, id: refusal.id, fineTunable: refusal.fineTunable }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error, refusal.name).toBeInstanceOf(DomainError);
      expect((error as DomainError).code, refusal.name).toBe(refusal.code);
      expect((error as DomainError).message, refusal.name).toMatch(refusal.message);
      expect((error as DomainError).message, refusal.name).not.toContain('\n');
      if (refusal.code === 'INVALID_MODEL_FOLDER')
        expect((error as DomainError).message.startsWith(`${refusal.dir}: `), refusal.name).toBe(true);
    }
    const rows = await t.app.services.db.selectFrom('models').select('id').where('id', '=', 'refused').execute();
    expect(rows).toEqual([]);
    expect(await fs.readdir(path.join(t.config.dataDir, 'models')).catch(() => [])).not.toContain('refused');
  });
});
