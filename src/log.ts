import pino from 'pino';
import type { Logger } from 'pino';
import pretty from 'pino-pretty';

export type { Logger };

/** `pretty`: one readable line per entry (for people at a terminal); `json`: one JSON object per line (for machines). */
export type LogFormat = 'pretty' | 'json';

/**
 * One logger per process, on stdout. Without a `format` it is `pretty` when stdout is a
 * terminal and `json` otherwise (LOG_FORMAT forces either; see `loadConfig`). Secrets
 * never reach it: API keys, webhook secrets and Authorization headers are redacted by path
 * so a careless `log.info({ req })` stays safe.
 */
export function createLogger(level: string, format?: LogFormat): Logger {
  const options: pino.LoggerOptions = {
    name: 'tuneloop',
    level,
    redact: {
      paths: [
        'apiKey',
        'secret',
        '*.apiKey',
        '*.secret',
        'req.headers.authorization',
        'headers.authorization',
        'connectionParams.authorization',
      ],
      censor: '[redacted]',
    },
  };
  if ((format ?? (process.stdout.isTTY ? 'pretty' : 'json')) === 'json') return pino(options);
  // pino-pretty as a synchronous stream in this thread (not a transport worker): lines keep
  // their order with what the CLI prints itself, and nothing is lost at process.exit.
  return pino(options, pretty({ sync: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,name' }));
}
