/**
 * OpenAI-compatible models (/v1/models): every model the account may call — the base
 * models and its own fine-tuned ones — and its checkpoints by id (`ft:…:ckpt-step-N`);
 * DELETE removes a fine-tuned model or a checkpoint (src/catalog/delete-model.ts).
 */
import { Type } from 'typebox';
import type { Http } from '../http.js';
import { caller } from '../http.js';
import type { Services } from '../../services.js';
import type { Model } from '../../db/schema.js';
import { NotFoundError } from '../../errors.js';
import { findCheckpointModel } from '../../catalog/checkpoint-models.js';
import { modelListing } from '../../catalog/listing.js';
import { modelJson } from '../openai-objects.js';

const ModelParam = Type.Object({ model: Type.String({ minLength: 1, maxLength: 300 }) });
const fromRow = (m: Model) => modelJson({ id: m.id, createdAt: m.created_at, ownerAccountId: m.owner_account_id });

export function registerOpenAiModelRoutes(app: Http, services: Services): void {
  const { catalog, db } = services;

  app.get(
    '/v1/models',
    { schema: { tags: ['openai'], summary: 'Every model you may call: the base models and your fine-tuned models' } },
    async (request) => {
      const accountId = caller(request).accountId;
      const data: ReturnType<typeof fromRow>[] = [];
      let after: string | null = null;
      for (;;) {
        const page = await catalog.listModels(accountId, { first: modelListing.maxSize, after });
        data.push(...page.models.map(fromRow));
        const last = page.models.at(-1);
        if (!page.hasNextPage || !last) break;
        after = modelListing.cursorOf(last);
      }
      return { object: 'list' as const, data };
    },
  );

  app.get(
    '/v1/models/:model',
    { schema: { tags: ['openai'], summary: 'A model you may call, or a checkpoint of one of your jobs', params: ModelParam } },
    async (request) => {
      const accountId = caller(request).accountId;
      const id = request.params.model;
      const model = await catalog.findModel(accountId, id);
      if (model) return fromRow(model);
      const checkpoint = await findCheckpointModel(db, accountId, id);
      if (checkpoint) return modelJson({ id, createdAt: checkpoint.createdAt, ownerAccountId: accountId });
      throw new NotFoundError('model', id);
    },
  );

  app.delete(
    '/v1/models/:model',
    {
      schema: {
        tags: ['openai'],
        summary: 'Delete one of your fine-tuned models (409 while deployed) or a checkpoint of a finished job',
        params: ModelParam,
      },
    },
    async (request) => {
      const deleted = await catalog.deleteModel(caller(request).accountId, request.params.model);
      return { id: deleted.id, object: 'model' as const, deleted: true };
    },
  );
}
