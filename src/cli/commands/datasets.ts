import fs from 'node:fs/promises';
import path from 'node:path';
import cliProgress from 'cli-progress';
import type { Command } from 'commander';
import { formatBytes } from '../../datasets/storage.js';
import type { Dataset } from '../../client/api-client.js';
import { datasetReport } from '../../client/dataset-report.js';
import { formatCount, formatTime } from '../../client/format.js';
import type { Terminal } from '../../client/terminal.js';
import { UsageError, act } from '../command-kit.js';
import type { OutcomeHolder } from '../command-kit.js';
import { clientCommand, connect, listCommand, pollUntil } from '../client-command.js';
import type { ClientFlags } from '../client-command.js';

/** A bar for the upload on a terminal (stderr); nothing elsewhere. */
function uploadBar(term: Terminal, file: string) {
  if (!term.live) return { update: (_sent: number, _total: number) => {}, stop: () => {} };
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: `uploading ${path.basename(file)} {bar} {percentage}% {sent}/{size}`,
      barsize: 30,
      hideCursor: true,
      linewrap: false,
      clearOnComplete: true,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update(sent: number, total: number) {
      const payload = { sent: formatBytes(sent), size: formatBytes(total) };
      if (!started) bar.start(Math.max(total, 1), sent, payload);
      else bar.update(sent, payload);
      started = true;
    },
    stop: () => started && bar.stop(),
  };
}

/** datasets upload / list / show. */
export function registerDatasetCommands(program: Command, holder: OutcomeHolder): void {
  const datasets = program.command('datasets').description('upload and inspect training datasets');

  clientCommand(datasets, 'upload', 'upload a JSONL file, wait for validation, print the report; exit 1 when INVALID')
    .argument('<FILE>', 'a JSONL file: chat, completion or preference examples, one per line')
    .option('--model <MODEL>', 'count tokens with this model (default: the first fine-tunable base model)')
    .action(
      act(holder, async (file: string, opts: ClientFlags & { model?: string }) => {
        const stat = await fs.stat(file).catch(() => undefined);
        if (!stat?.isFile()) throw new UsageError(`no such file: ${file}`);
        const { client, term } = await connect(opts);
        const bar = uploadBar(term, file);
        let dataset: Dataset;
        try {
          dataset = await client.uploadDataset(file, { model: opts.model, onProgress: (sent, total) => bar.update(sent, total) });
        } finally {
          bar.stop();
        }
        if (dataset.status === 'VALIDATING') {
          term.note(`uploaded ${dataset.id} (${formatBytes(dataset.bytes)}); validating…`);
          dataset = await pollUntil(
            () => client.getDataset(dataset.id),
            (d) => d.status !== 'VALIDATING',
          );
        }
        term.result(dataset, () => datasetReport(term, dataset));
        return dataset.status === 'INVALID' ? 1 : 0;
      }),
    );

  listCommand(datasets, holder, 'your datasets, newest first', {
    statuses: 'VALIDATING, READY or INVALID',
    maxLimit: 200,
    fetch: (client, f) => client.listDatasets({ limit: f.limit, after: f.after, status: f.status }),
    columns: ['ID', 'STATUS', 'FILE', 'FORMAT', 'EXAMPLES', 'ERRORS', 'CREATED'],
    row: (term, d) => [
      d.id,
      term.status(d.status),
      d.filename ?? d.source,
      d.format ?? '—',
      formatCount(d.examples),
      String(d.errorCount),
      formatTime(d.createdAt),
    ],
    empty: 'no datasets yet: upload one with `tuneloop datasets upload FILE`',
  });

  clientCommand(datasets, 'show', "a dataset's status, statistics and line-numbered errors")
    .argument('<ID>', 'the dataset id (ds_…)')
    .action(
      act(holder, async (id: string, opts: ClientFlags) => {
        const { client, term } = await connect(opts);
        const dataset = await client.getDataset(id);
        term.result(dataset, () => datasetReport(term, dataset));
      }),
    );
}
