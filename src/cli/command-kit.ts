import type { Command } from 'commander';
import { parseUsd } from '../errors.js';

/** A bad invocation: printed as one line, exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/**
 * What a command's action ends with: an exit code, or `running` for the commands that
 * keep the process alive (start, serve, worker) until a signal stops them.
 */
export type Outcome = number | 'running';

/** Where the chosen action leaves its outcome for `run` to act on. */
export interface OutcomeHolder {
  outcome: Outcome;
}

/**
 * Wraps an async action for commander: what it returns (an exit code, `running`, or
 * nothing for 0) lands in `holder`; errors propagate to `run`, which prints one line.
 */
// biome-ignore lint/suspicious/noConfusingVoidType: an action that returns nothing (Promise<void>) means exit code 0
export function act<A extends unknown[]>(holder: OutcomeHolder, fn: (...args: A) => Promise<Outcome | void>) {
  return async (...args: A): Promise<void> => {
    holder.outcome = (await fn(...args)) ?? 0;
  };
}

// Option value parsers: commander calls them while parsing; a UsageError ends the run
// with its one line before any action starts.

/** An integer from `min` to `max`. */
export function intArg(name: string, min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isInteger(n) || n < min || n > max) {
      throw new UsageError(`--${name} must be an integer from ${min} to ${max}, not "${value}"`);
    }
    return n;
  };
}

/** A USD amount such as 10 or 2.50, kept as micro-USD. */
export function usdArg(name: string, opts: { allowNegative?: boolean } = {}) {
  return (value: string): bigint => {
    let micros: bigint;
    try {
      micros = parseUsd(value, name);
    } catch {
      throw new UsageError(`--${name} must be a USD amount such as 10 or 2.50, not "${value}"`);
    }
    if (micros < 0n && !opts.allowNegative) throw new UsageError(`--${name} cannot be negative`);
    return micros;
  };
}

/** A positive number, or `auto` (left to the server). */
export function numberOrAuto(name: string, opts: { integer?: boolean } = {}) {
  return (value: string): number | 'auto' => {
    if (value === 'auto') return 'auto';
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || n <= 0 || (opts.integer && !Number.isInteger(n))) {
      throw new UsageError(`--${name} must be ${opts.integer ? 'a positive integer' : 'a positive number'} or "auto", not "${value}"`);
    }
    return n;
  };
}

/** "tuneloop jobs watch" for the jobs → watch command. */
export function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/**
 * Commander's parse errors as one line that says what is valid: an unknown command lists
 * the commands, an unknown option lists the command's options. Applied to every command
 * of the tree (each keeps its own output settings).
 */
export function oneLineErrors(cmd: Command): void {
  cmd.exitOverride();
  cmd.configureOutput({
    outputError: (text, write) => {
      let message = text
        .replace(/^error: /, '')
        .replace(/\s*\n\s*/g, ' ')
        .replace('(Did you mean', '(did you mean')
        .trim();
      if (/^unknown command/.test(message)) {
        message += `; commands: ${cmd.commands.map((c) => c.name()).join(', ')}`;
      } else if (/^unknown option/.test(message)) {
        const options = cmd.options.filter((o) => !o.hidden).map((o) => o.long ?? o.short);
        message += `; options of "${commandPath(cmd)}": ${[...options, '--help'].join(', ')}`;
      }
      const where = cmd.parent ? `${commandPath(cmd).replace(/^\S+ /, '')}: ` : '';
      write(`tuneloop: ${where}${message}\n`);
    },
  });
  for (const sub of cmd.commands) oneLineErrors(sub);
}
