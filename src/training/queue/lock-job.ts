import type { Tx } from '../../db/connect.js';
import type { TrainingJob } from '../../db/tables/training.js';

/**
 * Reads a job and locks its row until the transaction ends (`FOR UPDATE`), so a status
 * change decided from what was read cannot race another one. With `accountId`, another
 * account's job reads as missing (undefined), exactly like one that does not exist.
 */
export function lockJob(trx: Tx, jobId: string, accountId?: string): Promise<TrainingJob | undefined> {
  let query = trx.selectFrom('training_jobs').selectAll().where('id', '=', jobId);
  if (accountId !== undefined) query = query.where('account_id', '=', accountId);
  return query.forUpdate().executeTakeFirst();
}
