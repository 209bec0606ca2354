import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTempDir, startTestApp } from '../helpers/app.js';
import type { TestApp } from '../helpers/app.js';

/** Without a console build the api still answers, and its pages say how to build the console. */
describe('console pages without a build', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp('pglite', { config: { consoleDir: path.join(await makeTempDir(), 'missing') } });
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('answers a short page saying how to build it, and the API as usual', async () => {
    for (const route of ['/', '/jobs/ftjob_x']) {
      const response = await fetch(`${t.url}${route}`);
      expect(response.status).toBe(503);
      expect(response.headers.get('content-type')).toMatch(/^text\/html/);
      expect(await response.text()).toContain('bash scripts/setup.sh');
    }
    expect((await fetch(`${t.url}/assets/index.js`)).status).toBe(404);
    expect((await fetch(`${t.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${t.url}/openapi.json`)).status).toBe(200);
  });
});
