import { idKind } from '../ids.js';

/** GraphQL type name for each id prefix; unprefixed ids are catalog model names. */
const typeByKind: Record<string, string> = {
  account: 'Account',
  dataset: 'Dataset',
  trainingJob: 'TrainingJob',
  deployment: 'Deployment',
  webhookEndpoint: 'WebhookEndpoint',
};

export function decodeNodeId(id: string): { typename: string; id: string } {
  const kind = idKind(id);
  return { typename: (kind && typeByKind[kind]) ?? 'Model', id };
}
