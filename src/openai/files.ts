/**
 * OpenAI's file objects over Tuneloop's datasets (docs/openai-compatibility.md § Files).
 * A `fine-tune` file IS a dataset: the same id (`ds_…`) on /v1/files, /api/datasets and
 * GraphQL. A job's results file (`purpose: fine-tune-results`) is not stored: its id names
 * the job, and its CSV is built from the job's stored steps each time it is read.
 */
import type { Dataset } from '../db/tables/datasets.js';
import type { TrainingEvent } from '../db/tables/training.js';
import { InvalidInputError } from '../errors.js';
import { unixSeconds } from './time.js';

export interface OpenAiFile {
  id: string;
  object: 'file';
  bytes: number;
  created_at: number;
  filename: string;
  purpose: 'fine-tune' | 'fine-tune-results';
  status: 'uploaded' | 'processed' | 'error';
  status_details?: string;
}

/** The one purpose an upload may name. */
export const UPLOAD_PURPOSE = 'fine-tune';

/** Refuses any purpose but `fine-tune` (INVALID_INPUT on `purpose`: OpenAI's 400 naming the param). */
export function checkPurpose(purpose: unknown): void {
  if (purpose === UPLOAD_PURPOSE) return;
  throw new InvalidInputError(
    'purpose',
    purpose === undefined || purpose === ''
      ? 'send a multipart field "purpose" with the value "fine-tune"'
      : `purpose ${JSON.stringify(String(purpose).slice(0, 40))} is not supported: Tuneloop stores "fine-tune" files only`,
  );
}

const STATUS: Record<Dataset['status'], OpenAiFile['status']> = { VALIDATING: 'uploaded', READY: 'processed', INVALID: 'error' };

/** How many line-numbered problems `status_details` quotes. */
const DETAILED_ERRORS = 5;

interface Issue {
  line: number | null;
  field: string | null;
  message: string;
}

export function fileObject(dataset: Dataset): OpenAiFile {
  const file: OpenAiFile = {
    id: dataset.id,
    object: 'file',
    bytes: Number(dataset.bytes),
    created_at: unixSeconds(dataset.created_at),
    filename: dataset.filename ?? `${dataset.id}.jsonl`,
    purpose: 'fine-tune',
    status: STATUS[dataset.status],
  };
  if (dataset.status === 'INVALID') {
    const issues = (dataset.errors as Issue[]).slice(0, DETAILED_ERRORS);
    const listed = issues.map((i) => `${i.line === null ? 'file' : `line ${i.line}`}${i.field ? ` (${i.field})` : ''}: ${i.message}`);
    const more = dataset.error_count - issues.length;
    file.status_details = `${dataset.error_count} error${dataset.error_count === 1 ? '' : 's'}: ${listed.join('; ')}${more > 0 ? `; and ${more} more` : ''}`;
  }
  return file;
}

// ─── Results files ───────────────────────────────────────────────────────────────────

const RESULTS_PREFIX = 'file-results-';

/** The results file of a job: `file-results-<job id>`. */
export function resultsFileId(jobId: string): string {
  return `${RESULTS_PREFIX}${jobId}`;
}

/** The job a results file id names, or undefined when `id` is not one. */
export function parseResultsFileId(id: string): string | undefined {
  return id.startsWith(RESULTS_PREFIX) ? id.slice(RESULTS_PREFIX.length) : undefined;
}

export const RESULTS_COLUMNS = ['step', 'train_loss', 'train_accuracy', 'valid_loss', 'valid_mean_token_accuracy'] as const;

const cell = (value: unknown) => (typeof value === 'number' && Number.isFinite(value) ? String(value) : '');

/** One CSV row per stored step, in step order; a metric the step did not measure is an empty cell. */
export function resultsCsv(steps: readonly TrainingEvent[]): string {
  const rows = steps.map((e) => {
    const p = e.payload as Record<string, unknown>;
    return [e.step, p.loss, p.tokenAccuracy, p.validLoss, p.validTokenAccuracy].map(cell).join(',');
  });
  return `${[RESULTS_COLUMNS.join(','), ...rows].join('\n')}\n`;
}

export function resultsFileObject(jobId: string, createdAt: Date, csv: string): OpenAiFile {
  return {
    id: resultsFileId(jobId),
    object: 'file',
    bytes: Buffer.byteLength(csv),
    created_at: unixSeconds(createdAt),
    filename: 'step_metrics.csv',
    purpose: 'fine-tune-results',
    status: 'processed',
  };
}
