import { defineIdListing } from '../paging/listing.js';
import type { WebhookDelivery, WebhookEndpoint } from './views.js';

/** An account's webhook endpoints, oldest first. */
export const webhookEndpointListing = defineIdListing<WebhookEndpoint>('webhookEndpoints', 'webhookEndpoint', {
  defaultSize: 50,
  maxSize: 200,
});

/** An account's webhook deliveries, newest first. */
export const webhookDeliveryListing = defineIdListing<WebhookDelivery>('webhookDeliveries', 'webhookDelivery', {
  defaultSize: 50,
  maxSize: 200,
});
