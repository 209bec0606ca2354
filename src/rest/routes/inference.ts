import type { Http } from '../http.js';
import type { Services } from '../../services.js';

/** Deployments (/api/deployments) and the OpenAI-compatible routes (/v1/…) (inference work). */
export function registerInferenceRoutes(_app: Http, _services: Services): void {}
