import readline from 'node:readline/promises';
import { stripVTControlCharacters } from 'node:util';
import pc from 'picocolors';

export type Colors = ReturnType<typeof pc.createColors>;

/**
 * How a client command talks to the person (or script) that ran it.
 *
 * - `--json`: stdout carries exactly one JSON document (`result`), nothing else; notes and
 *   errors go to stderr.
 * - Otherwise the answer goes to stdout and notes (what is happening, what to do next) to
 *   stderr, so `tuneloop … > file` keeps only the answer.
 * - Colours and progress bars only on a terminal (and colours not under `NO_COLOR`).
 */
export class Terminal {
  readonly colors: Colors;
  /** stderr is a terminal: progress bars may redraw in place there. */
  readonly live: boolean;
  /** stdin and stderr are terminals: the command may ask a question. */
  readonly canAsk: boolean;

  constructor(
    readonly json: boolean,
    private readonly stdout: NodeJS.WriteStream = process.stdout,
    private readonly stderr: NodeJS.WriteStream = process.stderr,
    env: NodeJS.ProcessEnv = process.env,
  ) {
    const colourful = !json && Boolean(stdout.isTTY) && !('NO_COLOR' in env) && env.TERM !== 'dumb';
    this.colors = pc.createColors(colourful);
    this.live = !json && Boolean(stderr.isTTY) && env.TERM !== 'dumb';
    this.canAsk = Boolean(process.stdin.isTTY) && Boolean(stderr.isTTY);
  }

  /** The command's answer: `value` as JSON under `--json`, else the human text. */
  result(value: unknown, human: () => string): void {
    if (this.json) this.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
    else {
      const text = human();
      if (text) this.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
    }
  }

  /** Text that is part of the human answer (stdout); nothing under `--json`. */
  print(text: string): void {
    if (!this.json) this.stdout.write(text);
  }

  /** A note about what is happening (stderr); nothing under `--json`. */
  note(text: string): void {
    if (!this.json) this.stderr.write(`${text}\n`);
  }

  /** A warning or error detail (stderr), also under `--json`. */
  warn(text: string): void {
    this.stderr.write(`${text}\n`);
  }

  /** Asks a yes/no question on the terminal; `fallback` when Enter alone is pressed. */
  async confirm(question: string, fallback = false): Promise<boolean> {
    const rl = readline.createInterface({ input: process.stdin, output: this.stderr });
    // readline takes Ctrl+C from the terminal: hand it back as the signal it means.
    rl.once('SIGINT', () => {
      rl.close();
      process.kill(process.pid, 'SIGINT');
    });
    try {
      const answer = (await rl.question(`${question} ${fallback ? '[Y/n]' : '[y/N]'} `)).trim().toLowerCase();
      return answer === '' ? fallback : answer === 'y' || answer === 'yes';
    } finally {
      rl.close();
    }
  }

  /** Columns padded to their widest cell (colour codes do not count); the header dimmed. */
  table(header: string[], rows: string[][]): string {
    // A few lines of padding, not a table library: the listings are plain aligned columns.
    const all = [header.map((h) => this.colors.dim(h)), ...rows];
    const widths = header.map((_h, i) => Math.max(...all.map((r) => stripVTControlCharacters(r[i] ?? '').length)));
    return all
      .map((r) =>
        r
          .map((cell, i) => (i === r.length - 1 ? cell : cell + ' '.repeat(widths[i]! - stripVTControlCharacters(cell).length)))
          .join('  ')
          .trimEnd(),
      )
      .join('\n');
  }

  /** A status word in its colour: green done, red failed, yellow waiting, cyan working. */
  status(status: string): string {
    const c = this.colors;
    switch (status) {
      case 'SUCCEEDED':
      case 'READY':
        return c.green(status);
      case 'FAILED':
      case 'INVALID':
      case 'CANCELLED':
        return c.red(status);
      case 'PAUSED':
      case 'QUEUED':
      case 'VALIDATING':
      case 'LOADING':
        return c.yellow(status);
      default:
        return c.cyan(status);
    }
  }
}
