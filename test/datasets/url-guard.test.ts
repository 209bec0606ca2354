import { createHash } from 'node:crypto';
import dns from 'node:dns';
import { syncBuiltinESMExports } from 'node:module';
import { readdir } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fetchUrlToStore } from '../../src/datasets/intake.js';
import { useTempDir } from '../helpers/temp-dir.js';

/**
 * The download's address policy is applied by the socket's own resolver: these tests
 * make the early check and the connection see different DNS answers (rebinding).
 */
const tmp = useTempDir();
const BODY = '{"prompt": "a", "completion": "b"}\n'.repeat(50);
const GZIPPED = gzipSync(BODY);
/** Compressed bodies a hostile or broken server may send: path → [Content-Encoding, body]. */
const BROKEN: Record<string, [string, Buffer]> = {
  '/corrupt-gzip': ['gzip', Buffer.concat([GZIPPED.subarray(0, 20), Buffer.from('garbage in the middle'), GZIPPED.subarray(40)])],
  '/truncated-gzip': ['gzip', GZIPPED.subarray(0, GZIPPED.length - 12)],
  '/trailing-gzip': ['gzip', Buffer.concat([GZIPPED, Buffer.from('trailing garbage')])],
  '/not-gzip': ['gzip', Buffer.from(BODY)],
  '/bad-deflate': ['deflate', Buffer.from('this is not a deflate stream')],
  '/bad-br': ['br', Buffer.from('this is not a brotli stream at all')],
};
let server: Server;
let port = 0;
let requests = 0;
const sockets = new Set<Socket>();

beforeAll(async () => {
  server = createServer((req, res) => {
    requests++;
    if (req.url === '/gzip') {
      res.writeHead(200, { 'content-encoding': 'gzip' }).end(gzipSync(BODY));
    } else if (req.url === '/bomb') {
      res.writeHead(200, { 'content-encoding': 'gzip' }).end(gzipSync(Buffer.alloc(10 << 20, 0x61)));
    } else if (req.url && req.url in BROKEN) {
      const [encoding, body] = BROKEN[req.url]!;
      res.writeHead(200, { 'content-encoding': encoding }).end(body);
    } else if (req.url === '/cut') {
      res.writeHead(200, { 'content-length': '100000' });
      res.write('x'.repeat(1000), () => res.socket?.destroy());
    } else {
      res.writeHead(200).end(BODY);
    }
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

const realPromisesLookup = dns.promises.lookup;
afterEach(() => {
  dns.promises.lookup = realPromisesLookup;
  syncBuiltinESMExports();
});

async function files(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isFile()).map((e) => e.name);
}

describe('dataset downloads: address policy on the connection', () => {
  it('refuses a host whose address changes to loopback between the check and the connection', async () => {
    // The early check resolves to a public address; the connection's lookup (the real
    // resolver) answers 127.0.0.1 — as a rebinding DNS server would.
    dns.promises.lookup = (async () => [{ address: '93.184.215.14', family: 4 }]) as unknown as typeof dns.promises.lookup;
    syncBuiltinESMExports();
    const before = requests;
    const dataDir = join(tmp.path, 'rebind');
    await expect(
      fetchUrlToStore(`http://localhost:${port}/data.jsonl`, { dataDir, maxBytes: 1 << 20, allowPrivate: false }),
    ).rejects.toMatchObject({
      code: 'url_not_allowed',
      message: expect.stringMatching(/localhost resolves to .*loopback/),
    });
    expect(requests).toBe(before);
    expect(await files(dataDir)).toEqual([]);
  });

  it('refuses cloud metadata addresses even when private addresses are allowed', async () => {
    await expect(
      fetchUrlToStore('http://169.254.169.254/latest/meta-data/', {
        dataDir: join(tmp.path, 'meta'),
        maxBytes: 1 << 20,
        allowPrivate: true,
      }),
    ).rejects.toMatchObject({ code: 'url_not_allowed', message: expect.stringContaining('metadata') });
    for (const url of ['http://[64:ff9b::a9fe:a9fe]/latest/meta-data/', 'http://[::169.254.169.254]/latest/meta-data/']) {
      await expect(
        fetchUrlToStore(url, { dataDir: join(tmp.path, 'meta'), maxBytes: 1 << 20, allowPrivate: true }),
        url,
      ).rejects.toMatchObject({ code: 'url_not_allowed', message: expect.stringContaining('metadata') });
    }
  });

  it('refuses loopback written as IPv4-compatible IPv6 when private addresses are not allowed', async () => {
    const before = requests;
    await expect(
      fetchUrlToStore(`http://[::127.0.0.1]:${port}/data.jsonl`, {
        dataDir: join(tmp.path, 'compat'),
        maxBytes: 1 << 20,
        allowPrivate: false,
      }),
    ).rejects.toMatchObject({ code: 'url_not_allowed', message: expect.stringContaining('loopback') });
    expect(requests).toBe(before);
  });

  it('decompresses gzip bodies and applies the byte limit to the decompressed file', async () => {
    const stored = await fetchUrlToStore(`http://127.0.0.1:${port}/gzip`, {
      dataDir: join(tmp.path, 'gzip'),
      maxBytes: 1 << 20,
      allowPrivate: true,
    });
    expect(stored.sha256).toBe(createHash('sha256').update(BODY).digest('hex'));
    const dataDir = join(tmp.path, 'bomb');
    await expect(
      fetchUrlToStore(`http://127.0.0.1:${port}/bomb`, { dataDir, maxBytes: 1 << 20, allowPrivate: true }),
    ).rejects.toMatchObject({ code: 'file_too_large' });
    expect(await files(dataDir)).toEqual([]);
  });

  it.each(Object.keys(BROKEN))('refuses a corrupt compressed body (%s) with content_decoding_failed, leaving nothing', async (path) => {
    const dataDir = join(tmp.path, `broken${path.replace(/\//g, '-')}`);
    await expect(
      fetchUrlToStore(`http://127.0.0.1:${port}${path}`, { dataDir, maxBytes: 1 << 20, allowPrivate: true }),
    ).rejects.toMatchObject({
      code: 'content_decoding_failed',
      message: expect.stringMatching(
        new RegExp(`^the ${BROKEN[path]![0]} body of http://127\\.0\\.0\\.1:\\d+${path} is corrupt or cut short`),
      ),
    });
    expect(await files(dataDir)).toEqual([]);
  });

  it('reports a body cut off by the server as fetch_failed, leaving nothing', async () => {
    const dataDir = join(tmp.path, 'cut');
    await expect(fetchUrlToStore(`http://127.0.0.1:${port}/cut`, { dataDir, maxBytes: 1 << 20, allowPrivate: true })).rejects.toMatchObject(
      { code: 'fetch_failed' },
    );
    expect(await files(dataDir)).toEqual([]);
  });
});
