/**
 * The servers bench/foundation-http.ts measures, each in its own process so the load
 * generator and the server under test never share an event loop.
 *
 *   tsx bench/foundation-http-server.ts app    the real app (api role) on port 0: PGlite in a
 *                                              temp folder; one account and one
 *                                              fine-tunable model; prints {"url","apiKey"}
 *   tsx bench/foundation-http-server.ts bare   node:http answering every request with the JSON
 *                                              body read from stdin; prints {"url"}
 *
 * Either stops on SIGTERM.
 */
import fs from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';

async function readStdin(): Promise<string> {
  let text = '';
  for await (const chunk of process.stdin) text += chunk;
  return text;
}

async function bare(): Promise<void> {
  const body = Buffer.from(await readStdin());
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': body.length });
    res.end(body);
  });
  server.keepAliveTimeout = 72_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` })}\n`);
  process.once('SIGTERM', () => {
    server.closeAllConnections();
    server.close(() => process.exit(0));
  });
}

async function app(): Promise<void> {
  // Imported here so the bare process loads none of the app.
  const { buildApp } = await import('../src/app.js');
  const { loadConfig } = await import('../src/config.js');
  const { createLogger } = await import('../src/log.js');
  const { tinyModelFolder } = await import('../src/dev/tiny-model-folder.js');
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'tuneloop-bench-'));
  // Embedded PGlite always (the empty env hides DATABASE_URL): the bench writes an account
  // and a model, which must never land in a real database.
  const config = loadConfig({ dataDir, host: '127.0.0.1', port: 0, logLevel: 'silent' }, {});
  const built = await buildApp({ config, api: true, worker: false, log: createLogger('silent') });
  await built.start();
  const { apiKey } = await built.services.accounts.createAccount({ name: 'bench', initialBalanceMicros: 1_000_000n });
  await built.services.catalog.importModel({ dir: await tinyModelFolder(), id: 'tiny-bench', fineTunable: true });
  process.stdout.write(`${JSON.stringify({ url: built.url, apiKey })}\n`);
  process.once('SIGTERM', () => {
    built
      .stop()
      .then(() => fs.rm(dataDir, { recursive: true, force: true }))
      .then(
        () => process.exit(0),
        () => process.exit(1),
      );
  });
}

const mode = process.argv[2];
if (mode === 'bare') await bare();
else if (mode === 'app') await app();
else {
  process.stderr.write('usage: foundation-http-server.ts app|bare\n');
  process.exit(2);
}
