import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readdir, symlink, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { delimiter, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchUrlToStore, parseDatasetRoots, resolveServerPath, storeServerFile } from '../../src/datasets/intake.js';
import { useTempDir } from '../helpers/temp-dir.js';

const tmp = useTempDir();
const BODY = '{"prompt": "a", "completion": "b"}\n'.repeat(100);
let server: Server;
let base = '';
const sockets = new Set<import('node:net').Socket>();

/** Routes of the loopback server the downloads run against. */
function route(path: string, res: ServerResponse): void {
  const redirect = /^\/redirect\/(\d+)$/.exec(path);
  if (redirect) {
    const n = Number(redirect[1]);
    res.writeHead(302, { location: n > 1 ? `/redirect/${n - 1}` : '/data.jsonl' }).end();
  } else if (path === '/data.jsonl') {
    res.writeHead(200, { 'content-type': 'application/jsonl', 'content-length': Buffer.byteLength(BODY) }).end(BODY);
  } else if (path === '/chunked') {
    // No Content-Length: the limit must bite while streaming.
    res.writeHead(200, { 'content-type': 'application/jsonl' });
    let sent = 0;
    const tick = () => {
      if (sent >= 20) return res.end();
      sent++;
      res.write(`${'x'.repeat(1000)}\n`, () => setImmediate(tick));
    };
    tick();
  } else if (path === '/stall') {
    res.writeHead(200, { 'content-type': 'application/jsonl' });
    res.write('{"partial": ');
  } else if (path === '/to-ftp') {
    res.writeHead(301, { location: 'ftp://example.com/data.jsonl' }).end();
  } else if (path === '/no-location') {
    res.writeHead(302).end();
  } else if (path === '/error') {
    res.writeHead(500).end('boom');
  } else {
    res.writeHead(404).end('not found');
  }
}

