import type { Http } from '../http.js';
import type { Services } from '../../services.js';

/** REST routes under /api/webhooks (webhooks work). */
export function registerWebhookRoutes(_app: Http, _services: Services): void {}
