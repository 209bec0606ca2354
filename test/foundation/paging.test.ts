import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFreshApp } from '../helpers/data-dir.js';
import type { TestApp } from '../helpers/app.js';
import { engines } from '../helpers/db.js';
import { addTinyModel, insertJob } from '../helpers/training.js';
import { restJson } from '../../src/dev/rest-client.js';
import { newId } from '../../src/ids.js';

type GraphQLBody = { data?: Record<string, unknown> | null; errors?: Array<{ message: string; extensions?: Record<string, unknown> }> };

const cursorOf = (parts: unknown[]) => Buffer.from(JSON.stringify(parts)).toString('base64url');

/**
 * One way to page: every REST list takes `limit`/`after` and answers
 * `{object, data, hasMore, nextCursor}`; every GraphQL list is a Relay connection; both use
 * the same opaque cursors and refuse the same bad sizes and cursors with a code.
 */
describe.each(engines())('paging (%s)', (engine) => {
  let t: TestApp;
  let key: string;
  let jobIds: string[];

  beforeAll(async () => {
    t = await startFreshApp(engine);
    const account = await t.account('paging');
    key = account.apiKey;
    await addTinyModel(t, 'tiny-paging');
    jobIds = [];
    for (let i = 0; i < 3; i++) {
      const steps = [1, 2, 3].map((step) => ({ type: 'step', step, status: 'RUNNING', payload: { step, loss: 1 / step } }));
      jobIds.push(await insertJob(t, account.accountId, { baseModel: 'tiny-paging', status: 'RUNNING', events: steps }));
      await new Promise((r) => setTimeout(r, 5)); // ids sort by creation time
    }
    for (let i = 0; i < 3; i++) await t.app.services.webhooks.createEndpoint(account.accountId, { url: `http://8.8.8.8:8080/hook${i}` });
  });
  afterAll(async () => t?.stop());

  async function post(query: string, variables?: Record<string, unknown>): Promise<GraphQLBody> {
    const response = await fetch(`${t.url}/graphql`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ query, variables }),
    });
    expect(response.status).toBe(200);
    return (await response.json()) as GraphQLBody;
  }

  const rest = <T = Record<string, unknown>>(path: string) => restJson<T>(t.url, key, path);

  it('REST pages and GraphQL connections walk a list alike, with the same opaque cursors', async () => {
    type Page = { object: string; data: Array<{ id: string; sequence?: number }>; hasMore: boolean; nextCursor: string | null };
    const newestFirst = [...jobIds].reverse();

    const page1 = await rest<Page>('/api/training?limit=2');
    expect(page1.status).toBe(200);
    expect(page1.body.data.map((j) => j.id)).toEqual(newestFirst.slice(0, 2));
    expect(page1.body).toMatchObject({ object: 'list', hasMore: true });
    expect(page1.body.nextCursor).not.toContain(newestFirst[1]); // opaque, not the id itself

    const query =
      'query ($first: Int, $after: String) { trainingJobs(first: $first, after: $after) { edges { cursor node { id } } pageInfo { hasNextPage endCursor } } }';
    const conn1 = (await post(query, { first: 2 })).data!.trainingJobs as {
      edges: Array<{ cursor: string; node: { id: string } }>;
      pageInfo: { hasNextPage: boolean; endCursor: string };
    };
    expect(conn1.edges.map((e) => e.node.id)).toEqual(newestFirst.slice(0, 2));
    expect(conn1.pageInfo).toEqual({ hasNextPage: true, endCursor: page1.body.nextCursor });

    // A REST cursor continues a GraphQL connection and the other way round.
    const conn2 = (await post(query, { first: 2, after: page1.body.nextCursor })).data!.trainingJobs as typeof conn1;
    expect(conn2.edges.map((e) => e.node.id)).toEqual(newestFirst.slice(2));
    expect(conn2.pageInfo.hasNextPage).toBe(false);
    const page2 = await rest<Page>(`/api/training?limit=2&after=${conn1.pageInfo.endCursor}`);
    expect(page2.body.data.map((j) => j.id)).toEqual(newestFirst.slice(2));
    expect(page2.body.hasMore).toBe(false);
    expect(page2.body.nextCursor).toBe(conn2.pageInfo.endCursor);

    // The event log: nextCursor also polls for events stored later.
    const events = await rest<Page>(`/api/training/${jobIds[0]}/events?limit=2`);
    expect(events.body.data.map((e) => e.sequence)).toEqual([1, 2]);
    const rest1 = await rest<Page>(`/api/training/${jobIds[0]}/events?after=${events.body.nextCursor}`);
    expect([rest1.body.data.map((e) => e.sequence), rest1.body.hasMore]).toEqual([[3], false]);
    const none = await rest<Page>(`/api/training/${jobIds[0]}/events?after=${rest1.body.nextCursor}`);
    expect([none.body.data, none.body.hasMore, none.body.nextCursor]).toEqual([[], false, rest1.body.nextCursor]);
    const steps = (
      await post(
        'query ($id: ID!, $after: String) { trainingJob(id: $id) { steps(first: 5, after: $after) { edges { node { step } } } } }',
        {
          id: jobIds[0],
          after: events.body.nextCursor,
        },
      )
    ).data!.trainingJob as { steps: { edges: Array<{ node: { step: number } }> } };
    expect(steps.steps.edges.map((e) => e.node.step)).toEqual([3]);

    // Webhook endpoints (oldest first), the same way.
    const endpoints = await rest<Page>('/api/webhooks?limit=2');
    const endpointsConn = (await post('{ webhookEndpoints(first: 2) { pageInfo { endCursor hasNextPage } } }')).data!.webhookEndpoints;
    expect(endpointsConn).toEqual({ pageInfo: { endCursor: endpoints.body.nextCursor, hasNextPage: true } });
  });

  /** Every REST list with its largest `limit`. */
  const restLists = (): Array<[string, number]> => [
    ['/api/training', 100],
    [`/api/training/${jobIds[0]}/events`, 1000],
    ['/api/datasets', 200],
    ['/api/models', 200],
    ['/api/webhooks', 200],
    ['/api/webhooks/deliveries', 200],
    ['/api/inference/usage', 500],
  ];

  /** Every GraphQL connection with its largest `first`, as a query taking $first/$after/$last. */
  const connections = (): Array<[string, number, string]> => [
    ['trainingJobs', 100, 'trainingJobs(first: $first, after: $after, last: $last) { edges { cursor } }'],
    ['datasets', 200, 'datasets(first: $first, after: $after, last: $last) { edges { cursor } }'],
    ['models', 200, 'models(first: $first, after: $after, last: $last) { edges { cursor } }'],
    ['webhookEndpoints', 200, 'webhookEndpoints(first: $first, after: $after, last: $last) { edges { cursor } }'],
    ['webhookDeliveries', 200, 'webhookDeliveries(first: $first, after: $after, last: $last) { edges { cursor } }'],
    ['account', 500, 'account { ledger(first: $first, after: $after, last: $last) { edges { cursor } } }'],
    ['trainingJob', 1000, `trainingJob(id: "${jobIds[0]}") { steps(first: $first, after: $after, last: $last) { edges { cursor } } }`],
  ];
  const gqlList = (selection: string) => `query ($first: Int, $after: String, $last: Int) { ${selection} }`;

  it('refuses negative, zero and oversized page sizes, and paging backwards, with a code (REST 400, GraphQL INVALID_INPUT)', async () => {
    for (const [path, max] of restLists()) {
      for (const limit of [-1, 0, max + 1, 1.5]) {
        const response = await rest<{ code: string }>(`${path}?limit=${limit}`);
        expect([path, limit, response.status, response.body.code]).toEqual([path, limit, 400, 'INVALID_REQUEST']);
      }
      expect((await rest(`${path}?limit=${max}`)).status, path).toBe(200);
    }
    for (const [field, max, selection] of connections()) {
      for (const first of [-1, 0, max + 1]) {
        const body = await post(gqlList(selection), { first });
        expect([field, first, body.data?.[field] ?? null, body.errors?.[0]?.extensions]).toEqual([
          field,
          first,
          null,
          expect.objectContaining({ code: 'INVALID_INPUT', field: 'first' }),
        ]);
      }
      const backwards = await post(gqlList(selection), { last: 2 });
      expect([field, backwards.errors?.[0]?.extensions]).toEqual([
        field,
        expect.objectContaining({ code: 'INVALID_INPUT', field: 'last' }),
      ]);
      expect((await post(gqlList(selection), { first: max })).errors, field).toBeUndefined();
    }
  });

  it('refuses bad, foreign and NUL-bearing cursors with 400 / INVALID_INPUT on `after`, never 500', async () => {
    const otherJobCursor = cursorOf(['trainingEvents', jobIds[1], '1']);
    const cursors = [
      'not-a-cursor',
      '%00',
      'ds_01jd0000000000000000000000',
      cursorOf(['somethingElse', 'x']),
      cursorOf(['datasets', `ds_${'0'.repeat(25)}\u0000`]),
      cursorOf(['trainingJobs', `ftjob_\u0000${'0'.repeat(25)}`]),
      cursorOf(['models', '2026-01-01T00:00:00.000Z', 'tiny\u0000']),
      cursorOf(['ledger', '-1']),
      cursorOf(['inferenceUsage', 'yesterday', 'use_x']),
      `${cursorOf(['trainingJobs', newId('trainingJob')])}=`,
    ];
    for (const [path] of restLists()) {
      for (const after of cursors) {
        const response = await rest<{ code: string; field?: string; errors?: unknown }>(`${path}?after=${encodeURIComponent(after)}`);
        expect([path, after, response.status, response.body.code]).toEqual([path, after, 400, 'INVALID_INPUT']);
      }
    }
    // A cursor of one job's events is not a position in another job's.
    const foreign = await rest<{ code: string }>(`/api/training/${jobIds[0]}/events?after=${otherJobCursor}`);
    expect([foreign.status, foreign.body.code]).toEqual([400, 'INVALID_INPUT']);

    for (const [field, , selection] of connections()) {
      for (const after of [...cursors.map(decodeURIComponent), '\u0000', otherJobCursor]) {
        const body = await post(gqlList(selection), { first: 1, after });
        expect([field, after, body.errors?.[0]?.extensions]).toEqual([
          field,
          after,
          expect.objectContaining({ code: 'INVALID_INPUT', field: 'after' }),
        ]);
      }
    }
  });
});
