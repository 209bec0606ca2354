/**
 * What the server answered when it said no: the problem+json `code` (or the OpenAI error's
 * `code` on `/v1`), its message and the HTTP status. The CLI prints `message` as one line.
 */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code: string,
    readonly body: unknown = null,
  ) {
    super(message);
    this.name = 'ApiError';
  }

  /** Builds the error from a non-2xx response's parsed body (problem+json, `/v1` error, or text). */
  static fromBody(status: number, body: unknown, fallback: string): ApiError {
    const b = (body ?? {}) as { code?: unknown; detail?: unknown; error?: { message?: unknown; code?: unknown; type?: unknown } };
    if (typeof b.code === 'string') return new ApiError(typeof b.detail === 'string' ? b.detail : b.code, status, b.code, body);
    if (b.error && typeof b.error.message === 'string') {
      const code = typeof b.error.code === 'string' ? b.error.code : typeof b.error.type === 'string' ? b.error.type : `HTTP_${status}`;
      return new ApiError(b.error.message, status, code, body);
    }
    return new ApiError(fallback, status, `HTTP_${status}`, body);
  }
}

/** The server could not be reached (refused, reset, DNS): worth retrying for a watcher. */
export class ConnectionError extends Error {
  constructor(
    readonly url: string,
    cause: unknown,
  ) {
    const reason = (cause as { cause?: { code?: string; message?: string } })?.cause;
    super(
      `cannot reach the Tuneloop server at ${url} (${reason?.code ?? reason?.message ?? (cause as Error)?.message ?? 'unknown error'})`,
    );
    this.name = 'ConnectionError';
  }
}
