import { isId } from '../ids.js';
import { defineListing } from '../paging/listing.js';
import type { WebhookDelivery, WebhookEndpoint } from './views.js';

/** An account's webhook endpoints, oldest first. */
export const webhookEndpointListing = defineListing<WebhookEndpoint, string>({
  name: 'webhookEndpoints',
  defaultSize: 50,
  maxSize: 200,
  keyOf: (endpoint) => [endpoint.id],
  parseKey: ([id, ...rest]) => (id !== undefined && rest.length === 0 && isId('webhookEndpoint', id) ? id : undefined),
});

/** An account's webhook deliveries, newest first. */
export const webhookDeliveryListing = defineListing<WebhookDelivery, string>({
  name: 'webhookDeliveries',
  defaultSize: 50,
  maxSize: 200,
  keyOf: (delivery) => [delivery.id],
  parseKey: ([id, ...rest]) => (id !== undefined && rest.length === 0 && isId('webhookDelivery', id) ? id : undefined),
});
