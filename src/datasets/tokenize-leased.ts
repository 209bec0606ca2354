import fs from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Db } from '../db/connect.js';
import type { Dataset, DatasetTokenization } from '../db/tables/datasets.js';
import type { Logger } from '../log.js';
import type { ModelTokenizer } from '../tokenizer/model-tokenizer.js';
import { startHeartbeat } from './heartbeat.js';
import { recordTokenization, tokenizerKey } from './record-tokenization.js';
import { shardPathFor } from './shards/shard-cache.js';
import { removeShardTemps } from './shards/sweep-shard-parts.js';
import { claimTokenization, releaseTokenization, renewTokenization, TOKENIZATION_HEARTBEAT_MS } from './tokenization-lease.js';
import { tokenizeToShard } from './tokenization/index.js';

/** How often a process waiting for another's tokenization looks again (its shard, or a lapsed lease). */
const POLL_MS = 1_000;

/**
 * The token shard of a dataset for a tokenizer: the cached one, or one written here under
 * the tokenization lease (tokenization-lease.ts), or — while another process holds the
 * lease — the one that process writes. A holder that died is replaced as soon as its
 * lease lapses, and its leftover parts are removed first. `holder` names this process.
 */
export async function tokenizeLeased(
  deps: { db: Db; log: Logger; dataDir: string; holder: string },
  dataset: Dataset,
  tokenizer: ModelTokenizer,
): Promise<DatasetTokenization> {
  const { db, log, holder } = deps;
  const key = { sha256: dataset.sha256, tokenizerKey: tokenizerKey(tokenizer) };
  const shardPath = shardPathFor(deps.dataDir, dataset.sha256, tokenizer);
  for (;;) {
    const cached = await cachedTokenization(db, key.sha256, key.tokenizerKey);
    if (cached) return cached;
    if (await claimTokenization(db, key, holder)) break;
    await sleep(POLL_MS);
  }
  const lost = new AbortController();
  const heartbeat = startHeartbeat({
    everyMs: TOKENIZATION_HEARTBEAT_MS,
    renew: () => renewTokenization(db, key, holder),
    onLost: () => lost.abort(new Error('the tokenization lease was lost')),
    onError: (err) => log.warn({ err, datasetId: dataset.id }, 'could not renew a tokenization lease'),
  });
  try {
    await removeShardTemps(shardPath);
    const summary = await tokenizeToShard(dataset.storage_path, tokenizer, shardPath, {
      datasetSha256: dataset.sha256,
      signal: lost.signal,
    });
    return await db.transaction().execute(async (trx) => {
      const row = await recordTokenization(trx, { sha256: dataset.sha256, key: key.tokenizerKey, shardPath, summary });
      await releaseTokenization(trx, key, holder);
      return row;
    });
  } finally {
    heartbeat.stop();
    await releaseTokenization(db, key, holder).catch((err) => log.warn({ err }, 'could not release a tokenization lease'));
  }
}

/** The recorded shard of (bytes, tokenizer) when its file is still there. */
async function cachedTokenization(db: Db, sha256: string, key: string): Promise<DatasetTokenization | undefined> {
  const row = await db
    .selectFrom('dataset_tokenizations')
    .selectAll()
    .where('sha256', '=', sha256)
    .where('tokenizer_key', '=', key)
    .executeTakeFirst();
  const present = row
    ? await fs.stat(row.shard_path).then(
        () => true,
        () => false,
      )
    : false;
  return present ? row : undefined;
}
