import { builder, principalOf } from '../builder.js';
import type { GraphQLContext } from '../builder.js';
import { ErrorInterface, payload } from '../errors.js';
import type { ListedError } from '../errors.js';
import { ModelRef, QuantizationEnum } from './model.js';
import type { Deployment } from '../../db/tables/inference.js';
import { InvalidInputError } from '../../errors.js';
import { SERVED_AS } from '../../inference/serving.js';
import { chatMessages } from '../../inference/params.js';
import type { GenerateRequest, GenerationResult } from '../../inference/service.js';

export const DeploymentStatusEnum = builder.enumType('DeploymentStatus', {
  description: 'LOADING → READY | FAILED; UNDEPLOYED once undeployed.',
  values: ['LOADING', 'READY', 'FAILED', 'UNDEPLOYED'] as const,
});

export const ServedAsEnum = builder.enumType('ServedAs', {
  description:
    'ADAPTER: a LoRA fine-tune served as its adapter over the shared runtime of its base model (no copy of the weights); MERGED: its own copy of the weights (float32 or quantized).',
  values: SERVED_AS,
});

export const DeploymentRef = builder.objectRef<Deployment>('Deployment');

builder.node(DeploymentRef, {
  description: 'A model served for inference to your account (OpenAI-compatible routes under /v1).',
  id: { resolve: (d) => d.id },
  isTypeOf: (value) => typeof value === 'object' && value !== null && 'model_id' in value && 'execution_provider' in value,
  loadOne: (id, ctx) => (ctx.principal ? ctx.services.inference.findDeployment(ctx.principal.accountId, id).then((d) => d ?? null) : null),
  fields: (t) => ({
    modelId: t.exposeID('model_id'),
    model: t.field({
      type: ModelRef,
      nullable: true,
      resolve: (d, _args, ctx) => ctx.services.catalog.findModel(principalOf(ctx).accountId, d.model_id),
    }),
    status: t.field({ type: DeploymentStatusEnum, resolve: (d) => d.status }),
    error: t.exposeString('error', { nullable: true, description: 'Why loading failed (FAILED only).' }),
    executionProvider: t.exposeString('execution_provider', { nullable: true, description: 'Where it runs: cpu, cuda, …' }),
    quantization: t.field({
      type: QuantizationEnum,
      description: 'The weights it serves: NONE (float32) or block-quantized INT8 / INT4.',
      resolve: (d) => d.quantization,
    }),
    servedAs: t.field({
      type: ServedAsEnum,
      description: 'ADAPTER (a LoRA fine-tune over its base model’s shared runtime) or MERGED.',
      resolve: (d) => d.served_as,
    }),
    weightBytesOnDisk: t.field({
      type: 'Float',
      nullable: true,
      description: 'Size of the ONNX files it loaded (null until it loaded).',
      resolve: (d) => (d.weight_bytes_on_disk === null ? null : Number(d.weight_bytes_on_disk)),
    }),
    weightBytesInMemory: t.field({
      type: 'Float',
      nullable: true,
      description: 'What its weight tensors take in the runtime session, in RAM or GPU memory (null until it loaded).',
      resolve: (d) => (d.weight_bytes_in_memory === null ? null : Number(d.weight_bytes_in_memory)),
    }),
    createdAt: t.expose('created_at', { type: 'DateTime' }),
    readyAt: t.expose('ready_at', { type: 'DateTime', nullable: true }),
    undeployedAt: t.expose('undeployed_at', { type: 'DateTime', nullable: true }),
  }),
});

const DeployModelPayload = builder.objectRef<{ deployment?: Deployment; errors: ListedError[] }>('DeployModelPayload').implement({
  fields: (t) => ({
    deployment: t.field({ type: DeploymentRef, nullable: true, resolve: (p) => p.deployment ?? null }),
    errors: t.field({ type: [ErrorInterface], resolve: (p) => p.errors }),
  }),
});

