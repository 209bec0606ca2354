import fs from 'node:fs';
import os from 'node:os';
import lockfile from 'proper-lockfile';

/**
 * Holds the embedded database folder for this process alone.
 *
 * PGlite has no lock of its own: a second instance on the same folder opens silently and
 * corrupts it. proper-lockfile takes an atomic `mkdir` lock and refreshes its mtime every
 * `update` ms; a live holder makes a second process fail at once.
 *
 * A holder killed with -9 leaves its lock behind, which proper-lockfile only calls stale
 * after `stale` ms (10 s) — so `tuneloop start` right after a crash used to fail with
 * "in use". The holder therefore writes who it is beside the lock (`<folder>.lock.owner`:
 * host, boot, pid and the pid's start time, and the lock's inode so an owner file left by
 * an older lock is never trusted). A process that finds the lock taken breaks it at once
 * when that owner is provably dead: same host and boot, and no process with that pid and
 * start time. Anything it cannot prove (another host on a shared folder, another OS)
 * falls back to the staleness timeout.
 */
export async function lockDataFolder(folder: string, onCompromised: (err: Error) => void): Promise<() => Promise<void>> {
  fs.mkdirSync(folder, { recursive: true });
  const lockPath = `${folder}.lock`;
  const acquire = async () => {
    const release = await lockfile.lock(folder, {
      lockfilePath: lockPath,
      stale: 10_000,
      update: 2_000,
      retries: 0,
      realpath: false,
      onCompromised,
    });
    try {
      writeOwner(lockPath);
    } catch (err) {
      await release();
      throw err;
    }
    return async () => {
      fs.rmSync(ownerPath(lockPath), { force: true });
      await release();
    };
  };
  try {
    return await acquire();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ELOCKED') throw err;
    if (!breakDeadLock(lockPath)) throw new DataFolderLockedError(folder);
    try {
      return await acquire();
    } catch (again) {
      if ((again as NodeJS.ErrnoException).code === 'ELOCKED') throw new DataFolderLockedError(folder);
      throw again;
    }
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

interface Owner {
  host: string;
  boot: string | null;
  pid: number;
  /** The pid's start time (Linux: clock ticks since boot), so a reused pid is not mistaken for the holder. */
  started: string | null;
  /** Inode of the lock directory this owner took. */
  lock: number;
}

const ownerPath = (lockPath: string) => `${lockPath}.owner`;

function writeOwner(lockPath: string): void {
  const owner: Owner = {
    host: os.hostname(),
    boot: bootId(),
    pid: process.pid,
    started: processStart(process.pid),
    lock: fs.statSync(lockPath).ino,
  };
  const temp = `${ownerPath(lockPath)}.${process.pid}`;
  fs.writeFileSync(temp, JSON.stringify(owner));
  fs.renameSync(temp, ownerPath(lockPath));
}

/**
 * Removes the lock when its owner is provably dead; returns whether it did. Two processes
 * that find the same dead lock serialise on a second `mkdir` (`<lock>.break`), and the one
 * that gets it checks again before removing, so neither removes a lock the other just took.
 */
function breakDeadLock(lockPath: string): boolean {
  const breaker = `${lockPath}.break`;
  try {
    fs.mkdirSync(breaker);
  } catch {
    // Another process is breaking it (or one died doing so: such a leftover goes after 10 s).
    const age = Date.now() - (fs.statSync(breaker, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
    if (age > 10_000) fs.rmSync(breaker, { recursive: true, force: true });
    return false;
  }
  try {
    if (!ownerIsDead(lockPath)) return false;
    fs.rmSync(lockPath, { recursive: true, force: true });
    fs.rmSync(ownerPath(lockPath), { force: true });
    return true;
  } finally {
    fs.rmSync(breaker, { recursive: true, force: true });
  }
}

function ownerIsDead(lockPath: string): boolean {
  let owner: Owner;
  try {
    owner = JSON.parse(fs.readFileSync(ownerPath(lockPath), 'utf8')) as Owner;
  } catch {
    return false; // no owner written yet (the holder is between taking the lock and writing it)
  }
  const lock = fs.statSync(lockPath, { throwIfNoEntry: false });
  if (!lock || lock.ino !== owner.lock) return false; // the owner file belongs to an older lock
  if (owner.host !== os.hostname()) return false; // another machine: its processes cannot be seen
  const boot = bootId();
  if (boot !== null && owner.boot !== null && boot !== owner.boot) return true; // the machine rebooted since
  if (!isAlive(owner.pid)) return true;
  const started = processStart(owner.pid);
  return started !== null && owner.started !== null && started !== owner.started; // the pid was reused
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'; // alive, owned by another user
  }
}

/** Linux: field 22 of /proc/<pid>/stat (after the parenthesised command name, which may hold spaces). */
function processStart(pid: number): string | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

function bootId(): string | null {
  try {
    return fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return null;
  }
}
