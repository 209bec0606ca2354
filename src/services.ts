import type { Config } from './config.js';
import type { Db } from './db/connect.js';
import type { Notifier } from './db/notifier.js';
import type { Logger } from './log.js';
import { createAccountsService } from './accounts/service.js';
import type { AccountsService } from './accounts/service.js';
import { createCatalogService } from './catalog/service.js';
import type { CatalogService } from './catalog/service.js';
import { createBillingService } from './billing/service.js';
import type { BillingService } from './billing/service.js';

/**
 * The domain services, built once per process and shared by every transport (GraphQL,
 * REST, CLI) so a rule is written once. Each factory takes its dependencies explicitly.
 */
export interface Services {
  config: Config;
  db: Db;
  notifier: Notifier;
  log: Logger;
  accounts: AccountsService;
  catalog: CatalogService;
  billing: BillingService;
  close(): Promise<void>;
}

export function createServices(deps: { config: Config; db: Db; notifier: Notifier; log: Logger }): Services {
  const { config, db, notifier, log } = deps;
  const accounts = createAccountsService({ db, notifier, cacheSeconds: config.authCacheSeconds });
  const catalog = createCatalogService({ db, dataDir: config.dataDir });
  const billing = createBillingService({ db });
  return {
    config,
    db,
    notifier,
    log,
    accounts,
    catalog,
    billing,
    async close() {
      await accounts.close();
    },
  };
}
