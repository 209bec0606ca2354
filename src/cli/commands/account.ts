import type { Command } from 'commander';
import { ApiClient } from '../../client/api-client.js';
import { formatUsd } from '../../client/format.js';
import { DEFAULT_URL, dataDirServer, sameUrl, writeProfile } from '../../client/profile.js';
import { Terminal } from '../../client/terminal.js';
import { UsageError, act } from '../command-kit.js';
import type { OutcomeHolder } from '../command-kit.js';
import { clientCommand, connect } from '../client-command.js';
import type { ClientFlags } from '../client-command.js';

/** Reads all of stdin (a key piped into `login`), trimmed. */
async function readStdin(): Promise<string> {
  let text = '';
  for await (const chunk of process.stdin) text += String(chunk);
  return text.trim();
}

/** account, login. */
export function registerAccountCommands(program: Command, holder: OutcomeHolder): void {
  clientCommand(program, 'account', 'your balance, reserved and available credit').action(
    act(holder, async (opts: ClientFlags) => {
      const { client, term } = await connect(opts);
      const a = await client.account();
      term.result(
        a,
        () =>
          `${term.colors.bold(a.name)} (${a.id})\n  balance   ${formatUsd(a.balance)}\n  reserved  ${formatUsd(a.reserved)}\n  available ${formatUsd(a.available)}`,
      );
    }),
  );

  clientCommand(program, 'login', 'check a server URL and API key and save them for the client commands')
    .addHelpText(
      'after',
      '\nThe key comes from --api-key, TUNELOOP_API_KEY, a demo data folder (--data-dir or TUNELOOP_DATA_DIR), or standard input (echo "$KEY" | tuneloop login --url URL).\n' +
        'Saved in $XDG_CONFIG_HOME/tuneloop/profile.json (or ~/.config/tuneloop/profile.json), mode 0600.',
    )
    .action(
      act(holder, async (opts: ClientFlags) => {
        // The same order as every client command, the saved login aside (login replaces it).
        const local = await dataDirServer(opts);
        const url = (opts.url ?? (process.env.TUNELOOP_URL || undefined) ?? local?.url ?? DEFAULT_URL).replace(/\/+$/, '');
        let apiKey =
          opts.apiKey ?? (process.env.TUNELOOP_API_KEY || undefined) ?? (local && sameUrl(local.url, url) ? local.apiKey : undefined);
        if (!apiKey && !process.stdin.isTTY) apiKey = (await readStdin()) || undefined;
        if (!apiKey) throw new UsageError('login needs a key: --api-key KEY, TUNELOOP_API_KEY, or the key on standard input');
        const term = new Terminal(Boolean(opts.json));
        // Only a key the server accepts is saved.
        const account = await new ApiClient({ url, apiKey }).account();
        const file = await writeProfile({ url, apiKey });
        term.result(
          { url, accountId: account.id, name: account.name, profile: file },
          () => `logged in to ${url} as ${account.name} (${account.id}); saved in ${file}`,
        );
      }),
    );
}
