import dns from 'node:dns';
import type { LookupAddress } from 'node:dns';
import net from 'node:net';
import { InvalidInputError } from '../errors.js';
import { addressBlockReason, guardedLookup as guardedNetLookup, urlHost } from '../net/address-guard.js';

export { addressBlockReason, urlHost };

/**
 * Where webhooks may go. A webhook URL is chosen by a user but requested by our servers,
 * so without a policy it is a server-side request forgery: a URL naming 127.0.0.1, the
 * database's private address or the cloud metadata service would make Tuneloop read them.
 *
 * The check runs twice: when a URL is registered (a clear error for the user) and on
 * every connection (DNS can change after registration). The second one is the one that
 * protects: `guardedLookup` is the socket's own resolver, so the address that is checked
 * is the address that is connected to — no window between checking and connecting.
 * The address rules themselves live in src/net/address-guard.ts (dataset downloads use
 * them too).
 */

const MAX_URL_LENGTH = 2048;

/** A connection refused by the address policy (the delivery records it as the attempt's error). */
export class BlockedAddressError extends Error {
  readonly code = 'EWEBHOOKBLOCKED';
  constructor(reason: string) {
    super(
      `refused to connect: ${reason}; webhooks go to public addresses only (operators can allow private ones with TUNELOOP_WEBHOOK_ALLOW_PRIVATE=1)`,
    );
    this.name = 'BlockedAddressError';
  }
}

/**
 * The address policy as the socket's resolver (see src/net/address-guard.ts): refused
 * connections fail with `BlockedAddressError`.
 */
export function guardedLookup(allowPrivate: boolean) {
  return guardedNetLookup(allowPrivate, (reason) => new BlockedAddressError(reason));
}

/**
 * Parses a webhook URL and applies the policy: http(s) only, a host, and — unless private
 * addresses are allowed — a host that resolves to public addresses only. Throws
 * `InvalidInputError` naming `field` (codes INVALID_WEBHOOK_URL, WEBHOOK_URL_NOT_ALLOWED).
 */
export async function checkWebhookUrl(raw: string, opts: { allowPrivate: boolean; field?: string }): Promise<URL> {
  const field = opts.field ?? 'url';
  const text = raw.trim();
  if (!text) throw new InvalidInputError(field, `${field} must not be empty`, 'INVALID_WEBHOOK_URL');
  if (text.length > MAX_URL_LENGTH) {
    throw new InvalidInputError(field, `${field} must be at most ${MAX_URL_LENGTH} characters`, 'INVALID_WEBHOOK_URL');
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new InvalidInputError(field, `${field} is not a valid URL: ${JSON.stringify(text.slice(0, 100))}`, 'INVALID_WEBHOOK_URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new InvalidInputError(field, `${field} must be an http:// or https:// URL, not ${url.protocol}`, 'INVALID_WEBHOOK_URL');
  }
  const host = urlHost(url);
  if (!host) throw new InvalidInputError(field, `${field} has no host`, 'INVALID_WEBHOOK_URL');

  const refuse = (reason: string) => {
    throw new InvalidInputError(
      field,
      `${field} is not allowed: ${reason}. Webhooks go to public addresses only; an operator can allow private ones with TUNELOOP_WEBHOOK_ALLOW_PRIVATE=1`,
      'WEBHOOK_URL_NOT_ALLOWED',
    );
  };
  if (net.isIP(host)) {
    const reason = addressBlockReason(host, opts.allowPrivate);
    if (reason) refuse(reason);
    return url;
  }
  // Operators who allow private addresses often run receivers on names only their network
  // resolves; the metadata check still runs on every connection.
  if (opts.allowPrivate) return url;
  let addresses: LookupAddress[];
  try {
    addresses = await dns.promises.lookup(host, { all: true });
  } catch {
    throw new InvalidInputError(field, `${field} names a host that does not resolve: ${host}`, 'INVALID_WEBHOOK_URL');
  }
  for (const entry of addresses) {
    const reason = addressBlockReason(entry.address, false);
    if (reason) refuse(`${host} resolves to ${reason}`);
  }
  return url;
}
