/**
 * OpenAI-compatible files (/v1/files): a file IS a dataset (same id, same validation,
 * same storage; src/datasets). Uploads are multipart (`file`, `purpose: fine-tune`);
 * a job's results file (`ftres_…`, src/training/results-file.ts) is read here too.
 * Errors are OpenAI's shape (src/rest/openai-errors.ts).
 */
import { createReadStream } from 'node:fs';
import type { MultipartFile, Multipart } from '@fastify/multipart';
import multipart from '@fastify/multipart';
import { Type } from 'typebox';
import type { Http } from '../http.js';
import { caller } from '../http.js';
import type { Services } from '../../services.js';
import { DomainError, InvalidInputError, NotFoundError } from '../../errors.js';
import { datasetListing } from '../../datasets/listing.js';
import { openDataset } from '../../datasets/storage.js';
import { isId } from '../../ids.js';
import { cursorAfterId, fileJson, openAiList, pageLimit, resultsFileJson } from '../openai-objects.js';

const Id = Type.Object({ file_id: Type.String({ minLength: 1, maxLength: 200 }) });

export async function registerOpenAiFileRoutes(app: Http, services: Services): Promise<void> {
  const { datasets, training } = services;

  await app.register(async (scope: Http) => {
    await scope.register(multipart, { limits: { fileSize: datasets.maxBytes + 1, files: 1, fields: 10, parts: 20 } });
    scope.post(
      '/v1/files',
      {
        schema: {
          tags: ['openai'],
          summary: 'Upload a fine-tuning file (multipart: `file`, `purpose: fine-tune`); it is a dataset with the same id',
          consumes: ['multipart/form-data'],
        },
      },
      async (request, reply) => {
        const accountId = caller(request).accountId;
        if (!request.isMultipart()) {
          throw new DomainError('UNSUPPORTED_MEDIA_TYPE', 'send multipart/form-data with the fields `file` and `purpose`', 415);
        }
        const parts = request.parts()[Symbol.asyncIterator]();
        let purpose: string | undefined;
        const checkPurpose = () => {
          if (purpose === undefined) throw new InvalidInputError('purpose', "the field 'purpose' is required: 'fine-tune'");
          if (purpose !== 'fine-tune') {
            throw new InvalidInputError('purpose', `purpose '${purpose}' is not supported here: only 'fine-tune' files are stored`);
          }
        };
        // Reads parts up to the file; a field after the file is read once the file is stored.
        const readFields = async (stopAtFile: boolean): Promise<MultipartFile | undefined> => {
          for (;;) {
            const next = await parts.next().catch((err: unknown) => {
              if ((err as { statusCode?: number }).statusCode) throw err;
              throw new DomainError('INVALID_MULTIPART', `the multipart body could not be read: ${(err as Error).message}`, 400);
            });
            if (next.done) return undefined;
            const part: Multipart = next.value;
            if (part.type === 'file') {
              if (part.fieldname !== 'file') throw new InvalidInputError('file', 'send the file in a multipart field named "file"');
              if (stopAtFile) return part;
              part.file.resume();
            } else if (part.fieldname === 'purpose') {
              purpose = String(part.value);
            }
          }
        };
        const abort = new AbortController();
        request.raw.once('close', () => {
          if (!request.raw.complete) abort.abort();
        });
        try {
          const file = await readFields(true);
          if (!file) throw new InvalidInputError('file', "the field 'file' is required");
          if (purpose !== undefined) checkPurpose();
          const dataset = await datasets.createFromStream(accountId, file.file, {
            filename: file.filename,
            signal: abort.signal,
            confirm: async () => {
              if (file.file.truncated) throw new DomainError('FILE_TOO_LARGE', 'the file is larger than the limit', 413);
              await readFields(false);
              checkPurpose();
            },
          });
          return reply.status(200).send(fileJson(dataset));
        } catch (err) {
          if (!request.raw.complete) void reply.header('connection', 'close');
          throw err;
        }
      },
    );
  });

  app.get(
    '/v1/files',
    {
      schema: {
        tags: ['openai'],
        summary: 'Your fine-tuning files, newest first (`after` = the last file id of the previous page)',
        querystring: Type.Object({
          after: Type.Optional(Type.String({ maxLength: 200 })),
          limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000 })),
          purpose: Type.Optional(Type.String({ maxLength: 100 })),
          order: Type.Optional(Type.Literal('desc')),
        }),
      },
    },
    async (request) => {
      const { after, limit, purpose } = request.query;
      // Results files belong to their jobs (result_files); only fine-tune files are listed.
      if (purpose !== undefined && purpose !== 'fine-tune') return openAiList([], false);
      const page = await datasets.list(caller(request).accountId, {
        first: pageLimit(datasetListing, limit),
        after: cursorAfterId(datasetListing, after),
      });
      return openAiList(page.datasets.map(fileJson), page.hasNextPage);
    },
  );

  app.get(
    '/v1/files/:file_id',
    { schema: { tags: ['openai'], summary: 'A file: a dataset (uploaded → processed | error) or a job’s results file', params: Id } },
    async (request) => {
      const accountId = caller(request).accountId;
      const id = request.params.file_id;
      if (isId('resultsFile', id)) {
        const results = await training.resultsFile(accountId, id);
        return resultsFileJson({ ...results, bytes: Buffer.byteLength(results.csv) });
      }
      return fileJson(await getFile(accountId, id));
    },
  );

  app.get(
    '/v1/files/:file_id/content',
    { schema: { tags: ['openai'], summary: 'The bytes of a file (a results file is CSV)', params: Id } },
    async (request, reply) => {
      const accountId = caller(request).accountId;
      const id = request.params.file_id;
      if (isId('resultsFile', id)) {
        const results = await training.resultsFile(accountId, id);
        return reply.type('text/csv; charset=utf-8').send(results.csv);
      }
      const dataset = await getFile(accountId, id);
      const stored = await openDataset(services.config.dataDir, dataset.sha256).catch(() => {
        throw new DomainError('FILE_MISSING', `the bytes of file ${id} are missing from the data folder`, 500);
      });
      return reply.type('application/octet-stream').header('content-length', stored.bytes).send(createReadStream(stored.path));
    },
  );

  app.delete(
    '/v1/files/:file_id',
    { schema: { tags: ['openai'], summary: 'Delete a file (409 while an unfinished job uses it)', params: Id } },
    async (request) => {
      const id = request.params.file_id;
      if (isId('resultsFile', id)) {
        await training.resultsFile(caller(request).accountId, id);
        throw new InvalidInputError('file_id', 'a results file belongs to its job and cannot be deleted on its own');
      }
      await getFile(caller(request).accountId, id);
      await datasets.delete(caller(request).accountId, id);
      return { id, object: 'file' as const, deleted: true };
    },
  );

  async function getFile(accountId: string, id: string) {
    const dataset = await datasets.find(accountId, id);
    if (!dataset) throw new NotFoundError('file', id);
    return dataset;
  }
}
