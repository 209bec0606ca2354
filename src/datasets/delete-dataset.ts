import { rm, unlink } from 'node:fs/promises';
import { sql } from 'kysely';
import type { Db, Queryable } from '../db/connect.js';
import { DomainError, NotFoundError } from '../errors.js';
import { datasetPath } from './storage.js';
import { shardFolder } from './shards/shard-cache.js';

/**
 * Serializes, per content hash, the steps that decide whether a stored file is still
 * referenced: deleting a dataset (and then its file) and recording a new dataset for
 * bytes already stored. Without it an upload of the same bytes could find the file,
 * a concurrent delete remove it, and the upload insert a row pointing at nothing.
 * Held until the transaction ends.
 */
export async function lockContent(trx: Queryable, sha256: string): Promise<void> {
  await sql`select pg_advisory_xact_lock(hashtextextended(${`tuneloop:dataset:${sha256}`}, 0))`.execute(trx);
}

/**
 * Removes a content hash's file, shards and tokenization rows when no dataset row (of any
 * account) references it any more. Call inside a transaction that holds `lockContent`;
 * the files go before the commit, so an upload waiting on the lock sees them gone and
 * stores its own copy. Returns whether anything was removed.
 */
export async function removeContentIfUnreferenced(trx: Queryable, dataDir: string, sha256: string): Promise<boolean> {
  const referenced = await trx.selectFrom('datasets').select('id').where('sha256', '=', sha256).limit(1).executeTakeFirst();
  if (referenced) return false;
  await trx.deleteFrom('dataset_tokenizations').where('sha256', '=', sha256).execute();
  await unlink(datasetPath(dataDir, sha256)).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
  // A validation of these bytes may still be writing shard parts into the folder (the
  // dataset was deleted while VALIDATING): rm retries a folder that refills, and one still
  // written to after that is left to the validator, which removes what it finishes when it
  // finds its row gone (run-validation.ts `store`). The row is gone either way.
  await rm(shardFolder(dataDir, sha256), { recursive: true, force: true, maxRetries: 5, retryDelay: 20 }).catch(
    (err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOTEMPTY') throw err;
    },
  );
  return true;
}

/**
 * Deletes one of the account's datasets. Refused with 409 DATASET_IN_USE while a job that
 * has not finished (VALIDATING, QUEUED, RUNNING) names it as training or validation data.
 * The stored file and its shards are removed with the last dataset row that references
 * their bytes (another account's upload of the same bytes keeps them).
 */
export async function deleteDataset(db: Db, dataDir: string, accountId: string, id: string): Promise<void> {
  await db.transaction().execute(async (trx) => {
    const dataset = await trx
      .selectFrom('datasets')
      .select(['id', 'sha256'])
      .where('id', '=', id)
      .where('account_id', '=', accountId)
      .executeTakeFirst();
    if (!dataset) throw new NotFoundError('dataset', id);
    await lockContent(trx, dataset.sha256);
    const inUse = await trx
      .selectFrom('training_jobs')
      .select('id')
      .where('account_id', '=', accountId)
      .where((eb) => eb.or([eb('training_dataset_id', '=', id), eb('validation_dataset_id', '=', id)]))
      .where('status', 'in', ['VALIDATING', 'QUEUED', 'RUNNING'])
      .limit(1)
      .executeTakeFirst();
    if (inUse) {
      throw new DomainError(
        'DATASET_IN_USE',
        `dataset ${id} is used by job ${inUse.id}, which has not finished; cancel it or wait for it to end`,
        409,
        { jobId: inUse.id },
      );
    }
    const deleted = await trx.deleteFrom('datasets').where('id', '=', id).where('account_id', '=', accountId).executeTakeFirst();
    if (deleted.numDeletedRows === 0n) throw new NotFoundError('dataset', id);
    await removeContentIfUnreferenced(trx, dataDir, dataset.sha256);
  });
}
