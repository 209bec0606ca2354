let created = 0;

/** Growable columns of one job's curve. Every step is kept; drawing downsamples. */
export class LossSeries {
  /** Tells one store from another (a chart is rebuilt for a new store). */
  readonly id = ++created;
  /** Steps in increasing order (a step is stored once: replays and reconnects may repeat it). */
  steps = new Float64Array(1024);
  loss = new Float64Array(1024);
  smoothed = new Float64Array(1024);
  learningRate = new Float64Array(1024);
  epoch = new Float64Array(1024);
  length = 0;
  evalSteps: number[] = [];
  evalLoss: number[] = [];
  /** Bumped on every change, so views know when to redraw. */
  version = 0;
  private readonly listeners = new Set<() => void>();
  private ema = 0;
  private emaWeightSum = 0;

  /** TensorBoard-style exponential moving average, bias-corrected so early points are not dragged to 0. */
  constructor(readonly smoothing = 0.8) {}

  get lastStep(): number {
    return this.length ? this.steps[this.length - 1]! : 0;
  }

  /** Calls `listener` after every change (a chart redraws without waiting for React). */
  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Appends one step; one not after the last stored step is ignored (duplicates from a replay). */
  push(step: number, loss: number, learningRate: number | null | undefined, epoch: number | null | undefined): boolean {
    const added = this.append(step, loss, learningRate, epoch);
    if (added) this.changed();
    return added;
  }

  private append(step: number, loss: number, learningRate: number | null | undefined, epoch: number | null | undefined): boolean {
    if (step <= this.lastStep || !Number.isFinite(loss)) return false;
    if (this.length === this.steps.length) this.grow();
    const i = this.length++;
    this.steps[i] = step;
    this.loss[i] = loss;
    this.learningRate[i] = learningRate ?? Number.NaN;
    this.epoch[i] = epoch ?? Number.NaN;
    this.ema = this.ema * this.smoothing + loss * (1 - this.smoothing);
    this.emaWeightSum = this.emaWeightSum * this.smoothing + (1 - this.smoothing);
    this.smoothed[i] = this.ema / this.emaWeightSum;
    this.version++;
    return true;
  }

  private changed(): void {
    for (const listener of this.listeners) listener();
  }

  /** Appends the columns of a `lossCurve` answer. */
  pushColumns(curve: {
    steps: readonly number[];
    loss: readonly number[];
    learningRate: ReadonlyArray<number | null>;
    epoch: ReadonlyArray<number | null>;
    evalSteps: readonly number[];
    evalLoss: readonly number[];
  }): void {
    const before = this.version;
    for (let i = 0; i < curve.steps.length; i++) this.append(curve.steps[i]!, curve.loss[i]!, curve.learningRate[i], curve.epoch[i]);
    for (let i = 0; i < curve.evalSteps.length; i++) this.appendEval(curve.evalSteps[i]!, curve.evalLoss[i]!);
    if (this.version !== before) this.changed();
  }

  pushEval(step: number, loss: number): void {
    if (this.appendEval(step, loss)) this.changed();
  }

  private appendEval(step: number, loss: number): boolean {
    if (this.evalSteps.length && step <= this.evalSteps[this.evalSteps.length - 1]!) return false;
    this.evalSteps.push(step);
    this.evalLoss.push(loss);
    this.version++;
    return true;
  }

  /** Index of the stored step `step`, or -1 (binary search: steps are sorted). */
  indexOf(step: number): number {
    let lo = 0;
    let hi = this.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const s = this.steps[mid]!;
      if (s === step) return mid;
      if (s < step) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }

  private grow(): void {
    const size = this.steps.length * 2;
    for (const key of ['steps', 'loss', 'smoothed', 'learningRate', 'epoch'] as const) {
      const next = new Float64Array(size);
      next.set(this[key]);
      this[key] = next;
    }
  }
}
