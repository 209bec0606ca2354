import { isTokenizerError } from '../tokenizer/tokenizer-error.js';

/**
 * Codes of the expected failures of dataset intake, storage and tokenization.
 * Validation findings about the file's content are not thrown: they are
 * reported line by line in a `ValidationReport` (see `validation/`).
 */
export type DatasetErrorCode =
  /** The upload or download is larger than the configured byte limit. */
  | 'file_too_large'
  /** The URL's scheme is not http(s), or it points at a private address that is not allowed. */
  | 'url_not_allowed'
  /** The server answered with a non-2xx status, or the connection failed. */
  | 'fetch_failed'
  /** The download did not complete within its time limit. */
  | 'fetch_timeout'
  /** More than the allowed number of HTTP redirects. */
  | 'too_many_redirects'
  /** A server path that is not a readable regular file inside an operator-allowed root (one answer for every such path), or no roots are configured. */
  | 'path_not_allowed'
  /** The upload stream ended with an error or was aborted. */
  | 'upload_aborted'
  /** The server's disk (or quota) is full: nothing was stored. */
  | 'insufficient_storage'
  /** A compressed response body (gzip, deflate, br) of a URL is corrupt or cut short. */
  | 'content_decoding_failed'
  /** A stored dataset file that should exist does not. */
  | 'dataset_missing'
  /** The model folder lacks a usable tokenizer.json / tokenizer_config.json / chat template. */
  | 'tokenizer_invalid'
  /** The tokenizer or chat template is of a kind this version cannot map exactly to a loss mask. */
  | 'tokenizer_unsupported'
  /** The chat template rendered an example in a way the loss mask cannot be derived from. */
  | 'template_mismatch'
  /** The dataset file does not pass validation (tokenizing an unvalidated file). */
  | 'dataset_invalid';

/**
 * An expected failure with a machine-readable `code` and a message meant for the
 * user (never a stack trace). `status` is the HTTP status the REST layer should use
 * when it has no better idea, and `details` carries structured context (the HTTP
 * status of a failed download, the limit that was exceeded, ...).
 */
export class DatasetError extends Error {
  override readonly name = 'DatasetError';
  readonly code: DatasetErrorCode;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: DatasetErrorCode, message: string, details: Record<string, unknown> = {}) {
    super(message);
    this.code = code;
    this.details = details;
  }

  /** The HTTP status the REST layer answers with for this code. */
  get status(): number {
    return DATASET_ERROR_STATUS[this.code];
  }
}

const DATASET_ERROR_STATUS: Record<DatasetErrorCode, number> = {
  file_too_large: 413,
  url_not_allowed: 400,
  fetch_failed: 422,
  fetch_timeout: 422,
  too_many_redirects: 422,
  path_not_allowed: 403,
  upload_aborted: 400,
  insufficient_storage: 507,
  content_decoding_failed: 422,
  dataset_missing: 404,
  tokenizer_invalid: 422,
  tokenizer_unsupported: 422,
  template_mismatch: 422,
  dataset_invalid: 422,
};

/** True for a `DatasetError`, also across worker/realm boundaries where `instanceof` fails. */
export function isDatasetError(error: unknown): error is DatasetError {
  return error instanceof DatasetError || (error instanceof Error && error.name === 'DatasetError' && 'code' in error);
}

/**
 * The `DatasetError` an expected failure of intake, storage or tokenization stands for
 * (a `TokenizerError` keeps its code; chat without a template is `tokenizer_invalid`),
 * or null for anything else — a bug, which callers rethrow.
 */
export function asDatasetError(error: unknown): DatasetError | null {
  if (isDatasetError(error)) return error;
  if (isTokenizerError(error)) {
    return new DatasetError(error.code === 'no_chat_template' ? 'tokenizer_invalid' : error.code, error.message);
  }
  return null;
}
