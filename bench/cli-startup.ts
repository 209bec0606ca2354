/**
 * Start-up of the built CLI (bin/tuneloop.js → dist/) next to the same CLI from the
 * TypeScript sources through tsx (bin/tuneloop-dev.js), in interleaved rounds of the same
 * run: `tuneloop --help`, and `tuneloop serve` until it listens (an existing, migrated
 * embedded database). Prints figures and ratios; asserts nothing (recorded figures:
 * docs/PERFORMANCE.md). Builds dist/ first when the sources changed.
 *
 *   npx tsx bench/cli-startup.ts [--rounds N]
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '5' } } });
const rounds = Number(values.rounds);
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BINS = { dist: path.join(ROOT, 'bin', 'tuneloop.js'), sources: path.join(ROOT, 'bin', 'tuneloop-dev.js') };
const env = { ...process.env, LOG_LEVEL: 'info', LOG_FORMAT: 'json', DATABASE_URL: '' };

/** Milliseconds from spawn until `done(stdout so far)` says so (then the process is stopped) or it exits. */
function timed(bin: string, args: string[], done?: (out: string) => boolean): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, [bin, ...args], { env, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    let at: number | undefined;
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      if (at === undefined && done?.(out)) {
        at = performance.now() - started;
        child.kill('SIGTERM');
      }
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      if (done && at === undefined) reject(new Error(`${bin} ${args.join(' ')} exited ${code} early:\n${out}`));
      else resolve(at ?? performance.now() - started);
    });
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

execFileSync(process.execPath, [path.join(ROOT, 'scripts', 'build.mjs'), '--if-changed'], { stdio: 'inherit' });
const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'tuneloop-bench-startup-'));
try {
  execFileSync(process.execPath, [BINS.dist, 'migrate', '--data-dir', dataDir], { env, stdio: 'ignore' });
  const results: Record<string, Record<keyof typeof BINS, number[]>> = {
    help: { dist: [], sources: [] },
    'serve until listening': { dist: [], sources: [] },
  };
  for (let round = 0; round < rounds; round++) {
    for (const variant of round % 2 ? (['sources', 'dist'] as const) : (['dist', 'sources'] as const)) {
      results.help![variant].push(await timed(BINS[variant], ['--help']));
      results['serve until listening']![variant].push(
        await timed(BINS[variant], ['serve', '--port', '0', '--host', '127.0.0.1', '--data-dir', dataDir], (out) =>
          out.includes('tuneloop api listening'),
        ),
      );
    }
  }
  console.log(`cli start-up, median of ${rounds} interleaved rounds (load average ${os.loadavg()[0]!.toFixed(1)})`);
  for (const [name, r] of Object.entries(results)) {
    const dist = median(r.dist);
    const sources = median(r.sources);
    console.log(
      `  ${name.padEnd(22)} dist ${dist.toFixed(0).padStart(6)} ms   sources (tsx) ${sources.toFixed(0).padStart(6)} ms   dist/sources ${(dist / sources).toFixed(2)}`,
    );
  }
} finally {
  await fs.rm(dataDir, { recursive: true, force: true });
}
