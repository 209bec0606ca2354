import type { Runner, Roles } from '../runner.js';
import type { ServiceDeps } from '../service-deps.js';

export interface InferenceService {
  runners(roles: Roles): Runner[];
  close(): Promise<void>;
}

/** Scaffolding until the inference work lands. */
export function createInferenceService(_deps: ServiceDeps): InferenceService {
  return {
    runners: () => [],
    async close() {},
  };
}
