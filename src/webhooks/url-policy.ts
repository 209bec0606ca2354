import dns from 'node:dns';
import type { LookupAddress, LookupOptions } from 'node:dns';
import net from 'node:net';
import ipaddr from 'ipaddr.js';
import { InvalidInputError } from '../errors.js';

/**
 * Where webhooks may go. A webhook URL is chosen by a user but requested by our servers,
 * so without a policy it is a server-side request forgery: a URL naming 127.0.0.1, the
 * database's private address or the cloud metadata service would make Tuneloop read them.
 *
 * The check runs twice: when a URL is registered (a clear error for the user) and on
 * every connection (DNS can change after registration). The second one is the one that
 * protects: `guardedLookup` is the socket's own resolver, so the address that is checked
 * is the address that is connected to — no window between checking and connecting.
 */

const MAX_URL_LENGTH = 2048;

/**
 * Cloud instance metadata services (AWS/GCP/Azure/Oracle 169.254.169.254, ECS task
 * metadata, Alibaba, AWS IMDS over IPv6). They hand out credentials, so they stay refused
 * even when the operator allows private addresses for on-premises receivers.
 */
const METADATA_ADDRESSES = new Set(
  ['169.254.169.254', '169.254.170.2', '169.254.170.23', '100.100.100.200', 'fd00:ec2::254'].map((a) =>
    ipaddr.parse(a).toNormalizedString(),
  ),
);

const RANGE_WORDS: Record<string, string> = {
  loopback: 'loopback',
  private: 'private',
  uniqueLocal: 'private (unique local)',
  linkLocal: 'link-local',
  carrierGradeNat: 'shared (carrier-grade NAT)',
  unspecified: 'unspecified',
  multicast: 'multicast',
  broadcast: 'broadcast',
  reserved: 'reserved',
};

/**
 * Why a connection to `address` is refused, or null when it is allowed. Only globally
 * routable unicast addresses pass by default; IPv6 forms that embed an IPv4 address
 * (mapped, NAT64, 6to4, Teredo) are judged by their IPv4 address or refused.
 */
export function addressBlockReason(address: string, allowPrivate: boolean): string | null {
  if (!net.isIP(address)) return `${address} is not an IP address`;
  const ip = ipaddr.process(address.replace(/%.*$/, ''));
  if (METADATA_ADDRESSES.has(ip.toNormalizedString())) return `${address} is a cloud metadata address`;
  if (allowPrivate) return null;
  const range = ip.range();
  if (range === 'unicast') return null;
  return `${address} is a ${RANGE_WORDS[range] ?? `special-purpose (${range})`} address`;
}

/** A connection refused by the address policy (the delivery records it as the attempt's error). */
export class BlockedAddressError extends Error {
  readonly code = 'EWEBHOOKBLOCKED';
  constructor(reason: string) {
    super(`refused to connect: ${reason}; webhooks go to public addresses only (operators can allow private ones with TUNELOOP_WEBHOOK_ALLOW_PRIVATE=1)`);
    this.name = 'BlockedAddressError';
  }
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * A `dns.lookup` replacement for http(s) agents: resolves every address of the host and
 * refuses the connection when any of them is blocked (a host that mixes public and private
 * addresses is treated as private). Handles both the `all: true` form Node's happy-eyeballs
 * connect uses and the single-address form.
 */
export function guardedLookup(allowPrivate: boolean) {
  return (hostname: string, options: LookupOptions, callback: LookupCallback): void => {
    dns.lookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, []);
      if (addresses.length === 0) return callback(Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' }), []);
      for (const entry of addresses) {
        const reason = addressBlockReason(entry.address, allowPrivate);
        if (reason) return callback(new BlockedAddressError(`${hostname} resolves to ${reason}`), []);
      }
      if (options.all) return callback(null, addresses);
      const first = addresses[0]!;
      callback(null, first.address, first.family);
    });
  };
}

/** The host of a URL as `net` sees it (IPv6 literals without brackets). */
export function urlHost(url: URL): string {
  return url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
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
