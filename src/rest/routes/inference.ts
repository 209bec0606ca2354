/**
 * Deployments (/api/deployments, problem+json errors like every /api route) and the
 * OpenAI-compatible routes (/v1/…, OpenAI's request, response, streaming and error shapes,
 * so OpenAI SDKs work unchanged). Over 400 lines because the OpenAI wire format (two
 * request shapes, two response shapes, SSE chunks, error mapping) is one concern that
 * reads best in one place; the logic itself is in src/inference.
 */
import type { FastifyReply } from 'fastify';
import { Type } from 'typebox';
import type { Http } from '../http.js';
import { caller, openEventStream } from '../http.js';
import type { Services } from '../../services.js';
import type { Deployment, InferenceUsage } from '../../db/tables/inference.js';
import { InvalidInputError, formatUsd } from '../../errors.js';
import type { Logger } from '../../log.js';
import { MAX_TOP_LOGPROBS, chatMessages } from '../../inference/params.js';
import type { GenerationParams, PromptInput } from '../../inference/params.js';
import type { GenerateRequest, Generation, GenerationResult, TokenLogprobView } from '../../inference/service.js';
import { SERVED_AS } from '../../inference/serving.js';
import { DateTime, IdParam, QuantizationInput, QuantizationSchema, Usd, problemResponses } from '../schemas.js';
import { pageJson, pageQuery, pageSchema } from '../pages.js';
import { usageListing } from '../../inference/usage-listing.js';
import { openAiError } from '../openai-errors.js';

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(schema: T) => Type.Union([schema, Type.Null()]);
const iso = (date: Date | null) => (date ? date.toISOString() : null);

// ─── Deployments ─────────────────────────────────────────────────────────────────────

export const DeploymentSchema = Type.Object(
  {
    id: Type.String({ examples: ['dep_01jd…'] }),
    object: Type.Literal('deployment'),
    modelId: Type.String(),
    status: Type.Union(['LOADING', 'READY', 'FAILED', 'UNDEPLOYED'].map((s) => Type.Literal(s))),
    error: Nullable(Type.String({ description: 'Why loading failed (FAILED only)' })),
    executionProvider: Nullable(Type.String({ description: 'Where it runs: cpu, cuda, …' })),
    quantization: QuantizationSchema,
    servedAs: Type.Union(
      SERVED_AS.map((s) => Type.Literal(s)),
      {
        description:
          "ADAPTER: a LoRA fine-tune served as its adapter over its base model's shared runtime; MERGED: its own copy of the weights",
      },
    ),
    weightBytesOnDisk: Nullable(Type.Integer({ description: 'Size of the ONNX files it loaded (null until it loaded)' })),
    weightBytesInMemory: Nullable(
      Type.Integer({ description: 'What its weight tensors take in the runtime session, in RAM or GPU memory (null until it loaded)' }),
    ),
    createdAt: DateTime,
    updatedAt: DateTime,
    readyAt: Nullable(DateTime),
    undeployedAt: Nullable(DateTime),
  },
  { $id: 'Deployment' },
);

function deploymentJson(d: Deployment) {
  return {
    id: d.id,
    object: 'deployment' as const,
    modelId: d.model_id,
    status: d.status,
    error: d.error,
    executionProvider: d.execution_provider,
    quantization: d.quantization,
    servedAs: d.served_as,
    weightBytesOnDisk: d.weight_bytes_on_disk === null ? null : Number(d.weight_bytes_on_disk),
    weightBytesInMemory: d.weight_bytes_in_memory === null ? null : Number(d.weight_bytes_in_memory),
    createdAt: d.created_at.toISOString(),
    updatedAt: d.updated_at.toISOString(),
    readyAt: iso(d.ready_at),
    undeployedAt: iso(d.undeployed_at),
  };
}

function usageJson(u: InferenceUsage) {
  return {
    id: u.id,
    object: 'inference_usage' as const,
    modelId: u.model_id,
    deploymentId: u.deployment_id,
    endpoint: u.endpoint,
    promptTokens: u.prompt_tokens,
    completionTokens: u.completion_tokens,
    totalTokens: u.prompt_tokens + u.completion_tokens,
    pricePerMillionTokens: formatUsd(u.price_per_mtok_micros),
    cost: formatUsd(u.cost_micros),
    finishReason: u.finish_reason,
    createdAt: u.created_at.toISOString(),
    finishedAt: u.finished_at.toISOString(),
  };
}

