import fc from 'fast-check';
import {
  buildClientSchema,
  getIntrospectionQuery,
  getNamedType,
  isEnumType,
  isInputObjectType,
  isLeafType,
  isListType,
  isNonNullType,
  isObjectType,
  isScalarType,
} from 'graphql';
import type { GraphQLField, GraphQLInputType, GraphQLSchema, IntrospectionQuery } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp } from '../helpers/app.js';
import type { TestApp } from '../helpers/app.js';
import { engines } from '../helpers/db.js';
import { fuzzOptions } from '../helpers/fuzz.js';
import { addTinyModel } from '../helpers/training.js';

/**
 * Random input for every REST route (enumerated from /openapi.json, bodies and parameters
 * generated from their schemas and then broken) and random variables for every GraphQL
 * query and mutation (enumerated by introspection, variables generated from their input
 * types and then broken): strings with NUL, lone surrogates and raw invalid UTF-8, numbers
 * out of range or huge, wrong types, extra and missing keys, bodies that are not JSON.
 * Every answer is below 500 and every refusal carries a specific `code` (problem+json, a
 * GraphQL error's `extensions.code` or a payload's typed error), never a masked internal
 * error; the server still answers /healthz afterwards. Subscriptions are not fuzzed here:
 * they take the same argument types as the queries, through the same strict-input step.
 * A failure prints fast-check's seed and path; TUNELOOP_FUZZ_SEED replays it.
 */

type Schema = Record<string, unknown> & {
  $ref?: string;
  anyOf?: Schema[];
  oneOf?: Schema[];
  allOf?: Schema[];
  enum?: unknown[];
  const?: unknown;
  type?: string | string[];
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
};
interface Operation {
  method: string;
  path: string;
  parameters: Array<{ in: string; name: string; required?: boolean; schema?: Schema }>;
  body?: Schema;
}

/** Strings that have broken servers before: NUL, controls, lone surrogates, ids of the wrong kind, huge. */
const hostileString = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 30 }),
  fc.constantFrom('', '\u0000', 'a\u0000b', '\ud800', '\udfff', '\u001b[31m', '../../etc/passwd', '/etc/passwd', 'ds_\u0000', 'ftjob_x'),
  fc.constantFrom('ds_00000000000000000000000000', 'ftjob_00000000000000000000000000', 'acct_00000000000000000000000000', 'tiny'),
  fc.constantFrom('eyJub3QiOiJhIGN1cnNvciJ9', 'WyJqb2JzIiwxXQ', 'x'.repeat(5000), '1e400', 'NaN', '-1', 'auto', 'null', 'true'),
);
const hostileNumber = fc.oneof(
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.constantFrom(-1, 0, 2 ** 31, 2 ** 53 + 1, 1e308, -0, 5e-324),
);

function schemaArb(s: Schema, refs: Record<string, Schema>, depth = 0): fc.Arbitrary<unknown> {
  if (s.$ref) return schemaArb(refs[s.$ref.split('/').pop() ?? ''] ?? {}, refs, depth);
  const alternatives = s.anyOf ?? s.oneOf;
  if (alternatives) return fc.oneof(...alternatives.map((a) => schemaArb(a, refs, depth)));
  if (s.allOf) return schemaArb(Object.assign({}, ...s.allOf), refs, depth);
  if (s.enum) return fc.constantFrom(...s.enum);
  if ('const' in s) return fc.constant(s.const);
  const type = Array.isArray(s.type) ? s.type[0] : s.type;
  switch (type) {
    case 'string':
      return fc.oneof(fc.string({ minLength: s.minLength ?? 0, maxLength: Math.min(s.maxLength ?? 20, 20) }), hostileString);
    case 'integer':
      return fc.oneof(fc.integer({ min: s.minimum ?? -1000, max: s.maximum ?? 1000 }), hostileNumber);
    case 'number':
      return hostileNumber;
    case 'boolean':
      return fc.boolean();
    case 'null':
      return fc.constant(null);
    case 'array':
      return depth > 3 ? fc.constant([]) : fc.array(schemaArb(s.items ?? {}, refs, depth + 1), { maxLength: 3 });
    case 'object': {
      if (depth > 3) return fc.constant({});
      const props = Object.fromEntries(Object.entries(s.properties ?? {}).map(([k, v]) => [k, schemaArb(v, refs, depth + 1)]));
      return fc.record(props, { requiredKeys: (s.required ?? []).filter((k) => k in props) });
    }
    default:
      return fc.jsonValue({ maxDepth: 2 });
  }
}

