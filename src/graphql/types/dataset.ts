import { builder, principalOf } from '../builder.js';
import { ErrorInterface, payload } from '../errors.js';
import { listingConnection } from '../connection.js';
import { datasetListing } from '../../datasets/listing.js';
import type { ListedError } from '../errors.js';
import type { Dataset } from '../../db/tables/datasets.js';
import { lengthHistogram } from '../../datasets/length-histogram.js';
import type { LengthBucket } from '../../datasets/length-histogram.js';

export const DatasetStatusEnum = builder.enumType('DatasetStatus', {
  values: {
    VALIDATING: { description: 'Stored; being checked line by line.' },
    READY: { description: 'Valid: it can train a model.' },
    INVALID: { description: 'It has errors; see `errors`.' },
  } as const,
});

interface Issue {
  line: number | null;
  code: string;
  field: string | null;
  message: string;
}

const DatasetIssueRef = builder.objectRef<Issue>('DatasetIssue').implement({
  description: 'One problem found in the file: where (line, field), what (code) and what was expected (message).',
  fields: (t) => ({
    line: t.exposeInt('line', { nullable: true, description: '1-based line number; null for whole-file problems.' }),
    code: t.exposeString('code', { description: 'e.g. invalid_json, missing_content, no_assistant_message, too_few_examples.' }),
    field: t.exposeString('field', { nullable: true, description: "Path in the line's JSON, e.g. messages[2].role." }),
    message: t.exposeString('message'),
  }),
});

interface Stats {
  examples?: number;
  lines?: number;
  format?: string | null;
  messagesPerRole?: { system: number; user: number; assistant: number; tool: number } | null;
  tokens?: { total: number; mean: number; max: number; trainable: number; lengths?: Array<[number, number]> } | null;
}

const LengthBucketRef = builder.objectRef<LengthBucket>('DatasetLengthBucket').implement({
  description: 'Examples whose token count lies in [from, to].',
  fields: (t) => ({ from: t.exposeInt('from'), to: t.exposeInt('to'), count: t.exposeInt('count') }),
});

const MessagesPerRoleRef = builder.objectRef<NonNullable<Stats['messagesPerRole']>>('MessagesPerRole').implement({
  fields: (t) => ({
    system: t.exposeInt('system'),
    user: t.exposeInt('user'),
    assistant: t.exposeInt('assistant'),
    tool: t.exposeInt('tool'),
  }),
});

const TokenStatsRef = builder.objectRef<NonNullable<Stats['tokens']>>('DatasetTokenStats').implement({
  description: 'Token counts with the tokenizer and chat template of `tokenizerModel`.',
  fields: (t) => ({
    total: t.exposeFloat('total'),
    mean: t.exposeFloat('mean'),
    max: t.exposeInt('max'),
    trainable: t.exposeFloat('trainable', { description: 'Tokens that carry loss (assistant replies, completions).' }),
    lengthHistogram: t.field({
      type: [LengthBucketRef],
      description: 'Tokens per example, in at most `buckets` bars of equal width (1–200, default 20).',
      args: { buckets: t.arg.int({ defaultValue: 20 }) },
      resolve: (s, args) => lengthHistogram(s.lengths ?? [], args.buckets ?? 20),
    }),
  }),
});

const DatasetStatsRef = builder.objectRef<Stats>('DatasetStats').implement({
  fields: (t) => ({
    examples: t.int({ resolve: (s) => s.examples ?? 0 }),
    lines: t.int({ resolve: (s) => s.lines ?? 0 }),
    messagesPerRole: t.field({ type: MessagesPerRoleRef, nullable: true, resolve: (s) => s.messagesPerRole ?? null }),
    tokens: t.field({ type: TokenStatsRef, nullable: true, resolve: (s) => s.tokens ?? null }),
  }),
});

export const DatasetRef = builder.objectRef<Dataset>('Dataset');

builder.node(DatasetRef, {
  description: 'A JSONL training file: stored by content hash, validated line by line.',
  id: { resolve: (d) => d.id },
  isTypeOf: (value) => typeof value === 'object' && value !== null && 'sha256' in value && 'error_count' in value,
  loadOne: (id, ctx) => (ctx.principal ? ctx.services.datasets.find(ctx.principal.accountId, id).then((d) => d ?? null) : null),
  fields: (t) => ({
    status: t.field({ type: DatasetStatusEnum, resolve: (d) => d.status }),
    filename: t.exposeString('filename', { nullable: true }),
    format: t.exposeString('format', {
      nullable: true,
      description: 'chat, completion or preference (DPO pairs); null until validated or when no line has a known shape.',
    }),
    examples: t.exposeInt('examples', { nullable: true }),
    bytes: t.float({ resolve: (d) => Number(d.bytes) }),
    sha256: t.exposeString('sha256'),
    source: t.exposeString('source', { description: 'upload, url or path' }),
    tokenizerModel: t.exposeString('tokenizer_model_id', { nullable: true, description: 'Model whose tokenizer counted the tokens.' }),
    stats: t.field({ type: DatasetStatsRef, nullable: true, resolve: (d) => (d.stats as Stats | null) ?? null }),
    errors: t.field({ type: [DatasetIssueRef], description: 'The first 100 errors, in line order.', resolve: (d) => d.errors as Issue[] }),
    errorCount: t.exposeInt('error_count', { description: 'All errors, also those beyond the first 100.' }),
    warnings: t.field({ type: [DatasetIssueRef], description: 'The first 100 warnings.', resolve: (d) => d.warnings as Issue[] }),
    warningCount: t.exposeInt('warning_count'),
    createdAt: t.expose('created_at', { type: 'DateTime' }),
    validatedAt: t.expose('validated_at', { type: 'DateTime', nullable: true }),
  }),
});

