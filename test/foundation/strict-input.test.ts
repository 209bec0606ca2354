import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import net from 'node:net';
import { startFreshApp } from '../helpers/data-dir.js';
import type { TestApp } from '../helpers/app.js';
import { engines } from '../helpers/db.js';
import { gqlSse, wsClient, wsCollect } from '../helpers/clients.js';
import { addTinyModel } from '../helpers/training.js';

type GraphQLBody = { data?: Record<string, unknown> | null; errors?: Array<{ message: string; extensions?: Record<string, unknown> }> };

const NUL = '\u0000';
const LONE_SURROGATE = '\ud800';

/**
 * Strict edges: text PostgreSQL cannot store never reaches SQL (an id that cannot exist is
 * NOT_FOUND, any other string INVALID_INPUT naming the field), a File must be an upload, a
 * multipart body with a wrong boundary is a 400, and a body that stops arriving is a 408 —
 * never a 500 or a socket held open forever.
 */
describe.each(engines())('strict input at the edges (%s)', (engine) => {
  let t: TestApp;
  let key: string;
  let adminKey: string;

  beforeAll(async () => {
    t = await startFreshApp(engine, { config: { bodyTimeoutMs: 500 } });
    key = (await t.account('strict')).apiKey;
    adminKey = (await t.account('strict-admin', 1_000_000n, true)).apiKey;
    await addTinyModel(t, 'tiny-strict');
  });
  afterAll(async () => t?.stop());

  async function rest(method: string, path: string, body?: unknown, apiKey = key) {
    const response = await fetch(`${t.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${apiKey}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
    });
    const text = await response.text();
    return {
      status: response.status,
      json: (text ? JSON.parse(text) : null) as Record<string, unknown> & { error?: Record<string, unknown> },
    };
  }

  async function gql(query: string, variables?: Record<string, unknown>): Promise<GraphQLBody> {
    const response = await fetch(`${t.url}/graphql`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ query, variables }),
    });
    return (await response.json()) as GraphQLBody;
  }

  it('REST: an id that cannot exist in a path answers 404 NOT_FOUND on every id route', async () => {
    const routes: Array<[string, string]> = [
      ['GET', '/api/datasets/ds_%00'],
      ['DELETE', '/api/datasets/ds_%00'],
      ['GET', '/api/training/ftjob_%00x'],
      ['GET', '/api/training/%00/events'],
      ['POST', '/api/training/ftjob_%00/cancel'],
      ['GET', '/api/models/tiny%00'],
      ['GET', '/api/webhooks/whep_%00'],
      ['GET', '/api/webhooks/deliveries/whdl_%00'],
      ['POST', '/api/webhooks/deliveries/whdl_%00/redeliver'],
      ['GET', '/api/deployments/dep_%00'],
    ];
    for (const [method, path] of routes) {
      const response = await rest(method, path);
      expect([method, path, response.status, response.json.code]).toEqual([method, path, 404, 'NOT_FOUND']);
    }
    const topUp = await rest('POST', '/api/accounts/acct_%00/topup', { amount: '1' }, adminKey);
    expect([topUp.status, topUp.json.code]).toEqual([404, 'NOT_FOUND']);
  });

  it('REST: NUL or an unpaired surrogate in the query string or a JSON body is 400 INVALID_INPUT naming the field', async () => {
    const cases: Array<[string, string, unknown, string]> = [
      ['GET', '/api/training?status=%00', undefined, 'querystring.status'],
      ['GET', '/api/webhooks/deliveries?jobId=ftjob_%00', undefined, 'querystring.jobId'],
      ['POST', '/api/datasets?filename=a%00.jsonl', { url: 'https://example.com/x.jsonl' }, 'querystring.filename'],
      ['POST', '/api/fine-tune/estimate', { baseModel: `tiny${NUL}`, trainingDataset: 'ds_x' }, 'body.baseModel'],
      ['POST', '/api/fine-tune/training/start', { baseModel: 'tiny-strict', trainingDataset: `ds_${NUL}` }, 'body.trainingDataset'],
      [
        'POST',
        '/api/fine-tune/training/start',
        { baseModel: 'tiny-strict', trainingDataset: 'ds_x', suffix: `a${LONE_SURROGATE}` },
        'body.suffix',
      ],
      ['POST', '/api/webhooks', { url: 'http://8.8.8.8/hook', description: `hi${NUL}` }, 'body.description'],
      ['POST', '/api/webhooks', { url: 'http://8.8.8.8/hook', events: ['training.completed', `x${NUL}`] }, 'body.events[1]'],
      ['POST', '/api/deployments', { modelId: `tiny${NUL}` }, 'body.modelId'],
    ];
    for (const [method, path, body, field] of cases) {
      const response = await rest(method, path, body);
      expect([path, response.status, response.json.code, response.json.field]).toEqual([path, 400, 'INVALID_INPUT', field]);
    }
    // The OpenAI-compatible routes answer in OpenAI's error shape.
    const chat = await rest('POST', '/v1/chat/completions', { model: `tiny${NUL}`, messages: [{ role: 'user', content: 'hi' }] });
    expect(chat.status).toBe(400);
    expect(chat.json.error).toMatchObject({ code: 'invalid_value', type: 'invalid_request_error' });
  });

  it('GraphQL: an ID that cannot exist is NOT_FOUND, any other such string INVALID_INPUT naming the argument, literal or variable, on every transport', async () => {
    const literal = await gql(`{ trainingJob(id: "ftjob_\\u0000") { id } }`);
    expect(literal.errors?.[0]?.extensions).toMatchObject({ code: 'NOT_FOUND', field: 'id' });
    const variable = await gql('query ($id: ID!) { dataset(id: $id) { id } }', { id: `ds_${NUL}` });
    expect(variable.errors?.[0]?.extensions).toMatchObject({ code: 'NOT_FOUND', field: 'id' });
    const inInput = await gql('mutation ($input: StartFineTuneInput!) { startFineTune(input: $input) { errors { code } } }', {
      input: { baseModel: 'tiny-strict', trainingDataset: `ds_${NUL}` },
    });
    expect(inInput.errors?.[0]?.extensions).toMatchObject({ code: 'NOT_FOUND', field: 'input.trainingDataset' });
    const text = await gql('mutation ($input: StartFineTuneInput!) { startFineTune(input: $input) { errors { code } } }', {
      input: { baseModel: 'tiny-strict', trainingDataset: 'ds_x', suffix: `a${LONE_SURROGATE}` },
    });
    expect(text.errors?.[0]?.extensions).toMatchObject({ code: 'INVALID_INPUT', field: 'input.suffix' });
    const list = await gql(
      `mutation { createWebhookEndpoint(input: { url: "http://8.8.8.8/h", events: ["training.completed", "x\\u0000"] }) { errors { code } } }`,
    );
    expect(list.errors?.[0]?.extensions).toMatchObject({ code: 'INVALID_INPUT', field: 'input.events[1]' });
    const defaulted = await gql('query ($id: ID! = "ds_\\u0000") { dataset(id: $id) { id } }');
    expect(defaulted.errors?.[0]?.extensions).toMatchObject({ code: 'NOT_FOUND', field: 'id' });
    for (const body of [literal, variable, inInput, text, list, defaulted]) {
      expect(body.data ?? null).toBeNull();
      expect(JSON.stringify(body)).not.toMatch(/INTERNAL_SERVER_ERROR|Unexpected error/);
    }

    const subscription = `subscription { trainingProgress(jobId: "ftjob_\\u0000") { status } }`;
    const sse = await gqlSse(t.url, key, subscription);
    expect(JSON.stringify(sse.events)).toMatch(/NOT_FOUND/);
    const client = wsClient(t.url, key);
    try {
      const ws = await wsCollect(client, subscription).then(
        (results) => JSON.stringify(results),
        (errors: unknown) => JSON.stringify(errors),
      );
      expect(ws).toMatch(/NOT_FOUND/);
      expect(ws).toMatch(/"field":"jobId"/);
    } finally {
      await client.dispose();
    }
  });

  it('GraphQL: uploadDataset with a string where the file goes is INVALID_INPUT naming input.file, not an internal error', async () => {
    const literal = await gql('mutation { uploadDataset(input: { file: "/etc/passwd" }) { dataset { id } errors { code } } }');
    expect(literal.errors?.[0]?.extensions).toMatchObject({ code: 'INVALID_INPUT', field: 'input.file' });
    const variable = await gql(
      'mutation ($input: UploadDatasetInput!) { uploadDataset(input: $input) { dataset { id } errors { code } } }',
      {
        input: { file: '/etc/passwd' },
      },
    );
    expect(variable.errors?.[0]?.extensions).toMatchObject({ code: 'INVALID_INPUT', field: 'input.file' });
    const object = await gql('mutation ($file: File!) { uploadDataset(input: { file: $file }) { dataset { id } } }', {
      file: { name: 'x' },
    });
    expect(object.errors?.[0]?.extensions).toMatchObject({ code: 'INVALID_INPUT', field: 'input.file' });
  });

  it('multipart with a wrong boundary is a 400 with a code, on REST and GraphQL', async () => {
    const body = '--right\r\nContent-Disposition: form-data; name="file"; filename="a.jsonl"\r\n\r\n{"messages":[]}\r\n--right--\r\n';
    const restResponse = await fetch(`${t.url}/api/datasets`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'multipart/form-data; boundary=wrong' },
      body,
    });
    const restJson = (await restResponse.json()) as { code?: string };
    expect([restResponse.status, restJson.code]).toEqual([400, 'INVALID_MULTIPART']);

    const graphqlResponse = await fetch(`${t.url}/graphql`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'multipart/form-data; boundary=wrong' },
      body: '--right\r\nContent-Disposition: form-data; name="operations"\r\n\r\n{"query":"{ account { id } }"}\r\n--right--\r\n',
    });
    expect(graphqlResponse.status).toBe(400);
    expect(await graphqlResponse.text()).not.toMatch(/INTERNAL|Unexpected error/);
  });

  /** Sends headers and part of a body, then goes quiet; resolves with what the server did. */
  function shortBody(
    path: string,
    contentType: string,
    sent: string,
    declared: number,
  ): Promise<{ status: number | null; closed: boolean; ms: number }> {
    const url = new URL(t.url);
    return new Promise((resolve) => {
      const started = Date.now();
      const socket = net.connect(Number(url.port), url.hostname, () => {
        socket.write(
          `POST ${path} HTTP/1.1\r\nHost: ${url.host}\r\nAuthorization: Bearer ${key}\r\nContent-Type: ${contentType}\r\nContent-Length: ${declared}\r\n\r\n${sent}`,
        );
      });
      let received = '';
      socket.setEncoding('utf8').on('data', (d: string) => (received += d));
      const giveUp = setTimeout(() => socket.destroy(), 10_000);
      socket.on('close', () => {
        clearTimeout(giveUp);
        const status = /^HTTP\/1\.1 (\d{3})/.exec(received)?.[1];
        resolve({ status: status ? Number(status) : null, closed: Date.now() - started < 10_000, ms: Date.now() - started });
      });
    });
  }

  it('a body shorter than its Content-Length is answered 408 and closed after the body timeout, not held open', async () => {
    const cases: Array<[string, string, string]> = [
      ['/api/fine-tune/estimate', 'application/json', '{"baseModel": "tiny-strict", '],
      ['/api/datasets', 'application/jsonl', '{"messages": [{"role": "user", "content": "hi"}'],
      ['/graphql', 'application/json', '{"query": "{ account '],
    ];
    for (const [path, type, sent] of cases) {
      const outcome = await shortBody(path, type, sent, sent.length + 100);
      expect([path, outcome.status, outcome.closed]).toEqual([path, 408, true]);
    }
    // The server is fine afterwards.
    expect((await rest('GET', '/api/account')).status).toBe(200);
  });
});
