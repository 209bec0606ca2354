import { Type } from 'typebox';
import type { TSchema } from 'typebox';
import type { ValueSchema } from './hyperparameter-kinds.js';
import { HYPERPARAMETER_ROWS, specPathOf } from './hyperparameter-table.js';
import type { Hyperparameter } from './hyperparameter-table.js';

/**
 * Schemas generated from the hyperparameter table: the REST body's `hyperparameters`
 * (TypeBox, in /openapi.json), the trainer's `hyperparameters` spec section (JSON Schema,
 * committed as trainer/hyperparameters.schema.json) and the docs table.
 */

const methodsNote = (row: Hyperparameter<unknown>) => (row.methods ? ` ${row.methods.join(' and ')} only.` : '');

/** One line for API descriptions: what it does, its range, what "auto" decides. */
export function describeHyperparameter(row: Hyperparameter<unknown>): string {
  return `${row.doc}${methodsNote(row)} Range: ${row.range ?? row.kind.range}. Auto: ${row.autoDoc.replace(/`/g, '')}.`;
}

/**
 * The REST body's `hyperparameters` object. Each field is a value of its kind, "auto" or
 * null. Validation itself is the domain's (checkHyperparameters, run before fastify's
 * schema validation so that its type coercion never rewrites a value): this schema is the
 * same rule, written out for /openapi.json.
 */
export function restHyperparametersSchema() {
  const fields: Record<string, TSchema> = {};
  for (const [name, row] of HYPERPARAMETER_ROWS) {
    fields[name] = Type.Optional(
      Type.Union([Type.Unsafe<unknown>({ ...row.kind.schema }), Type.Literal('auto'), Type.Null()], {
        description: describeHyperparameter(row),
      }),
    );
  }
  return Type.Object(fields, {
    additionalProperties: false,
    description: 'All optional; absent, null or "auto" lets Tuneloop decide (docs/training.md).',
  });
}

/** trainer/hyperparameters.schema.json: the `hyperparameters` section of a job spec. */
export function trainerHyperparametersSchema() {
  const properties: Record<string, ValueSchema | { anyOf: [ValueSchema, { type: 'null' }]; description: string }> = {};
  for (const [name, row] of HYPERPARAMETER_ROWS) {
    const path = specPathOf(name);
    if (path?.[0] !== 'hyperparameters') continue;
    const description = row.trainerNull ? `${row.doc} null: ${row.trainerNull}.` : row.doc;
    properties[name] =
      row.nullable || row.trainerNull ? { anyOf: [row.kind.schema, { type: 'null' }], description } : { ...row.kind.schema, description };
  }
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    title: 'Trainer job spec: hyperparameters',
    description:
      'Generated from src/training/hyperparameter-table.ts by `npm run generate:hyperparameters` (do not edit). Every field is optional: the trainer has a default for each (trainer/PROTOCOL.md).',
    type: 'object',
    additionalProperties: false,
    properties,
  };
}

/** The hyperparameters table of docs/training.md (between its generated-table markers). */
export function hyperparametersMarkdownTable(): string {
  const cells = HYPERPARAMETER_ROWS.map(([name, row]) => [
    `\`${name}\``,
    `${row.doc}${methodsNote(row)}`,
    row.range ?? row.kind.range,
    row.autoDoc,
  ]);
  const header = ['name', 'what', 'range', '"auto"'];
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => `| ${c.map((x, i) => x.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(header), `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`, ...cells.map(line)].join('\n');
}
