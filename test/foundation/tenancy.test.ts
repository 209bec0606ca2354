import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFreshApp } from '../helpers/data-dir.js';
import type { TestApp } from '../helpers/app.js';
import { engines } from '../helpers/db.js';
import { gqlSse, wsClient, wsCollect } from '../helpers/clients.js';
import { tinyModelFolder } from '../../src/dev/tiny-model-folder.js';
import { newId } from '../../src/ids.js';

/**
 * Tenant isolation, table-driven: for each kind of object a user can own, account B must
 * get exactly what a missing object gets — 404 problem+json `NOT_FOUND` over REST, `null`
 * (or a NOT_FOUND error) over GraphQL on HTTP, SSE and graphql-ws — and B's listings must
 * not show it, while A (the owner) sees it through the same calls: a test that cannot fail
 * is worthless, so every denial has its positive control.
 *
 * A domain that adds a kind of object adds one row to `kinds`.
 */

interface Accounts {
  a: { accountId: string; apiKey: string };
  b: { accountId: string; apiKey: string };
}

interface RestCall {
  method?: 'GET' | 'POST' | 'DELETE';
  path: (id: string) => string;
  headers?: Record<string, string>;
  body?: (id: string) => unknown;
  /** The owner's status. Calls with side effects (cancel, delete) run for B first, then A. */
  ownerStatus: number;
}

interface GraphQLRead {
  /** Query with `$id: ID!` whose `field` is the object or null. */
  query: string;
  field: string;
}

interface GraphQLMutation {
  /** Mutation with `$id: ID!` whose payload `field` has `errors { code }`. */
  query: string;
  field: string;
}

interface Listing {
  name: string;
  /** The ids `apiKey` sees in this listing. */
  ids(t: TestApp, apiKey: string): Promise<string[]>;
}

interface Kind {
  kind: string;
  /** Creates one object owned by `owner` (through the real service or, for objects only a worker makes, as a row). */
  create(t: TestApp, accounts: Accounts): Promise<string>;
  rest: RestCall[];
  reads: GraphQLRead[];
  mutations?: GraphQLMutation[];
  /** A subscription B must not open (`$id: ID!`). */
  subscription?: string;
  listings: Listing[];
}

function auth(apiKey: string, extra: Record<string, string> = {}) {
  return { authorization: `Bearer ${apiKey}`, ...extra };
}

async function gqlRaw(t: TestApp, apiKey: string, query: string, variables: Record<string, unknown>) {
  const response = await fetch(`${t.url}/graphql`, {
    method: 'POST',
    headers: auth(apiKey, { 'content-type': 'application/json' }),
    body: JSON.stringify({ query, variables }),
  });
  return {
    status: response.status,
    ...((await response.json()) as { data?: Record<string, any>; errors?: Array<{ extensions?: { code?: string } }> }),
  };
}

async function restIds(t: TestApp, apiKey: string, path: string): Promise<string[]> {
  const response = await fetch(`${t.url}${path}`, { headers: auth(apiKey) });
  expect(response.status, path).toBe(200);
  return ((await response.json()) as { data: Array<{ id: string }> }).data.map((o) => o.id);
}

async function gqlIds(t: TestApp, apiKey: string, query: string, pick: (data: any) => Array<{ id: string }>): Promise<string[]> {
  const result = await gqlRaw(t, apiKey, query, {});
  expect(result.errors, query).toBeUndefined();
  return pick(result.data).map((o) => o.id);
}

/** The base model fine-tuned models hang off; registered once per app. */
const BASE = 'tiny-tenancy-base';

