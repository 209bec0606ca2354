import type { Db } from '../db/connect.js';
import type { CatalogService } from '../catalog/service.js';
import type { Logger } from '../log.js';
import { DomainError, InvalidInputError, NotFoundError } from '../errors.js';
import { newCompletionId, newId } from '../ids.js';
import { findCheckpointModel } from '../catalog/checkpoint-models.js';
import type { ModelRuntime } from './runtime-registry.js';
import type { TokenLogprob } from './runtime/protocol.js';
import type { DeploymentManager } from './deployments.js';
import { ContextLengthError, GenerationFailedError, ModelNotDeployedError, QueueFullError } from './errors.js';
import { GenerationStream } from './generation-stream.js';
import { recordUsage, reserveForRequest } from './metering.js';
import type { MeteredRequest } from './metering.js';
import type { DoneEvent } from './model-host.js';
import { resolveParams } from './params.js';
import type { GenerationParams, PromptInput } from './params.js';
import { liveDeployment } from './store/deployments.js';
import { isTokenizerError } from '../tokenizer/tokenizer-error.js';
import type { ModelTokenizer } from '../tokenizer/model-tokenizer.js';
import type { ChatMessage } from '../tokenizer/example.js';

export interface GenerateRequest {
  accountId: string;
  /**
   * A model id: a model the account has a live deployment of, or — without a deployment,
   * loaded on demand — one of the account's fine-tuned models or checkpoints (`ft:…`,
   * `ft:…:ckpt-step-N`).
   */
  model: string;
  input: PromptInput;
  params?: GenerationParams;
  /** Recorded with the usage: `chat.completions`, `completions`, `graphql`. */
  endpoint?: string;
  /** The completion id's shape: `chatcmpl-…` (chat), `cmpl-…` (text); default `use_…`. */
  idKind?: 'chat' | 'text';
  /** Aborting cancels the generation (a client that went away); what was generated is billed. */
  signal?: AbortSignal;
}

export type FinishReason = 'stop' | 'length' | 'cancelled';

/** A token's log-probability as clients see it: its text, and its UTF-8 bytes (a token may hold part of a character). */
export interface TokenLogprobView {
  token: string;
  logprob: number;
  bytes: number[];
  /** The most likely tokens at this position, most likely first. */
  top: Array<{ token: string; logprob: number; bytes: number[] }>;
}

/** One of a request's answers (`n` of them). */
export interface GenerationChoice {
  index: number;
  text: string;
  finishReason: FinishReason;
  /** Every generated token, including an eos or the tokens of a stop sequence. */
  tokenIds: number[];
  /** The answer's tokens with their log-probabilities, when asked for (eos and stop-sequence tokens left out). */
  logprobs: TokenLogprobView[] | null;
}

export interface GenerationResult {
  /** The completion id (`chatcmpl-…`, `cmpl-…` or `use_…`): also the usage row and the ledger reference. */
  id: string;
  model: string;
  created: Date;
  /** The first answer's text, finish reason and tokens (the only one unless `n` > 1). */
  text: string;
  finishReason: FinishReason;
  promptTokens: number;
  /** Tokens generated for all answers together. */
  completionTokens: number;
  totalTokens: number;
  /** What the request was charged, micro-USD. */
  costMicros: bigint;
  promptTokenIds: number[];
  /** Every token generated for the first answer, including an eos or the tokens of a stop sequence. */
  tokenIds: number[];
  choices: GenerationChoice[];
}

/** New text of answer `index` (with its tokens' log-probabilities when asked for). */
export interface GenerationPiece {
  index: number;
  text: string;
  logprobs?: TokenLogprobView[];
}

/**
 * A running generation: iterate it for the first answer's text as it is produced (pieces
 * never split a character or show part of a stop sequence), or `pieces()` for every
 * answer's — one or the other, once — or await `result`. Leaving the iteration early
 * cancels it. `result` settles after the usage was recorded and charged.
 */
export interface Generation extends AsyncIterable<string> {
  readonly id: string;
  readonly model: string;
  readonly created: Date;
  readonly promptTokens: number;
  readonly result: Promise<GenerationResult>;
  pieces(): AsyncIterable<GenerationPiece>;
  cancel(): void;
}

/** The runtime a request runs on, and what to do when it is done with it. */
interface Serving {
  runtime: ModelRuntime;
  deploymentId: string | null;
  modelId: string;
  pricePerMTokMicros: bigint;
  done(): void;
}

const noop = () => {};

/**
 * Admission of a request, in the order that keeps every refusal cheap and side-effect
 * free: model visible → deployed (or loaded on demand) → runtime here → prompt fits →
 * parameters valid → places in the queue (429 otherwise) → money reserved (402
 * otherwise). Only then are the jobs (one per answer) handed to the runtime; everything
 * after that ends in exactly one usage row.
 */