const UploadDatasetInput = builder.inputType('UploadDatasetInput', {
  fields: (t) => ({
    file: t.field({ type: 'File', required: true, description: 'The JSONL file (GraphQL multipart request spec).' }),
    model: t.id({ description: "Count tokens with this model's tokenizer and template (default: the first fine-tunable base model)." }),
  }),
});

const CreateDatasetFromUrlInput = builder.inputType('CreateDatasetFromUrlInput', {
  fields: (t) => ({
    url: t.string({ required: true, description: 'An http(s) URL of a JSONL file.' }),
    model: t.id(),
  }),
});

const CreateDatasetFromPathInput = builder.inputType('CreateDatasetFromPathInput', {
  fields: (t) => ({
    path: t.string({
      required: true,
      description: 'An absolute path on the server, inside a root the operator allowed (TUNELOOP_DATASET_ROOTS).',
    }),
    model: t.id(),
  }),
});

const UploadDatasetPayload = builder.objectRef<{ dataset?: Dataset; errors: ListedError[] }>('UploadDatasetPayload').implement({
  fields: (t) => ({
    dataset: t.field({ type: DatasetRef, nullable: true, resolve: (p) => p.dataset ?? null }),
    errors: t.field({ type: [ErrorInterface], resolve: (p) => p.errors }),
  }),
});

const DeleteDatasetPayload = builder.objectRef<{ deletedId?: string; errors: ListedError[] }>('DeleteDatasetPayload').implement({
  fields: (t) => ({
    deletedId: t.id({ nullable: true, resolve: (p) => p.deletedId ?? null }),
    errors: t.field({ type: [ErrorInterface], resolve: (p) => p.errors }),
  }),
});

builder.queryFields((t) => ({
  dataset: t.field({
    type: DatasetRef,
    nullable: true,
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) => ctx.services.datasets.find(principalOf(ctx).accountId, args.id),
  }),
  datasets: t.connection({
    type: DatasetRef,
    description: 'Your datasets, newest first.',
    args: { status: t.arg({ type: DatasetStatusEnum }) },
    resolve: (_root, args, ctx) =>
      listingConnection(datasetListing, args, async (page) => {
        const { datasets, hasNextPage } = await ctx.services.datasets.list(principalOf(ctx).accountId, {
          ...page,
          ...(args.status ? { status: args.status } : {}),
        });
        return { items: datasets, hasNextPage };
      }),
  }),
}));

builder.mutationFields((t) => ({
  uploadDataset: t.field({
    type: UploadDatasetPayload,
    description: 'Upload a JSONL file; it is validated in the background (poll `dataset` or watch `status`).',
    args: { input: t.arg({ type: UploadDatasetInput, required: true }) },
    resolve: (_root, { input }, ctx) =>
      payload(async () => ({
        dataset: await ctx.services.datasets.createFromStream(
          principalOf(ctx).accountId,
          input.file.stream() as unknown as AsyncIterable<Uint8Array>,
          {
            filename: input.file.name,
            model: input.model ?? null,
            ...(ctx.signal ? { signal: ctx.signal } : {}),
          },
        ),
      })),
  }),
  createDatasetFromUrl: t.field({
    type: UploadDatasetPayload,
    description: 'Fetch a JSONL file from an http(s) URL (size and time limits, at most 3 redirects).',
    args: { input: t.arg({ type: CreateDatasetFromUrlInput, required: true }) },
    resolve: (_root, { input }, ctx) =>
      payload(async () => ({
        dataset: await ctx.services.datasets.createFromUrl(principalOf(ctx).accountId, input.url, { model: input.model ?? null }),
      })),
  }),
  createDatasetFromPath: t.field({
    type: UploadDatasetPayload,
    description:
      "Copy a JSONL file from the server's filesystem, under a root the operator allowed; anything outside is refused (PATH_NOT_ALLOWED).",
    args: { input: t.arg({ type: CreateDatasetFromPathInput, required: true }) },
    resolve: (_root, { input }, ctx) =>
      payload(async () => ({
        dataset: await ctx.services.datasets.createFromPath(principalOf(ctx).accountId, input.path, { model: input.model ?? null }),
      })),
  }),
  deleteDataset: t.field({
    type: DeleteDatasetPayload,
    description: 'Delete a dataset (refused with DATASET_IN_USE while an unfinished job uses it).',
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, { id }, ctx) =>
      payload(async () => {
        await ctx.services.datasets.delete(principalOf(ctx).accountId, id);
        return { deletedId: id };
      }),
  }),
}));
