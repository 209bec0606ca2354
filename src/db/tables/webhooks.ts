/** Tables owned by the webhooks domain (migrations/ holds their SQL). */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface WebhookTables {}
