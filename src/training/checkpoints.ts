import fs from 'node:fs/promises';
import { sql } from 'kysely';
import type { CheckpointModel } from '../catalog/checkpoint-models.js';
import type { Db } from '../db/connect.js';
import { TERMINAL_STATUSES } from '../db/tables/training.js';
import { DomainError } from '../errors.js';

/**
 * A checkpoint of a job as the API shows it: named by its step, never by the server's
 * folder. `path` is for the server's own use (loading the weights) and must not be
 * passed to a client.
 */
export interface JobCheckpoint {
  /** `ckpt-step-<step>`: stable, unique within the job. */
  id: string;
  step: number;
  createdAt: Date;
  /**
   * The metrics at that step: its training loss and token accuracy, the validation batch's
   * loss and accuracy when one was measured there, and the full validation's when an
   * evaluation ran there (trainer/PROTOCOL.md § Metrics).
   */
  metrics: {
    trainLoss: number | null;
    evalLoss: number | null;
    trainTokenAccuracy: number | null;
    validLoss: number | null;
    validTokenAccuracy: number | null;
    evalTokenAccuracy: number | null;
  };
  path: string;
}

/** The id a checkpoint goes by in the API, events and webhooks. */
export function checkpointId(step: number): string {
  return `ckpt-step-${step}`;
}

/** The step a checkpoint id names, or undefined when it is not one. */
export function parseCheckpointId(id: string): number | undefined {
  const match = /^ckpt-step-([1-9]\d{0,9})$/.exec(id);
  return match ? Number(match[1]) : undefined;
}

/**
 * A job's checkpoints that still exist (the trainer keeps the newest few; the worker
 * drops the rows of those it removed), oldest first, with the metrics stored for their
 * step. No tenancy check: callers have already read the job as its owner.
 */
export async function listCheckpoints(db: Db, jobId: string): Promise<JobCheckpoint[]> {
  const rows = await db
    .selectFrom('training_checkpoints as c')
    .select([
      'c.step',
      'c.path',
      'c.created_at',
      sql<Record<string, unknown> | null>`(select e.payload from training_events e
        where e.job_id = c.job_id and e.type = 'step' and e.step = c.step limit 1)`.as('step_payload'),
      sql<Record<string, unknown> | null>`(select e.payload from training_events e
        where e.job_id = c.job_id and e.type = 'eval' and e.step = c.step order by e.seq desc limit 1)`.as('eval_payload'),
    ])
    .where('c.job_id', '=', jobId)
    .orderBy('c.step')
    .execute();
  return rows.map((r) => ({
    id: checkpointId(r.step),
    step: r.step,
    createdAt: r.created_at,
    metrics: {
      trainLoss: num(r.step_payload?.loss),
      evalLoss: num(r.eval_payload?.evalLoss),
      trainTokenAccuracy: num(r.step_payload?.tokenAccuracy),
      validLoss: num(r.step_payload?.validLoss),
      validTokenAccuracy: num(r.step_payload?.validTokenAccuracy),
      evalTokenAccuracy: num(r.eval_payload?.tokenAccuracy),
    },
    path: r.path,
  }));
}

/**
 * Deletes a checkpoint of a finished job (`DELETE /v1/models/ft:…:ckpt-step-N`): its row,
 * then its folder. A job that may still resume from it (not yet SUCCEEDED, FAILED or
 * CANCELLED) keeps it: CHECKPOINT_IN_USE.
 */
export async function deleteCheckpoint(db: Db, checkpoint: CheckpointModel): Promise<void> {
  await db.transaction().execute(async (trx) => {
    const job = await trx
      .selectFrom('training_jobs')
      .select(['id', 'status'])
      .where('id', '=', checkpoint.jobId)
      .forUpdate()
      .executeTakeFirstOrThrow();
    if (!TERMINAL_STATUSES.includes(job.status)) {
      throw new DomainError(
        'CHECKPOINT_IN_USE',
        `job ${job.id} is ${job.status} and may resume from checkpoint ${checkpointId(checkpoint.step)}; delete it once the job has finished`,
        409,
        { field: 'model' },
      );
    }
    await trx.deleteFrom('training_checkpoints').where('job_id', '=', checkpoint.jobId).where('step', '=', checkpoint.step).execute();
  });
  await fs.rm(checkpoint.path, { recursive: true, force: true });
}

const num = (value: unknown): number | null => (typeof value === 'number' ? value : null);
