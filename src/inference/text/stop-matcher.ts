/**
 * Finds stop sequences in streamed text. Text that might be the start of a stop sequence
 * is held back until the next piece decides it, so a client never receives part of a stop
 * sequence it asked not to see (OpenAI leaves the stop sequence out of the answer).
 */
export class StopMatcher {
  private held = '';
  private readonly longest: number;

  constructor(private readonly stops: readonly string[]) {
    this.longest = stops.reduce((m, s) => Math.max(m, s.length), 0);
  }

  /** Feeds a piece; returns the text that is safe to send and whether a stop sequence ended the answer. */
  push(piece: string): { text: string; stopped: boolean } {
    if (this.stops.length === 0) return { text: piece, stopped: false };
    const text = this.held + piece;
    let first = -1;
    for (const stop of this.stops) {
      // A stop can only begin where it was not already ruled out: near the held tail or later.
      const from = Math.max(0, this.held.length - stop.length + 1);
      const at = text.indexOf(stop, from);
      if (at >= 0 && (first < 0 || at < first)) first = at;
    }
    if (first >= 0) {
      this.held = '';
      return { text: text.slice(0, first), stopped: true };
    }
    const keep = this.partialSuffix(text);
    this.held = text.slice(text.length - keep);
    return { text: text.slice(0, text.length - keep), stopped: false };
  }

  /** At the end of generation nothing can complete a stop any more: release what was held. */
  flush(): string {
    const text = this.held;
    this.held = '';
    return text;
  }

  /** Length of the longest suffix of `text` that is a proper prefix of some stop sequence. */
  private partialSuffix(text: string): number {
    for (let n = Math.min(this.longest - 1, text.length); n > 0; n--) {
      const tail = text.slice(text.length - n);
      if (this.stops.some((stop) => stop.length > n && stop.startsWith(tail))) return n;
    }
    return 0;
  }
}
