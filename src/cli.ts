import { CommanderError } from 'commander';
import { ApiError, ConnectionError } from './client/api-error.js';
import { UsageError } from './cli/command-kit.js';
import type { OutcomeHolder } from './cli/command-kit.js';
import { buildProgram, normalizeArgv } from './cli/program.js';

/** The one line a failure prints, with what to do where there is something to do. */
function failureLine(err: unknown): string {
  const message = (err instanceof Error ? err.message : String(err)).split('\n')[0]!;
  if (err instanceof ApiError && err.code === 'UNAUTHENTICATED') {
    // The server's message speaks of HTTP headers; a person at the command line set a key.
    return 'the server refused the API key: check --api-key, TUNELOOP_API_KEY or `tuneloop login` [UNAUTHENTICATED]';
  }
  if (err instanceof ConnectionError) return `${message}: is it running (tuneloop start)? Otherwise pass --url or set TUNELOOP_URL`;
  if (err instanceof ApiError) return `${message} [${err.code}]`;
  return message;
}

/**
 * Entry point of `tuneloop` (bin/tuneloop.js, bin/tuneloop-dev.js). Exit codes: what the
 * command returned (0 success; `jobs watch`: 1 FAILED, 2 CANCELLED), 2 for a bad
 * invocation, 1 for any other failure — always one line on stderr, never a stack trace
 * (unless TUNELOOP_DEBUG is set). start, serve and worker keep running until a signal.
 */
export async function run(argv: string[]): Promise<void> {
  const holder: OutcomeHolder = { outcome: 0 };
  // `tuneloop … | head` closes the pipe early: that ends the command quietly, not with a stack.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
  try {
    const program = buildProgram(holder);
    await program.parseAsync(normalizeArgv(program, argv), { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version were printed (exit 0, or 2 for the help shown instead of a missing
      // subcommand); parse errors were printed as one line by oneLineErrors.
      process.exit(err.exitCode === 0 ? 0 : 2);
    }
    process.stderr.write(`tuneloop: ${failureLine(err)}\n`);
    if (process.env.TUNELOOP_DEBUG && !(err instanceof UsageError || err instanceof ApiError)) {
      process.stderr.write(`${(err as Error).stack}\n`);
    }
    process.exit(err instanceof UsageError ? 2 : 1);
  }
  if (holder.outcome !== 'running') process.exit(holder.outcome);
}
