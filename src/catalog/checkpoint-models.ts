import type { Db } from '../db/connect.js';
import { shortId } from '../ids.js';
import { checkpointId, parseCheckpointId } from '../training/checkpoints.js';

/**
 * Model ids for fine-tuned models and for the checkpoints of their jobs — the one place
 * these names are built and read back.
 *
 * A job's fine-tuned model is `ft:<base>:<suffix>:<short job id>`; it is known from the
 * moment the job starts, so a checkpoint can be named before the job succeeds:
 * `ft:<base>:<suffix>:<short job id>:ckpt-step-<N>` (as OpenAI names checkpoints).
 */
export function fineTunedModelId(baseModelId: string, suffix: string | null | undefined, jobId: string): string {
  return `ft:${baseModelId}:${suffix ?? 'custom'}:${shortId(jobId)}`;
}

/** The model id of a job's checkpoint at `step`. */
export function checkpointModelId(job: { id: string; baseModelId: string; suffix: string | null }, step: number): string {
  return `${fineTunedModelId(job.baseModelId, job.suffix, job.id)}:${checkpointId(step)}`;
}

/** The parts of a checkpoint model id, or undefined when `id` is not one. */
export function parseCheckpointModelId(id: string): { fineTunedModelId: string; shortJobId: string; step: number } | undefined {
  const match = /^(ft:.+:([0-9a-z]{8})):(ckpt-step-\d+)$/.exec(id);
  if (!match) return undefined;
  const step = parseCheckpointId(match[3] as string);
  if (step === undefined) return undefined;
  return { fineTunedModelId: match[1] as string, shortJobId: match[2] as string, step };
}

/** A checkpoint that can be called or trained from, as the server sees it. */
export interface CheckpointModel {
  /** The checkpoint's model id (`ft:…:ckpt-step-N`). */
  id: string;
  jobId: string;
  accountId: string;
  baseModelId: string;
  method: string;
  step: number;
  /** The checkpoint folder on the server (never shown to a client). */
  path: string;
  createdAt: Date;
}

/**
 * The checkpoint a model id names, when it belongs to `accountId` and still exists;
 * undefined otherwise — another account's checkpoint is indistinguishable from a missing one.
 */
export async function findCheckpointModel(db: Db, accountId: string, id: string): Promise<CheckpointModel | undefined> {
  const parts = parseCheckpointModelId(id);
  if (!parts) return undefined;
  const rows = await db
    .selectFrom('training_jobs as j')
    .innerJoin('training_checkpoints as c', 'c.job_id', 'j.id')
    .select(['j.id', 'j.account_id', 'j.base_model_id', 'j.suffix', 'j.method', 'c.step', 'c.path', 'c.created_at'])
    .where('j.account_id', '=', accountId)
    .where('j.id', 'like', `%${parts.shortJobId}`)
    .where('c.step', '=', parts.step)
    .execute();
  const row = rows.find((r) => fineTunedModelId(r.base_model_id, r.suffix, r.id) === parts.fineTunedModelId);
  if (!row) return undefined;
  return {
    id,
    jobId: row.id,
    accountId: row.account_id,
    baseModelId: row.base_model_id,
    method: row.method,
    step: row.step,
    path: row.path,
    createdAt: row.created_at,
  };
}
