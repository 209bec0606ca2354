import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { createEncoder } from './byte-level-encoder.js';
import type { Encoder } from './byte-level-encoder.js';
import { ChatRenderer } from './chat-renderer.js';
import type { RenderedText } from './chat-renderer.js';
import type { ChatExample, ChatMessage, Example } from './example.js';
import { byteLevelDecoder, byteTable, windowDecoder } from './stream-decoder.js';
import type { StreamDecoder } from './stream-decoder.js';
import { chatTemplate, endOfTurnMarker, tokenText } from './template-config.js';
import { TokenizerError } from './tokenizer-error.js';

/** One example as the trainer sees it: token ids and which of them carry loss. */
export interface RenderedExample {
  tokens: Uint32Array;
  /** 1 = trained on (assistant text and its end-of-turn marker, or the completion). */
  mask: Uint8Array;
}

/** What a model is prompted with: chat messages (rendered with the template) or plain text. */
export type PromptInput = { messages: ChatMessage[]; tools?: unknown[] } | { prompt: string };

/**
 * Bumped whenever the rendering or masking rules change, so shards cached under
 * the old rules are not reused (it is part of `templateSha256`).
 * 2: the BOS rule is the tokenizer's own (its post-processor, or `add_bos_token`), the
 * same for training and inference.
 */
export const RENDER_VERSION = 2;

type Json = Record<string, unknown>;
interface AddedToken {
  id: number;
  content: string;
  special?: boolean;
  lstrip?: boolean;
  rstrip?: boolean;
}

/**
 * A model's tokenizer and chat template, loaded from its Hugging Face folder — the one
 * loader that training data and inference requests both go through, so a prompt is the
 * same token ids whether it is trained on or served:
 *  - the same template globals, generation prompt and NFC handling;
 *  - the same BOS rule (`bosText`);
 *  - the same encoder: text is tokenized in one go, special tokens recognised, none added.
 *
 * Training (`renderExample`) also needs exact loss masks, which only byte-level BPE
 * tokenizers with a template that ends assistant turns with a special token allow;
 * `assertTrainable` says why a model cannot be trained on. Inference works with any
 * tokenizer the library loads.
 */
export class ModelTokenizer {
  private constructor(
    /** The folder it was loaded from; workers reload it from there. */
    readonly modelDir: string,
    private readonly tokenizer: Tokenizer,
    /** Byte-level encoder with token positions, or null when the tokenizer is not byte-level BPE. */
    private readonly encoder: Encoder | null,
    /** Whether the fast encoder passed its self-check (else the library encodes). */
    readonly fastEncoding: boolean,
    private readonly chat: ChatRenderer | null,
    /** Text put before a completion prompt: the BOS token when the tokenizer adds one, else ''. */
    readonly bosText: string,
    private readonly eosText: string | null,
    private readonly nfc: boolean,
    /** Why exact loss masks cannot be placed with this tokenizer, or null. */
    private readonly untrainable: TokenizerError | null,
    /** Max sequence length of the model (config.json), or null when unknown. */
    readonly contextLength: number | null,
    /** sha256 of tokenizer.json's bytes. */
    readonly tokenizerSha256: string,
    /** sha256 of what shapes rendering: template, special tokens, RENDER_VERSION. */
    readonly templateSha256: string,
    /** sha256 of the chat template's text, or null without one. */
    readonly chatTemplateSha256: string | null,
    /** Ids that end generation: the configured eos token(s). */
    readonly eosTokenIds: readonly number[],
    /** Special added tokens: never shown in generated text. */
    readonly specialTokenIds: ReadonlySet<number>,
    private readonly tokenBytes: ReadonlyArray<Uint8Array | null> | null,
  ) {}

