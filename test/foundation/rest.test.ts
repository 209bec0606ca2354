import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFreshApp } from '../helpers/data-dir.js';
import type { TestApp } from '../helpers/app.js';
import { engines } from '../helpers/db.js';
import { tinyModelFolder } from '../../src/dev/tiny-model-folder.js';
import { createGraphQLServer } from '../../src/graphql/yoga.js';
import { CONSOLE_PAGES } from '../../src/rest/console.js';
import { buildHttpServer } from '../../src/rest/server.js';
import { registerPendingRoutes } from '../../src/rest/routes/pending.js';
import { ProblemSchema } from '../../src/rest/schemas.js';
import { restErrorHandler } from '../../src/rest/problem.js';
import { createLogger } from '../../src/log.js';
import type { Http } from '../../src/rest/http.js';

const HTTP_METHODS = ['get', 'post', 'put', 'patch', 'delete'] as const;

/** `METHOD /path` for every route fastify registered, from its route tree (HEAD is implied by GET). */
function registeredRoutes(http: Http): Set<string> {
  const routes = new Set<string>();
  const stack: Array<{ depth: number; path: string }> = [];
  for (const line of http.printRoutes({ commonPrefix: false }).split('\n')) {
    const match = /^([│ ]*)(?:├── |└── )(\S+) \(([A-Z, ]+)\)$/.exec(line.replace(/\u00a0/g, ' '));
    if (!match) continue;
    const depth = match[1]!.length / 4;
    while (stack.length && stack.at(-1)!.depth >= depth) stack.pop();
    const path = (stack.at(-1)?.path ?? '') + match[2]!;
    stack.push({ depth, path });
    for (const method of match[3]!.split(', ')) if (method !== 'HEAD') routes.add(`${method} ${path}`);
  }
  return routes;
}

/** OpenAPI `/a/{id}` → fastify `/a/:id`. */
const toFastifyPath = (path: string) => path.replace(/\{([^}]+)\}/g, ':$1');

