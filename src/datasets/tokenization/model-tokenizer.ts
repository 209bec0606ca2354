import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { DatasetError } from '../dataset-error.js';
import type { ChatExample, Example } from '../validation/check-example.js';
import { createEncoder } from './byte-level-encoder.js';
import type { Encoder } from './byte-level-encoder.js';
import { ChatRenderer } from './chat-renderer.js';
import type { RenderedText } from './chat-renderer.js';
import { chatTemplate, endOfTurnMarker, tokenText } from './template-config.js';

/** One example as the trainer sees it: token ids and which of them carry loss. */
export interface RenderedExample {
  tokens: Uint32Array;
  /** 1 = trained on (assistant text and its end-of-turn marker, or the completion). */
  mask: Uint8Array;
}

/**
 * Bumped whenever the rendering or masking rules change, so shards cached under
 * the old rules are not reused (it is part of `templateSha256`).
 */
export const RENDER_VERSION = 1;

/**
 * A base model's tokenizer and chat template, loaded from its Hugging Face folder.
 * Tokenization is exact: `renderExample` yields the ids of the template's rendering
 * tokenized in one go (not message by message), with the mask derived from byte
 * positions in that text.
 */
export class ModelTokenizer {
  private constructor(
    /** The folder it was loaded from; workers reload it from there. */
    readonly modelDir: string,
    readonly tokenizer: Tokenizer,
    private readonly encoder: Encoder,
    /** Whether the fast encoder passed its self-check (else the library encodes). */
    readonly fastEncoding: boolean,
    private readonly chat: ChatRenderer | null,
    private readonly specials: { bos: string | null; eos: string | null; addBos: boolean },
    private readonly nfc: boolean,
    /** Max sequence length of the model (config.json), or null when unknown. */
    readonly contextLength: number | null,
    /** sha256 of tokenizer.json's bytes. */
    readonly tokenizerSha256: string,
    /** sha256 of what shapes rendering: template, special tokens, RENDER_VERSION. */
    readonly templateSha256: string,
  ) {}

  /** Reads `tokenizer.json`, `tokenizer_config.json` and (if present) `config.json` from `modelDir`. */
  static async load(modelDir: string): Promise<ModelTokenizer> {
    const read = async (name: string, required: boolean): Promise<{ raw: Buffer; json: Record<string, unknown> } | null> => {
      let raw: Buffer;
      try {
        raw = await readFile(join(modelDir, name));
      } catch {
        if (!required) return null;
        throw new DatasetError('tokenizer_invalid', `${name} is missing from ${modelDir}`);
      }
      try {
        return { raw, json: JSON.parse(raw.toString('utf8')) as Record<string, unknown> };
      } catch {
        throw new DatasetError('tokenizer_invalid', `${name} in ${modelDir} is not valid JSON`);
      }
    };
    const tokenizerFile = (await read('tokenizer.json', true))!;
    const config = (await read('tokenizer_config.json', true))!.json;
    const modelConfig = (await read('config.json', false))?.json ?? {};
    let tokenizer: Tokenizer;
    try {
      tokenizer = new Tokenizer(tokenizerFile.json, config);
    } catch (error) {
      throw new DatasetError('tokenizer_invalid', `tokenizer.json cannot be loaded: ${(error as Error).message}`);
    }
    const json = tokenizerFile.json as Parameters<typeof createEncoder>[0]['json'];
    const normalizer = json.normalizer?.type ?? null;
    if (normalizer !== null && normalizer !== 'NFC') {
      throw new DatasetError('tokenizer_unsupported', `tokenizer normalizer ${normalizer} is not supported (only none or NFC)`);
    }
    if ((json.added_tokens ?? []).some((t) => t.lstrip || t.rstrip)) {
      throw new DatasetError('tokenizer_unsupported', 'added tokens with lstrip/rstrip are not supported');
    }
    const specials = {
      bos: tokenText(config.bos_token),
      eos: tokenText(config.eos_token),
      addBos: config.add_bos_token === true,
    };
    const template = await chatTemplate(modelDir, config);
    let chat: ChatRenderer | null = null;
    if (template !== null) {
      const globals = {
        bos_token: specials.bos ?? '',
        eos_token: specials.eos ?? '',
        pad_token: tokenText(config.pad_token) ?? '',
        unk_token: tokenText(config.unk_token) ?? '',
      };
      const special = (json.added_tokens ?? []).filter((t) => t.special).map((t) => t.content);
      chat = new ChatRenderer(template, globals, endOfTurnMarker(template, globals, special, specials.eos));
    }
    const { encode, fast } = createEncoder({ tokenizer, json });
    const maxPositions = Number(modelConfig.max_position_embeddings ?? NaN);
    const maxLength = Number(config.model_max_length ?? NaN);
    const contextLength = maxPositions > 0 ? maxPositions : maxLength > 0 && maxLength < 10_000_000 ? maxLength : null;
    const sha = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');
    const templateSha = sha(JSON.stringify({ template, bos: specials.bos, eos: specials.eos, addBos: specials.addBos, RENDER_VERSION }));
    return new ModelTokenizer(
      modelDir,
      tokenizer,
      encode,
      fast,
      chat,
      specials,
      normalizer === 'NFC',
      contextLength,
      sha(tokenizerFile.raw),
      templateSha,
    );
  }

