import { constants as fsConstants } from 'node:fs';
import { open, readlink, realpath, stat } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { lookup } from 'node:dns/promises';
import http from 'node:http';
import type { IncomingMessage } from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { delimiter, isAbsolute, resolve, sep } from 'node:path';
import { pipeline } from 'node:stream';
import type { Readable } from 'node:stream';
import zlib from 'node:zlib';
import { addressBlockReason, guardedLookup, urlHost } from '../net/address-guard.js';
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
   * Let the URL reach loopback, private, link-local and other non-public addresses
   * (cloud metadata addresses stay refused). Off by default: a server that fetches any
   * URL a user names is an SSRF hole.
   */
  allowPrivate?: boolean;
  signal?: AbortSignal;
}

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const MAX_URL_LENGTH = 4096;

/**
 * Downloads an http(s) URL into the dataset store. Redirects are followed by hand
 * (at most `maxRedirects`), each target re-checked like the first URL. Failures are
 * `DatasetError`s: `url_not_allowed`, `fetch_failed` (`details.status` holds the
 * HTTP status when there was one), `file_too_large`, `fetch_timeout`,
 * `too_many_redirects`. Nothing is left in the store on failure.
 *
 * The address policy (src/net/address-guard.ts) is applied by the socket's own
 * resolver, so the address that was checked is the one connected to: a DNS answer
 * that changes between a check and the connection (rebinding) is refused too.
 * gzip/deflate/br bodies are decompressed; the byte limit applies to the decompressed
 * file, so a small compressed bomb stops at the limit.
 */
