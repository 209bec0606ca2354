import type { FastifyBaseLogger, FastifyInstance, RawReplyDefaultExpression, RawRequestDefaultExpression, RawServerDefault } from 'fastify';
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
