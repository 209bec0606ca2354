/**
 * HTTP overhead of the foundation: authenticated `GET /api/models?fineTunable=true` and
 * the GraphQL `fineTunableModels` query, next to a bare `node:http` endpoint that answers
 * the same JSON bytes, all measured in this run on this machine. Prints figures and
 * ratios; asserts nothing and sets no target (recorded figures: docs/PERFORMANCE.md).
 *
 *   npx tsx bench/foundation-http.ts [--duration S] [--connections N] [--rounds N]
 *
 * Each server runs in its own process (bench/foundation-http-server.ts) and autocannon
 * drives it from this one, so on a 2-core machine the server gets one core and the load
 * generator the other. Targets are measured in short interleaved rounds (bare, REST,
 * GraphQL, bare, …): shared VMs change speed from one second to the next (the same bare
 * endpoint ran at 17k and 37k req/s within minutes), so each round's ratios compare
 * neighbours in time, and the figures printed are medians over rounds — of the ratios
 * themselves, not ratios of medians. The spread (min–max of the per-round ratios) is printed
 * too, and so is the CPU time each server spent per request, which drifts less than req/s.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '3' },
    connections: { type: 'string', default: '32' },
    rounds: { type: 'string', default: '7' },
  },
});
const duration = Number(values.duration);
const connections = Number(values.connections);
const rounds = Number(values.rounds);

const here = path.dirname(fileURLToPath(import.meta.url));
const serverScript = path.join(here, 'foundation-http-server.ts');

interface Started {
  child: ChildProcess;
  info: { url: string; apiKey?: string };
}

/** Spawns a server process and waits for the JSON line it prints once listening. */
function startServer(mode: 'app' | 'bare', stdin?: string): Promise<Started> {
  return new Promise((resolve, reject) => {
    // node --import tsx (not the tsx CLI, which runs a second process): pid is the server's.
    const child = spawn(process.execPath, ['--import', 'tsx', serverScript, mode], {
      stdio: ['pipe', 'pipe', 'inherit'],
      env: { ...process.env, NODE_ENV: 'production' },
    });
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line) resolve({ child, info: JSON.parse(line) });
    });
    child.on('exit', (code) => reject(new Error(`${mode} server exited with ${code} before listening`)));
    child.stdin!.end(stdin ?? '');
  });
}

function stopServer(s: Started): Promise<void> {
  return new Promise((resolve) => {
    s.child.once('exit', () => resolve());
    s.child.kill('SIGTERM');
  });
}

interface Target {
  name: string;
  url: string;
  method: 'GET' | 'POST';
  headers: Record<string, string>;
  body?: string;
  /** What a correct answer contains; checked once before measuring. */
  expect: string;
  /** The server process, for its CPU time. */
  pid: number | undefined;
}

interface Figures {
  rps: number;
  p99: number;
  p50: number;
  errors: number;
  /** CPU time the server process spent per request: steadier than req/s on a busy machine. */
  cpuUs: number;
}

/** user + system CPU seconds of a process so far (Linux /proc; NaN elsewhere). */
function cpuSeconds(pid: number | undefined): number {
  try {
    const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
  } catch {
    return Number.NaN;
  }
}

async function load(target: Target, seconds: number): Promise<Figures> {
  const cpuBefore = cpuSeconds(target.pid);
  const result = await autocannon({
    url: target.url,
    method: target.method,
    headers: target.headers,
    ...(target.body ? { body: target.body } : {}),
    connections,
    duration: seconds,
    pipelining: 1,
  });
  return {
    rps: result.requests.average,
    p99: result.latency.p99,
    p50: result.latency.p50,
    errors: result.errors + result.non2xx + result.timeouts,
    cpuUs: ((cpuSeconds(target.pid) - cpuBefore) * 1e6) / Math.max(1, result.requests.total),
  };
}

