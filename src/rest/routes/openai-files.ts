/**
 * OpenAI-compatible files (/v1/files) over the datasets service: a `fine-tune` file is a
 * dataset, with the same id; a job's results file is built from its stored steps
 * (src/openai/files.ts). Errors are OpenAI's, like every /v1 route's (src/rest/openai-errors.ts).
 */
import type { Readable } from 'node:stream';
import multipart from '@fastify/multipart';
import type { MultipartFile, Multipart } from '@fastify/multipart';
import { Type } from 'typebox';
import type { Http } from '../http.js';
import { caller } from '../http.js';
import type { Services } from '../../services.js';
import { DomainError, InvalidInputError, NotFoundError } from '../../errors.js';
import { datasetListing } from '../../datasets/listing.js';
import { trainingEventListing } from '../../training/listings.js';
import { checkPurpose, fileObject, parseResultsFileId, resultsCsv, resultsFileObject } from '../../openai/files.js';
import type { TrainingEvent, TrainingJob } from '../../db/tables/training.js';

const FileParam = Type.Object({ id: Type.String({ minLength: 1, maxLength: 200 }) });

/** OpenAI's cursor list parameters: `after` is the id of the last object of the previous page. */
export const CursorQuery = {
  after: Type.Optional(Type.String({ maxLength: 200, description: 'The id of the last object of the previous page' })),
  limit: Type.Optional(Type.Integer({ minimum: 1, description: 'Page size' })),
};

/** Every stored step of a job, in order (the results CSV). */
export async function allSteps(services: Services, accountId: string, jobId: string): Promise<TrainingEvent[]> {
  const steps: TrainingEvent[] = [];
  let after: string | null = null;
  for (;;) {
    const page = await services.training.events(accountId, jobId, { first: 1000, after, types: ['step'] });
    steps.push(...page.events);
    if (!page.hasNextPage || page.events.length === 0) return steps;
    after = trainingEventListing.cursorOf(page.events[page.events.length - 1]!);
  }
}

