import { sql } from 'kysely';
import type { Db } from '../db/connect.js';

/**
 * A job's stored curve as columns: one entry per step in step order, and the validation
 * losses. Columns, not objects: a 100,000-step job is three number arrays (≈ 2 MB of JSON)
 * instead of 100,000 objects with repeated keys, and a chart takes columns as they are.
 * Nothing is sampled here: drawing code downsamples, the store keeps every step.
 */
export interface LossCurve {
  steps: number[];
  loss: number[];
  learningRate: Array<number | null>;
  epoch: Array<number | null>;
  evalSteps: number[];
  evalLoss: number[];
}

/** Reads the steps (and evaluations) after `afterStep` of one job (the caller checked ownership). */
export async function readLossCurve(db: Db, jobId: string, afterStep = 0): Promise<LossCurve> {
  // One statement for steps and evaluations: the numbers are read out of the jsonb
  // payloads by the database, so only four scalars per row cross the wire.
  const rows = await db
    .selectFrom('training_events')
    .select([
      'type',
      'step',
      sql<number | null>`coalesce((payload->>'loss')::float8, (payload->>'evalLoss')::float8)`.as('loss'),
      sql<number | null>`(payload->>'learningRate')::float8`.as('lr'),
      sql<number | null>`(payload->>'epoch')::float8`.as('epoch'),
    ])
    .where('job_id', '=', jobId)
    .where('type', 'in', ['step', 'eval'])
    .where('step', '>', afterStep)
    .orderBy('step')
    .orderBy('seq')
    .execute();
  const curve: LossCurve = { steps: [], loss: [], learningRate: [], epoch: [], evalSteps: [], evalLoss: [] };
  for (const row of rows) {
    if (row.loss === null) continue;
    if (row.type === 'eval') {
      curve.evalSteps.push(row.step);
      curve.evalLoss.push(row.loss);
    } else {
      curve.steps.push(row.step);
      curve.loss.push(row.loss);
      curve.learningRate.push(row.lr);
      curve.epoch.push(row.epoch);
    }
  }
  return curve;
}
