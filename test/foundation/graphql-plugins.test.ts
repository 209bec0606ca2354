import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getOperationAST } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { startFreshApp } from '../helpers/data-dir.js';
import type { TestApp } from '../helpers/app.js';
import { engines } from '../helpers/db.js';
import { addTinyModel, insertJob } from '../helpers/training.js';
import { gqlSse, readSse, wsClient, wsCollect } from '../helpers/clients.js';
import type { GraphQLContext } from '../../src/graphql/builder.js';

/** What the spy plugin saw of one operation, by operation name. */
interface Seen {
  kind: string;
  hooks: Set<string>;
  results: number;
}

/**
 * An envelop plugin added to yoga, the way an operator would add tracing or metrics: it
 * must see every operation — parse, validate, context, execute or subscribe, and each
 * result — whatever the operation kind and transport. Operation names tell the cases apart.
 */
function spyPlugin(seen: Map<string, Seen>): Plugin<GraphQLContext> {
  const entry = (name: string | null | undefined, kind = '?') => {
    const key = name ?? '(anonymous)';
    let e = seen.get(key);
    if (!e) seen.set(key, (e = { kind, hooks: new Set(), results: 0 }));
    if (kind !== '?') e.kind = kind;
    return e;
  };
  return {
    onParse() {
      return ({ result }) => {
        if (result && 'definitions' in result) entry(getOperationAST(result)?.name?.value).hooks.add('parse');
      };
    },
    onValidate({ params }) {
      return () => entry(getOperationAST(params.documentAST)?.name?.value).hooks.add('validate');
    },
    onContextBuilding() {
      return () => void entry('(context)').hooks.add('context');
    },
    onExecute({ args }) {
      const operation = getOperationAST(args.document, args.operationName);
      const e = entry(operation?.name?.value, operation?.operation);
      e.hooks.add('execute');
      return { onExecuteDone: () => void e.results++ };
    },
    onSubscribe({ args }) {
      const operation = getOperationAST(args.document, args.operationName);
      const e = entry(operation?.name?.value, operation?.operation);
      e.hooks.add('subscribe');
      return {
        onSubscribeResult: () => ({
          onNext: () => void e.results++,
        }),
      };
    },
  };
}

describe.each(engines())('GraphQL plugins see every operation (%s)', (engine) => {
  let t: TestApp;
  let key: string;
  let jobId: string;
  const seen = new Map<string, Seen>();

  beforeAll(async () => {
    t = await startFreshApp(engine, { graphqlPlugins: [spyPlugin(seen)] });
    const account = await t.account('plugins');
    key = account.apiKey;
    await addTinyModel(t, 'tiny-plugins');
    // A cancelled job with two stored events: its subscription replays them and completes.
    jobId = await insertJob(t, account.accountId, {
      baseModel: 'tiny-plugins',
      status: 'CANCELLED',
      events: [
        { type: 'status', step: 0, status: 'QUEUED', payload: { status: 'QUEUED' } },
        { type: 'status', step: 0, status: 'CANCELLED', payload: { status: 'CANCELLED' } },
      ],
    });
  });
  afterAll(async () => t?.stop());

  const auth = () => ({ authorization: `Bearer ${key}` });
  const query = (name: string) => `query ${name} { account { id } }`;
  const mutation = (name: string) => `mutation ${name} { deleteDataset(id: "ds_missing") { errors { code } } }`;
  const subscription = (name: string) => `subscription ${name}($jobId: ID!) { trainingProgress(jobId: $jobId) { status } }`;

  async function post(document: string, variables?: Record<string, unknown>): Promise<unknown> {
    const response = await fetch(`${t.url}/graphql`, {
      method: 'POST',
      headers: { ...auth(), 'content-type': 'application/json' },
      body: JSON.stringify({ query: document, variables }),
    });
    expect(response.status).toBe(200);
    return response.json();
  }

  function getUrl(document: string, variables?: Record<string, unknown>): URL {
    const url = new URL(`${t.url}/graphql`);
    url.searchParams.set('query', document);
    if (variables) url.searchParams.set('variables', JSON.stringify(variables));
    return url;
  }

  it('queries, mutations and subscriptions over HTTP POST, GET, SSE and graphql-ws all run through a plugin added to yoga', async () => {
    // HTTP POST
    expect(JSON.stringify(await post(query('QueryPost')))).toMatch(/acct_/);
    expect(JSON.stringify(await post(mutation('MutationPost')))).toMatch(/NOT_FOUND/);
    // HTTP GET (mutations are refused over GET, as GraphQL over HTTP requires)
    const get = await fetch(getUrl(query('QueryGet')), { headers: { ...auth(), accept: 'application/json' } });
    expect(JSON.stringify(await get.json())).toMatch(/acct_/);
    expect((await fetch(getUrl(mutation('MutationGet')), { headers: { ...auth(), accept: 'application/json' } })).status).toBe(405);
    // SSE: POST with Accept: text/event-stream, and GET (EventSource)
    expect(JSON.stringify((await gqlSse(t.url, key, query('QuerySse'))).events)).toMatch(/acct_/);
    expect(JSON.stringify((await gqlSse(t.url, key, mutation('MutationSse'))).events)).toMatch(/NOT_FOUND/);
    const ssePost = await gqlSse(t.url, key, subscription('SubscriptionSse'), { jobId });
    expect(ssePost.events.filter((e) => e.event === 'next').map((e) => JSON.parse(e.data).data.trainingProgress.status)).toEqual([
      'QUEUED',
      'CANCELLED',
    ]);
    const sseGet = await fetch(getUrl(subscription('SubscriptionSseGet'), { jobId }), {
      headers: { ...auth(), accept: 'text/event-stream' },
    });
    expect((await readSse(sseGet)).filter((e) => e.event === 'next')).toHaveLength(2);
    // graphql-ws
    const client = wsClient(t.url, key);
    try {
      expect(JSON.stringify(await wsCollect(client, query('QueryWs')))).toMatch(/acct_/);
      expect(JSON.stringify(await wsCollect(client, mutation('MutationWs')))).toMatch(/NOT_FOUND/);
      expect(await wsCollect(client, subscription('SubscriptionWs'), { jobId })).toHaveLength(2);
    } finally {
      await client.dispose();
    }

    const expected: Array<[string, string, string, number]> = [
      ['QueryPost', 'query', 'execute', 1],
      ['MutationPost', 'mutation', 'execute', 1],
      ['QueryGet', 'query', 'execute', 1],
      ['QuerySse', 'query', 'execute', 1],
      ['MutationSse', 'mutation', 'execute', 1],
      ['SubscriptionSse', 'subscription', 'subscribe', 2],
      ['SubscriptionSseGet', 'subscription', 'subscribe', 2],
      ['QueryWs', 'query', 'execute', 1],
      ['MutationWs', 'mutation', 'execute', 1],
      ['SubscriptionWs', 'subscription', 'subscribe', 2],
    ];
    for (const [name, kind, hook, results] of expected) {
      const e = seen.get(name);
      expect(e, name).toBeDefined();
      expect({ name, kind: e!.kind, hooks: [...e!.hooks].sort(), results: e!.results }).toEqual({
        name,
        kind,
        hooks: [hook, 'parse', 'validate'].sort(),
        results,
      });
    }
    // Refused before parsing (a mutation over GET), so the plugin never saw it run.
    expect(seen.get('MutationGet')?.hooks.has('execute') ?? false).toBe(false);
    // Every operation built its context through the plugin chain.
    expect(seen.get('(context)')?.hooks.has('context')).toBe(true);
  });
});
