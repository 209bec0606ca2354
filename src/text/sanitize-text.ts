/**
 * Makes text that came from user data safe to store and to echo. PostgreSQL refuses
 * NUL in `text` and `jsonb` (22021 / 22P05): one NUL in a dataset line used to end
 * in an error while its validation report was being stored. Lone UTF-16 surrogates are
 * not Unicode characters (UTF-8 cannot encode them) and other control characters garble
 * logs and terminals. So:
 *  - NUL and the other C0 controls except tab, newline and carriage return, DEL and the
 *    C1 controls become visible escapes (`\u0000`), so a message still says what was there;
 *  - lone surrogates become U+FFFD;
 *  - text longer than `maxLength` UTF-16 units is cut, with `…` at the end.
 */
export function sanitizeText(text: string, maxLength = 10_000): string {
  let out = text.length > maxLength ? `${text.slice(0, maxLength)}…` : text;
  if (CONTROL.test(out)) out = out.replace(CONTROL_ALL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return LONE_SURROGATE.test(out) ? out.replace(LONE_SURROGATE_ALL, '\uFFFD') : out;
}

/** Whether `text` holds a UTF-16 surrogate without its pair (not a Unicode character). */
export function hasLoneSurrogate(text: string): boolean {
  return LONE_SURROGATE.test(text);
}

/** Whether `text` is stored unchanged by `sanitizeText` (no control character, no lone surrogate). */
export function isCleanText(text: string): boolean {
  return !CONTROL.test(text) && !LONE_SURROGATE.test(text);
}

const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/;
const CONTROL_ALL = new RegExp(CONTROL.source, 'g');
// String.prototype.isWellFormed is ES2024; the project targets an older lib.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const LONE_SURROGATE_ALL = new RegExp(LONE_SURROGATE.source, 'g');
