import { InvalidInputError } from '../errors.js';
import { isId } from '../ids.js';
import type { IdKind } from '../ids.js';
import { isStorableText } from '../storable-text.js';

/**
 * What one list of the API pages by: its name, its page sizes, and the key a page
 * continues after. Each domain defines its listings next to its service; REST
 * (`after`/`limit`, src/rest/pages.ts) and GraphQL (Relay connections,
 * src/graphql/connection.ts) page every list the same way through them.
 */
export interface ListingSpec<T, K> {
  /** Names the list inside its cursors, so a cursor of another list is refused. */
  name: string;
  defaultSize: number;
  maxSize: number;
  /** The key a page continues after. */
  key(item: T): K;
  /** A key as the cursor stores it (`parseKey` reads it back). */
  partsOf(key: K): readonly string[];
  /** The key back from a cursor's parts; undefined when they cannot be one (the cursor is refused). */
  parseKey(parts: readonly string[]): K | undefined;
}

export interface Listing<T, K> extends ListingSpec<T, K> {
  /** The opaque cursor that continues after `item`. */
  cursorOf(item: T): string;
  /**
   * The cursor that continues after a key a client named otherwise — OpenAI's `after`
   * is the last object's id (src/rest/routes/openai-*.ts).
   */
  cursorAfter(key: K): string;
  /**
   * A page request checked once for every transport: `first` an integer from 1 to maxSize
   * (defaultSize when absent), `after` a cursor of this list. Anything else throws
   * InvalidInputError naming the field — a bad cursor never reaches SQL.
   */
  request(opts: { first?: number | null; after?: string | null }): { first: number; after: K | null };
}

/** One page of a listing as services return it. */
export interface Page<T> {
  items: readonly T[];
  hasNextPage: boolean;
}

const BASE64URL = /^[A-Za-z0-9_-]+$/;

/**
 * Cursors are base64url of the JSON array `[list name, ...key]`: opaque to clients (they
 * only hand back what they were given), typed on the way back in. Decoding refuses
 * anything that is not exactly such a cursor of this list — wrong alphabet or padding,
 * not JSON, another list's name, a key its listing cannot parse — with the same
 * INVALID_INPUT on `after`, never an error from the database.
 */
export function defineListing<T, K>(spec: ListingSpec<T, K>): Listing<T, K> {
  const invalid = () => new InvalidInputError('after', 'invalid cursor');

  function decode(cursor: string): K {
    if (cursor.length > 1000 || !BASE64URL.test(cursor)) throw invalid();
    const text = Buffer.from(cursor, 'base64url').toString('utf8');
    // Node decodes leniently: only a cursor this codec could have written is one.
    if (Buffer.from(text, 'utf8').toString('base64url') !== cursor) throw invalid();
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw invalid();
    }
    if (!Array.isArray(parsed) || parsed[0] !== spec.name) throw invalid();
    const parts = parsed.slice(1);
    if (!parts.every((p): p is string => typeof p === 'string' && isStorableText(p))) throw invalid();
    const key = spec.parseKey(parts);
    if (key === undefined) throw invalid();
    return key;
  }

  const cursorAfter = (key: K) => Buffer.from(JSON.stringify([spec.name, ...spec.partsOf(key)]), 'utf8').toString('base64url');
  return {
    ...spec,
    cursorOf: (item) => cursorAfter(spec.key(item)),
    cursorAfter,
    request(opts) {
      const first = opts.first ?? spec.defaultSize;
      if (!Number.isInteger(first) || first < 1 || first > spec.maxSize) {
        throw new InvalidInputError('first', `first must be an integer from 1 to ${spec.maxSize}, got ${first}`);
      }
      return { first, after: opts.after == null ? null : decode(opts.after) };
    },
  };
}

/** A listing ordered by object id alone (ids sort by creation time): the cursor holds the id. */
export function defineIdListing<T extends { id: string }>(name: string, kind: IdKind, sizes: { defaultSize: number; maxSize: number }) {
  return defineListing<T, string>({
    name,
    ...sizes,
    key: (item) => item.id,
    partsOf: (id) => [id],
    parseKey: ([id, ...rest]) => (id !== undefined && rest.length === 0 && isId(kind, id) ? id : undefined),
  });
}

/** Key parts: an integer sequence number (0 … 2^53). */
export function parseSeq(part: string | undefined): number | undefined {
  if (part === undefined || !/^(0|[1-9]\d{0,15})$/.test(part)) return undefined;
  const seq = Number(part);
  return Number.isSafeInteger(seq) ? seq : undefined;
}

/** Key parts: a timestamp exactly as `Date#toISOString` writes it. */
export function parseTime(part: string | undefined): Date | undefined {
  if (part === undefined) return undefined;
  const date = new Date(part);
  return !Number.isNaN(date.getTime()) && date.toISOString() === part ? date : undefined;
}

/**
 * Runs one page of a keyset query (already filtered, ordered and positioned after the
 * cursor's key): it asks for one row more than `first` to learn whether a next page exists.
 */
export async function fetchPage<R>(
  query: { limit(n: number): { execute(): Promise<R[]> } },
  first: number,
): Promise<{ items: R[]; hasNextPage: boolean }> {
  const rows = await query.limit(first + 1).execute();
  return { items: rows.slice(0, first), hasNextPage: rows.length > first };
}