const UndeployModelPayload = builder.objectRef<{ deployment?: Deployment; errors: ListedError[] }>('UndeployModelPayload').implement({
  fields: (t) => ({
    deployment: t.field({ type: DeploymentRef, nullable: true, resolve: (p) => p.deployment ?? null }),
    errors: t.field({ type: [ErrorInterface], resolve: (p) => p.errors }),
  }),
});

const FinishReasonEnum = builder.enumType('FinishReason', {
  description: 'STOP: an end-of-text token or a stop sequence; LENGTH: maxTokens or the context ran out.',
  values: ['STOP', 'LENGTH'] as const,
});

interface TokenUsage {
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
}

const TokenUsageRef = builder.objectRef<TokenUsage>('TokenUsage').implement({
  fields: (t) => ({
    promptTokens: t.exposeInt('promptTokens'),
    completionTokens: t.exposeInt('completionTokens'),
    totalTokens: t.exposeInt('totalTokens'),
  }),
});

const finishReason = (r: GenerationResult) => (r.finishReason === 'length' ? 'LENGTH' : 'STOP');

const CompletionRef = builder.objectRef<GenerationResult>('Completion').implement({
  description: 'A generated answer.',
  fields: (t) => ({
    id: t.exposeID('id', { description: 'The same id as the usage record and the ledger reference.' }),
    modelId: t.exposeID('model'),
    text: t.exposeString('text'),
    finishReason: t.field({ type: FinishReasonEnum, resolve: finishReason }),
    usage: t.field({ type: TokenUsageRef, resolve: (r) => r }),
    cost: t.field({ type: 'USD', resolve: (r) => r.costMicros }),
    createdAt: t.expose('created', { type: 'DateTime' }),
  }),
});

const GeneratePayload = builder.objectRef<{ completion?: GenerationResult; errors: ListedError[] }>('GeneratePayload').implement({
  fields: (t) => ({
    completion: t.field({ type: CompletionRef, nullable: true, resolve: (p) => p.completion ?? null }),
    errors: t.field({ type: [ErrorInterface], resolve: (p) => p.errors }),
  }),
});

interface GenerationEvent {
  id: string;
  text: string;
  done: boolean;
  result?: GenerationResult;
}

const GenerationEventRef = builder.objectRef<GenerationEvent>('GenerationEvent').implement({
  description: 'A piece of a streamed answer; the last event has done = true, the finish reason and the usage.',
  fields: (t) => ({
    id: t.exposeID('id'),
    text: t.exposeString('text', { description: 'New text (never part of a character or of a stop sequence).' }),
    done: t.exposeBoolean('done'),
    finishReason: t.field({ type: FinishReasonEnum, nullable: true, resolve: (e) => (e.result ? finishReason(e.result) : null) }),
    usage: t.field({ type: TokenUsageRef, nullable: true, resolve: (e) => e.result ?? null }),
    cost: t.field({ type: 'USD', nullable: true, resolve: (e) => e.result?.costMicros ?? null }),
  }),
});

const ChatMessageInput = builder.inputType('ChatMessageInput', {
  fields: (t) => ({
    role: t.string({ required: true, description: 'system, user, assistant or tool' }),
    content: t.string({ required: true }),
  }),
});

const GenerateInput = builder.inputType('GenerateInput', {
  description: 'Give either `prompt` (text completion) or `messages` (chat, rendered by the model’s chat template).',
  fields: (t) => ({
    model: t.id({
      required: true,
      description: 'A model you have deployed, or one of your fine-tuned models or checkpoints (ft:…:ckpt-step-N), loaded on demand.',
    }),
    prompt: t.string(),
    messages: t.field({ type: [ChatMessageInput] }),
    maxTokens: t.int({ description: 'Default: the rest of the context.' }),
    temperature: t.float({ description: '0–2; 0 = greedy. Default 1.' }),
    topP: t.float({ description: '0–1. Default 1.' }),
    topK: t.int({ description: 'Keep the k most likely tokens; 0 = off.' }),
    seed: t.int({ description: 'Same seed, parameters and prompt → the same answer.' }),
    stop: t.stringList({ description: 'Up to 4 sequences; the answer ends before the first one.' }),
    presencePenalty: t.float(),
    frequencyPenalty: t.float(),
  }),
});

