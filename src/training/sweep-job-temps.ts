import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Db } from '../db/connect.js';
import type { Logger } from '../log.js';
import { periodicRunner } from '../runner.js';
import type { Runner } from '../runner.js';

const HOUR_MS = 60 * 60 * 1000;

/**
 * Removes what an interrupted write left in job folders (`<dataDir>/jobs/<jobId>/`): the
 * worker's `spec.json.<pid>.tmp`, and the trainer's half-written `checkpoints/.tmp-step-*`
 * and `output/.tmp-*` folders (it writes under those names and renames into place, so a
 * complete checkpoint or output never has them). Only a RUNNING job can have a live writer:
 * its temps go once an hour old (or at once when written before `orphanedBefore`, see
 * src/storage/orphans.ts), every other job's at once — a job that failed on a full
 * disk never resumes, so without this they would fill the disk for good. Complete
 * checkpoints (`step-*`) are kept. Returns how many entries were removed.
 */
export async function sweepJobTemps(db: Db, dataDir: string, orphanedBefore = 0): Promise<number> {
  const running = new Set((await db.selectFrom('training_jobs').select('id').where('status', '=', 'RUNNING').execute()).map((r) => r.id));
  let removed = 0;
  const jobs = join(dataDir, 'jobs');
  for (const job of await names(jobs)) {
    const cutoff = running.has(job) ? Math.max(Date.now() - HOUR_MS, orphanedBefore - 1) : Infinity;
    const removeIfOld = async (path: string) => {
      const info = await stat(path).catch(() => null);
      if (info && info.mtimeMs <= cutoff) {
        await rm(path, { recursive: true, force: true });
        removed++;
      }
    };
    const folder = join(jobs, job);
    for (const name of await names(folder)) if (/^spec\.json\..+\.tmp$/.test(name)) await removeIfOld(join(folder, name));
    for (const sub of ['checkpoints', 'output']) {
      for (const name of await names(join(folder, sub))) if (name.startsWith('.tmp-')) await removeIfOld(join(folder, sub, name));
    }
  }
  return removed;
}

/** `sweepJobTemps` at start-up and every 10 minutes, in every process. */
export function createJobTempSweeper(deps: { db: Db; dataDir: string; orphanedBefore: number; log: Logger }): Runner {
  return periodicRunner(
    'job-temp-sweeper',
    { firstMs: 0, everyMs: 10 * 60 * 1000, jitterMs: 60 * 1000 },
    async () => {
      const removed = await sweepJobTemps(deps.db, deps.dataDir, deps.orphanedBefore);
      if (removed) deps.log.info({ removed }, 'removed half-written job files');
    },
    (err) => deps.log.warn({ err }, 'job temp sweep failed'),
  );
}

async function names(dir: string): Promise<string[]> {
  return readdir(dir).catch(() => []);
}