async function check(target: Target): Promise<string> {
  const response = await fetch(target.url, {
    method: target.method,
    headers: target.headers,
    ...(target.body ? { body: target.body } : {}),
  });
  const text = await response.text();
  if (response.status !== 200 || !text.includes(target.expect)) {
    throw new Error(`${target.name} answered ${response.status}: ${text.slice(0, 300)}`);
  }
  return text;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const app = await startServer('app');
let bare: Started | undefined;
try {
  const auth = { authorization: `Bearer ${app.info.apiKey}` };
  const rest: Target = {
    name: 'REST GET /api/models',
    url: `${app.info.url}/api/models?fineTunable=true`,
    method: 'GET',
    headers: auth,
    expect: '"tiny-bench"',
    pid: app.child.pid,
  };
  const graphql: Target = {
    name: 'GraphQL fineTunableModels',
    url: `${app.info.url}/graphql`,
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify({ query: '{ fineTunableModels { id fineTunable architecture contextLength pricePerMillionTrainingTokens } }' }),
    expect: '"tiny-bench"',
    pid: app.child.pid,
  };
  // The bare endpoint answers the very bytes REST answers, so serialization size is equal.
  bare = await startServer('bare', await check(rest));
  await check(graphql);
  const bareTarget: Target = {
    name: 'bare node:http',
    url: bare.info.url,
    method: 'GET',
    headers: {},
    expect: '"tiny-bench"',
    pid: bare.child.pid,
  };
  await check(bareTarget);

  const targets = [bareTarget, rest, graphql];
  const runs = new Map<string, Figures[]>(targets.map((t) => [t.name, []]));
  // Warm-up: JIT, connection pools, caches.
  for (const t of targets) await load(t, 2);
  for (let round = 0; round < rounds; round++) {
    for (const t of targets) runs.get(t.name)!.push(await load(t, duration));
  }

  const bareRuns = runs.get(bareTarget.name)!;
  const summary = targets.map((t) => {
    const figures = runs.get(t.name)!;
    // Each round's ratio to the bare endpoint of the same round.
    const rpsRatios = figures.map((f, i) => f.rps / bareRuns[i]!.rps);
    const p99Ratios = figures.map((f, i) => f.p99 / Math.max(bareRuns[i]!.p99, 0.001));
    return {
      name: t.name,
      rps: median(figures.map((f) => f.rps)),
      p50: median(figures.map((f) => f.p50)),
      p99: median(figures.map((f) => f.p99)),
      errors: figures.reduce((a, f) => a + f.errors, 0),
      cpuUs: median(figures.map((f) => f.cpuUs)),
      rpsRatio: median(rpsRatios),
      rpsRatioMin: Math.min(...rpsRatios),
      rpsRatioMax: Math.max(...rpsRatios),
      p99Ratio: median(p99Ratios),
    };
  });
  const pct = (x: number) => `${(100 * x).toFixed(0)}`;
  process.stdout.write(
    `\nfoundation-http: ${connections} connections, ${rounds} rounds × ${duration} s, medians over rounds (node ${process.version})\n\n`,
  );
  process.stdout.write(
    `${'target'.padEnd(28)}${'req/s'.padStart(8)}${'p50 ms'.padStart(8)}${'p99 ms'.padStart(8)}${'req/s vs bare'.padStart(15)}${'(min–max)'.padStart(11)}${'p99 vs bare'.padStart(13)}${'CPU µs/req'.padStart(12)}${'CPU vs bare'.padStart(13)}${'errors'.padStart(8)}\n`,
  );
  const bareCpu = summary[0]!.cpuUs;
  for (const s of summary) {
    process.stdout.write(
      `${s.name.padEnd(28)}${s.rps.toFixed(0).padStart(8)}${s.p50.toFixed(1).padStart(8)}${s.p99.toFixed(1).padStart(8)}${`${(100 * s.rpsRatio).toFixed(1)} %`.padStart(15)}${`${pct(s.rpsRatioMin)}–${pct(s.rpsRatioMax)} %`.padStart(11)}${`${s.p99Ratio.toFixed(2)}×`.padStart(13)}${s.cpuUs.toFixed(0).padStart(12)}${`${((100 * bareCpu) / s.cpuUs).toFixed(1)} %`.padStart(13)}${String(s.errors).padStart(8)}\n`,
    );
  }
  process.stdout.write(
    '\n"CPU vs bare" is the bare server\'s CPU per request over this one\'s: the req/s ratio it would reach if the server were the only limit.\n',
  );
  process.stdout.write('\n');
} finally {
  if (bare) await stopServer(bare);
  await stopServer(app);
}