export async function fetchUrlToStore(url: string, options: FetchUrlOptions): Promise<StoredDataset & { url: string }> {
  const { dataDir, maxBytes, timeoutMs = 60_000, maxRedirects = 3, allowPrivate = false } = options;
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = options.signal ? AbortSignal.any([timeout, options.signal]) : timeout;
  const resolver = guardedLookup(allowPrivate);
  let current = await checkUrl(url, allowPrivate);
  try {
    for (let redirects = 0; ; redirects++) {
      const response = await get(current, resolver, signal);
      const status = response.statusCode ?? 0;
      if (REDIRECT_STATUSES.has(status)) {
        response.destroy();
        const location = response.headers.location;
        if (!location) throw new DatasetError('fetch_failed', `redirect (HTTP ${status}) without a Location header`, { status });
        if (redirects >= maxRedirects) {
          throw new DatasetError('too_many_redirects', `more than ${maxRedirects} redirects`, { maxRedirects });
        }
        current = await checkUrl(new URL(location, current).href, allowPrivate);
        continue;
      }
      if (status < 200 || status > 299) {
        response.destroy();
        throw new DatasetError('fetch_failed', `the server answered HTTP ${status} for ${current.href}`, { status });
      }
      const encoding = (response.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
      const declared = Number(response.headers['content-length'] ?? NaN);
      if (encoding === 'identity' && declared > maxBytes) {
        response.destroy();
        throw new DatasetError('file_too_large', `the file is larger than the ${formatBytes(maxBytes)} limit`, { maxBytes });
      }
      const body = decoded(response, encoding);
      try {
        const stored = await storeStream(body, { dataDir, maxBytes, signal });
        return { ...stored, url: current.href };
      } catch (error) {
        if (body.decodingError) {
          throw new DatasetError(
            'content_decoding_failed',
            `the ${encoding} body of ${current.href} is corrupt or cut short (${body.decodingError.message}); nothing was stored`,
            { encoding },
          );
        }
        if (error instanceof DatasetError && error.code === 'upload_aborted' && !signal.aborted) {
          throw new DatasetError(
            'fetch_failed',
            `the download of ${current.href} broke off: ${String(error.details.cause ?? error.message)}`,
            { cause: error.details.cause },
          );
        }
        throw error;
      } finally {
        body.destroy();
        response.destroy();
      }
    }
  } catch (error) {
    if (timeout.aborted) {
      throw new DatasetError('fetch_timeout', `the download did not complete within ${timeoutMs / 1000} s`, { timeoutMs });
    }
    if (error instanceof DatasetError) throw error;
    const err = error as NodeJS.ErrnoException & { reason?: string };
    if (err.code === 'EADDRBLOCKED') {
      throw new DatasetError('url_not_allowed', `${err.reason ?? err.message}, which is not allowed`);
    }
    if (err.code === 'ENOTFOUND' || err.code === 'EAI_AGAIN') {
      throw new DatasetError('fetch_failed', `cannot resolve host ${current.hostname}`, { cause: err.code });
    }
    const cause = error instanceof Error ? ((error.cause as Error | undefined)?.message ?? error.message) : String(error);
    throw new DatasetError('fetch_failed', `could not download ${current.href}: ${cause}`, { cause });
  }
}

/** One GET on node:http(s), connecting through `resolver` (the address policy). */
function get(url: URL, resolver: ReturnType<typeof guardedLookup>, signal: AbortSignal): Promise<IncomingMessage> {
  return new Promise((resolvePromise, reject) => {
    const request = (url.protocol === 'https:' ? https : http).get(url, {
      agent: false,
      lookup: resolver,
      signal,
      headers: { 'user-agent': 'Tuneloop-Datasets/1', accept: '*/*', 'accept-encoding': 'gzip, deflate, br' },
    });
    request.once('response', resolvePromise);
    request.once('error', reject);
  });
}

/**
 * The response body, decompressed when the server compressed it. `pipeline` puts an
 * 'error' listener on both streams at once: a corrupt body can fail the decoder before
 * anyone reads it (while the store opens its file), and an 'error' event with no listener
 * would end the process. `decodingError` is set when the decoder itself failed (corrupt,
 * truncated or trailing-garbage data), as opposed to the connection.
 */
function decoded(response: IncomingMessage, encoding: string): Readable & { decodingError?: Error } {
  const decoder =
    encoding === 'gzip' || encoding === 'x-gzip'
      ? zlib.createGunzip()
      : encoding === 'deflate'
        ? zlib.createInflate()
        : encoding === 'br'
          ? zlib.createBrotliDecompress()
          : null;
  if (!decoder) {
    if (encoding !== 'identity') {
      response.destroy();
      throw new DatasetError('fetch_failed', `the server sent an unsupported Content-Encoding: ${encoding}`);
    }
    return response;
  }
  const body: Readable & { decodingError?: Error } = decoder;
  // Before pipeline's own listener, so the cause is known by the time a reader sees the error.
  decoder.on('error', (err) => {
    if (isDecoderError(err)) body.decodingError ??= err;
  });
  pipeline(response, decoder, () => {});
  return body;
}

/** zlib's own errors carry a numeric errno and a `Z_…` code (brotli: `ERR__…`); a connection error does not. */
function isDecoderError(err: NodeJS.ErrnoException): boolean {
  return typeof err.errno === 'number' && /^(Z_|ERR__)/.test(err.code ?? '');
}

async function checkUrl(raw: string, allowPrivate: boolean): Promise<URL> {
  let url: URL;
  if (raw.length > MAX_URL_LENGTH) throw new DatasetError('url_not_allowed', `the URL is longer than ${MAX_URL_LENGTH} characters`);
  try {
    url = new URL(raw);
  } catch {
    throw new DatasetError('url_not_allowed', `not a valid URL: ${raw.slice(0, 200)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new DatasetError('url_not_allowed', `only http and https URLs are allowed, not ${url.protocol}`);
  }
  if (url.username || url.password) {
    throw new DatasetError('url_not_allowed', 'URLs with credentials are not allowed');
  }
  const host = urlHost(url);
  if (!host) throw new DatasetError('url_not_allowed', 'the URL has no host');
  // IP literals skip the socket's resolver, so they are judged here; host names are
  // judged here for an early, clear answer and again by the resolver on connect.
  const addresses = net.isIP(host) ? [host] : allowPrivate ? [] : await resolveAll(host);
  for (const address of addresses) {
    const reason = addressBlockReason(address, allowPrivate);
    if (reason) {
      const prefix = address === host ? '' : `${url.hostname} resolves to `;
      throw new DatasetError('url_not_allowed', `${prefix}${reason}, which is not allowed`);
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
 * The one answer for every refused server path — missing, outside the roots, a symlink
 * that escapes them, unreadable, not a regular file, not absolute: the same status, code
 * and message, so the answer reveals nothing about the rest of the filesystem (a
 * different answer for a symlink to an existing file than to a missing one would tell
 * which files exist).
 */
function refusedPath(): DatasetError {
  return new DatasetError(
    'path_not_allowed',
    'no readable regular file at this path inside the allowed dataset roots (the path must be absolute)',
  );
}

/** A server file opened for intake: its real path, an open handle and its size. */
export interface OpenedServerFile {
  real: string;
  handle: FileHandle;
  size: number;
}

/**
 * Opens a server-side path a user named, if it is a regular file inside one of the
 * operator-allowed `roots`. Symlinks and `..` are resolved before the check, so neither
 * escapes a root, and the file that is opened is checked again through its descriptor,
 * so a path component swapped for a symlink after the check is refused too. Every refusal
 * is the same `path_not_allowed` (see `refusedPath`); only "no roots are configured" is
 * told apart, since it depends on the operator, not on the path. The caller closes `handle`.
 */
export async function openServerFile(path: string, roots: readonly string[]): Promise<OpenedServerFile> {
  if (roots.length === 0) throw new DatasetError('path_not_allowed', 'server paths are disabled: no dataset roots are configured');
  const realRoots = (await Promise.all(roots.map((r) => realpath(r).catch(() => null)))).filter((r): r is string => r !== null);
  const inside = (p: string) => realRoots.some((r) => p === r || p.startsWith(r.endsWith(sep) ? r : r + sep));
  let handle: FileHandle | undefined;
  try {
    if (typeof path !== 'string' || !isAbsolute(path)) throw refusedPath();
    const real = await realpath(path);
    if (!inside(real)) throw refusedPath();
    // O_NOFOLLOW: the last component must not have become a symlink; O_NONBLOCK: a FIFO
    // must not hang the request (it is refused below as not a regular file).
    handle = await open(real, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK);
    const info = await handle.stat();
    if (!info.isFile()) throw refusedPath();
    const opened = await readlink(`/proc/self/fd/${handle.fd}`).catch(() => null);
    if (opened !== null ? !inside(opened) : (await stat(real)).ino !== info.ino) throw refusedPath();
    return { real, handle, size: info.size };
  } catch (error) {
    await handle?.close().catch(() => {});
    if (error instanceof DatasetError) throw error;
    throw refusedPath();
  }
}

/** The real path of a server file `openServerFile` accepts (refusals as there). */
export async function resolveServerPath(path: string, roots: readonly string[]): Promise<string> {
  const opened = await openServerFile(path, roots);
  await opened.handle.close();
  return opened.real;
}

/** `openServerFile`, then copies the file into the dataset store. */
export async function storeServerFile(
  path: string,
  roots: readonly string[],
  options: { dataDir: string; maxBytes: number },
): Promise<StoredDataset & { sourcePath: string }> {
  const { real, handle, size } = await openServerFile(path, roots);
  try {
    if (size > options.maxBytes) {
      throw new DatasetError('file_too_large', `the file is larger than the ${formatBytes(options.maxBytes)} limit`, {
        maxBytes: options.maxBytes,
      });
    }
    const stored = await storeStream(handle.createReadStream({ autoClose: false }), options);
    return { ...stored, sourcePath: real };
  } finally {
    await handle.close().catch(() => {});
  }
}
