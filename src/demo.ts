import type { Services } from './services.js';

export interface DemoInfo {
  accountId: string;
  apiKey: string;
  modelId: string;
  datasetId: string | null;
}

/** `tuneloop start --demo`: filled in by the training issue (account, tiny model, sample dataset). */
export async function setupDemo(services: Services): Promise<DemoInfo> {
  const created = await services.accounts.createAccount({ name: 'demo', initialBalanceMicros: 100_000_000n });
  return { accountId: created.account.id, apiKey: created.apiKey, modelId: 'tiny-demo', datasetId: null };
}
