import { LRUCache } from 'lru-cache';
import type { Db } from '../db/connect.js';
import { notifyOnCommit } from '../db/connect.js';
import { channels } from '../db/notifier.js';
import type { Notifier } from '../db/notifier.js';
import type { Account } from '../db/schema.js';
import { InvalidInputError, NotFoundError } from '../errors.js';
import { newId } from '../ids.js';
import { newWebhookSecret } from '../webhooks/signing.js';
import { postLedgerEntry } from '../billing/ledger.js';
import { bearerToken, generateApiKey, hashApiKey } from './api-keys.js';

/** Who is calling: resolved from the API key on every transport. */
export interface Principal {
  accountId: string;
  isAdmin: boolean;
  keyId: string;
}

export interface CreateAccountInput {
  name: string;
  isAdmin?: boolean;
  initialBalanceMicros?: bigint;
}

export interface CreatedAccount {
  account: Account;
  apiKey: string;
  keyId: string;
}

export interface AccountsService {
  createAccount(input: CreateAccountInput): Promise<CreatedAccount>;
  createApiKey(accountId: string, name?: string): Promise<{ apiKey: string; keyId: string; prefix: string }>;
  revokeApiKey(accountId: string, keyId: string): Promise<void>;
  getAccount(accountId: string): Promise<Account>;
  /** Resolves an `Authorization` header to a principal, or null when missing/wrong. Cached. */
  authenticate(authorization: string | undefined | null): Promise<Principal | null>;
  /**
   * The cached answer for an `Authorization` header, without I/O: a principal, null for a
   * known-bad or malformed key, undefined when the cache does not know (then `authenticate`).
   * Lets the HTTP hook answer the common case synchronously.
   */
  cachedPrincipal(authorization: string | undefined | null): Principal | null | undefined;
  close(): Promise<void>;
}

const NEGATIVE = Symbol('unknown-key');

/**
 * Accounts and API keys.
 *
 * Key lookups are cached (LRU, `cacheSeconds` TTL) so authentication is not a database
 * round trip per request. Revoking a key NOTIFYs every process, which drops the entry at
 * once; the TTL bounds staleness if a notification is missed. Unknown keys are cached
 * briefly too, so a client hammering with a wrong key does not hammer the database.
 */
export function createAccountsService(deps: { db: Db; notifier: Notifier; cacheSeconds: number }): AccountsService {
  const { db, notifier } = deps;
  const cache = new LRUCache<string, Principal | typeof NEGATIVE>({
    max: 10_000,
    ttl: Math.max(1, deps.cacheSeconds) * 1000,
  });
  // `Authorization` header → key hash, so a repeated header skips the regex and sha256
  // (docs/PERFORMANCE.md, "HTTP overhead"). It holds the
  // headers of recent requests in this process's memory, as the requests themselves do;
  // the database still only ever sees hashes.
  const hashes = new LRUCache<string, string>({ max: 10_000 });
  const hashOf = (authorization: string | undefined | null): string | undefined => {
    if (!authorization) return undefined;
    let hash = hashes.get(authorization);
    if (hash === undefined) {
      const key = bearerToken(authorization);
      if (!key || key.length > 200) return undefined;
      hashes.set(authorization, (hash = hashApiKey(key)));
    }
    return hash;
  };
  let unlisten: (() => Promise<void>) | undefined;
  const ready = notifier
    .listen(channels.authInvalidate, (hash) => (hash === '*' ? cache.clear() : cache.delete(hash)))
    .then((u) => {
      unlisten = u;
    });
  const dropReconnect = notifier.onReconnect(() => cache.clear());

  async function createApiKeyIn(trx: Db, accountId: string, name?: string) {
    const generated = generateApiKey();
    const keyId = newId('apiKey');
    await trx
      .insertInto('api_keys')
      .values({ id: keyId, account_id: accountId, name: name ?? null, prefix: generated.prefix, key_hash: generated.hash })
      .execute();
    return { apiKey: generated.key, keyId, prefix: generated.prefix };
  }

  return {
    async createAccount(input) {
      const name = input.name.trim();
      if (!name || name.length > 200) throw new InvalidInputError('name', 'name must be 1 to 200 characters');
      if (input.initialBalanceMicros !== undefined && input.initialBalanceMicros < 0n) {
        throw new InvalidInputError('balance', 'balance cannot be negative');
      }
      return db.transaction().execute(async (trx) => {
        const account = await trx
          .insertInto('accounts')
          .values({
            id: newId('account'),
            name,
            is_admin: input.isAdmin ?? false,
            webhook_secret: newWebhookSecret(),
          })
          .returningAll()
          .executeTakeFirstOrThrow();
        if (input.initialBalanceMicros && input.initialBalanceMicros > 0n) {
          await postLedgerEntry(trx, {
            accountId: account.id,
            type: 'topup',
            amountMicros: input.initialBalanceMicros,
            description: 'initial balance',
          });
        }
        const key = await createApiKeyIn(trx, account.id, 'default');
        const fresh = await trx.selectFrom('accounts').selectAll().where('id', '=', account.id).executeTakeFirstOrThrow();
        return { account: fresh, apiKey: key.apiKey, keyId: key.keyId };
      });
    },

    async createApiKey(accountId, name) {
      await this.getAccount(accountId);
      return createApiKeyIn(db, accountId, name);
    },

    async revokeApiKey(accountId, keyId) {
      await db.transaction().execute(async (trx) => {
        const row = await trx
          .updateTable('api_keys')
          .set({ revoked_at: new Date() })
          .where('id', '=', keyId)
          .where('account_id', '=', accountId)
          .where('revoked_at', 'is', null)
          .returning('key_hash')
          .executeTakeFirst();
        if (!row) throw new NotFoundError('api key', keyId);
        await notifyOnCommit(trx, channels.authInvalidate, row.key_hash);
      });
    },

    async getAccount(accountId) {
      const account = await db.selectFrom('accounts').selectAll().where('id', '=', accountId).executeTakeFirst();
      if (!account) throw new NotFoundError('account', accountId);
      return account;
    },

    cachedPrincipal(authorization) {
      const hash = hashOf(authorization);
      if (hash === undefined) return null;
      const cached = cache.get(hash);
      return cached === NEGATIVE ? null : cached;
    },

    async authenticate(authorization) {
      const hash = hashOf(authorization);
      if (hash === undefined) return null;
      const cached = cache.get(hash);
      if (cached === NEGATIVE) return null;
      if (cached) return cached;
      const row = await db
        .selectFrom('api_keys')
        .innerJoin('accounts', 'accounts.id', 'api_keys.account_id')
        .select(['api_keys.id as keyId', 'api_keys.account_id as accountId', 'accounts.is_admin as isAdmin'])
        .where('api_keys.key_hash', '=', hash)
        .where('api_keys.revoked_at', 'is', null)
        .executeTakeFirst();
      if (!row) {
        cache.set(hash, NEGATIVE, { ttl: 5_000 });
        return null;
      }
      const principal: Principal = { accountId: row.accountId, isAdmin: row.isAdmin, keyId: row.keyId };
      cache.set(hash, principal);
      return principal;
    },

    async close() {
      dropReconnect();
      await ready.catch(() => {});
      await unlisten?.();
    },
  };
}
