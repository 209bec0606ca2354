/**
 * OpenAI-compatible fine-tuning jobs (/v1/fine_tuning/jobs) over the training service:
 * the same jobs as /api/fine-tune and GraphQL, in OpenAI's shapes (src/openai/fine-tuning.ts)
 * with OpenAI's errors like every /v1 route (src/rest/openai-errors.ts; docs/openai-compatibility.md).
 */
import { Type } from 'typebox';
import type { Http } from '../http.js';
import { caller } from '../http.js';
import type { Principal } from '../../accounts/service.js';
import type { Services } from '../../services.js';
import { InvalidInputError } from '../../errors.js';
import { trainingEventListing, trainingJobListing } from '../../training/listings.js';
import { checkpointObject, eventObject, jobObject, parseEventId, startRequestOf, withOpenAiParam } from '../../openai/fine-tuning.js';
import { CursorQuery } from './openai-files.js';

const JobParam = Type.Object({ id: Type.String({ minLength: 1, maxLength: 200 }) });

/** `metadata[key]=value` query parameters (as the SDK writes `metadata: {key: value}`). */
function metadataFilter(query: Record<string, unknown>): Record<string, string> | null {
  const filter: Record<string, string> = {};
  for (const [key, value] of Object.entries(query)) {
    const match = /^metadata\[(.+)\]$/.exec(key);
    if (!match) continue;
    if (typeof value !== 'string') throw new InvalidInputError(key, `${key} must be given once, as a string`);
    filter[match[1]!] = value;
  }
  return Object.keys(filter).length > 0 ? filter : null;
}

export async function registerOpenAiFineTuningRoutes(app: Http, services: Services): Promise<void> {
  const { training } = services;

  /** A job's list route: the caller's job (NOT_FOUND for another account's) and OpenAI's page parameters. */
  async function jobPageRequest(request: {
    principal: Principal | null;
    params: { id: string };
    query: { after?: string; limit?: number };
  }) {
    const { accountId } = caller(request);
    const job = await training.get(accountId, request.params.id);
    return { accountId, job, after: request.query.after, limit: request.query.limit };
  }

  await app.register(async (scope: Http) => {
    scope.post(
      '/v1/fine_tuning/jobs',
      {
        schema: {
          tags: ['openai'],
          summary: 'OpenAI-compatible create of a fine-tuning job (supervised = LoRA, or dpo)',
          body: Type.Object({}, { additionalProperties: true }),
        },
      },
      async (request) => {
        const { request: start, prefix } = startRequestOf(request.body as Record<string, unknown>);
        try {
          return jobObject(await training.start(caller(request).accountId, start));
        } catch (err) {
          throw withOpenAiParam(err, prefix);
        }
      },
    );

    scope.get(
      '/v1/fine_tuning/jobs',
      {
        schema: {
          tags: ['openai'],
          summary: 'OpenAI-compatible list of your fine-tuning jobs, newest first (filter: metadata[key]=value)',
          querystring: Type.Object(CursorQuery, { additionalProperties: true }),
        },
      },
      async (request) => {
        const query = request.query as { after?: string; limit?: number } & Record<string, unknown>;
        const page = await training.list(caller(request).accountId, {
          first: query.limit ?? null,
          after: query.after ? trainingJobListing.cursorAfter(query.after) : null,
          metadata: metadataFilter(query),
        });
        const now = new Date();
        return { object: 'list', data: page.jobs.map((j) => jobObject(j, now)), has_more: page.hasNextPage };
      },
    );

    scope.get(
      '/v1/fine_tuning/jobs/:id',
      { schema: { tags: ['openai'], summary: 'OpenAI-compatible fine-tuning job', params: JobParam } },
      async (request) => jobObject(await training.get(caller(request).accountId, request.params.id)),
    );

    const control = [
      { verb: 'cancel', summary: 'Cancel a job (a running one stops at its next step)', run: training.cancel.bind(training) },
      {
        verb: 'pause',
        summary: 'Pause a job: it stops at a checkpoint and keeps its reservation',
        run: training.pause.bind(training),
      },
      {
        verb: 'resume',
        summary: 'Resume a paused job from its newest checkpoint',
        run: (accountId: string, id: string) => training.resume(accountId, id),
      },
    ] as const;
    for (const c of control) {
      scope.post(
        `/v1/fine_tuning/jobs/:id/${c.verb}`,
        { schema: { tags: ['openai'], summary: `OpenAI-compatible: ${c.summary}`, params: JobParam } },
        async (request) => jobObject(await c.run(caller(request).accountId, request.params.id, { waitMs: 0 })),
      );
    }

    scope.get(
      '/v1/fine_tuning/jobs/:id/events',
      {
        schema: {
          tags: ['openai'],
          summary: 'OpenAI-compatible events of a job, newest first: status messages and a `metrics` event per step',
          params: JobParam,
          querystring: Type.Object(CursorQuery),
        },
      },
      async (request) => {
        const { accountId, job, after, limit } = await jobPageRequest(request);
        const cursor = after ? trainingEventListing.cursorAfter({ jobId: job.id, seq: parseEventId(job.id, after) }) : null;
        const page = await training.events(accountId, job.id, { first: limit ?? 20, after: cursor, newestFirst: true });
        return { object: 'list', data: page.events.map((e) => eventObject(job, e)), has_more: page.hasNextPage };
      },
    );

    scope.get(
      '/v1/fine_tuning/jobs/:id/checkpoints',
      {
        schema: {
          tags: ['openai'],
          summary: 'OpenAI-compatible checkpoints of a job, newest first (each callable as its fine_tuned_model_checkpoint)',
          params: JobParam,
          querystring: Type.Object(CursorQuery),
        },
      },
      async (request) => {
        const { accountId, job, after, limit } = await jobPageRequest(request);
        // A job keeps its newest two checkpoints (run-job.ts), so this list pages in
        // memory; OpenAI's `after` is a checkpoint id, checked against the job's own.
        const all = (await training.checkpoints(accountId, job.id)).map((c) => checkpointObject(job, c)).reverse();
        let start = 0;
        if (after) {
          start = all.findIndex((c) => c.id === after) + 1;
          if (start === 0) throw new InvalidInputError('after', `${JSON.stringify(after)} is not a checkpoint of this job`);
        }
        const size = limit ?? 10;
        if (size > 100) throw new InvalidInputError('limit', 'limit must be an integer from 1 to 100');
        const data = all.slice(start, start + size);
        return { object: 'list', data, has_more: start + size < all.length };
      },
    );
  });
}
