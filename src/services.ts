import type { Config } from './config.js';
import type { Db } from './db/connect.js';
import type { Notifier } from './db/notifier.js';
import type { Logger } from './log.js';
import type { Runner, Roles } from './runner.js';
import type { ServiceDeps } from './service-deps.js';
import { createAccountsService } from './accounts/service.js';
import { createCatalogService } from './catalog/service.js';
import { createBillingService } from './billing/service.js';
import { createWebhooksService } from './webhooks/service.js';
import type { WebhooksService } from './webhooks/service.js';
import { createDatasetsService } from './datasets/service.js';
import type { DatasetsService } from './datasets/service.js';
import { createTrainingService } from './training/service.js';
import type { TrainingService } from './training/service.js';
import { createInferenceService } from './inference/service.js';
import { createJobTempSweeper } from './training/sweep-job-temps.js';
import { orphanedBefore } from './storage/orphans.js';
import type { InferenceService } from './inference/service.js';

/**
 * The domain services, built once per process and shared by every transport (GraphQL,
 * REST, CLI) so a rule is written once. Each factory takes its dependencies explicitly.
 */
export interface Services extends ServiceDeps {
  datasets: DatasetsService;
  training: TrainingService;
  webhooks: WebhooksService;
  inference: InferenceService;
  /** Background loops this process runs for its roles. */
  runners(roles: Roles): Runner[];
  close(): Promise<void>;
}

export function createServices(infra: { config: Config; db: Db; notifier: Notifier; log: Logger }): Services {
  const { config, db, notifier } = infra;
  const accounts = createAccountsService({ db, notifier, cacheSeconds: config.authCacheSeconds });
  const catalog = createCatalogService({ db, dataDir: config.dataDir });
  const billing = createBillingService({ db });
  const core: ServiceDeps = { ...infra, accounts, catalog, billing };
  const webhooks = createWebhooksService(core);
  const datasets = createDatasetsService(core);
  const training = createTrainingService({ ...core, datasets, webhooks });
  const inference = createInferenceService(core);
  return {
    ...core,
    datasets,
    training,
    webhooks,
    inference,
    runners: (roles) => [
      ...datasets.runners(),
      createJobTempSweeper({ db, dataDir: config.dataDir, orphanedBefore: orphanedBefore(config), log: infra.log }),
      ...training.runners(roles),
      ...webhooks.runners(roles),
      ...inference.runners(roles),
    ],
    async close() {
      await inference.close();
      await training.close();
      await webhooks.close();
      await accounts.close();
    },
  };
}
