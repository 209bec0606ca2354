import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { CompiledQuery, QueryExecutor } from 'kysely';
import { startFreshApp } from '../helpers/data-dir.js';
import type { TestApp } from '../helpers/app.js';
import { engines } from '../helpers/db.js';
import { gql, wsClient, wsCollect } from '../helpers/clients.js';
import { FineTunableModelsDocument } from '../generated/graphql.js';

/**
 * API-key lookups are cached: after the first request with a key, authentication is not a
 * database round trip. Measured by counting the statements that read `api_keys` on the
 * app's own Kysely executor (every query of every service goes through it).
 */
describe.each(engines())('API-key lookup cache (%s)', (engine) => {
  let t: TestApp;
  const keyLookups: string[] = [];
  let restore: (() => void) | undefined;

  beforeAll(async () => {
    t = await startFreshApp(engine);
    const executor = t.app.services.db.getExecutor() as QueryExecutor & { executeQuery: QueryExecutor['executeQuery'] };
    const original = executor.executeQuery;
    executor.executeQuery = function (this: QueryExecutor, query: CompiledQuery, ...rest: unknown[]) {
      if (/\bapi_keys\b/.test(query.sql)) keyLookups.push(query.sql);
      return (original as (...args: unknown[]) => ReturnType<QueryExecutor['executeQuery']>).call(this, query, ...rest);
    } as QueryExecutor['executeQuery'];
    restore = () => {
      executor.executeQuery = original;
    };
  });
  afterEach(() => {
    keyLookups.length = 0;
  });
  afterAll(async () => {
    restore?.();
    await t?.stop();
  });

  const account = (apiKey: string) => fetch(`${t.url}/api/account`, { headers: { authorization: `Bearer ${apiKey}` } });

  it('the first request with a key reads it; later requests on every transport do not', async () => {
    const { apiKey } = await t.account('cached');
    keyLookups.length = 0;

    expect((await account(apiKey)).status).toBe(200);
    expect(keyLookups).toHaveLength(1);
    expect(keyLookups[0]).toMatch(/from "api_keys"/);

    for (let i = 0; i < 5; i++) expect((await account(apiKey)).status).toBe(200);
    expect((await gql(t.url, apiKey, FineTunableModelsDocument)).status).toBe(200);
    const client = wsClient(t.url, apiKey);
    try {
      await wsCollect(client, FineTunableModelsDocument.toString());
    } finally {
      await client.dispose();
    }
    expect(keyLookups).toHaveLength(1);
  });

  it('a wrong key is looked up once, then answered 401 from the cache', async () => {
    const wrong = 'tl_ThisKeyWasNeverIssuedToAnybodyAtAll000';
    expect((await account(wrong)).status).toBe(401);
    expect(keyLookups).toHaveLength(1);
    for (let i = 0; i < 5; i++) expect((await account(wrong)).status).toBe(401);
    expect(keyLookups).toHaveLength(1);
  });

  it('a malformed Authorization header never reaches the database', async () => {
    for (const header of ['Basic dXNlcjpwYXNz', 'Bearer', `Bearer ${'x'.repeat(500)}`]) {
      expect((await fetch(`${t.url}/api/account`, { headers: { authorization: header } })).status).toBe(401);
    }
    expect(keyLookups).toHaveLength(0);
  });
});
