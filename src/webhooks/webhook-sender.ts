import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { sanitizeText } from '../text/sanitize-text.js';
import { BlockedAddressError, addressBlockReason, guardedLookup, urlHost } from './url-policy.js';
import { parseRetryAfter } from './retry-schedule.js';

/** What one HTTP attempt came to. Never throws: every failure is a result. */
export interface SendResult {
  /** The response status, or null when there was no response (refused, timeout, blocked…). */
  statusCode: number | null;
  /** Why there was no usable response, in words; null when a response arrived. */
  error: string | null;
  latencyMs: number;
  /** The start of the response body (at most SNIPPET_CHARS characters). */
  snippet: string | null;
  /** `Retry-After` of the response, in milliseconds. */
  retryAfterMs: number | null;
  /** The URL can never work (bad scheme): retrying is pointless. */
  permanent: boolean;
  /** Cut short by shutdown: not an attempt the receiver should be judged by. */
  aborted: boolean;
}

export interface WebhookSender {
  send(url: string, headers: Record<string, string>, body: string, signal?: AbortSignal): Promise<SendResult>;
  close(): void;
}

/**
 * Response bodies are read up to READ_CAP bytes so a receiver cannot make us buffer a
 * large answer; a body that fits lets the keep-alive socket be reused, a longer one closes
 * it. SNIPPET_CHARS of it are kept for `webhookDeliveries`.
 */
const READ_CAP = 16 * 1024;
const SNIPPET_CHARS = 1_000;

export interface WebhookSenderOptions {
  timeoutMs: number;
  allowPrivate: boolean;
  /** Sockets per receiver origin (the runner's per-endpoint cap keeps below it). */
  maxSockets: number;
}

/**
 * HTTP POSTs for webhooks on node:http(s) with keep-alive agents (a TLS handshake per
 * delivery would dominate the cost for a busy receiver). The agents resolve hosts through
 * `guardedLookup`, so the checked address is the connected one; IP-literal hosts skip DNS
 * in `net.connect`, so they are checked here before the request. Redirects are not
 * followed (node:http never does): a 3xx is a failed attempt like any other non-2xx.
 */
export function createWebhookSender(opts: WebhookSenderOptions): WebhookSender {
  const lookup = guardedLookup(opts.allowPrivate);
  const agentOptions = { keepAlive: true, maxSockets: opts.maxSockets, maxFreeSockets: 64, lookup, scheduling: 'lifo' as const };
  const httpAgent = new http.Agent(agentOptions);
  const httpsAgent = new https.Agent(agentOptions);

  return {
    send(rawUrl, headers, body, signal) {
      const started = performance.now();
      const done = (partial: Partial<SendResult>): SendResult => ({
        statusCode: null,
        error: null,
        snippet: null,
        retryAfterMs: null,
        permanent: false,
        aborted: false,
        ...partial,
        latencyMs: Math.round(performance.now() - started),
      });

      let url: URL;
      try {
        url = new URL(rawUrl);
      } catch {
        return Promise.resolve(done({ error: 'invalid URL', permanent: true }));
      }
      if (url.protocol !== 'http:' && url.protocol !== 'https:') {
        return Promise.resolve(done({ error: `unsupported scheme ${url.protocol}`, permanent: true }));
      }
      const host = urlHost(url);
      if (net.isIP(host)) {
        const reason = addressBlockReason(host, opts.allowPrivate);
        if (reason) return Promise.resolve(done({ error: new BlockedAddressError(reason).message }));
      }
      if (signal?.aborted) return Promise.resolve(done({ error: 'aborted', aborted: true }));

      return new Promise<SendResult>((resolve) => {
        let settled = false;
        const finish = (result: SendResult) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
          resolve(result);
        };
        const request = (url.protocol === 'https:' ? https : http).request(url, {
          method: 'POST',
          agent: url.protocol === 'https:' ? httpsAgent : httpAgent,
          headers: {
            ...headers,
            'content-type': 'application/json',
            'content-length': String(Buffer.byteLength(body)),
            'user-agent': 'Tuneloop-Webhooks/1',
          },
        });
        const timer = setTimeout(() => {
          request.destroy();
          finish(done({ error: `timed out after ${opts.timeoutMs} ms` }));
        }, opts.timeoutMs);
        const onAbort = () => {
          request.destroy();
          finish(done({ error: 'aborted', aborted: true }));
        };
        signal?.addEventListener('abort', onAbort, { once: true });

        request.on('error', (err: NodeJS.ErrnoException) => finish(done({ error: describeError(err) })));
        request.on('response', (response) => {
          const chunks: Buffer[] = [];
          let size = 0;
          const complete = () =>
            finish(
              done({
                statusCode: response.statusCode ?? null,
                // The receiver's text is stored: a NUL in it would fail the whole batch of attempt records.
                snippet: size > 0 ? sanitizeText(Buffer.concat(chunks).toString('utf8').slice(0, SNIPPET_CHARS), Infinity) : null,
                retryAfterMs: parseRetryAfter(response.headers['retry-after']),
              }),
            );
          response.on('data', (chunk: Buffer) => {
            if (size >= READ_CAP) return;
            chunks.push(chunk);
            size += chunk.length;
            if (size >= READ_CAP) {
              // Enough to judge the answer: stop reading and give up this socket.
              response.destroy();
              complete();
            }
          });
          response.on('end', complete);
          // A receiver that hangs up mid-body still answered with its status.
          response.on('error', complete);
          response.on('close', complete);
        });
        request.end(body);
      });
    },

    close() {
      httpAgent.destroy();
      httpsAgent.destroy();
    },
  };
}

function describeError(err: NodeJS.ErrnoException): string {
  if (err instanceof BlockedAddressError) return err.message;
  switch (err.code) {
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'ECONNRESET':
      return 'connection reset by the receiver';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `host not found (${err.code})`;
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return 'host unreachable';
    case 'ETIMEDOUT':
      return 'connection timed out';
    default:
      return err.code ? `${err.code}: ${err.message}` : err.message;
  }
}
