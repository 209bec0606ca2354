import type { FastifyBaseLogger, FastifyInstance, RawReplyDefaultExpression, RawRequestDefaultExpression, RawServerDefault } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { ServerResponse } from 'node:http';
import type { FastifyReply } from 'fastify';
import type { Principal } from '../accounts/service.js';

/** The fastify instance type every route module registers on (TypeBox schemas give typed handlers). */
export type Http = FastifyInstance<
  RawServerDefault,
  RawRequestDefaultExpression<RawServerDefault>,
  RawReplyDefaultExpression<RawServerDefault>,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>;

declare module 'fastify' {
  interface FastifyInstance {
    /** Responses streaming now (SSE and the like): shutdown ends them (trackStream). */
    openStreams: Set<ServerResponse>;
  }
  interface FastifyRequest {
    /** The caller, set by the auth hook on every /api and /v1 route. */
    principal: Principal | null;
  }
  interface FastifyContextConfig {
    /** Documents a route that answers without an API key (health, OpenAPI); auth applies to /api and /v1 only. */
    public?: boolean;
  }
}

/** The caller of an authenticated route (the auth hook already answered 401 otherwise). */
export function caller(request: { principal: Principal | null }): Principal {
  if (!request.principal) throw new Error('route reached without authentication');
  return request.principal;
}

/**
 * Registers a response that streams until the client leaves (SSE): a graceful shutdown
 * ends it instead of waiting for it. Plain requests are not tracked — shutdown lets them
 * finish, then closes their idle connections (app.ts).
 */
export function trackStream(reply: FastifyReply): void {
  const open = reply.server.openStreams;
  const response = reply.raw;
  open.add(response);
  response.once('close', () => open.delete(response));
}
