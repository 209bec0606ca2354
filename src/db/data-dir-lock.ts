import fs from 'node:fs';
import lockfile from 'proper-lockfile';

/**
 * Holds the embedded database folder for this process alone.
 *
 * PGlite has no lock of its own: a second instance on the same folder opens silently and
 * corrupts it. proper-lockfile takes an atomic `mkdir` lock and refreshes its mtime every
 * `update` ms, so a process killed with -9 leaves a lock that turns stale after `stale` ms
 * and the next start can take it; a live holder makes the second process fail at once.
 */
export async function lockDataFolder(folder: string, onCompromised: (err: Error) => void): Promise<() => Promise<void>> {
  fs.mkdirSync(folder, { recursive: true });
  try {
    return await lockfile.lock(folder, {
      lockfilePath: `${folder}.lock`,
      stale: 10_000,
      update: 2_000,
      retries: 0,
      realpath: false,
      onCompromised,
    });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ELOCKED') {
      throw new DataFolderLockedError(folder);
    }
    throw err;
  }
}

/** The embedded database folder is held by another live process. */
export class DataFolderLockedError extends Error {
  readonly code = 'DATA_DIR_LOCKED';
  constructor(folder: string) {
    super(
      `the embedded database in ${folder} is in use by another tuneloop process; ` +
        'stop it first, or point both at a PostgreSQL server with DATABASE_URL',
    );
  }
}