export function createGenerator(deps: { db: Db; catalog: CatalogService; log: Logger; deployments: DeploymentManager }) {
  const { db, log } = deps;

  /** The runtime for the model a request names: its live deployment, else on demand (fine-tuned models and checkpoints). */
  async function serving(req: GenerateRequest): Promise<Serving> {
    const model = await deps.catalog.findModel(req.accountId, req.model);
    if (!model) {
      const checkpoint = await findCheckpointModel(db, req.accountId, req.model);
      if (!checkpoint) throw new NotFoundError('model', req.model);
      const base = await db.selectFrom('models').selectAll().where('id', '=', checkpoint.baseModelId).executeTakeFirst();
      if (!base) throw new NotFoundError('model', req.model);
      const lease = await deps.deployments.onDemandRuntime({ checkpoint, base }, req.signal);
      return {
        runtime: lease.runtime,
        deploymentId: null,
        modelId: checkpoint.id,
        pricePerMTokMicros: base.inference_price_per_mtok_micros,
        done: lease.release,
      };
    }
    const deployment = await liveDeployment(db, req.accountId, model.id);
    if (deployment) {
      const runtime = await deps.deployments.runtimeFor(deployment, req.signal);
      return {
        runtime,
        deploymentId: deployment.id,
        modelId: model.id,
        pricePerMTokMicros: model.inference_price_per_mtok_micros,
        done: noop,
      };
    }
    if (model.owner_account_id === req.accountId) {
      const lease = await deps.deployments.onDemandRuntime({ model }, req.signal);
      return {
        runtime: lease.runtime,
        deploymentId: null,
        modelId: model.id,
        pricePerMTokMicros: model.inference_price_per_mtok_micros,
        done: lease.release,
      };
    }
    const last = await db
      .selectFrom('deployments')
      .select(['status', 'error'])
      .where('account_id', '=', req.accountId)
      .where('model_id', '=', model.id)
      .orderBy('created_at', 'desc')
      .executeTakeFirst();
    throw new ModelNotDeployedError(
      model.id,
      last?.status === 'FAILED' ? `its deployment failed: ${last.error ?? 'unknown reason'}` : undefined,
    );
  }

  async function generate(req: GenerateRequest): Promise<Generation> {
    const target = await serving(req);
    try {
      return await start(req, target);
    } catch (err) {
      target.done();
      throw err;
    }
  }

  async function start(req: GenerateRequest, target: Serving): Promise<Generation> {
    const { runtime } = target;
    const { ids: promptIds, field } = encodePrompt(runtime.tokenizer, runtime.info.vocabSize, req.input);
    if (promptIds.length === 0) throw new InvalidInputError(field, `the ${field} is empty`);
    const params = resolveParams(req.params ?? {}, runtime.info.vocabSize);
    const context = runtime.info.contextLength;
    if (promptIds.length >= context) throw new ContextLengthError(field, context, promptIds.length);
    if (params.maxTokens !== undefined && promptIds.length + params.maxTokens > context) {
      throw new ContextLengthError(field, context, promptIds.length, params.maxTokens);
    }
    const maxTokens = params.maxTokens ?? context - promptIds.length;
    const n = params.n;

    for (let i = 0; i < n; i++) {
      if (runtime.tryAdmit()) continue;
      for (let j = 0; j < i; j++) runtime.release();
      throw new QueueFullError(target.modelId, runtime.retryAfterSeconds());
    }
    const metered: MeteredRequest = {
      usageId: req.idKind ? newCompletionId(req.idKind) : newId('usage'),
      accountId: req.accountId,
      deploymentId: target.deploymentId,
      modelId: target.modelId,
      endpoint: req.endpoint ?? 'api',
      pricePerMTokMicros: target.pricePerMTokMicros,
      promptTokens: promptIds.length,
      createdAt: new Date(),
    };
    let reservationId: string | null;
    try {
      reservationId = await reserveForRequest(db, metered, maxTokens * n);
    } catch (err) {
      for (let i = 0; i < n; i++) runtime.release();
      throw err;
    }

    const startedAt = Date.now();
    const cancels: Array<() => void> = [];
    const cancelAll = () => {
      for (const c of cancels) c();
    };
    const stream = new GenerationStream<GenerationPiece>(cancelAll);
    let settle!: { resolve: (r: GenerationResult) => void; reject: (e: unknown) => void };
    const result = new Promise<GenerationResult>((resolve, reject) => (settle = { resolve, reject }));
    result.catch(() => {}); // a caller that only iterates must not leave an unhandled rejection
    const views = params.logprobs === undefined ? undefined : logprobViews(runtime.tokenizer);
    const texts: string[] = new Array<string>(n).fill('');
    const logprobs: TokenLogprobView[][] = Array.from({ length: n }, () => []);
    const done: Array<DoneEvent | undefined> = new Array<DoneEvent | undefined>(n);
    let left = n;

    const onPiece = (index: number, text: string, lps: TokenLogprob[] | undefined) => {
      texts[index] += text;
      const viewed = views && lps ? lps.map(views) : undefined;
      if (viewed) logprobs[index]!.push(...viewed);
      if (text || viewed?.length) stream.push({ index, text, ...(viewed ? { logprobs: viewed } : {}) });
    };

    const finishAll = async () => {
      req.signal?.removeEventListener('abort', onAbort);
      target.done();
      const events = done as DoneEvent[];
      const completionTokens = events.reduce((sum, e) => sum + e.tokenIds.length, 0);
      const failed = events.find((e) => e.finishReason === 'error');
      const usageReason = failed ? 'error' : events.some((e) => e.finishReason === 'cancelled') ? 'cancelled' : events[0]!.finishReason;
      try {
        const usage = await recordUsage(db, metered, reservationId, { completionTokens, finishReason: usageReason });
        if (failed) throw new GenerationFailedError(failed.error ?? 'the runtime failed');
        const choices: GenerationChoice[] = events.map((e, index) => ({
          index,
          text: texts[index]!,
          finishReason: e.finishReason as FinishReason,
          tokenIds: e.tokenIds,
          logprobs: views ? logprobs[index]! : null,
        }));
        settle.resolve({
          id: metered.usageId,
          model: target.modelId,
          created: metered.createdAt,
          text: choices[0]!.text,
          finishReason: choices[0]!.finishReason,
          promptTokens: promptIds.length,
          completionTokens,
          totalTokens: promptIds.length + completionTokens,
          costMicros: usage.cost_micros,
          promptTokenIds: promptIds,
          tokenIds: choices[0]!.tokenIds,
          choices,
        });
        stream.end();
      } catch (err) {
        if (!(err instanceof DomainError)) log.error({ err, request: metered.usageId }, 'recording inference usage failed');
        settle.reject(err);
        stream.end(err);
      }
    };

    for (let index = 0; index < n; index++) {
      const seed = params.sampling.seed + index;
      cancels.push(
        runtime.submit(
          {
            id: index === 0 ? metered.usageId : `${metered.usageId}.${index}`,
            accountId: req.accountId,
            promptIds,
            maxTokens,
            stop: params.stop,
            sampling: index === 0 ? params.sampling : { ...params.sampling, seed },
            ...(params.logprobs !== undefined ? { logprobs: params.logprobs } : {}),
          },
          {
            onText: (piece, lps) => onPiece(index, piece, lps),
            onDone: (event) => {
              runtime.release(Date.now() - startedAt);
              onPiece(index, event.text, event.logprobs);
              done[index] = event;
              if (--left === 0) void finishAll();
            },
          },
        ),
      );
    }
    const onAbort = () => cancelAll();
    if (req.signal?.aborted) cancelAll();
    else req.signal?.addEventListener('abort', onAbort, { once: true });

    return {
      id: metered.usageId,
      model: target.modelId,
      created: metered.createdAt,
      promptTokens: promptIds.length,
      result,
      cancel: cancelAll,
      pieces: () => stream,
      async *[Symbol.asyncIterator]() {
        for await (const piece of stream) if (piece.index === 0 && piece.text) yield piece.text;
      },
    };
  }

  return {
    generate,
    /** Generates to the end and returns the whole answer. */
    async complete(req: GenerateRequest): Promise<GenerationResult> {
      return (await generate(req)).result;
    },
  };
}

