import { createReadStream } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import { lookup } from 'node:dns/promises';
import { delimiter, isAbsolute, resolve, sep } from 'node:path';
import ipaddr from 'ipaddr.js';
import { DatasetError } from './dataset-error.js';
import { formatBytes, storeStream } from './storage.js';
import type { StoredDataset } from './storage.js';

export interface FetchUrlOptions {
  dataDir: string;
  maxBytes: number;
  /** Limit on the whole download, redirects included. Default 60 s. */
  timeoutMs?: number;
  /** Default 3. */
  maxRedirects?: number;
  /**
   * Let the URL reach loopback, private, link-local and other non-public addresses.
   * Off by default: a server that fetches any URL a user names is an SSRF hole.
   */
  allowPrivate?: boolean;
  signal?: AbortSignal;
}

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

/**
 * Downloads an http(s) URL into the dataset store. Redirects are followed by hand
 * (at most `maxRedirects`), each target re-checked like the first URL. Failures are
 * `DatasetError`s: `url_not_allowed`, `fetch_failed` (`details.status` holds the
 * HTTP status when there was one), `file_too_large`, `fetch_timeout`,
 * `too_many_redirects`. Nothing is left in the store on failure.
 *
 * The private-address check resolves the host name before fetching; a DNS answer
 * that changes between that lookup and the connection (rebinding) is not caught,
 * because Node's built-in fetch offers no hook on the address it connects to.
 */
export async function fetchUrlToStore(url: string, options: FetchUrlOptions): Promise<StoredDataset & { url: string }> {
  const { dataDir, maxBytes, timeoutMs = 60_000, maxRedirects = 3, allowPrivate = false } = options;
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = options.signal ? AbortSignal.any([timeout, options.signal]) : timeout;
  let current = await checkUrl(url, allowPrivate);
  try {
    for (let redirects = 0; ; redirects++) {
      const response = await fetch(current, { redirect: 'manual', signal });
      if (REDIRECT_STATUSES.has(response.status)) {
        await response.body?.cancel();
        const location = response.headers.get('location');
        if (!location) throw new DatasetError('fetch_failed', `redirect (HTTP ${response.status}) without a Location header`, { status: response.status });
        if (redirects >= maxRedirects) {
          throw new DatasetError('too_many_redirects', `more than ${maxRedirects} redirects`, { maxRedirects });
        }
        current = await checkUrl(new URL(location, current).href, allowPrivate);
        continue;
      }
      if (response.status < 200 || response.status > 299) {
        await response.body?.cancel();
        throw new DatasetError('fetch_failed', `the server answered HTTP ${response.status} for ${current.href}`, { status: response.status });
      }
      const declared = Number(response.headers.get('content-length') ?? NaN);
      if (declared > maxBytes) {
        await response.body?.cancel();
        throw new DatasetError('file_too_large', `the file is larger than the ${formatBytes(maxBytes)} limit`, { maxBytes });
      }
      if (!response.body) throw new DatasetError('fetch_failed', `empty response body from ${current.href}`, { status: response.status });
      const stored = await storeStream(response.body, { dataDir, maxBytes, signal });
      return { ...stored, url: current.href };
    }
  } catch (error) {
    if (timeout.aborted) {
      throw new DatasetError('fetch_timeout', `the download did not complete within ${timeoutMs / 1000} s`, { timeoutMs });
    }
    if (error instanceof DatasetError) throw error;
    const cause = error instanceof Error ? ((error.cause as Error | undefined)?.message ?? error.message) : String(error);
    throw new DatasetError('fetch_failed', `could not download ${current.href}: ${cause}`, { cause });
  }
}

async function checkUrl(raw: string, allowPrivate: boolean): Promise<URL> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new DatasetError('url_not_allowed', `not a valid URL: ${raw}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new DatasetError('url_not_allowed', `only http and https URLs are allowed, not ${url.protocol}`);
  }
  if (url.username || url.password) {
    throw new DatasetError('url_not_allowed', 'URLs with credentials are not allowed');
  }
  if (!allowPrivate) {
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    const addresses = ipaddr.isValid(host) ? [host] : await resolveAll(host);
    for (const address of addresses) {
      const parsed = ipaddr.process(address);
      if (parsed.range() !== 'unicast') {
        throw new DatasetError('url_not_allowed', `${url.hostname} resolves to a ${parsed.range()} address, which is not allowed`);
      }
    }
  }
  return url;
}

async function resolveAll(host: string): Promise<string[]> {
  try {
    return (await lookup(host, { all: true })).map((a) => a.address);
  } catch {
    throw new DatasetError('fetch_failed', `cannot resolve host ${host}`);
  }
}

/** Splits `TUNELOOP_DATASET_ROOTS` (a `path.delimiter`-separated list) into absolute roots. */
export function parseDatasetRoots(value: string | undefined): string[] {
  return (value ?? '')
    .split(delimiter)
    .map((p) => p.trim())
    .filter((p) => p.length > 0)
    .map((p) => resolve(p));
}

/**
 * Resolves a server-side path a user named to the real path of a regular file inside
 * one of the operator-allowed `roots`. Symlinks and `..` are resolved first, so neither
 * escapes a root. Outside every root (or no roots configured): `path_not_allowed`;
 * inside but missing or not a regular file: `path_not_found`. A missing path outside
 * the roots answers `path_not_allowed`, so the check reveals nothing about the rest
 * of the filesystem.
 */
export async function resolveServerPath(path: string, roots: readonly string[]): Promise<string> {
  if (roots.length === 0) throw new DatasetError('path_not_allowed', 'server paths are disabled: no dataset roots are configured');
  if (!isAbsolute(path)) throw new DatasetError('path_not_allowed', `the path must be absolute: ${path}`);
  const realRoots = (await Promise.all(roots.map((r) => realpath(r).catch(() => null)))).filter((r): r is string => r !== null);
  const inside = (p: string, rs: readonly string[]) => rs.some((r) => p === r || p.startsWith(r.endsWith(sep) ? r : r + sep));
  let real: string;
  try {
    real = await realpath(path);
  } catch {
    if (inside(resolve(path), realRoots) || inside(resolve(path), roots.map((r) => resolve(r)))) {
      throw new DatasetError('path_not_found', `no such file: ${path}`);
    }
    throw new DatasetError('path_not_allowed', `${path} is outside the allowed dataset roots`);
  }
  if (!inside(real, realRoots)) throw new DatasetError('path_not_allowed', `${path} is outside the allowed dataset roots`);
  const info = await stat(real);
  if (!info.isFile()) throw new DatasetError('path_not_found', `${path} is not a regular file`);
  return real;
}

/** `resolveServerPath`, then copies the file into the dataset store. */
export async function storeServerFile(
  path: string,
  roots: readonly string[],
  options: { dataDir: string; maxBytes: number },
): Promise<StoredDataset & { sourcePath: string }> {
  const real = await resolveServerPath(path, roots);
  const info = await stat(real);
  if (info.size > options.maxBytes) {
    throw new DatasetError('file_too_large', `the file is larger than the ${formatBytes(options.maxBytes)} limit`, { maxBytes: options.maxBytes });
  }
  const stored = await storeStream(createReadStream(real), options);
  return { ...stored, sourcePath: real };
}
