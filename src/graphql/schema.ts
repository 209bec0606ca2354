import { GraphQLObjectType, lexicographicSortSchema } from 'graphql';
import type { GraphQLFieldResolver, GraphQLSchema } from 'graphql';
import { builder } from './builder.js';
import './scalars.js';
import './errors.js';
import './types/model.js';
import './types/account.js';
import './types/billing.js';
import './types/dataset.js';
import './types/training.js';
import './types/webhooks.js';
import './types/inference.js';

let schema: GraphQLSchema | undefined;

/** The executable schema (built once; every domain file registers its types on import). */
export function getSchema(): GraphQLSchema {
  schema ??= withSyncNodeIds(lexicographicSortSchema(builder.toSchema()));
  return schema;
}

type IdResolver = GraphQLFieldResolver<unknown, unknown>;

/**
 * Pothos' relay plugin resolves every node's `id` with an async function, so any
 * selection of `id` — in a list, once per item — made the whole result a promise and
 * cost a microtask chain per item. Our global ids are the plain ids (builder.ts:
 * `encodeGlobalID` returns the id), so where a node type's own `id` resolver answers
 * synchronously the field now returns that id directly; anything else (a promise, a
 * non-string shape) still goes through the plugin's resolver.
 *
 * Only for node types with no auth scopes of their own (none have any today): the
 * plugin-wrapped resolver is what would run those.
 */
function withSyncNodeIds(built: GraphQLSchema): GraphQLSchema {
  for (const type of Object.values(built.getTypeMap())) {
    if (!(type instanceof GraphQLObjectType)) continue;
    const options = type.extensions.pothosOptions as { id?: { resolve?: IdResolver }; authScopes?: unknown } | undefined;
    const resolveId = options?.id?.resolve;
    const field = type.getFields().id;
    if (!resolveId || !field?.resolve || options.authScopes !== undefined) continue;
    const viaPlugin = field.resolve;
    field.resolve = (parent, args, context, info) => {
      const id = resolveId(parent, args, context, info);
      return typeof id === 'string' ? id : viaPlugin(parent, args, context, info);
    };
  }
  return built;
}
