import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Connection } from './api-client.js';
import { SERVER_FILE, readLocalServer } from './local-server.js';
import type { LocalServer } from './local-server.js';

/** Where a local `tuneloop start` listens unless told otherwise. */
export const DEFAULT_URL = 'http://127.0.0.1:4000';

/** What `tuneloop login` saves: the server and the key to use when no flag or variable says. */
export interface Profile {
  url: string;
  apiKey: string;
}

/** `$XDG_CONFIG_HOME/tuneloop/profile.json`, or `~/.config/tuneloop/profile.json`. */
export function profilePath(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CONFIG_HOME && path.isAbsolute(env.XDG_CONFIG_HOME) ? env.XDG_CONFIG_HOME : path.join(os.homedir(), '.config');
  return path.join(base, 'tuneloop', 'profile.json');
}

/** The saved profile, or undefined when there is none (or it is unreadable). */
export async function readProfile(env: NodeJS.ProcessEnv = process.env): Promise<Profile | undefined> {
  try {
    const saved = JSON.parse(await fs.readFile(profilePath(env), 'utf8')) as Partial<Profile>;
    if (typeof saved.url === 'string' && typeof saved.apiKey === 'string') return { url: saved.url, apiKey: saved.apiKey };
  } catch {
    // none yet, or not ours to read: the caller says how to log in
  }
  return undefined;
}

/**
 * Saves the profile readable by its owner only (folder 0700, file 0600): it holds an API
 * key. Written to a temporary file and renamed, so a reader never sees half a file.
 */
export async function writeProfile(profile: Profile, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const file = profilePath(env);
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const temp = `${file}.${process.pid}.tmp`;
  await fs.writeFile(temp, `${JSON.stringify(profile, null, 2)}\n`, { mode: 0o600 });
  // The mode of writeFile is filtered by the umask; say it again to be sure.
  await fs.chmod(temp, 0o600);
  await fs.rename(temp, file);
  return file;
}

/** Thrown when no API key was given anywhere. */
export class NoApiKeyError extends Error {
  constructor() {
    super('no API key: pass --api-key KEY, set TUNELOOP_API_KEY, or run `tuneloop login` once');
    this.name = 'NoApiKeyError';
  }
}

/** Thrown when `--data-dir DIR` names a folder no server runs on. */
export class NoLocalServerError extends Error {
  constructor(dataDir: string) {
    super(
      `no tuneloop is running on the data folder ${dataDir} (a running \`tuneloop start\` names its URL in ${path.join(dataDir, SERVER_FILE)}): start it with \`tuneloop start --data-dir ${dataDir}\`, or pass --url`,
    );
    this.name = 'NoLocalServerError';
  }
}

/** Whether two server URLs are the same (a trailing slash aside). */
export const sameUrl = (a: string, b: string) => a.replace(/\/+$/, '') === b.replace(/\/+$/, '');

/**
 * The server running on the data folder (`--data-dir`, else `TUNELOOP_DATA_DIR`) and a demo
 * folder's key, if one runs there. `--data-dir` naming a folder no server runs on is an
 * error unless the URL is given otherwise; TUNELOOP_DATA_DIR, often set for the server
 * commands' sake, is passed over then.
 */
export async function dataDirServer(
  flags: { url?: string | undefined; dataDir?: string | undefined },
  env: NodeJS.ProcessEnv = process.env,
): Promise<LocalServer | undefined> {
  const dataDir = flags.dataDir ?? (env.TUNELOOP_DATA_DIR || undefined);
  const local = dataDir ? await readLocalServer(path.resolve(dataDir)) : undefined;
  if (flags.dataDir && !local && !(flags.url ?? (env.TUNELOOP_URL || undefined))) throw new NoLocalServerError(path.resolve(flags.dataDir));
  return local;
}

/**
 * The server and key of a client command, first found wins: the flags, then
 * `TUNELOOP_URL` / `TUNELOOP_API_KEY`, then the data folder (`--data-dir`, else
 * `TUNELOOP_DATA_DIR`: the URL of the `tuneloop start` running on it and, for a demo
 * folder, the demo's key), then the saved profile (the URL defaults to a local server).
 * A key is never taken from a data folder or the profile for another URL than theirs.
 */
export async function resolveConnection(
  flags: { url?: string | undefined; apiKey?: string | undefined; dataDir?: string | undefined },
  env: NodeJS.ProcessEnv = process.env,
): Promise<Connection> {
  const local = await dataDirServer(flags, env);
  const profile = await readProfile(env);
  const url = flags.url ?? (env.TUNELOOP_URL || undefined) ?? local?.url ?? profile?.url ?? DEFAULT_URL;
  const apiKey =
    flags.apiKey ??
    (env.TUNELOOP_API_KEY || undefined) ??
    (local?.apiKey && sameUrl(local.url, url) ? local.apiKey : undefined) ??
    (profile && sameUrl(profile.url, url) ? profile.apiKey : undefined);
  if (!apiKey) throw new NoApiKeyError();
  return { url: url.replace(/\/+$/, ''), apiKey };
}
