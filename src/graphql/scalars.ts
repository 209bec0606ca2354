import { GraphQLError, Kind } from 'graphql';
import { builder } from './builder.js';
import { formatUsd, parseUsd } from '../errors.js';

builder.scalarType('DateTime', {
  description: 'An ISO-8601 timestamp in UTC, e.g. "2026-11-27T10:20:18.000Z".',
  serialize: (value) => (value instanceof Date ? value.toISOString() : new Date(value).toISOString()),
  parseValue: (value) => {
    const date = new Date(String(value));
    if (Number.isNaN(date.getTime())) throw new GraphQLError('DateTime must be an ISO-8601 timestamp');
    return date;
  },
});

builder.scalarType('USD', {
  description: 'An amount of US dollars as a decimal string with 6 places (micro-USD precision), e.g. "12.500000".',
  serialize: (value) => formatUsd(BigInt(value)),
  parseValue: (value) => {
    if (typeof value !== 'string' && typeof value !== 'number') throw new GraphQLError('USD must be a decimal string');
    parseUsd(value);
    return String(value);
  },
  parseLiteral: (ast) => {
    if (ast.kind !== Kind.STRING && ast.kind !== Kind.FLOAT && ast.kind !== Kind.INT) {
      throw new GraphQLError('USD must be a decimal string');
    }
    parseUsd(ast.value);
    return ast.value;
  },
});

builder.scalarType('JSON', {
  description: 'Arbitrary JSON.',
  serialize: (value) => value,
  parseValue: (value) => value,
});

// Inputs are uploads that yoga's multipart parser placed in the variables; a string or a
// literal where a File goes is refused, naming the field, by the strict-input step
// (strict-input.ts) before any resolver runs.
builder.scalarType('File', {
  description: 'A file sent with the GraphQL multipart request spec.',
  serialize: () => {
    throw new GraphQLError('File is an input-only scalar');
  },
});
