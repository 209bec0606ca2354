/**
 * Text PostgreSQL cannot store: NUL (text and jsonb refuse U+0000) and lone UTF-16
 * surrogates (they have no UTF-8 form; the driver would silently store U+FFFD instead).
 * Each transport checks its inputs with these once, before any route or resolver runs
 * (src/rest/strict-input.ts, src/graphql/strict-input.ts).
 */
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** True when PostgreSQL can store `value` exactly. */
export function isStorableText(value: string): boolean {
  return !UNSTORABLE.test(value);
}

/**
 * The path of the first string — or object key — in a JSON-like value that PostgreSQL
 * cannot store, e.g. `body.messages[2].content`; undefined when there is none.
 */
export function unstorablePath(value: unknown, path: string): string | undefined {
  if (typeof value === 'string') return isStorableText(value) ? undefined : path;
  if (value === null || typeof value !== 'object') return undefined;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = unstorablePath(value[i], `${path}[${i}]`);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  // Streams, buffers and files are not text (query-string parsers make objects of their own prototypes).
  if (ArrayBuffer.isView(value) || typeof (value as { pipe?: unknown }).pipe === 'function' || value instanceof Blob) return undefined;
  for (const [key, item] of Object.entries(value)) {
    const at = path ? `${path}.${key}` : key;
    if (!isStorableText(key)) return at;
    const found = unstorablePath(item, at);
    if (found !== undefined) return found;
  }
  return undefined;
}
