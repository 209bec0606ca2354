import type { Migration } from 'kysely';
import * as m0001 from './0001-accounts-and-catalog.js';
import * as m0002 from './0002-billing.js';
import * as m0003 from './0003-datasets.js';
import * as m0004 from './0004-training.js';
import * as m0005 from './0005-webhooks.js';
import * as m0006 from './0006-inference.js';
import * as m0007 from './0007-account-webhook-secret-rotation.js';
import * as m0008 from './0008-model-training-defaults.js';
import * as m0009 from './0009-job-pause-and-checkpoint-ids.js';
import * as m0010 from './0010-dataset-leases.js';
import * as m0011 from './0011-quantized-deployments.js';
import * as m0013 from './0013-dpo.js';
import * as m0014 from './0014-on-demand-inference.js';
import * as m0015 from './0015-adapter-deployments.js';
import * as m0016 from './0016-openai-models-and-webhooks.js';
import * as m0017 from './0017-job-metadata.js';
import * as m0018 from './0018-tiny-lora-defaults.js';

/**
 * Every migration, in order. Forward-only: a migration that has shipped is never edited;
 * a change is a new file. Listed statically (not read from disk) so the set is the same
 * under tsx, vitest and any bundler.
 */
export const migrations: Record<string, Migration> = {
  '0001-accounts-and-catalog': m0001,
  '0002-billing': m0002,
  '0003-datasets': m0003,
  '0004-training': m0004,
  '0005-webhooks': m0005,
  '0006-inference': m0006,
  '0007-account-webhook-secret-rotation': m0007,
  '0008-model-training-defaults': m0008,
  '0009-job-pause-and-checkpoint-ids': m0009,
  '0010-dataset-leases': m0010,
  '0011-quantized-deployments': m0011,
  '0013-dpo': m0013,
  '0014-on-demand-inference': m0014,
  '0015-adapter-deployments': m0015,
  '0016-openai-models-and-webhooks': m0016,
  '0017-job-metadata': m0017,
  '0018-tiny-lora-defaults': m0018,
};
