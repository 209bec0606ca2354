import { sql } from 'kysely';
import type { Db } from '../db/connect.js';

/**
 * Deletes messages older than `retentionDays` whose deliveries are all finished, with
 * their deliveries and attempts (cascade), at most `batch` per call so one run never
 * holds locks for long. Returns how many it deleted. Every sender runs it now and then;
 * two doing it at once delete disjoint rows or nothing.
 */
export async function pruneMessages(db: Db, retentionDays: number, batch = 1_000): Promise<number> {
  const result = await sql`
    delete from webhook_messages
    where id in (
      select m.id from webhook_messages m
      where m.created_at < now() - make_interval(days => ${retentionDays}::integer)
        and not exists (select 1 from webhook_deliveries d where d.message_id = m.id and d.status = 'pending')
      limit ${batch}
    )`.execute(db);
  return Number(result.numAffectedRows ?? 0n);
}
