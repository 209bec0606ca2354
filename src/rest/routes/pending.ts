import type { Http } from '../http.js';
import { problem, sendProblem } from '../problem.js';

/**
 * Public routes (docs/ARCHITECTURE.md, "Public names") whose capability is not built yet answer 501 problem+json (not 404), so
 * clients can tell "not yet" from "wrong URL". Each entry disappears when its domain's
 * route module registers the real route.
 */
const PENDING: Array<[method: 'GET' | 'POST' | 'DELETE', url: string, what: string]> = [
  ['POST', '/api/fine-tune/training/start', 'starting fine-tuning jobs'],
  ['POST', '/api/fine-tune/estimate', 'cost estimates'],
  ['GET', '/api/training/:jobId', 'training jobs'],
  ['GET', '/api/training/:jobId/events', 'training events'],
  ['POST', '/api/training/:jobId/cancel', 'cancelling training jobs'],
  ['POST', '/api/datasets', 'dataset uploads'],
  ['GET', '/api/datasets', 'dataset listings'],
  ['GET', '/api/datasets/:id', 'datasets'],
  ['POST', '/api/deployments', 'deployments'],
  ['GET', '/api/deployments/:id', 'deployments'],
  ['POST', '/api/webhooks', 'webhook endpoints'],
  ['GET', '/api/webhooks', 'webhook endpoints'],
  ['POST', '/v1/chat/completions', 'chat completions'],
  ['POST', '/v1/completions', 'completions'],
];

export function registerPendingRoutes(app: Http): void {
  for (const [method, url, what] of PENDING) {
    if (app.hasRoute({ method, url })) continue;
    app.route({
      method,
      url,
      schema: { tags: ['pending'], summary: `Not implemented yet: ${what}`, response: { 501: { $ref: 'Problem' } } },
      handler: async (_request, reply) =>
        sendProblem(reply, problem(501, 'NOT_IMPLEMENTED', `${what} is not available in this version yet`)),
    });
  }
}
