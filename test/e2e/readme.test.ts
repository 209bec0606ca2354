import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN } from '../../src/dev/tuneloop-process.js';
import { PACKAGE_ROOT } from '../../src/package-root.js';
import { makeTempDir } from '../helpers/app.js';
import { cliEnv, listeningUrl, startServerProcess } from '../helpers/cli.js';
import type { ServerProcess } from '../helpers/cli.js';
import { createTestDatabase, engines } from '../helpers/db.js';

/**
 * The README's walkthroughs run as printed, in a fresh folder, against `tuneloop start
 * --demo` on each engine: the quick start's client commands (jobs start, watch, chat), the
 * curl walkthrough (upload, estimate, start, server-sent events, deploy, chat) and the
 * GraphQL one after it. The only change made to the text is the server's port (the
 * README's 4000 may be taken); `npx tuneloop` runs this checkout's sources. Needs bash,
 * curl and jq (scripts/setup.sh installs jq).
 */

/** The ```sh blocks of the README section under `heading` (up to the next heading of its level or above). */
function shellBlocks(readme: string, heading: string): string[] {
  const level = heading.split(' ')[0]!.length;
  const blocks: string[] = [];
  let inSection = false;
  // The lines of the fenced block being read: collected for ```sh, undefined for any other fence.
  let fence: { lines?: string[] } | null = null;
  for (const line of readme.split('\n')) {
    if (fence) {
      if (line.startsWith('```')) {
        if (inSection && fence.lines) blocks.push(`${fence.lines.join('\n')}\n`);
        fence = null;
      } else fence.lines?.push(line);
    } else if (line.startsWith('```')) {
      fence = line === '```sh' ? { lines: [] } : {};
    } else if (/^#{1,6} /.test(line)) {
      if (line === heading) inSection = true;
      else if (inSection && line.split(' ')[0]!.length <= level) break;
    }
  }
  if (!inSection) throw new Error(`README has no section "${heading}"`);
  return blocks;
}

interface Shell {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `script` in bash in `cwd`, `npx tuneloop` being this checkout's CLI. */
function bash(script: string, cwd: string, env: NodeJS.ProcessEnv, input = ''): Promise<Shell> {
  const preamble = `npx() { if [ "$1" = tuneloop ]; then shift; "${process.execPath}" "${BIN}" "$@"; else command npx "$@"; fi; }\n`;
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', preamble + script], { cwd, env: cliEnv(env), stdio: ['pipe', 'pipe', 'pipe'] });
    child.stdin.end(input);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** A user's own dataset for the curl walkthrough's `my-data.jsonl` (made up, not the demo's). */
function myData(): string {
  const lines: string[] = [];
  for (let i = 1; i <= 12; i++) {
    lines.push(
      JSON.stringify({
        messages: [
          { role: 'user', content: `What is the code of locker ${i}?` },
          { role: 'assistant', content: `Locker ${i} opens with ${(i * 37) % 100}.` },
        ],
      }),
    );
  }
  return `${lines.join('\n')}\n`;
}

describe.each(engines())('the README walkthroughs, as printed (%s)', (engine) => {
  let readme: string;
  let cwd: string;
  let server: ServerProcess;
  let url: string;
  let env: NodeJS.ProcessEnv;
  let drop: (() => Promise<void>) | undefined;
  /** A README block with the server's port in place of 4000. */
  const asPrinted = (block: string) => block.replaceAll('http://127.0.0.1:4000', url);

  beforeAll(async () => {
    readme = await fs.readFile(path.join(PACKAGE_ROOT, 'README.md'), 'utf8');
    cwd = await makeTempDir('tuneloop-readme-');
    const database = engine === 'postgres' ? await createTestDatabase('readme') : undefined;
    drop = database?.drop;
    env = {
      XDG_CONFIG_HOME: path.join(cwd, 'config'),
      TUNELOOP_URL: '',
      TUNELOOP_API_KEY: '',
      ...(database ? { DATABASE_URL: database.url } : {}),
    };
    // `npx tuneloop start --demo` in this folder (its data folder: ./.tuneloop), on a free port.
    server = startServerProcess(['start', '--demo', '--port', '0', '--host', '127.0.0.1'], { env, cwd });
    url = await listeningUrl(server);
    for (;;) {
      if (
        await fs.stat(path.join(cwd, '.tuneloop', 'server.json')).then(
          () => true,
          () => false,
        )
      )
        break;
      if (server.child.exitCode !== null) throw new Error(`start exited: ${server.stderr()}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }, 300_000);

  afterAll(async () => {
    await server?.kill();
    await drop?.();
    if (cwd) await fs.rm(cwd, { recursive: true, force: true });
  });

  it('quick start: login with the demo key, then jobs start, jobs watch and chat', { timeout: 900_000 }, async () => {
    const [install, next] = shellBlocks(readme, '## Quick start');
    expect(install).toMatch(/npx tuneloop start --demo/);
    // Without a terminal, start --demo prints this login line to run (the README says so).
    const demo = JSON.parse(await fs.readFile(path.join(cwd, '.tuneloop', 'demo.json'), 'utf8')) as { apiKey: string };
    const login = await bash(`npx tuneloop login --url ${url} --api-key ${demo.apiKey}`, cwd, env);
    expect(login.code, login.stderr).toBe(0);

    // chat reads its messages from standard input off a terminal: one question.
    const run = await bash(`set -e\n${asPrinted(next!)}`, cwd, env, 'What is 2 + 2?\n');
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/SUCCEEDED in .*\nfine-tuned model: ft:tiny-demo:/);
    // The chat's answer is the last line: a non-empty answer from the fine-tuned model.
    const answer = run.stdout.trim().split('\n').at(-1)!;
    expect(answer).not.toMatch(/^(chat with it|fine-tuned model):/);
    expect(answer.trim()).not.toBe('');
  });

  it('curl, then GraphQL: upload, estimate = start, live events, deploy, chat; the same input for estimate and start', {
    timeout: 900_000,
  }, async () => {
    const [curl] = shellBlocks(readme, '### Fine-tune with curl');
    const [graphql] = shellBlocks(readme, '### The same in GraphQL');
    await fs.writeFile(path.join(cwd, 'my-data.jsonl'), myData());
    // The GraphQL walkthrough goes on in the same shell (it uses $URL, $AUTH and $DATASET).
    const run = await bash(`${asPrinted(curl!)}\necho '--- graphql'\n${asPrinted(graphql!)}`, cwd, env);
    expect(run.code, run.stderr).toBe(0);
    const [rest, gql] = run.stdout.split('\n--- graphql\n');

    // The dataset's report, then the estimate, both as jq prints them.
    expect(rest).toMatch(/"status": "READY",\s*"examples": 12,\s*"errors": \[\]/);
    expect(rest).toMatch(/"epochs": \d+,\s*"billableTokens": \d+,\s*"cost": "[\d.]+",\s*"allowedToProceed": true/);
    // The event stream ends with the job, SUCCEEDED; the fine-tuned model answers.
    expect(rest).toMatch(/"status":"SUCCEEDED"/);
    const answer = rest!.trim().split('\n').at(-1)!;
    expect(answer).not.toMatch(/^(null|\{)/);

    // GraphQL: the estimate, then the subscription over SSE to SUCCEEDED and its completion.
    expect(gql).toMatch(/"estimateFineTuneCost": \{\s*"epochs": \d+,[\s\S]*"allowedToProceed": true/);
    expect(gql).toMatch(/"kind":"STATUS","status":"SUCCEEDED"[\s\S]*event: complete/);
    expect(run.stderr).toBe('');
  });
});
