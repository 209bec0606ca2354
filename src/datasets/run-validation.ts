import type { Db } from '../db/connect.js';
import type { Dataset } from '../db/tables/datasets.js';
import type { Logger } from '../log.js';
import type { Model } from '../db/schema.js';
import type { ModelTokenizer } from '../tokenizer/model-tokenizer.js';
import { isDiskFullError } from '../storage/disk-full.js';
import { sanitizeText } from '../text/sanitize-text.js';
import { asDatasetError } from './dataset-error.js';
import { lockContent, removeContentIfUnreferenced } from './delete-dataset.js';
import { startHeartbeat } from './heartbeat.js';
import { recordTokenization, tokenizerKey } from './record-tokenization.js';
import { shardPathFor } from './shards/shard-cache.js';
import type { ShardSummary } from './shards/shard-summary.js';
import { removeShardTemps } from './shards/sweep-shard-parts.js';
import { claimValidation, releaseValidation, renewValidation, VALIDATION_HEARTBEAT_MS } from './validation-lease.js';
import { validateDataset } from './validation/index.js';
import type { ValidationIssue, ValidationLimits, ValidationReport } from './validation/index.js';

/**
 * A validation that cannot complete for reasons of the server, not of the file. The
 * dataset is INVALID with one of these codes, and sending the same bytes again validates
 * it afresh (see `retryableFailure`).
 */
export const RETRYABLE_VALIDATION_CODES = ['validation_failed', 'validation_interrupted', 'disk_full'] as const;

/** Claims a dataset whose validation died this many times are failed (`validation_interrupted`), not tried again. */
export const MAX_VALIDATION_ATTEMPTS = 3;

export interface RunValidationDeps {
  db: Db;
  log: Logger;
  dataDir: string;
  /** The counting model of a dataset, if it still exists. */
  findModel(accountId: string, modelId: string): Promise<Model | undefined>;
  loadTokenizer(model: Model): Promise<ModelTokenizer>;
  limits(tokenizer: ModelTokenizer | null): Partial<ValidationLimits>;
}

type Outcome =
  | { kind: 'report'; report: ValidationReport; shard: { key: string; shardPath: string; summary: ShardSummary } | null }
  | { kind: 'failed'; code: string; message: string }
  | { kind: 'handed-back' }
  | { kind: 'gone' };

/**
 * Validates one stored dataset under its lease and records the outcome on its row. Never
 * throws: whatever happens — a malformed file, a tokenizer that refuses, a full disk, a
 * bug — ends as a stored status (READY, or INVALID with a code), or, when the process
 * stops or loses the lease, as a lease another process picks up. Returns the stored row,
 * or undefined when nothing was recorded here.
 */
export async function runValidation(deps: RunValidationDeps, id: string, stopping: AbortSignal): Promise<Dataset | undefined> {
  const { db, log } = deps;
  try {
    const claimed = await claimValidation(db, id);
    if (!claimed) return undefined;
    const attempt = claimed.validation_attempts;
    if (attempt > MAX_VALIDATION_ATTEMPTS) {
      return await record(deps, claimed, {
        kind: 'failed',
        code: 'validation_interrupted',
        message: `validation was interrupted ${attempt - 1} times (the process validating it stopped or crashed); upload the file again to retry`,
      });
    }
    const lost = new AbortController();
    const heartbeat = startHeartbeat({
      everyMs: VALIDATION_HEARTBEAT_MS,
      renew: () => renewValidation(db, id, attempt),
      onLost: () => lost.abort(new Error('the validation lease was lost')),
      onError: (err) => log.warn({ err, datasetId: id }, 'could not renew a dataset validation lease'),
    });
    let outcome: Outcome;
    try {
      outcome = await validate(deps, claimed, AbortSignal.any([lost.signal, stopping]));
    } finally {
      heartbeat.stop();
    }
    if (outcome.kind === 'gone') return undefined;
    if (outcome.kind === 'handed-back') {
      if (stopping.aborted && !lost.signal.aborted) await releaseValidation(db, id, attempt);
      return undefined;
    }
    return await record(deps, claimed, outcome);
  } catch (err) {
    // Only the database can fail here (the lease or the report could not be written): the
    // lease lapses and a sweep tries again.
    log.error({ err, datasetId: id }, 'could not record a dataset validation; it will be retried');
    return undefined;
  }
}

