import { sql } from 'kysely';
import type { Tx } from '../../db/connect.js';
import type { TrainingJob } from '../../db/tables/training.js';
import type { CatalogService } from '../../catalog/service.js';
import type { WebhooksService } from '../../webhooks/service.js';
import { settleJobBilling } from '../settlement.js';
import { transitionJob } from '../transition.js';

/** What the trainer reported when it completed (trainer/PROTOCOL.md `completed`). */
export interface TrainerResult {
  outputs: { model: string; adapter: string | null; onnx: string | null };
  /** Tokens trained, cumulative across resumes. */
  tokens: number;
  step: number;
}

/**
 * Ends a job as SUCCEEDED: registers its model in the catalog, records the final token
 * count and step, settles the reservation to the tokens trained and releases the worker —
 * one transaction with the status event, so the model exists exactly when the job says
 * so. The caller drops the catalog's listing cache after the commit.
 */
export async function completeJob(
  trx: Tx,
  deps: { webhooks: WebhooksService; catalog: CatalogService },
  job: TrainingJob,
  result: TrainerResult,
): Promise<TrainingJob> {
  const model = await deps.catalog.registerFineTunedModel(trx, {
    jobId: job.id,
    accountId: job.account_id,
    baseModelId: job.base_model_id,
    parentModelId: job.parent_model_id,
    suffix: job.suffix,
    modelPath: result.outputs.model,
    adapterPath: result.outputs.adapter,
    onnxPath: result.outputs.onnx,
  });
  const withTokens = await trx
    .updateTable('training_jobs')
    .set({ trained_tokens: sql`greatest(trained_tokens, ${result.tokens}::bigint)`, step: sql`greatest(step, ${result.step})` })
    .where('id', '=', job.id)
    .returningAll()
    .executeTakeFirstOrThrow();
  const cost = await settleJobBilling(trx, withTokens, 'charge-trained');
  return transitionJob(trx, deps, withTokens, 'SUCCEEDED', {
    finished_at: new Date(),
    cost_micros: cost,
    fine_tuned_model_id: model.id,
    worker_id: null,
    lease_expires_at: null,
    eta_seconds: 0,
  });
}
