import Fastify from 'fastify';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import swagger from '@fastify/swagger';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Services } from '../services.js';
import type { Yoga } from '../graphql/yoga.js';
import { migrationsApplied } from '../db/migrate.js';
import { dataFolderProblem } from '../storage/free-space.js';
import type { Http } from './http.js';
import { problem, restErrorHandler, sendProblem } from './problem.js';
import { isOpenAiPath, openAiError, openAiErrorOf, sendOpenAiError } from './openai-errors.js';
import { ProblemSchema } from './schemas.js';
import { bodyTimeoutHook } from './body-timeout.js';
import { strictInputHook } from './strict-input.js';
import { Type } from 'typebox';
import { AccountSchema, registerAccountRoutes } from './routes/account.js';
import { ModelSchema, registerModelRoutes } from './routes/models.js';
import { registerPendingRoutes } from './routes/pending.js';
import { registerWebhookRoutes } from './routes/webhooks.js';
import { registerInferenceRoutes } from './routes/inference.js';
import { registerOpenAiModelRoutes } from './routes/openai-models.js';
import { registerOpenAiFileRoutes } from './routes/openai-files.js';
import { registerOpenAiFineTuningRoutes } from './routes/openai-fine-tuning.js';
import { DatasetSchema, registerDatasetRoutes } from './routes/datasets.js';
import { TrainingJobSchema, registerTrainingRoutes } from './routes/training.js';
import { registerConsole } from './console.js';

export interface HttpServerOptions {
  services: Services;
  yoga: Yoga;
  /** Extra route modules (datasets, training, webhooks, inference) registered by the app. */
  routes?: Array<(app: Http, services: Services) => void | Promise<void>>;
  /** Bodies larger than this are refused with 413 (uploads have their own limit). */
  bodyLimit?: number;
}

/**
 * The HTTP host: fastify with JSON-schema validation for REST, the OpenAPI document
 * generated from the same route schemas, yoga mounted at /graphql, and health routes.
 */
