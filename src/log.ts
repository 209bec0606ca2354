import pino from 'pino';
import type { Logger } from 'pino';

export type { Logger };

/**
 * One JSON logger per process. Secrets never reach it: API keys, webhook secrets and
 * Authorization headers are redacted by path so a careless `log.info({ req })` stays safe.
 */
export function createLogger(level: string, name = 'tuneloop'): Logger {
  return pino({
    name,
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
  });
}
