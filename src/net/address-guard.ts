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
 * routable unicast addresses pass by default. Every IPv6 form that embeds an IPv4
 * address (see `embeddedIPv4`) is judged by that IPv4 address as well, so
 * `[::127.0.0.1]` is loopback and `[64:ff9b::a9fe:a9fe]` is the metadata service; cloud
 * metadata addresses are refused in every form, even when private addresses are allowed.
 */
export function addressBlockReason(address: string, allowPrivate: boolean): string | null {
  if (!net.isIP(address)) return `${address} is not an IP address`;
  const ip = ipaddr.process(address.replace(/%.*$/, ''));
  const embedded = ip.kind() === 'ipv6' ? embeddedIPv4(ip as ipaddr.IPv6) : [];
  const via = (v4: ipaddr.IPv4) => `${address} (which carries the IPv4 address ${v4.toString()})`;
  if (METADATA_ADDRESSES.has(ip.toNormalizedString())) return `${address} is a cloud metadata address`;
  for (const v4 of embedded) if (METADATA_ADDRESSES.has(v4.toNormalizedString())) return `${via(v4)} is a cloud metadata address`;
  if (allowPrivate) return null;
  for (const v4 of embedded) {
    const range = v4.range();
    if (range !== 'unicast') return `${via(v4)} is a ${RANGE_WORDS[range] ?? `special-purpose (${range})`} address`;
  }
  const range = ip.range();
  if (range === 'unicast') return null;
  return `${address} is a ${RANGE_WORDS[range] ?? `special-purpose (${range})`} address`;
}

/**
 * The IPv4 addresses an IPv6 address carries, per the forms that route to them:
 * IPv4-mapped `::ffff:a.b.c.d` and IPv4-translated `::ffff:0:a.b.c.d`, IPv4-compatible
 * `::a.b.c.d` (deprecated, still parsed by every stack), NAT64 `64:ff9b::/96` and the
 * local-use `64:ff9b:1::/48` (RFC 8215: the address sits in the last 32 bits of a /96,
 * or at bits 48–87 around the reserved octet of a /48 — both are judged), 6to4
 * `2002:AABB:CCDD::/48` and Teredo `2001:0::/32` (server at bits 32–63, client in the
 * last 32 bits, inverted). `::` and `::1` are IPv6's own and carry nothing.
 */
export function embeddedIPv4(ip: ipaddr.IPv6): ipaddr.IPv4[] {
  const p = ip.parts; // eight 16-bit words
  const v4 = (hi: number, lo: number) => new ipaddr.IPv4([hi >> 8, hi & 0xff, lo >> 8, lo & 0xff]);
  const zeros = (from: number, to: number) => p.slice(from, to).every((w) => w === 0);
  if (zeros(0, 5) && p[5] === 0xffff) return [v4(p[6]!, p[7]!)]; // mapped
  if (zeros(0, 4) && p[4] === 0xffff && p[5] === 0) return [v4(p[6]!, p[7]!)]; // translated
  if (zeros(0, 6) && (p[6] !== 0 || p[7]! > 1)) return [v4(p[6]!, p[7]!)]; // compatible
  if (p[0] === 0x64 && p[1] === 0xff9b && zeros(2, 6)) return [v4(p[6]!, p[7]!)]; // NAT64, well-known prefix
  if (p[0] === 0x64 && p[1] === 0xff9b && p[2] === 1) {
    // Local-use NAT64: /96 layout, and the /48 layout (octets 1–2 in word 3, octets 3–4 after the u octet).
    return [v4(p[6]!, p[7]!), v4(p[3]!, ((p[4]! & 0xff) << 8) | (p[5]! >> 8))];
  }
  if (p[0] === 0x2002) return [v4(p[1]!, p[2]!)]; // 6to4
  if (p[0] === 0x2001 && p[1] === 0) return [v4(p[2]!, p[3]!), v4(p[6]! ^ 0xffff, p[7]! ^ 0xffff)]; // Teredo
  return [];
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
