import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { DomainError } from '../errors.js';
import { asExpectedError, isDiskFullError } from '../storage/disk-full.js';
import type { Logger } from '../log.js';

/** An RFC 9457 problem document; `code` is the same machine-readable code GraphQL uses. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  [extra: string]: unknown;
}

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  402: 'Payment Required',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  409: 'Conflict',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  503: 'Service Unavailable',
  507: 'Insufficient Storage',
};

export function problem(status: number, code: string, detail: string, extra: Record<string, unknown> = {}): Problem {
  // Standard members win over same-named details.
  return {
    ...extra,
    type: `urn:tuneloop:problem:${code.toLowerCase().replace(/_/g, '-')}`,
    title: TITLES[status] ?? 'Error',
    status,
    detail,
    code,
  };
}

export function sendProblem(reply: FastifyReply, p: Problem): FastifyReply {
  return reply.status(p.status).type('application/problem+json').send(p);
}

/** Maps fastify's own errors (validation, parsing, limits) to problem codes. */
function fastifyProblem(error: FastifyError): Problem | undefined {
  if (error.validation) {
    const errors = error.validation.map((v) => ({
      field: `${error.validationContext ?? 'body'}${v.instancePath.replace(/\//g, '.')}${
        v.keyword === 'required' ? `.${(v.params as { missingProperty?: string }).missingProperty}` : ''
      }${v.keyword === 'additionalProperties' ? `.${(v.params as { additionalProperty?: string }).additionalProperty}` : ''}`,
      message: v.message ?? 'is invalid',
    }));
    const first = errors[0];
    return problem(400, 'INVALID_REQUEST', first ? `${first.field} ${first.message}` : 'the request is invalid', { errors });
  }
  switch (error.code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return problem(415, 'UNSUPPORTED_MEDIA_TYPE', error.message);
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
    case 'FST_REQ_FILE_TOO_LARGE':
      return problem(413, 'BODY_TOO_LARGE', error.message);
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return problem(400, 'INVALID_REQUEST', error.message);
  }
  if (error instanceof SyntaxError || error.code === 'FST_ERR_CTP_INVALID_JSON_BODY') {
    return problem(400, 'INVALID_JSON', `the request body is not valid JSON: ${error.message}`);
  }
  if (error.statusCode && error.statusCode >= 400 && error.statusCode < 500) {
    return problem(error.statusCode, error.code ?? 'INVALID_REQUEST', error.message);
  }
  return undefined;
}

/**
 * The one error handler for REST routes: domain errors and request errors become
 * problem+json with a `code`; anything else is logged and answered as a bare 500 — never
 * a stack trace.
 */
export function restErrorHandler(log: Logger) {
  return (error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    if (error instanceof DomainError) return sendProblem(reply, problem(error.status, error.code, error.message, error.details));
    const p = fastifyProblem(error);
    if (p) return sendProblem(reply, p);
    // Any write that found the disk (or the database's disk) full: the client is not at fault.
    const expected = asExpectedError(error);
    if (expected) {
      if (isDiskFullError(error)) log.error({ err: error, method: request.method, url: request.url }, 'the disk is full');
      return sendProblem(reply, problem(expected.status, expected.code, expected.message, expected.details));
    }
    log.error({ err: error, method: request.method, url: request.url }, 'unexpected error in a REST route');
    return sendProblem(reply, problem(500, 'INTERNAL', 'an unexpected error occurred; it has been logged'));
  };
}
