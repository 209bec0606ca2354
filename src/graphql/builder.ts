import SchemaBuilder from '@pothos/core';
import RelayPlugin from '@pothos/plugin-relay';
import ScopeAuthPlugin, { RequestCache } from '@pothos/plugin-scope-auth';
import type { Principal } from '../accounts/service.js';
import type { Services } from '../services.js';
import { ForbiddenError, UnauthenticatedError } from '../errors.js';
import { decodeNodeId } from './node-ids.js';
import type { HyperparameterScalars } from './types/hyperparameters.js';

/** What every resolver sees. Built by yoga for HTTP, SSE and graphql-ws alike. */
export interface GraphQLContext {
  principal: Principal | null;
  services: Services;
  /** Aborted when the client goes away (HTTP request closed, socket closed). */
  signal?: AbortSignal;
}

export interface AuthedContext extends GraphQLContext {
  principal: Principal;
}

/**
 * The one schema builder: relay (connections, Node) and scope-auth (declared scopes instead
 * of `if` statements). Expected failures are typed objects implementing the `Error`
 * interface, listed in payloads (errors.ts).
 *
 * Ids are never re-encoded (docs/ARCHITECTURE.md, "Public names"): the global id of a node is its plain id, and
 * `node(id:)` finds the type from the id's prefix.
 */
export const builder = new SchemaBuilder<{
  Context: GraphQLContext;
  AuthScopes: { authenticated: boolean; admin: boolean };
  DefaultFieldNullability: false;
  Scalars: {
    ID: { Input: string; Output: string };
    DateTime: { Input: Date; Output: Date | string };
    USD: { Input: string; Output: bigint };
    JSON: { Input: unknown; Output: unknown };
    File: { Input: File; Output: never };
  } & HyperparameterScalars;
}>({
  plugins: [ScopeAuthPlugin, RelayPlugin],
  defaultFieldNullability: false,
  scopeAuth: {
    authorizeOnSubscribe: true,
    authScopes: (context) => ({
      authenticated: context.principal !== null,
      admin: context.principal?.isAdmin ?? false,
    }),
    unauthorizedError: (_parent, context) => (context.principal ? new ForbiddenError() : new UnauthenticatedError()),
  },
  relay: {
    cursorType: 'String',
    clientMutationId: 'omit',
    encodeGlobalID: (_typename, id) => String(id),
    decodeGlobalID: (globalID) => decodeNodeId(globalID),
  },
});

builder.queryType({ authScopes: { authenticated: true } });
builder.mutationType({ authScopes: { authenticated: true } });

/** The principal of an authenticated context (scopes already guarantee it exists). */
export function principalOf(context: GraphQLContext): Principal {
  if (!context.principal) throw new UnauthenticatedError();
  return context.principal;
}

/**
 * Drops what Pothos' scope-auth cached for a finished request. It keeps a RequestCache per
 * context in a module-wide WeakMap, and V8's young-generation GC does not clear entries of
 * an old WeakMap whose keys died young: every request's context, with all it references,
 * was copied twice and promoted, and scavenges took several times longer (figures:
 * docs/PERFORMANCE.md, "Why the code is shaped so"). Deleting the entry when the request
 * ends avoids all of it.
 */
export function forgetContext(context: object): void {
  RequestCache.clearForContext(context);
}
