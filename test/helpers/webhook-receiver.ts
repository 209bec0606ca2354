import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

/** One request the receiver got. */
export interface Received {
  id: string;
  timestamp: string;
  signature: string;
  body: string;
  json: { type: string; timestamp: string; data: Record<string, unknown> };
  headers: http.IncomingHttpHeaders;
  path: string;
  /** The status the receiver answered with. */
  status: number;
  at: number;
}

/** How to answer one request. */
export interface Plan {
  status?: number;
  delayMs?: number;
  headers?: Record<string, string>;
  body?: string;
}

/**
 * A webhook listener on loopback: records every request, answers from a queue of plans
 * (then `fallback`), and can go down (closes its listener and connections) and come back
 * on the same port.
 */
export interface Receiver {
  url: string;
  received: Received[];
  /** Requests answered with a 2xx. */
  delivered(): Received[];
  plan(...plans: Plan[]): void;
  fallback: Plan;
  waitFor(predicate: (all: Received[]) => boolean, timeoutMs?: number): Promise<Received[]>;
  down(): Promise<void>;
  up(): Promise<void>;
  close(): Promise<void>;
}

export async function startReceiver(): Promise<Receiver> {
  const plans: Plan[] = [];
  const received: Received[] = [];
  const waiters = new Set<() => void>();
  const timers = new Set<NodeJS.Timeout>();

  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (c: Buffer) => chunks.push(c));
    request.on('end', () => {
      const plan = plans.shift() ?? receiver.fallback;
      const answer = () => {
        timers.delete(timer);
        const body = Buffer.concat(chunks).toString('utf8');
        const status = plan.status ?? 200;
        received.push({
          id: String(request.headers['webhook-id']),
          timestamp: String(request.headers['webhook-timestamp']),
          signature: String(request.headers['webhook-signature']),
          body,
          json: JSON.parse(body),
          headers: request.headers,
          path: request.url ?? '/',
          status,
          at: Date.now(),
        });
        if (!response.destroyed) response.writeHead(status, plan.headers ?? {}).end(plan.body ?? 'ok');
        for (const w of waiters) w();
      };
      const timer = setTimeout(answer, plan.delayMs ?? 0);
      timers.add(timer);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;

  const receiver: Receiver = {
    url: `http://127.0.0.1:${port}`,
    received,
    delivered: () => received.filter((r) => r.status >= 200 && r.status < 300),
    plan: (...p) => void plans.push(...p),
    fallback: { status: 200 },
    waitFor(predicate, timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (!predicate(received)) return;
          waiters.delete(check);
          clearTimeout(timer);
          resolve(received);
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`receiver: condition not met within ${timeoutMs} ms; got ${received.length} requests`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    async down() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
    async up() {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, '127.0.0.1', () => {
          server.off('error', reject);
          resolve();
        });
      });
    },
    async close() {
      for (const t of timers) clearTimeout(t);
      if (server.listening) await receiver.down();
    },
  };
  return receiver;
}

/** Verifies a received webhook with the Standard Webhooks reference verifier; returns the parsed body. */
export function verify(secret: string, r: Received): unknown {
  return new Webhook(secret).verify(r.body, {
    'webhook-id': r.id,
    'webhook-timestamp': r.timestamp,
    'webhook-signature': r.signature,
  });
}