const kinds: Kind[] = [
  {
    kind: 'fine-tuned model',
    async create(t, { a }) {
      // Only a training job makes a fine-tuned model; the row is what it leaves behind.
      const base = await t.app.services.catalog.getModel(a.accountId, BASE);
      const id = `ft:${BASE}:tenancy:${newId('trainingJob').slice(-8)}`;
      await t.app.services.db
        .insertInto('models')
        .values({
          id,
          owner_account_id: a.accountId,
          base_model_id: BASE,
          architecture: base.architecture,
          parameter_count: base.parameter_count,
          context_length: base.context_length,
          vocab_size: base.vocab_size,
          fine_tunable: true,
          storage_path: base.storage_path,
          tokenizer_sha256: base.tokenizer_sha256,
          chat_template_sha256: base.chat_template_sha256,
        })
        .execute();
      t.app.services.catalog.invalidateListings();
      return id;
    },
    rest: [{ path: (id) => `/api/models/${encodeURIComponent(id)}`, ownerStatus: 200 }],
    reads: [
      { query: 'query ($id: ID!) { model(id: $id) { id } }', field: 'model' },
      { query: 'query ($id: ID!) { node(id: $id) { id } }', field: 'node' },
    ],
    listings: [
      { name: 'GET /api/models', ids: (t, key) => restIds(t, key, '/api/models') },
      { name: 'GET /api/models?fineTunable=true', ids: (t, key) => restIds(t, key, '/api/models?fineTunable=true') },
      { name: 'fineTunableModels', ids: (t, key) => gqlIds(t, key, '{ fineTunableModels { id } }', (d) => d.fineTunableModels) },
      {
        name: 'models connection',
        ids: (t, key) =>
          gqlIds(t, key, '{ models(first: 100) { edges { node { id } } } }', (d) =>
            d.models.edges.map((e: { node: { id: string } }) => e.node),
          ),
      },
    ],
  },
  {
    kind: 'dataset',
    async create(t, { a }) {
      const response = await fetch(`${t.url}/api/datasets`, {
        method: 'POST',
        headers: auth(a.apiKey, { 'content-type': 'application/jsonl' }),
        body: `${JSON.stringify({
          messages: [
            { role: 'user', content: 'hi' },
            { role: 'assistant', content: 'hello' },
          ],
        })}\n`,
      });
      expect(response.status).toBe(201);
      return ((await response.json()) as { id: string }).id;
    },
    rest: [{ path: (id) => `/api/datasets/${id}`, ownerStatus: 200 }],
    reads: [
      { query: 'query ($id: ID!) { dataset(id: $id) { id } }', field: 'dataset' },
      { query: 'query ($id: ID!) { node(id: $id) { id } }', field: 'node' },
    ],
    listings: [
      { name: 'GET /api/datasets', ids: (t, key) => restIds(t, key, '/api/datasets') },
      {
        name: 'datasets connection',
        ids: (t, key) =>
          gqlIds(t, key, '{ datasets(first: 100) { edges { node { id } } } }', (d) =>
            d.datasets.edges.map((e: { node: { id: string } }) => e.node),
          ),
      },
    ],
  },
  {
    kind: 'training job',
    async create(t, { a }) {
      // A queued job, as startFineTune leaves it (no worker runs here, so it stays queued).
      const id = newId('trainingJob');
      await t.app.services.db
        .insertInto('training_jobs')
        .values({
          id,
          account_id: a.accountId,
          base_model_id: BASE,
          training_dataset_id: newId('dataset'),
          method: 'LORA',
          hyperparameters: JSON.stringify({}),
          requested: JSON.stringify({}),
          status: 'QUEUED',
          queued_at: new Date(),
        } as never)
        .execute();
      return id;
    },
    rest: [
      { path: (id) => `/api/training/${id}`, ownerStatus: 200 },
      { path: (id) => `/api/training/${id}/events`, ownerStatus: 200 },
      { path: (id) => `/api/training/${id}/events`, headers: { accept: 'text/event-stream' }, ownerStatus: -1 },
      { method: 'POST', path: (id) => `/api/training/${id}/cancel`, ownerStatus: 200 },
    ],
    reads: [
      { query: 'query ($id: ID!) { trainingJob(id: $id) { id } }', field: 'trainingJob' },
      { query: 'query ($id: ID!) { node(id: $id) { id } }', field: 'node' },
    ],
    mutations: [{ query: 'mutation ($id: ID!) { cancelTraining(jobId: $id) { errors { code } } }', field: 'cancelTraining' }],
    subscription: 'subscription ($id: ID!) { trainingProgress(jobId: $id) { jobId status } }',
    listings: [
      { name: 'GET /api/training', ids: (t, key) => restIds(t, key, '/api/training') },
      {
        name: 'trainingJobs connection',
        ids: (t, key) =>
          gqlIds(t, key, '{ trainingJobs(first: 100) { edges { node { id } } } }', (d) =>
            d.trainingJobs.edges.map((e: { node: { id: string } }) => e.node),
          ),
      },
    ],
  },
  {
    kind: 'webhook endpoint',
    async create(t, { a }) {
      const response = await fetch(`${t.url}/api/webhooks`, {
        method: 'POST',
        headers: auth(a.apiKey, { 'content-type': 'application/json' }),
        body: JSON.stringify({ url: 'http://127.0.0.1:9/tenancy-hook' }),
      });
      expect(response.status).toBe(201);
      return ((await response.json()) as { id: string }).id;
    },
    rest: [
      { path: (id) => `/api/webhooks/${id}`, ownerStatus: 200 },
      { method: 'POST', path: (id) => `/api/webhooks/${id}/rotate-secret`, ownerStatus: 200 },
    ],
    reads: [
      { query: 'query ($id: ID!) { webhookEndpoint(id: $id) { id } }', field: 'webhookEndpoint' },
      { query: 'query ($id: ID!) { node(id: $id) { id } }', field: 'node' },
    ],
    listings: [
      { name: 'GET /api/webhooks', ids: (t, key) => restIds(t, key, '/api/webhooks') },
      {
        name: 'webhookEndpoints connection',
        ids: (t, key) =>
          gqlIds(t, key, '{ webhookEndpoints(first: 100) { edges { node { id } } } }', (d) =>
            d.webhookEndpoints.edges.map((e: { node: { id: string } }) => e.node),
          ),
      },
    ],
  },
  {
    kind: 'deployment',
    async create(t, { a }) {
      // A deployment whose load failed: the row is all tenancy needs (no model runtime starts).
      const id = newId('deployment');
      await t.app.services.db
        .insertInto('deployments')
        .values({ id, account_id: a.accountId, model_id: BASE, status: 'FAILED', error: 'tenancy fixture' } as never)
        .execute();
      return id;
    },
    rest: [{ path: (id) => `/api/deployments/${id}`, ownerStatus: 200 }],
    reads: [
      { query: 'query ($id: ID!) { deployment(id: $id) { id } }', field: 'deployment' },
      { query: 'query ($id: ID!) { node(id: $id) { id } }', field: 'node' },
    ],
    listings: [
      { name: 'GET /api/deployments', ids: (t, key) => restIds(t, key, '/api/deployments') },
      { name: 'deployments', ids: (t, key) => gqlIds(t, key, '{ deployments { id } }', (d) => d.deployments) },
    ],
  },
];

