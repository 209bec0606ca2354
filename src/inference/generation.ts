import type { Db } from '../db/connect.js';
import type { CatalogService } from '../catalog/service.js';
import type { Logger } from '../log.js';
import { DomainError, InvalidInputError, NotFoundError } from '../errors.js';
import { newId } from '../ids.js';
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
  /** A model id the account has a live deployment of. */
  model: string;
  input: PromptInput;
  params?: GenerationParams;
  /** Recorded with the usage: `chat.completions`, `completions`, `graphql`. */
  endpoint?: string;
  /** Aborting cancels the generation (a client that went away); what was generated is billed. */
  signal?: AbortSignal;
}

export type FinishReason = 'stop' | 'length' | 'cancelled';

export interface GenerationResult {
  /** `use_…`: the completion id, the usage row and the ledger reference. */
  id: string;
  model: string;
  created: Date;
  text: string;
  finishReason: FinishReason;
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
  /** What the request was charged, micro-USD. */
  costMicros: bigint;
  promptTokenIds: number[];
  /** Every generated token, including an eos or the tokens of a stop sequence. */
  tokenIds: number[];
}

/**
 * A running generation: iterate it for the text as it is produced (pieces never split a
 * character or show part of a stop sequence), or await `result`. Leaving the iteration
 * early cancels it. `result` settles after the usage was recorded and charged.
 */
export interface Generation extends AsyncIterable<string> {
  readonly id: string;
  readonly model: string;
  readonly created: Date;
  readonly promptTokens: number;
  readonly result: Promise<GenerationResult>;
  cancel(): void;
}

/**
 * Admission of a request, in the order that keeps every refusal cheap and side-effect
 * free: model visible → deployed → runtime here → prompt fits → parameters valid → a
 * place in the queue (429 otherwise) → money reserved (402 otherwise). Only then is the
 * job handed to the runtime; everything after that ends in exactly one usage row.
 */
export function createGenerator(deps: { db: Db; catalog: CatalogService; log: Logger; deployments: DeploymentManager }) {
  const { db, log } = deps;

  async function generate(req: GenerateRequest): Promise<Generation> {
    const model = await deps.catalog.findModel(req.accountId, req.model);
    if (!model) throw new NotFoundError('model', req.model);
    const deployment = await liveDeployment(db, req.accountId, model.id);
    if (!deployment) {
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
    const runtime = await deps.deployments.runtimeFor(deployment, req.signal);

    const { ids: promptIds, field } = encodePrompt(runtime.tokenizer, runtime.info.vocabSize, req.input);
    if (promptIds.length === 0) throw new InvalidInputError(field, `the ${field} is empty`);
    const params = resolveParams(req.params ?? {}, runtime.info.vocabSize);
    const context = runtime.info.contextLength;
    if (promptIds.length >= context) throw new ContextLengthError(field, context, promptIds.length);
    if (params.maxTokens !== undefined && promptIds.length + params.maxTokens > context) {
      throw new ContextLengthError(field, context, promptIds.length, params.maxTokens);
    }
    const maxTokens = params.maxTokens ?? context - promptIds.length;

    if (!runtime.tryAdmit()) throw new QueueFullError(model.id, runtime.retryAfterSeconds());
    const metered: MeteredRequest = {
      usageId: newId('usage'),
      accountId: req.accountId,
      deploymentId: deployment.id,
      modelId: model.id,
      endpoint: req.endpoint ?? 'api',
      pricePerMTokMicros: model.inference_price_per_mtok_micros,
      promptTokens: promptIds.length,
      createdAt: new Date(),
    };
    let reservationId: string | null;
    try {
      reservationId = await reserveForRequest(db, metered, maxTokens);
    } catch (err) {
      runtime.release();
      throw err;
    }

    const startedAt = Date.now();
    let text = '';
    let cancel = () => {};
    const stream = new GenerationStream<string>(() => cancel());
    let settle!: { resolve: (r: GenerationResult) => void; reject: (e: unknown) => void };
    const result = new Promise<GenerationResult>((resolve, reject) => (settle = { resolve, reject }));
    result.catch(() => {}); // a caller that only iterates must not leave an unhandled rejection

    const finish = async (event: DoneEvent) => {
      runtime.release(Date.now() - startedAt);
      req.signal?.removeEventListener('abort', onAbort);
      if (event.text) {
        text += event.text;
        stream.push(event.text);
      }
      try {
        const usage = await recordUsage(db, metered, reservationId, {
          completionTokens: event.tokenIds.length,
          finishReason: event.finishReason,
        });
        if (event.finishReason === 'error') throw new GenerationFailedError(event.error ?? 'the runtime failed');
        const completionTokens = event.tokenIds.length;
        settle.resolve({
          id: metered.usageId,
          model: model.id,
          created: metered.createdAt,
          text,
          finishReason: event.finishReason,
          promptTokens: promptIds.length,
          completionTokens,
          totalTokens: promptIds.length + completionTokens,
          costMicros: usage.cost_micros,
          promptTokenIds: promptIds,
          tokenIds: event.tokenIds,
        });
        stream.end();
      } catch (err) {
        if (!(err instanceof DomainError)) log.error({ err, request: metered.usageId }, 'recording inference usage failed');
        settle.reject(err);
        stream.end(err);
      }
    };

    cancel = runtime.submit(
      {
        id: metered.usageId,
        accountId: req.accountId,
        promptIds,
        maxTokens,
        stop: params.stop,
        sampling: params.sampling,
      },
      {
        onText: (piece) => {
          text += piece;
          stream.push(piece);
        },
        onDone: (event) => void finish(event),
      },
    );
    const onAbort = () => cancel();
    if (req.signal?.aborted) cancel();
    else req.signal?.addEventListener('abort', onAbort, { once: true });

    return {
      id: metered.usageId,
      model: model.id,
      created: metered.createdAt,
      promptTokens: promptIds.length,
      result,
      cancel: () => cancel(),
      [Symbol.asyncIterator]: () => stream[Symbol.asyncIterator](),
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
