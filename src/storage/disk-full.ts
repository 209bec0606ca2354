import { DomainError } from '../errors.js';

/**
 * Whether an error means the disk (or the account's quota) is full: ENOSPC / EDQUOT from
 * the filesystem, or PostgreSQL's `disk_full` (53100) when the database's own disk is.
 * Looks through `cause` chains, since streams and drivers wrap the errno error.
 */
export function isDiskFullError(error: unknown): boolean {
  for (let e = error, depth = 0; e && typeof e === 'object' && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (code === 'ENOSPC' || code === 'EDQUOT' || code === '53100') return true;
  }
  return false;
}

/** A write failed because the server's disk is full: HTTP 507, GraphQL code INSUFFICIENT_STORAGE. */
export class InsufficientStorageError extends DomainError {
  constructor(what = 'the data') {
    super(
      'INSUFFICIENT_STORAGE',
      `the server ran out of disk space while storing ${what}; nothing was kept — try again once the operator has freed space`,
      507,
    );
  }
}

/**
 * The expected failure an error stands for, or undefined for a bug: a DomainError as it
 * is, a full disk as InsufficientStorageError. REST's error handler, GraphQL payloads and
 * GraphQL's error masking all ask this, so a full disk reads the same on every transport.
 */
export function asExpectedError(error: unknown): DomainError | undefined {
  if (error instanceof DomainError) return error;
  if (isDiskFullError(error)) return new InsufficientStorageError();
  return undefined;
}
