import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTempDir } from '../helpers/app.js';
import { migratedDataDir } from '../helpers/data-dir.js';
import { listeningUrl, oneLineError, runCli, startServerProcess } from '../helpers/cli.js';
import type { ServerProcess } from '../helpers/cli.js';
import { onnxModelFolder } from '../helpers/inference.js';
import { chatLine } from '../helpers/temp-dir.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const run = promisify(execFile);

/**
 * A copy of what production runs — bin/, dist/, package.json, trainer/ — whose node_modules
 * holds every installed package except tsx: nothing in it can load TypeScript, so whatever
 * starts there (the CLI, its worker threads) starts from the built JavaScript alone.
 */
async function productionTree(opts: { withDist: boolean }): Promise<string> {
  const tree = await makeTempDir('tuneloop-dist-');
  await fs.cp(path.join(ROOT, 'bin'), path.join(tree, 'bin'), { recursive: true });
  await fs.cp(path.join(ROOT, 'package.json'), path.join(tree, 'package.json'));
  // Copied, not linked: node resolves a module from its real path, which would find tsx again.
  if (opts.withDist) await fs.cp(path.join(ROOT, 'dist'), path.join(tree, 'dist'), { recursive: true });
  await fs.symlink(path.join(ROOT, 'trainer'), path.join(tree, 'trainer'));
  await fs.mkdir(path.join(tree, 'node_modules'));
  for (const name of await fs.readdir(path.join(ROOT, 'node_modules'))) {
    if (name === 'tsx' || name.startsWith('.')) continue;
    await fs.symlink(path.join(ROOT, 'node_modules', name), path.join(tree, 'node_modules', name));
  }
  return tree;
}

describe('the production build (dist/)', () => {
  let tree: string;
  let dataDir: string;
  let server: ServerProcess | undefined;

  beforeAll(async () => {
    const build = await run(process.execPath, ['scripts/build.mjs'], { cwd: ROOT });
    expect(build.stdout).toMatch(/^built \d+ files into dist\/ in [\d.]+ s$/m);
    tree = await productionTree({ withDist: true });
    dataDir = await migratedDataDir('tuneloop-dist-data-');
  });

  afterAll(async () => {
    await server?.kill();
    await fs.rm(tree, { recursive: true, force: true });
    await fs.rm(dataDir, { recursive: true, force: true });
  });

  it('holds the service and its migrations as JavaScript, and no development tooling', async () => {
    const files = (await fs.readdir(path.join(ROOT, 'dist'), { recursive: true })).map(String);
    expect(files).toContain(path.join('src', 'cli.js'));
    expect(files).toContain(path.join('src', 'inference', 'runtime', 'worker-main.js'));
    expect(files).toContain(path.join('migrations', 'index.js'));
    expect(files.filter((f) => f.endsWith('.ts'))).toEqual([]);
    expect(files.filter((f) => f.startsWith(path.join('src', 'dev')))).toEqual([]);
  });

  it('skips an unchanged build with --if-changed', async () => {
    const again = await run(process.execPath, ['scripts/build.mjs', '--if-changed'], { cwd: ROOT });
    expect(again.stdout).toBe('');
  });

  it('runs `tuneloop --help` from dist/ without tsx', async () => {
    const result = await runCli(['--help'], { bin: path.join(tree, 'bin', 'tuneloop.js') });
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^usage: tuneloop <command>/);
    expect(result.stderr).toBe('');
  });

  it('runs `tuneloop start` from dist/ without tsx: /healthz answers, SIGTERM stops it cleanly', async () => {
    server = startServerProcess(['start', '--port', '0', '--host', '127.0.0.1', '--data-dir', dataDir], {
      bin: path.join(tree, 'bin', 'tuneloop.js'),
    });
    const url = await listeningUrl(server);
    const health = await fetch(`${url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
    server.child.kill('SIGTERM');
    expect((await server.exited).code).toBe(0);
    expect(server.stderr()).toBe('');
  });

  it('starts worker threads from dist/ without tsx: dataset validation and the inference runtime', async () => {
    const jsonl = path.join(dataDir, 'workers.jsonl');
    // Two threads each take half the file; the bad line is in the second half.
    const lines = Array.from({ length: 200 }, (_, i) => (i === 149 ? '{"messages": [' : chatLine(i)));
    await fs.writeFile(jsonl, `${lines.join('\n')}\n`);
    await fs.cp(path.join(ROOT, 'test', 'fixtures', 'dist-workers.mjs'), path.join(tree, 'dist-workers.mjs'));
    const { stdout } = await run(process.execPath, [path.join(tree, 'dist-workers.mjs'), jsonl, await onnxModelFolder()], {
      cwd: tree,
    });
    const seen = JSON.parse(stdout.trim().split('\n').pop()!) as {
      tsx: string;
      examples: number;
      errors: Array<{ line: number; code: string }>;
      loaded: { provider: string; vocabSize: number };
    };
    expect(seen.tsx).toBe('absent');
    expect(seen.examples).toBe(200);
    expect(seen.errors.map((e) => [e.line, e.code])).toEqual([[150, 'invalid_json']]);
    expect(seen.loaded.provider).toBe('cpu');
    expect(seen.loaded.vocabSize).toBeGreaterThan(0);
  });

  it('bin/tuneloop.js without a build says how to build, in one line', async () => {
    const bare = await productionTree({ withDist: false });
    try {
      const result = await runCli(['--help'], { bin: path.join(bare, 'bin', 'tuneloop.js') });
      expect(oneLineError(result)).toMatch(/not built yet: run `npm run build` \(or `bash scripts\/setup\.sh`\)/);
      expect(result.code).toBe(1);
    } finally {
      await fs.rm(bare, { recursive: true, force: true });
    }
  });
});
