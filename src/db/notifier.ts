import pg from 'pg';
import type { PGlite } from '@electric-sql/pglite';
import type { Logger } from '../log.js';

export type NotificationHandler = (payload: string) => void;

/**
 * PostgreSQL LISTEN/NOTIFY between processes (api replicas, workers).
 *
 * Notifications are only wake-up calls: every consumer re-reads stored rows after one, so
 * a notification lost while a connection was down costs latency, never data. `onReconnect`
 * handlers run after the listening connection is re-established so consumers can re-read
 * whatever they may have missed.
 */
export interface Notifier {
  listen(channel: string, handler: NotificationHandler): Promise<() => Promise<void>>;
  onReconnect(handler: () => void): () => void;
  close(): Promise<void>;
}

/** Channel names, in one place. */
export const channels = {
  jobEvents: 'tl_job_events',
  jobQueue: 'tl_job_queue',
  jobCancel: 'tl_job_cancel',
  jobPause: 'tl_job_pause',
  authInvalidate: 'tl_auth_invalidate',
  webhooks: 'tl_webhooks',
  deployments: 'tl_deployments',
} as const;

class HandlerRegistry {
  private readonly handlers = new Map<string, Set<NotificationHandler>>();
  private readonly reconnectHandlers = new Set<() => void>();

  add(channel: string, handler: NotificationHandler): boolean {
    let set = this.handlers.get(channel);
    const isNew = !set;
    if (!set) this.handlers.set(channel, (set = new Set()));
    set.add(handler);
    return isNew;
  }

  remove(channel: string, handler: NotificationHandler): boolean {
    const set = this.handlers.get(channel);
    if (!set) return false;
    set.delete(handler);
    if (set.size > 0) return false;
    this.handlers.delete(channel);
    return true;
  }

  channels(): string[] {
    return [...this.handlers.keys()];
  }

  dispatch(channel: string, payload: string, log: Logger): void {
    for (const handler of this.handlers.get(channel) ?? []) {
      try {
        handler(payload);
      } catch (err) {
        log.error({ err, channel }, 'notification handler failed');
      }
    }
  }

  addReconnect(handler: () => void): () => void {
    this.reconnectHandlers.add(handler);
    return () => this.reconnectHandlers.delete(handler);
  }

  reconnected(log: Logger): void {
    for (const handler of this.reconnectHandlers) {
      try {
        handler();
      } catch (err) {
        log.error({ err }, 'reconnect handler failed');
      }
    }
  }
}

const quoteIdent = (name: string) => `"${name.replace(/"/g, '""')}"`;

/** LISTEN on a dedicated pg.Client (a pooled connection would lose its LISTENs). */
export function createPgNotifier(connectionString: string, log: Logger): Notifier {
  const registry = new HandlerRegistry();
  let client: pg.Client | undefined;
  let connecting: Promise<pg.Client> | undefined;
  let closed = false;
  let retryTimer: NodeJS.Timeout | undefined;
  // One statement at a time on the client: pg deprecates overlapping client.query() calls,
  // which concurrent listen/unlisten calls (many subscriptions ending at once) would make.
  let queue: Promise<unknown> = Promise.resolve();
  const run = (c: pg.Client, text: string): Promise<unknown> => {
    const next = queue.then(() => c.query(text));
    queue = next.catch(() => {});
    return next;
  };

  const connect = (): Promise<pg.Client> => {
    if (client) return Promise.resolve(client);
    connecting ??= (async () => {
      const c = new pg.Client({ connectionString, application_name: 'tuneloop-listen' });
      c.on('notification', (msg) => registry.dispatch(msg.channel, msg.payload ?? '', log));
      c.on('error', (err) => {
        log.warn({ err }, 'LISTEN connection lost; reconnecting');
        drop(c);
      });
      c.on('end', () => drop(c));
      await c.connect();
      for (const channel of registry.channels()) await run(c, `LISTEN ${quoteIdent(channel)}`);
      client = c;
      return c;
    })().finally(() => {
      connecting = undefined;
    });
    return connecting;
  };

  const drop = (c: pg.Client) => {
    if (client !== c) return;
    client = undefined;
    c.removeAllListeners('notification');
    c.end().catch(() => {});
    scheduleReconnect(250);
  };

  const scheduleReconnect = (delayMs: number) => {
    if (closed || retryTimer) return;
    retryTimer = setTimeout(() => {
      retryTimer = undefined;
      connect().then(
        () => registry.reconnected(log),
        (err) => {
          log.warn({ err }, 'LISTEN reconnect failed; retrying');
          scheduleReconnect(Math.min(delayMs * 2, 5_000));
        },
      );
    }, delayMs);
    retryTimer.unref();
  };

  return {
    async listen(channel, handler) {
      const isNew = registry.add(channel, handler);
      const c = await connect();
      if (isNew) await run(c, `LISTEN ${quoteIdent(channel)}`);
      return async () => {
        if (registry.remove(channel, handler) && client && !closed) {
          await run(client, `UNLISTEN ${quoteIdent(channel)}`).catch(() => {});
        }
      };
    },
    onReconnect: (handler) => registry.addReconnect(handler),
    async close() {
      closed = true;
      if (retryTimer) clearTimeout(retryTimer);
      const c = client ?? (await connecting?.catch(() => undefined));
      client = undefined;
      await c?.end().catch(() => {});
    },
  };
}

/** PGlite delivers NOTIFY in-process; the same code path as the server, without a socket. */
export function createPgliteNotifier(pglite: PGlite, log: Logger): Notifier {
  const registry = new HandlerRegistry();
  const unsubscribers = new Map<string, () => Promise<void>>();
  return {
    async listen(channel, handler) {
      if (registry.add(channel, handler)) {
        const unsub = await pglite.listen(channel, (payload) => registry.dispatch(channel, payload, log));
        unsubscribers.set(channel, unsub);
      }
      return async () => {
        if (registry.remove(channel, handler)) {
          const unsub = unsubscribers.get(channel);
          unsubscribers.delete(channel);
          await unsub?.().catch(() => {});
        }
      };
    },
    onReconnect: (handler) => registry.addReconnect(handler),
    async close() {
      for (const unsub of unsubscribers.values()) await unsub().catch(() => {});
      unsubscribers.clear();
    },
  };
}
