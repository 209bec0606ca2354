import { sql } from 'kysely';
import type { Insertable } from 'kysely';
import type { Queryable } from '../../db/connect.js';
import type { InferenceUsage, InferenceUsageTable } from '../../db/tables/inference.js';

export function insertUsage(trx: Queryable, row: Insertable<InferenceUsageTable>): Promise<InferenceUsage> {
  return trx.insertInto('inference_usage').values(row).returningAll().executeTakeFirstOrThrow();
}

export interface UsageCursor {
  finishedAt: Date;
  id: string;
}

/** The account's requests, newest first, after `cursor` (the last row of the previous page). */
export function listUsage(db: Queryable, accountId: string, first: number, cursor: UsageCursor | null): Promise<InferenceUsage[]> {
  let query = db
    .selectFrom('inference_usage')
    .selectAll()
    .where('account_id', '=', accountId)
    .orderBy('finished_at', 'desc')
    .orderBy('id', 'desc')
    .limit(first);
  if (cursor) query = query.where(sql<boolean>`(finished_at, id) < (${cursor.finishedAt.toISOString()}::timestamptz, ${cursor.id})`);
  return query.execute();
}
