import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Connection } from './api-client.js';

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

/**
 * The server and key of a client command, first found wins: the flags, then
 * `TUNELOOP_URL` / `TUNELOOP_API_KEY`, then the saved profile (the URL defaults to a local
 * server). A key is never taken from the profile for another URL than the profile's.
 */
export async function resolveConnection(
  flags: { url?: string | undefined; apiKey?: string | undefined },
  env: NodeJS.ProcessEnv = process.env,
): Promise<Connection> {
  const profile = await readProfile(env);
  const url = flags.url ?? (env.TUNELOOP_URL || undefined) ?? profile?.url ?? DEFAULT_URL;
  const sameServer = profile !== undefined && profile.url.replace(/\/+$/, '') === url.replace(/\/+$/, '');
  const apiKey = flags.apiKey ?? (env.TUNELOOP_API_KEY || undefined) ?? (sameServer ? profile.apiKey : undefined);
  if (!apiKey) throw new NoApiKeyError();
  return { url: url.replace(/\/+$/, ''), apiKey };
}
