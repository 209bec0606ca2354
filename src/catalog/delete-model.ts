import fs from 'node:fs/promises';
import path from 'node:path';
import { sql } from 'kysely';
import type { Db } from '../db/connect.js';
import { DomainError, NotFoundError } from '../errors.js';
import { parseCheckpointModelId } from './checkpoint-models.js';
import { findCheckpointModel } from './checkpoint-models.js';

/** What a deletion removed: a fine-tuned model or one checkpoint of a job. */
export type DeletedModel = { id: string; kind: 'fine-tuned' | 'checkpoint' };

const LIVE_DEPLOYMENT = ['LOADING', 'READY'];

/** Removes a folder the server wrote under its data folder (never anything outside it). */
async function removeOwnedFolder(dataDir: string, folder: string | null): Promise<void> {
  if (!folder) return;
  const resolved = path.resolve(folder);
  const root = path.resolve(dataDir);
  if (!resolved.startsWith(root + path.sep)) return;
  await fs.rm(resolved, { recursive: true, force: true });
}

/**
 * Deletes one of the account's own models (OpenAI's `DELETE /v1/models/{id}`):
 * - a fine-tuned model: refused with 409 MODEL_IN_USE while a deployment of it is LOADING
 *   or READY; otherwise hidden from every listing and lookup at once (its row stays, so
 *   the usage and ledger history of its past deployments keep their reference) and its
 *   weights are removed from the data folder;
 * - a checkpoint (`ft:…:ckpt-step-N`): refused with 409 JOB_NOT_FINISHED while its job
 *   may still resume from it; otherwise its row and folder go.
 * A base model is 403 PERMISSION_DENIED; another account's model is NOT_FOUND, like a
 * missing one. The caller drops its cached listings afterwards.
 */
export async function deleteModel(db: Db, dataDir: string, accountId: string, id: string): Promise<DeletedModel> {
  if (parseCheckpointModelId(id)) {
    const checkpoint = await findCheckpointModel(db, accountId, id);
    if (!checkpoint) throw new NotFoundError('model', id);
    await db.transaction().execute(async (trx) => {
      const job = await trx
        .selectFrom('training_jobs')
        .select('status')
        .where('id', '=', checkpoint.jobId)
        .forUpdate()
        .executeTakeFirstOrThrow();
      if (!['SUCCEEDED', 'FAILED', 'CANCELLED'].includes(job.status)) {
        throw new DomainError(
          'JOB_NOT_FINISHED',
          `job ${checkpoint.jobId} is ${job.status} and may resume from this checkpoint; delete it once the job has ended`,
          409,
          { jobId: checkpoint.jobId },
        );
      }
      await trx.deleteFrom('training_checkpoints').where('job_id', '=', checkpoint.jobId).where('step', '=', checkpoint.step).execute();
    });
    await removeOwnedFolder(dataDir, checkpoint.path);
    return { id, kind: 'checkpoint' };
  }
  const removed = await db.transaction().execute(async (trx) => {
    const model = await trx
      .selectFrom('models')
      .selectAll()
      .where('id', '=', id)
      .where('deleted_at', 'is', null)
      .where((eb) => eb.or([eb('owner_account_id', 'is', null), eb('owner_account_id', '=', accountId)]))
      .forUpdate()
      .executeTakeFirst();
    if (!model) throw new NotFoundError('model', id);
    if (model.owner_account_id === null) {
      throw new DomainError(
        'PERMISSION_DENIED',
        `model "${id}" is a base model of this server; only your fine-tuned models can be deleted`,
        403,
      );
    }
    const live = await trx
      .selectFrom('deployments')
      .select('id')
      .where('model_id', '=', id)
      .where('status', 'in', LIVE_DEPLOYMENT as never[])
      .limit(1)
      .executeTakeFirst();
    if (live) {
      throw new DomainError('MODEL_IN_USE', `model "${id}" is deployed (${live.id}); undeploy it first`, 409, { deploymentId: live.id });
    }
    await trx.updateTable('models').set({ deleted_at: sql`now()` }).where('id', '=', id).execute();
    return model;
  });
  for (const folder of [removed.storage_path, removed.onnx_path, removed.adapter_path]) await removeOwnedFolder(dataDir, folder);
  return { id, kind: 'fine-tuned' };
}