const UsageSchema = Type.Object({
  id: Type.String({ description: 'The completion id (also the ledger reference)' }),
  object: Type.Literal('inference_usage'),
  modelId: Type.String(),
  deploymentId: Nullable(Type.String({ description: 'null when the model was loaded on demand (no deployment)' })),
  endpoint: Type.String(),
  promptTokens: Type.Integer(),
  completionTokens: Type.Integer(),
  totalTokens: Type.Integer(),
  pricePerMillionTokens: Usd,
  cost: Usd,
  finishReason: Type.String({ description: 'stop | length | cancelled (the client left) | error (not charged)' }),
  createdAt: DateTime,
  finishedAt: DateTime,
});

function registerDeploymentRoutes(app: Http, services: Services): void {
  const { inference } = services;
  app.post(
    '/api/deployments',
    {
      schema: {
        tags: ['deployments'],
        summary: 'Deploy a model for inference (201 LOADING; 200 with the live deployment if there is one)',
        body: Type.Object({
          modelId: Type.String({ minLength: 1, maxLength: 200 }),
          quantization: Type.Optional(QuantizationInput),
          servedAs: Type.Optional(
            Type.String({ description: 'ADAPTER or MERGED; default ADAPTER for a LoRA fine-tune that can be', examples: ['MERGED'] }),
          ),
        }),
        response: { 200: Type.Ref('Deployment'), 201: Type.Ref('Deployment'), ...problemResponses, 409: Type.Ref('Problem') },
      },
    },
    async (request, reply) => {
      const { modelId, quantization, servedAs } = request.body;
      const { deployment, created } = await inference.deploy(caller(request).accountId, modelId, { quantization, servedAs });
      return reply.status(created ? 201 : 200).send(deploymentJson(deployment));
    },
  );

  app.get(
    '/api/deployments',
    {
      schema: {
        tags: ['deployments'],
        summary: 'Your deployments, newest first',
        querystring: Type.Object({ includeUndeployed: Type.Optional(Type.Boolean({ default: false })) }),
        response: { 200: Type.Object({ object: Type.Literal('list'), data: Type.Array(Type.Ref('Deployment')) }), ...problemResponses },
      },
    },
    async (request) => {
      const list = await inference.listDeployments(caller(request).accountId, {
        includeUndeployed: request.query.includeUndeployed ?? false,
      });
      return { object: 'list' as const, data: list.map(deploymentJson) };
    },
  );

  app.get(
    '/api/deployments/:id',
    {
      schema: {
        tags: ['deployments'],
        summary: 'One deployment: status LOADING, READY, FAILED (with error) or UNDEPLOYED',
        params: IdParam,
        response: { 200: Type.Ref('Deployment'), ...problemResponses },
      },
    },
    async (request) => deploymentJson(await inference.getDeployment(caller(request).accountId, request.params.id)),
  );

  app.delete(
    '/api/deployments/:id',
    {
      schema: {
        tags: ['deployments'],
        summary: 'Undeploy: new requests are refused, running ones finish',
        params: IdParam,
        response: { 200: Type.Ref('Deployment'), ...problemResponses },
      },
    },
    async (request) => deploymentJson(await inference.undeploy(caller(request).accountId, request.params.id)),
  );

  app.get(
    '/api/inference/usage',
    {
      schema: {
        tags: ['deployments'],
        summary: 'Your inference requests, newest first: tokens and what each cost',
        querystring: Type.Object(pageQuery(usageListing)),
        response: { 200: pageSchema(UsageSchema), ...problemResponses },
      },
    },
    async (request) => {
      const { limit, after } = request.query;
      const page = await inference.listUsage(caller(request).accountId, { first: limit ?? null, after: after ?? null });
      return pageJson(usageListing, { items: page.usage, hasNextPage: page.hasNextPage }, after, usageJson);
    },
  );
}

// ─── OpenAI-compatible routes ───────────────────────────────────────────────────────

/** Completions' `logprobs` bound (OpenAI's). */
const MAX_COMPLETION_LOGPROBS = 5;

const isSet = (value: unknown) => value !== undefined && value !== null;

/**
 * Parameters OpenAI defines that this server does not implement: refused with 400 naming
 * the parameter, never silently ignored (docs/openai-compatibility.md lists every field).
 */
