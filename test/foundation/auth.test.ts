import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFreshApp } from '../helpers/data-dir.js';
import type { TestApp } from '../helpers/app.js';
import { engines } from '../helpers/db.js';
import { gql, gqlSse, wsClient, wsCollect } from '../helpers/clients.js';
import { FineTunableModelsDocument } from '../generated/graphql.js';
import { tinyModelFolder } from '../../src/dev/tiny-model-folder.js';

describe.each(engines())('authentication on every transport (%s)', (engine) => {
  let t: TestApp;
  let key: string;

  beforeAll(async () => {
    t = await startFreshApp(engine);
    key = (await t.account('alice')).apiKey;
    await t.app.services.catalog.importModel({ dir: await tinyModelFolder(), id: 'tiny-base', fineTunable: true });
  });
  afterAll(async () => t?.stop());

  const badKeys: Array<[string, string | undefined]> = [
    ['missing', undefined],
    ['wrong', 'tl_this-key-does-not-exist'],
    ['malformed', 'not a bearer value'],
  ];

  it.each(badKeys)('REST answers 401 problem+json for a %s key', async (_label, apiKey) => {
    const response = await fetch(`${t.url}/api/models?fineTunable=true`, {
      headers: apiKey ? { authorization: apiKey.includes(' ') ? apiKey : `Bearer ${apiKey}` } : {},
    });
    expect(response.status).toBe(401);
    expect(response.headers.get('content-type')).toContain('application/problem+json');
    expect((await response.json()).code).toBe('UNAUTHENTICATED');
  });

  it.each(badKeys)('GraphQL over HTTP answers 401 UNAUTHENTICATED for a %s key', async (_label, apiKey) => {
    const result = await gql(t.url, apiKey, FineTunableModelsDocument);
    expect(result.status).toBe(401);
    expect(result.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    expect(result.data).toBeUndefined();
  });

  it.each(badKeys)('GraphQL over SSE answers 401 for a %s key', async (_label, apiKey) => {
    const result = await gqlSse(t.url, apiKey, FineTunableModelsDocument.toString());
    expect(result.status).toBe(401);
  });

  it.each(badKeys)('graphql-ws closes the socket with 4401 for a %s key', async (_label, apiKey) => {
    const client = wsClient(t.url, apiKey);
    try {
      const error = await wsCollect(client, FineTunableModelsDocument.toString()).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect((error as { code?: number }).code).toBe(4401);
    } finally {
      await client.dispose();
    }
  });

  it('answers fineTunableModels with a valid key over HTTP, graphql-ws and SSE', async () => {
    const http = await gql(t.url, key, FineTunableModelsDocument);
    expect(http.status).toBe(200);
    expect(http.data?.fineTunableModels.map((m) => m.id)).toEqual(['tiny-base']);

    const client = wsClient(t.url, key);
    try {
      const results = await wsCollect<{ fineTunableModels: Array<{ id: string }> }>(client, FineTunableModelsDocument.toString());
      expect(results[0]?.data?.fineTunableModels.map((m) => m.id)).toEqual(['tiny-base']);
    } finally {
      await client.dispose();
    }

    const sse = await gqlSse(t.url, key, FineTunableModelsDocument.toString());
    expect(sse.status).toBe(200);
    const next = sse.events.find((e) => e.event === 'next');
    expect(JSON.parse(next!.data).data.fineTunableModels[0].id).toBe('tiny-base');
  });

  it('a revoked key stops working at once', async () => {
    const { accountId } = await t.account('revokee');
    const extra = await t.app.services.accounts.createApiKey(accountId, 'temp');
    expect((await fetch(`${t.url}/api/account`, { headers: { authorization: `Bearer ${extra.apiKey}` } })).status).toBe(200);
    await t.app.services.accounts.revokeApiKey(accountId, extra.keyId);
    // Revocation reaches the cache through NOTIFY; allow it a moment to arrive.
    let status = 200;
    for (let i = 0; i < 50 && status === 200; i++) {
      status = (await fetch(`${t.url}/api/account`, { headers: { authorization: `Bearer ${extra.apiKey}` } })).status;
      if (status === 200) await new Promise((r) => setTimeout(r, 50));
    }
    expect(status).toBe(401);
  });

  it('public routes answer without a key', async () => {
    expect((await fetch(`${t.url}/healthz`)).status).toBe(200);
    expect(await (await fetch(`${t.url}/readyz`)).json()).toEqual({ status: 'ready' });
    const graphiql = await fetch(`${t.url}/graphql`, { headers: { accept: 'text/html' } });
    expect(graphiql.status).toBe(200);
    expect(await graphiql.text()).toContain('GraphiQL');
  });
});
