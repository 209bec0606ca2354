import type { Readable } from 'node:stream';
import type { FastifyRequest } from 'fastify';
import multipart from '@fastify/multipart';
import { Type } from 'typebox';
import type { Http } from '../http.js';
import { caller } from '../http.js';
import type { Services } from '../../services.js';
import type { Dataset } from '../../db/tables/datasets.js';
import type { CreateDatasetOptions } from '../../datasets/service.js';
import { DomainError, InvalidInputError } from '../../errors.js';
import { formatBytes } from '../../datasets/storage.js';
import { DateTime, IdParam, problemResponses } from '../schemas.js';
import { pageJson, pageQuery, pageSchema } from '../pages.js';
import { datasetListing } from '../../datasets/listing.js';

const Issue = Type.Object({
  line: Type.Union([Type.Integer(), Type.Null()]),
  code: Type.String(),
  field: Type.Union([Type.String(), Type.Null()]),
  message: Type.String(),
});

export const DatasetSchema = Type.Object(
  {
    id: Type.String(),
    object: Type.Literal('dataset'),
    status: Type.Union([Type.Literal('VALIDATING'), Type.Literal('READY'), Type.Literal('INVALID')]),
    filename: Type.Union([Type.String(), Type.Null()]),
    source: Type.String(),
    format: Type.Union([Type.Literal('chat'), Type.Literal('completion'), Type.Literal('preference'), Type.Null()], {
      description: 'chat, completion or preference (DPO pairs); null until validated',
    }),
    examples: Type.Union([Type.Integer(), Type.Null()]),
    bytes: Type.Number(),
    sha256: Type.String(),
    tokenizerModel: Type.Union([Type.String(), Type.Null()]),
    stats: Type.Union([Type.Object({}, { additionalProperties: true }), Type.Null()]),
    errors: Type.Array(Issue, { description: 'The first 100 errors, with line numbers' }),
    errorCount: Type.Integer(),
    warnings: Type.Array(Issue),
    warningCount: Type.Integer(),
    createdAt: DateTime,
    validatedAt: Type.Union([DateTime, Type.Null()]),
  },
  { $id: 'Dataset' },
);

export function datasetJson(d: Dataset) {
  return {
    id: d.id,
    object: 'dataset' as const,
    status: d.status,
    filename: d.filename,
    source: d.source,
    format: d.format,
    examples: d.examples,
    bytes: Number(d.bytes),
    sha256: d.sha256,
    tokenizerModel: d.tokenizer_model_id,
    stats: d.stats,
    errors: d.errors as Array<{ line: number | null; code: string; field: string | null; message: string }>,
    errorCount: d.error_count,
    warnings: d.warnings as Array<{ line: number | null; code: string; field: string | null; message: string }>,
    warningCount: d.warning_count,
    createdAt: d.created_at.toISOString(),
    validatedAt: d.validated_at ? new Date(d.validated_at).toISOString() : null,
  };
}

const RAW_TYPES = ['application/jsonl', 'application/x-ndjson', 'application/x-jsonlines', 'application/jsonlines'];

/**
 * /api/datasets. Uploads stream straight into the content-addressed store (never
 * buffered whole): multipart (field `file`), a raw JSONL body, or JSON `{url}` / `{path}`.
 */
