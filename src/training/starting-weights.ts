import type { Db } from '../db/connect.js';
import type { TrainingJob } from '../db/tables/training.js';
import type { CatalogService } from '../catalog/service.js';
import { findCheckpointModel } from '../catalog/checkpoint-models.js';
import { DomainError } from '../errors.js';

/** The trainer spec's `model` (trainer/PROTOCOL.md § Continued training). */
export interface StartingWeights {
  /** A complete model folder: the root base's, or a fine-tuned model's merged `model/`. */
  path: string;
  /** A full fine-tuning checkpoint whose weights replace `path`'s. */
  weights: string | null;
  /** LoRA adapters (checkpoints) merged in, in order, before training. */
  adapters: string[];
}

/** Continuing from checkpoints of checkpoints goes this deep at most (a chain, never a cycle: a job only names older jobs). */
const MAX_CHAIN = 32;

/**
 * Where a job's weights start. From the root base; from a fine-tuned model, its merged
 * `model/` folder (a LoRA parent's adapter is merged, and a fresh adapter trained on top);
 * from a checkpoint `ft:…:ckpt-step-N`, that checkpoint's job's own start plus the
 * checkpoint — appended to the adapters of a LoRA job, replacing the weights of a full one.
 * A parent that no longer exists fails the job with PARENT_MODEL_NOT_FOUND.
 */
export async function startingWeights(
  deps: { db: Db; catalog: CatalogService },
  job: Pick<TrainingJob, 'account_id' | 'base_model_id' | 'parent_model_id'>,
  depth = 0,
): Promise<StartingWeights> {
  if (job.parent_model_id === null) {
    const base = await deps.catalog.getModel(job.account_id, job.base_model_id);
    return { path: base.storage_path, weights: null, adapters: [] };
  }
  const gone = () =>
    new DomainError(
      'PARENT_MODEL_NOT_FOUND',
      `the model this job continues from (${job.parent_model_id}) no longer exists; start from a checkpoint or model that does`,
      400,
    );
  if (depth >= MAX_CHAIN) throw new DomainError('PARENT_MODEL_NOT_FOUND', `continued training is chained deeper than ${MAX_CHAIN} jobs`);
  const model = await deps.catalog.findModel(job.account_id, job.parent_model_id);
  if (model) return { path: model.storage_path, weights: null, adapters: [] };
  const checkpoint = await findCheckpointModel(deps.db, job.account_id, job.parent_model_id);
  if (!checkpoint) throw gone();
  const parentJob = await deps.db
    .selectFrom('training_jobs')
    .select(['account_id', 'base_model_id', 'parent_model_id', 'trainable'])
    .where('id', '=', checkpoint.jobId)
    .executeTakeFirst();
  if (!parentJob) throw gone();
  const start = await startingWeights(deps, parentJob, depth + 1);
  return parentJob.trainable === 'FULL'
    ? { path: start.path, weights: checkpoint.path, adapters: [] }
    : { ...start, adapters: [...start.adapters, checkpoint.path] };
}
