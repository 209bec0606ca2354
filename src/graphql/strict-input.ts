import {
  GraphQLError,
  Kind,
  TypeInfo,
  getNamedType,
  isInputObjectType,
  isInputType,
  isListType,
  isNonNullType,
  typeFromAST,
  visit,
  visitWithTypeInfo,
} from 'graphql';
import type { DocumentNode, GraphQLInputType, GraphQLSchema, ValueNode } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { isStorableText } from '../storable-text.js';
import type { GraphQLContext } from './builder.js';

/** Where a variable's value lands: its type there and the argument path that names it. */
interface VariableUse {
  name: string;
  type: GraphQLInputType;
  path: string;
}

interface Problem {
  path: string;
  type: GraphQLInputType;
}

/** What a document's literals and variable positions say, worked out once per parsed document. */
interface DocumentInputs {
  literal: Problem | undefined;
  variables: VariableUse[];
}

/**
 * The one place GraphQL checks its inputs before resolvers run (src/rest/strict-input.ts is
 * REST's): every string an operation carries — literals in the document and variable
 * values, wherever they sit in arguments and input objects — must be text PostgreSQL can
 * store (src/storable-text.ts), and a `File` must be an upload (the multipart request
 * spec), never a string. Otherwise the operation does not run:
 *
 * - an `ID` that cannot be stored names no object: NOT_FOUND, naming the argument;
 * - any other string: INVALID_INPUT naming the argument path (e.g. `input.suffix`);
 * - a `File` that is not an upload: INVALID_INPUT naming the argument path.
 *
 * An envelop step rather than custom scalars: graphql-js does not let a schema replace the
 * built-in ID and String, and a scalar could not name the field anyway.
 */
export function useStrictInput(): Plugin<GraphQLContext> {
  const documents = new WeakMap<DocumentNode, DocumentInputs>();

  function check(
    schema: GraphQLSchema,
    document: DocumentNode,
    variables: Record<string, unknown> | null | undefined,
  ): GraphQLError | undefined {
    let inputs = documents.get(document);
    if (!inputs) documents.set(document, (inputs = inputsOf(schema, document)));
    let problem = inputs.literal;
    for (const use of inputs.variables) {
      if (problem) break;
      problem = checkValue(variables?.[use.name], use.type, use.path);
    }
    return problem && errorFor(problem);
  }

  return {
    onExecute({ args, setResultAndStopExecution }) {
      const error = check(args.schema, args.document, args.variableValues);
      if (error) setResultAndStopExecution({ errors: [error] });
    },
    onSubscribe({ args, setResultAndStopExecution }) {
      const error = check(args.schema, args.document, args.variableValues);
      if (error) setResultAndStopExecution({ errors: [error] });
    },
  };
}

function errorFor({ path, type }: Problem): GraphQLError {
  const named = getNamedType(type).name;
  if (named === 'ID') {
    return new GraphQLError(`nothing has the id given in ${path}: it holds characters no id can have`, {
      extensions: { code: 'NOT_FOUND', field: path },
    });
  }
  if (named === 'File') {
    return new GraphQLError(`${path} must be a file sent with the GraphQL multipart request spec, not a value in the query`, {
      extensions: { code: 'INVALID_INPUT', field: path },
    });
  }
  return new GraphQLError(`${path} contains text that cannot be stored (a NUL character or an unpaired surrogate)`, {
    extensions: { code: 'INVALID_INPUT', field: path },
  });
}

/** True for what yoga's multipart parser puts where a File goes. */
function isUpload(value: unknown): boolean {
  return (
    typeof value === 'object' && value !== null && typeof (value as Blob).stream === 'function' && typeof (value as File).name === 'string'
  );
}

/** Walks a variable's value (JSON, or uploads) along its input type. */
function checkValue(value: unknown, type: GraphQLInputType, path: string): Problem | undefined {
  if (value === undefined || value === null) return undefined;
  if (isNonNullType(type)) return checkValue(value, type.ofType, path);
  if (isListType(type)) {
    if (!Array.isArray(value)) return checkValue(value, type.ofType, path);
    for (let i = 0; i < value.length; i++) {
      const found = checkValue(value[i], type.ofType, `${path}[${i}]`);
      if (found) return found;
    }
    return undefined;
  }
  if (isInputObjectType(type)) {
    if (typeof value !== 'object') return undefined;
    const fields = type.getFields();
    for (const [name, item] of Object.entries(value)) {
      const field = fields[name];
      const found = field && checkValue(item, field.type, `${path}.${name}`);
      if (found) return found;
    }
    return undefined;
  }
  if (type.name === 'File') return isUpload(value) ? undefined : { path, type };
  return typeof value === 'string' && !isStorableText(value) ? { path, type } : undefined;
}

/** The document's literal problem, if any, and where each variable is used. */
function inputsOf(schema: GraphQLSchema, document: DocumentNode): DocumentInputs {
  const result: DocumentInputs = { literal: undefined, variables: [] };

  function walk(node: ValueNode, type: GraphQLInputType, path: string): void {
    if (result.literal) return;
    if (node.kind === Kind.VARIABLE) {
      result.variables.push({ name: node.name.value, type, path });
      return;
    }
    if (isNonNullType(type)) {
      walk(node, type.ofType, path);
      return;
    }
    if (isListType(type)) {
      if (node.kind === Kind.LIST) node.values.forEach((item, i) => walk(item, type.ofType, `${path}[${i}]`));
      else walk(node, type.ofType, path);
      return;
    }
    if (isInputObjectType(type)) {
      if (node.kind !== Kind.OBJECT) return;
      const fields = type.getFields();
      for (const field of node.fields) {
        const def = fields[field.name.value];
        if (def) walk(field.value, def.type, `${path}.${field.name.value}`);
      }
      return;
    }
    // A File is never written in the query; other leaves must be storable text.
    if (node.kind === Kind.NULL) return;
    if (type.name === 'File' || (node.kind === Kind.STRING && !isStorableText(node.value))) result.literal = { path, type };
  }

  const typeInfo = new TypeInfo(schema);
  visit(
    document,
    visitWithTypeInfo(typeInfo, {
      Argument(node) {
        const argument = typeInfo.getArgument();
        if (argument) walk(node.value, argument.type, node.name.value);
        return false;
      },
      VariableDefinition(node) {
        const type = typeFromAST(schema, node.type);
        if (node.defaultValue && type && isInputType(type)) walk(node.defaultValue, type, node.variable.name.value);
        return false;
      },
    }),
  );
  return result;
}