beforeAll(async () => {
  server = createServer((req, res) => route(req.url ?? '/', res));
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

const opts = (name: string, more: Partial<Parameters<typeof fetchUrlToStore>[1]> = {}) => ({
  dataDir: join(tmp.path, name),
  maxBytes: 1 << 20,
  allowPrivate: true,
  ...more,
});
async function storedFiles(dataDir: string): Promise<string[]> {
  const entries = await readdir(dataDir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isFile()).map((e) => e.name);
}

describe('URL intake', () => {
  it('downloads into the store, following up to 3 redirects', async () => {
    const stored = await fetchUrlToStore(`${base}/redirect/3`, opts('ok'));
    expect(stored).toMatchObject({
      sha256: createHash('sha256').update(BODY).digest('hex'),
      bytes: BODY.length,
      created: true,
      url: `${base}/data.jsonl`,
    });
  });

  it('refuses a 4th redirect with too_many_redirects', async () => {
    await expect(fetchUrlToStore(`${base}/redirect/4`, opts('redirects'))).rejects.toMatchObject({
      code: 'too_many_redirects',
      details: { maxRedirects: 3 },
    });
    expect(await storedFiles(join(tmp.path, 'redirects'))).toEqual([]);
  });

  it('re-checks each redirect target: only http(s)', async () => {
    await expect(fetchUrlToStore(`${base}/to-ftp`, opts('ftp'))).rejects.toMatchObject({
      code: 'url_not_allowed',
      message: expect.stringContaining('ftp:'),
    });
  });

  it('reports a non-2xx answer as fetch_failed with its status', async () => {
    await expect(fetchUrlToStore(`${base}/missing`, opts('404'))).rejects.toMatchObject({ code: 'fetch_failed', details: { status: 404 } });
    await expect(fetchUrlToStore(`${base}/error`, opts('500'))).rejects.toMatchObject({ code: 'fetch_failed', details: { status: 500 } });
    await expect(fetchUrlToStore(`${base}/no-location`, opts('302'))).rejects.toMatchObject({
      code: 'fetch_failed',
      details: { status: 302 },
    });
  });

  it('enforces the size limit from Content-Length and while streaming, leaving nothing', async () => {
    await expect(fetchUrlToStore(`${base}/data.jsonl`, opts('declared', { maxBytes: 1000 }))).rejects.toMatchObject({
      code: 'file_too_large',
    });
    await expect(fetchUrlToStore(`${base}/chunked`, opts('streamed', { maxBytes: 5000 }))).rejects.toMatchObject({
      code: 'file_too_large',
    });
    expect(await storedFiles(join(tmp.path, 'streamed'))).toEqual([]);
  });

  it('stops a stalled download at the time limit with fetch_timeout, leaving nothing', async () => {
    const started = Date.now();
    await expect(fetchUrlToStore(`${base}/stall`, opts('stall', { timeoutMs: 300 }))).rejects.toMatchObject({ code: 'fetch_timeout' });
    expect(Date.now() - started).toBeLessThan(5000);
    expect(await storedFiles(join(tmp.path, 'stall'))).toEqual([]);
  });

  it('refuses other schemes, credentials, and private addresses unless allowed', async () => {
    await expect(fetchUrlToStore('file:///etc/passwd', opts('file'))).rejects.toMatchObject({ code: 'url_not_allowed' });
    await expect(fetchUrlToStore('not a url', opts('garbage'))).rejects.toMatchObject({ code: 'url_not_allowed' });
    await expect(fetchUrlToStore(`http://user:pw@127.0.0.1/`, opts('creds'))).rejects.toMatchObject({ code: 'url_not_allowed' });
    await expect(fetchUrlToStore(`${base}/data.jsonl`, opts('private', { allowPrivate: false }))).rejects.toMatchObject({
      code: 'url_not_allowed',
      message: expect.stringContaining('loopback'),
    });
    await expect(fetchUrlToStore('http://[::1]:1/x', opts('private6', { allowPrivate: false }))).rejects.toMatchObject({
      code: 'url_not_allowed',
    });
  });

  it('reports a refused connection as fetch_failed', async () => {
    await expect(fetchUrlToStore('http://127.0.0.1:1/x', opts('refused'))).rejects.toMatchObject({ code: 'fetch_failed' });
  });
});

describe('server path intake', () => {
  let root = '';
  let outside = '';
  beforeAll(async () => {
    root = join(tmp.path, 'root');
    outside = join(tmp.path, 'outside');
    await mkdir(join(root, 'sub'), { recursive: true });
    await mkdir(outside, { recursive: true });
    await writeFile(join(root, 'sub', 'data.jsonl'), BODY);
    await writeFile(join(outside, 'secret.jsonl'), 'secret\n');
    await symlink(join(outside, 'secret.jsonl'), join(root, 'escape.jsonl'));
    await symlink(outside, join(root, 'escape-dir'));
    await symlink(join(root, 'sub', 'data.jsonl'), join(root, 'alias.jsonl'));
  });

  it('resolves a file inside a root to its real path', async () => {
    expect(await resolveServerPath(join(root, 'sub', 'data.jsonl'), [root])).toBe(join(root, 'sub', 'data.jsonl'));
    expect(await resolveServerPath(join(root, 'alias.jsonl'), [root])).toBe(join(root, 'sub', 'data.jsonl'));
    expect(await resolveServerPath(join(root, 'sub', '..', 'sub', 'data.jsonl'), ['/nonexistent', root])).toBe(
      join(root, 'sub', 'data.jsonl'),
    );
  });

  it('refuses paths outside the roots, through .. or symlinks', async () => {
    for (const p of [
      join(outside, 'secret.jsonl'),
      join(root, '..', 'outside', 'secret.jsonl'),
      join(root, 'escape.jsonl'),
      join(root, 'escape-dir', 'secret.jsonl'),
      '/etc/passwd',
    ]) {
      await expect(resolveServerPath(p, [root]), p).rejects.toMatchObject({ code: 'path_not_allowed' });
    }
    // A root that is a prefix of another folder's name does not contain it.
    await expect(resolveServerPath(join(outside, 'secret.jsonl'), [join(tmp.path, 'out')])).rejects.toMatchObject({
      code: 'path_not_allowed',
    });
  });

  it('gives one answer (code and message) for every refused path, so nothing tells which files exist', async () => {
    await symlink(join(outside, 'no-such-file.jsonl'), join(root, 'dangling.jsonl'));
    execFileSync('mkfifo', [join(root, 'pipe.jsonl')]);
    const refused = [
      join(root, 'nope.jsonl'), // missing inside a root
      join(root, 'sub'), // a folder
      join(root, 'pipe.jsonl'), // a FIFO (would block a plain open)
      join(outside, 'nope.jsonl'), // missing outside
      join(outside, 'secret.jsonl'), // existing outside
      join(root, 'escape.jsonl'), // symlink to an existing file outside
      join(root, 'dangling.jsonl'), // symlink to a missing file outside
      join(root, 'escape-dir', 'secret.jsonl'),
      `${root}/sub/data.jsonl\u0000.txt`, // NUL in the path
      'sub/data.jsonl', // relative
    ];
    const answers = await Promise.all(
      refused.map((p) =>
        resolveServerPath(p, [root]).then(
          () => `accepted ${p}`,
          (err: { code: string; message: string }) => `${err.code}: ${err.message}`,
        ),
      ),
    );
    expect(new Set(answers).size, answers.join('\n')).toBe(1);
    expect(answers[0]).toBe(
      'path_not_allowed: no readable regular file at this path inside the allowed dataset roots (the path must be absolute)',
    );
    // Without roots the answer says path intake is off (it depends on the operator, not on the path).
    await expect(resolveServerPath(join(root, 'sub', 'data.jsonl'), [])).rejects.toMatchObject({
      code: 'path_not_allowed',
      message: expect.stringContaining('no dataset roots are configured'),
    });
  });

  it('parses TUNELOOP_DATASET_ROOTS and copies an allowed file into the store', async () => {
    expect(parseDatasetRoots(`${root}${delimiter}${delimiter} ${outside} `)).toEqual([root, outside]);
    expect(parseDatasetRoots(undefined)).toEqual([]);
    const stored = await storeServerFile(join(root, 'alias.jsonl'), [root], { dataDir: join(tmp.path, 'paths'), maxBytes: 1 << 20 });
    expect(stored).toMatchObject({ bytes: BODY.length, created: true, sourcePath: join(root, 'sub', 'data.jsonl') });
    await expect(
      storeServerFile(join(root, 'alias.jsonl'), [root], { dataDir: join(tmp.path, 'paths'), maxBytes: 10 }),
    ).rejects.toMatchObject({ code: 'file_too_large' });
  });
});
