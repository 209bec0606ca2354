import type { DemoInfo } from '../demo.js';
import { profilePath, readProfile, writeProfile } from '../client/profile.js';
import { Terminal } from '../client/terminal.js';

/** What `start --demo` prints once the demo is ready: where it is, its key, what to run next. */
export function printDemo(url: string, info: DemoInfo): void {
  process.stdout.write(
    [
      '',
      'Tuneloop demo is ready.',
      `  URL:      ${url}`,
      `  Console:  ${url}/   (sign in with the API key below)`,
      `  GraphiQL: ${url}/graphql   (opened from the console it carries the key; otherwise add the header {"Authorization": "Bearer ${info.apiKey}"})`,
      `  API key:  ${info.apiKey}`,
      `  Account:  ${info.accountId}`,
      `  Model:    ${info.modelId}`,
      `  Dataset:  ${info.datasetId ?? '(none)'}`,
      '',
      'Fine-tune the demo model from another terminal, watch it learn, then chat with it:',
      `  npx tuneloop jobs start --model ${info.modelId} --dataset ${info.datasetId ?? 'ds_…'} --method full`,
      '  npx tuneloop jobs watch ftjob_…          (the job id `jobs start` prints)',
      `  npx tuneloop chat ft:${info.modelId}:…   (the model \`jobs watch\` names at the end)`,
      '',
      'Or with curl (auto hyperparameters; README.md walks through the rest):',
      `  curl -s ${url}/api/fine-tune/training/start -H 'authorization: Bearer ${info.apiKey}' -H 'content-type: application/json' \\`,
      `    -H "idempotency-key: $(date +%s%N)" -d '{"baseModel": "${info.modelId}", "trainingDataset": "${info.datasetId}", "method": "FULL"}'`,
      '',
      '',
    ].join('\n'),
  );
}

/**
 * Offers to save the demo's URL and key as the client commands' profile (`tuneloop login`)
 * when a person is at the terminal; otherwise says how. Never overwrites without asking.
 */
export async function offerDemoProfile(url: string, info: DemoInfo, dataDir: string): Promise<void> {
  const saved = await readProfile();
  const file = profilePath();
  if (saved?.url === url && saved.apiKey === info.apiKey) {
    process.stdout.write(`The client commands use this server and key (saved in ${file}).\n\n`);
    return;
  }
  const term = new Terminal(false);
  if (!term.canAsk) {
    process.stdout.write(
      `For the client commands, save the URL and key once: npx tuneloop login --url ${url} --api-key ${info.apiKey}\n` +
        `(or set TUNELOOP_URL and TUNELOOP_API_KEY; on this machine, --data-dir ${dataDir} also finds this server and key)\n\n`,
    );
    return;
  }
  const question = saved
    ? `Replace the saved login in ${file} (${saved.url}) with this demo's URL and key?`
    : `Save this URL and key in ${file} so that the client commands (jobs, chat, …) use them?`;
  if (await term.confirm(question, !saved)) {
    await writeProfile({ url, apiKey: info.apiKey });
    process.stdout.write(`Saved in ${file} (readable by you only).\n\n`);
  } else {
    process.stdout.write(`Not saved. Later: npx tuneloop login --url ${url} --api-key ${info.apiKey}\n\n`);
  }
}
