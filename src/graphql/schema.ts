import { lexicographicSortSchema } from 'graphql';
import type { GraphQLSchema } from 'graphql';
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
  schema ??= lexicographicSortSchema(builder.toSchema());
  return schema;
}
