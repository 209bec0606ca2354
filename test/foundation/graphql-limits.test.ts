import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFreshApp } from '../helpers/data-dir.js';
import type { TestApp } from '../helpers/app.js';
import { engines } from '../helpers/db.js';
import { gqlSse, wsClient, wsCollect } from '../helpers/clients.js';
import { tinyModelFolder } from '../../src/dev/tiny-model-folder.js';

type GraphQLBody = { data?: Record<string, unknown> | null; errors?: Array<{ message: string; extensions?: Record<string, unknown> }> };

/** `model(id:) { baseModel { baseModel { … } } }`: `levels` nested Model selections. */
function nestedModels(levels: number): string {
  let selection = 'id';
  for (let i = 1; i < levels; i++) selection = `id baseModel { ${selection} }`;
  return `{ model(id: "tiny-limits") { ${selection} } }`;
}

const NO_LEAKS = /\n\s+at |node_modules|\.ts:\d+|stack|secret/i;

describe.each(engines())('GraphQL limits and error masking (%s)', (engine) => {
  let t: TestApp;
  let key: string;

  beforeAll(async () => {
    t = await startFreshApp(engine);
    key = (await t.account('limits')).apiKey;
    await t.app.services.catalog.importModel({ dir: await tinyModelFolder(), id: 'tiny-limits', fineTunable: true });
  });
  afterAll(async () => t?.stop());

  async function post(query: string): Promise<{ status: number; body: GraphQLBody }> {
    const response = await fetch(`${t.url}/graphql`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ query }),
    });
    return { status: response.status, body: (await response.json()) as GraphQLBody };
  }

  it('answers a query within the depth limit', async () => {
    const within = await post(nestedModels(10));
    expect(within.body.errors).toBeUndefined();
    expect((within.body.data?.model as { id: string } | undefined)?.id).toBe('tiny-limits');
  });

  it('refuses an over-deep query before running it, with a clear error, on HTTP, SSE and graphql-ws', async () => {
    const deep = nestedModels(20);
    const http = await post(deep);
    // GraphQL over HTTP with Accept: application/json answers request errors with 200 (the
    // spec's legacy media type); no `data` means nothing ran.
    expect(http.status).toBe(200);
    expect(http.body.data).toBeUndefined();
    expect(http.body.errors?.[0]?.message).toMatch(/depth limit of 12 exceeded/i);
    expect(JSON.stringify(http.body)).not.toMatch(NO_LEAKS);

    const sse = await gqlSse(t.url, key, deep);
    expect(JSON.stringify(sse.events)).toMatch(/depth limit of 12 exceeded/i);

    const client = wsClient(t.url, key);
    try {
      const outcome = await wsCollect(client, deep).then(
        (results) => JSON.stringify(results),
        (errors: unknown) => JSON.stringify(errors),
      );
      expect(outcome).toMatch(/depth limit of 12 exceeded/i);
    } finally {
      await client.dispose();
    }
  });

  it('refuses a query over the cost limit', async () => {
    // Wide instead of deep: 30 aliases (the alias limit) of a connection of nested models.
    const aliases = Array.from(
      { length: 30 },
      (_, i) => `m${i}: models(first: 100) { edges { node { id baseModel { id baseModel { id } } } } }`,
    ).join(' ');
    const costly = await post(`{ ${aliases} }`);
    expect(costly.body.data).toBeUndefined();
    expect(costly.body.errors?.[0]?.message).toMatch(/cost limit of \d+ exceeded, found \d+/i);
  });

  it('refuses too many aliases', async () => {
    const aliases = Array.from({ length: 31 }, (_, i) => `a${i}: account { id }`).join(' ');
    const refused = await post(`{ ${aliases} }`);
    expect(refused.body.data).toBeUndefined();
    expect(refused.body.errors?.[0]?.message).toMatch(/aliases limit of 30 exceeded/i);
  });

  it('masks an unexpected resolver error: a generic message, no stack, no internal detail', async () => {
    const catalog = t.app.services.catalog;
    const original = catalog.fineTunableModels;
    catalog.fineTunableModels = async () => {
      throw new Error('secret internal detail: connection to 10.0.0.7 refused');
    };
    try {
      const masked = await post('{ fineTunableModels { id } }');
      expect(masked.body.errors?.[0]?.message).toBe('Unexpected error.');
      expect(JSON.stringify(masked.body)).not.toMatch(NO_LEAKS);
    } finally {
      catalog.fineTunableModels = original;
    }
  });

  it('expected errors keep their message and carry extensions.code', async () => {
    const bad = await post('{ models(first: 5, after: "not-a-cursor") { edges { node { id } } } }');
    expect(bad.body.errors?.[0]).toMatchObject({ message: 'invalid cursor', extensions: { code: 'INVALID_INPUT', field: 'after' } });
    expect(JSON.stringify(bad.body)).not.toMatch(NO_LEAKS);
  });
});
