import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

// A data folder tells a client on the same machine which server runs on it: `tuneloop
// start` writes `<dataDir>/server.json` (its URL) once it listens and removes it when it
// stops cleanly; `start --demo` keeps the demo's key in `<dataDir>/demo.json`. With
// `--data-dir DIR` (or TUNELOOP_DATA_DIR) a client command needs nothing else (docs/cli.md).

/** The file `tuneloop start` writes in its data folder while it runs. */
export const SERVER_FILE = 'server.json';
/** The file `tuneloop start --demo` keeps the demo account's id and key in. */
export const DEMO_FILE = 'demo.json';

/** What server.json holds. */
export interface ServerFile {
  url: string;
  pid: number;
  hostname: string;
  startedAt: string;
}

/** What a data folder says about its server: the URL and, for a demo folder, the demo's key. */
export interface LocalServer {
  url: string;
  apiKey?: string;
}

/** Writes `<dataDir>/server.json` readable by its owner only, whole (a temporary file renamed). */
export async function writeServerFile(dataDir: string, url: string): Promise<void> {
  const file = path.join(dataDir, SERVER_FILE);
  const temp = `${file}.${process.pid}.tmp`;
  const content: ServerFile = { url, pid: process.pid, hostname: os.hostname(), startedAt: new Date().toISOString() };
  await fs.writeFile(temp, `${JSON.stringify(content, null, 2)}\n`, { mode: 0o600 });
  // The mode of writeFile is filtered by the umask; say it again to be sure.
  await fs.chmod(temp, 0o600);
  await fs.rename(temp, file);
}

/** Removes `<dataDir>/server.json` if this process wrote it (another may have replaced it). */
export async function removeServerFile(dataDir: string): Promise<void> {
  const file = path.join(dataDir, SERVER_FILE);
  const saved = await readJson<Partial<ServerFile>>(file);
  if (saved?.pid === process.pid && saved.hostname === os.hostname()) await fs.rm(file, { force: true });
}

async function readJson<T>(file: string): Promise<T | undefined> {
  try {
    return JSON.parse(await fs.readFile(file, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

/** Whether the process that wrote a server file still runs (unknowable on another machine: assumed). */
function stillRunning(saved: Partial<ServerFile>): boolean {
  if (saved.hostname !== os.hostname() || typeof saved.pid !== 'number') return true;
  try {
    process.kill(saved.pid, 0);
    return true;
  } catch (err) {
    // EPERM: it runs, as another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The server running on `dataDir` (from its server.json) and, for a demo folder, the demo's
 * key; undefined when none runs there (no file, or one left by a process that is gone).
 */
export async function readLocalServer(dataDir: string): Promise<LocalServer | undefined> {
  const saved = await readJson<Partial<ServerFile>>(path.join(dataDir, SERVER_FILE));
  if (typeof saved?.url !== 'string' || !stillRunning(saved)) return undefined;
  const demo = await readJson<{ apiKey?: unknown }>(path.join(dataDir, DEMO_FILE));
  return { url: saved.url, ...(typeof demo?.apiKey === 'string' ? { apiKey: demo.apiKey } : {}) };
}