  /**
   * Reads `tokenizer.json`, `tokenizer_config.json` and (if present) `config.json`,
   * `generation_config.json` and `chat_template.jinja` from `modelDir`. Throws
   * `tokenizer_invalid` when they are missing or unreadable or the template does not parse.
   */
  static async load(modelDir: string): Promise<ModelTokenizer> {
    const read = async (name: string, required: boolean): Promise<{ raw: Buffer; json: Json } | null> => {
      let raw: Buffer;
      try {
        raw = await readFile(join(modelDir, name));
      } catch {
        if (!required) return null;
        throw new TokenizerError('tokenizer_invalid', `${name} is missing from the model folder`);
      }
      try {
        return { raw, json: JSON.parse(raw.toString('utf8')) as Json };
      } catch {
        throw new TokenizerError('tokenizer_invalid', `${name} does not load: it is not valid JSON`);
      }
    };
    const tokenizerFile = (await read('tokenizer.json', true))!;
    const config = (await read('tokenizer_config.json', true))!.json;
    const modelConfig = (await read('config.json', false))?.json ?? {};
    const generation = (await read('generation_config.json', false))?.json ?? {};
    let tokenizer: Tokenizer;
    try {
      tokenizer = new Tokenizer(tokenizerFile.json, config);
      tokenizer.encode('Tuneloop checks that this tokenizer loads.');
    } catch (error) {
      throw new TokenizerError('tokenizer_invalid', `tokenizer.json does not load: ${(error as Error).message}`);
    }
    const json = tokenizerFile.json as Parameters<typeof createEncoder>[0]['json'] & {
      added_tokens?: AddedToken[];
      decoder?: { type?: string };
    };
    const added = json.added_tokens ?? [];
    const special = new Set(added.filter((t) => t.special).map((t) => t.id));
    const normalizer = json.normalizer?.type ?? null;
    const bos = tokenText(config.bos_token);
    const eos = tokenText(config.eos_token);
    const bosText = bosPrefix(tokenizer, bos, config.add_bos_token === true);

    // Why training cannot place exact masks, found while loading; inference does not care.
    let untrainable: TokenizerError | null = null;
    const refuse = (error: unknown) => {
      if (!(error instanceof TokenizerError)) throw error;
      untrainable ??= error;
    };
    if (normalizer !== null && normalizer !== 'NFC') {
      refuse(new TokenizerError('tokenizer_unsupported', `tokenizer normalizer ${normalizer} is not supported (only none or NFC)`));
    }
    if (added.some((t) => t.lstrip || t.rstrip)) {
      refuse(new TokenizerError('tokenizer_unsupported', 'added tokens with lstrip/rstrip are not supported'));
    }

    const template = await chatTemplate(modelDir, config);
    let chat: ChatRenderer | null = null;
    if (template !== null) {
      const globals = {
        bos_token: bos ?? '',
        eos_token: eos ?? '',
        pad_token: tokenText(config.pad_token) ?? '',
        unk_token: tokenText(config.unk_token) ?? '',
      };
      let endOfTurn = '';
      try {
        endOfTurn = endOfTurnMarker(
          template,
          globals,
          added.filter((t) => t.special).map((t) => t.content),
          eos,
        );
      } catch (error) {
        refuse(error);
      }
      try {
        chat = new ChatRenderer(template, globals, endOfTurn);
      } catch (error) {
        throw new TokenizerError('tokenizer_invalid', `the chat template does not parse: ${(error as Error).message}`);
      }
    }

    let encoder: Encoder | null = null;
    let fast = false;
    try {
      ({ encode: encoder, fast } = createEncoder({ tokenizer, json }));
    } catch (error) {
      refuse(error);
    }

    const eosIds = new Set<number>();
    const eosId = eos === null ? undefined : tokenizer.token_to_id(eos);
    if (eosId !== undefined) eosIds.add(eosId);
    for (const source of [generation.eos_token_id, modelConfig.eos_token_id]) {
      for (const id of Array.isArray(source) ? source : [source]) if (Number.isInteger(id)) eosIds.add(id as number);
    }

    const maxPositions = Number(modelConfig.max_position_embeddings ?? NaN);
    const maxLength = Number(config.model_max_length ?? NaN);
    const contextLength = maxPositions > 0 ? maxPositions : maxLength > 0 && maxLength < 10_000_000 ? maxLength : null;
    const sha = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');
    const templateSha = sha(JSON.stringify({ template, bos, eos, bosText, RENDER_VERSION }));
    return new ModelTokenizer(
      modelDir,
      tokenizer,
      encoder,
      fast,
      chat,
      bosText,
      eos,
      normalizer === 'NFC',
      untrainable,
      contextLength,
      sha(tokenizerFile.raw),
      templateSha,
      template === null ? null : sha(template),
      [...eosIds],
      special,
      json.decoder?.type === 'ByteLevel' ? byteTable(tokenizer, added, special) : null,
    );
  }

