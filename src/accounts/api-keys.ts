import crypto from 'node:crypto';
import { randomToken } from '../ids.js';

/**
 * API keys are `tl_` + 40 random base62 characters (≈ 238 bits). Only their sha256 is
 * stored: a slow password hash buys nothing for a key with this much entropy and would
 * cost a KDF per uncached request. The first 12 characters are kept as a prefix so a user
 * can tell their keys apart in listings.
 */
export const API_KEY_PREFIX = 'tl_';

export interface GeneratedKey {
  key: string;
  prefix: string;
  hash: string;
}

export function generateApiKey(): GeneratedKey {
  const key = API_KEY_PREFIX + randomToken(40);
  return { key, prefix: key.slice(0, 12), hash: hashApiKey(key) };
}

/** One-shot `crypto.hash` (Node ≥ 20.12) is cheaper than a Hash object (docs/PERFORMANCE.md, "Why the code is shaped so"); it runs on every request. */
const oneShot = (crypto as { hash?: (algorithm: string, data: string, encoding: 'hex') => string }).hash;

export function hashApiKey(key: string): string {
  return oneShot ? oneShot('sha256', key, 'hex') : crypto.createHash('sha256').update(key).digest('hex');
}

/** The key in an `Authorization: Bearer <key>` value, or undefined when malformed. */
export function bearerToken(header: string | undefined | null): string | undefined {
  if (!header) return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1];
}
