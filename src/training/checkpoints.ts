import { sql } from 'kysely';
import type { Db } from '../db/connect.js';

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
  /** The metrics at that step: its training loss, and the validation loss when an evaluation ran there. */
  metrics: {
    trainLoss: number | null;
    evalLoss: number | null;
    /** Token accuracy of the step (trainer/PROTOCOL.md § Metrics). */
    trainTokenAccuracy: number | null;
    /** The validation batch measured at that step, if one was. */
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
const num = (value: unknown) => (typeof value === 'number' && Number.isFinite(value) ? value : null);

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
      evalTokenAccuracy: num(r.eval_payload?.evalTokenAccuracy),
    },
    path: r.path,
  }));
}
