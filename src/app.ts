import type { Server, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Config } from './config.js';
import { connectDatabase } from './db/connect.js';
import type { DatabaseHandle } from './db/connect.js';
import { migrateToLatest } from './db/migrate.js';
import { createLogger } from './log.js';
import type { Logger } from './log.js';
import { createServices } from './services.js';
import type { Services } from './services.js';
import { createGraphQLServer } from './graphql/yoga.js';
import type { GraphQLServerOptions } from './graphql/yoga.js';
import { attachGraphQLWs } from './graphql/ws.js';
import type { GraphQLWsServer } from './graphql/ws.js';
import { buildHttpServer } from './rest/server.js';
import type { Http } from './rest/http.js';

import type { Runner } from './runner.js';

export interface AppOptions {
  config: Config;
  /** Serve HTTP/GraphQL (the api role). */
  api: boolean;
  /** Run trainer jobs (the worker role). */
  worker: boolean;
  log?: Logger;
  /** More yoga/envelop plugins for GraphQL (every operation on every transport runs through them). */
  graphqlPlugins?: GraphQLServerOptions['plugins'];
}

export interface App {
  services: Services;
  /** http://host:port once started with the api role. */
  url: string | undefined;
  start(): Promise<void>;
  /** Graceful: stop accepting, finish in-flight work, close sockets and the database. */
  stop(): Promise<void>;
}

const SHUTDOWN_GRACE_MS = 8_000;

/** Builds a process: api, worker or both, on one database. Tests boot it on port 0. */
export async function buildApp(opts: AppOptions): Promise<App> {
  const { config } = opts;
  const log = opts.log ?? createLogger(config.logLevel, config.logFormat);
  const handle: DatabaseHandle = await connectDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, log });
  let services: Services | undefined;
  let http: Http | undefined;
  let ws: GraphQLWsServer | undefined;
  let yoga: ReturnType<typeof createGraphQLServer> | undefined;
  const runners: Runner[] = [];
  let url: string | undefined;
  let connections = new Set<Socket>();

  try {
    const applied = await migrateToLatest(handle.db);
    if (applied.length) log.info({ applied }, 'migrations applied');
    services = createServices({ config, db: handle.db, notifier: handle.notifier, log });
    runners.push(...services.runners({ api: opts.api, worker: opts.worker }));
    if (opts.api) {
      yoga = createGraphQLServer(services, { plugins: opts.graphqlPlugins ?? [] });
      http = await buildHttpServer({ services, yoga });
      connections = trackConnections(http.server);
    }
  } catch (err) {
    await services?.close().catch(() => {});
    await handle.close().catch(() => {});
    throw err;
  }
  const svc = services;

  let stopping: Promise<void> | undefined;
  return {
    services: svc,
    get url() {
      return url;
    },
    async start() {
      for (const runner of runners) await runner.start();
      if (http) {
        await http.listen({ host: config.host, port: config.port });
        // graphql-ws after listening: attached earlier, it would also report a failed
        // listen (a port in use) as an "internal error" with a stack trace on stderr.
        ws = attachGraphQLWs(http.server, yoga!, svc);
        const address = http.server.address() as AddressInfo;
        const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
        url = `http://${host}:${address.port}`;
        log.info({ url, engine: handle.engine }, 'tuneloop api listening');
      }
    },
    stop() {
      stopping ??= (async () => {
        const force = setTimeout(() => {
          log.warn('graceful shutdown is taking too long; closing connections');
          http?.server.closeAllConnections();
        }, SHUTDOWN_GRACE_MS);
        force.unref();
        try {
          // Stop accepting first; in-flight requests finish while runners hand back work.
          const closingHttp = http?.close();
          await Promise.all(runners.map((r) => r.stop().catch((err) => log.error({ err, runner: r.name }, 'runner stop failed'))));
          await ws?.close();
          // Streams (SSE) never end on their own: cut the responses that are already
          // streaming; requests still being answered (no headers sent yet) finish first.
          for (const socket of connections) {
            // The response a connection is busy with (none when idle: server.close() closed
            // those). `_httpMessage` is node's own link from a socket to it — undocumented
            // but long stable; graceful-shutdown libraries (http-terminator) rely on it too.
            const response = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
            if (!response) continue;
            if (response.headersSent) {
              if (!response.writableEnded) response.destroy();
            } else {
              // Answer, then close: a keep-alive socket would hold the server open ~5 s more.
              response.setHeader('connection', 'close');
            }
          }
          // Connections that went idle since close() (which closed the idle ones then) are
          // closed as they get there, instead of lingering until their keep-alive timeout.
          const closeIdle = setInterval(() => http?.server.closeIdleConnections(), 50);
          closeIdle.unref();
          try {
            await closingHttp;
          } finally {
            clearInterval(closeIdle);
          }
          await svc.close();
          await handle.close();
        } finally {
          clearTimeout(force);
        }
        log.info('tuneloop stopped');
      })();
      return stopping;
    },
  };
}

/**
 * The open connections, so shutdown can tell streams from requests. Per connection, not
 * per request: a 'close' listener on every response had a measurable cost a request
 * (docs/PERFORMANCE.md, "HTTP overhead"), and keep-alive connections carry many requests.
 */
function trackConnections(server: Server): Set<Socket> {
  const open = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    open.add(socket);
    socket.once('close', () => open.delete(socket));
  });
  return open;
}
