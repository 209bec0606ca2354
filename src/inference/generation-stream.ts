/**
 * The pieces of one generation, as an async iterable with one consumer. Pieces arrive from
 * the runtime worker whether or not anyone reads yet and are buffered; leaving the loop
 * early (`break`, a thrown error, a GraphQL unsubscribe) calls `onReturn`, which cancels
 * the generation.
 */
export class GenerationStream<T> implements AsyncIterable<T> {
  private readonly buffer: T[] = [];
  private ended = false;
  private failure: unknown;
  private notify: (() => void) | undefined;

  constructor(private readonly onReturn: () => void) {}

  push(item: T): void {
    if (this.ended) return;
    this.buffer.push(item);
    this.notify?.();
  }

  end(error?: unknown): void {
    if (this.ended) return;
    this.ended = true;
    this.failure = error;
    this.notify?.();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<T> {
    let finished = false;
    try {
      for (;;) {
        while (this.buffer.length > 0) yield this.buffer.shift()!;
        if (this.ended) {
          finished = true;
          if (this.failure !== undefined) throw this.failure;
          return;
        }
        await new Promise<void>((resolve) => (this.notify = resolve));
        this.notify = undefined;
      }
    } finally {
      if (!finished) this.onReturn();
    }
  }
}
