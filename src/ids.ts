import { randomBytes } from 'node:crypto';

/**
 * Object ids: `<prefix>_<26 chars>` — 10 characters of millisecond time then 16 random,
 * in lowercase Crockford base32, so ids sort by creation time (cursor pagination by id
 * is stable) and carry their type. The same string is used on every surface.
 */
const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';

export const idPrefixes = {
  account: 'acct',
  apiKey: 'key',
  dataset: 'ds',
  trainingJob: 'ftjob',
  deployment: 'dep',
  webhookEndpoint: 'whep',
  webhookMessage: 'msg',
  webhookDelivery: 'whdl',
  ledgerEntry: 'le',
  reservation: 'rsv',
  usage: 'use',
} as const;

export type IdKind = keyof typeof idPrefixes;

function encodeTime(ms: number): string {
  let out = '';
  for (let i = 0; i < 10; i++) {
    out = ALPHABET[ms % 32] + out;
    ms = Math.floor(ms / 32);
  }
  return out;
}

function encodeRandom(length: number): string {
  const bytes = randomBytes(length);
  let out = '';
  for (let i = 0; i < length; i++) out += ALPHABET[bytes[i]! & 31];
  return out;
}

/** A new id of the given kind, e.g. `newId('trainingJob')` → `ftjob_01j…`. */
export function newId(kind: IdKind): string {
  return `${idPrefixes[kind]}_${encodeTime(Date.now())}${encodeRandom(16)}`;
}

/**
 * Completion ids in OpenAI's shape: `chatcmpl-<26 chars>` for chat completions,
 * `cmpl-<26 chars>` for text completions (the same time-sorted body as `newId`). They
 * are the usage row's id and the ledger's reference, like `use_…` ids of other callers.
 */
export const completionIdPrefixes = { chat: 'chatcmpl-', text: 'cmpl-' } as const;

export function newCompletionId(kind: keyof typeof completionIdPrefixes): string {
  return `${completionIdPrefixes[kind]}${encodeTime(Date.now())}${encodeRandom(16)}`;
}

/** True for the id of a usage row: `use_…`, `chatcmpl-…` or `cmpl-…`. */
export function isUsageId(value: string): boolean {
  if (isId('usage', value)) return true;
  return Object.values(completionIdPrefixes).some((p) => value.startsWith(p) && ID_BODY.test(value.slice(p.length)));
}

/** The kind an id names by its prefix, or undefined. Model ids are catalog names, not prefixed. */
export function idKind(id: string): IdKind | undefined {
  const prefix = id.slice(0, id.indexOf('_'));
  for (const [kind, p] of Object.entries(idPrefixes)) if (p === prefix) return kind as IdKind;
  return undefined;
}

const ID_BODY = /^[0-9a-hjkmnp-tv-z]{26}$/;

/** True when `value` has the shape of an id of `kind` (its prefix, then 26 base32 characters). */
export function isId(kind: IdKind, value: string): boolean {
  return value.startsWith(`${idPrefixes[kind]}_`) && ID_BODY.test(value.slice(idPrefixes[kind].length + 1));
}

/** The last 8 characters of an id: random, short enough for model names. */
export function shortId(id: string): string {
  return id.slice(-8);
}

/** A random token in base62 (API keys, secrets). 32 chars ≈ 190 bits. */
export function randomToken(length = 32): string {
  const chars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  let out = '';
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      // 248 = 62 * 4: rejecting the rest keeps every character equally likely.
      if (byte < 248 && out.length < length) out += chars[byte % 62];
    }
  }
  return out;
}
