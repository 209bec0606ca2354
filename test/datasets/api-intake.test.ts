import { mkdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTempDir, startTestApp } from '../helpers/app.js';
import type { TestApp } from '../helpers/app.js';
import { gql } from '../helpers/clients.js';
import { engines } from '../helpers/db.js';
import { addTinyModel } from '../helpers/training.js';
import { restJson } from '../../src/dev/rest-client.js';
import {
  CreateDatasetFromPathDocument,
  CreateDatasetFromUrlDocument,
  DatasetDocument,
  UploadDatasetDetailDocument,
} from '../generated/graphql.js';
import type { UploadDatasetDetailMutation } from '../generated/graphql.js';
import { chatJsonl, completionJsonl, gqlUpload, postMultipart, postRaw, waitValidated } from '../helpers/datasets-api.js';
import type { DatasetJson } from '../helpers/datasets-api.js';

/**
 * Datasets at the API: every intake method reaches READY with stats on the real app, and an
 * invalid file shows its line-numbered errors over REST and GraphQL.
 */
describe.each(engines())('datasets API: intake and reports (%s)', (engine) => {
  let t: TestApp;
  let key: string;
  let accountId: string;
  let root: string;
  let outside: string;
  let server: Server;
  let base: string;
  const sockets = new Set<Socket>();
  const served = new Map<string, string>();

  beforeAll(async () => {
    root = await makeTempDir('tuneloop-roots-');
    outside = await makeTempDir('tuneloop-outside-');
    server = createServer((req, res) => {
      const body = served.get(req.url ?? '');
      if (req.url === '/moved') return void res.writeHead(302, { location: '/url.jsonl' }).end();
      if (body === undefined) return void res.writeHead(404).end('not found');
      res.writeHead(200, { 'content-type': 'application/jsonl' }).end(body);
    });
    server.on('connection', (s) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    t = await startTestApp(engine, { config: { datasetAllowPrivateUrls: true, datasetRoots: [root] } });
    ({ apiKey: key, accountId } = await t.account('alice'));
    await addTinyModel(t);
  });
  afterAll(async () => {
    await t?.stop();
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server?.close(() => resolve()) ?? resolve());
    await rm(root, { recursive: true, force: true });
    await rm(outside, { recursive: true, force: true });
  });

  /** What every READY chat dataset of `n` user/assistant pairs shows. */
  function expectReadyChat(d: DatasetJson, n: number, lines = n) {
    expect(d).toMatchObject({ status: 'READY', format: 'chat', examples: n, tokenizerModel: 'tiny', errors: [], errorCount: 0 });
    expect(d.stats).toMatchObject({ examples: n, lines, format: 'chat', messagesPerRole: { system: 0, user: n, assistant: n, tool: 0 } });
    expect(d.stats!.tokens!.total).toBeGreaterThan(n * 5);
    expect(d.stats!.tokens!.trainable).toBeGreaterThan(0);
    expect(d.stats!.tokens!.trainable).toBeLessThan(d.stats!.tokens!.total);
    expect(d.stats!.tokens!.mean).toBeCloseTo(d.stats!.tokens!.total / n, 6);
    expect(d.stats!.tokens!.max).toBeGreaterThanOrEqual(d.stats!.tokens!.mean);
  }

  it('REST multipart (field "file") → 201 VALIDATING → READY with stats; the shard for the counting model is written and recorded', async () => {
    const content = chatJsonl(12, ' multipart');
    const created = await postMultipart(t, key, content, 'my-train.jsonl');
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      id: expect.stringMatching(/^ds_/),
      status: 'VALIDATING',
      source: 'upload',
      filename: 'my-train.jsonl',
      bytes: Buffer.byteLength(content),
    });
    const ready = await waitValidated(t, key, created.body.id);
    expectReadyChat(ready, 12);

    // Validation wrote the shard in the same pass: a job on `tiny` needs no second tokenization.
    const rows = await t.app.services.db.selectFrom('dataset_tokenizations').selectAll().where('sha256', '=', ready.sha256).execute();
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ examples: 12, max_tokens: ready.stats!.tokens!.max });
    expect(Number(rows[0]!.total_tokens)).toBe(ready.stats!.tokens!.total);
    expect(Number(rows[0]!.trainable_tokens)).toBe(ready.stats!.tokens!.trainable);
    const shard = await stat(rows[0]!.shard_path);
    const dataset = await t.app.services.datasets.get(accountId, ready.id);
    const model = await t.app.services.catalog.getModel(accountId, 'tiny');
    const tokenization = await t.app.services.datasets.tokenization(dataset, model);
    expect(tokenization.shard_path).toBe(rows[0]!.shard_path);
    expect((await stat(tokenization.shard_path)).mtimeMs).toBe(shard.mtimeMs); // not rewritten
  });

  it('GraphQL multipart request (operations / map / file) → READY with stats', async () => {
    const { status, body } = await gqlUpload<UploadDatasetDetailMutation>(
      t,
      key,
      UploadDatasetDetailDocument.toString(),
      completionJsonl(11, ' gql'),
      'completions.jsonl',
    );
    expect(status).toBe(200);
    expect(body.errors).toBeUndefined();
    expect(body.data!.uploadDataset.errors).toEqual([]);
    const { id, status: first, filename } = body.data!.uploadDataset.dataset!;
    expect([first, filename]).toEqual(['VALIDATING', 'completions.jsonl']);
    await waitValidated(t, key, id);
    const { data } = await gql(t.url, key, DatasetDocument, { id });
    expect(data!.dataset).toMatchObject({
      id,
      status: 'READY',
      format: 'completion',
      examples: 11,
      errorCount: 0,
      errors: [],
      tokenizerModel: 'tiny',
    });
    expect(data!.dataset!.stats).toMatchObject({ examples: 11, lines: 11, messagesPerRole: null });
    expect(data!.dataset!.stats!.tokens!.trainable).toBeGreaterThan(0);
  });

  it('a raw application/jsonl body (CRLF, BOM, blank trailing lines) → READY', async () => {
    const content = `\uFEFF${chatJsonl(10, ' raw').replace(/\n/g, '\r\n')}\r\n\r\n`;
    const created = await postRaw(t, key, content);
    expect(created.status).toBe(201);
    expect(created.body.filename).toBeNull();
    expectReadyChat(await waitValidated(t, key, created.body.id), 10, 12); // blank trailing lines count as lines, not examples
  });

  it('a URL served on loopback (through a redirect) over REST and GraphQL → READY; a 404 answers FETCH_FAILED', async () => {
    served.set('/url.jsonl', chatJsonl(13, ' url'));
    const created = await restJson<DatasetJson>(t.url, key, '/api/datasets', {
      method: 'POST',
      body: JSON.stringify({ url: `${base}/moved` }),
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ source: 'url', filename: 'moved' });
    expectReadyChat(await waitValidated(t, key, created.body.id), 13);

    served.set('/gql-url.jsonl', chatJsonl(14, ' gql url'));
    const viaGql = await gql(t.url, key, CreateDatasetFromUrlDocument, { input: { url: `${base}/gql-url.jsonl` } });
    expect(viaGql.data!.createDatasetFromUrl.errors).toEqual([]);
    expectReadyChat(await waitValidated(t, key, viaGql.data!.createDatasetFromUrl.dataset!.id), 14);

    const missing = await restJson<{ code: string; detail: string }>(t.url, key, '/api/datasets', {
      method: 'POST',
      body: JSON.stringify({ url: `${base}/nope.jsonl` }),
    });
    expect(missing.status).toBe(422);
    expect(missing.body.code).toBe('FETCH_FAILED');
    const viaGqlMissing = await gql(t.url, key, CreateDatasetFromUrlDocument, { input: { url: `${base}/nope.jsonl` } });
    expect(viaGqlMissing.data!.createDatasetFromUrl).toMatchObject({ dataset: null, errors: [{ code: 'FETCH_FAILED' }] });
  });

  it('a server path under an allowed root → READY; every refused path (outside, a symlink out to an existing or a missing file, missing, relative) → one answer, 403 PATH_NOT_ALLOWED', async () => {
    await mkdir(join(root, 'team'), { recursive: true });
    await writeFile(join(root, 'team', 'path.jsonl'), chatJsonl(15, ' path'));
    const created = await restJson<DatasetJson>(t.url, key, '/api/datasets', {
      method: 'POST',
      body: JSON.stringify({ path: join(root, 'team', 'path.jsonl') }),
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ source: 'path', filename: 'path.jsonl' });
    expectReadyChat(await waitValidated(t, key, created.body.id), 15);

    await writeFile(join(root, 'gql.jsonl'), chatJsonl(16, ' gql path'));
    const viaGql = await gql(t.url, key, CreateDatasetFromPathDocument, { input: { path: join(root, 'gql.jsonl') } });
    expect(viaGql.data!.createDatasetFromPath.errors).toEqual([]);
    expectReadyChat(await waitValidated(t, key, viaGql.data!.createDatasetFromPath.dataset!.id), 16);

    await writeFile(join(outside, 'secret.jsonl'), chatJsonl(12, ' secret'));
    await symlink(join(outside, 'secret.jsonl'), join(root, 'link.jsonl'));
    // A symlink inside the root to a file that does not exist must answer like one to a file that does.
    await symlink(join(outside, 'missing.jsonl'), join(root, 'dangling.jsonl'));
    const answers = new Set<string>();
    for (const path of [
      join(outside, 'secret.jsonl'),
      join(root, 'link.jsonl'),
      join(root, 'dangling.jsonl'),
      join(root, 'missing.jsonl'),
      join(root, 'team'),
      join(root, '..', 'etc', 'passwd'),
      '/etc/passwd',
      'relative.jsonl',
    ]) {
      const refused = await restJson<{ code: string; detail: string }>(t.url, key, '/api/datasets', {
        method: 'POST',
        body: JSON.stringify({ path }),
      });
      answers.add(JSON.stringify([refused.status, refused.body.code, refused.body.detail]));
      const viaGql = await gql(t.url, key, CreateDatasetFromPathDocument, { input: { path } });
      const [error] = viaGql.data!.createDatasetFromPath.errors;
      answers.add(JSON.stringify([refused.status, error!.code, error!.message]));
    }
    expect([...answers]).toEqual([
      JSON.stringify([
        403,
        'PATH_NOT_ALLOWED',
        'no readable regular file at this path inside the allowed dataset roots (the path must be absolute)',
      ]),
    ]);
  });

  it('an INVALID file lists line-numbered errors with codes and fields, the total count, and warnings — over REST and GraphQL', async () => {
    const lines = chatJsonl(14, ' invalid').trimEnd().split('\n');
    lines[2] = '{"messages": [{"role": "user", "content": "cut short"';
    lines[4] = JSON.stringify({
      messages: [
        { role: 'bot', content: 'hi' },
        { role: 'assistant', content: 'hello' },
      ],
    });
    lines[6] = JSON.stringify({ messages: [{ role: 'user', content: 'no answer' }] });
    lines[8] = lines[1]!; // duplicate of line 2: a warning, not an error
    lines[10] = JSON.stringify({ prompt: 'p', completion: 'c' });
    const created = await postRaw(t, key, `${lines.join('\n')}\n`);
    expect(created.status).toBe(201);
    const invalid = await waitValidated(t, key, created.body.id);
    expect(invalid.status).toBe('INVALID');
    expect(invalid.errors.map((e) => [e.line, e.code, e.field])).toEqual([
      [3, 'invalid_json', null],
      [5, 'unrecognized_role', 'messages[0].role'],
      [7, 'no_assistant_message', 'messages'],
      [11, 'mixed_formats', null],
    ]);
    for (const e of invalid.errors) expect(e.message.length).toBeGreaterThan(10);
    expect(invalid.errorCount).toBe(4);
    expect(invalid.warnings).toMatchObject([{ line: 9, code: 'duplicate_example', message: expect.stringContaining('line 2') }]);
    expect(invalid.warningCount).toBe(1);

    const { data } = await gql(t.url, key, DatasetDocument, { id: invalid.id });
    expect(data!.dataset).toMatchObject({
      status: 'INVALID',
      errorCount: 4,
      errors: invalid.errors,
      warningCount: 1,
      warnings: invalid.warnings,
    });
  });

  it('reports more than 100 errors as the first 100 plus the exact count', async () => {
    const content = `${Array.from({ length: 150 }, (_, i) => `{"bad": ${i}`).join('\n')}\n`;
    const created = await postRaw(t, key, content);
    const invalid = await waitValidated(t, key, created.body.id);
    expect(invalid.status).toBe('INVALID');
    expect(invalid.errors).toHaveLength(100);
    expect(invalid.errors[99]!.line).toBe(100);
    expect(invalid.errorCount).toBeGreaterThanOrEqual(150);
  });
});
