/**
 * Tuneloop's objects in OpenAI's shapes for the /v1 routes (files, fine-tuning jobs, their
 * events and checkpoints, models): field names, status words and unix-second times as the
 * official SDKs read them. Pure functions of stored rows; what they mean is decided by
 * the services. docs/openai-compatibility.md lists every field.
 */
import type { Dataset } from '../db/tables/datasets.js';
import { InvalidInputError } from '../errors.js';
import type { Listing } from '../paging/listing.js';

export const unix = (date: Date | string | null | undefined) => (date ? Math.floor(new Date(date).getTime() / 1000) : null);

/** OpenAI's list page: `{object: "list", data, has_more, first_id, last_id}`; the SDKs continue with `after=<last id>`. */
export function openAiList<T extends { id: string }>(data: T[], hasMore: boolean) {
  return { object: 'list' as const, data, has_more: hasMore, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null };
}

/**
 * OpenAI's `after` is the id of the last object of the previous page; Tuneloop's id
 * listings hold the same id in an opaque cursor. Anything that is not an id of the list is
 * refused on `after` (by the listing, before any SQL).
 */
export function cursorAfterId<T extends { id: string }>(listing: Listing<T, unknown>, after: string | undefined): string | null {
  if (after === undefined || after === '') return null;
  const cursor = listing.cursorOf({ id: after } as T);
  listing.request({ after: cursor });
  return cursor;
}

/** OpenAI's `limit` for a listing: 1 … its largest page (larger asks get the largest page, and `has_more`). */
export function pageLimit(listing: Listing<never, unknown>, limit: number | undefined): number | null {
  if (limit === undefined) return null;
  if (!Number.isInteger(limit) || limit < 1) throw new InvalidInputError('limit', 'limit must be a positive integer');
  return Math.min(limit, listing.maxSize);
}

// ─── Files ───────────────────────────────────────────────────────────────────────────

const FILE_STATUS = { VALIDATING: 'uploaded', READY: 'processed', INVALID: 'error' } as const;

/** The first line-numbered problems of an INVALID dataset, as OpenAI's `status_details`. */
export function statusDetails(d: Dataset): string | null {
  if (d.status !== 'INVALID') return null;
  const errors = d.errors as Array<{ line: number | null; message: string }>;
  const first = errors.slice(0, 5).map((e) => (e.line !== null ? `line ${e.line}: ${e.message}` : e.message));
  const more = d.error_count > first.length ? ` (and ${d.error_count - first.length} more)` : '';
  return `${d.error_count} error${d.error_count === 1 ? '' : 's'}: ${first.join('; ')}${more}`;
}

/** A dataset as an OpenAI file object (same id). */
export function fileJson(d: Dataset) {
  return {
    id: d.id,
    object: 'file' as const,
    bytes: Number(d.bytes),
    created_at: unix(d.created_at)!,
    filename: d.filename ?? `${d.id}.jsonl`,
    purpose: 'fine-tune' as const,
    status: FILE_STATUS[d.status],
    status_details: statusDetails(d),
    expires_at: null,
  };
}

/** A job's results file (generated from its stored steps when read). */
export function resultsFileJson(file: { id: string; bytes: number; createdAt: Date }) {
  return {
    id: file.id,
    object: 'file' as const,
    bytes: file.bytes,
    created_at: unix(file.createdAt)!,
    filename: 'step_metrics.csv',
    purpose: 'fine-tune-results' as const,
    status: 'processed' as const,
    status_details: null,
    expires_at: null,
  };
}