export async function buildHttpServer(opts: HttpServerOptions): Promise<Http> {
  const { services, yoga } = opts;
  const bodyLimit = opts.bodyLimit ?? 1024 * 1024;
  const app = Fastify({
    logger: false,
    bodyLimit,
    forceCloseConnections: false,
    return503OnClosing: true,
    ajv: { customOptions: { coerceTypes: 'array', useDefaults: true, removeAdditional: false, allErrors: false } },
    // A path that is not valid percent-encoding (`/v1/files/%C0%80`) never reaches a route:
    // /v1 answers it in OpenAI's error shape; elsewhere fastify's own answer stays.
    frameworkErrors: (error, request, reply) => {
      if (isOpenAiPath(request.url))
        return void sendOpenAiError(reply as unknown as FastifyReply, openAiErrorOf(400, error.message, 'invalid_url'));
      const body = { error: 'Bad Request', code: error.code, message: error.message, statusCode: 400 };
      void (reply as unknown as FastifyReply).status(400).type('application/json').send(body);
    },
  }).withTypeProvider<TypeBoxTypeProvider>() as unknown as Http;

  app.decorateRequest('principal', null);
  app.addSchema(ProblemSchema);
  app.addSchema(ModelSchema);
  app.addSchema(AccountSchema);
  app.addSchema(DatasetSchema);
  app.addSchema(TrainingJobSchema);

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Tuneloop REST API',
        version: '1',
        description:
          'Fine-tuning, datasets, billing, webhooks and deployments. Errors are application/problem+json with a `code`. GraphQL lives at /graphql.',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'API key' } } },
      security: [{ bearer: [] }],
    },
    hideUntagged: true,
    // Name components after the schemas' $id (Model, Problem, …) instead of def-0, def-1.
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => String(json.$id ?? `def-${i}`) },
  });

  // /v1 answers errors in OpenAI's shape (src/rest/openai-errors.ts), everything else in problem+json.
  const restErrors = restErrorHandler(services.log);
  app.setErrorHandler((error: FastifyError, request, reply) =>
    isOpenAiPath(request.url) ? sendOpenAiError(reply, openAiError(error, services.log)) : restErrors(error, request, reply),
  );
  app.setNotFoundHandler((request, reply) => {
    const route = `${request.method} ${request.url.split('?')[0]}`;
    return isOpenAiPath(request.url)
      ? sendOpenAiError(reply, openAiErrorOf(404, `Invalid URL (${route})`, 'unknown_url'))
      : sendProblem(reply, problem(404, 'NOT_FOUND', `no route ${route}`));
  });

  app.addHook('onRequest', bodyTimeoutHook(services.config.bodyTimeoutMs));
  app.addHook('preValidation', strictInputHook);

  // Authentication for REST and inference routes; GraphQL authenticates inside yoga.
  // A callback hook, not an async one: a cached key (nearly every request) is answered
  // without a promise (bench/foundation-http.ts).
  const refuse = (request: FastifyRequest, reply: FastifyReply) => {
    reply.header('www-authenticate', 'Bearer');
    if (isOpenAiPath(request.url)) {
      return sendOpenAiError(reply, openAiErrorOf(401, 'Missing or invalid API key.', 'invalid_api_key'));
    }
    return sendProblem(reply, problem(401, 'UNAUTHENTICATED', 'missing or invalid API key: send "Authorization: Bearer <apiKey>"'));
  };
  app.addHook('onRequest', (request: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void) => {
    const path = request.url;
    // Only /api and /v1 need a key (health, OpenAPI and /graphql live elsewhere; GraphQL
    // authenticates inside yoga). `request.routeOptions` is not read here: it builds a new
    // object on every access.
    if (!(path.startsWith('/api/') || isOpenAiPath(path))) return done();
    const authorization = request.headers.authorization;
    const cached = services.accounts.cachedPrincipal(authorization);
    if (cached) {
      request.principal = cached;
      return done();
    }
    if (cached === null) return refuse(request, reply);
    services.accounts.authenticate(authorization).then((principal) => {
      if (!principal) return refuse(request, reply);
      request.principal = principal;
      done();
    }, done);
  });

  // Public operational routes: described in /openapi.json like every REST route, without auth.
  const publicRoute = (summary: string, response: Record<number, unknown>) => ({
    config: { public: true },
    schema: { tags: ['meta'], summary, security: [], response },
  });
  const Status = Type.Object({ status: Type.String() });
  app.get('/healthz', publicRoute('Liveness: the process answers', { 200: Status }), async () => ({ status: 'ok' }));
  app.get(
    '/readyz',
    publicRoute('Readiness: the database answers, every migration is applied, and the data folder has free space', {
      200: Status,
      503: Type.Ref('Problem'),
    }),
    async (_request, reply) => {
      try {
        if (!(await migrationsApplied(services.db))) {
          return sendProblem(reply, problem(503, 'NOT_READY', 'database migrations are not applied'));
        }
        const storage = await dataFolderProblem(services.config.dataDir, services.config.minFreeBytes);
        if (storage) return sendProblem(reply, problem(503, 'NOT_READY', storage));
        return { status: 'ready' };
      } catch {
        return sendProblem(reply, problem(503, 'NOT_READY', 'the database is unreachable'));
      }
    },
  );
  app.get('/openapi.json', publicRoute('This document (OpenAPI 3.1)', {}), async () => app.swagger());

  // yoga reads multipart bodies (GraphQL uploads) itself: this encapsulated scope hands it
  // the unparsed stream instead of letting fastify refuse the media type.
  await app.register(async (scope) => {
    scope.addContentTypeParser('multipart/form-data', {}, (_request, _payload, done) => done(null));
    scope.route({
      url: '/graphql',
      method: ['GET', 'POST', 'OPTIONS'],
      handler: async (request, reply) => {
        const response = await yoga.handleNodeRequestAndResponse(request, reply, {});
        response.headers.forEach((value, key) => reply.header(key, value));
        reply.status(response.status);
        // Streams (SSE, incremental delivery) are piped; a plain result is one string, sent
        // as such: piping it through a web ReadableStream was a large share of a small
        // query's cost (docs/PERFORMANCE.md, "HTTP overhead").
        const type = response.headers.get('content-type') ?? '';
        if (type.startsWith('text/event-stream') || type.startsWith('multipart/')) return reply.send(response.body);
        return reply.send(await response.text());
      },
    });
  });

  registerAccountRoutes(app, services);
  registerModelRoutes(app, services);
  await registerDatasetRoutes(app, services);
  await registerTrainingRoutes(app, services);
  await registerWebhookRoutes(app, services);
  await registerInferenceRoutes(app, services);
  registerOpenAiModelRoutes(app, services);
  await registerOpenAiFileRoutes(app, services);
  await registerOpenAiFineTuningRoutes(app, services);
  for (const register of opts.routes ?? []) await register(app, services);
  registerPendingRoutes(app);
  await registerConsole(app, services.config.consoleDir);
  return app;
}
