import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';
import { PACKAGE_ROOT } from '../package-root.js';
import { addClientOptions } from './client-command.js';
import { oneLineErrors } from './command-kit.js';
import type { OutcomeHolder } from './command-kit.js';
import { registerAccountCommands } from './commands/account.js';
import { registerAccountsCommands } from './commands/admin.js';
import { registerDatasetCommands } from './commands/datasets.js';
import { registerInferenceCommands } from './commands/inference.js';
import { registerJobCommands } from './commands/jobs.js';
import { registerModelCommands } from './commands/models.js';
import { registerServerCommands } from './commands/server.js';

const ENVIRONMENT = `
Server commands (start, serve, worker, migrate, accounts, models import|init-tiny) read:
  DATABASE_URL (absent = embedded PGlite in DIR/db), PORT, HOST, TUNELOOP_DATA_DIR,
  TUNELOOP_PYTHON, TUNELOOP_WEBHOOK_ALLOW_PRIVATE=1, TUNELOOP_DATASET_ROOTS, LOG_LEVEL,
  LOG_FORMAT=pretty|json (default: pretty on a terminal), and more in the README.
Client commands (datasets, jobs, models list, deploy, chat, account, login) talk to a
running server over HTTP: --url / --api-key, else TUNELOOP_URL / TUNELOOP_API_KEY, else
the login saved by \`tuneloop login\`. --json prints one JSON document on stdout.

\`tuneloop help COMMAND\` or \`tuneloop COMMAND --help\` describes a command.`;

/**
 * The whole command tree. Commander parses, writes usage and help, and refuses unknown
 * commands and options (one line each, see oneLineErrors); every action imports what it
 * needs when it runs, so building the tree and `--help` load nothing heavy.
 */
export function buildProgram(holder: OutcomeHolder): Command {
  const { version } = JSON.parse(readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string };
  const program = new Command('tuneloop')
    .usage('<command> [options]')
    .description('Tuneloop: a self-hostable platform for fine-tuning language models')
    .version(version, '-V, --version', 'print the version')
    .helpOption('-h, --help', 'print this help')
    .addHelpText('after', ENVIRONMENT)
    .showSuggestionAfterError(true);
  program.commandsGroup('Server commands (on the server, with its data folder or DATABASE_URL):');
  registerServerCommands(program, holder);
  registerAccountsCommands(program, holder);
  program.commandsGroup('Client commands (over the HTTP API of a running server):');
  registerModelCommands(program, holder);
  registerDatasetCommands(program, holder);
  registerJobCommands(program, holder);
  registerInferenceCommands(program, holder);
  registerAccountCommands(program, holder);
  addClientOptions(program);
  oneLineErrors(program);
  return program;
}

/**
 * `tuneloop help jobs watch` means `tuneloop jobs watch --help` (commander's own help
 * command looks one level down only); `help NOSUCH` is refused like `NOSUCH`.
 */
export function normalizeArgv(program: Command, argv: string[]): string[] {
  if (argv[0] !== 'help' || argv.length < 2) return argv;
  return program.commands.some((c) => c.name() === argv[1]) ? [...argv.slice(1), '--help'] : argv.slice(1);
}