export async function registerOpenAiFileRoutes(app: Http, services: Services): Promise<void> {
  const { datasets, training } = services;

  /** The results file of one of the account's jobs (NOT_FOUND like a missing file). */
  async function results(accountId: string, fileId: string, jobId: string): Promise<{ job: TrainingJob; csv: string }> {
    const job = await training.find(accountId, jobId);
    if (!job || job.step === 0) throw new NotFoundError('file', fileId);
    return { job, csv: resultsCsv(await allSteps(services, accountId, jobId)) };
  }

  await app.register(async (scope: Http) => {
    // One byte over the limit reaches the store, which answers FILE_TOO_LARGE itself.
    await scope.register(multipart, { limits: { fileSize: datasets.maxBytes + 1, files: 1, fields: 10, parts: 20 } });

    scope.post(
      '/v1/files',
      {
        schema: {
          tags: ['openai'],
          summary: 'OpenAI-compatible upload: multipart `file` and `purpose: fine-tune` (the file becomes a dataset, same id)',
          consumes: ['multipart/form-data'],
        },
      },
      async (request, reply) => {
        if (!request.isMultipart()) throw new InvalidInputError('file', 'send multipart/form-data with the fields "purpose" and "file"');
        const accountId = caller(request).accountId;
        const abort = new AbortController();
        request.raw.once('close', () => {
          if (!request.raw.complete) abort.abort();
        });
        const parts = request.parts();
        let purpose: unknown;
        let file: MultipartFile | undefined;
        const readFields = async (until: 'file' | 'end') => {
          for (;;) {
            const next = await parts.next();
            if (next.done) return;
            const part = next.value as Multipart;
            if (part.type === 'file') {
              if (until === 'end' || part.fieldname !== 'file') {
                throw new InvalidInputError(part.fieldname, 'send one file, in the multipart field "file"');
              }
              file = part;
              return;
            }
            if (part.fieldname === 'purpose') purpose = part.value;
          }
        };
        // The SDK sends `file` before `purpose`: a purpose seen first is checked before a
        // byte is stored; one after the file is read once the file is, and a bad one
        // stops the store before the dataset is recorded (nothing is kept).
        let refused: unknown;
        try {
          await readFields('file');
          if (purpose !== undefined) checkPurpose(purpose);
          if (!file) throw new InvalidInputError('file', 'send the file in a multipart field named "file"');
          const upload = file as MultipartFile;
          async function* bytesThenPurpose(): AsyncGenerator<Buffer> {
            for await (const chunk of upload.file as Readable) yield chunk as Buffer;
            try {
              await readFields('end');
              checkPurpose(purpose);
            } catch (err) {
              refused = err;
              throw err;
            }
          }
          const dataset = await datasets.createFromStream(accountId, bytesThenPurpose(), {
            filename: upload.filename || null,
            signal: abort.signal,
          });
          return reply.status(200).send(fileObject(dataset));
        } catch (err) {
          if (!request.raw.complete) void reply.header('connection', 'close');
          throw refused ?? multipartError(err);
        }
      },
    );

    scope.get(
      '/v1/files',
      {
        schema: {
          tags: ['openai'],
          summary: 'OpenAI-compatible list of your files (datasets), newest first',
          querystring: Type.Object({
            ...CursorQuery,
            purpose: Type.Optional(Type.String({ maxLength: 100 })),
            order: Type.Optional(Type.String({ maxLength: 10 })),
          }),
        },
      },
      async (request) => {
        const { after, limit, purpose, order } = request.query;
        if (order !== undefined && order !== 'desc')
          throw new InvalidInputError('order', 'files are listed newest first: order must be "desc"');
        // Results files are not listed (they are reached through their job's result_files).
        if (purpose !== undefined && purpose !== 'fine-tune') return { object: 'list', data: [], has_more: false };
        const page = await datasets.list(caller(request).accountId, {
          first: limit ?? null,
          after: after ? datasetListing.cursorAfter(after) : null,
        });
        return { object: 'list', data: page.datasets.map(fileObject), has_more: page.hasNextPage };
      },
    );

    scope.get(
      '/v1/files/:id',
      { schema: { tags: ['openai'], summary: 'OpenAI-compatible file object (a dataset, or a job’s results file)', params: FileParam } },
      async (request) => {
        const accountId = caller(request).accountId;
        const { id } = request.params;
        const jobId = parseResultsFileId(id);
        if (jobId !== undefined) {
          const { job, csv } = await results(accountId, id, jobId);
          return resultsFileObject(job.id, job.started_at ?? job.created_at, csv);
        }
        return fileObject(await datasets.get(accountId, id));
      },
    );

    scope.get(
      '/v1/files/:id/content',
      {
        schema: { tags: ['openai'], summary: 'OpenAI-compatible file content: the JSONL as uploaded, or a results CSV', params: FileParam },
      },
      async (request, reply) => {
        const accountId = caller(request).accountId;
        const { id } = request.params;
        const jobId = parseResultsFileId(id);
        if (jobId !== undefined) {
          const { csv } = await results(accountId, id, jobId);
          return reply.type('text/csv; charset=utf-8').send(csv);
        }
        const { dataset, stream } = await datasets.content(accountId, id);
        return reply.type('application/octet-stream').header('content-length', String(dataset.bytes)).send(stream);
      },
    );

    scope.delete(
      '/v1/files/:id',
      {
        schema: {
          tags: ['openai'],
          summary: 'OpenAI-compatible delete of a file (its dataset; refused while an unfinished job uses it)',
          params: FileParam,
        },
      },
      async (request) => {
        const accountId = caller(request).accountId;
        const { id } = request.params;
        const jobId = parseResultsFileId(id);
        if (jobId !== undefined) {
          await results(accountId, id, jobId);
          throw new InvalidInputError('file_id', 'a results file is made from its job’s stored steps and cannot be deleted');
        }
        await datasets.delete(accountId, id);
        return { id, object: 'file', deleted: true };
      },
    );
  });
}

/** The multipart parser's own failures as coded errors (its limits carry a status already). */
function multipartError(err: unknown): unknown {
  if (err instanceof DomainError || (err as { statusCode?: number }).statusCode) return err;
  if (err instanceof Error && err.name !== 'AbortError' && /multipart|boundary/i.test(err.message)) {
    return new DomainError('INVALID_MULTIPART', `the multipart body could not be read: ${err.message}`, 400);
  }
  return err;
}
