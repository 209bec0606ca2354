import { sql } from 'kysely';
import type { Queryable } from '../../db/connect.js';
import type { Deployment, ServedAs } from '../../db/tables/inference.js';
import type { Quantization } from '../../catalog/quantization.js';
import { newId } from '../../ids.js';

/** Statuses of a deployment that should be served (and are restored after a restart). */
export const LIVE_STATUSES = ['LOADING', 'READY'] as const;

/**
 * Creates a LOADING deployment, or answers the account's live one for the model: the
 * partial unique index makes two concurrent deploys end with one row.
 */
export async function insertDeployment(
  trx: Queryable,
  accountId: string,
  modelId: string,
  quantization: Quantization,
  servedAs: ServedAs = 'MERGED',
): Promise<{ deployment: Deployment; created: boolean }> {
  const inserted = await trx
    .insertInto('deployments')
    .values({ id: newId('deployment'), account_id: accountId, model_id: modelId, status: 'LOADING', quantization, served_as: servedAs })
    .onConflict((oc) => oc.columns(['account_id', 'model_id']).where('status', 'in', LIVE_STATUSES).doNothing())
    .returningAll()
    .executeTakeFirst();
  if (inserted) return { deployment: inserted, created: true };
  const live = await liveDeployment(trx, accountId, modelId);
  if (!live) throw new Error('deployment conflict without a live deployment');
  return { deployment: live, created: false };
}

export function liveDeployment(db: Queryable, accountId: string, modelId: string): Promise<Deployment | undefined> {
  return db
    .selectFrom('deployments')
    .selectAll()
    .where('account_id', '=', accountId)
    .where('model_id', '=', modelId)
    .where('status', 'in', LIVE_STATUSES)
    .executeTakeFirst();
}

export function findDeployment(db: Queryable, accountId: string, id: string): Promise<Deployment | undefined> {
  return db.selectFrom('deployments').selectAll().where('id', '=', id).where('account_id', '=', accountId).executeTakeFirst();
}

/** Any account's deployment (internal: restoring, notifications). */
export function deploymentById(db: Queryable, id: string): Promise<Deployment | undefined> {
  return db.selectFrom('deployments').selectAll().where('id', '=', id).executeTakeFirst();
}

export function listDeployments(db: Queryable, accountId: string, includeUndeployed: boolean): Promise<Deployment[]> {
  let query = db.selectFrom('deployments').selectAll().where('account_id', '=', accountId);
  if (!includeUndeployed) query = query.where('status', '<>', 'UNDEPLOYED');
  return query.orderBy('created_at', 'desc').orderBy('id', 'desc').execute();
}

/** Every deployment to serve, across accounts (the api loads them at start). */
export function liveDeployments(db: Queryable): Promise<Deployment[]> {
  return db.selectFrom('deployments').selectAll().where('status', 'in', LIVE_STATUSES).orderBy('created_at').execute();
}

/** What a loaded deployment runs on and what its weights take. */
export interface LoadedAs {
  provider: string;
  bytesOnDisk: number;
  bytesInMemory: number;
}

/** LOADING/READY → READY; false when it was undeployed (or failed) meanwhile. */
export async function markReady(db: Queryable, id: string, loaded: LoadedAs): Promise<boolean> {
  const row = await db
    .updateTable('deployments')
    .set({
      status: 'READY',
      error: null,
      execution_provider: loaded.provider,
      weight_bytes_on_disk: loaded.bytesOnDisk,
      weight_bytes_in_memory: loaded.bytesInMemory,
      ready_at: sql`coalesce(ready_at, now())`,
      updated_at: sql`now()`,
    })
    .where('id', '=', id)
    .where('status', 'in', LIVE_STATUSES)
    .returning('id')
    .executeTakeFirst();
  return row !== undefined;
}

export async function markFailed(db: Queryable, id: string, reason: string): Promise<void> {
  await db
    .updateTable('deployments')
    .set({ status: 'FAILED', error: reason.slice(0, 2000), updated_at: sql`now()` })
    .where('id', '=', id)
    .where('status', 'in', LIVE_STATUSES)
    .execute();
}

/** Marks the account's deployment UNDEPLOYED; undefined when it has no such deployment. */
export async function markUndeployed(db: Queryable, accountId: string, id: string): Promise<Deployment | undefined> {
  const row = await db
    .updateTable('deployments')
    .set({ status: 'UNDEPLOYED', undeployed_at: sql`now()`, updated_at: sql`now()` })
    .where('id', '=', id)
    .where('account_id', '=', accountId)
    .where('status', '<>', 'UNDEPLOYED')
    .returningAll()
    .executeTakeFirst();
  return row ?? findDeployment(db, accountId, id);
}
