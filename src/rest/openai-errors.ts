import type { FastifyError, FastifyReply } from 'fastify';
import { DomainError } from '../errors.js';
import { RetryLaterError } from '../inference/errors.js';
import type { Logger } from '../log.js';
import { asExpectedError } from '../storage/disk-full.js';

/**
 * Errors under /v1 in OpenAI's shape, `{error: {message, type, param, code}}`, with the
 * HTTP status OpenAI uses — so the `openai` SDKs raise their typed errors
 * (BadRequestError, AuthenticationError, NotFoundError, RateLimitError, …). Every /v1
 * response goes through here: the route errors, fastify's own (validation, JSON, size),
 * unknown routes and 401 (src/rest/server.ts). The codes are our domain codes in lower
 * case, except where OpenAI has a name clients match on (docs/openai-compatibility.md).
 */
export interface OpenAiError {
  status: number;
  retryAfter?: number;
  body: { error: { message: string; type: string; param: string | null; code: string | null } };
}

/** A field as OpenAI names it: snake_case, and the listings' page size `first` is OpenAI's `limit`. */
const snake = (field: string) => (field === 'first' ? 'limit' : field.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`));

/**
 * A request field as OpenAI's `param`: the transport's location prefix that the strict-input
 * hook names (`body.`, `querystring.`) dropped — OpenAI names `model`, not `body.model`.
 */
const paramOf = (field: string) => snake(field.replace(/^(body|querystring)\./, ''));

/**
 * A JSON-schema location as OpenAI writes a param: `messages[0].role` for the instance
 * path `/messages/0` and the property `role`.
 */
function schemaParam(instancePath: string, property: string | undefined): string {
  const segments = [...instancePath.split('/').filter(Boolean), ...(property ? [property] : [])];
  return segments.reduce((out, s) => (/^\d+$/.test(s) ? `${out}[${s}]` : out ? `${out}.${s}` : s), '');
}

const TYPE_BY_STATUS: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'invalid_request_error',
  402: 'insufficient_quota',
  403: 'invalid_request_error',
  404: 'invalid_request_error',
  408: 'invalid_request_error',
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
};

/** What a missing object is called under /v1 (a dataset is a file there). */
const NOT_FOUND_CODE: Record<string, string> = {
  model: 'model_not_found',
  dataset: 'file_not_found',
  file: 'file_not_found',
  'training job': 'fine_tuning_job_not_found',
};

/** An OpenAI error document. */
export function openAiErrorOf(status: number, message: string, code: string | null, param: string | null = null): OpenAiError {
  return { status, body: { error: { message, type: TYPE_BY_STATUS[status] ?? 'server_error', param, code } } };
}

/** Any error thrown while serving a /v1 route, as OpenAI's error. Unexpected ones are logged and answered 500 without detail. */
export function openAiError(thrown: unknown, log: Logger): OpenAiError {
  const error = asExpectedError(thrown) ?? thrown;
  if (error instanceof DomainError) {
    const raw = typeof error.details.field === 'string' ? error.details.field : null;
    const field = raw === null ? null : paramOf(raw);
    let message = field === 'limit' ? error.message.replace(/^first\b/, 'limit') : error.message;
    if (raw !== null && field !== null && raw !== field && /^(body|querystring)\./.test(raw)) message = message.split(raw).join(field);
    let code = CODE_BY_DOMAIN_CODE[error.code] ?? error.code.toLowerCase();
    if (error.code === 'NOT_FOUND') {
      const kind = String(error.details.kind ?? '');
      code = NOT_FOUND_CODE[kind] ?? 'not_found';
      if (kind === 'model') message = `The model \`${String(error.details.id)}\` does not exist or you do not have access to it.`;
      // A dataset is a file under /v1: OpenAI's wording, which names the id.
      if (kind === 'dataset' || kind === 'file') message = `No such File object: ${String(error.details.id)}`;
    }
    const e = openAiErrorOf(error.status, message, code, field);
    return error instanceof RetryLaterError ? { ...e, retryAfter: error.retryAfterSeconds } : e;
  }
  const fe = error as FastifyError;
  if (fe.validation) {
    const v = fe.validation[0];
    const path = v
      ? schemaParam(v.instancePath, v.keyword === 'required' ? (v.params as { missingProperty: string }).missingProperty : undefined)
      : '';
    return openAiErrorOf(400, `Invalid request: ${path || 'body'} ${v?.message ?? 'is invalid'}`, 'invalid_value', path || null);
  }
  if (error instanceof SyntaxError || fe.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || fe.code === 'FST_ERR_CTP_EMPTY_JSON_BODY') {
    return openAiErrorOf(
      400,
      'We could not parse the JSON body of your request: send a JSON object with Content-Type: application/json.',
      'invalid_json',
    );
  }
  if (fe.code === 'FST_ERR_CTP_BODY_TOO_LARGE' || fe.code === 'FST_REQ_FILE_TOO_LARGE') {
    return openAiErrorOf(413, fe.message, 'body_too_large');
  }
  if (fe.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return openAiErrorOf(415, fe.message, 'unsupported_media_type');
  if (fe.statusCode && fe.statusCode >= 400 && fe.statusCode < 500)
    return openAiErrorOf(fe.statusCode, fe.message, fe.code?.toLowerCase() ?? null);
  log.error({ err: error }, 'unexpected error in an OpenAI-compatible route');
  return openAiErrorOf(500, 'The server had an error while processing your request.', 'internal_error');
}

export function sendOpenAiError(reply: FastifyReply, e: OpenAiError): FastifyReply {
  if (e.retryAfter !== undefined) reply.header('retry-after', String(e.retryAfter));
  return reply.status(e.status).type('application/json').send(e.body);
}

/** True for the routes that answer in OpenAI's shape. */
export const isOpenAiPath = (url: string) => url === '/v1' || url.startsWith('/v1/') || url.startsWith('/v1?');