describe.each(engines())('REST layer (%s)', (engine) => {
  let t: TestApp;
  let key: string;
  let spec: { openapi: string; paths: Record<string, Record<string, { tags?: string[]; responses?: Record<string, unknown> }>> };

  beforeAll(async () => {
    t = await startFreshApp(engine);
    key = (await t.account('rest')).apiKey;
    await t.app.services.catalog.importModel({ dir: await tinyModelFolder(), id: 'tiny-rest', fineTunable: true });
    const response = await fetch(`${t.url}/openapi.json`);
    expect(response.status).toBe(200);
    spec = await response.json();
  });
  afterAll(async () => t?.stop());

  const get = (path: string, init: RequestInit = {}) =>
    fetch(`${t.url}${path}`, { ...init, headers: { authorization: `Bearer ${key}`, ...(init.headers as Record<string, string>) } });

  async function expectProblem(response: Response, status: number, code: string): Promise<Record<string, unknown>> {
    expect(response.status).toBe(status);
    expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    const body = (await response.json()) as Record<string, unknown>;
    expect(body).toMatchObject({
      status,
      code,
      title: expect.any(String),
      detail: expect.any(String),
      type: expect.stringMatching(/^urn:tuneloop:problem:/),
    });
    expect(JSON.stringify(body)).not.toMatch(/\n\s+at |node_modules|\.ts:\d+/);
    return body;
  }

  it('an invalid query string gets 400 problem+json INVALID_REQUEST naming the parameter', async () => {
    const body = await expectProblem(await get('/api/models?limit=lots'), 400, 'INVALID_REQUEST');
    expect(body.detail).toMatch(/querystring\.limit/);
    expect(body.errors).toEqual([expect.objectContaining({ field: 'querystring.limit' })]);
    await expectProblem(await get('/api/models?limit=0'), 400, 'INVALID_REQUEST');
  });

  it('an invalid JSON body gets 400 problem+json naming the field; malformed JSON gets INVALID_JSON', async () => {
    // The first public route with a JSON body: POST /api/fine-tune/estimate.
    const post = (body: string) =>
      get('/api/fine-tune/estimate', { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    const missing = await expectProblem(await post(JSON.stringify({ trainingDataset: 'ds_x' })), 400, 'INVALID_REQUEST');
    expect(missing.detail).toMatch(/baseModel/);
    const wrongType = await expectProblem(
      await post(JSON.stringify({ baseModel: { id: 'tiny-rest' }, trainingDataset: 'ds_x' })),
      400,
      'INVALID_REQUEST',
    );
    expect(wrongType.detail).toMatch(/baseModel/);
    await expectProblem(await post('{"baseModel": '), 400, 'INVALID_JSON');
  });

  it('an unknown route gets 404 problem+json NOT_FOUND', async () => {
    const body = await expectProblem(await get('/api/no-such-thing?x=1'), 404, 'NOT_FOUND');
    expect(body.detail).toBe('no route GET /api/no-such-thing');
    await expectProblem(await fetch(`${t.url}/nowhere`, { method: 'DELETE' }), 404, 'NOT_FOUND');
  });

  it('every route /openapi.json tags "pending" answers 501 problem+json NOT_IMPLEMENTED', async () => {
    expect(spec.openapi).toBe('3.1.0');
    const pending = Object.entries(spec.paths).flatMap(([path, ops]) =>
      Object.entries(ops)
        .filter(([, op]) => op.tags?.includes('pending'))
        .map(([method]) => ({ method: method.toUpperCase(), path: path.replace(/\{[^}]+\}/g, 'x_1') })),
    );
    for (const route of pending) {
      const response = await get(route.path, {
        method: route.method,
        ...(route.method === 'POST' ? { headers: { 'content-type': 'application/json' }, body: '{}' } : {}),
      });
      await expectProblem(response, 501, 'NOT_IMPLEMENTED');
    }
  });

  it('/openapi.json (OpenAPI 3.1) describes every registered REST route, and only those', async () => {
    expect(spec.openapi).toBe('3.1.0');
    const http = await buildHttpServer({ services: t.app.services, yoga: createGraphQLServer(t.app.services) });
    try {
      await http.ready();
      const registered = registeredRoutes(http);
      // The route tree parser found the public routes.
      for (const route of ['GET /api/models', 'GET /api/models/:id', 'GET /api/account', 'GET /openapi.json', 'POST /graphql']) {
        expect(registered, route).toContain(route);
      }
      const described = new Set(
        Object.entries(spec.paths).flatMap(([path, ops]) =>
          Object.keys(ops)
            .filter((m) => (HTTP_METHODS as readonly string[]).includes(m))
            .map((m) => `${m.toUpperCase()} ${toFastifyPath(path)}`),
        ),
      );
      // GraphQL is not REST: it describes itself (introspection, schema/schema.graphql).
      // The web console's pages and files are HTML for a browser, not REST (src/rest/console.ts).
      // `/assets/*` parses as `/*` above (its `assets/` node has no method of its own, so no
      // line); there is no real `/*` route.
      expect(http.hasRoute({ method: 'GET', url: '/assets/*' })).toBe(true);
      expect(http.hasRoute({ method: 'GET', url: '/*' })).toBe(false);
      const consoleRoutes = new Set([...CONSOLE_PAGES.map((p) => `GET ${p}`), 'GET /assets/*', 'GET /*']);
      const rest = [...registered].filter((r) => !r.endsWith(' /graphql') && !consoleRoutes.has(r));
      expect(
        rest.filter((r) => !described.has(r)),
        'registered but not described',
      ).toEqual([]);
      expect(
        [...described].filter((r) => !registered.has(r)),
        'described but not registered',
      ).toEqual([]);
      for (const [path, ops] of Object.entries(spec.paths)) {
        for (const [method, op] of Object.entries(ops)) {
          expect(op.tags?.length, `${method} ${path} has a tag`).toBeGreaterThan(0);
          expect(op.responses, `${method} ${path} has responses`).toBeDefined();
        }
      }
    } finally {
      await http.close();
    }
  });

  it('an unexpected error is a 500 problem+json without a stack or the internal message', async () => {
    const catalog = t.app.services.catalog;
    const original = catalog.listModels;
    catalog.listModels = async () => {
      throw new Error('secret internal detail: connection to 10.0.0.7 refused');
    };
    try {
      const body = await expectProblem(await get('/api/models?limit=3'), 500, 'INTERNAL');
      expect(JSON.stringify(body)).not.toContain('secret');
    } finally {
      catalog.listModels = original;
    }
  });
});

describe('pending routes', () => {
  it('a public route without its domain answers 501 problem+json, not 404', async () => {
    // The mechanism itself, on a bare server: every real app registers these domains by now.
    const app = Fastify() as unknown as Http;
    app.addSchema(ProblemSchema);
    app.setErrorHandler(restErrorHandler(createLogger('silent')));
    registerPendingRoutes(app);
    try {
      const response = await app.inject({ method: 'POST', url: '/api/fine-tune/estimate', payload: {} });
      expect(response.statusCode).toBe(501);
      expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(response.json()).toMatchObject({
        status: 501,
        code: 'NOT_IMPLEMENTED',
        detail: 'cost estimates is not available in this version yet',
      });
      expect((await app.inject({ method: 'GET', url: '/api/training/ftjob_x' })).statusCode).toBe(501);
    } finally {
      await app.close();
    }
  });
});
