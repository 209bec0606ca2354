import type { Command } from 'commander';
import { formatCount, formatUsd } from '../../client/format.js';
import { act, intArg } from '../command-kit.js';
import type { OutcomeHolder } from '../command-kit.js';
import { clientCommand, connect } from '../client-command.js';
import type { ClientFlags } from '../client-command.js';
import { registerModelAdminCommands } from './admin.js';

/** models list (client) beside models import / init-tiny (operator). */
export function registerModelCommands(program: Command, holder: OutcomeHolder): void {
  const models = program.command('models').description('list models; import or create base models (operator)');

  clientCommand(models, 'list', 'the base models and your fine-tuned ones')
    .option('--fine-tunable', 'only models you can fine-tune')
    .option('--limit <N>', 'how many (default 100)', intArg('limit', 1, 200))
    .option('--after <CURSOR>', 'the page after this cursor (printed when there are more)')
    .action(
      act(holder, async (opts: ClientFlags & { fineTunable?: boolean; limit?: number; after?: string }) => {
        const { client, term } = await connect(opts);
        const page = await client.listModels({ fineTunable: opts.fineTunable || undefined, limit: opts.limit, after: opts.after });
        term.result(page, () =>
          page.data.length === 0
            ? 'no models yet: an operator adds them with `tuneloop models import` or `models init-tiny`'
            : term.table(
                ['ID', 'FINE-TUNABLE', 'ARCHITECTURE', 'PARAMETERS', 'CONTEXT', 'TRAINING $/MTOK', 'INFERENCE $/MTOK'],
                page.data.map((m) => [
                  m.id,
                  m.fineTunable ? 'yes' : 'no',
                  m.architecture,
                  formatCount(m.parameterCount),
                  formatCount(m.contextLength),
                  formatUsd(m.pricePerMillionTrainingTokens),
                  formatUsd(m.pricePerMillionInferenceTokens),
                ]),
              ),
        );
        if (page.hasMore && page.nextCursor) term.note(`more: tuneloop models list --after ${page.nextCursor}`);
      }),
    );

  registerModelAdminCommands(models, holder);
}
