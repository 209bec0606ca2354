import readline from 'node:readline';
import type { Command } from 'commander';
import type { ApiClient, Deployment } from '../../client/api-client.js';
import { ChatSession } from '../../client/chat-session.js';
import type { Terminal } from '../../client/terminal.js';
import { UsageError, act, intArg } from '../command-kit.js';
import type { OutcomeHolder } from '../command-kit.js';
import { clientCommand, connect, pollUntil } from '../client-command.js';
import type { ClientFlags } from '../client-command.js';

/** Deploys `model` (or finds its live deployment) and waits until it is READY; a FAILED load throws. */
async function deployAndWait(client: ApiClient, term: Terminal, model: string, quantization?: string): Promise<Deployment> {
  let { deployment } = await client.deploy(model, quantization);
  if (deployment.status === 'LOADING') {
    term.note(`loading ${model} (${deployment.id})…`);
    deployment = await pollUntil(
      () => client.getDeployment(deployment.id),
      (d) => d.status !== 'LOADING',
      500,
    );
  }
  if (deployment.status !== 'READY') throw new Error(`deploying ${model} failed: ${deployment.error ?? deployment.status}`);
  return deployment;
}

const temperatureArg = (value: string): number => {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0 || n > 2)
    throw new UsageError(`--temperature must be a number from 0 to 2, not "${value}"`);
  return n;
};

interface ChatFlags extends ClientFlags {
  message?: string;
  system?: string;
  temperature?: number;
  maxTokens?: number;
}

/**
 * The interactive chat: one line is one message, the answer streams in below it. On a
 * terminal a prompt shows; from a pipe every line is a message and the answers are printed
 * one after another. Ends at end of input (Ctrl+D) or `/exit`.
 */
async function converse(session: ChatSession, term: Terminal, model: string): Promise<void> {
  const interactive = Boolean(process.stdin.isTTY);
  if (interactive) term.note(`chatting with ${model}; an empty line does nothing, /reset starts over, Ctrl+D or /exit ends`);
  const rl = readline.createInterface({ input: process.stdin, output: process.stdout, terminal: interactive });
  // readline takes Ctrl+C from the terminal: it ends the chat, as it would any program.
  rl.once('SIGINT', () => {
    rl.close();
    process.stdout.write('\n');
    process.exit(130);
  });
  rl.setPrompt(term.colors.bold('> '));
  if (interactive) rl.prompt();
  for await (const line of rl) {
    const text = line.trim();
    if (text === '/exit') break;
    if (text === '/reset') {
      session.reset();
      term.note('(a new conversation)');
    } else if (text) {
      await session.ask(text, (piece) => process.stdout.write(piece));
      process.stdout.write('\n');
    }
    if (interactive) rl.prompt();
  }
  rl.close();
}

/** deploy MODEL, chat MODEL. */
export function registerInferenceCommands(program: Command, holder: OutcomeHolder): void {
  clientCommand(program, 'deploy', 'deploy a model and wait until it is READY')
    .argument('<MODEL>', 'a fine-tuned model (ft:…) or a base model')
    .option('--quantization <Q>', "NONE (float32 weights), INT8 or INT4 (default: the model's)", (v: string) => v.toUpperCase())
    .action(
      act(holder, async (model: string, opts: ClientFlags & { quantization?: string }) => {
        const { client, term } = await connect(opts);
        const deployment = await deployAndWait(client, term, model, opts.quantization);
        term.result(
          deployment,
          () =>
            `${model} is ${term.status('READY')} (${deployment.id}, ${deployment.quantization}, ${deployment.executionProvider ?? 'cpu'})\nchat with it: tuneloop chat ${model}`,
        );
      }),
    );

  clientCommand(program, 'chat', 'chat with a model (deploys it first if needed)')
    .argument('<MODEL>', 'a deployed (or deployable) model')
    .option('-m, --message <TEXT>', 'ask one question, print the answer and exit')
    .option('--system <TEXT>', 'a system message to start the conversation with')
    .option('--temperature <X>', '0 (always the likeliest token) to 2; default 1', temperatureArg)
    .option('--max-tokens <N>', 'the longest answer, in tokens', intArg('max-tokens', 1, 1_000_000))
    .action(
      act(holder, async (model: string, opts: ChatFlags) => {
        if (opts.json && opts.message === undefined) throw new UsageError('--json needs --message (one question, one JSON answer)');
        const { client, term } = await connect(opts);
        await deployAndWait(client, term, model);
        const session = new ChatSession(client, model, { temperature: opts.temperature, maxTokens: opts.maxTokens }, opts.system);
        if (opts.message === undefined) return converse(session, term, model);
        if (opts.json) {
          term.result(await session.complete(opts.message), () => '');
          return;
        }
        await session.ask(opts.message, (piece) => process.stdout.write(piece));
        process.stdout.write('\n');
      }),
    );
}
