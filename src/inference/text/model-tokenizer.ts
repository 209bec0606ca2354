import fs from 'node:fs/promises';
import path from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { Template } from '@huggingface/jinja';
import { byteLevelAlphabet, byteLevelDecoder, windowDecoder } from './stream-decoder.js';
import type { StreamDecoder } from './stream-decoder.js';

/** One chat message after validation: the template sees `role` and `content`. */
export interface ChatMessage {
  role: string;
  content: string;
  name?: string;
}

/** A model folder's tokenizer or chat template cannot be used; the message says why. */
export class TokenizerLoadError extends Error {}

/** A chat template that failed on these messages (e.g. `raise_exception` on a bad role order). */
export class ChatTemplateError extends Error {}

type Json = Record<string, unknown>;

/**
 * A model's tokenizer and chat template for inference, loaded from its Hugging Face
 * folder (tokenizer.json, tokenizer_config.json, generation_config.json, config.json).
 * Used on both sides of the worker boundary: the api encodes prompts (it must count them
 * before it reserves money), the runtime decodes generated tokens.
 */
export class ModelTokenizer {
  private constructor(
    private readonly tokenizer: Tokenizer,
    private readonly template: Template | null,
    private readonly globals: Json,
    /** Ids that end generation: the configured eos token(s). */
    readonly eosTokenIds: readonly number[],
    /** Special added tokens: never shown in generated text. */
    readonly specialTokenIds: ReadonlySet<number>,
    private readonly tokenBytes: ReadonlyArray<Uint8Array | null> | null,
  ) {}

  static async load(modelDir: string): Promise<ModelTokenizer> {
    const read = async (name: string, required: boolean): Promise<Json | undefined> => {
      let text: string;
      try {
        text = await fs.readFile(path.join(modelDir, name), 'utf8');
      } catch {
        if (required) throw new TokenizerLoadError(`${name} is missing from the model folder`);
        return undefined;
      }
      try {
        return JSON.parse(text) as Json;
      } catch {
        throw new TokenizerLoadError(`${name} is not valid JSON`);
      }
    };
    const json = (await read('tokenizer.json', true))!;
    const config = (await read('tokenizer_config.json', true))!;
    const generation = (await read('generation_config.json', false)) ?? {};
    const modelConfig = (await read('config.json', false)) ?? {};
    let tokenizer: Tokenizer;
    try {
      tokenizer = new Tokenizer(json, config);
    } catch (err) {
      throw new TokenizerLoadError(`tokenizer.json does not load: ${(err as Error).message}`);
    }
    const added = (json.added_tokens as Array<{ id: number; content: string; special?: boolean }> | undefined) ?? [];
    const special = new Set(added.filter((t) => t.special).map((t) => t.id));

    const eos = new Set<number>();
    const eosText = tokenText(config.eos_token);
    const eosId = eosText === null ? undefined : tokenizer.token_to_id(eosText);
    if (eosId !== undefined) eos.add(eosId);
    for (const source of [generation.eos_token_id, modelConfig.eos_token_id]) {
      for (const id of Array.isArray(source) ? source : [source]) if (Number.isInteger(id)) eos.add(id as number);
    }

    const source = await chatTemplateSource(modelDir, config);
    let template: Template | null = null;
    if (source !== null) {
      try {
        template = new Template(source);
      } catch (err) {
        throw new TokenizerLoadError(`the chat template does not parse: ${(err as Error).message}`);
      }
    }
    const globals = {
      bos_token: tokenText(config.bos_token) ?? '',
      eos_token: eosText ?? '',
      pad_token: tokenText(config.pad_token) ?? '',
      unk_token: tokenText(config.unk_token) ?? '',
    };
    const decoderType = (json.decoder as { type?: string } | null | undefined)?.type;
    const bytes = decoderType === 'ByteLevel' ? byteTable(tokenizer, added, special) : null;
    return new ModelTokenizer(tokenizer, template, globals, [...eos], special, bytes);
  }

  get hasChatTemplate(): boolean {
    return this.template !== null;
  }

  /** Raw text as `tokenizer(text)` encodes it (special tokens the tokenizer adds included). */
  encode(text: string): number[] {
    return this.tokenizer.encode(text, { add_special_tokens: true }).ids;
  }

  /** The chat rendered by the model's template with the assistant's turn opened, tokenized. */
  encodeChat(messages: readonly ChatMessage[]): number[] {
    return this.tokenizer.encode(this.renderChat(messages), { add_special_tokens: false }).ids;
  }

  renderChat(messages: readonly ChatMessage[]): string {
    if (!this.template) throw new ChatTemplateError('this model has no chat template; use /v1/completions with a plain prompt');
    try {
      return this.template.render({ ...this.globals, messages, add_generation_prompt: true });
    } catch (err) {
      throw new ChatTemplateError(`the model's chat template rejected these messages: ${(err as Error).message}`);
    }
  }

  decode(ids: readonly number[]): string {
    return this.tokenizer.decode([...ids], { skip_special_tokens: true, clean_up_tokenization_spaces: false });
  }

  /** A fresh incremental decoder for one generation. */
  streamDecoder(): StreamDecoder {
    return this.tokenBytes ? byteLevelDecoder(this.tokenBytes) : windowDecoder(this.tokenizer, this.specialTokenIds);
  }
}

function tokenText(value: unknown): string | null {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object' && typeof (value as { content?: unknown }).content === 'string') {
    return (value as { content: string }).content;
  }
  return null;
}

async function chatTemplateSource(modelDir: string, config: Json): Promise<string | null> {
  const t = config.chat_template;
  if (typeof t === 'string') return t;
  if (Array.isArray(t)) {
    const named = t as Array<{ name?: string; template?: string }>;
    return (named.find((x) => x.name === 'default') ?? named[0])?.template ?? null;
  }
  return fs.readFile(path.join(modelDir, 'chat_template.jinja'), 'utf8').catch(() => null);
}

/**
 * Each id's exact bytes for a byte-level vocabulary; special tokens map to null (no text).
 * Returns null when some token is not byte-level after all (the window decoder then works
 * from the library's own decode).
 */
function byteTable(
  tokenizer: Tokenizer,
  added: Array<{ id: number; content: string; special?: boolean }>,
  special: ReadonlySet<number>,
): Array<Uint8Array | null> | null {
  const alphabet = byteLevelAlphabet();
  const table: Array<Uint8Array | null> = [];
  const addedById = new Map(added.map((t) => [t.id, t]));
  const encoder = new TextEncoder();
  for (const [token, id] of tokenizer.get_vocab(true)) {
    if (special.has(id)) {
      table[id] = null;
      continue;
    }
    const addedToken = addedById.get(id);
    if (addedToken) {
      table[id] = encoder.encode(addedToken.content);
      continue;
    }
    const bytes = new Uint8Array(token.length);
    let i = 0;
    for (const ch of token) {
      const b = alphabet.get(ch);
      if (b === undefined) return null;
      bytes[i++] = b;
    }
    table[id] = bytes.subarray(0, i);
  }
  return table;
}