function refuseUnsupported(body: Record<string, unknown>, kind: Kind): void {
  const refuse = (param: string, message: string) => {
    throw new InvalidInputError(param, message);
  };
  if (isSet(body.best_of) && body.best_of !== 1 && body.best_of !== body.n) refuse('bestOf', 'best_of is not supported (use n)');
  if (body.echo === true) refuse('echo', 'echo is not supported');
  if (typeof body.suffix === 'string' && body.suffix !== '') refuse('suffix', 'suffix is not supported');
  if (Array.isArray(body.tools) ? body.tools.length > 0 : isSet(body.tools))
    refuse('tools', 'tool calls are not supported by this model server');
  // With no tools, "none" and "auto" both mean a plain answer; anything else asks for a tool call.
  const noCall = (choice: unknown) => !isSet(choice) || choice === 'none' || choice === 'auto';
  if (!noCall(body.tool_choice)) refuse('toolChoice', 'tool calls are not supported by this model server');
  if (Array.isArray(body.functions) ? body.functions.length > 0 : isSet(body.functions)) {
    refuse('functions', 'function calls are not supported by this model server');
  }
  if (!noCall(body.function_call)) refuse('functionCall', 'function calls are not supported by this model server');
  if (isSet(body.audio)) refuse('audio', 'audio output is not supported: these models produce text');
  if (isSet(body.modalities) && !(Array.isArray(body.modalities) && body.modalities.every((m) => m === 'text'))) {
    refuse('modalities', 'only the "text" modality is supported');
  }
  if (isSet(body.prediction)) refuse('prediction', 'predicted outputs are not supported');
  if (isSet(body.web_search_options)) refuse('webSearchOptions', 'web search is not supported');
  const format = body.response_format as { type?: unknown } | undefined | null;
  if (isSet(format) && (typeof format !== 'object' || format?.type !== 'text')) {
    refuse('responseFormat', 'only response_format {"type": "text"} is supported (no JSON mode or structured outputs)');
  }
  if (isSet(body.stream) && typeof body.stream !== 'boolean') refuse('stream', 'stream must be a boolean');
  if (kind === 'chat') {
    if (isSet(body.logprobs) && typeof body.logprobs !== 'boolean') refuse('logprobs', 'logprobs must be a boolean');
    const top = body.top_logprobs;
    if (isSet(top) && body.logprobs !== true) refuse('topLogprobs', 'top_logprobs needs logprobs: true');
    if (isSet(top) && (typeof top !== 'number' || !Number.isInteger(top) || top < 0 || top > MAX_TOP_LOGPROBS)) {
      refuse('topLogprobs', `top_logprobs must be an integer from 0 to ${MAX_TOP_LOGPROBS}, got ${JSON.stringify(top)}`);
    }
  } else if (isSet(body.logprobs)) {
    const lp = body.logprobs;
    if (typeof lp !== 'number' || !Number.isInteger(lp) || lp < 0 || lp > MAX_COMPLETION_LOGPROBS) {
      refuse('logprobs', `logprobs must be an integer from 0 to ${MAX_COMPLETION_LOGPROBS}, got ${JSON.stringify(lp)}`);
    }
  }
}

/** The request's generation parameters in the service's terms (ranges are checked there, naming these fields). */
function generationParams(body: Record<string, unknown>, kind: Kind): GenerationParams {
  const num = (key: string) => body[key] as number | null | undefined;
  // Legacy completions default to 16 tokens (OpenAI's default); chat to the rest of the context.
  const maxTokensDefault = kind === 'text' ? 16 : undefined;
  return {
    maxTokens: num('max_completion_tokens') ?? num('max_tokens') ?? maxTokensDefault ?? null,
    temperature: num('temperature'),
    topP: num('top_p'),
    topK: num('top_k'),
    seed: num('seed'),
    stop: body.stop as string | string[] | null | undefined,
    presencePenalty: num('presence_penalty'),
    frequencyPenalty: num('frequency_penalty'),
    logitBias: body.logit_bias as Record<string, number> | null | undefined,
    n: num('n'),
    logprobs: kind === 'chat' ? (body.logprobs === true ? (num('top_logprobs') ?? 0) : null) : num('logprobs'),
  };
}

function completionPrompt(raw: unknown): PromptInput {
  if (typeof raw === 'string') return { prompt: raw };
  if (Array.isArray(raw) && raw.length > 0 && raw.every((t) => typeof t === 'number')) return { prompt: raw as number[] };
  if (Array.isArray(raw) && raw.length === 1) return completionPrompt(raw[0]);
  throw new InvalidInputError('prompt', 'prompt must be a string or an array of token ids (one prompt per request)');
}

