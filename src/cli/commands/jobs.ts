import { randomUUID } from 'node:crypto';
import type { Command } from 'commander';
import type { Estimate, Job, StartJobBody } from '../../client/api-client.js';
import { formatCount, formatDuration, formatLoss, formatTime, formatUsd } from '../../client/format.js';
import type { Terminal } from '../../client/terminal.js';
import { UsageError, act, numberOrAuto } from '../command-kit.js';
import type { OutcomeHolder } from '../command-kit.js';
import { clientCommand, connect, listCommand } from '../client-command.js';
import type { ClientFlags } from '../client-command.js';
import { followJob } from '../follow-job.js';

interface StartFlags extends ClientFlags {
  model: string;
  dataset: string;
  validationDataset?: string;
  method?: string;
  trainable?: string;
  beta?: number | 'auto';
  epochs?: number | 'auto';
  learningRate?: number | 'auto';
  batchSize?: number | 'auto';
  suffix?: string;
  yes?: boolean;
  watch?: boolean;
}

function startBody(f: StartFlags): StartJobBody {
  const hyperparameters: Record<string, number> = {};
  if (typeof f.epochs === 'number') hyperparameters.epochs = f.epochs;
  if (typeof f.learningRate === 'number') hyperparameters.learningRate = f.learningRate;
  if (typeof f.batchSize === 'number') hyperparameters.batchSize = f.batchSize;
  if (typeof f.beta === 'number') hyperparameters.beta = f.beta;
  return {
    baseModel: f.model,
    trainingDataset: f.dataset,
    ...(f.validationDataset ? { validationDataset: f.validationDataset } : {}),
    ...(f.method ? { method: f.method.toUpperCase() } : {}),
    ...(f.trainable ? { trainable: f.trainable.toUpperCase() } : {}),
    ...(Object.keys(hyperparameters).length ? { hyperparameters } : {}),
    ...(f.suffix ? { suffix: f.suffix } : {}),
  };
}

/** The estimate as a person reads it before saying yes. */
function describeEstimate(e: Estimate, body: StartJobBody): string {
  const h = e.hyperparameters as { epochs?: number; batchSize?: number; learningRate?: number };
  const given = body.hyperparameters ?? {};
  const mark = (key: string) => (key in given ? '' : ' (auto)');
  return [
    `${body.method ?? 'LORA'} fine-tune of ${body.baseModel} on ${body.trainingDataset}:`,
    `  ${formatCount(e.examples)} examples × ${e.epochs} epochs = ${formatCount(e.billableTokens)} tokens`,
    `  epochs ${h.epochs ?? e.epochs}${mark('epochs')}, batch size ${h.batchSize ?? '—'}${mark('batchSize')}, learning rate ${h.learningRate ?? '—'}${mark('learningRate')}`,
    `  estimated cost ${formatUsd(e.cost)} (reserved from your balance; available ${formatUsd(e.available)})`,
  ].join('\n');
}

function progressOf(j: Job): string {
  const p = j.progress;
  return p.totalSteps ? `${p.step}/${p.totalSteps}` : p.step ? String(p.step) : '—';
}

/** A job's fields as aligned lines (`jobs show`, cancel/pause/resume). */
function describeJob(term: Terminal, j: Job): string {
  const rows: Array<[string, string]> = [
    [
      'status',
      `${term.status(j.status)}${j.status !== 'RUNNING' ? '' : j.cancelRequested ? ' (cancel requested)' : j.pauseRequested ? ' (pause requested)' : ''}`,
    ],
    [
      'model',
      `${j.parentModel ? `${j.parentModel} (continued; base ${j.baseModel})` : j.baseModel} (${j.method}${j.method === 'DPO' ? `, ${j.trainable}` : ''})`,
    ],
    ['dataset', `${j.trainingDataset}${j.validationDataset ? `, validation ${j.validationDataset}` : ''}`],
    ['progress', `step ${progressOf(j)}, epoch ${j.progress.epoch?.toFixed(2) ?? '—'}, ETA ${formatDuration(j.progress.etaSeconds)}`],
    [
      'loss',
      `${formatLoss(j.metrics.loss)} (min ${formatLoss(j.metrics.minLoss)}${j.metrics.evalLoss !== null ? `, validation ${formatLoss(j.metrics.evalLoss)}` : ''})`,
    ],
    ...(j.metrics.rewardAccuracy !== null
      ? ([
          [
            'rewards',
            `accuracy ${j.metrics.rewardAccuracy.toFixed(3)}, margin ${formatLoss(j.metrics.rewardMargin)} (preferred ${formatLoss(j.metrics.chosenReward)}, non-preferred ${formatLoss(j.metrics.rejectedReward)})`,
          ],
        ] as Array<[string, string]>)
      : []),
    ['hyperparameters', j.hyperparameters ? JSON.stringify(j.hyperparameters) : '—'],
    ['cost', `${formatUsd(j.cost)} (estimated ${formatUsd(j.estimatedCost)})`],
    ['created', formatTime(j.createdAt)],
  ];
  if (j.fineTunedModel) rows.push(['fine-tuned model', j.fineTunedModel]);
  if (j.error) rows.push(['error', `${j.error.message} [${j.error.code}]`]);
  return [term.colors.bold(j.id), ...rows.map(([k, v]) => `  ${k.padEnd(17)}${v}`)].join('\n');
}

