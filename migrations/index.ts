import type { Migration } from 'kysely';
import * as m0001 from './0001-accounts-and-catalog.js';
import * as m0002 from './0002-billing.js';

/**
 * Every migration, in order. Forward-only: a migration that has shipped is never edited;
 * a change is a new file. Listed statically (not read from disk) so the set is the same
 * under tsx, vitest and any bundler.
 */
export const migrations: Record<string, Migration> = {
  '0001-accounts-and-catalog': m0001,
  '0002-billing': m0002,
};
