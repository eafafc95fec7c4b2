import { signGithub, signStandard, signStripe } from './verify';

/** A webhook delivery as a provider sends it: route, headers (signature included), raw body. */
export interface SignedDelivery {
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body: string;
}

const encoder = new TextEncoder();
const nowSeconds = (): number => Math.floor(Date.now() / 1000);

/** A Stripe event delivery. Stripe signs every (re)delivery afresh: same body, new timestamp. */
export async function stripeDelivery(secret: string, event: { id: string; type: string; data: unknown }, options: { timestamp?: number } = {}): Promise<SignedDelivery> {
  const body = JSON.stringify({ object: 'event', api_version: '2024-06-20', ...event });
  const signature = await signStripe(secret, encoder.encode(body), options.timestamp ?? nowSeconds());
  return { path: '/webhooks/stripe', headers: { 'content-type': 'application/json', 'stripe-signature': signature }, body };
}

/** A GitHub delivery. "Redeliver" sends the same `X-GitHub-Delivery` and body. */
export async function githubDelivery(secret: string, delivery: { id: string; event: string; payload: unknown }): Promise<SignedDelivery> {
  const body = JSON.stringify(delivery.payload);
  return {
    path: '/webhooks/github',
    headers: {
      'content-type': 'application/json',
      'x-github-delivery': delivery.id,
      'x-github-event': delivery.event,
      'x-hub-signature-256': await signGithub(secret, encoder.encode(body)),
    },
    body,
  };
}

/** A Standard Webhooks delivery: retries keep the `webhook-id`, and are signed at their own time. */
export async function standardDelivery(secret: string, message: { id: string; payload: unknown }, options: { timestamp?: number } = {}): Promise<SignedDelivery> {
  const body = JSON.stringify(message.payload);
  const timestamp = options.timestamp ?? nowSeconds();
  return {
    path: '/webhooks/standard',
    headers: {
      'content-type': 'application/json',
      'webhook-id': message.id,
      'webhook-timestamp': String(timestamp),
      'webhook-signature': await signStandard(secret, message.id, timestamp, encoder.encode(body)),
    },
    body,
  };
}

/** One sample event per provider, with fresh ids (`suffix` makes them unique per run). */
export function sampleEvents(suffix: string) {
  return {
    stripe: { id: `evt_${suffix}`, type: 'payment_intent.succeeded', data: { object: { id: `pi_${suffix}`, object: 'payment_intent', amount: 2500, currency: 'eur' } } },
    github: { id: `delivery-${suffix}`, event: 'push', payload: { ref: 'refs/heads/main', repository: { full_name: 'acme/shop' }, sender: { login: 'octocat' } } },
    standard: { id: `msg_${suffix}`, payload: { type: 'invoice.paid', timestamp: new Date().toISOString(), data: { id: `inv_${suffix}`, amount: 4200 } } },
  };
}