async function validate(deps: RunValidationDeps, claimed: Dataset, signal: AbortSignal): Promise<Outcome> {
  try {
    const model = claimed.tokenizer_model_id ? await deps.findModel(claimed.account_id, claimed.tokenizer_model_id) : undefined;
    const tokenizer = model ? await deps.loadTokenizer(model) : null;
    // The shard for the counting model is written in the same pass: a job on that
    // model (the usual case) starts without tokenizing the file a second time.
    const shardPath = tokenizer ? shardPathFor(deps.dataDir, claimed.sha256, tokenizer) : undefined;
    // An earlier attempt died: its half-written shard parts go now, not in an hour.
    if (shardPath && claimed.validation_attempts > 1) await removeShardTemps(shardPath);
    const report = await validateDataset(claimed.storage_path, {
      tokenizer,
      limits: deps.limits(tokenizer),
      signal,
      ...(shardPath ? { shardPath, datasetSha256: claimed.sha256 } : {}),
    });
    const shard = tokenizer && shardPath && report.shard ? { key: tokenizerKey(tokenizer), shardPath, summary: report.shard } : null;
    return { kind: 'report', report, shard };
  } catch (error) {
    if (signal.aborted) return { kind: 'handed-back' };
    // Deleted while validating: its file went with the row, and there is nothing to record.
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' && !(await datasetExists(deps.db, claimed.id))) return { kind: 'gone' };
    const expected = asDatasetError(error);
    if (expected) return { kind: 'failed', code: expected.code, message: expected.message };
    if (isDiskFullError(error)) {
      deps.log.error({ err: error, datasetId: claimed.id }, 'the disk is full: dataset validation failed');
      return {
        kind: 'failed',
        code: 'disk_full',
        message: 'the server ran out of disk space while validating this dataset; upload the file again once space is freed',
      };
    }
    deps.log.error({ err: error, datasetId: claimed.id }, 'dataset validation failed unexpectedly');
    return {
      kind: 'failed',
      code: 'validation_failed',
      message: `validation failed on the server (${errorText(error)}); upload the file again to retry`,
    };
  }
}

/** Stores the outcome (fenced by the attempt) and returns the row; a report that cannot be stored is stored as a failure. */
async function record(
  deps: RunValidationDeps,
  claimed: Dataset,
  outcome: Exclude<Outcome, { kind: 'handed-back' | 'gone' }>,
): Promise<Dataset | undefined> {
  try {
    return await store(deps, claimed, outcome);
  } catch (err) {
    if (outcome.kind === 'failed') throw err;
    deps.log.error({ err, datasetId: claimed.id }, 'could not store a dataset validation report');
    return store(deps, claimed, {
      kind: 'failed',
      code: isDiskFullError(err) ? 'disk_full' : 'validation_failed',
      message: `the validation report could not be stored (${errorText(err)}); upload the file again to retry`,
    });
  }
}

async function store(
  deps: RunValidationDeps,
  claimed: Dataset,
  outcome: Exclude<Outcome, { kind: 'handed-back' | 'gone' }>,
): Promise<Dataset | undefined> {
  const report = outcome.kind === 'report' ? outcome.report : null;
  const shard = outcome.kind === 'report' ? outcome.shard : null;
  const errors: Array<ValidationIssue<string>> =
    outcome.kind === 'report' ? outcome.report.errors : [{ line: null, code: outcome.code, field: null, message: outcome.message }];
  return deps.db.transaction().execute(async (trx) => {
    const row = await trx
      .updateTable('datasets')
      .set({
        status: report?.ok ? 'READY' : 'INVALID',
        format: report?.stats.format ?? null,
        examples: report?.stats.examples ?? null,
        stats: report ? JSON.stringify(report.stats) : null,
        errors: JSON.stringify(errors.map(sanitizeIssue)),
        error_count: report ? report.errorCount : 1,
        warnings: JSON.stringify((report?.warnings ?? []).map(sanitizeIssue)),
        warning_count: report?.warningCount ?? 0,
        validated_at: new Date(),
        validation_lease_expires_at: null,
      })
      .where('id', '=', claimed.id)
      .where('status', '=', 'VALIDATING')
      .where('validation_attempts', '=', claimed.validation_attempts)
      .returningAll()
      .executeTakeFirst();
    if (row && shard) await recordTokenization(trx, { sha256: row.sha256, ...shard });
    if (!row && shard) {
      // Deleted while validating: the shard just written may be the last trace of it.
      await lockContent(trx, claimed.sha256);
      await removeContentIfUnreferenced(trx, deps.dataDir, claimed.sha256);
    }
    return row;
  });
}

/** A finding as stored and shown: its texts come from the user's file, so they are sanitised. */
function sanitizeIssue(issue: ValidationIssue<string>): ValidationIssue<string> {
  return { ...issue, field: issue.field === null ? null : sanitizeText(issue.field, 500), message: sanitizeText(issue.message, 2_000) };
}

/**
 * Whether the dataset's row still exists. A delete removes the file before it commits, so
 * the row is read FOR UPDATE: that waits for a delete in flight to end.
 */
async function datasetExists(db: Db, id: string): Promise<boolean> {
  return (await db.selectFrom('datasets').select('id').where('id', '=', id).forUpdate().executeTakeFirst()) !== undefined;
}

function errorText(error: unknown): string {
  return sanitizeText(error instanceof Error ? error.message : String(error), 300);
}