  /** Whether skeleton rendering is used for the chat template (else Jinja renders each example). */
  get fastTemplate(): boolean {
    return this.chat?.opaque ?? false;
  }

  /** Literal text that ends an assistant turn and is trained on (`<|im_end|>`), or null without a template. */
  get endOfTurn(): string | null {
    return this.chat?.endOfTurn ?? null;
  }

  get hasChatTemplate(): boolean {
    return this.chat !== null;
  }

  /** The example as text plus its trainable byte spans. */
  renderText(example: Example): RenderedText {
    if ('messages' in example) {
      if (!this.chat)
        throw new DatasetError('tokenizer_invalid', 'the model has no chat template, so chat-format datasets cannot be used with it');
      return this.chat.render(this.nfc ? nfcChat(example) : example);
    }
    const bos = this.specials.addBos && this.specials.bos ? this.specials.bos : '';
    const prompt = bos + (this.nfc ? example.prompt.normalize('NFC') : example.prompt);
    const rest = (this.nfc ? example.completion.normalize('NFC') : example.completion) + (this.specials.eos ?? '');
    const start = Buffer.byteLength(prompt);
    return { text: prompt + rest, spans: [[start, start + Buffer.byteLength(rest)]] };
  }

  /** Tokens and loss mask of one example: tokens overlapping a trainable span are trained on. */
  renderExample(example: Example): RenderedExample {
    const { text, spans } = this.renderText(example);
    const { ids, ends } = this.encoder(text);
    if ((ends[ends.length - 1] ?? 0) !== Buffer.byteLength(text)) {
      throw new DatasetError(
        'template_mismatch',
        'the tokenizer changed the text while encoding it (normalization), so the loss mask cannot be placed exactly',
      );
    }
    const tokens = ids;
    const mask = new Uint8Array(ids.length);
    let s = 0;
    for (let i = 0; i < ids.length && s < spans.length; i++) {
      const start = i === 0 ? 0 : ends[i - 1]!;
      while (s < spans.length && spans[s]![1] <= start) s++;
      if (s < spans.length && spans[s]![0] < ends[i]!) mask[i] = 1;
    }
    return { tokens, mask };
  }

  /** Plain tokenization of `text` (special tokens recognised, none added). */
  encode(text: string): Uint32Array {
    return this.encoder(text).ids;
  }

  decode(ids: ArrayLike<number>): string {
    if (ids.length === 0) return '';
    return this.tokenizer.decode(Array.from(ids), { skip_special_tokens: false, clean_up_tokenization_spaces: false });
  }
}

/** Loads a base model's tokenizer and chat template (see `ModelTokenizer`). */
export function loadModelTokenizer(modelDir: string): Promise<ModelTokenizer> {
  return ModelTokenizer.load(modelDir);
}

function nfcChat(example: ChatExample): ChatExample {
  return {
    ...example,
    messages: example.messages.map((m) => (typeof m.content === 'string' ? { ...m, content: m.content.normalize('NFC') } : m)),
  };
}
