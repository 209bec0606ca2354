import { Type } from 'typebox';
import { modelListing } from '../../catalog/listing.js';
import type { Model } from '../../db/schema.js';
import { NotFoundError } from '../../errors.js';
import type { Services } from '../../services.js';
import type { Http } from '../http.js';
import { caller } from '../http.js';

const unix = (date: Date) => Math.floor(date.getTime() / 1000);

const modelJson = (id: string, created: Date, ownedBy: string | null) => ({
  id,
  object: 'model' as const,
  created: unix(created),
  owned_by: ownedBy ?? 'tuneloop',
});

const ModelParam = Type.Object({ model: Type.String({ minLength: 1, maxLength: 300 }) });

/**
 * OpenAI's models routes over the catalog (docs/openai-compatibility.md): the list holds
 * every model the account can call — its fine-tuned models (served on demand) and the
 * models it has deployed; retrieve also knows base models and checkpoints
 * (`ft:…:ckpt-step-N`); delete removes a fine-tuned model or a finished job's checkpoint.
 */
export function registerOpenAiModelRoutes(app: Http, services: Services): void {
  const { catalog, inference } = services;

  app.get(
    '/v1/models',
    { schema: { tags: ['openai'], summary: 'The models you can call: your fine-tuned models and your deployments' } },
    async (request) => {
      const accountId = caller(request).accountId;
      const visible: Model[] = [];
      for (let after: string | null = null; ; ) {
        const page = await catalog.listModels(accountId, { first: modelListing.maxSize, after });
        visible.push(...page.models);
        const last = page.models.at(-1);
        if (!page.hasNextPage || !last) break;
        after = modelListing.cursorOf(last);
      }
      const deployed = new Set((await inference.listDeployments(accountId)).map((d) => d.model_id));
      const data = visible
        .filter((m) => m.owner_account_id === accountId || deployed.has(m.id))
        .map((m) => modelJson(m.id, m.created_at, m.owner_account_id));
      return { object: 'list', data };
    },
  );

  app.get(
    '/v1/models/:model',
    {
      schema: {
        tags: ['openai'],
        summary: 'One model you can see: a base model, your fine-tuned model or a checkpoint',
        params: ModelParam,
      },
    },
    async (request) => {
      const accountId = caller(request).accountId;
      const id = request.params.model;
      const model = await catalog.findModel(accountId, id);
      if (model) return modelJson(model.id, model.created_at, model.owner_account_id);
      const checkpoint = await catalog.findCheckpoint(accountId, id);
      if (checkpoint) return modelJson(checkpoint.id, checkpoint.createdAt, accountId);
      throw new NotFoundError('model', id);
    },
  );

  app.delete(
    '/v1/models/:model',
    {
      schema: {
        tags: ['openai'],
        summary: 'Delete your fine-tuned model (409 while deployed) or a checkpoint of a finished job',
        params: ModelParam,
      },
    },
    async (request) => {
      const id = request.params.model;
      await inference.deleteModel(caller(request).accountId, id);
      return { id, object: 'model', deleted: true };
    },
  );
}
