import type { ApiClient, Job, JobEvent } from '../client/api-client.js';
import { formatDuration, formatLoss, formatUsd } from '../client/format.js';
import { JobProgressView } from '../client/job-progress.js';
import { watchJob } from '../client/job-watcher.js';
import type { WatchListener } from '../client/job-watcher.js';
import type { Terminal } from '../client/terminal.js';

/** Exit codes of `jobs watch` (and `jobs start --watch`) by how the job ended. */
export const WATCH_EXIT_CODES: Readonly<Record<string, number>> = { SUCCEEDED: 0, FAILED: 1, CANCELLED: 2 };

/** `--jsonl`: every event as one JSON line on stdout, as it arrives. */
class JsonLines implements WatchListener {
  snapshot(): void {}
  event(event: JobEvent): void {
    process.stdout.write(`${JSON.stringify(event)}\n`);
  }
  reconnecting(reason: Error): void {
    process.stderr.write(`tuneloop: ${reason.message}; reconnecting…\n`);
  }
  stop(): void {}
}

function seconds(from: string | null, to: string | null): number | null {
  return from && to ? (Date.parse(to) - Date.parse(from)) / 1000 : null;
}

/**
 * Watches a job to its end, then reports it: the final job (`--json`), or a summary and
 * the next command to run. Returns the exit code: 0 SUCCEEDED, 1 FAILED (its error on
 * stderr), 2 CANCELLED. Ctrl+C stops watching, not the job.
 */
export async function followJob(client: ApiClient, term: Terminal, jobId: string, opts: { jsonl?: boolean } = {}): Promise<number> {
  const view = opts.jsonl ? new JsonLines() : new JobProgressView(term, jobId);
  const onSigint = () => {
    view.stop();
    term.warn(`stopped watching; ${jobId} goes on (stop it with: tuneloop jobs cancel ${jobId})`);
    process.exit(130);
  };
  process.once('SIGINT', onSigint);
  let job: Job;
  try {
    job = await watchJob(client, jobId, view, { historySteps: opts.jsonl ? Number.POSITIVE_INFINITY : 30 });
  } finally {
    view.stop();
    process.off('SIGINT', onSigint);
  }
  const code = WATCH_EXIT_CODES[job.status] ?? 1;
  if (opts.jsonl) return code;
  const took = formatDuration(seconds(job.startedAt, job.finishedAt));
  term.result(job, () => {
    if (job.status === 'SUCCEEDED') {
      return [
        `${job.id} ${term.status('SUCCEEDED')} in ${took}: ${job.progress.step} steps, final loss ${formatLoss(job.metrics.loss)}, cost ${formatUsd(job.cost)}`,
        `fine-tuned model: ${term.colors.bold(job.fineTunedModel ?? '—')}`,
        `chat with it:     tuneloop chat ${job.fineTunedModel}`,
      ].join('\n');
    }
    return `${job.id} ${term.status(job.status)} at step ${job.progress.step}${job.progress.totalSteps ? `/${job.progress.totalSteps}` : ''}`;
  });
  if (job.status === 'FAILED')
    term.warn(`tuneloop: job ${job.id} failed: ${job.error?.message ?? 'no reason given'} [${job.error?.code ?? 'UNKNOWN'}]`);
  return code;
}