const unix = (date: Date) => Math.floor(date.getTime() / 1000);
const usageOf = (r: GenerationResult) => ({
  prompt_tokens: r.promptTokens,
  completion_tokens: r.completionTokens,
  total_tokens: r.totalTokens,
});
type Kind = 'chat' | 'text';

/** Chat's `logprobs` object: one entry per token of the answer. */
function chatLogprobs(lps: TokenLogprobView[] | null | undefined) {
  if (!lps) return null;
  return {
    content: lps.map((lp) => ({
      token: lp.token,
      logprob: lp.logprob,
      bytes: lp.bytes,
      top_logprobs: lp.top.map((t) => ({ token: t.token, logprob: t.logprob, bytes: t.bytes })),
    })),
    refusal: null,
  };
}

/** Legacy completions' `logprobs` object; `offset` is where these tokens start in the answer's text. */
function textLogprobs(lps: TokenLogprobView[] | null | undefined, offset = 0) {
  if (!lps) return null;
  const text_offset: number[] = [];
  for (const lp of lps) {
    text_offset.push(offset);
    offset += lp.token.length;
  }
  return {
    tokens: lps.map((lp) => lp.token),
    token_logprobs: lps.map((lp) => lp.logprob),
    top_logprobs: lps.map((lp) => Object.fromEntries(lp.top.map((t) => [t.token, t.logprob]))),
    text_offset,
  };
}

interface ChunkChoice {
  index: number;
  text?: string;
  role?: boolean;
  finish?: string | null;
  logprobs?: TokenLogprobView[];
  /** Characters of this answer sent before (completions' text_offset). */
  offset?: number;
}

function chunkJson(kind: Kind, g: Generation, choices: ChunkChoice[]) {
  const base = { id: g.id, created: unix(g.created), model: g.model, system_fingerprint: null };
  if (kind === 'chat') {
    return {
      ...base,
      object: 'chat.completion.chunk',
      choices: choices.map((c) => ({
        index: c.index,
        delta: { ...(c.role ? { role: 'assistant' } : {}), ...(c.text !== undefined ? { content: c.text } : {}) },
        logprobs: chatLogprobs(c.logprobs),
        finish_reason: c.finish ?? null,
      })),
    };
  }
  return {
    ...base,
    object: 'text_completion',
    choices: choices.map((c) => ({
      index: c.index,
      text: c.text ?? '',
      logprobs: textLogprobs(c.logprobs, c.offset),
      finish_reason: c.finish ?? null,
    })),
  };
}

/** A cancelled generation has no client left to answer; the reasons clients see are stop and length. */
const finishReasonOf = (c: { finishReason: string }) => (c.finishReason === 'length' ? 'length' : 'stop');

function completionJson(kind: Kind, r: GenerationResult) {
  const base = { id: r.id, created: unix(r.created), model: r.model, system_fingerprint: null, usage: usageOf(r) };
  if (kind === 'chat') {
    return {
      ...base,
      object: 'chat.completion',
      choices: r.choices.map((c) => ({
        index: c.index,
        message: { role: 'assistant', content: c.text, refusal: null },
        logprobs: chatLogprobs(c.logprobs),
        finish_reason: finishReasonOf(c),
      })),
    };
  }
  return {
    ...base,
    object: 'text_completion',
    choices: r.choices.map((c) => ({ index: c.index, text: c.text, logprobs: textLogprobs(c.logprobs), finish_reason: finishReasonOf(c) })),
  };
}

/**
 * Server-sent events: one `data:` line per chunk, then `data: [DONE]`. With `n` > 1 the
 * answers' chunks interleave, each carrying its `index`. A client that disconnects
 * cancels the generation (it pays for the tokens made until then).
 */
async function streamCompletion(
  kind: Kind,
  reply: FastifyReply,
  g: Generation,
  n: number,
  includeUsage: boolean,
  log: Logger,
): Promise<void> {
  // The status goes out now: a queued request may wait a while for its first token.
  const res = openEventStream(reply);
  const onClose = () => g.cancel();
  res.on('close', onClose);
  const send = (data: unknown) => res.write(`data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`);
  const sent = new Array<number>(n).fill(0);
  try {
    if (kind === 'chat') for (let index = 0; index < n; index++) send(chunkJson(kind, g, [{ index, role: true, text: '' }]));
    for await (const piece of g.pieces()) {
      send(
        chunkJson(kind, g, [
          { index: piece.index, text: piece.text, offset: sent[piece.index], ...(piece.logprobs ? { logprobs: piece.logprobs } : {}) },
        ]),
      );
      sent[piece.index]! += piece.text.length;
    }
    const result = await g.result;
    for (const c of result.choices) {
      send(chunkJson(kind, g, [{ index: c.index, ...(kind === 'chat' ? {} : { text: '' }), finish: finishReasonOf(c) }]));
    }
    if (includeUsage) send({ ...chunkJson(kind, g, []), usage: usageOf(result) });
    send('[DONE]');
  } catch (err) {
    if (!res.destroyed) send(openAiError(err, log).body);
  } finally {
    res.off('close', onClose);
    res.end();
  }
}

