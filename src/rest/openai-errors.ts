/**
 * OpenAI's error shape for everything under /v1: `{error: {message, type, param, code}}`
 * with the HTTP status the official SDKs turn into their typed errors (400
 * BadRequestError, 401 AuthenticationError, 403 PermissionDeniedError, 404 NotFoundError,
 * 409 ConflictError, 422 UnprocessableEntityError, 429 RateLimitError, ≥ 500
 * InternalServerError). The server's error handler, not-found handler and auth hook send
 * every /v1 error through here (src/rest/server.ts), so no route maps errors itself.
 */
import type { FastifyError, FastifyReply } from 'fastify';
import { DomainError } from '../errors.js';
import type { Logger } from '../log.js';
import { RetryLaterError } from '../inference/errors.js';
import { InsufficientStorageError, isDiskFullError } from '../storage/disk-full.js';

export interface OpenAiErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

export interface OpenAiError {
  status: number;
  retryAfter?: number;
  body: OpenAiErrorBody;
}

/** True for the paths that answer in OpenAI's shapes. */
export const isOpenAiPath = (url: string) => url === '/v1' || url.startsWith('/v1/') || url.startsWith('/v1?');

const snake = (field: string) => field.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

const TYPE_BY_STATUS: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'invalid_request_error',
  402: 'insufficient_quota',
  403: 'invalid_request_error',
  404: 'invalid_request_error',
  405: 'invalid_request_error',
  409: 'invalid_request_error',
  413: 'invalid_request_error',
  415: 'invalid_request_error',
  422: 'invalid_request_error',
  429: 'rate_limit_exceeded',
};

const CODE_BY_DOMAIN_CODE: Record<string, string> = {
  INVALID_INPUT: 'invalid_value',
  INSUFFICIENT_BALANCE: 'insufficient_quota',
  QUEUE_FULL: 'rate_limit_exceeded',
  UNAUTHENTICATED: 'invalid_api_key',
};

export function openAiErrorOf(status: number, message: string, code: string | null, param: string | null = null): OpenAiError {
  return { status, body: { error: { message, type: TYPE_BY_STATUS[status] ?? 'server_error', param, code } } };
}

/** Any error of a /v1 route as OpenAI's `{error: {message, type, param, code}}` and its status. */
export function openAiError(error: unknown, log: Logger): OpenAiError {
  if (error instanceof DomainError) {
    const field = typeof error.details.field === 'string' ? snake(error.details.field) : null;
    let message = error.message;
    let code = CODE_BY_DOMAIN_CODE[error.code] ?? error.code.toLowerCase();
    if (error.code === 'NOT_FOUND') {
      const kind = typeof error.details.kind === 'string' ? error.details.kind : undefined;
      if (kind === 'model') message = `The model \`${String(error.details.id)}\` does not exist or you do not have access to it.`;
      code = kind === 'model' || kind === undefined ? 'model_not_found' : `${snake(kind).replace(/ /g, '_')}_not_found`;
    }
    const made = openAiErrorOf(error.status, message, code, field);
    return error instanceof RetryLaterError ? { ...made, retryAfter: error.retryAfterSeconds } : made;
  }
  const fe = error as FastifyError;
  if (fe.validation) {
    const v = fe.validation[0];
    const missing = v?.keyword === 'required' ? (v.params as { missingProperty: string }).missingProperty : '';
    const extra = v?.keyword === 'additionalProperties' ? (v.params as { additionalProperty: string }).additionalProperty : '';
    const base = v ? v.instancePath.replace(/^\//, '').replace(/\//g, '.') : '';
    const path = [base, missing || extra].filter(Boolean).join('.');
    const what = extra ? 'is not a supported parameter' : (v?.message ?? 'is invalid');
    return openAiErrorOf(400, `Invalid request: ${path || 'body'} ${what}`, extra ? 'unknown_parameter' : 'invalid_value', path || null);
  }
  if (error instanceof SyntaxError || fe.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || fe.code === 'FST_ERR_CTP_EMPTY_JSON_BODY') {
    return openAiErrorOf(
      400,
      'We could not parse the JSON body of your request: send a JSON object with Content-Type: application/json.',
      'invalid_json',
    );
  }
  if (fe.code === 'FST_ERR_CTP_BODY_TOO_LARGE' || fe.code === 'FST_REQ_FILE_TOO_LARGE') {
    return openAiErrorOf(413, `The request body is too large: ${fe.message}`, 'request_too_large');
  }
  if (fe.statusCode && fe.statusCode >= 400 && fe.statusCode < 500) {
    return openAiErrorOf(fe.statusCode, fe.message, fe.code?.toLowerCase() ?? null);
  }
  if (isDiskFullError(error)) {
    log.error({ err: error }, 'the disk is full');
    const full = new InsufficientStorageError();
    return openAiErrorOf(full.status, full.message, full.code.toLowerCase());
  }
  log.error({ err: error }, 'unexpected error in an OpenAI-compatible route');
  return openAiErrorOf(500, 'The server had an error while processing your request.', 'internal_error');
}

export function sendOpenAiError(reply: FastifyReply, e: OpenAiError): FastifyReply {
  if (e.retryAfter !== undefined) reply.header('retry-after', String(e.retryAfter));
  return reply.status(e.status).type('application/json').send(e.body);
}
