import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';

/**
 * Signing secrets and the `webhook-signature` header, through the `standardwebhooks`
 * library so what we send is exactly what every Standard Webhooks verifier checks.
 */

/** A new endpoint secret: `whsec_` + base64 of 32 random bytes (the spec asks 24–64). */
export function newWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

/** Decoding a secret is cheap, but a busy sender signs thousands a second with a handful of them. */
const signers = new Map<string, Webhook>();
const MAX_SIGNERS = 1_000;

function signer(secret: string): Webhook {
  let webhook = signers.get(secret);
  if (!webhook) {
    webhook = new Webhook(secret);
    if (signers.size >= MAX_SIGNERS) signers.clear();
    signers.set(secret, webhook);
  }
  return webhook;
}

/**
 * The `webhook-signature` value: one `v1,<base64>` per secret, space-separated (the spec's
 * form for key rotation: a verifier accepts the message when any one matches).
 */
export function signatureHeader(secrets: readonly string[], messageId: string, timestamp: Date, body: string): string {
  return secrets.map((secret) => signer(secret).sign(messageId, timestamp, body)).join(' ');
}
