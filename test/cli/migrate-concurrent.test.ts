import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { createTestDatabase, engines } from '../helpers/db.js';
import { migrations } from '../../migrations/index.js';
import { runCli } from '../helpers/cli.js';

/**
 * Processes that start together (api replicas and workers after a deploy) all migrate.
 * Kysely's migrator serializes them with an advisory lock; the race that lock does not
 * cover — creating the migration tables themselves — must not fail either.
 * Embedded PGlite is one process by construction (its folder lock is tested in accounts.test.ts).
 */
describe.runIf(engines().includes('postgres'))('two `tuneloop migrate` at once on one fresh server database', () => {
  it('both succeed and each migration is applied exactly once', async () => {
    const database = await createTestDatabase('migrate2');
    try {
      const env = { DATABASE_URL: database.url };
      const [first, second] = await Promise.all([runCli(['migrate'], { env }), runCli(['migrate'], { env })]);
      for (const result of [first, second]) {
        expect(result.stderr).toBe('');
        expect(result.code).toBe(0);
      }
      const applied = [first, second].flatMap((r) => (JSON.parse(r.stdout) as { applied: string[] }).applied);
      // Between them they applied every migration once (whoever got the lock did the work).
      expect(applied.sort()).toEqual(Object.keys(migrations).sort());

      const client = new pg.Client({ connectionString: database.url });
      await client.connect();
      try {
        const rows = (
          await client.query<{ name: string; n: string }>('select name, count(*) as n from tuneloop_migrations group by name order by name')
        ).rows;
        expect(rows.map((r) => r.name)).toEqual(Object.keys(migrations).sort());
        expect(rows.every((r) => Number(r.n) === 1)).toBe(true);
      } finally {
        await client.end();
      }
    } finally {
      await database.drop();
    }
  });
});
