import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TokenizerError } from './tokenizer-error.js';
import { ChatRenderer } from './chat-renderer.js';

/** A special token's text from tokenizer_config.json: a string or an AddedToken object. */
export function tokenText(value: unknown): string | null {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object' && typeof (value as { content?: unknown }).content === 'string')
    return (value as { content: string }).content;
  return null;
}

/** The chat template: tokenizer_config.json's (the `default` of a named list), or chat_template.jinja. */
export async function chatTemplate(modelDir: string, config: Record<string, unknown>): Promise<string | null> {
  const t = config.chat_template;
  if (typeof t === 'string') return t;
  if (Array.isArray(t)) {
    const named = t as Array<{ name?: string; template?: string }>;
    return (named.find((x) => x.name === 'default') ?? named[0])?.template ?? null;
  }
  try {
    return await readFile(join(modelDir, 'chat_template.jinja'), 'utf8');
  } catch {
    return null;
  }
}

/**
 * What the template writes after an assistant's text, up to and including the first
 * special token (`<|im_end|>`, `<|eot_id|>`, `</s>`): the model must learn to emit it.
 */
export function endOfTurnMarker(template: string, globals: Record<string, unknown>, special: string[], eos: string | null): string {
  const probe = '\uE000reply\uE001';
  let text: string;
  try {
    const renderer = new ChatRenderer(template, globals, '');
    text = renderer.renderSlow({
      messages: [
        { role: 'user', content: 'Hi' },
        { role: 'assistant', content: probe },
      ],
    }).text;
  } catch (error) {
    throw new TokenizerError('tokenizer_invalid', `the chat template cannot render a user/assistant exchange: ${(error as Error).message}`);
  }
  const at = text.indexOf(probe);
  if (at < 0) throw new TokenizerError('tokenizer_unsupported', 'the chat template does not output the assistant message content');
  const after = text.slice(at + probe.length);
  let best = -1;
  let bestLength = 0;
  for (const s of eos ? [...special, eos] : special) {
    const i = after.indexOf(s);
    if (i >= 0 && (best < 0 || i < best)) [best, bestLength] = [i, s.length];
  }
  if (best < 0)
    throw new TokenizerError('tokenizer_unsupported', 'the chat template writes no special end-of-turn token after an assistant message');
  return after.slice(0, best + bestLength);
}
