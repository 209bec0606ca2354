import type { Command } from 'commander';
import { ApiClient } from '../client/api-client.js';
import type { Page } from '../client/api-client.js';
import { resolveConnection } from '../client/profile.js';
import { Terminal } from '../client/terminal.js';
import { act, commandPath, intArg } from './command-kit.js';
import type { OutcomeHolder } from './command-kit.js';

/** The options every client command takes. */
export interface ClientFlags {
  url?: string;
  apiKey?: string;
  dataDir?: string;
  json?: boolean;
}

const clientCommands = new WeakSet<Command>();

/** Adds a client command (it talks to a running server over HTTP); see addClientOptions. */
export function clientCommand(parent: Command, name: string, description: string): Command {
  const cmd = parent.command(name).description(description);
  clientCommands.add(cmd);
  return cmd;
}

/**
 * Gives every client command of the tree the shared options, after its own (so its help
 * lists what is particular to it first).
 */
export function addClientOptions(cmd: Command): void {
  if (clientCommands.has(cmd)) {
    cmd
      .optionsGroup('Client options:')
      .option(
        '--url <URL>',
        'the server (default: TUNELOOP_URL, the server running on the data folder, the saved login, or http://127.0.0.1:4000)',
      )
      .option('--api-key <KEY>', "API key (default: TUNELOOP_API_KEY, a demo data folder's key, or the saved login)")
      .option('--data-dir <DIR>', 'use the server `tuneloop start` runs on this data folder (default: TUNELOOP_DATA_DIR)')
      .option('--json', 'print one JSON document on stdout and nothing else');
  }
  for (const sub of cmd.commands) addClientOptions(sub);
}

/** The API client and terminal of a client command, from its flags, the environment, the data folder or the saved login. */
export async function connect(flags: ClientFlags): Promise<{ client: ApiClient; term: Terminal }> {
  const connection = await resolveConnection({ url: flags.url, apiKey: flags.apiKey, dataDir: flags.dataDir });
  return { client: new ApiClient(connection), term: new Terminal(Boolean(flags.json)) };
}

/** Polls `read` every `intervalMs` until `done` accepts its value (a dataset validated, a model loaded). */
export async function pollUntil<T>(read: () => Promise<T>, done: (value: T) => boolean, intervalMs = 300): Promise<T> {
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** The options of a listing command. */
export interface ListFlags extends ClientFlags {
  limit?: number;
  after?: string;
  status?: string;
}

/** How a listing command reads its page and shows its rows. */
export interface Listing<T> {
  /** What `--status` offers (omitted: no `--status`). */
  statuses?: string;
  maxLimit: number;
  fetch(client: ApiClient, flags: ListFlags): Promise<Page<T>>;
  columns: string[];
  row(term: Terminal, item: T): string[];
  /** What to print when there is nothing yet. */
  empty: string;
}

/**
 * A `… list` client command: `--limit`, `--after` (the cursor printed when there are more),
 * optionally `--status`; a table of the page, or the page itself under `--json`.
 */
export function listCommand<T>(parent: Command, holder: OutcomeHolder, description: string, listing: Listing<T>): Command {
  const cmd = clientCommand(parent, 'list', description);
  if (listing.statuses) cmd.option('--status <STATUS>', `only those with this status (${listing.statuses})`);
  return cmd
    .option('--limit <N>', 'how many to show (default 20)', intArg('limit', 1, listing.maxLimit))
    .option('--after <CURSOR>', 'the page after this cursor (printed when there are more)')
    .action(
      act(holder, async (flags: ListFlags) => {
        const { client, term } = await connect(flags);
        const page = await listing.fetch(client, { ...flags, limit: flags.limit ?? 20, status: flags.status?.toUpperCase() });
        term.result(page, () =>
          page.data.length === 0
            ? listing.empty
            : term.table(
                listing.columns,
                page.data.map((item) => listing.row(term, item)),
              ),
        );
        if (page.hasMore && page.nextCursor) term.note(`more: ${commandPath(cmd)} --after ${page.nextCursor}`);
      }),
    );
}
