import fs from 'node:fs/promises';
import path from 'node:path';
import fastifyStatic from '@fastify/static';
import type { FastifyReply } from 'fastify';
import type { Http } from './http.js';

/**
 * The console's pages: each answers the single-page app's index.html, which routes in
 * the browser. Deep links (a job, a dataset) work as typed or bookmarked. Nothing here
 * shadows /api, /v1, /graphql, /openapi.json, /healthz or /readyz.
 */
export const CONSOLE_PAGES = [
  '/',
  '/jobs',
  '/jobs/:id',
  '/compare',
  '/datasets',
  '/datasets/:id',
  '/models',
  '/playground',
  '/account',
] as const;

/**
 * Only this origin, for everything: the console works on an air-gapped network, and the
 * browser itself refuses a script, style, font or request to any other host. uPlot and
 * React set style attributes, hence 'unsafe-inline' for styles only.
 */
const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "style-src 'self' 'unsafe-inline'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'self'",
].join('; ');

const NOT_BUILT = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Tuneloop</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 3rem auto">
<h1>Tuneloop</h1>
<p>The API is running, but the web console has not been built.</p>
<p>Build it from the repository with <code>bash scripts/setup.sh</code> (or <code>npm run build:console</code>), then reload this page.</p>
<p>The API answers meanwhile: GraphQL at <a href="/graphql">/graphql</a>, REST under <code>/api</code> (<a href="/openapi.json">OpenAPI</a>).</p>
</body></html>
`;

/**
 * Serves the built console from `consoleDir` (vite's output): hashed files under /assets/
 * cached for a year (their names change with their content), index.html revalidated on
 * every load so a rebuilt console is picked up at once. Without a build, the pages answer
 * a short page saying how to build it (503).
 */
export async function registerConsole(app: Http, consoleDir: string): Promise<void> {
  await app.register(fastifyStatic, {
    root: path.join(consoleDir, 'assets'),
    prefix: '/assets/',
    index: false,
    immutable: true,
    maxAge: '365d',
    // A folder that does not exist yet (console not built) is fine: the files 404 until it is.
    serve: true,
    wildcard: true,
    setHeaders: (reply) => reply.header('x-content-type-options', 'nosniff'),
  });

  const indexFile = path.join(consoleDir, 'index.html');
  const page = async (_request: unknown, reply: FastifyReply) => {
    reply.header('content-security-policy', CONTENT_SECURITY_POLICY);
    reply.header('x-content-type-options', 'nosniff');
    reply.header('cache-control', 'no-cache');
    reply.type('text/html; charset=utf-8');
    // Read per page load (0.4 KB): a rebuild replaces it together with the hashed assets it names.
    const html = await fs.readFile(indexFile, 'utf8').catch(() => null);
    if (html === null) return reply.status(503).send(NOT_BUILT);
    return reply.send(html);
  };
  for (const url of CONSOLE_PAGES) app.get(url, page);
}
