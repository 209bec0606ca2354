import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import { startFreshApp } from '../helpers/data-dir.js';
import type { TestApp } from '../helpers/app.js';
import { engines } from '../helpers/db.js';
import { tinyModelFolder } from '../../src/dev/tiny-model-folder.js';

/**
 * GraphQL over HTTP: every request goes through yoga (one execution path), and the same
 * operation answers the same bytes however it is sent.
 */
describe.each(engines())('GraphQL over HTTP (%s)', (engine) => {
  let t: TestApp;
  let key: string;

  beforeAll(async () => {
    t = await startFreshApp(engine);
    key = (await t.account('http')).apiKey;
    await t.app.services.catalog.importModel({ dir: await tinyModelFolder(), id: 'tiny-fast', fineTunable: true });
  });
  afterAll(async () => t?.stop());

  const headers = () => ({ authorization: `Bearer ${key}`, 'content-type': 'application/json' });

  /** A JSON POST: status and body text. */
  async function viaPost(body: unknown, extraHeaders: Record<string, string> = {}): Promise<{ status: number; text: string }> {
    const response = await fetch(`${t.url}/graphql`, {
      method: 'POST',
      headers: { ...headers(), ...extraHeaders },
      body: JSON.stringify(body),
    });
    return { status: response.status, text: await response.text() };
  }

  /** The same operation as a GET request. */
  async function viaGet(query: string, variables?: Record<string, unknown>, operationName?: string): Promise<string> {
    const url = new URL(`${t.url}/graphql`);
    url.searchParams.set('query', query);
    if (variables) url.searchParams.set('variables', JSON.stringify(variables));
    if (operationName) url.searchParams.set('operationName', operationName);
    const response = await fetch(url, { headers: { authorization: `Bearer ${key}`, accept: 'application/json' } });
    expect(response.status).toBe(200);
    return response.text();
  }

  it('answers queries byte for byte the same over POST and GET: variables, defaults, fragments, aliases, operation names', async () => {
    const cases: Array<{ query: string; variables?: Record<string, unknown>; operationName?: string }> = [
      { query: '{ fineTunableModels { id fineTunable architecture contextLength pricePerMillionTrainingTokens createdAt } }' },
      {
        query: 'query M($id: ID!) { model(id: $id) { id ...F } } fragment F on Model { parameterCount vocabSize }',
        variables: { id: 'tiny-fast' },
      },
      { query: '{ a: model(id: "tiny-fast") { id } b: model(id: "missing") { id } }' },
      { query: 'query P($n: Int = 1) { models(first: $n) { edges { cursor node { id } } pageInfo { hasNextPage } } }' },
      // Two operations in one document: graphql-jit caches compiled queries by document,
      // whatever the operation name, so each must still answer its own operation.
      { query: 'query One { account { id } } query Two { fineTunableModels { id } }', operationName: 'Two' },
      { query: 'query One { account { id } } query Two { fineTunableModels { id } }', operationName: 'One' },
      { query: '{ __typename account { __typename balance } }' },
    ];
    for (const c of cases) {
      const post = await viaPost({ query: c.query, variables: c.variables, operationName: c.operationName });
      expect(post.status, c.query).toBe(200);
      expect(JSON.parse(post.text).errors, c.query).toBeUndefined();
      expect(post.text).toBe(await viaGet(c.query, c.variables, c.operationName));
      // The second time comes from the parser, validation and compile caches.
      expect((await viaPost({ query: c.query, variables: c.variables, operationName: c.operationName })).text).toBe(post.text);
    }
    expect(JSON.parse((await viaPost({ query: '{ model(id: "tiny-fast") { id } }' })).text)).toEqual({
      data: { model: { id: 'tiny-fast' } },
    });
    const two = JSON.parse(
      (await viaPost({ query: 'query One { account { id } } query Two { fineTunableModels { id } }', operationName: 'Two' })).text,
    );
    expect(two).toEqual({ data: { fineTunableModels: [{ id: 'tiny-fast' }] } });
  });

  it('answers every other kind of request: CORS, forms, keys, odd variables, errors', async () => {
    const query = '{ fineTunableModels { id } }';
    const ok = JSON.stringify({ data: { fineTunableModels: [{ id: 'tiny-fast' }] } });
    expect(await viaPost({ query }, { origin: 'https://example.com' })).toEqual({ status: 200, text: ok });
    const form = await fetch(`${t.url}/graphql`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ query }).toString(),
    });
    // fastify accepts JSON, multipart and GET; an HTML form post is refused before yoga.
    expect(form.status).toBe(415);
    const noKey = await fetch(`${t.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query }),
    });
    expect(noKey.status).toBe(401);
    expect((await viaPost({ query }, { authorization: 'Bearer tl_nope' })).status).toBe(401);
    const variablesNotObject = await viaPost({ query, variables: [1] });
    expect(variablesNotObject.status).toBe(400);
    const unknownOperation = JSON.parse((await viaPost({ query, operationName: 'Nope' })).text);
    expect(unknownOperation.errors?.[0]?.message).toMatch(/Could not determine what operation to execute/);
    const wrongType = JSON.parse(
      (await viaPost({ query: 'query M($id: ID!) { model(id: $id) { id } }', variables: { id: { not: 'an id' } } })).text,
    );
    expect(wrongType.data).toBeUndefined();
    expect(wrongType.errors?.[0]?.message).toMatch(/Variable "\$id" got invalid value/);
    const deep = JSON.parse((await viaPost({ query: `{ model(id: "x") { ${'baseModel { '.repeat(20)}id${' }'.repeat(20)} } }` })).text);
    expect(deep.errors?.[0]?.message).toMatch(/depth limit/i);
  });

  it('answers request and resolver errors in full', async () => {
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

  it('answers bodies that are not JSON, chunked or too large as before', async () => {
    const notJson = await fetch(`${t.url}/graphql`, { method: 'POST', headers: headers(), body: '{"query": "{ account { id } }"' });
    expect(notJson.status).toBe(400);
    expect(notJson.headers.get('content-type')).toMatch(/^application\/problem\+json/);

    // No Content-Length: fastify reads the chunked body; yoga answers.
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
