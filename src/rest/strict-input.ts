import type { FastifyReply, FastifyRequest } from 'fastify';
import { DomainError, InvalidInputError } from '../errors.js';
import { isStorableText, unstorablePath } from '../storable-text.js';

/**
 * The one place REST and the OpenAI-compatible routes check their inputs before a handler
 * runs (a preValidation hook: after parsing, before schema validation; GraphQL has its own
 * step, src/graphql/strict-input.ts). Text PostgreSQL cannot store (src/storable-text.ts)
 * never reaches a query:
 *
 * - in a path parameter — always an id — it names no object: 404 NOT_FOUND;
 * - anywhere in the query string or a JSON body: 400 INVALID_INPUT naming the field
 *   (`querystring.after`, `body.hyperparameters.lrScheduler`, …).
 *
 * A callback hook, not an async one: it answers without a promise.
 */
export function strictInputHook(request: FastifyRequest, _reply: FastifyReply, done: (err?: Error) => void): void {
  // /graphql answers in GraphQL's own shape (its step runs inside yoga).
  done(request.url.startsWith('/graphql') ? undefined : unstorableInput(request));
}

function unstorableInput(request: FastifyRequest): DomainError | undefined {
  // Without a percent escape the path and query hold no NUL (HTTP parsers refuse raw
  // control characters) and no surrogate (the request line is read as latin1): the common
  // case skips their walk.
  const escaped = request.url.includes('%');
  const params = escaped ? (request.params as Record<string, unknown> | undefined) : undefined;
  for (const name in params) {
    const value = params[name];
    if (typeof value === 'string' && !isStorableText(value)) {
      return new DomainError('NOT_FOUND', `nothing has this ${name}: it holds characters no id can have`, 404, { field: name });
    }
  }
  const field = (escaped ? unstorablePath(request.query, 'querystring') : undefined) ?? unstorablePath(request.body, 'body');
  if (field === undefined) return undefined;
  return new InvalidInputError(field, `${field} contains text that cannot be stored (a NUL character or an unpaired surrogate)`);
}
