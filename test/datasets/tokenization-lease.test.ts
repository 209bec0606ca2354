import { mkdir, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tokenizerKey } from '../../src/datasets/record-tokenization.js';
import { shardPathFor } from '../../src/datasets/shards/shard-cache.js';
import { loadTrainingTokenizer } from '../../src/tokenizer/model-tokenizer.js';
import { makeTempDir, startTestApp } from '../helpers/app.js';
import type { TestApp } from '../helpers/app.js';
import { engines } from '../helpers/db.js';
import { addTinyModel } from '../helpers/training.js';
import { buildTokenizerVariants } from '../helpers/model-variants.js';
import { tinyModelFolder } from '../../src/dev/tiny-model-folder.js';
import { postRaw, chatJsonl, waitValidated } from '../helpers/datasets-api.js';

/**
 * Tokenizing a dataset for a model is leased: while a live process holds the lease others
 * wait for its shard instead of writing their own, and when the holder is dead (its lease
 * lapsed) a waiting process takes over at once and removes the dead writer's parts first.
 */
describe.each(engines())('tokenization lease (%s)', (engine) => {
  let t: TestApp;
  let key: string;
  let accountId: string;
  let variantsRoot: string;
  let otherDir: string;

  beforeAll(async () => {
    t = await startTestApp(engine);
    ({ apiKey: key, accountId } = await t.account('lease'));
    await addTinyModel(t);
    // A model with another tokenizer set-up (BOS added): its shards are other shards.
    variantsRoot = await makeTempDir('tuneloop-lease-models-');
    otherDir = (await buildTokenizerVariants(await tinyModelFolder(), variantsRoot))[0]!.dir;
    await t.app.services.catalog.importModel({ dir: otherDir, id: 'tiny-bos', fineTunable: true, pricePerMTokMicros: 1_000_000n });
  }, 120_000);

  afterAll(async () => {
    await t?.stop();
    await rm(variantsRoot, { recursive: true, force: true });
  });

  it('waits while another holder’s lease is live, then takes over, removes its parts and records one shard', async () => {
    const uploaded = await postRaw(t, key, chatJsonl(20, ' lease'));
    expect((await waitValidated(t, key, uploaded.body.id)).status).toBe('READY');
    const ready = await t.app.services.datasets.get(accountId, uploaded.body.id);
    const model = await t.app.services.catalog.getModel(accountId, 'tiny-bos');
    const tokenizer = await loadTrainingTokenizer(model.storage_path);
    const shardPath = shardPathFor(t.config.dataDir, ready.sha256, tokenizer);

    // Another process holds the lease for 3 more seconds, and has left half-written parts.
    const db = t.app.services.db;
    await db
      .insertInto('dataset_tokenization_leases')
      .values({
        sha256: ready.sha256,
        tokenizer_key: tokenizerKey(tokenizer),
        holder: 'elsewhere:1:dead',
        expires_at: sql`now() + interval '3 seconds'`,
      })
      .execute();
    await mkdir(dirname(shardPath), { recursive: true });
    const part = join(dirname(shardPath), `.${basename(shardPath)}.deadbeef.0.tokens`);
    await writeFile(part, 'half written');
    const minuteAgo = new Date(Date.now() - 60_000);
    await utimes(part, minuteAgo, minuteAgo);

    let settled = false;
    const pending = t.app.services.datasets.tokenization(ready, model).finally(() => (settled = true));
    await new Promise((r) => setTimeout(r, 1_000));
    // Still the other holder's: nothing written here yet.
    expect(settled).toBe(false);
    expect(
      await stat(shardPath).then(
        () => true,
        () => false,
      ),
    ).toBe(false);

    const row = await pending;
    expect(row).toMatchObject({ sha256: ready.sha256, tokenizer_key: tokenizerKey(tokenizer), shard_path: shardPath, examples: 20 });
    expect(await stat(shardPath).then((s) => s.size > 0)).toBe(true);
    expect((await readdir(dirname(shardPath))).filter((n) => n.startsWith('.'))).toEqual([]);
    expect(await db.selectFrom('dataset_tokenization_leases').selectAll().execute()).toEqual([]);
  }, 60_000);

  it('does not wait for a shard another process already recorded', async () => {
    const uploaded = await postRaw(t, key, chatJsonl(21, ' recorded'));
    expect((await waitValidated(t, key, uploaded.body.id)).status).toBe('READY');
    const ready = await t.app.services.datasets.get(accountId, uploaded.body.id);
    const model = await t.app.services.catalog.getModel(accountId, 'tiny-bos');
    const first = await t.app.services.datasets.tokenization(ready, model);
    // A live lease of someone else does not matter once the shard is recorded.
    await t.app.services.db
      .insertInto('dataset_tokenization_leases')
      .values({
        sha256: ready.sha256,
        tokenizer_key: first.tokenizer_key,
        holder: 'elsewhere:2',
        expires_at: sql`now() + interval '1 hour'`,
      })
      .execute();
    expect(await t.app.services.datasets.tokenization(ready, model)).toEqual(first);
  });
});
