import { sha256Hex } from './hash';
import { headerValue } from './headers';
import type { KeySource } from './key-source';
import type { RequestFacts } from './fingerprint';

/**
 * Key sources for webhook routes (CONTRACT §8): each provider's event or delivery id, so a
 * redelivery replays the stored 2xx and the provider stops retrying. Pair each with a scope of
 * provider + endpoint (e.g. `'stripe:/webhooks/stripe'`), and verify the signature before the
 * idempotency middleware runs.
 *
 * @example
 * ```ts
 * app.post('/webhooks/github', verifyGithub, idempotency({ store, scope: 'github:/webhooks/github', key: webhookKeys.github() }), handler);
 * ```
 */
export const webhookKeys = {
  /** Stripe: the event's `id` (`evt_...`) from the JSON body; the same on every redelivery. */
  stripe: (): KeySource => (request) => {
    const event = jsonBody(request);
    const id = typeof event === 'object' && event !== null ? (event as { id?: unknown }).id : undefined;
    return typeof id === 'string' ? id : undefined;
  },
  /** GitHub: `X-GitHub-Delivery` (kept by "Redeliver"). */
  github: (): KeySource => (request) => headerValue(request.headers, 'x-github-delivery'),
  /**
   * Shopify: `X-Shopify-Webhook-Id` (the delivery) by default; `{ by: 'event' }` uses
   * `X-Shopify-Event-Id`, which also collapses one event delivered to several subscriptions.
   */
  shopify:
    (options: { readonly by?: 'webhook' | 'event' } = {}): KeySource =>
    (request) =>
      headerValue(request.headers, options.by === 'event' ? 'x-shopify-event-id' : 'x-shopify-webhook-id'),
  /** Standard Webhooks and Svix: `webhook-id`, or `svix-id`. */
  standard: (): KeySource => (request) => headerValue(request.headers, 'webhook-id') ?? headerValue(request.headers, 'svix-id'),
  /**
   * Fallback for providers without an id: the SHA-256 of the raw body, so byte-identical
   * redeliveries collapse. Two genuinely different events with identical bodies collapse too.
   */
  payloadHash: (): KeySource => async (request) => (request.rawBody ? `sha256-${await sha256Hex(request.rawBody)}` : undefined),
} as const;

function jsonBody(request: RequestFacts): unknown {
  if (request.rawBody !== undefined) {
    try {
      return JSON.parse(new TextDecoder().decode(request.rawBody)) as unknown;
    } catch {
      return undefined;
    }
  }
  return request.parsedBody;
}
