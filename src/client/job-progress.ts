import cliProgress from 'cli-progress';
import type { Job, JobEvent } from './api-client.js';
import { formatCount, formatDuration, formatLoss, sparkline } from './format.js';
import { FINAL_STATUSES } from './job-watcher.js';
import type { WatchListener } from './job-watcher.js';
import type { Terminal } from './terminal.js';

/** How often a plain (not a terminal) watcher writes a progress line while steps arrive. */
const PLAIN_EVERY_MS = 10_000;
/** Steps the sparkline and the ETA look back over. */
const WINDOW = 30;

interface State {
  status: string;
  step: number;
  totalSteps: number | null;
  epoch: number | null;
  loss: number | null;
  tokensPerSecond: number | null;
  etaSeconds: number | null;
}

/**
 * Shows a watched job. On a terminal: one progress bar (cli-progress) on stderr, redrawn
 * in place — step/total, epoch, loss and a sparkline of the recent losses, tokens/s, ETA —
 * with status changes printed above it. Elsewhere (a pipe, a CI log): a plain line per
 * status change and a progress line every ten seconds, no bar, no colour.
 */
export class JobProgressView implements WatchListener {
  private readonly losses: number[] = [];
  /** (step, trainer seconds) of recent steps: the ETA is their pace, replayed steps included. */
  private readonly pace: Array<{ step: number; time: number }> = [];
  private state: State | undefined;
  private multi: cliProgress.MultiBar | undefined;
  private bar: cliProgress.SingleBar | undefined;
  private lastPlainLine = 0;
  private outage = false;

  constructor(
    private readonly term: Terminal,
    private readonly jobId: string,
  ) {}

  snapshot(job: Job): void {
    const first = this.state === undefined;
    const previous = this.state?.status;
    this.state = {
      status: job.status,
      step: Math.max(job.progress.step, this.state?.step ?? 0),
      totalSteps: job.progress.totalSteps,
      epoch: job.progress.epoch,
      loss: job.metrics.loss,
      tokensPerSecond: job.progress.tokensPerSecond,
      etaSeconds: job.progress.etaSeconds,
    };
    if (this.outage) {
      this.outage = false;
      this.say(`reconnected (${job.status}, step ${job.progress.step})`);
    }
    if (first) this.say(`watching ${this.jobId} (${job.baseModel}, ${job.method}): ${this.describe(job.status)}`);
    else if (previous !== job.status) this.say(this.describe(job.status));
    this.draw(first);
  }

  event(event: JobEvent, history: boolean): void {
    const s = this.state!;
    if (event.type === 'step') {
      s.step = event.step;
      if (event.totalSteps) s.totalSteps = event.totalSteps;
      if (event.epoch !== undefined) s.epoch = event.epoch ?? null;
      if (typeof event.loss === 'number') {
        s.loss = event.loss;
        this.losses.push(event.loss);
        if (this.losses.length > WINDOW) this.losses.shift();
      }
      if (typeof event.tokensPerSecond === 'number') s.tokensPerSecond = event.tokensPerSecond;
      if (typeof event.trainerTime === 'number') {
        this.pace.push({ step: event.step, time: event.trainerTime });
        if (this.pace.length > WINDOW) this.pace.shift();
      }
      s.etaSeconds = this.eta(s);
      this.draw(false, history);
    } else if (event.type === 'status') {
      const changed = s.status !== event.status;
      s.status = event.status;
      // The end is reported by whoever watches (followJob), once.
      if (changed && !history && !FINAL_STATUSES.has(event.status)) this.say(this.describe(event.status, event.step));
      this.draw(changed && !history);
    } else if (event.type === 'eval' && !history && typeof event.evalLoss === 'number') {
      this.say(`validation loss ${formatLoss(event.evalLoss)} at step ${event.step}`);
    }
  }

  reconnecting(reason: Error, attempt: number, delayMs: number): void {
    if (attempt === 1) {
      this.outage = true;
      this.say(`${reason.message}; reconnecting…`);
    } else if (attempt % 5 === 0) this.say(`still reconnecting (attempt ${attempt}, next in ${formatDuration(delayMs / 1000)})`);
  }

  /** Draws the final state and releases the terminal line. */
  stop(): void {
    if (this.multi) {
      this.bar?.update(this.state?.step ?? 0, this.payload());
      this.multi.stop();
    }
    this.multi = undefined;
  }

  private eta(s: State): number | null {
    if (!s.totalSteps || s.status === 'PAUSED') return null;
    const first = this.pace[0];
    const last = this.pace.at(-1);
    if (!first || !last || last.step <= first.step || last.time <= first.time) return s.etaSeconds;
    return ((s.totalSteps - s.step) * (last.time - first.time)) / (last.step - first.step);
  }

  private describe(status: string, step?: number): string {
    switch (status) {
      case 'VALIDATING':
        return 'waiting for the dataset to be validated';
      case 'QUEUED':
        return 'queued: waiting for a worker';
      case 'RUNNING':
        return 'running';
      case 'PAUSED':
        return `paused${step ? ` at step ${step}` : ''}; still watching (resume it with: tuneloop jobs resume ${this.jobId})`;
      default:
        return status.toLowerCase();
    }
  }

  private payload() {
    const s = this.state!;
    return {
      status: s.status.padEnd(9),
      steps: `${s.step}/${s.totalSteps ?? '?'}`,
      epoch: s.epoch === null ? '—' : s.epoch.toFixed(2),
      loss: formatLoss(s.loss),
      spark: sparkline(this.losses, 20),
      tps: formatCount(s.tokensPerSecond),
      remaining: s.status === 'RUNNING' ? formatDuration(s.etaSeconds) : '—',
    };
  }

  /** A line above the bar (terminal) or on its own (plain). */
  private say(text: string): void {
    if (this.multi) this.multi.log(`${text}\n`);
    else this.term.note(text);
  }

  private draw(important: boolean, history = false): void {
    const s = this.state!;
    if (this.term.json) return;
    if (!this.term.live) {
      // Plain output: a line now and then, never one per step (CI logs stay short).
      const now = Date.now();
      const done = s.totalSteps !== null && s.step >= s.totalSteps;
      if (history || s.status !== 'RUNNING' || s.step === 0) return;
      if (important || done || now - this.lastPlainLine >= PLAIN_EVERY_MS) {
        this.lastPlainLine = now;
        const p = this.payload();
        this.term.note(`step ${p.steps}  epoch ${p.epoch}  loss ${p.loss}  ${p.tps} tok/s  ETA ${p.remaining}`);
      }
      return;
    }
    if (!this.multi) {
      this.multi = new cliProgress.MultiBar(
        {
          stream: process.stderr,
          // Plain text: cli-progress cuts the line at the terminal's width counting colour codes as characters.
          format: '{status} {bar} {steps} · epoch {epoch} · loss {loss} {spark} · {tps} tok/s · ETA {remaining}',
          barsize: 24,
          hideCursor: true,
          linewrap: false,
          clearOnComplete: false,
          // At most ten redraws a second however fast steps arrive.
          fps: 10,
        },
        cliProgress.Presets.shades_classic,
      );
      this.bar = this.multi.create(s.totalSteps ?? 1, s.step, this.payload());
    }
    if (s.totalSteps && this.bar!.getTotal() !== s.totalSteps) this.bar!.setTotal(s.totalSteps);
    this.bar!.update(s.step, this.payload());
  }
}
