import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventEmitter } from 'node:events';
import http from 'node:http';
import { startFreshApp } from '../helpers/data-dir.js';
import type { TestApp } from '../helpers/app.js';
import { engines } from '../helpers/db.js';
import { tinyModelFolder } from '../../src/dev/tiny-model-folder.js';
import { createGraphQLServer } from '../../src/graphql/yoga.js';
import { createPlainQueryExecutor } from '../../src/graphql/plain-query.js';
import type { PlainQueryExecutor } from '../../src/graphql/plain-query.js';

/** A response that never closes early (the executor only listens for 'close'). */
function openResponse() {
  return Object.assign(new EventEmitter(), { writableFinished: false });
}

/**
 * The plain-query fast path (src/graphql/plain-query.ts) must answer exactly what yoga
 * answers, and hand everything it does not handle back to yoga.
 */
describe.each(engines())('GraphQL plain-query fast path (%s)', (engine) => {
  let t: TestApp;
  let key: string;
  let execute: PlainQueryExecutor;

  beforeAll(async () => {
    t = await startFreshApp(engine);
    key = (await t.account('fast')).apiKey;
    await t.app.services.catalog.importModel({ dir: await tinyModelFolder(), id: 'tiny-fast', fineTunable: true });
    execute = createPlainQueryExecutor(createGraphQLServer(t.app.services), t.app.services);
  });
  afterAll(async () => t?.stop());

  const headers = () => ({ authorization: `Bearer ${key}`, 'content-type': 'application/json' });
  const run = async (body: unknown, extraHeaders: Record<string, string> = {}, method = 'POST') =>
    execute({ method, headers: { ...headers(), ...extraHeaders }, body }, openResponse());

  /** The same request through yoga's own pipeline (GET never takes the fast path). */
  async function viaYoga(query: string, variables?: Record<string, unknown>, operationName?: string): Promise<string> {
    const url = new URL(`${t.url}/graphql`);
    url.searchParams.set('query', query);
    if (variables) url.searchParams.set('variables', JSON.stringify(variables));
    if (operationName) url.searchParams.set('operationName', operationName);
    const response = await fetch(url, { headers: { authorization: `Bearer ${key}`, accept: 'application/json' } });
    expect(response.status).toBe(200);
    return response.text();
  }

  it('answers queries byte for byte as yoga does: variables, defaults, fragments, aliases, operation names', async () => {
    const cases: Array<{ query: string; variables?: Record<string, unknown>; operationName?: string }> = [
      { query: '{ fineTunableModels { id fineTunable architecture contextLength pricePerMillionTrainingTokens createdAt } }' },
      {
        query: 'query M($id: ID!) { model(id: $id) { id ...F } } fragment F on Model { parameterCount vocabSize }',
        variables: { id: 'tiny-fast' },
      },
      { query: '{ a: model(id: "tiny-fast") { id } b: model(id: "missing") { id } }' },
      { query: 'query P($n: Int = 1) { models(first: $n) { edges { cursor node { id } } pageInfo { hasNextPage } } }' },
      { query: 'query One { account { id } } query Two { fineTunableModels { id } }', operationName: 'Two' },
      { query: 'query One { account { id } } query Two { fineTunableModels { id } }', operationName: 'One' },
      { query: '{ __typename account { __typename balance } }' },
    ];
    for (const c of cases) {
      const fast = await run({ query: c.query, variables: c.variables, operationName: c.operationName });
      expect(fast, c.query).toBeTypeOf('string');
      expect(fast).toBe(await viaYoga(c.query, c.variables, c.operationName));
      // The second time comes from the prepared-query cache.
      expect(await run({ query: c.query, variables: c.variables, operationName: c.operationName })).toBe(fast);
    }
    expect(JSON.parse((await run({ query: '{ model(id: "tiny-fast") { id } }' }))!)).toEqual({ data: { model: { id: 'tiny-fast' } } });
  });

  it('hands yoga every request it does not answer itself', async () => {
    const query = '{ fineTunableModels { id } }';
    const declined: Array<[string, Promise<string | undefined>]> = [
      ['GET', run({ query }, {}, 'GET')],
      ['CORS', run({ query }, { origin: 'https://example.com' })],
      ['SSE', run({ query }, { accept: 'text/event-stream' })],
      ['form', run({ query }, { 'content-type': 'application/x-www-form-urlencoded' })],
      [
        'no key',
        Promise.resolve(execute({ method: 'POST', headers: { 'content-type': 'application/json' }, body: { query } }, openResponse())),
      ],
      ['bad key', run({ query }, { authorization: 'Bearer tl_nope' })],
      ['extensions', run({ query, extensions: { persistedQuery: { version: 1 } } })],
      ['variables not an object', run({ query, variables: [1] })],
      ['mutation', run({ query: 'mutation { deleteDataset(id: "ds_missing") { __typename } }' })],
      ['subscription', run({ query: 'subscription { trainingProgress(jobId: "job_x") { __typename } }' })],
      ['syntax error', run({ query: '{ fineTunableModels { id ' })],
      ['validation error', run({ query: '{ noSuchField }' })],
      ['over the depth limit', run({ query: `{ model(id: "x") { ${'baseModel { '.repeat(20)}id${' }'.repeat(20)} } }` })],
      ['unknown operation name', run({ query, operationName: 'Nope' })],
      ['wrong variable type', run({ query: 'query M($id: ID!) { model(id: $id) { id } }', variables: { id: { not: 'an id' } } })],
      ['missing variable', run({ query: 'query M($id: ID!) { model(id: $id) { id } }' })],
      ['a resolver error', run({ query: '{ models(first: 5, after: "not-a-cursor") { edges { node { id } } } }' })],
    ];
    for (const [why, answer] of declined) expect(await answer, why).toBeUndefined();
    // A declined document stays declined (cached), and a valid one still works after it.
    expect(await run({ query: '{ noSuchField }' })).toBeUndefined();
    expect(await run({ query })).toBeTypeOf('string');
  });

  it("over HTTP, what the fast path declines still gets yoga's full answer", async () => {
    const post = async (body: unknown) => {
      const response = await fetch(`${t.url}/graphql`, { method: 'POST', headers: headers(), body: JSON.stringify(body) });
      return {
        status: response.status,
        body: (await response.json()) as { data?: unknown; errors?: Array<{ message: string; extensions?: { code?: string } }> },
      };
    };
    const invalid = await post({ query: '{ noSuchField }' });
    expect(invalid.body.errors?.[0]?.message).toMatch(/Cannot query field "noSuchField"/);
    const resolverError = await post({ query: '{ models(first: 5, after: "not-a-cursor") { edges { node { id } } } }' });
    expect(resolverError.body.errors?.[0]?.extensions?.code).toBe('INVALID_INPUT');
    const missingVariable = await post({ query: 'query M($id: ID!) { model(id: $id) { id } }' });
    expect(missingVariable.body.errors?.[0]?.message).toMatch(/Variable "\$id" of required type "ID!" was not provided/);
    const mutation = await post({ query: 'mutation { deleteDataset(id: "ds_missing") { deletedId errors { code } } }' });
    expect(mutation.status).toBe(200);
    expect(JSON.stringify(mutation.body)).toMatch(/NOT_FOUND/);
    const ok = await post({ query: '{ fineTunableModels { id } }' });
    expect(ok).toEqual({ status: 200, body: { data: { fineTunableModels: [{ id: 'tiny-fast' }] } } });
  });

  it('HTTP bodies it does not take — not JSON, chunked, too large — are answered as before', async () => {
    const notJson = await fetch(`${t.url}/graphql`, { method: 'POST', headers: headers(), body: '{"query": "{ account { id } }"' });
    expect(notJson.status).toBe(400);
    expect(notJson.headers.get('content-type')).toMatch(/^application\/problem\+json/);

    // No Content-Length: the fast path leaves it to fastify, which reads the chunked body; yoga answers.
    const chunked = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const request = http.request(`${t.url}/graphql`, { method: 'POST', headers: headers() }, (response) => {
        let text = '';
        response
          .setEncoding('utf8')
          .on('data', (d: string) => (text += d))
          .on('end', () => resolve({ status: response.statusCode!, body: text }));
      });
      request.on('error', reject);
      request.write('{"query": "{ fineTunable');
      setTimeout(() => request.end('Models { id } }"}'), 20);
    });
    expect(chunked).toEqual({ status: 200, body: JSON.stringify({ data: { fineTunableModels: [{ id: 'tiny-fast' }] } }) });

    const huge = await fetch(`${t.url}/graphql`, {
      method: 'POST',
      headers: headers(),
      body: JSON.stringify({ query: '{ account { id } }', variables: { pad: 'x'.repeat(2 * 1024 * 1024) } }),
    });
    expect(huge.status).toBe(413);
  });
});