function registerOpenAiRoutes(app: Http, services: Services): void {
  const { inference, log } = services;
  const Body = Type.Object(
    {
      model: Type.String({ description: 'A model you have deployed, or one of your fine-tuned models or checkpoints (loaded on demand)' }),
      stream: Type.Optional(Nullable(Type.Boolean())),
      max_tokens: Type.Optional(Nullable(Type.Integer())),
      temperature: Type.Optional(Nullable(Type.Number({ description: '0–2; 0 = greedy. Default 1' }))),
      top_p: Type.Optional(Nullable(Type.Number({ description: '0–1, default 1' }))),
      top_k: Type.Optional(Nullable(Type.Integer({ description: 'Extension: keep the k most likely tokens; 0 or -1 = off' }))),
      seed: Type.Optional(Nullable(Type.Integer({ description: 'Same seed, parameters and prompt → the same answer' }))),
      stop: Type.Optional(
        Nullable(
          Type.Union([Type.String(), Type.Array(Type.String())], { description: 'Up to 4 sequences; the answer ends before the first' }),
        ),
      ),
      presence_penalty: Type.Optional(Nullable(Type.Number())),
      frequency_penalty: Type.Optional(Nullable(Type.Number())),
      logit_bias: Type.Optional(Nullable(Type.Record(Type.String(), Type.Number()))),
      stream_options: Type.Optional(Nullable(Type.Object({ include_usage: Type.Optional(Type.Boolean()) }))),
    },
    { additionalProperties: true },
  );
  const routes: Array<{ url: string; kind: Kind; summary: string; extra: Record<string, ReturnType<typeof Type.Optional>> }> = [
    {
      url: '/v1/chat/completions',
      kind: 'chat',
      summary: 'OpenAI-compatible chat completion (stream: true answers as server-sent events)',
      extra: {
        messages: Type.Optional(Type.Array(Type.Object({ role: Type.String(), content: Type.Unknown() }, { additionalProperties: true }))),
        max_completion_tokens: Type.Optional(Nullable(Type.Integer())),
      },
    },
    {
      url: '/v1/completions',
      kind: 'text',
      summary: 'OpenAI-compatible text completion (stream: true answers as server-sent events)',
      extra: { prompt: Type.Optional(Type.Unknown({ description: 'A string or an array of token ids' })) },
    },
  ];

  for (const route of routes) {
    app.post(
      route.url,
      {
        schema: {
          tags: ['openai'],
          summary: route.summary,
          body: Type.Object({ ...Body.properties, ...route.extra }, { additionalProperties: true }),
        },
      },
      async (request, reply) => {
        const body = request.body as Record<string, unknown>;
        refuseUnsupported(body, route.kind);
        const abort = new AbortController();
        const onClose = () => {
          if (!reply.raw.writableFinished) abort.abort();
        };
        reply.raw.on('close', onClose);
        const req: GenerateRequest = {
          accountId: caller(request).accountId,
          model: body.model as string,
          input: route.kind === 'chat' ? { messages: chatMessages(body.messages) } : completionPrompt(body.prompt),
          params: generationParams(body, route.kind),
          endpoint: route.kind === 'chat' ? 'chat.completions' : 'completions',
          idKind: route.kind,
          signal: abort.signal,
        };
        try {
          const generation = await inference.generate(req);
          if (body.stream === true) {
            const include = (body.stream_options as { include_usage?: boolean } | null | undefined)?.include_usage === true;
            await streamCompletion(route.kind, reply, generation, typeof body.n === 'number' ? body.n : 1, include, log);
            return reply;
          }
          return completionJson(route.kind, await generation.result);
        } finally {
          reply.raw.off('close', onClose);
        }
      },
    );
  }
}

/** Deployments (/api/deployments) and the OpenAI-compatible routes (/v1/…). */
export function registerInferenceRoutes(app: Http, services: Services): void {
  app.addSchema(DeploymentSchema);
  registerDeploymentRoutes(app, services);
  registerOpenAiRoutes(app, services);
}