describe.each(engines())('tenant isolation (%s)', (engine) => {
  let t: TestApp;
  let accounts: Accounts;
  const ids = new Map<string, string>();

  beforeAll(async () => {
    t = await startFreshApp(engine, { config: { webhookAllowPrivate: true } });
    accounts = { a: await t.account('tenant-a'), b: await t.account('tenant-b') };
    await t.app.services.catalog.importModel({ dir: await tinyModelFolder(), id: BASE, fineTunable: true });
    for (const kind of kinds) ids.set(kind.kind, await kind.create(t, accounts));
  });
  afterAll(async () => t?.stop());

  describe.each(kinds.map((k) => [k.kind, k] as const))('%s', (_name, kind) => {
    const id = () => ids.get(kind.kind)!;

    it('REST: B gets 404 problem+json NOT_FOUND, exactly as for a missing id; A gets the object', async () => {
      const missing = `${id()}x`;
      for (const call of kind.rest) {
        const init = (key: string, target: string) => ({
          method: call.method ?? 'GET',
          headers: auth(key, { ...(call.body ? { 'content-type': 'application/json' } : {}), ...call.headers }),
          ...(call.body ? { body: JSON.stringify(call.body(target)) } : {}),
        });
        const label = `${call.method ?? 'GET'} ${call.path(id())} ${JSON.stringify(call.headers ?? {})}`;
        const denied = await fetch(`${t.url}${call.path(id())}`, init(accounts.b.apiKey, id()));
        const absent = await fetch(`${t.url}${call.path(missing)}`, init(accounts.b.apiKey, missing));
        expect(denied.status, label).toBe(404);
        expect(denied.headers.get('content-type'), label).toContain('application/problem+json');
        const deniedBody = (await denied.json()) as Record<string, unknown>;
        const absentBody = (await absent.json()) as Record<string, unknown>;
        expect(deniedBody.code, label).toBe('NOT_FOUND');
        // Same answer as a missing object, up to the id it names.
        expect(JSON.stringify(deniedBody).replaceAll(id(), '<id>'), label).toBe(JSON.stringify(absentBody).replaceAll(missing, '<id>'));
        expect(absent.status, label).toBe(404);

        const owner = await fetch(`${t.url}${call.path(id())}`, init(accounts.a.apiKey, id()));
        if (call.ownerStatus === -1) expect(owner.status, label).toBeLessThan(300);
        else expect(owner.status, label).toBe(call.ownerStatus);
        await owner.body?.cancel();
      }
    });

    it('GraphQL over HTTP, SSE and graphql-ws: B reads null; A reads the object', async () => {
      for (const read of kind.reads) {
        const denied = await gqlRaw(t, accounts.b.apiKey, read.query, { id: id() });
        expect(denied.status, read.query).toBe(200);
        expect(denied.data?.[read.field], read.query).toBeNull();
        const owner = await gqlRaw(t, accounts.a.apiKey, read.query, { id: id() });
        expect(owner.data?.[read.field]?.id, read.query).toBe(id());

        const sse = await gqlSse(t.url, accounts.b.apiKey, read.query, { id: id() });
        const next = sse.events.find((e) => e.event === 'next');
        expect(JSON.parse(next!.data).data[read.field], `SSE ${read.query}`).toBeNull();

        const client = wsClient(t.url, accounts.b.apiKey);
        try {
          const results = await wsCollect<Record<string, unknown>>(client, read.query, { id: id() });
          expect(results[0]?.data?.[read.field], `graphql-ws ${read.query}`).toBeNull();
        } finally {
          await client.dispose();
        }
      }
    });

    if (kind.mutations?.length)
      it('GraphQL mutations: B gets a NOT_FOUND error', async () => {
        for (const mutation of kind.mutations ?? []) {
          const denied = await gqlRaw(t, accounts.b.apiKey, mutation.query, { id: id() });
          expect(denied.data?.[mutation.field]?.errors?.[0]?.code, mutation.query).toBe('NOT_FOUND');
        }
      });

    if (kind.subscription)
      it('subscriptions: B is refused with NOT_FOUND over graphql-ws', async () => {
        const client = wsClient(t.url, accounts.b.apiKey);
        try {
          const outcome = await wsCollect<unknown>(client, kind.subscription!, { id: id() }).then(
            (results) => (results[0]?.errors as Array<{ extensions?: { code?: string } }>) ?? [],
            (errors: unknown) => errors as Array<{ extensions?: { code?: string } }>,
          );
          expect(outcome[0]?.extensions?.code).toBe('NOT_FOUND');
        } finally {
          await client.dispose();
        }
      });

    it('listings: A sees it, B does not', async () => {
      for (const listing of kind.listings) {
        expect(await listing.ids(t, accounts.a.apiKey), listing.name).toContain(id());
        expect(await listing.ids(t, accounts.b.apiKey), listing.name).not.toContain(id());
      }
    });
  });
});