/** A value from the schema, or that value broken: a random JSON value, an extra key, a key dropped. */
function brokenArb(s: Schema, refs: Record<string, Schema>): fc.Arbitrary<unknown> {
  const valid = schemaArb(s, refs);
  return fc.oneof(
    { weight: 4, arbitrary: valid },
    fc.jsonValue({ maxDepth: 3 }),
    fc.tuple(valid, hostileString, fc.jsonValue({ maxDepth: 1 })).map(([v, k, x]) => (isObject(v) ? { ...v, [k]: x } : v)),
    fc.tuple(valid, fc.nat()).map(([v, i]) => {
      if (!isObject(v)) return v;
      const keys = Object.keys(v);
      if (keys.length === 0) return v;
      const rest = { ...v };
      delete rest[keys[i % keys.length] as string];
      return rest;
    }),
  );
}

/** A request body as bytes and its content type: JSON of the (broken) value, or not JSON at all. */
function bodyArb(s: Schema | undefined, refs: Record<string, Schema>): fc.Arbitrary<{ type: string; text: string } | undefined> {
  const json = (s ? brokenArb(s, refs) : fc.jsonValue({ maxDepth: 2 })).map((v) => ({
    type: 'application/json',
    text: JSON.stringify(v) ?? 'null',
  }));
  return fc.oneof(
    { weight: 6, arbitrary: json },
    fc.constant(undefined),
    json.map((b) => ({ ...b, text: b.text.replace(/\d+(\.\d+)?/, '1e400') })), // a number JSON.parse makes Infinity
    json.map((b) => ({ ...b, text: b.text.slice(0, Math.floor(b.text.length / 2)) })), // cut short
    fc
      .tuple(
        fc.string({ unit: 'binary', maxLength: 200 }),
        fc.constantFrom('application/json', 'text/plain', 'application/x-www-form-urlencoded'),
      )
      .map(([text, type]) => ({ type, text })),
    fc
      .string({ maxLength: 200 })
      .map((text) => ({ type: 'multipart/form-data; boundary=wrong', text: `--other\r\n${text}\r\n--other--\r\n` })),
  );
}

/** A path or query parameter: percent-encoded, raw invalid UTF-8 included. */
const paramText = fc.oneof(
  { weight: 4, arbitrary: hostileString.map((s) => percentEncode(Buffer.from(s, 'utf8'))) },
  fc.constantFrom('%ED%A0%80', '%FF%FE', '%00', '%C0%80', '..%2F..%2Fetc%2Fpasswd', '%25'),
);