type GenerateInputShape = typeof GenerateInput.$inferInput;

function toRequest(input: GenerateInputShape, ctx: GraphQLContext): GenerateRequest {
  const hasPrompt = input.prompt !== null && input.prompt !== undefined;
  const hasMessages = input.messages !== null && input.messages !== undefined;
  if (hasPrompt === hasMessages) throw new InvalidInputError('input', 'give either prompt or messages (exactly one)');
  return {
    accountId: principalOf(ctx).accountId,
    model: input.model,
    input: hasMessages ? { messages: chatMessages(input.messages, 'messages') } : { prompt: input.prompt! },
    params: {
      maxTokens: input.maxTokens,
      temperature: input.temperature,
      topP: input.topP,
      topK: input.topK,
      seed: input.seed,
      stop: input.stop,
      presencePenalty: input.presencePenalty,
      frequencyPenalty: input.frequencyPenalty,
    },
    endpoint: 'graphql',
    ...(ctx.signal ? { signal: ctx.signal } : {}),
  };
}

builder.queryFields((t) => ({
  deployments: t.field({
    type: [DeploymentRef],
    description: 'Your deployments, newest first.',
    args: { includeUndeployed: t.arg.boolean({ defaultValue: false }) },
    resolve: (_root, args, ctx) =>
      ctx.services.inference.listDeployments(principalOf(ctx).accountId, { includeUndeployed: args.includeUndeployed ?? false }),
  }),
  deployment: t.field({
    type: DeploymentRef,
    nullable: true,
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) => ctx.services.inference.findDeployment(principalOf(ctx).accountId, args.id),
  }),
}));

builder.mutationFields((t) => ({
  deployModel: t.field({
    type: DeployModelPayload,
    description:
      'Deploy a model (a base model, or one you fine-tuned). Returns at once, LOADING; or your live deployment of it. `quantization` defaults to the model’s defaultQuantization; `servedAs` defaults to ADAPTER for a LoRA fine-tune (READY at once once its base model is loaded), MERGED otherwise.',
    args: {
      modelId: t.arg.id({ required: true }),
      quantization: t.arg({ type: QuantizationEnum }),
      servedAs: t.arg({ type: ServedAsEnum }),
    },
    resolve: (_root, args, ctx) =>
      payload(async () => ({
        deployment: (
          await ctx.services.inference.deploy(principalOf(ctx).accountId, args.modelId, {
            quantization: args.quantization,
            servedAs: args.servedAs,
          })
        ).deployment,
      })),
  }),
  undeployModel: t.field({
    type: UndeployModelPayload,
    description: 'Stop serving a deployment; running requests finish.',
    args: { deploymentId: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) =>
      payload(async () => ({ deployment: await ctx.services.inference.undeploy(principalOf(ctx).accountId, args.deploymentId) })),
  }),
  generate: t.field({
    type: GeneratePayload,
    description:
      'Generate an answer with a deployed model (or your fine-tuned model or checkpoint, loaded on demand) and return it whole (generateStream streams it).',
    args: { input: t.arg({ type: GenerateInput, required: true }) },
    resolve: (_root, { input }, ctx) => payload(async () => ({ completion: await ctx.services.inference.complete(toRequest(input, ctx)) })),
  }),
}));

builder.subscriptionFields((t) => ({
  generateStream: t.field({
    type: GenerationEventRef,
    description:
      'Generate with a deployed model (or your fine-tuned model or checkpoint, loaded on demand), streaming the text as it is produced. Unsubscribing stops the generation.',
    args: { input: t.arg({ type: GenerateInput, required: true }) },
    subscribe: async function* (_root, { input }, ctx) {
      const generation = await ctx.services.inference.generate(toRequest(input, ctx));
      for await (const text of generation) yield { id: generation.id, text, done: false };
      yield { id: generation.id, text: '', done: true, result: await generation.result };
    },
    resolve: (event) => event,
  }),
}));