export type Generator = ReturnType<typeof createGenerator>;

/** Turns the runtime's token ids into what clients see: each token's text and bytes. */
function logprobViews(tokenizer: ModelTokenizer): (lp: TokenLogprob) => TokenLogprobView {
  const view = (id: number) => {
    const token = tokenizer.decode([id]);
    return { token, bytes: [...Buffer.from(token, 'utf8')] };
  };
  return (lp) => ({
    ...view(lp.token),
    logprob: lp.logprob,
    top: lp.top.map(([id, logprob]) => ({ ...view(id), logprob })),
  });
}

/**
 * The token ids a request prompts the model with: chat messages and text go through the
 * shared tokenizer's `promptIds` — the same rendering, BOS rule and encoder as training
 * data, so a fine-tuned model is served the prompts it was trained on. Token-id prompts
 * are checked against the vocabulary.
 */
export function encodePrompt(tokenizer: ModelTokenizer, vocabSize: number, input: PromptInput): { ids: number[]; field: string } {
  if ('messages' in input || typeof input.prompt === 'string') {
    const field = 'messages' in input ? 'messages' : 'prompt';
    try {
      return { ids: tokenizer.promptIds(input as { messages: ChatMessage[] } | { prompt: string }), field };
    } catch (err) {
      if (!isTokenizerError(err) || err.code === 'tokenizer_invalid' || err.code === 'tokenizer_unsupported') throw err;
      const message =
        err.code === 'no_chat_template'
          ? 'this model has no chat template; use /v1/completions with a plain prompt'
          : `the model's chat template rejected these messages: ${err.message}`;
      throw new InvalidInputError(field, message);
    }
  }
  if (!input.prompt.every((t) => Number.isInteger(t) && t >= 0 && t < vocabSize)) {
    throw new InvalidInputError('prompt', `token ids in the prompt must be integers from 0 to ${vocabSize - 1}`);
  }
  return { ids: [...input.prompt], field: 'prompt' };
}
