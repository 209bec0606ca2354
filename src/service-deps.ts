import type { Config } from './config.js';
import type { Db } from './db/connect.js';
import type { Notifier } from './db/notifier.js';
import type { Logger } from './log.js';
import type { AccountsService } from './accounts/service.js';
import type { BillingService } from './billing/service.js';
import type { CatalogService } from './catalog/service.js';

/** What every domain service factory receives: infrastructure plus the core services. */
export interface ServiceDeps {
  config: Config;
  db: Db;
  notifier: Notifier;
  log: Logger;
  accounts: AccountsService;
  catalog: CatalogService;
  billing: BillingService;
}