export async function registerDatasetRoutes(app: Http, services: Services): Promise<void> {
  await app.register(async (scope: Http) => {
    const maxBytes = services.datasets.maxBytes;
    // One byte over the limit reaches the store, which answers FILE_TOO_LARGE itself.
    await scope.register(multipart, { limits: { fileSize: maxBytes + 1, files: 1, fields: 10, parts: 20 } });
    // Raw JSONL bodies are handed over as the request stream (the store enforces the size limit).
    scope.addContentTypeParser(RAW_TYPES, (_request, payload, done) => done(null, payload));

    scope.post(
      '/api/datasets',
      {
        schema: {
          tags: ['datasets'],
          summary: 'Upload a JSONL dataset (multipart field `file`, a raw application/jsonl body, or JSON {url} / {path})',
          description:
            'The file is stored by sha256 and validated in the background: poll GET /api/datasets/{id} until status is READY or INVALID. Uploading the same bytes again returns the existing dataset. Errors: 403 PATH_NOT_ALLOWED, 400 URL_NOT_ALLOWED, 413 FILE_TOO_LARGE, 415 UNSUPPORTED_MEDIA_TYPE, 422 FETCH_FAILED / FETCH_TIMEOUT / TOO_MANY_REDIRECTS / CONTENT_DECODING_FAILED, 409 UPLOAD_CONFLICT, 507 INSUFFICIENT_STORAGE. See docs/datasets.md.',
          querystring: Type.Object({
            model: Type.Optional(Type.String({ description: 'Count tokens with this model (default: the first fine-tunable base model)' })),
            filename: Type.Optional(Type.String({ maxLength: 255 })),
          }),
          consumes: ['multipart/form-data', 'application/jsonl', 'application/json'],
          response: {
            201: Type.Ref('Dataset'),
            ...problemResponses,
            403: Type.Ref('Problem'),
            409: Type.Ref('Problem'),
            413: Type.Ref('Problem'),
            415: Type.Ref('Problem'),
            422: Type.Ref('Problem'),
            507: Type.Ref('Problem'),
          },
        },
      },
      async (request, reply) => {
        const accountId = caller(request).accountId;
        const opts = { model: request.query.model ?? null, filename: request.query.filename ?? null };
        const abort = new AbortController();
        request.raw.once('close', () => {
          if (!request.raw.complete) abort.abort();
        });
        const type = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
        const declared = Number(request.headers['content-length'] ?? NaN);
        let dataset: Dataset;
        if (type === 'multipart/form-data' || RAW_TYPES.includes(type)) {
          try {
            // A raw body that says it is too large is refused before a byte is read.
            if (RAW_TYPES.includes(type) && declared > maxBytes) {
              throw new DomainError('FILE_TOO_LARGE', `the file is larger than the ${formatBytes(maxBytes)} limit`, 413, { maxBytes });
            }
            dataset = await upload(request, type, accountId, { ...opts, signal: abort.signal });
          } catch (err) {
            // The rest of an unread body is not worth receiving: answer, then close the connection.
            if (!request.raw.complete) void reply.header('connection', 'close');
            throw err;
          }
        } else if (type === 'application/json') {
          const body = request.body as { url?: unknown; path?: unknown } | null;
          if (body && typeof body.url === 'string') dataset = await services.datasets.createFromUrl(accountId, body.url, opts);
          else if (body && typeof body.path === 'string') dataset = await services.datasets.createFromPath(accountId, body.path, opts);
          else throw new InvalidInputError('body', 'a JSON body must be {"url": "https://…"} or {"path": "/allowed/root/file.jsonl"}');
        } else {
          throw new DomainError(
            'UNSUPPORTED_MEDIA_TYPE',
            `send multipart/form-data, application/jsonl or application/json, not "${type || 'nothing'}"`,
            415,
          );
        }
        return reply.status(201).send(datasetJson(dataset));
      },
    );
  });

  async function upload(request: FastifyRequest, type: string, accountId: string, opts: CreateDatasetOptions): Promise<Dataset> {
    if (type !== 'multipart/form-data') return services.datasets.createFromStream(accountId, request.body as Readable, opts);
    const file = await request.file().catch((err: unknown) => {
      // The parser's own limits carry a status; anything else it throws (a boundary that
      // never appears, a malformed part header) means the body is not the multipart it claims.
      if ((err as { statusCode?: number }).statusCode) throw err;
      throw new DomainError('INVALID_MULTIPART', `the multipart body could not be read: ${(err as Error).message}`, 400);
    });
    if (file?.fieldname !== 'file') throw new InvalidInputError('file', 'send the dataset in a multipart field named "file"');
    return services.datasets.createFromStream(accountId, file.file, { ...opts, filename: opts.filename ?? file.filename });
  }

  app.get(
    '/api/datasets',
    {
      schema: {
        tags: ['datasets'],
        summary: 'List your datasets, newest first',
        querystring: Type.Object({
          ...pageQuery(datasetListing),
          status: Type.Optional(Type.Union([Type.Literal('VALIDATING'), Type.Literal('READY'), Type.Literal('INVALID')])),
        }),
        response: { 200: pageSchema(Type.Ref('Dataset')), ...problemResponses },
      },
    },
    async (request) => {
      const { limit, after, status } = request.query;
      const page = await services.datasets.list(caller(request).accountId, {
        first: limit ?? null,
        after: after ?? null,
        ...(status ? { status } : {}),
      });
      return pageJson(datasetListing, { items: page.datasets, hasNextPage: page.hasNextPage }, after, datasetJson);
    },
  );

  app.get(
    '/api/datasets/:id',
    {
      schema: {
        tags: ['datasets'],
        summary: 'Get a dataset: status, stats and line-numbered errors',
        params: IdParam,
        response: { 200: Type.Ref('Dataset'), ...problemResponses },
      },
    },
    async (request) => datasetJson(await services.datasets.get(caller(request).accountId, request.params.id)),
  );

  app.delete(
    '/api/datasets/:id',
    {
      schema: {
        tags: ['datasets'],
        summary: 'Delete a dataset (refused with 409 DATASET_IN_USE while an unfinished job uses it)',
        params: IdParam,
        response: { 204: Type.Null(), ...problemResponses, 409: Type.Ref('Problem') },
      },
    },
    async (request, reply) => {
      await services.datasets.delete(caller(request).accountId, request.params.id);
      return reply.status(204).send(null);
    },
  );
}
