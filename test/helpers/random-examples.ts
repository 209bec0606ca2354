import type { ChatExample, ChatMessage } from '../../src/datasets/validation/index.js';

export type Rng = () => number;

/** A small deterministic PRNG (mulberry32): the same seed gives the same examples. */
export function seeded(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[Math.floor(rng() * xs.length)]!;

const ASCII_PIECES = [
  'the',
  'quick',
  'brown',
  'fox',
  'Hello',
  'world',
  "don't",
  "I'M",
  "they'll",
  'x',
  'return',
  'def',
  '42',
  '3.14159',
  '2024',
  '!',
  '?',
  '...',
  '(',
  ')',
  '{',
  '}',
  '"',
  "'",
  '**',
  '->',
  '__init__',
  '#',
  'a_b',
  ' ',
  '  ',
  '   ',
  '\n',
  '\n\n',
  '\t',
  '\r\n',
  ' \n ',
  '    ',
  '<|im_end|>',
  '<|im_start|>',
  '<|endoftext|>',
  '<|im',
  '|>',
  '<',
  '|',
];
const UNICODE_PIECES = [
  'café',
  'naïve',
  'e\u0301',
  '東京',
  'Привет',
  'مرحبا',
  '👩‍💻',
  '🎉',
  '👍🏽',
  '𝔘𝔫𝔦𝔠𝔬𝔡𝔢',
  '\u00a0',
  '—',
  '\u2028',
  'ﬁ',
  '\u{10FFFD}',
];

/** Text of 1–30 pieces: words, numbers, punctuation, whitespace runs, special tokens, and optionally non-ASCII. */
export function randomText(rng: Rng, opts: { ascii: boolean }): string {
  const n = 1 + Math.floor(rng() * 30);
  let s = '';
  for (let i = 0; i < n; i++) {
    const unicode = !opts.ascii && rng() < 0.3;
    s += pick(rng, unicode ? UNICODE_PIECES : ASCII_PIECES);
    if (rng() < 0.5) s += ' ';
  }
  return s;
}

/**
 * A conversation of random shape: optional system message, 1–4 user/assistant turns,
 * tool messages, `weight: 0`, empty contents. Without `leadingWhitespace`, no content
 * starts with whitespace (the only case where a token can straddle template and content).
 */
export function randomChat(rng: Rng, opts: { leadingWhitespace: boolean }): ChatExample {
  const content = (): string => {
    if (rng() < 0.05) return '';
    const t = randomText(rng, { ascii: false });
    return opts.leadingWhitespace ? t : t.replace(/^\s+/u, '') || 'x';
  };
  const messages: ChatMessage[] = [];
  if (rng() < 0.5) messages.push({ role: 'system', content: content() });
  const turns = 1 + Math.floor(rng() * 4);
  for (let t = 0; t < turns; t++) {
    messages.push({ role: 'user', content: content() });
    if (rng() < 0.15) messages.push({ role: 'tool', content: content() });
    const assistant: ChatMessage = { role: 'assistant', content: content() };
    if (t < turns - 1 && rng() < 0.3) assistant.weight = 0;
    messages.push(assistant);
  }
  return { messages };
}