/** jobs start / list / show / cancel / pause / resume / watch. */
export function registerJobCommands(program: Command, holder: OutcomeHolder): void {
  const jobs = program.command('jobs').description('start, watch and control fine-tuning jobs');

  clientCommand(jobs, 'start', 'estimate a fine-tuning job, confirm, start it (and watch it with --watch)')
    .requiredOption(
      '--model <MODEL>',
      'the model to fine-tune (see `tuneloop models list`): a base model, one of your fine-tuned models or a checkpoint (ft:…:ckpt-step-N)',
    )
    .requiredOption('--dataset <ID>', 'the training dataset (ds_…)')
    .option('--validation-dataset <ID>', 'a dataset to measure validation loss on')
    .option('--method <METHOD>', 'LORA (default), FULL, DPO (preference data) or another method the server offers')
    .option('--trainable <WEIGHTS>', 'DPO: LORA (default) or FULL weights')
    .option('--beta <X>', 'DPO: how strongly the model is held to where it started, or "auto" (0.1)', numberOrAuto('beta'))
    .option('--epochs <N>', 'passes over the dataset, or "auto" (default)', numberOrAuto('epochs', { integer: true }))
    .option('--learning-rate <X>', 'learning rate, or "auto" (default)', numberOrAuto('learning-rate'))
    .option('--batch-size <N>', 'examples per step, or "auto" (default)', numberOrAuto('batch-size', { integer: true }))
    .option('--suffix <TEXT>', 'a name part of the fine-tuned model (ft:<base>:<suffix>:<id>)')
    .option('-y, --yes', 'start without asking (needed without a terminal)')
    .option('--watch', 'then watch it like `jobs watch` (same exit codes)')
    .action(
      act(holder, async (flags: StartFlags) => {
        const { client, term } = await connect(flags);
        const body = startBody(flags);
        const estimate = await client.estimate(body);
        term.note(describeEstimate(estimate, body));
        if (!estimate.allowedToProceed) {
          throw new Error(
            `not started: the job would cost ${formatUsd(estimate.cost)} but only ${formatUsd(estimate.available)} is available (ask an operator for credit: tuneloop accounts topup)`,
          );
        }
        if (!flags.yes) {
          if (!term.canAsk) throw new UsageError('not started: pass --yes to start without a terminal to confirm on');
          if (!(await term.confirm('Start this job?'))) {
            term.note('not started');
            return 1;
          }
        }
        // A fresh key per invocation: a retried request returns this job, a new run starts a new one.
        const job = await client.startJob(body, randomUUID());
        if (flags.watch) return followJob(client, term, job.id);
        term.result(job, () => `started ${term.colors.bold(job.id)} (${term.status(job.status)})\nwatch it: tuneloop jobs watch ${job.id}`);
      }),
    );

  listCommand(jobs, holder, 'your jobs, newest first', {
    statuses: 'QUEUED, RUNNING, PAUSED, SUCCEEDED, …',
    maxLimit: 100,
    fetch: (client, f) => client.listJobs({ limit: f.limit, after: f.after, status: f.status }),
    columns: ['ID', 'STATUS', 'MODEL', 'METHOD', 'STEP', 'LOSS', 'CREATED', 'FINE-TUNED MODEL'],
    row: (term, j) => [
      j.id,
      term.status(j.status),
      j.baseModel,
      j.method,
      progressOf(j),
      formatLoss(j.metrics.loss),
      formatTime(j.createdAt),
      j.fineTunedModel ?? '',
    ],
    empty: 'no jobs yet: start one with `tuneloop jobs start --model M --dataset D`',
  });

  clientCommand(jobs, 'show', "a job's status, progress, metrics, cost and result")
    .argument('<ID>', 'the job id (ftjob_…)')
    .action(
      act(holder, async (id: string, opts: ClientFlags) => {
        const { client, term } = await connect(opts);
        const job = await client.getJob(id);
        term.result(job, () => describeJob(term, job));
      }),
    );

  const controls = [
    ['cancel', 'cancel a job (a running one stops within seconds; you pay for the steps it trained)'],
    ['pause', 'pause a job at a checkpoint (it keeps its reservation; resume it later)'],
    ['resume', 'queue a paused job again; it continues from its checkpoint'],
  ] as const;
  for (const [action, description] of controls) {
    clientCommand(jobs, action, description)
      .argument('<ID>', 'the job id (ftjob_…)')
      .action(
        act(holder, async (id: string, opts: ClientFlags) => {
          const { client, term } = await connect(opts);
          const job = await client.controlJob(id, action);
          // A request to stop shows only while the job still runs.
          const stopping = job.status === 'RUNNING' && (job.cancelRequested || job.pauseRequested);
          term.result(job, () => `${job.id} ${term.status(job.status)}${stopping ? ' (stopping at the next step)' : ''}`);
        }),
      );
  }

  clientCommand(jobs, 'watch', 'follow a job live until it ends; exit 0 SUCCEEDED, 1 FAILED, 2 CANCELLED')
    .argument('<ID>', 'the job id (ftjob_…)')
    .option('--jsonl', 'print every event of the job as one JSON line on stdout instead (from its first)')
    .action(
      act(holder, async (id: string, opts: ClientFlags & { jsonl?: boolean }) => {
        if (opts.json && opts.jsonl) throw new UsageError('--json and --jsonl do not go together: choose one');
        const { client, term } = await connect(opts);
        return followJob(client, term, id, { jsonl: Boolean(opts.jsonl) });
      }),
    );
}
