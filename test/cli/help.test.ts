import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildProgram } from '../../src/cli/program.js';
import { makeTempDir } from '../helpers/app.js';
import { mapLimit, runCli } from '../helpers/cli.js';
import type { CliResult } from '../helpers/cli.js';
import { migratedDataDir } from '../helpers/data-dir.js';

/**
 * `--help` on every command prints its usage, exits 0 and does nothing else: the data folder
 * stays byte-for-byte the same, no server starts, no request reaches the API, no login is
 * saved. Each command gets the arguments that would make it act, so a help flag that
 * arrived too late would show. Engine-independent (nothing may touch a database).
 */

/** Every command of the tree as its words ("jobs watch"), groups included, help itself left out. */
function commandPaths(cmd: Command, prefix: string[] = []): string[][] {
  return cmd.commands.filter((c) => c.name() !== 'help').flatMap((c) => [[...prefix, c.name()], ...commandPaths(c, [...prefix, c.name()])]);
}

/** The command at `words` ("jobs", "watch") under `root`. */
function commandAt(root: Command, words: string[]): Command {
  return words.reduce((cmd, word) => cmd.commands.find((c) => c.name() === word)!, root);
}

/** Path, size, mode and sha256 of every file under `dir`. */
async function snapshot(dir: string): Promise<string[]> {
  const entries = await fs.readdir(dir, { recursive: true, withFileTypes: true });
  const lines = await Promise.all(
    entries.map(async (e) => {
      const file = path.join(e.parentPath, e.name);
      const stat = await fs.lstat(file);
      const digest = stat.isFile()
        ? createHash('sha256')
            .update(await fs.readFile(file))
            .digest('hex')
        : e.isDirectory()
          ? 'dir'
          : 'other';
      return `${path.relative(dir, file)} ${stat.size} ${stat.mode.toString(8)} ${stat.mtimeMs} ${digest}`;
    }),
  );
  return lines.sort();
}

describe('--help on every command', () => {
  let dataDir: string;
  let cwd: string;
  let configHome: string;
  let api: http.Server;
  let apiUrl: string;
  let port: number;
  const requests: string[] = [];

  beforeAll(async () => {
    dataDir = await migratedDataDir('tuneloop-help-');
    cwd = await makeTempDir('tuneloop-help-cwd-');
    configHome = await makeTempDir('tuneloop-help-config-');
    await fs.writeFile(path.join(cwd, 'data.jsonl'), '{"messages": []}\n');
    // A stand-in API that records whatever reaches it (nothing may).
    api = http.createServer((req, res) => {
      requests.push(`${req.method} ${req.url}`);
      res.writeHead(500).end();
    });
    await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve));
    apiUrl = `http://127.0.0.1:${(api.address() as AddressInfo).port}`;
    // A free port for start/serve to (not) listen on.
    const probe = net.createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    port = (probe.address() as AddressInfo).port;
    await new Promise((resolve) => probe.close(resolve));
  });

  afterAll(async () => {
    await new Promise((resolve) => api?.close(resolve));
    for (const dir of [dataDir, cwd, configHome]) if (dir) await fs.rm(dir, { recursive: true, force: true });
  });

  it('prints usage and exits 0, changing nothing', { timeout: 900_000 }, async () => {
    // The arguments each command acts on: with them and without --help, each would do its job.
    const acting: Record<string, string[]> = {
      start: ['--demo', '--port', String(port), '--host', '127.0.0.1', '--data-dir', dataDir],
      serve: ['--port', String(port), '--host', '127.0.0.1', '--data-dir', dataDir],
      worker: ['--data-dir', dataDir],
      migrate: ['--data-dir', dataDir],
      'accounts create': ['--name', 'x', '--balance', '5', '--data-dir', dataDir],
      'accounts topup': ['acct_x', '--amount', '5', '--data-dir', dataDir],
      'models import': [cwd, '--id', 'm', '--data-dir', dataDir],
      'models init-tiny': ['--id', 'm', '--data-dir', dataDir],
      'models list': [],
      'datasets list': ['--status', 'READY'],
      'jobs list': ['--status', 'RUNNING'],
      account: [],
      'datasets upload': ['data.jsonl'],
      'datasets show': ['ds_x'],
      'jobs start': ['--model', 'm', '--dataset', 'ds_x', '--yes', '--watch'],
      'jobs show': ['ftjob_x'],
      'jobs cancel': ['ftjob_x'],
      'jobs pause': ['ftjob_x'],
      'jobs resume': ['ftjob_x'],
      'jobs watch': ['ftjob_x'],
      deploy: ['m'],
      chat: ['m', '--message', 'hi'],
      login: ['--url', 'http://127.0.0.1:9', '--api-key', 'tl_x'],
    };
    const program = buildProgram({ outcome: 0 });
    const paths = commandPaths(program);
    // Every command of the tree that acts (each one without subcommands) is given its
    // acting arguments here — a command added later fails this until it is — and, as the
    // contract says, takes --data-dir.
    const leaves = paths.filter((words) => commandAt(program, words).commands.length === 0).map((words) => words.join(' '));
    expect(leaves.sort()).toEqual(Object.keys(acting).sort());
    for (const leaf of leaves) {
      expect(
        commandAt(program, leaf.split(' ')).options.map((o) => o.long),
        leaf,
      ).toContain('--data-dir');
    }
    expect(paths.map((p) => p.join(' '))).toEqual(expect.arrayContaining(['accounts', 'jobs', 'datasets', 'models']));

    // [arguments, the command whose usage they must print]
    const invocations: Array<[string[], string[]]> = [
      [['--help'], []],
      [['-h'], []],
      [['help'], []],
      [['start', '--demo', '-h', '--data-dir', dataDir], ['start']],
    ];
    for (const words of paths) {
      const args = acting[words.join(' ')];
      // A client command given the data folder would read the server's URL from it (and must not, under --help).
      const withDir = args && !args.includes('--data-dir') ? [...args, '--data-dir', dataDir] : (args ?? []);
      invocations.push([[...words, ...withDir, '--help'], words]);
      invocations.push([['help', ...words], words]);
    }
    const before = await snapshot(dataDir);
    const env = { TUNELOOP_URL: apiUrl, TUNELOOP_API_KEY: 'tl_x', XDG_CONFIG_HOME: configHome, TUNELOOP_DATA_DIR: dataDir };
    const results = await mapLimit(invocations, 3, ([args]) => runCli(args, { env, cwd, timeoutMs: 120_000 }));

    results.forEach((result: CliResult, i) => {
      const [args, words] = invocations[i]!;
      const label = args.join(' ');
      expect(result.code, `${label}: ${result.stderr}`).toBe(0);
      expect(result.stderr, label).toBe('');
      expect(result.stdout, label).toMatch(new RegExp(`^Usage: tuneloop ${words.map((w) => `${w} `).join('')}`));
    });
    // The top-level help names every command and how to reach the server.
    expect(results[0]!.stdout).toMatch(/Client commands[\s\S]*jobs[\s\S]*chat[\s\S]*TUNELOOP_API_KEY/);

    expect(await snapshot(dataDir)).toEqual(before);
    expect(await fs.readdir(cwd)).toEqual(['data.jsonl']);
    expect(await fs.readdir(configHome)).toEqual([]);
    expect(requests).toEqual([]);
    // No server was left listening on the port start/serve were given.
    const free = net.createServer();
    await new Promise<void>((resolve, reject) => free.once('error', reject).listen(port, '127.0.0.1', resolve));
    await new Promise((resolve) => free.close(resolve));
  });
});
