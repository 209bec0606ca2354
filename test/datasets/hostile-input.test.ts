import { rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp } from '../helpers/app.js';
import type { TestApp } from '../helpers/app.js';
import { engines } from '../helpers/db.js';
import { addTinyModel } from '../helpers/training.js';
import { restJson } from '../../src/dev/rest-client.js';
import { chatJsonl, postRaw, waitValidated } from '../helpers/datasets-api.js';

/**
 * Input that used to take the whole process down, through the real app: each ends as a
 * stored status or a 4xx with a specific code, the app keeps serving, and nothing is
 * left VALIDATING. (vitest fails a run on an unhandled rejection or 'error' event, which
 * is how the process died before.)
 */
describe.each(engines())('hostile datasets cannot crash the process (%s)', (engine) => {
  let t: TestApp;
  let key: string;
  let server: Server;
  let base: string;
  const sockets = new Set<Socket>();
  const good = Buffer.from(chatJsonl(12, ' hostile'));
  const gzipped = gzipSync(good);
  const broken: Record<string, [string, Buffer]> = {
    '/corrupt.jsonl': ['gzip', Buffer.concat([gzipped.subarray(0, 20), Buffer.from('garbage in the middle'), gzipped.subarray(40)])],
    '/truncated.jsonl': ['gzip', gzipped.subarray(0, gzipped.length - 12)],
    '/trailing.jsonl': ['gzip', Buffer.concat([gzipped, Buffer.from('trailing garbage')])],
    '/deflate.jsonl': ['deflate', Buffer.from('this is not a deflate stream')],
    '/brotli.jsonl': ['br', Buffer.from('this is not a brotli stream at all')],
  };

  beforeAll(async () => {
    server = createServer((req, res) => {
      const [encoding, body] = broken[req.url ?? ''] ?? ['identity', Buffer.from('not found')];
      res.writeHead(encoding === 'identity' ? 404 : 200, { 'content-encoding': encoding }).end(body);
    });
    server.on('connection', (s) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    t = await startTestApp(engine, { config: { datasetAllowPrivateUrls: true } });
    ({ apiKey: key } = await t.account('mallory'));
    await addTinyModel(t);
  }, 120_000);

  afterAll(async () => {
    await t?.stop();
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server?.close(() => resolve()) ?? resolve());
  });

  const alive = async () => expect((await fetch(`${t.url}/readyz`)).status).toBe(200);

  it('a raw NUL byte outside a string: INVALID with a line-numbered invalid_json, stored without error', async () => {
    const lines = good.toString().trimEnd().split('\n');
    const body = Buffer.concat([Buffer.from(`${lines.join('\n')}\n`), Buffer.from('{"messages":\x00}\n', 'latin1')]);
    const uploaded = await postRaw(t, key, body as unknown as string);
    expect([uploaded.status, uploaded.body.status]).toEqual([201, 'VALIDATING']);
    const done = await waitValidated(t, key, uploaded.body.id);
    expect(done.status).toBe('INVALID');
    expect(done.errors).toEqual([
      { line: 13, code: 'invalid_json', field: null, message: expect.stringMatching(/a raw NUL byte \(0x00\) at byte 13 of the line/) },
    ]);
    await alive();
  });

  it('NUL, controls and lone surrogates in keys and values: findings are stored sanitised, never as a database error', async () => {
    const lines = good.toString().trimEnd().split('\n');
    // JSON escapes PostgreSQL cannot store: a NUL in an unknown key (named in `field`), a bad role with controls.
    lines[3] = '{"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"ok"}],"\\u0000bad\\u0007key":1}';
    lines[5] = '{"messages":[{"role":"bo\\u0000t\\u001b[31m","content":"hi"},{"role":"assistant","content":"ok"}]}';
    lines[7] = '{"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"ok"}],"\\ud800":2}';
    const uploaded = await postRaw(t, key, `${lines.join('\n')}\n`);
    const done = await waitValidated(t, key, uploaded.body.id);
    expect(done.status).toBe('INVALID');
    expect(done.errors.map((e) => [e.line, e.code, e.field])).toEqual([
      [4, 'unrecognized_key', '\\u0000bad\\u0007key'],
      [6, 'unrecognized_role', 'messages[0].role'],
      [8, 'unrecognized_key', '\uFFFD'],
      [8, 'invalid_utf8', '\uFFFD'],
    ]);
    // No raw control character survived: they show as visible escapes.
    for (const e of done.errors) expect(`${e.field} ${e.message}`).not.toMatch(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/);
    expect(done.errors[1]!.message).toContain('got the string "bo\\u0000t\\u001b[31m"');
    await alive();
  });

  it('UTF-16 (with and without BOM), UTF-32 and binary files get a specific code for the whole file', async () => {
    const text = good.toString();
    const cases: Array<[Buffer, string, RegExp]> = [
      [Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')]), 'unsupported_encoding', /UTF-16 LE/],
      [Buffer.from(text, 'utf16le').swap16(), 'unsupported_encoding', /UTF-16 BE/],
      [Buffer.from(text, 'utf16le'), 'unsupported_encoding', /UTF-16 LE/],
      [gzipped, 'binary_file', /gzip-compressed/],
    ];
    for (const [bytes, code, message] of cases) {
      const uploaded = await postRaw(t, key, bytes as unknown as string);
      const done = await waitValidated(t, key, uploaded.body.id);
      expect([done.status, done.errors]).toEqual(['INVALID', [{ line: null, code, field: null, message: expect.stringMatching(message) }]]);
    }
    await alive();
  });

  it.each(Object.keys(broken))(
    'a {url} whose compressed body is broken (%s) answers 422 CONTENT_DECODING_FAILED and stores nothing',
    async (path) => {
      const answer = await restJson<{ code: string; detail: string }>(t.url, key, '/api/datasets', {
        method: 'POST',
        body: JSON.stringify({ url: `${base}${path}` }),
      });
      expect([answer.status, answer.body.code]).toEqual([422, 'CONTENT_DECODING_FAILED']);
      expect(answer.body.detail).toMatch(/is corrupt or cut short/);
      await alive();
    },
  );

  it('a filename with a NUL byte is refused at the edge (400 INVALID_INPUT naming it), and the process lives on', async () => {
    // Strict input (src/rest/strict-input.ts): text PostgreSQL cannot store is refused once per
    // transport, before any route; text inside a file's content is sanitised instead.
    const response = await fetch(`${t.url}/api/datasets?filename=${encodeURIComponent('evil\u0000name.jsonl')}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/jsonl' },
      body: chatJsonl(13, ' nul name'),
    });
    const body = (await response.json()) as { code: string; detail?: string };
    expect([response.status, body.code]).toEqual([400, 'INVALID_INPUT']);
    expect(JSON.stringify(body)).toContain('filename');
    await alive();
  });

  it('a validation that fails on the server is stored as INVALID validation_failed, and sending the bytes again retries it', async () => {
    // The shard folder cannot be created (a file stands in its way): the validation pass fails unexpectedly.
    const shards = join(t.config.dataDir, 'shards');
    await t.app.services.datasets.idle();
    await rm(shards, { recursive: true, force: true });
    await writeFile(shards, 'in the way');
    const content = chatJsonl(14, ' server failure');
    try {
      const first = await postRaw(t, key, content);
      const failed = await waitValidated(t, key, first.body.id);
      expect([failed.status, failed.errors]).toEqual([
        'INVALID',
        [{ line: null, code: 'validation_failed', field: null, message: expect.stringMatching(/upload the file again to retry/) }],
      ]);
    } finally {
      await rm(shards, { force: true });
    }
    const again = await postRaw(t, key, content);
    expect([again.status, again.body.status]).toEqual([201, 'VALIDATING']);
    expect((await waitValidated(t, key, again.body.id)).status).toBe('READY');
    await alive();
  });
});
