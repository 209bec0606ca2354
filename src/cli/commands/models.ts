import type { Command } from 'commander';
import { formatCount, formatUsd } from '../../client/format.js';
import type { OutcomeHolder } from '../command-kit.js';
import { listCommand } from '../client-command.js';
import { registerModelAdminCommands } from './admin.js';

/** models list (client) beside models import / init-tiny (operator). */
export function registerModelCommands(program: Command, holder: OutcomeHolder): void {
  const models = program.command('models').description('list models; import or create base models (operator)');

  listCommand(models, holder, 'the base models and your fine-tuned ones', {
    maxLimit: 200,
    fetch: (client, f) =>
      client.listModels({ fineTunable: (f as { fineTunable?: boolean }).fineTunable || undefined, limit: f.limit, after: f.after }),
    columns: ['ID', 'FINE-TUNABLE', 'ARCHITECTURE', 'PARAMETERS', 'CONTEXT', 'TRAINING $/MTOK', 'INFERENCE $/MTOK', 'TRAINED FROM'],
    row: (_term, m) => [
      m.id,
      m.fineTunable ? 'yes' : 'no',
      m.architecture,
      formatCount(m.parameterCount),
      formatCount(m.contextLength),
      formatUsd(m.pricePerMillionTrainingTokens),
      formatUsd(m.pricePerMillionInferenceTokens),
      m.parentModel ?? m.baseModel ?? '—',
    ],
    empty: 'no models yet: an operator adds them with `tuneloop models import` or `models init-tiny`',
  }).option('--fine-tunable', 'only models you can fine-tune');

  registerModelAdminCommands(models, holder);
}
