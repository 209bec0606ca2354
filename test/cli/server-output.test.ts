import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { stripVTControlCharacters } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN } from '../../src/dev/tuneloop-process.js';
import { cliEnv, oneLineError, runCli } from '../helpers/cli.js';
import { migratedDataDir } from '../helpers/data-dir.js';

/**
 * What `tuneloop serve` prints, as a person at a terminal or a log collector sees it.
 * Engine-independent (the output does not depend on the database): embedded PGlite only.
 */

/**
 * Runs `tuneloop serve` — in a pseudo-terminal (util-linux `script`) when `tty` is set — until
 * it logs that it listens, stops it, and returns its stdout lines (colours removed).
 */
async function serveOutput(dataDir: string, env: NodeJS.ProcessEnv, tty: boolean): Promise<string[]> {
  const args = [BIN, 'serve', '--port', '0', '--host', '127.0.0.1', '--data-dir', dataDir];
  const command = tty
    ? spawn('script', ['-qfec', [process.execPath, ...args].map((a) => `'${a}'`).join(' '), '/dev/null'], {
        env: cliEnv({ LOG_LEVEL: 'info', ...env }),
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true,
      })
    : spawn(process.execPath, args, { env: cliEnv({ LOG_LEVEL: 'info', ...env }), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let out = '';
  let err = '';
  command.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<void>((resolve) => command.once('exit', () => resolve()));
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`serve did not listen in time; stdout: ${out}; stderr: ${err}`)), 100_000);
      command.stdout!.setEncoding('utf8').on('data', (d: string) => {
        out += d;
        if (out.includes('tuneloop api listening')) {
          clearTimeout(timer);
          resolve();
        }
      });
      void exited.then(() => reject(new Error(`serve exited early; stdout: ${out}; stderr: ${err}`)));
    });
  } finally {
    // The whole group: `script` and the node process in its terminal.
    process.kill(-command.pid!, 'SIGTERM');
    await exited;
  }
  return stripVTControlCharacters(out)
    .split(/\r?\n/)
    .filter((line) => line.trim() !== '');
}

describe('tuneloop serve: what it prints', () => {
  let dataDir: string;
  beforeAll(async () => {
    dataDir = await migratedDataDir('tuneloop-output-');
  });
  afterAll(async () => fs.rm(dataDir, { recursive: true, force: true }));

  it('on a terminal: readable lines, not JSON', async () => {
    const lines = await serveOutput(dataDir, { LOG_FORMAT: '' }, true);
    const listening = lines.find((l) => l.includes('tuneloop api listening'))!;
    expect(listening).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: tuneloop api listening/);
    expect(lines.filter((l) => l.startsWith('{'))).toEqual([]);
  });

  it('LOG_FORMAT=json on a terminal: every line is a JSON object', async () => {
    const lines = await serveOutput(dataDir, { LOG_FORMAT: 'json' }, true);
    const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(parsed.find((l) => l.msg === 'tuneloop api listening')).toMatchObject({ level: 30, url: expect.stringMatching(/^http:/) });
  });

  it('without a terminal: JSON lines; LOG_FORMAT=pretty forces readable ones', async () => {
    const plain = await serveOutput(dataDir, { LOG_FORMAT: '' }, false);
    expect(plain.map((l) => (JSON.parse(l) as { msg: string }).msg)).toContain('tuneloop api listening');
    const pretty = await serveOutput(dataDir, { LOG_FORMAT: 'pretty' }, false);
    expect(pretty.some((l) => /^\[[\d:.]+\] INFO: tuneloop api listening/.test(l))).toBe(true);
  });

  it('refuses an unknown LOG_FORMAT in one line', async () => {
    const result = await runCli(['serve', '--port', '0', '--data-dir', dataDir], { env: { LOG_FORMAT: 'xml' } });
    expect(oneLineError(result)).toBe('tuneloop: LOG_FORMAT must be "pretty" or "json", got "xml"');
  });

  it('a port in use: one line naming the port and what to do, no stack trace, exit 1, the data folder released', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as AddressInfo).port;
    try {
      for (const how of [
        { args: ['--port', String(port)], env: {} },
        { args: [], env: { PORT: String(port) } },
      ]) {
        const result = await runCli(['start', ...how.args, '--host', '127.0.0.1', '--data-dir', dataDir], {
          env: { LOG_FORMAT: 'json', ...how.env },
          timeoutMs: 100_000,
        });
        expect(oneLineError(result)).toBe(
          `tuneloop: port ${port} is already in use (another tuneloop?): stop that process, or choose a free port with --port N or PORT=N`,
        );
        expect(result.code).toBe(1);
        expect(result.stdout).not.toMatch(/WebSocket|EADDRINUSE/);
      }
      // It stopped cleanly: the embedded database is free for the next command.
      const migrate = await runCli(['migrate', '--data-dir', dataDir]);
      expect(migrate.code).toBe(0);
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });
});
