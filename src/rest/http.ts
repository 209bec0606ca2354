import type { ServerResponse } from 'node:http';
import type {
  FastifyBaseLogger,
  FastifyReply,
  FastifyInstance,
  RawReplyDefaultExpression,
  RawRequestDefaultExpression,
  RawServerDefault,
} from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
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
 * Takes the response over from fastify and starts a server-sent event stream (status and
 * headers sent at once: a stream may wait a while for its first event). Returns the raw
 * response to write `data:` frames to.
 */
export function openEventStream(reply: FastifyReply): ServerResponse {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
    // Proxies such as nginx would otherwise buffer the stream.
    'x-accel-buffering': 'no',
  });
  res.flushHeaders();
  return res;
}
