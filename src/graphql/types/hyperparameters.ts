import { GraphQLError, valueFromASTUntyped } from 'graphql';
import type { ValueNode } from 'graphql';
import { builder } from '../builder.js';
import { HYPERPARAMETER_ROWS } from '../../training/hyperparameter-table.js';
import type { ResolvedHyperparameters } from '../../training/hyperparameter-table.js';
import type { Kind } from '../../training/hyperparameter-kinds.js';
import { describeHyperparameter } from '../../training/hyperparameter-schemas.js';

/**
 * The GraphQL side of the hyperparameter table (src/training/hyperparameter-table.ts):
 * `HyperparametersInput` and the `Hyperparameters` output type, one field per row.
 *
 * Input fields use scalars that carry any value to the domain, which checks it like a
 * REST body: a value of the field's kind, "auto" or null — anything else (a literal
 * `1e400`, which graphql-js reads as Infinity, a string, a boolean for an Int) becomes
 * INVALID_HYPERPARAMETERS naming the field, in the payload's `errors`, instead of a
 * request-level GraphQL error on one engine path and a silent default on another.
 */

const SCALARS = {
  integer: ['HyperparameterInt', 'An integer, or "auto". Null or absent also means auto.'],
  number: ['HyperparameterFloat', 'A finite number, or "auto". Null or absent also means auto.'],
  boolean: ['HyperparameterBoolean', 'true or false, or "auto". Null or absent also means auto.'],
  enum: [
    'HyperparameterString',
    'One of the values the field lists (a string or an enum-style literal), or "auto". Null or absent also means auto.',
  ],
  list: ['HyperparameterStringList', 'A list of the names the field lists, or "auto". Null or absent also means auto.'],
} as const satisfies Record<Kind<unknown>['name'], readonly [string, string]>;

/** The scalars' TypeScript shapes for the builder (builder.ts): anything in, nothing out. */
export type HyperparameterScalars = { [K in keyof typeof SCALARS as (typeof SCALARS)[K][0]]: { Input: unknown; Output: never } };

for (const [name, description] of Object.values(SCALARS)) {
  builder.scalarType(name, {
    description,
    serialize: () => {
      throw new GraphQLError(`${name} is an input-only scalar`);
    },
    parseValue: (value) => value,
    // Enum-style literals (`lrScheduler: cosine`) read as their name, like a string. Without
    // variables: graphql-jit refuses literal parsers that take them (a variable nested in a
    // list literal reads as undefined, which the domain then refuses).
    parseLiteral: (ast: ValueNode) => valueFromASTUntyped(ast),
  });
}

const OUTPUT_TYPES = { integer: 'Int', number: 'Float', boolean: 'Boolean', enum: 'String', list: ['String'] } as const;

export const HyperparametersInput = builder.inputType('HyperparametersInput', {
  description: 'Every field is optional; absent, null or "auto" lets Tuneloop decide (docs/training.md).',
  fields: (t) =>
    Object.fromEntries(
      HYPERPARAMETER_ROWS.map(([name, row]) => [
        name,
        t.field({ type: SCALARS[row.kind.name][0], description: describeHyperparameter(row) }),
      ]),
    ),
});

export const HyperparametersRef = builder.objectRef<ResolvedHyperparameters>('Hyperparameters').implement({
  description: 'The hyperparameters the job runs with, "auto" values decided.',
  fields: (t) =>
    Object.fromEntries(
      HYPERPARAMETER_ROWS.map(([name, row]) => [
        name,
        t.field({
          type: OUTPUT_TYPES[row.kind.name] as 'String',
          nullable: row.nullable || row.methods !== undefined,
          description: row.methods ? `${row.doc} Null for methods other than ${row.methods.join(' and ')}.` : row.doc,
          // A job resolved before a row existed ran with the row's `legacy` value.
          resolve: (hp) => ((hp as Record<string, unknown>)[name] ?? row.legacy ?? null) as string,
        }),
      ]),
    ),
});