function percentEncode(bytes: Buffer): string {
  return [...bytes]
    .map((b) =>
      /[A-Za-z0-9_.~-]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).padStart(2, '0').toUpperCase()}`,
    )
    .join('');
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Variables for a GraphQL input type, usually of that type, sometimes not. */
function inputArb(type: GraphQLInputType, depth = 0): fc.Arbitrary<unknown> {
  if (isNonNullType(type)) return fc.oneof({ weight: 9, arbitrary: inputArb(type.ofType, depth) }, fc.constant(null));
  const value = ((): fc.Arbitrary<unknown> => {
    if (isListType(type)) return depth > 3 ? fc.constant([]) : fc.array(inputArb(type.ofType, depth + 1), { maxLength: 3 });
    if (isEnumType(type)) return fc.constantFrom(...type.getValues().map((v) => v.name));
    if (isInputObjectType(type)) {
      if (depth > 3) return fc.constant({});
      const fields = type.getFields();
      const arbs = Object.fromEntries(Object.entries(fields).map(([k, f]) => [k, inputArb(f.type, depth + 1)]));
      const required = Object.values(fields)
        .filter((f) => isNonNullType(f.type))
        .map((f) => f.name);
      return fc.record(arbs, { requiredKeys: required });
    }
    if (isScalarType(type)) {
      if (type.name === 'Int') return fc.oneof(fc.integer({ min: -5, max: 200 }), hostileNumber);
      if (type.name === 'Float') return hostileNumber;
      if (type.name === 'Boolean') return fc.boolean();
      return hostileString;
    }
    return fc.jsonValue({ maxDepth: 1 });
  })();
  return fc.oneof({ weight: 6, arbitrary: value }, fc.constant(null), fc.jsonValue({ maxDepth: 2 }), hostileString);
}

interface GqlOperation {
  name: string;
  document: string;
  variables: fc.Arbitrary<Record<string, unknown>>;
}

/** One operation per query and mutation field: all its arguments as variables, `__typename` (and payload errors) selected. */
function gqlOperations(schema: GraphQLSchema): GqlOperation[] {
  const ops: GqlOperation[] = [];
  for (const [kind, root] of [
    ['query', schema.getQueryType()],
    ['mutation', schema.getMutationType()],
  ] as const) {
    for (const field of Object.values(root?.getFields() ?? {}) as Array<GraphQLField<unknown, unknown>>) {
      const decls = field.args.map((a) => `$${a.name}: ${String(a.type)}`).join(', ');
      const args = field.args.map((a) => `${a.name}: $${a.name}`).join(', ');
      const named = getNamedType(field.type);
      const selection = isLeafType(named)
        ? ''
        : isObjectType(named) && 'errors' in named.getFields()
          ? '{ __typename errors { __typename code message } }'
          : '{ __typename }';
      const document = `${kind} Fuzz${decls ? `(${decls})` : ''} { ${field.name}${args ? `(${args})` : ''} ${selection} }`;
      const variables = fc.record(Object.fromEntries(field.args.map((a) => [a.name, inputArb(a.type)])), { requiredKeys: [] });
      ops.push({ name: `${kind} ${field.name}`, document, variables });
    }
  }
  return ops;
}

describe.each(engines())('fuzzed REST and GraphQL input gets a specific error, never a 5xx (%s)', (engine) => {
  let t: TestApp;
  let keys: string[];

  beforeAll(async () => {
    t = await startTestApp(engine);
    const admin = await t.account('fuzz-admin', 100_000_000n, true);
    const user = await t.account('fuzz-user');
    keys = [admin.apiKey, user.apiKey, 'tl_not_a_key'];
    await addTinyModel(t);
  }, 120_000);

  afterAll(async () => {
    await t?.stop();
  });

  it('every REST route in /openapi.json answers random parameters and bodies below 500 with a code', async () => {
    const doc = (await (await fetch(`${t.url}/openapi.json`)).json()) as {
      paths: Record<
        string,
        Record<string, { parameters?: Operation['parameters']; requestBody?: { content: Record<string, { schema: Schema }> } }>
      >;
      components?: { schemas?: Record<string, Schema> };
    };
    const refs = doc.components?.schemas ?? {};
    const routes: Operation[] = Object.entries(doc.paths).flatMap(([path, methods]) =>
      Object.entries(methods).map(([method, op]) => ({
        method: method.toUpperCase(),
        path,
        parameters: op.parameters ?? [],
        body: op.requestBody?.content['application/json']?.schema,
      })),
    );
    expect(routes.length).toBeGreaterThan(30);
    const byName = new Map(routes.map((r) => [`${r.method} ${r.path}`, r]));
    const request = fc.constantFrom(...byName.keys()).chain((name) =>
      fc.record({
        route: fc.constant(name),
        params: fc.record(
          Object.fromEntries(
            (byName.get(name) as Operation).parameters.map((p) => [
              `${p.in}:${p.name}`,
              p.in === 'path'
                ? paramText
                : fc.oneof(
                    paramText,
                    schemaArb(p.schema ?? {}, refs).map((v) => percentEncode(Buffer.from(String(v)))),
                  ),
            ]),
          ),
          { requiredKeys: (byName.get(name) as Operation).parameters.filter((p) => p.in === 'path').map((p) => `${p.in}:${p.name}`) },
        ),
        body: /^(GET|DELETE)/.test(name) ? fc.constant(undefined) : bodyArb(byName.get(name)?.body, refs),
        key: fc.constantFrom(0, 0, 0, 1, 1, 2),
      }),
    );
    const seen = new Set<string>();
    await fc.assert(
      fc.asyncProperty(request, async ({ route: name, params, body, key }) => {
        seen.add(name);
        const route = byName.get(name) as Operation;
        const path = route.path.replace(/\{(\w+)\}/g, (_m, name: string) => params[`path:${name}`] as string);
        const query = Object.entries(params)
          .filter(([k]) => k.startsWith('query:'))
          .map(([k, v]) => `${k.slice(6)}=${v as string}`)
          .join('&');
        const headers: Record<string, string> = { authorization: `Bearer ${keys[key]}` };
        const idempotency = params['header:idempotency-key'];
        if (typeof idempotency === 'string') headers['idempotency-key'] = idempotency.slice(0, 200);
        if (body) headers['content-type'] = body.type;
        const response = await fetch(`${t.url}${path}${query ? `?${query}` : ''}`, { method: route.method, headers, body: body?.text });
        const text = await response.text();
        const where = `${route.method} ${path}?${query} ${body?.text.slice(0, 200) ?? ''} → ${response.status} ${text.slice(0, 300)}`;
        expect(response.status, where).toBeLessThan(500);
        if (response.status >= 400) {
          const problem = JSON.parse(text) as { code?: string; error?: { code?: string; type?: string } };
          // /v1 answers OpenAI's error shape (docs/inference.md), every other route problem+json.
          if (route.path.startsWith('/v1/'))
            expect([problem.error?.type, problem.error?.code], where).toEqual([
              expect.stringMatching(/^[a-z_]+$/),
              expect.stringMatching(/^[a-z_]+$/),
            ]);
          else expect(problem.code, where).toMatch(/^[A-Z_]+$/);
        }
      }),
      fuzzOptions(2000),
    );
    // Every route was reached at least once (the run count is large enough for the seed).
    expect(routes.filter((r) => !seen.has(`${r.method} ${r.path}`)).map((r) => `${r.method} ${r.path}`)).toEqual([]);
    expect((await fetch(`${t.url}/healthz`)).status).toBe(200);
  }, 180_000);

  it('every GraphQL query and mutation answers random variables with coded errors, never INTERNAL_SERVER_ERROR', async () => {
    const introspection = (await (
      await fetch(`${t.url}/graphql`, {
        method: 'POST',
        headers: { authorization: `Bearer ${keys[0]}`, 'content-type': 'application/json' },
        body: JSON.stringify({ query: getIntrospectionQuery() }),
      })
    ).json()) as { data: IntrospectionQuery };
    const ops = gqlOperations(buildClientSchema(introspection.data));
    expect(ops.length).toBeGreaterThan(30);
    const byName = new Map(ops.map((o) => [o.name, o]));
    const request = fc.constantFrom(...byName.keys()).chain((name) =>
      fc.record({
        op: fc.constant(name),
        variables: (byName.get(name) as GqlOperation).variables,
        key: fc.constantFrom(0, 0, 0, 1, 1, 2),
      }),
    );
    const seen = new Set<string>();
    await fc.assert(
      fc.asyncProperty(request, async ({ op: name, variables, key }) => {
        seen.add(name);
        const op = byName.get(name) as GqlOperation;
        const response = await fetch(`${t.url}/graphql`, {
          method: 'POST',
          headers: { authorization: `Bearer ${keys[key]}`, 'content-type': 'application/json' },
          body: JSON.stringify({ query: op.document, variables }),
        });
        const text = await response.text();
        const where = `${op.document} ${JSON.stringify(variables).slice(0, 300)} → ${response.status} ${text.slice(0, 400)}`;
        expect(response.status, where).toBeLessThan(500);
        const answer = JSON.parse(text) as {
          data?: Record<string, { errors?: Array<{ code: string }> } | null>;
          errors?: Array<{ extensions?: { code?: string } }>;
        };
        for (const e of answer.errors ?? []) {
          expect(e.extensions?.code, where).toMatch(/^[A-Z_]+$/);
          expect(e.extensions?.code, where).not.toBe('INTERNAL_SERVER_ERROR');
        }
        for (const value of Object.values(answer.data ?? {}))
          for (const e of value?.errors ?? []) expect(e.code, where).toMatch(/^[A-Z_]+$/);
      }),
      fuzzOptions(2000),
    );
    expect(ops.filter((o) => !seen.has(o.name)).map((o) => o.name)).toEqual([]);
    expect((await fetch(`${t.url}/healthz`)).status).toBe(200);
  }, 180_000);
});
