import dns from 'node:dns';
import type { LookupAddress, LookupOptions } from 'node:dns';
import net from 'node:net';
import ipaddr from 'ipaddr.js';

/**
 * Which addresses our servers may connect to when a user names the URL (webhook
 * receivers, dataset downloads). Without a policy such a URL is a server-side request
 * forgery: 127.0.0.1, the database's private address or the cloud metadata service
 * would be read on the user's behalf.
 *
 * `guardedLookup` is meant to be the socket's own resolver (the `lookup` option of
 * `http.request` / an agent), so the address that is checked is the address that is
 * connected to: a DNS answer that changes between a check and the connection
 * (rebinding) cannot slip through. `net.connect` skips `lookup` for IP-literal hosts;
 * callers check those with `addressBlockReason` before connecting.
 */

/**
 * Cloud instance metadata services (AWS/GCP/Azure/Oracle 169.254.169.254, ECS task
 * metadata, Alibaba, AWS IMDS over IPv6). They hand out credentials, so they stay refused
 * even when the operator allows private addresses.
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

/** A connection refused by the address policy (`reason` says which address and why). */
export class AddressBlockedError extends Error {
  readonly code = 'EADDRBLOCKED';
  readonly reason: string;
  constructor(reason: string) {
    super(`refused to connect: ${reason}`);
    this.name = 'AddressBlockedError';
    this.reason = reason;
  }
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * A `dns.lookup` replacement for http(s) requests and agents: resolves every address of
 * the host and refuses the connection when any of them is blocked (a host that mixes
 * public and private addresses is treated as private). Handles both the `all: true` form
 * Node's happy-eyeballs connect uses and the single-address form. `refuse` builds the
 * error the connection fails with (default `AddressBlockedError`).
 */
export function guardedLookup(allowPrivate: boolean, refuse: (reason: string) => Error = (reason) => new AddressBlockedError(reason)) {
  return (hostname: string, options: LookupOptions, callback: LookupCallback): void => {
    dns.lookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, []);
      if (addresses.length === 0) return callback(Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' }), []);
      for (const entry of addresses) {
        const reason = addressBlockReason(entry.address, allowPrivate);
        if (reason) return callback(refuse(`${hostname} resolves to ${reason}`) as NodeJS.ErrnoException, []);
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