  /** Throws why this tokenizer cannot give exact loss masks (training needs them); returns `this` otherwise. */
  assertTrainable(): this {
    if (this.untrainable) throw this.untrainable;
    return this;
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

  /** The example as text plus its trainable byte spans (training). */
  renderText(example: Example): RenderedText {
    if ('messages' in example) return this.renderer().render(this.normalized(example));
    const prompt = this.bosText + this.normalize(example.prompt);
    const rest = this.normalize(example.completion) + (this.eosText ?? '');
    const start = Buffer.byteLength(prompt);
    return { text: prompt + rest, spans: [[start, start + Buffer.byteLength(rest)]] };
  }

  /** Tokens and loss mask of one example: tokens overlapping a trainable span are trained on. */
  renderExample(example: Example): RenderedExample {
    const encoder = this.assertTrainable().encoder!;
    const { text, spans } = this.renderText(example);
    const { ids, ends } = encoder(text);
    if ((ends[ends.length - 1] ?? 0) !== Buffer.byteLength(text)) {
      throw new TokenizerError(
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

  /**
   * The text a model is prompted with: chat messages rendered by the template with the
   * assistant's turn opened (what training renders before an assistant reply), or a
   * completion prompt after `bosText` (what training puts before a completion).
   */
  renderPrompt(input: PromptInput): string {
    if ('messages' in input) return this.renderer().renderPrompt(this.normalized(input));
    return this.bosText + this.normalize(input.prompt);
  }

  /** The token ids a model is prompted with (see `renderPrompt`). */
  promptIds(input: PromptInput): number[] {
    return Array.from(this.encode(this.renderPrompt(input)));
  }

  /** Plain tokenization of `text`: special tokens recognised, none added. */
  encode(text: string): Uint32Array {
    if (this.encoder) return this.encoder(text).ids;
    return Uint32Array.from(this.tokenizer.encode(text, { add_special_tokens: false }).ids);
  }

  decode(ids: ArrayLike<number>, opts: { skipSpecialTokens?: boolean } = {}): string {
    if (ids.length === 0) return '';
    return this.tokenizer.decode(Array.from(ids), {
      skip_special_tokens: opts.skipSpecialTokens ?? false,
      clean_up_tokenization_spaces: false,
    });
  }

  /** A fresh incremental decoder for one generation (special tokens produce no text). */
  streamDecoder(): StreamDecoder {
    return this.tokenBytes ? byteLevelDecoder(this.tokenBytes) : windowDecoder(this.tokenizer, this.specialTokenIds);
  }

  private renderer(): ChatRenderer {
    if (!this.chat)
      throw new TokenizerError('no_chat_template', 'the model has no chat template, so chat messages cannot be rendered for it');
    return this.chat;
  }

  private normalize(text: string): string {
    return this.nfc ? text.normalize('NFC') : text;
  }

  /** Contents in NFC when the tokenizer normalizes to NFC (the fast encoder expects NFC text). */
  private normalized<T extends ChatExample>(example: T): T {
    if (!this.nfc) return example;
    return {
      ...example,
      messages: example.messages.map((m) => (typeof m.content === 'string' ? { ...m, content: m.content.normalize('NFC') } : m)),
    };
  }
}

/** Loads a base model's tokenizer for training: `ModelTokenizer.load`, then `assertTrainable`. */
export async function loadTrainingTokenizer(modelDir: string): Promise<ModelTokenizer> {
  return (await ModelTokenizer.load(modelDir)).assertTrainable();
}

/**
 * The BOS text a prompt starts with: the special tokens the tokenizer's post-processor puts
 * before a sequence (what `tokenizer(text)` adds in Hugging Face), or the configured BOS
 * token when `add_bos_token` is set and the post-processor adds nothing.
 */
function bosPrefix(tokenizer: Tokenizer, bos: string | null, addBos: boolean): string {
  const probe = 'a';
  const plain: number[] = tokenizer.encode(probe, { add_special_tokens: false }).ids;
  const withSpecials: { ids: number[]; tokens: string[] } = tokenizer.encode(probe, { add_special_tokens: true });
  // Where the text's own ids start among the ids with special tokens: what comes before is the prefix.
  let at = 0;
  while (at < withSpecials.ids.length && withSpecials.ids.slice(at, at + plain.length).join() !== plain.join()) at++;
  if (at > 0 && at < withSpecials.ids.length) return withSpecials.tokens.slice(0, at).join('');
  return addBos && bos ? bos : '';
}
