import { InvalidInputError } from '../errors.js';
import type { SamplingOptions } from './runtime/sampler.js';
import { randomSeed } from './runtime/prng.js';
import type { ChatMessage } from '../tokenizer/example.js';

/**
 * Generation parameters as a client sends them (camelCase; REST maps OpenAI's snake_case
 * onto these). Absent or null = the OpenAI default. Field names in errors are these keys.
 */
export interface GenerationParams {
  maxTokens?: number | null;
  temperature?: number | null;
  topP?: number | null;
  topK?: number | null;
  seed?: number | null;
  stop?: string | string[] | null;
  presencePenalty?: number | null;
  frequencyPenalty?: number | null;
  /** Token id (as a string key, as OpenAI sends it) → bias in [−100, 100]. */
  logitBias?: Record<string, number> | null;
  /** Answers to generate for the prompt (OpenAI's `n`), 1 to MAX_CHOICES; default 1. */
  n?: number | null;
  /**
   * Report each generated token's log-probability with this many most likely alternatives
   * (0 to MAX_TOP_LOGPROBS); null = no log-probabilities.
   */
  logprobs?: number | null;
}

export interface ResolvedParams {
  /** undefined = up to the end of the context. */
  maxTokens: number | undefined;
  stop: string[];
  /** The first answer's sampling; answer i samples with seed + i. */
  sampling: SamplingOptions;
  n: number;
  /** Alternatives per token to report; undefined = no log-probabilities. */
  logprobs: number | undefined;
}

export const MAX_STOP_SEQUENCES = 4;
/** Most answers one request may ask for (each takes a batch slot). */
export const MAX_CHOICES = 8;
/** Most alternatives per token (OpenAI's bound for chat's top_logprobs). */
export const MAX_TOP_LOGPROBS = 20;
const MAX_LOGIT_BIAS = 300;

/** What a prompt may be: text, token ids (completions), or chat messages. */
export type PromptInput = { prompt: string | number[] } | { messages: ChatMessage[] };

/** Checks ranges the way OpenAI documents them; throws InvalidInputError naming the field. */
export function resolveParams(p: GenerationParams, vocabSize: number): ResolvedParams {
  const maxTokens = optionalInt(p.maxTokens, 'maxTokens', 1, Number.MAX_SAFE_INTEGER);
  const temperature = optionalNumber(p.temperature, 'temperature', 0, 2) ?? 1;
  const topP = optionalNumber(p.topP, 'topP', 0, 1) ?? 1;
  // vLLM and others use −1 for "off"; 0 means the same here.
  const topK = Math.max(0, optionalInt(p.topK, 'topK', -1, Number.MAX_SAFE_INTEGER) ?? 0);
  const seed = optionalInt(p.seed, 'seed', Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER) ?? randomSeed();
  const presencePenalty = optionalNumber(p.presencePenalty, 'presencePenalty', -2, 2) ?? 0;
  const frequencyPenalty = optionalNumber(p.frequencyPenalty, 'frequencyPenalty', -2, 2) ?? 0;
  return {
    maxTokens,
    n: optionalInt(p.n, 'n', 1, MAX_CHOICES) ?? 1,
    logprobs: optionalInt(p.logprobs, 'logprobs', 0, MAX_TOP_LOGPROBS),
    stop: stopSequences(p.stop),
    sampling: { temperature, topP, topK, seed, presencePenalty, frequencyPenalty, logitBias: logitBias(p.logitBias, vocabSize) },
  };
}

/** Validates chat messages: roles and text content (content parts of type text are joined). */
export function chatMessages(raw: unknown, field = 'messages'): ChatMessage[] {
  if (!Array.isArray(raw) || raw.length === 0) throw new InvalidInputError(field, `${field} must be a non-empty array of messages`);
  return raw.map((m, i) => {
    const at = `${field}[${i}]`;
    if (!m || typeof m !== 'object') throw new InvalidInputError(at, `${at} must be an object with role and content`);
    const { role, content, name } = m as { role?: unknown; content?: unknown; name?: unknown };
    if (typeof role !== 'string' || !['system', 'developer', 'user', 'assistant', 'tool'].includes(role)) {
      throw new InvalidInputError(`${at}.role`, `${at}.role must be one of system, developer, user, assistant, tool`);
    }
    let text: string;
    if (typeof content === 'string') text = content;
    else if (content === null && role === 'assistant') text = '';
    else if (Array.isArray(content)) {
      text = content
        .map((part, j) => {
          const p = part as { type?: unknown; text?: unknown };
          if (p?.type !== 'text' || typeof p.text !== 'string') {
            throw new InvalidInputError(
              `${at}.content[${j}]`,
              `${at}.content[${j}] must be a text part ({"type": "text", "text": "…"}); this model reads text only`,
            );
          }
          return p.text;
        })
        .join('');
    } else throw new InvalidInputError(`${at}.content`, `${at}.content must be a string or an array of text parts`);
    return {
      role: (role === 'developer' ? 'system' : role) as ChatMessage['role'],
      content: text,
      ...(typeof name === 'string' ? { name } : {}),
    };
  });
}

function optionalNumber(value: unknown, field: string, min: number, max: number): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    throw new InvalidInputError(field, `${field} must be a number from ${min} to ${max}, got ${JSON.stringify(value)}`);
  }
  return value;
}

function optionalInt(value: unknown, field: string, min: number, max: number): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `≥ ${min}` : `from ${min} to ${max}`;
    throw new InvalidInputError(field, `${field} must be an integer ${range}, got ${JSON.stringify(value)}`);
  }
  return value;
}

function stopSequences(value: unknown): string[] {
  if (value === undefined || value === null) return [];
  const list = typeof value === 'string' ? [value] : value;
  if (
    !Array.isArray(list) ||
    list.length > MAX_STOP_SEQUENCES ||
    list.some((s) => typeof s !== 'string' || s.length === 0 || s.length > 256)
  ) {
    throw new InvalidInputError(
      'stop',
      `stop must be a non-empty string or up to ${MAX_STOP_SEQUENCES} non-empty strings of at most 256 characters`,
    );
  }
  return [...new Set(list as string[])];
}

function logitBias(value: unknown, vocabSize: number): Array<[number, number]> {
  if (value === undefined || value === null) return [];
  if (typeof value !== 'object' || Array.isArray(value))
    throw new InvalidInputError('logitBias', 'logitBias must map token ids to numbers');
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length > MAX_LOGIT_BIAS) throw new InvalidInputError('logitBias', `logitBias may hold at most ${MAX_LOGIT_BIAS} tokens`);
  return entries.map(([key, bias]) => {
    const token = Number(key);
    if (!/^\d+$/.test(key) || token >= vocabSize) {
      throw new InvalidInputError(
        'logitBias',
        `logitBias key ${JSON.stringify(key)} is not a token id of this model (0 to ${vocabSize - 1})`,
      );
    }
    if (typeof bias !== 'number' || !Number.isFinite(bias) || bias < -100 || bias > 100) {
      throw new InvalidInputError('logitBias', `logitBias values must be numbers from -100 to 100, got ${JSON.stringify(bias)}`);
    }
    return [token, bias];
  });
}
