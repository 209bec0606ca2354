import type { Db } from '../db/connect.js';
import { idPrefixes, isId } from '../ids.js';

/**
 * A job's results file: one CSV row per stored step,
 * `step,train_loss,train_accuracy,valid_loss,valid_mean_token_accuracy` (the columns of
 * OpenAI's results files). It is not stored: it is written from the job's stored step
 * events each time it is read, so it is always complete and costs no disk. Its id is the
 * job's id under the `ftres_` prefix.
 */
export const RESULTS_CSV_HEADER = 'step,train_loss,train_accuracy,valid_loss,valid_mean_token_accuracy';

const body = (id: string) => id.slice(id.indexOf('_') + 1);

export function resultsFileId(jobId: string): string {
  return `${idPrefixes.resultsFile}_${body(jobId)}`;
}

/** The job a results file id names, or undefined when `id` is not one. */
export function jobIdOfResultsFile(id: string): string | undefined {
  return isId('resultsFile', id) ? `${idPrefixes.trainingJob}_${body(id)}` : undefined;
}

const cell = (value: unknown) => (typeof value === 'number' && Number.isFinite(value) ? String(value) : '');

/** The CSV of a job's stored steps, in step order (the caller checked the job's owner). */
export async function resultsCsv(db: Db, jobId: string): Promise<string> {
  const rows = await db
    .selectFrom('training_events')
    .select(['step', 'payload'])
    .where('job_id', '=', jobId)
    .where('type', '=', 'step')
    .orderBy('step')
    .execute();
  const lines = rows.map((r) => {
    const p = r.payload as Record<string, unknown>;
    return [r.step, cell(p.loss), cell(p.tokenAccuracy), cell(p.validLoss), cell(p.validTokenAccuracy)].join(',');
  });
  return `${[RESULTS_CSV_HEADER, ...lines].join('\n')}\n`;
}
